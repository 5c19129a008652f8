"""`lfgate fix`: a corrected copy of a dataset, without the records LLaMA-Factory would drop or crash on.

Each record is read through the dataset's entry (its dataset_info.json entry, else the inferred one, as `lfgate
check` does), given the safe mechanical repairs, then checked with the same per-sample rules as `lfgate check`:
a record with an error is left out, and so is a record that a dataset-level error counts (a message without a
role, a boolean kto_tag in sft, a placeholder without media under a multimodal template: LLaMA-Factory drops or
crashes on each such record, and `check` reports them once per dataset). The repairs change only what
LLaMA-Factory matches exactly, never message text: a role value with stray whitespace, a typo that is one close
match of exactly one declared role tag (`asistant` -> `assistant`), a field or message key with stray whitespace
whose stripped name is the one the entry reads (`"instruction "` -> `"instruction"`), a media path with stray
whitespace whose stripped name is the file (`"cat.png "`). Every record removed or
changed is reported with its index and rule. The original is never touched; the copy is written through a temp
file and os.replace, then checked again through the same entry.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from lfgate.diagnostics import Severity
from lfgate.errors import UsageError
from lfgate.lf_facts import a_json_type, close_matches
from lfgate.readers import guarded

_TAG_KEYS = ("user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag")


@dataclass
class Change:
    sample: int
    action: str  # removed, changed
    code: str
    message: str

    def to_dict(self) -> dict:
        return {"sample": self.sample, "action": self.action, "code": self.code, "message": self.message}


@dataclass
class FixResult:
    source: str
    output: str
    kept: int = 0
    changes: List[Change] = field(default_factory=list)
    remaining: List[Any] = field(default_factory=list)  # diagnostics of the written copy (errors only)

    def to_dict(self) -> dict:
        return {"source": self.source, "output": self.output, "kept": self.kept,
                "removed": sum(c.action == "removed" for c in self.changes),
                "changed": sum(c.action == "changed" for c in self.changes),
                "changes": [c.to_dict() for c in self.changes],
                "remaining_errors": [d.message for d in self.remaining]}


def default_output(path: str) -> str:
    """x.json -> x.fixed.json, x.jsonl -> x.fixed.jsonl; any other format (CSV, Parquet...) -> x.fixed.json."""
    base, ext = os.path.splitext(path)
    return f"{base}.fixed{ext if ext in ('.json', '.jsonl') else '.json'}"


def unique_outputs(paths: List[str]) -> Dict[str, str]:
    """{data file: its copy}: default_output, unless two files of one run would share a copy (x.json and x.csv
    both give x.fixed.json; X.json and x.json do on a case-insensitive disk): then the one that is not JSON keeps
    its extension (x.csv.fixed.json), and a numbered name settles what is left."""
    def key(output: str) -> str:
        return os.path.normcase(os.path.abspath(output)).lower()

    outputs = {p: default_output(p) for p in paths}
    taken: Dict[str, List[str]] = {}
    for path, output in outputs.items():
        taken.setdefault(key(output), []).append(path)
    for group in taken.values():
        for path in group[1:] if len(group) > 1 else ():
            base, ext = os.path.splitext(path)
            if ext not in (".json", ".jsonl"):
                outputs[path] = f"{base}{ext}.fixed.json"
    seen: set = set()
    for path in paths:
        output, n = outputs[path], 2
        while key(output) in seen:
            base, ext = os.path.splitext(outputs[path])
            output, n = f"{base.rsplit('.fixed', 1)[0]}.fixed-{n}{ext}", n + 1
        outputs[path] = output
        seen.add(key(output))
    return outputs


def find_entry(path: str, settings):
    """The dataset_info.json entry that names path, else the entry `lfgate check` infers for it."""
    from lfgate.validator import dataset_info, datasets
    from lfgate.validator.project import find_registry_for

    target = os.path.abspath(path)
    for registry_path in find_registry_for(path):
        registry = dataset_info.load_registry(registry_path, settings)
        for entry in registry.entries.values():
            if entry.local_path and os.path.abspath(entry.local_path) == target:
                return entry
    result = datasets.check_unregistered(path, settings)  # infers the entry exactly as `check` does
    return result.entry


def _repair_roles(value: Any, entry) -> List[str]:
    """Fix role values in place; one line per repair."""
    if entry.formatting not in ("sharegpt", "openai") or not isinstance(value, dict):
        return []
    messages = value.get(entry.columns.get("messages") or "conversations")
    role_tag = entry.tags.get("role_tag") or "from"
    declared = [v for k in _TAG_KEYS for v in [entry.tags.get(k)] if isinstance(v, str)]
    if not isinstance(messages, list) or not declared:
        return []
    repairs = []
    for i, message in enumerate(messages):
        role = message.get(role_tag) if isinstance(message, dict) else None
        if not isinstance(role, str) or role in declared:
            continue
        fixed = role.strip() if role.strip() in declared else None
        if fixed is None:
            # looser than a suggestion: a role is 3-5 letters, where one swap (`gtp` for `gpt`) scores 0.67; the
            # repair still needs exactly one match
            close = close_matches(role.strip(), declared, n=2, cutoff=0.6)
            fixed = close[0] if len(close) == 1 else None
        if fixed is not None:
            message[role_tag] = fixed
            repairs.append(f"message {i}: role {role!r} -> {fixed!r}")
    return repairs


def _repair_keys(value: Any, entry) -> List[str]:
    """Rename a record field or message key with stray whitespace to the name the entry reads, when the record
    lacks that name (LLaMA-Factory indexes fields and message keys by exact name: `"value "` is not `"value"`)."""
    if not isinstance(value, dict):
        return []
    repairs = _strip_keys(value, {c for c in entry.columns.values() if isinstance(c, str)}, "field")
    messages = value.get(entry.columns.get("messages") or "conversations") if entry.formatting != "alpaca" else None
    wanted = {t for t in (entry.tags.get("role_tag"), entry.tags.get("content_tag")) if isinstance(t, str)}
    for i, message in enumerate(messages if isinstance(messages, list) else ()):
        if isinstance(message, dict):
            repairs += _strip_keys(message, wanted, f"message {i}: key")
    return repairs


def _repair_media(value: Any, entry, media_dir: str) -> List[str]:
    """A media path with stray whitespace whose stripped name is a file in media_dir, when the path as written is
    none: LLaMA-Factory's converter joins a path to media_dir only when that file exists, else PIL / PyAV fail to
    open it and the run stops (converter.py _find_medias)."""
    if not isinstance(value, dict):
        return []
    repairs = []
    for key in ("images", "videos", "audios"):
        column = entry.columns.get(key)
        media = value.get(column) if isinstance(column, str) else None
        items = media if isinstance(media, list) else [media]
        fixed = [_stripped_path(m, media_dir) for m in items]
        if fixed != items:
            value[column] = fixed if isinstance(media, list) else fixed[0]
            repairs += [f"{column}: {old!r} -> {new!r}" for old, new in zip(items, fixed) if old != new]
    return repairs


def _stripped_path(media: Any, media_dir: str) -> Any:
    if not isinstance(media, str) or media == media.strip() or os.path.isfile(os.path.join(media_dir, media)) \
            or os.path.isfile(media):
        return media
    return media.strip() if os.path.isfile(os.path.join(media_dir, media.strip())) else media


def _strip_keys(mapping: dict, wanted: set, what: str) -> List[str]:
    repairs = []
    for key in [k for k in mapping if isinstance(k, str) and k != k.strip()]:
        name = key.strip()
        if name in wanted and name not in mapping:
            mapping[name] = mapping.pop(key)
            repairs.append(f"{what} {key!r} -> {name!r}")
    return repairs


def _is_error(finding) -> bool:
    return (finding.severity if finding.severity is not None else finding.rule.severity) == Severity.ERROR


# Dataset-level findings (SampleChecker.finish) that count records LLaMA-Factory drops or crashes on, by the state
# of the rule that counts them (State.counted). Only when finish() reports the rule as an error are those records
# removed (no role key anywhere, say, is the entry's tag, not the records: DS203 then).
def _summary_tallies() -> dict:
    from lfgate.validator.samples import kto, multimodal, sharegpt

    return {sharegpt.RoleCensus: sharegpt.ROLE_UNKNOWN.code, kto.KtoInOtherStage: kto.KTO_IN_OTHER_STAGE.code,
            multimodal.MediaCounts: multimodal.PLACEHOLDER_NO_MEDIA.code}


class _Judge:
    """One SampleChecker (an entry as one config loads it) and the records its dataset-level tallies count."""

    def __init__(self, entry, usage, settings):
        from lfgate.validator.samples import SampleChecker

        self.checker = SampleChecker(entry, usage, settings)
        self.tallies = _summary_tallies()
        self.counted: dict = {kind: set() for kind in self.tallies}

    def _counts(self) -> dict:
        states = {kind: self.checker.state(kind) for kind in self.tallies}
        return {kind: state.counted() for kind, state in states.items() if state is not None}

    def error(self, index: int, value) -> Optional[Change]:
        before = self._counts()
        errors = [f for f in self.checker.check(index, value) if _is_error(f)]
        for kind, total in self._counts().items():
            if total > before[kind]:
                self.counted[kind].add(index)
        return Change(index, "removed", errors[0].rule.code, errors[0].message) if errors else None

    def summary_removals(self) -> dict:
        """{sample: Change} for the records a dataset-level error counts."""
        from lfgate.validator.samples import kto

        out: dict = {}
        for finding in self.checker.finish():
            if not _is_error(finding):
                continue
            code = finding.rule.code
            if code == kto.BATCH_CRASH.code and finding.sample is not None:
                out.setdefault(finding.sample, Change(finding.sample, "removed", code, finding.message))
            for kind, rule_code in self.tallies.items():
                if rule_code == code:
                    for index in self.counted[kind]:
                        out.setdefault(index, Change(index, "removed", code, _one_record(finding.message)))
        return out


def _one_record(message: str) -> str:
    """The dataset-level message, said of one of the records it counts."""
    return f"counted by the dataset-level finding: {message}"


def _not_an_object(index: int, value: Any, code: str) -> Change:
    """The removal, named as `check` names it (DF015), not by the converter's crash it would cause (DS001)."""
    return Change(index, "removed", code,
                  f"sample {index} is {a_json_type(value)}, not an object, and wraps no single object to unwrap: "
                  "LLaMA-Factory raises while it builds the table")


