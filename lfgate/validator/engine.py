"""`lfgate check` end to end: discover, read, run the rules, link configs to data, filter."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import AbstractSet, Dict, List, Optional, Sequence, Set, Tuple

from lfgate import findings
from lfgate.diagnostics import Diagnostic, Report, Severity, display_path
from lfgate.registry import DATASET, ROOT, selected
from lfgate.settings import Settings
from lfgate.validator import dataset_info, datasets, discovery, launch, lfs, links, multinode, stock, training
from lfgate.validator.model import DatasetEntry, DatasetResult, DatasetUsage, Registry
from lfgate.validator.project import discover, find_registry_for
from lfgate.validator.rules_general import PATH_NOT_FOUND

EntryKey = Tuple[str, str]  # (absolute registry path, entry name)
# Data no config loads: judged as LLaMA-Factory's defaults would load it (stage sft, cutoff_len 2048:
# DataArguments.cutoff_len, hparams/data_args.py 0.9.5); a one-column text corpus stays pt.
NO_CONFIG = DatasetUsage(cutoff_len=2048)


class Checker:
    """Holds what one run has read, so each registry and each (dataset, stage) is checked once."""

    def __init__(self, settings: Settings, launching: bool = False):
        self.settings = settings
        self.launching = launching  # `train`/`export`: the file launched is the user's even if it is stock
        self.stock_configs: Set[str] = set()  # LLaMA-Factory's own example configs, unchanged (not when launching)
        self.report = Report()
        self.registries: Dict[str, Registry] = {}
        self.results: Dict[Tuple[str, str, DatasetUsage], DatasetResult] = {}
        self._inputs: List[str] = []  # the configs and data files given or discovered
        self.by_entry: Dict[EntryKey, list] = {}  # each entry's findings, registry and data, sorted out at the end
        self.users: Dict[EntryKey, List[str]] = {}  # the configs that load each entry
        self.counted: Set[EntryKey] = set()
        self.whole: Set[str] = set()  # registries checked whole (named or found); others only for the entries used
        self.named: Set[EntryKey] = set()  # the entries the configs name
        self.configs: List = []  # the training configs checked (`lfgate train` launches only one of these)
        self.not_configs: Dict[str, str] = {}  # files named but not checked as configs -> why
        self.launches: Dict[int, launch.Launch] = {}  # id(config) -> its launch folder
        self.settings_of: Dict[int, Settings] = {}  # id(config) -> the settings it is checked under
        self.plan = launch.LaunchPlan(settings, os.path.abspath)
        self.folders: List[str] = []  # the folders checked: the project, where data may be linked and read

    def _project_of(self, path: str) -> Tuple[str, ...]:
        """The checked project a registry belongs to (real paths): the repository holding it and the folders
        checked that hold it; else the working directory when it holds it (files named at a repository's root, as
        pre-commit names them). Data linked anywhere inside it is the project's own, and is read."""
        absolute = os.path.abspath(path)
        roots = [os.path.realpath(f) for f in self.folders if _inside(absolute, os.path.abspath(f))]
        repository = _repository_root(os.path.dirname(absolute))
        if repository is not None:
            roots.append(os.path.realpath(repository))
        here = os.getcwd()
        if not roots and _inside(absolute, here):
            roots.append(os.path.realpath(here))
        return tuple(dict.fromkeys(roots))

    # -- registries and datasets -------------------------------------------------------------------
    def registry(self, path: str) -> Registry:
        key = os.path.abspath(path)
        if key not in self.registries:
            registry = lfs.pointer_registry(path) or dataset_info.load_registry(path, self.settings,
                                                                                 self._project_of(path))
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
        self.folders = list(targets.folders)
        for missing in targets.missing:
            self.report.extend([PATH_NOT_FOUND.diag(f"{missing} does not exist.", file=missing)])
        for special in targets.special:
            self.report.extend([PATH_NOT_FOUND.diag(f"{special} is not a regular file (a FIFO, socket or device): it "
                                                    "was not read.", file=special)])

        configs, skipped, why = self._configs(targets)
        self.report.extend(discovery.passed_over(skipped, why))
        self.report.extend(discovery.skipped_folders(targets.skipped, targets.skipped_capped))
        if any(c.entry == "train" for c in configs):  # how the run would be launched (RN040-RN047)
            self.report.extend(multinode.check(os.environ) if multinode.is_set() else [])
            for folder in targets.folders:
                self.report.extend(multinode.script_findings(folder))

        checked_entries = set()
        for config in configs:
            settings = self.settings_of.get(id(config), self.settings)
            registry_path = links.registry_path(config, settings)
            registry = self.registry(registry_path) if registry_path and os.path.isfile(registry_path) else None
            used: Dict[str, DatasetResult] = {}
            for name, usage in links.dataset_usages(config, registry, settings):
                if registry is not None:  # its findings are the config's, even for an entry that is no object
                    self.named.add((os.path.abspath(registry.path), name))
                entry = registry.entries.get(name) if registry else None
                if entry is not None:
                    used[name] = self.dataset(entry, usage)
                    checked_entries.add((os.path.abspath(entry.registry_path), name))
            found = links.check_links(config, registry, registry_path, used, settings)
            found = training.without_placeholder_findings(config, found)
            self.report.extend(self.plan.annotate(found, config.path, self.launches[id(config)]))

        passed = [p for p in targets.registries if p not in targets.named and os.path.isfile(p)
                  and os.path.abspath(p) not in self.registries and not discovery.is_registry(p)]
        self.report.extend(discovery.not_a_registry(passed))
        for path in targets.registries:
            if path in passed:
                continue
            registry = self.registry(path)
            self.whole.add(os.path.abspath(path))
            for name, entry in registry.entries.items():
                if (os.path.abspath(registry.path), name) not in checked_entries:
                    self.dataset(entry, NO_CONFIG)

        for path in targets.data_files:
            entries = _entries_for_file(path, self)
            for entry in entries:
                if (os.path.abspath(entry.registry_path), entry.name) not in self.counted:
                    self.dataset(entry, NO_CONFIG)
            if not entries:
                result = datasets.check_unregistered(path, self.settings, self._project_of(path))
                self.report.files += 1
                self.report.samples += result.samples
                self.report.extend(result.diagnostics)
        # a registry read for a config or a data file: only the entries they use are checked (README: one file)
        asked = {key: found for key, found in self.by_entry.items()
                 if key[0] in self.whole or key in self.counted or key in self.named}
        self.report.diagnostics, stock_found = self._stock_apart(configs)
        self.report.extend(entry_findings(asked, self.users, has_configs=bool(configs),
                                          covering=self.report.diagnostics + stock_found, settings=self.settings,
                                          stock_entries=self._stock_entries(asked), stock_found=stock_found))
        self.report.diagnostics = unique(self.report.diagnostics)
        self._inputs = [c.path for c in configs] + list(targets.data_files)
        if finalize:
            self.report.diagnostics = findings.finalize(self.report.diagnostics, self.settings, self.files_read())
        return self.report

    # -- LLaMA-Factory's own files, unchanged from a release (stock.py) ---------------------------------------------
    def _stock_apart(self, configs) -> Tuple[List[Diagnostic], List[Diagnostic]]:
        """(the run's findings, those at LLaMA-Factory's own unchanged example configs)."""
        if not self.launching:
            self.stock_configs = {os.path.abspath(c.path) for c in configs if stock.release_of(c.path)}
        ours = self.stock_configs
        theirs = [d for d in self.report.diagnostics if d.file and os.path.abspath(d.file) in ours]
        return [d for d in self.report.diagnostics if not (d.file and os.path.abspath(d.file) in ours)], theirs

    def _stock_entries(self, keys) -> Set[EntryKey]:
        """The entries LLaMA-Factory ships, unchanged, whose data file is absent or unchanged too, that no config
        of the user's loads (its own examples make no entry the user's)."""
        if self.launching:
            return set()
        ours = self.stock_configs
        out = set()
        for key in keys:
            if any(os.path.abspath(c) not in ours for c in self.users.get(key, ())):
                continue
            registry = self.registries.get(key[0])
            entry = registry.entries.get(key[1]) if registry else None
            if entry is None or not stock.is_stock_entry(entry.name, entry.raw):
                continue
            local = entry.local_path
            if local is None or not os.path.lexists(local) or (os.path.isfile(local) and stock.release_of(local)):
                out.add(key)
        return out

    def _configs(self, targets) -> Tuple[list, list, Dict[str, str]]:
        """(the configs, the YAMLs a folder scan passed over, why each was): every YAML and JSON candidate is parsed
        and told apart (discovery.recognise), its launch folder inferred (launch.py), then read as a config."""
        known, markers = training.known_keys(), training.CONFIG_MARKERS
        seen: Set[str] = set()  # a file both named and found in a folder is one config
        paths = []
        for path in targets.configs:
            if os.path.abspath(path) not in seen:
                seen.add(os.path.abspath(path))
                paths.append(path)
        found = [(p, discovery.recognise(p, known, markers)) for p in paths]
        for path in targets.json_candidates + [p for p in targets.data_files if p.lower().endswith(".json")]:
            recognised = discovery.recognise(path, known, markers)
            if recognised.kind in ("config", "blocks") and os.path.abspath(path) not in seen:
                seen.add(os.path.abspath(path))
                found.append((path, recognised))
                if path in targets.data_files:
                    targets.data_files.remove(path)
        loadable = [p for p, r in found if r.kind not in ("pointer",)]
        self.plan = launch.make_plan(targets, loadable, self.settings, lambda p: _base_dir(p, targets.folders))
        configs, skipped, why = [], [], {}
        for path, recognised in found:
            loaded, reason = self._load(path, recognised, path in targets.named)
            if reason is not None:
                skipped.append(path)
                why[path] = reason
            for config in loaded:
                self.report.files += 1
                self.report.extend(self.plan.annotate(config.diagnostics, path, self.launches[id(config)]))
                configs.append(config)
        self.report.extend(self.plan.findings(c.path for c in configs))
        self.configs = configs
        return configs, skipped, why

    def _load(self, path: str, found, named: bool):
        """([the configs in the file], None) or ([], why a folder scan passed it over; None when nothing needs
        saying)."""
        if found.kind == "pointer":
            self.report.extend(lfs.config_pointer(path))
            self.not_configs[path] = "it is a Git LFS pointer (TY011)"
            return [], None
        where = self.plan.launch_for(path, found.values)
        settings = self.plan.settings_for(where, self.settings)
        base, also = where.folder, where.also
        if found.kind == "board":
            return self._keep([discovery.load_board(path, base, settings, also)], where, settings), None
        if found.kind == "blocks":
            blocks = [training.load_config(path, base, settings, named, found.fmt, block, also)
                      for block in found.blocks]
            return self._keep([c for c in blocks if c is not None], where, settings), None
        # named: a file that is no text is an error (TY001), a YAML that names LLaMA-Factory's keys is checked
        readable = found.kind == "config" or found.looks or named and (
            found.kind == "unreadable" and found.why != "not valid YAML" or found.kind == "other" and found.marker)
        if not readable:
            if named:
                self._named_not_config(path, found.why)
                return [], None
            return [], found.why
        config = training.load_config(path, base, settings, named=named, fmt=found.fmt, also=also)
        if config is None:
            what = found.why or "no key LLaMA-Factory configs are known by"
            if named:
                self._named_not_config(path, what)
                return [], None
            return [], what
        return self._keep([config], where, settings), None

    def _keep(self, configs: list, where, settings) -> list:
        """Configs read are then checked, as launched from where: every rule over each joins the file's own
        findings (a value holding a placeholder is not judged)."""
        configs = [c for c in configs if c is not None]
        for config in configs:
            self.launches[id(config)] = where
            self.settings_of[id(config)] = settings
            config.diagnostics.extend(training.without_placeholder_findings(
                config, training.check_config(config, settings)))
        return configs

    def _named_not_config(self, path: str, what: str) -> None:
        self.report.extend(discovery.named_not_config(path, what))
        self.not_configs[path] = f"it is not a LLaMA-Factory training config ({what})"

    def files_read(self) -> List[str]:
        """Every file this run read, so suppressions in files without findings are judged too (SUP001)."""
        return self._inputs + list(self.registries) + [r.path for r in self.results.values() if r.path]


