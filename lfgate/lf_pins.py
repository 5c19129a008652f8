"""The installed training stack against the dependency ranges LLaMA-Factory enforces at start-up.

LLaMA-Factory's extras/misc.py check_dependencies() calls transformers' require_version for transformers, datasets,
accelerate, peft and trl, and raises ImportError outside the range unless DISABLE_VERSION_CHECK=1. The ranges per
release are data (schemas/llamafactory_pins.json); installed versions come from package metadata (nothing imported).

`lfgate train --backend llamafactory` judges the environment llamafactory-cli runs in (launch_problems), which
need not be lfgate's own: the interpreter its script names, else the site-packages beside it.
"""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Callable, Dict, List, Optional, Tuple

from lfgate.readers import guarded

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
    from importlib import metadata  # ~20 ms with its email and zipfile imports: only when a version is asked

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def stack_problems(lf_version: str, installed: Optional[Callable[[str], Optional[str]]] = None,
                   absent_too: bool = False) -> List[str]:
    """One sentence per installed package outside LLaMA-Factory's range. Absent packages are judged only with
    absent_too (an environment that has llamafactory: transformers' require_version raises for a missing one)."""
    installed = installed or _installed
    ranges = ranges_for(lf_version) or {}
    problems = []
    for package, spec in ranges.items():
        version = installed(package)
        if version and not satisfies(version, spec):
            problems.append(f"{package} {version} is outside LLaMA-Factory {lf_version}'s range {spec}: "
                            f"llamafactory-cli stops at start-up (ImportError) unless DISABLE_VERSION_CHECK=1. "
                            f"Run `pip install '{package}{spec}'`")
        elif version is None and absent_too:
            problems.append(f"{package} is not installed, and LLaMA-Factory {lf_version} requires {spec}: "
                            f"llamafactory-cli stops at start-up (PackageNotFoundError) unless "
                            f"DISABLE_VERSION_CHECK=1. Run `pip install '{package}{spec}'`")
    return problems


# -- the environment llamafactory-cli runs in --------------------------------------------------------------------
PACKAGES = _PACKAGES = ("llamafactory", "transformers", "datasets", "accelerate", "peft", "trl")
installed = _installed  # a distribution's version from this interpreter's metadata, or None (lf_stack.py)


@functools.lru_cache(maxsize=1)
def installed_llamafactory() -> Optional[str]:
    """This interpreter's llamafactory version, from its metadata; None, and no metadata read, when no
    llamafactory module is on its path (find_spec of a top-level name imports nothing): the common case of a
    lint-only environment pays no importlib.metadata."""
    import importlib.util

    if importlib.util.find_spec("llamafactory") is None:
        return None
    return _installed("llamafactory")


def _probe(packages) -> str:
    """Run by another interpreter (subprocesses.probe_argv: the working directory off sys.path, an empty folder as
    cwd, no PYTHONPATH): package metadata only, read from sys.path plus PYTHONPATH's folders given as arguments."""
    return ("import json, sys, importlib.metadata as m\n"
            "found = {}\n"
            "for d in m.distributions(path=sys.argv[1:] + sys.path):\n"
            "    name = (d.metadata['Name'] or '').lower().replace('_', '-')\n"
            "    found.setdefault(name, d.version)\n"
            f"print(json.dumps({{p: found.get(p) for p in {tuple(packages)!r}}}))")


