"""The installed training stack against the dependency ranges LLaMA-Factory enforces at start-up.

LLaMA-Factory's extras/misc.py check_dependencies() calls transformers' require_version for transformers, datasets,
accelerate, peft and trl, and raises ImportError outside the range unless DISABLE_VERSION_CHECK=1. The ranges per
release are data (schemas/llamafactory_pins.json); installed versions come from package metadata (nothing imported).
"""

from __future__ import annotations

import functools
import json
import os
import re
from importlib import metadata
from typing import Callable, Dict, List, Optional, Tuple

_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
        "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


@functools.lru_cache(maxsize=1)
def pins() -> Dict[str, Dict[str, str]]:
    with open(os.path.join(os.path.dirname(__file__), "schemas", "llamafactory_pins.json"), encoding="utf-8") as f:
        return json.load(f)["versions"]


def _release(text: str) -> Tuple[int, ...]:
    """'4.57.0.dev0' -> (4, 57, 0); compared padded to three numbers."""
    numbers = [int(n) for n in re.findall(r"\d+", text.split("+")[0].split(".dev")[0].split("rc")[0])[:3]]
    return tuple(numbers + [0] * (3 - len(numbers)))


def satisfies(version: str, spec: str) -> bool:
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        match = re.fullmatch(r"(>=|<=|==|!=|>|<)\s*([\w.]+)", clause)
        if match and not _OPS[match.group(1)](_release(version), _release(match.group(2))):
            return False
    return True


def ranges_for(lf_version: str) -> Optional[Dict[str, str]]:
    """The ranges of that release, else of the newest known release below it."""
    known = sorted(pins(), key=_release)
    chosen = [v for v in known if _release(v) <= _release(lf_version)]
    return pins()[chosen[-1]] if chosen else None


def _installed(package: str) -> Optional[str]:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def stack_problems(lf_version: str, installed: Optional[Callable[[str], Optional[str]]] = None) -> List[str]:
    """One sentence per installed package outside LLaMA-Factory's range (absent packages are not judged)."""
    installed = installed or _installed
    ranges = ranges_for(lf_version) or {}
    problems = []
    for package, spec in ranges.items():
        version = installed(package)
        if version and not satisfies(version, spec):
            problems.append(f"{package} {version} is outside LLaMA-Factory {lf_version}'s range {spec}: "
                            f"llamafactory-cli stops at start-up (ImportError) unless DISABLE_VERSION_CHECK=1. "
                            f"Run `pip install '{package}{spec}'`")
    return problems