def fix_records(path: str, entry, usages, settings) -> Tuple[List[Any], List[Change]]:
    """The records to keep (repaired) and the changes, in sample order. usages: the DatasetUsage (or several, when
    configs load the entry differently) the records are judged under; a record an error flags in any is left out."""
    from lfgate.readers import Record, iter_records
    from lfgate.validator.datafile import NOT_OBJECT, wrapped_record
    from lfgate.validator.model import DatasetUsage

    usages = usages if isinstance(usages, (list, tuple)) else [usages or DatasetUsage()]
    judges = [_Judge(entry, usage, settings) for usage in usages]
    media_dir = judges[0].checker.media_dir or ""
    candidates, changes = [], {}
    unwrapped_from: dict = {}  # sample -> what wrapped it (named DF015, as `check` names it)
    for item in iter_records(path):
        if not isinstance(item, Record):
            if item.sample is None:
                raise UsageError(f"cannot fix {path}: {item.message}")
            changes[item.sample] = Change(item.sample, "removed", "DF010", item.message)
            continue
        value = copy.deepcopy(item.value)
        unwrapped = value if isinstance(value, dict) else wrapped_record(value)  # DF015's fix: unwrap one object
        if unwrapped is None:
            changes[item.index] = _not_an_object(item.index, value, NOT_OBJECT.code)
            continue
        if unwrapped is not value:
            unwrapped_from[item.index] = a_json_type(value)
        repairs = [f"unwrapped the one object from {unwrapped_from[item.index]}"] if unwrapped is not value else []
        value = unwrapped
        repairs += _repair_keys(value, entry) + _repair_roles(value, entry) + _repair_media(value, entry, media_dir)
        removed = [c for c in (judge.error(item.index, value) for judge in judges) if c is not None]
        if removed:
            changes[item.index] = removed[0]
        else:
            candidates.append((item.index, value, repairs))
    for judge in judges:
        for index, change in judge.summary_removals().items():
            changes.setdefault(index, change)
    kept = []
    for index, value, repairs in candidates:
        if index in changes:
            continue
        kept.append(value)
        if repairs:
            changes[index] = Change(index, "changed", NOT_OBJECT.code if index in unwrapped_from else "DS-fix",
                                    "; ".join(repairs))
    if kept and changes:
        _keep_columns(kept, candidates, judges[0], changes)
    return kept, [changes[i] for i in sorted(changes)]


