"""`lfgate check` end to end: discover, read, run the rules, link configs to data, filter."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Set, Tuple

from lfgate import findings
from lfgate.diagnostics import Diagnostic, Report, Severity, display_path
from lfgate.registry import selected
from lfgate.settings import Settings
from lfgate.validator import dataset_info, datasets, discovery, lfs, links, training
from lfgate.validator.model import DatasetEntry, DatasetResult, DatasetUsage, Registry
from lfgate.validator.project import discover, find_registry_for
from lfgate.validator.rules_general import PATH_NOT_FOUND

EntryKey = Tuple[str, str]  # (absolute registry path, entry name)
# Data no config loads: judged as LLaMA-Factory's defaults would load it (stage sft, cutoff_len 2048:
# DataArguments.cutoff_len, hparams/data_args.py 0.9.5); a one-column text corpus stays pt.
NO_CONFIG = DatasetUsage(cutoff_len=2048)


class Checker:
    """Holds what one run has read, so each registry and each (dataset, stage) is checked once."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.report = Report()
        self.registries: Dict[str, Registry] = {}
        self.results: Dict[Tuple[str, str, DatasetUsage], DatasetResult] = {}
        self._inputs: List[str] = []  # the configs and data files given or discovered
        self.by_entry: Dict[EntryKey, list] = {}  # each entry's findings, registry and data, sorted out at the end
        self.users: Dict[EntryKey, List[str]] = {}  # the configs that load each entry
        self.counted: Set[EntryKey] = set()

    # -- registries and datasets -------------------------------------------------------------------
    def registry(self, path: str) -> Registry:
        key = os.path.abspath(path)
        if key not in self.registries:
            registry = lfs.pointer_registry(path) or dataset_info.load_registry(path, self.settings)
            self.registries[key] = registry
            self.report.files += 1
            for found in registry.diagnostics:
                if found.dataset is not None:  # an entry's finding, even when the entry is no object
                    self.by_entry.setdefault((key, found.dataset), []).append(found)
                else:
                    self.report.extend([found])
        return self.registries[key]

    def dataset(self, entry: DatasetEntry, usage: DatasetUsage) -> DatasetResult:
        """Check an entry once per way it is loaded: configs that load it alike share one result."""
        entry_key = (os.path.abspath(entry.registry_path), entry.name)
        if usage.config_path is not None:
            users = self.users.setdefault(entry_key, [])
            if usage.config_path not in users:
                users.append(usage.config_path)
        key = entry_key + (replace(usage, config_path=None),)
        if key not in self.results:
            result = datasets.check_entry(entry, usage, self.settings)
            self.results[key] = result
            if entry_key not in self.counted:  # a file read under two stages is one file
                self.counted.add(entry_key)
                self.report.files += 1 if entry.local_path else 0
                self.report.samples += result.samples
            self.by_entry.setdefault(entry_key, []).extend(_say_default_stage(result, usage))
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
        for special in targets.special:
            self.report.extend([PATH_NOT_FOUND.diag(f"{special} is not a regular file (a FIFO, socket or device): it "
                                                    "was not read.", file=special)])

        configs, skipped, why = [], [], {}
        for path in targets.configs:
            config, reason = self._config(path, _base_dir(path, targets.folders), path in targets.named)
            if config is None:  # not a training config (accelerate, deepspeed, Hydra, a token file, ...)
                if reason is not None:
                    skipped.append(path)
                    why[path] = reason
                continue
            self.report.files += 1
            self.report.extend(config.diagnostics)
            configs.append(config)
        self.report.extend(discovery.passed_over(skipped, why))

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

        passed = [p for p in targets.registries if p not in targets.named and os.path.isfile(p)
                  and os.path.abspath(p) not in self.registries and not discovery.is_registry(p)]
        self.report.extend(discovery.not_a_registry(passed))
        for path in targets.registries:
            if path in passed:
                continue
            registry = self.registry(path)
            for name, entry in registry.entries.items():
                if (os.path.abspath(registry.path), name) not in checked_entries:
                    self.dataset(entry, NO_CONFIG)

        for path in targets.data_files:
            entry = _entry_for_file(path, self)
            if entry is not None:
                self.dataset(entry, NO_CONFIG)
            else:
                result = datasets.check_unregistered(path, self.settings)
                self.report.files += 1
                self.report.samples += result.samples
                self.report.extend(result.diagnostics)
        s = self.settings  # a link finding the user ignores leaves its data finding in place
        linked = {d.dataset for d in self.report.diagnostics if d.code in LINKED_CODES
                  and selected(d.code, s.select, s.ignore)}
        self.report.extend(entry_findings(self.by_entry, self.users, has_configs=bool(configs), linked=linked))
        self.report.diagnostics = unique(self.report.diagnostics)
        self._inputs = [c.path for c in configs] + list(targets.data_files)
        if finalize:
            self.report.diagnostics = findings.finalize(self.report.diagnostics, self.settings, self.files_read())
        return self.report

    def _config(self, path: str, base: str, named: bool):
        """(the config, None) or (None, why a folder scan passed it over; None when nothing needs saying)."""
        keys, binary = discovery.top_keys(path)
        if keys is not None and discovery.is_board(keys):
            return self._checked(discovery.load_board(path, base, self.settings)), None
        what = discovery.describe(keys, binary)
        weighs = not binary and discovery.weighs_as_config(keys or {}, training.known_keys())
        if not named and not weighs:
            return None, what
        # Named: checked when it can be read as a config at all; an unreadable one is an error (load_config).
        if named and not binary and not weighs and not discovery.has_marker(keys or {}, training.CONFIG_MARKERS):
            self.report.extend(discovery.named_not_config(path, what))
            return None, None
        config = training.load_config(path, base, self.settings, named=named)
        if config is None and named:
            self.report.extend(discovery.named_not_config(path, what))
            return None, None
        return self._checked(config), (what if config is None else None)

    def _checked(self, config: Optional[training.TrainingConfig]) -> Optional[training.TrainingConfig]:
        """A config read is then checked: every rule over it joins the file's own findings."""
        if config is not None:
            config.diagnostics.extend(training.check_config(config, self.settings))
        return config

    def files_read(self) -> List[str]:
        """Every file this run read, so suppressions in files without findings are judged too (SUP001)."""
        return self._inputs + list(self.registries) + [r.path for r in self.results.values() if r.path]