def launch_problems(chosen_version: Optional[str], env: Optional[dict] = None,
                    which: Optional[Callable[[str], Optional[str]]] = None) -> Tuple[List[str], Optional[str]]:
    """(problems, note): what stops `llamafactory-cli train` at start-up in the environment it runs in, one
    sentence per package outside the targeted release's ranges (chosen_version: --llamafactory-version, else the
    llamafactory installed there). No problem when DISABLE_VERSION_CHECK is on (LLaMA-Factory then skips the
    check) or when there is no llamafactory-cli (the launch says so); a note when its packages cannot be read."""
    from lfgate import subprocesses
    from lfgate.lf_facts import env_enabled

    if env_enabled("DISABLE_VERSION_CHECK", env):
        return [], None
    exe = (which or subprocesses.which)("llamafactory-cli")
    if exe is None:
        return [], None
    versions, where, whole = cli_environment(exe)
    if versions is None:
        return [], f"cannot read the packages of the environment {exe} runs in ({where}): not checked"
    llamafactory = versions.get("llamafactory")
    target = chosen_version or llamafactory or _newest_known()
    # a package missing from what we read is judged only when we read the whole environment as Python sees it
    problems = stack_problems(target, versions.get, absent_too=whole and llamafactory is not None)
    return [f"{p} (in {where})" for p in problems], None


def _newest_known() -> str:
    return max(pins(), key=_release)


def cli_environment(exe: str, packages=_PACKAGES) -> Tuple[Optional[Dict[str, Optional[str]]], str, bool]:
    """({package: version or None}, where, whole) for the Python environment of a console script: this process's
    own when the script names this interpreter, else what the interpreter it names reports (a short subprocess that
    imports no package: user site-packages and .pth files included, so whole), else, with no interpreter named (a
    Windows launcher), the site-packages beside the script (not whole: a venv may also see the system's)."""
    import sys

    interpreter = _shebang_interpreter(exe)
    # the same path only: a venv's python is a link to the base interpreter, so resolved links say nothing
    if interpreter and os.path.abspath(interpreter) == os.path.abspath(sys.executable):
        return {p: _installed(p) for p in packages}, f"this Python, {sys.executable}", True
    if interpreter and os.path.basename(interpreter).startswith(("python", "pypy")):
        return _ask(interpreter, packages), interpreter, True
    if interpreter:  # a shell wrapper, say: which Python it starts cannot be told from here
        return None, f"its script runs {interpreter}", False
    sites = _sites_beside(exe)
    found = _versions_in(sites) if sites else {}
    if found.get("llamafactory") is not None:
        return {p: found.get(p) for p in packages}, sites[0], False
    return None, "no interpreter named in the script and no llamafactory beside it", False


def _shebang_interpreter(exe: str) -> Optional[str]:
    """The interpreter a console script names on its first line (`#!/usr/bin/env python3` looked up on PATH)."""
    from lfgate import subprocesses

    try:
        with guarded.open_regular(exe) as f:
            first = f.readline(4096).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    if not words:
        return None
    if os.path.basename(words[0]) == "env" and len(words) > 1:
        return subprocesses.which(words[-1])
    return words[0]


def _sites_beside(exe: str) -> List[str]:
    """<prefix>/lib/pythonX.Y/site-packages for <prefix>/bin/llamafactory-cli (<prefix>/Lib/site-packages on
    Windows, <prefix>\\Scripts)."""
    import glob

    prefix = os.path.dirname(os.path.dirname(os.path.abspath(exe)))
    patterns = ("lib/python*/site-packages", "lib/python*/dist-packages", "Lib/site-packages")
    return sorted(p for pattern in patterns for p in glob.glob(os.path.join(prefix, pattern)) if os.path.isdir(p))


def _versions_in(sites: List[str]) -> Dict[str, str]:
    """{distribution name: version} of the packages installed in those site-packages folders."""
    from importlib import metadata

    out: Dict[str, str] = {}
    for dist in metadata.distributions(path=sites):
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        out.setdefault(name, dist.version)
    return out


def _ask(interpreter: str, packages=_PACKAGES) -> Optional[Dict[str, Optional[str]]]:
    """What the interpreter's environment has installed, asked without running any of the project's code."""
    from lfgate import subprocesses

    argv = subprocesses.probe_argv(interpreter, _probe(packages), subprocesses.python_path_entries())
    try:
        with subprocesses.neutral_folder() as folder:
            done = subprocesses.run(argv, capture_output=True, text=True, timeout=30, cwd=folder,
                                    env=subprocesses.probe_env())
        found = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, ValueError, subprocesses.Error):
        return None
    return found if isinstance(found, dict) else None