def _keep_columns(kept: List[Any], candidates: list, judge: _Judge, changes: dict) -> None:
    """A field the entry reads that only removed records had: LLaMA-Factory raises KeyError for a column no record
    has, while a null in one record reads as the missing field does (Arrow fills absent fields with null)."""
    from lfgate.validator.samples.common import ColumnsSeen, accessed_columns

    columns = judge.checker.state(ColumnsSeen)
    had = {f for f in accessed_columns(judge.checker.entry) if columns.seen(f)}
    first = kept[0]
    if not isinstance(first, dict):
        return
    missing = sorted(f for f in had if not any(isinstance(r, dict) and f in r for r in kept))
    if not missing:
        return
    for field_name in missing:
        first[field_name] = None
    index = next(i for i, value, _ in candidates if value is first)
    note = (f"field(s) {', '.join(map(repr, missing))} set to null: only removed records had them, and "
            "LLaMA-Factory raises KeyError for a column no record has")
    old = changes.get(index)
    changes[index] = Change(index, "changed", "DS-fix", f"{old.message}; {note}" if old else note)


def _serialise(records: List[Any], output: str) -> str:
    from lfgate.jsonio import dumps_records

    return dumps_records(records, output.endswith(".jsonl"))


def run_fix(path: str, output: Optional[str], stage: Optional[str], force: bool, settings,
            read: Optional[set] = None) -> FixResult:
    """read: real paths of the files a check of the project reads; the copy never replaces one, even with
    --force (`-o data/dataset_info.json --force` would have replaced the registry with records)."""
    from lfgate.validator.model import DatasetUsage

    if not os.path.isfile(path):
        raise UsageError(f"{path} is not a file")
    output = output or default_output(path)
    if not output.endswith((".json", ".jsonl")):
        raise UsageError(f"{output}: the corrected copy is written as .json or .jsonl")
    if os.path.abspath(output) == os.path.abspath(path):
        raise UsageError("the output would replace the original: choose another --output")
    entry = find_entry(path, settings)
    if entry is None:
        raise UsageError(f"cannot tell the format of {path}: register it in dataset_info.json first")
    _guard(output, (read or set()) | _read_for(path, entry), force)
    return write_fixed(path, output, entry, [DatasetUsage(stage=stage)], force, settings)


