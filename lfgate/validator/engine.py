"""`lfgate check` end to end: discover, read, run the rules, link configs to data, filter."""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

from lfgate import findings
from lfgate.diagnostics import Report
from lfgate.settings import Settings
from lfgate.validator import dataset_info, datasets, links, training
from lfgate.validator.model import DatasetEntry, DatasetResult, DatasetUsage, Registry
from lfgate.validator.project import discover, find_registry_for
from lfgate.validator.rules_general import PATH_NOT_FOUND


class Checker:
    """Holds what one run has read, so each registry and each (dataset, stage) is checked once."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.report = Report()
        self.registries: Dict[str, Registry] = {}
        self.results: Dict[Tuple[str, str, DatasetUsage], DatasetResult] = {}
        self._inputs: List[str] = []  # the configs and data files given or discovered

    # -- registries and datasets -------------------------------------------------------------------
    def registry(self, path: str) -> Registry:
        key = os.path.abspath(path)
        if key not in self.registries:
            registry = dataset_info.load_registry(path, self.settings)
            self.registries[key] = registry
            self.report.files += 1
            self.report.extend(registry.diagnostics)
        return self.registries[key]

    def dataset(self, entry: DatasetEntry, usage: DatasetUsage) -> DatasetResult:
        key = (os.path.abspath(entry.registry_path), entry.name, usage)
        if key not in self.results:
            result = datasets.check_entry(entry, usage, self.settings)
            self.results[key] = result
            self.report.files += 1 if entry.local_path else 0
            self.report.samples += result.samples
            self.report.extend(result.diagnostics)
        return self.results[key]

    # -- the whole run -----------------------------------------------------------------------------
    def run(self, paths: Sequence[str], finalize: bool = True) -> Report:
        """Every finding of the paths; with ``finalize`` (`lfgate check`) selected and suppressed, else raw, for a
        caller that adds findings of its own and then calls ``findings.finalize`` with ``files_read``."""
        from lfgate import legacy

        self.report.extend(self.settings.deprecations + legacy.environment_findings())
        targets = discover(paths or ["."], self.settings.all_excludes)
        for missing in targets.missing:
            self.report.extend([PATH_NOT_FOUND.diag(f"{missing} does not exist.", file=missing)])

        configs = []
        for path in targets.configs:
            base = _base_dir(path, targets.folders)
            config = training.load_config(path, base, self.settings)
            if config is None:  # not a training config (accelerate, deepspeed, a token file, ...)
                continue
            self.report.files += 1
            self.report.extend(config.diagnostics)
            configs.append(config)

        checked_entries = set()
        for config in configs:
            registry_path = links.registry_path(config, self.settings)
            registry = self.registry(registry_path) if registry_path and os.path.isfile(registry_path) else None
            used: Dict[str, DatasetResult] = {}
            for name, usage in links.dataset_usages(config, registry, self.settings):
                entry = registry.entries.get(name) if registry else None
                if entry is not None:
                    used[name] = self.dataset(entry, usage)
                    checked_entries.add((os.path.abspath(entry.registry_path), name))
            self.report.extend(links.check_links(config, registry, registry_path, used, self.settings))

        for path in targets.registries:
            registry = self.registry(path)
            for name, entry in registry.entries.items():
                if (os.path.abspath(registry.path), name) not in checked_entries:
                    self.dataset(entry, DatasetUsage())

        for path in targets.data_files:
            entry = _entry_for_file(path, self)
            if entry is not None:
                self.dataset(entry, DatasetUsage())
            else:
                result = datasets.check_unregistered(path, self.settings)
                self.report.files += 1
                self.report.samples += result.samples
                self.report.extend(result.diagnostics)
        self._inputs = [c.path for c in configs] + list(targets.data_files)
        if finalize:
            self.report.diagnostics = findings.finalize(self.report.diagnostics, self.settings, self.files_read())
        return self.report

    def files_read(self) -> List[str]:
        """Every file this run read, so suppressions in files without findings are judged too (SUP001)."""
        return self._inputs + list(self.registries) + [r.path for r in self.results.values() if r.path]


def _base_dir(config_path: str, folders: List[str]) -> str:
    """Where a config's relative paths resolve: the project folder checked, else the working directory
    (LLaMA-Factory resolves dataset_dir against the directory it is launched from)."""
    absolute = os.path.abspath(config_path)
    for folder in folders:
        folder = os.path.abspath(folder)
        if absolute.startswith(folder + os.sep):
            return folder
    return os.getcwd()


def _entry_for_file(path: str, checker: Checker) -> Optional[DatasetEntry]:
    target = os.path.abspath(path)
    for registry_path in find_registry_for(path):
        registry = checker.registry(registry_path)
        for entry in registry.entries.values():
            local = entry.local_path
            if local and (os.path.abspath(local) == target
                          or (os.path.isdir(local) and os.path.dirname(target) == os.path.abspath(local))):
                return entry
    return None


def run_check(paths: Sequence[str], settings: Optional[Settings] = None) -> Report:
    return Checker(settings or Settings()).run(paths)
