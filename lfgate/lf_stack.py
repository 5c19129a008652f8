"""The package versions LLaMA-Factory will run with, read from distribution metadata (nothing is imported).

Rules whose outcome depends on a library's release (TRL's `dpo_loss`, flash-attn, liger-kernel) ask ``stack()``:

1. the environment `llamafactory-cli` runs in, when it is on PATH (lf_pins.cli_environment: this interpreter's
   metadata when the script names it, else a short probe of the interpreter it names);
2. else this interpreter, when llamafactory is installed in it;
3. else what a fresh `pip install llamafactory==<target>` resolves to: the newest release each range of the
   target allows (lf_pins' table; LLaMA-Factory 0.9.5 -> trl 0.24.0, transformers 5.6.0), and no optional
   package (flash-attn, liger-kernel, deepspeed). Messages say which of the three they judged.

``LFGATE_STACK=trl=0.19.1,flash-attn=2.8.3`` judges for other package versions (`pkg=` for one absent), on top of
what was found: to plan for another environment, as `--llamafactory-version` does for the release. Tests fake a
whole stack with ``use(Stack(...))``.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from lfgate import lf_pins

# Packages the rules ask about beyond LLaMA-Factory's pinned ones (distribution names, as pip spells them).
OPTIONAL = ("flash-attn", "liger-kernel", "deepspeed")


@dataclass(frozen=True)
class Stack:
    versions: Dict[str, Optional[str]] = field(default_factory=dict)  # distribution -> version, None: absent
    source: str = ""  # follows the version in messages: "in the environment of /usr/bin/llamafactory-cli", ...
    fresh: bool = False  # nothing installed: the versions a fresh install of the target resolves to

    def version(self, package: str) -> Optional[str]:
        return self.versions.get(package)

    def has(self, package: str) -> bool:
        return self.versions.get(package) is not None

    def describe(self, package: str) -> str:
        """"trl 0.24.0 in the environment of ..." / "no flash-attn in ..."."""
        version = self.version(package)
        return f"{package} {version} {self.source}" if version else f"no {package} {self.source}"


def release(version: Optional[str]) -> Tuple[int, ...]:
    """'0.24.0.dev0' -> (0, 24, 0); () for None."""
    if not version:
        return ()
    numbers = re.findall(r"\d+", version.split("+")[0].split(".dev")[0].split("rc")[0])[:3]
    return tuple(int(n) for n in numbers) + (0,) * (3 - len(numbers[:3]))


def fresh_install(lf_version: str) -> Dict[str, Optional[str]]:
    """What `pip install llamafactory==lf_version` resolves to: the upper bound of each pinned range (pip takes the
    newest release a range allows), no optional package."""
    out: Dict[str, Optional[str]] = {package: None for package in OPTIONAL}
    for package, spec in (lf_pins.ranges_for(lf_version) or {}).items():
        top = re.search(r"<=\s*([\w.]+)", spec)
        out[package] = top.group(1) if top else None
    out["llamafactory"] = lf_version
    return out


_FAKED: list = []


def use(faked: Optional[Stack]) -> None:
    """Make ``stack()`` answer ``faked`` (tests), or stop faking with None."""
    _FAKED[:] = [faked] if faked is not None else []


def stack(settings=None) -> Stack:
    """The stack LLaMA-Factory will run with (see the module's docstring)."""
    if _FAKED:
        return _FAKED[0]
    found = _installed() or _fresh(settings)
    return _overridden(found, os.environ.get("LFGATE_STACK", ""))


def llamafactory(settings=None) -> str:
    """The release that will run: --llamafactory-version, else the stack's (installed, else what pip installs: the
    newest release, never the unreleased main branch a target may name)."""
    chosen = getattr(settings, "llamafactory_version", None)
    return str(chosen) if chosen else (stack(settings).version("llamafactory") or "0.9.5")


def _overridden(found: Stack, spec: str) -> Stack:
    """The stack with LFGATE_STACK's versions on top (messages then name the variable as their source)."""
    pairs = [item.split("=", 1) for item in spec.split(",") if "=" in item]
    if not pairs:
        return found
    versions = dict(found.versions)
    versions.update({name.strip().lower(): (version.strip() or None) for name, version in pairs})
    return Stack(versions, f"as LFGATE_STACK={spec} sets it", fresh=False)


def _fresh(settings) -> Stack:
    from lfgate.validator import train_schema  # the target release, as every version-dependent rule reads it

    version, _ = train_schema.target_version(settings)
    released = train_schema.train_schema()["x-llamafactory-version"]
    if train_schema.version_tuple(version) > train_schema.version_tuple(released):
        version = released
    return Stack(fresh_install(version), f"in a fresh `pip install llamafactory=={version}` (no llamafactory is "
                                         "installed here)", fresh=True)


@functools.lru_cache(maxsize=1)
def _installed() -> Optional[Stack]:
    """The environment llamafactory-cli runs in, else this interpreter when it has llamafactory; None when
    neither has llamafactory."""
    import shutil

    packages = tuple(lf_pins.PACKAGES) + OPTIONAL
    exe = shutil.which("llamafactory-cli")
    if exe is not None:
        versions, where, _ = lf_pins.cli_environment(exe, packages)
        if versions is not None and versions.get("llamafactory"):
            return Stack(dict(versions), f"in the environment of {exe} ({where})")
    if not lf_pins.installed_llamafactory():
        return None
    here = {package: lf_pins.installed(package) for package in packages}
    return Stack(here, "in this Python")
