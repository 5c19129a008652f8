"""The project's first name, `lfguard`, still read so that early adopters' files keep working.

lfgate was published under that name before it turned out to belong to another project on the package index.
Every old spelling is read as the new one, and each use gives one LG002 (info) finding naming the new spelling:

- ``[tool.lfguard]`` in pyproject.toml and ``.lfguard.toml`` (``config_file.py``);
- ``# lfguard: ignore[...]`` / ``# lfguard: file-ignore[...]`` in YAML files (``suppressions.py``);
- ``LFGUARD_*`` environment variables, copied to ``LFGATE_*`` at start-up (``cli.py``).

This module is the only home of the old name in the code.
"""

from __future__ import annotations

import os
from typing import List, MutableMapping

from lfgate.diagnostics import Diagnostic
from lfgate.readers import guarded
from lfgate.registry import INFO, rule

OLD_NAME = "lfguard"
OLD_CONFIG_FILE = ".lfguard.toml"
OLD_ENV_PREFIX = "LFGUARD_"
NEW_ENV_PREFIX = "LFGATE_"

OLD_SPELLING = rule(
    "LG002", "old-name", INFO,
    "A spelling from lfgate's former name, lfguard",
    why="lfgate was first called lfguard, a name that belongs to another project on the package index. The old "
        "spellings of the configuration table and file, the suppression comments and the environment variables "
        "are still read, but a later release will drop them.",
    fix="Rename `[tool.lfguard]` to `[tool.lfgate]`, `.lfguard.toml` to `.lfgate.toml`, `# lfguard:` comments to "
        "`# lfgate:` and `LFGUARD_*` variables to `LFGATE_*`.",
    target="train.yaml",
    bad={"train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\n"
                       "learning_rate: 1e-4\n"
                       "warmup_step: 10  # lfguard: ignore[TY101]\n"},
    good={"train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\n"
                        "learning_rate: 1e-4\n"
                        "warmup_step: 10  # lfgate: ignore[TY101]\n"},
)

# LFGUARD_* variables found at start-up, reported once by the next check.
_old_variables: List[str] = []


def adopt_old_environment(environ: MutableMapping[str, str] = os.environ) -> List[str]:
    """Copy each ``LFGUARD_X`` to ``LFGATE_X`` (unless that is set) and remember it; returns the old names."""
    found = []
    for name in sorted(environ):
        if name.startswith(OLD_ENV_PREFIX):
            environ.setdefault(NEW_ENV_PREFIX + name[len(OLD_ENV_PREFIX):], environ[name])
            found.append(name)
    _old_variables[:] = found
    return found


def environment_findings() -> List[Diagnostic]:
    return [OLD_SPELLING.diag(f"the environment variable {name} is read as "
                              f"{NEW_ENV_PREFIX + name[len(OLD_ENV_PREFIX):]}; rename it (lfguard is now lfgate)")
            for name in _old_variables]


def config_finding(path: str, old_table: bool) -> Diagnostic:
    if old_table:
        return OLD_SPELLING.diag("[tool.lfguard] is read as [tool.lfgate]; rename the table (lfguard is now lfgate)",
                                 file=path, line=_line_of(path, "[tool.lfguard"))
    return OLD_SPELLING.diag(f"{OLD_CONFIG_FILE} is read as .lfgate.toml; rename the file (lfguard is now lfgate)",
                             file=path)


def marker_finding(file: str, line: int, column: int, kind: str) -> Diagnostic:
    return OLD_SPELLING.diag(f"`# lfguard: {kind}[...]` is read as `# lfgate: {kind}[...]`; rename it "
                             "(lfguard is now lfgate)", file=file, line=line, column=column)


def _line_of(path: str, needle: str):
    try:
        with guarded.open_regular(path, "r", encoding="utf-8", errors="replace") as f:
            return next((n for n, text in enumerate(f, 1) if text.lstrip().startswith(needle)), None)
    except OSError:
        return None