def _read_for(path: str, entry) -> set:
    """The data file, its registry and every file that registry names (real paths)."""
    from lfgate.validator.project import find_registry_for

    found = {path, *find_registry_for(path)}
    registry = getattr(entry, "registry_path", None)
    if registry:
        found.add(registry)
        value = guarded.read_json_object(registry) or {}
        folder = os.path.dirname(registry)
        for item in value.values():
            name = item.get("file_name") if isinstance(item, dict) else None
            if isinstance(name, str) and "\0" not in name:
                found.add(os.path.join(folder, name))
    return {os.path.realpath(p) for p in found}


def write_fixed(path: str, output: str, entry, usages, force: bool, settings) -> FixResult:
    """Fix path's records under usages, write them to output atomically, and check the copy again."""
    from lfgate import safe_write as out_file

    kept, changes = fix_records(path, entry, usages, settings)
    out_file.atomic_write(output, _serialise(kept, output), force=True)  # _guard judged --force
    return _checked_copy(path, output, entry, usages, kept, changes, settings)


def _checked_copy(path, output, entry, usages, kept, changes, settings) -> FixResult:
    result = FixResult(source=path, output=output, kept=len(kept), changes=changes)
    result.remaining = [d for usage in usages for d in _recheck(output, entry, usage, settings)]
    return result


