"""Find what to check: registries, dataset files and training configs under the given paths."""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass, field
from typing import List, Sequence

REGISTRY_NAME = "dataset_info.json"
YAML_SUFFIXES = (".yaml", ".yml")
DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".arrow", ".txt")
# Folders no user keeps a LLaMA-Factory project in; skipping them keeps `lfgate check .` fast.
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache",
             ".pytest_cache", ".hypothesis", "site-packages", "wandb", "saves", "output", "outputs"}


@dataclass
class Targets:
    """What the paths on the command line ask for. base_dir: where relative config paths resolve."""

    configs: List[str] = field(default_factory=list)
    registries: List[str] = field(default_factory=list)
    data_files: List[str] = field(default_factory=list)
    folders: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    special: List[str] = field(default_factory=list)  # named, but a FIFO, socket or device: never opened
    named: List[str] = field(default_factory=list)  # files named on the command line: never passed over


def excluded(path: str, patterns: Sequence[str]) -> bool:
    norm = path.replace(os.sep, "/")
    parts = norm.split("/")
    return any(fnmatch.fnmatch(norm, p) or any(fnmatch.fnmatch(part, p) for part in parts) for p in patterns)


def discover(paths: Sequence[str], exclude: Sequence[str] = ()) -> Targets:
    targets = Targets()
    for path in paths:
        if os.path.isdir(path) and os.path.basename(os.path.normpath(path)) == REGISTRY_NAME:
            targets.registries.append(path)  # a folder where the registry should be: reported as unreadable
        elif os.path.isdir(path):
            targets.folders.append(path)
            _walk_folder(path, targets, exclude)
        elif os.path.isfile(path):
            _classify_file(path, targets)
        elif os.path.exists(path):
            targets.special.append(path)
        else:
            targets.missing.append(path)
    return targets


def _walk_folder(root: str, targets: Targets, exclude: Sequence[str]) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                             and not excluded(os.path.relpath(os.path.join(dirpath, d), root), exclude))
        targets.registries.extend(os.path.join(dirpath, d) for d in dirnames if d == REGISTRY_NAME)
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if excluded(os.path.relpath(path, root), exclude) or not _regular(path):
                continue
            if name == REGISTRY_NAME:
                targets.registries.append(path)
            elif name.endswith(YAML_SUFFIXES):
                targets.configs.append(path)  # non-training YAMLs are sorted out by the training reader


def _regular(path: str) -> bool:
    """Only regular files are read: a FIFO named `x.yaml` would block the check forever, a device never ends."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _classify_file(path: str, targets: Targets) -> None:
    name = os.path.basename(path)
    if name == REGISTRY_NAME:
        targets.registries.append(path)
        targets.named.append(path)
    elif name.endswith(YAML_SUFFIXES):
        targets.configs.append(path)
        targets.named.append(path)
    else:
        targets.data_files.append(path)


def find_registry_for(data_file: str) -> List[str]:
    """dataset_info.json files in the data file's folder and its parents, nearest first."""
    found = []
    folder = os.path.dirname(os.path.abspath(data_file))
    while True:
        candidate = os.path.join(folder, REGISTRY_NAME)
        if os.path.isfile(candidate):
            found.append(candidate)
        parent = os.path.dirname(folder)
        if parent == folder:
            return found
        folder = parent
