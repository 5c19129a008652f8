"""Find what to check: registries, dataset files and training configs under the given paths."""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set

from lfgate.readers import guarded, launch_commands

REGISTRY_NAME = "dataset_info.json"
YAML_SUFFIXES = (".yaml", ".yml")
DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".arrow", ".txt")
# Folders no user keeps a LLaMA-Factory project in; skipping them keeps `lfgate check .` fast.
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache",
             ".pytest_cache", ".hypothesis", "site-packages", "wandb", "saves", "output", "outputs"}


# Skipped folders are named (with the YAMLs they hold) but never walked for configs; VCS internals are not even
# counted. Counting stops after this many entries over all skipped folders: a venv holds tens of thousands.
NEVER_COUNTED = {".git", ".hg", ".svn", "__pycache__"}
COUNT_BUDGET = 20_000
MAX_JSON_CONFIG_BYTES = 256 * 1024  # a JSON training config is a few KB; bigger JSON files are data
MAX_LAUNCH_FILE_BYTES = 2 * 1024 * 1024
MAX_LAUNCH_FILES = 5_000


@dataclass
class Targets:
    """What the paths on the command line ask for."""

    configs: List[str] = field(default_factory=list)
    registries: List[str] = field(default_factory=list)
    data_files: List[str] = field(default_factory=list)
    folders: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    special: List[str] = field(default_factory=list)  # named, but a FIFO, socket or device: never opened
    named: List[str] = field(default_factory=list)  # files named on the command line: never passed over
    json_candidates: List[str] = field(default_factory=list)  # small `{...}` JSON files: configs if their keys say so
    launch_files: List[str] = field(default_factory=list)  # scripts, Makefiles, READMEs, notebooks: how it launches
    checkouts: List[str] = field(default_factory=list)  # LLaMA-Factory checkouts found (launch.py)
    skipped: Dict[str, int] = field(default_factory=dict)  # folder not walked -> YAMLs it holds
    skipped_capped: Set[str] = field(default_factory=set)  # folders whose count stopped at the budget


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


def skipped_dir(name: str) -> bool:
    return name in SKIP_DIRS or name.startswith(".")


def _walk_folder(root: str, targets: Targets, exclude: Sequence[str], configs: bool = True,
                 entries: Optional[int] = None) -> None:
    """Registries, configs, JSON candidates, launch files and checkouts under root; with configs=False only what
    tells how the project launches (for a config named on its own), walking at most `entries` entries."""
    budget = [COUNT_BUDGET]
    for dirpath, dirnames, filenames in os.walk(root):
        if entries is not None:
            entries -= len(dirnames) + len(filenames)
            if entries < 0:
                dirnames[:] = []
                continue
        if is_checkout(dirpath, dirnames, filenames):
            targets.checkouts.append(dirpath)
        kept = []
        for d in sorted(dirnames):
            if excluded(os.path.relpath(os.path.join(dirpath, d), root), exclude):
                continue
            if skipped_dir(d):
                if configs and d not in NEVER_COUNTED:
                    _count_skipped(os.path.join(dirpath, d), targets, budget)
                continue
            kept.append(d)
        dirnames[:] = kept
        if configs:
            targets.registries.extend(os.path.join(dirpath, d) for d in dirnames if d == REGISTRY_NAME)
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if excluded(os.path.relpath(path, root), exclude) or not _regular(path):
                continue
            if launch_commands.kind_of(name) is not None:
                if len(targets.launch_files) < MAX_LAUNCH_FILES:
                    targets.launch_files.append(path)
                continue
            if not configs:
                continue
            if name == REGISTRY_NAME:
                targets.registries.append(path)
            elif name.endswith(YAML_SUFFIXES):
                targets.configs.append(path)  # non-training YAMLs are sorted out by discovery.recognise
            elif name.endswith(".json") and _json_object(path):
                targets.json_candidates.append(path)


def launch_files_under(root: str, exclude: Sequence[str] = (), entries: Optional[int] = None) -> Targets:
    """The launch files and checkouts under root (for configs named on the command line)."""
    targets = Targets()
    _walk_folder(root, targets, exclude, configs=False, entries=entries)
    return targets


def _count_skipped(folder: str, targets: Targets, budget: List[int]) -> None:
    count = 0
    for _, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in NEVER_COUNTED]
        budget[0] -= len(filenames) + len(dirnames)
        count += sum(1 for n in filenames if n.endswith(YAML_SUFFIXES))
        if budget[0] < 0:
            targets.skipped_capped.add(folder)
            break
    if count:
        targets.skipped[folder] = count


def _json_object(path: str) -> bool:
    """A small JSON file whose text starts with `{`: it may be a training config (`llamafactory-cli train x.json`)."""
    try:
        if os.path.getsize(path) > MAX_JSON_CONFIG_BYTES:
            return False
        with guarded.open_regular(path) as f:
            head = f.read(64)
    except OSError:
        return False
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def is_checkout(folder: str, dirnames: Optional[List[str]] = None, filenames: Optional[List[str]] = None) -> bool:
    """A LLaMA-Factory checkout: data/dataset_info.json with examples/ or src/llamafactory/, or LLaMA-Factory's own
    setup.py/pyproject.toml (the package name llamafactory, or llmtuner before 0.8)."""
    if dirnames is None or filenames is None:
        try:
            names = os.listdir(folder)
        except OSError:
            return False
        dirnames = [n for n in names if os.path.isdir(os.path.join(folder, n))]
        filenames = [n for n in names if n not in dirnames]
    if "data" in dirnames and os.path.isfile(os.path.join(folder, "data", REGISTRY_NAME)) and (
            "examples" in dirnames or os.path.isdir(os.path.join(folder, "src", "llamafactory"))):
        return True
    for name in ("pyproject.toml", "setup.py"):
        if name in filenames and _names_llamafactory(os.path.join(folder, name)):
            return True
    return False


_PACKAGE_NAME = re.compile(r"""^\s*name\s*=\s*["'](?:llamafactory|llmtuner)["']""", re.M)


def _names_llamafactory(path: str) -> bool:
    try:
        with guarded.open_regular(path) as f:
            text = f.read(64 * 1024).decode("utf-8", "replace")
    except OSError:
        return False
    return bool(_PACKAGE_NAME.search(text))


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
        if name.endswith(".json"):
            targets.named.append(path)


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