def _say_default_stage(result: DatasetResult, usage: DatasetUsage) -> list:
    """With no config to give the stage, the samples were judged as sft: the first sample finding says so."""
    found = list(result.diagnostics)
    if usage.stage is not None or result.facts.stage != "sft":
        return found
    for i, d in enumerate(found):
        if d.code.startswith("DS"):
            found[i] = d.at(message=f"{d.message} (no config gives the stage: judged as sft, LLaMA-Factory's "
                                    "default)")
            break
    return found


# -- one finding per cause, severity from what LLaMA-Factory does with the entry --------------------------------------
def entry_findings(by_entry: Dict[EntryKey, list], users: Dict[EntryKey, List[str]], has_configs: bool,
                   covering: Sequence[Diagnostic] = (), settings: Optional[Settings] = None,
                   stock_entries: AbstractSet[EntryKey] = frozenset(), stock_found: Sequence[Diagnostic] = ()) -> list:
    """Each entry's findings once, root cause first. With configs in the run, an entry no config loads is never
    loaded by LLaMA-Factory: its findings are at most warnings, one summary per rule over all such entries.
    LLaMA-Factory's own unchanged entries (``stock_entries``) that no config of the user's loads, and the findings
    at its own unchanged example configs (``stock_found``), are at most warnings too, each at its place (stock.py).
    ``covering``: the run's other findings, of which those declared to cover a dataset's findings (``covers``, scope
    DATASET: LK050 at a config covers the data's DS012) fold them, for the entries a config loads."""
    out: List[Diagnostic] = []
    unused: Dict[str, List[Diagnostic]] = {}  # rule code -> its findings in entries no config loads
    theirs: List[Diagnostic] = list(stock_found)  # the findings in LLaMA-Factory's own files and entries
    some_unused = any(key not in users for key in by_entry)
    s = settings or Settings()

    def chosen(code: str) -> bool:  # a covering finding the user ignores leaves what it covers in place
        return selected(code, s.select, s.ignore)

    for key, found in by_entry.items():
        found = findings.fold(unique(found), ROOT, chosen=chosen)
        if key in users:
            found = findings.fold(found, DATASET, [d for d in covering if d.dataset == key[1]], chosen=chosen)
        if has_configs and key not in users:
            for d in found:
                unused.setdefault(d.code, []).append(d)
            continue
        if key in stock_entries:  # with no config in the run, or loaded only by LLaMA-Factory's own examples
            theirs.extend(found)
            continue
        configs = users.get(key, [])
        if len(configs) > 1 or (configs and some_unused):  # the configs decided the severity: name them
            found = [d.at(message=f"{d.message} [{_used_by(configs)}]") for d in found]
        out.extend(found)
    return out + [_summary(code, found) for code, found in unused.items()] + stock.capped(theirs)


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


def _repository_root(folder: str) -> Optional[str]:
    """The nearest folder at or above folder that holds `.git` (a git work tree), else None."""
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _entries_for_file(path: str, checker: Checker) -> List[DatasetEntry]:
    """The entries of the nearest registry that names the file (or its folder): a file two entries read is
    checked as each reads it."""
    target = os.path.abspath(path)
    for registry_path in find_registry_for(path):
        registry = checker.registry(registry_path)
        found = [entry for entry in registry.entries.values() if entry.local_path and (
            os.path.abspath(entry.local_path) == target
            or (os.path.isdir(entry.local_path) and os.path.dirname(target) == os.path.abspath(entry.local_path)))]
        if found:
            return found
    return []


def run_check(paths: Sequence[str], settings: Optional[Settings] = None) -> Report:
    return Checker(settings or Settings()).run(paths)