def _recheck(output: str, entry, usage, settings) -> List[Any]:
    """The written copy through the same entry (file_name pointed at it): errors only."""
    from lfgate.validator import datasets

    moved = copy.copy(entry)
    moved.dataset_dir = os.path.dirname(os.path.abspath(output))
    moved.source = os.path.basename(output)
    moved.load_from = "file"
    result = datasets.check_entry(moved, usage, settings)
    return [d for d in result.diagnostics if d.severity == Severity.ERROR]


# -- `lfgate check --fix`: every registered data file the check read ---------------------------------------------
@dataclass
class CheckFixes:
    written: List[FixResult] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)  # data files with errors that got no copy, and why


def fixable_files(checker) -> dict:
    """{data file: (entry, [usages])} for the registered local data files the check found errors in. A file
    several configs load differently is judged under each way (a record an error flags in any is removed)."""
    found: dict = {}
    for (_, _, usage), result in checker.results.items():
        entry, path = result.entry, result.path
        if entry is None or not path or entry.load_from != "file" or entry.local_path is None:
            continue
        if not any(d.severity == Severity.ERROR for d in result.diagnostics):
            continue
        key = os.path.abspath(path)
        if key not in found:
            found[key] = (path, entry, [])
        if usage not in found[key][2]:  # the Checker's keys hold usages without their config
            found[key][2].append(usage)
    return {path: (entry, usages) for path, entry, usages in found.values()}


def check_fix(checker, read: set, force: bool, settings) -> CheckFixes:
    """Write NAME.fixed.json/.jsonl beside each registered data file with errors (tools/fix.py's records and
    repairs); every output is checked before the first is written."""
    from lfgate import safe_write as out_file
    from lfgate.diagnostics import display_path
    from lfgate.validator import lfs

    out = CheckFixes()
    found = []
    for path, (entry, usages) in fixable_files(checker).items():
        if os.path.isdir(path):
            out.notes.append(f"{display_path(path)} is a folder: fix its files one by one with `lfgate fix FILE`")
        elif lfs.is_pointer(path):
            out.notes.append(f"{display_path(path)} is a Git LFS pointer: fetch the data (git lfs pull) first")
        else:
            found.append((path, entry, usages))
    outputs = unique_outputs([os.path.normpath(path) for path, _, _ in found])
    plans = [(path, outputs[os.path.normpath(path)], entry, usages) for path, entry, usages in found]
    for _, output, _, _ in plans:
        _guard(output, read, force)
    written: set = set()  # what this run wrote, by identity: never one file twice (a link, a case-folding disk)
    for path, output, entry, usages in plans:
        try:
            kept, changes = fix_records(path, entry, usages, settings)
        except UsageError as err:  # the file itself cannot be read as records (the check reported why)
            out.notes.append(f"{display_path(path)}: no copy: {err}")
            continue
        if not changes:
            out.notes.append(f"{display_path(path)}: no record to remove or repair; its errors are in the entry or "
                             "the config, not in single records")
            continue
        if not kept:  # every record fails: the file or its entry (columns, tags, formatting) is what is wrong
            first = changes[0]
            out.notes.append(f"{display_path(path)}: every record would be removed (first: sample {first.sample}, "
                             f"[{first.code}] {first.message}): no copy; the cause is the file or its entry in "
                             "dataset_info.json, not single records")
            continue
        if _identity(output) in written:
            raise UsageError(f"{output} was already written by this run (for another data file): not overwriting "
                             "it; rename one of the data files")
        out_file.atomic_write(output, _serialise(kept, output), force=True)  # _guard allowed it
        written.add(_identity(output))
        out.written.append(_checked_copy(path, output, entry, usages, kept, changes, settings))
    return out


def _identity(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _guard(output: str, read: set, force: bool) -> None:
    """Never over a file the check reads; over an existing file only with --force."""
    from lfgate import safe_write as out_file

    if os.path.realpath(output) in read:
        raise UsageError(f"{output} is read by this check: cannot write the corrected copy there")
    out_file.refuse_special(output)
    if os.path.exists(output) and not force:
        raise UsageError(f"{output} exists: pass --force to overwrite it with the corrected copy")
