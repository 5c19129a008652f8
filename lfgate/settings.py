"""Resolved settings for one run: defaults, then the config file, then the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Tuple

from lfgate.diagnostics import Diagnostic, Severity


def _placeholders() -> Dict[str, str]:
    # LLaMA-Factory reads these env vars (extras/constants.py); so do we, so counts agree with it.
    return {
        "image": os.environ.get("IMAGE_PLACEHOLDER", "<image>"),
        "video": os.environ.get("VIDEO_PLACEHOLDER", "<video>"),
        "audio": os.environ.get("AUDIO_PLACEHOLDER", "<audio>"),
    }


@dataclass
class Settings:
    select: Tuple[str, ...] = ()
    ignore: Tuple[str, ...] = ()
    fail_on: Severity = Severity.ERROR
    per_file_ignores: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    exclude: Tuple[str, ...] = ()
    extend_exclude: Tuple[str, ...] = ()
    dataset_dir: Optional[str] = None  # overrides the configs' dataset_dir
    llamafactory_version: Optional[str] = None  # None: the installed one, else the newest known
    llamafactory_version_from: Optional[str] = None  # where llamafactory_version came from, if not the command line
    launch_dir: Optional[str] = None  # the folder llamafactory-cli runs in (validator/launch.py infers it if None)
    launch_dir_from: Optional[str] = None  # who said so: --launch-dir, the config file, `lfgate train`
    # a vendored LLaMA-Factory checkout's own arguments and templates (validator/launch.py checkout_facts)
    checkout_keys: FrozenSet[str] = frozenset()
    checkout_templates: FrozenSet[str] = frozenset()
    devices: Optional[int] = None  # devices the run will use, for the step-budget rules
    devices_from: Optional[str] = None  # "--devices" when the command line set `devices` (devices_env.py)
    devices_present: Optional[tuple] = None  # (count, kind) of this machine's devices, where `train` probed them
    workers: Optional[int] = None  # processes for large datasets; None: one per core
    fast_path: bool = True  # clean records skip the full pipeline (validator/fastpath.py); False only to compare
    overrides: Dict[str, str] = field(default_factory=dict)  # key=value after a training YAML
    baseline: Optional[str] = None
    inline_ignores: bool = True  # `# lfgate: ignore[...]` comments in the tree count (false: a pinned CI config)
    placeholders: Dict[str, str] = field(default_factory=_placeholders)
    source: Optional[str] = None  # the config file these settings came from, if any
    deprecations: List[Diagnostic] = field(default_factory=list)  # LG002: the file used the old name's spelling

    @property
    def all_excludes(self) -> Tuple[str, ...]:
        return tuple(self.exclude) + tuple(self.extend_exclude)