def _say_default_stage(result: DatasetResult, usage: DatasetUsage) -> list:
    """With no config to give the stage, the samples were judged as sft: the first sample finding says so."""
    found = list(result.diagnostics)
    if usage.stage is not None or result.facts.get("stage") != "sft":
        return found
    for i, d in enumerate(found):
        if d.code.startswith("DS"):
            found[i] = d.at(message=f"{d.message} (no config gives the stage: judged as sft, LLaMA-Factory's "
                                    "default)")
            break
    return found


# -- one finding per cause, severity from what LLaMA-Factory does with the entry --------------------------------------
# A data finding the config's own link finding says better: DS012 (estimate per dataset) under LK050 (per config).
LINKED_CODES = {"LK050": "DS012"}


def entry_findings(by_entry: Dict[EntryKey, list], users: Dict[EntryKey, List[str]], has_configs: bool,
                   linked=frozenset()) -> list:
    """Each entry's findings once, root cause first. With configs in the run, an entry no config loads is never
    loaded by LLaMA-Factory: its findings are at most warnings, one summary per rule over all such entries."""
    out: List[Diagnostic] = []
    unused: Dict[str, List[Diagnostic]] = {}  # rule code -> its findings in entries no config loads
    covered = set(LINKED_CODES.values())
    some_unused = any(key not in users for key in by_entry)
    for key, found in by_entry.items():
        found = fold_consequences(unique(found))
        if key in users and key[1] in linked:
            found = [d for d in found if d.code not in covered]
        if has_configs and key not in users:
            for d in found:
                unused.setdefault(d.code, []).append(d)
            continue
        configs = users.get(key, [])
        if len(configs) > 1 or (configs and some_unused):  # the configs decided the severity: name them
            found = [d.at(message=f"{d.message} [{_used_by(configs)}]") for d in found]
        out.extend(found)
    return out + [_summary(code, found) for code, found in unused.items()]


def _used_by(configs: List[str]) -> str:
    names = ", ".join(display_path(c) for c in configs[:5])
    more = f" and {len(configs) - 5} more" if len(configs) > 5 else ""
    return f"dataset loaded by {names}{more}"


def _summary(code: str, found: list):
    """One warning for a rule over the entries no config loads, at the first of them, naming them all."""
    first = found[0]
    worst = max((d.severity for d in found), key=_rank)
    severity = Severity.WARNING if worst == Severity.ERROR else worst
    if len(found) == 1:
        return first.at(severity=severity, message=f"{first.message} (no checked config loads dataset "
                                                   f"`{first.dataset}`, so LLaMA-Factory never reads it here)")
    names = sorted({d.dataset for d in found if d.dataset})
    shown = ", ".join(f"`{n}`" for n in names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return first.at(severity=severity, message=f"{len(found)} findings in datasets no checked config loads ({shown}), "
                                                f"so LLaMA-Factory never reads them here; the first: {first.message}")


def _rank(severity: Severity) -> int:
    return {Severity.ERROR: 2, Severity.WARNING: 1}.get(severity, 0)


# A registry error that decides how every sample is read: the sample findings it causes are folded under it.
ROOT_CAUSES = frozenset({"DI101", "DI103"})


def fold_consequences(found: list) -> list:
    roots = [d for d in found if d.code in ROOT_CAUSES and d.severity == Severity.ERROR]
    if not roots:
        return found
    folded = [d for d in found if d.code.startswith("DS")]
    if not folded:
        return found
    codes = ", ".join(sorted({d.code for d in folded}))
    note = f" (it causes the {len(folded)} sample finding(s) {codes} in the data, folded here)"
    head = roots[0].at(message=roots[0].message + note)
    return [head] + [d for d in found if d is not roots[0] and not d.code.startswith("DS")]


def unique(found: list) -> list:
    """The same finding reached twice (two configs, two stages) once, at its highest severity."""
    best: Dict[tuple, Diagnostic] = {}
    for d in found:
        key = (d.code, d.message, d.file, d.line, d.column, d.sample, d.dataset)
        if key not in best or _rank(d.severity) > _rank(best[key].severity):
            best[key] = d
    return list(best.values())


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
