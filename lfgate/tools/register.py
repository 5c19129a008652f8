"""`lfgate register`: read a data file, infer its entry, check it through that entry, then write the entry."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

from lfgate.errors import UsageError
from lfgate.readers import guarded
from lfgate.validator.infer import Inferred, infer


class Unreadable(Exception):
    """The file cannot be read as LLaMA-Factory reads it; the message says where and why."""


def iter_values(path: str) -> Iterator[Tuple[int, object]]:
    """(index, record) pairs as LLaMA-Factory loads the file (lfgate's streaming readers); Unreadable on the
    first problem that stops LLaMA-Factory reading it."""
    from lfgate.readers import iter_records
    from lfgate.readers.records import Record

    for item in iter_records(path):
        if isinstance(item, Record):
            yield item.index, item.value
        elif _fatal(item):
            where = f"{item.file}:{item.line}" + (f":{item.column}" if item.column else "") if item.line else item.file
            raise Unreadable(f"{where}: {item.message}")


def _fatal(problem) -> bool:
    # A BOM or an empty text line is read fine by LLaMA-Factory; everything else stops it.
    return getattr(problem, "kind", "") not in ("bom", "empty-line-text")


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def stage_of(entry: dict) -> str:
    """The data stage an inferred entry is for, to check it as that stage loads it."""
    if entry.get("ranking"):
        return "rm"
    if "kto_tag" in entry.get("columns", {}):
        return "kto"
    columns = entry.get("columns", {})
    if set(columns) == {"prompt"}:
        return "pt"
    return "sft"


def default_registry(data_path: str) -> str:
    """The nearest dataset_info.json at or above the file's folder, else a new one beside the file."""
    from lfgate.validator.project import find_registry_for

    found = find_registry_for(data_path)
    return found[0] if found else os.path.join(os.path.dirname(os.path.abspath(data_path)), "dataset_info.json")


def file_name_for(data_path: str, registry_path: str) -> str:
    """file_name relative to the registry's folder (LLaMA-Factory joins it onto dataset_dir), with '/'."""
    folder = os.path.dirname(os.path.abspath(registry_path))
    return os.path.relpath(os.path.abspath(data_path), folder).replace(os.sep, "/")


def dataset_name(data_path: str) -> str:
    base = os.path.basename(os.path.normpath(data_path))
    for suffix in (".jsonl", ".json", ".csv", ".parquet", ".arrow", ".txt"):
        if base.endswith(suffix):
            return base[:-len(suffix)]
    return os.path.splitext(base)[0]


def existing_entry(registry_path: str, name: str) -> Optional[dict]:
    """The entry registered under name, if the registry exists, parses, and has it."""
    import json

    if not os.path.isfile(registry_path):
        return None
    try:
        with guarded.open_regular(registry_path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError):
        return None
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else None


def guard_existing(registry_path: str, name: str, file_name: str, force: bool) -> Optional[dict]:
    """Refuse to replace an entry that points at another file, unless forced. Returns the existing entry."""
    current = existing_entry(registry_path, name)
    if current is not None and current.get("file_name") != file_name and not force:
        raise UsageError(f"{registry_path} already has an entry {name!r} for {current.get('file_name')!r}; "
                         "choose another --name, or pass --force to replace it")
    return current


def other_names(registry_path: str, name: str, file_name: str) -> list:
    """Other entries of the registry that already read this file."""
    import json

    try:
        with guarded.open_regular(registry_path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError):
        return []
    if not isinstance(data, dict):
        return []
    return [k for k, v in data.items() if k != name and isinstance(v, dict) and v.get("file_name") == file_name]


def check_name(name: str) -> None:
    """A name a training config can reference: LLaMA-Factory splits `dataset:` on commas and strips each name."""
    import re

    if not name or name != name.strip():
        raise UsageError(f"dataset name {name!r}: empty or with spaces around it, so no config can name it")
    if "," in name:
        raise UsageError(f"dataset name {name!r} contains a comma: LLaMA-Factory splits `dataset:` on commas, so no "
                         "config can reference it; choose another --name")
    if re.search("[\x00-\x1f\x7f\ud800-\udfff]", name):
        from lfgate.sanitize import escape

        raise UsageError(f"dataset name {escape(name)!r} holds control characters or undecodable bytes; choose "
                         "another --name")


def merged(current: Optional[dict], new: dict) -> dict:
    """The entry to write over current: new's keys win, every key the user wrote that new lacks is kept
    (columns.system, split, num_samples, tags...)."""
    if not current:
        return dict(new)
    out = dict(current)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            out[key] = dict(current[key], **value)
        else:
            out[key] = value
    return out


def differences(current: dict, new: dict, prefix: str = "") -> list:
    """Lines `key: old -> new` for what writing new over current would change."""
    lines = []
    for key in list(current) + [k for k in new if k not in current]:
        old, value = current.get(key, _ABSENT), new.get(key, _ABSENT)
        if isinstance(old, dict) and isinstance(value, dict):
            lines.extend(differences(old, value, f"{prefix}{key}."))
        elif old != value:
            lines.append(f"  {prefix}{key}: {_shown(old)} -> {_shown(value)}")
    return lines


_ABSENT = object()


def _shown(value) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value, ensure_ascii=False)


def commit_entry(registry_path: str, name: str, entry: dict, force: bool) -> str:
    """Under the registry's lock: re-read the entry (a parallel run may have written it), and write entry unless
    that would change an existing one without force. Returns 'added', 'updated', 'unchanged' or 'refused'
    (after printing what would change)."""
    import sys

    from lfgate.tools.registry_edit import locked, write_entry

    with locked(registry_path):
        current = existing_entry(registry_path, name)
        if current is not None and current.get("file_name") != entry["file_name"]:
            if not force:
                raise UsageError(f"{registry_path} already has an entry {name!r} for {current.get('file_name')!r}; "
                                 "choose another --name, or pass --force to replace it")
            entry = dict(entry, **kept_keys(current))
        if current is not None and current.get("file_name") == entry["file_name"]:
            entry = merged(current, entry)
            if entry == current:
                return "unchanged"
            from lfgate.sanitize import safe

            print(safe(f"entry {name!r} is already registered; updating it would change:"))
            print("\n".join(safe(line) for line in differences(current, entry)))
            if not force:
                print(f"lfgate: entry {name!r} not changed; pass --force to update it", file=sys.stderr)
                return "refused"
        return write_entry(registry_path, name, entry)


def kept_keys(current: Optional[dict]) -> dict:
    """Keys of an entry being replaced that say how much to use, not how to read: kept as they are."""
    return {k: current[k] for k in ("num_samples",) if current and k in current}


@dataclass
class Plan:
    name: str
    registry_path: str
    entry: dict  # with file_name
    inferred: Inferred
    stage: str


def _loadable_or_convert(data_path: str) -> None:
    """A spreadsheet is not data LLaMA-Factory loads: point at `convert`, with its columns, not at "no records"."""
    from lfgate.readers import builder
    from lfgate.tools.table import TABLE_SUFFIXES

    suffix = os.path.splitext(data_path)[1].lower()
    if os.path.isdir(data_path) or builder(data_path) is not None or suffix not in TABLE_SUFFIXES:
        return
    try:
        from lfgate.tools.table import read_rows

        columns, rows = read_rows(data_path)
        seen = f", {len(rows)} rows; columns: {', '.join(map(str, columns[:8]))}"
    except Exception:  # an unreadable sheet: convert says why
        seen, columns = "", []
    picks = " ".join(f"--{flag} {_arg(c)}" for flag, c in zip(("instruction", "output"), columns)) or \
        "--instruction COL --output COL"
    json_path = os.path.splitext(data_path)[0] + ".json"
    raise UsageError(f"{data_path} is a table ({suffix}{seen}), which LLaMA-Factory does not load: turn it into "
                     f"a dataset and register it in one step: lfgate convert {data_path} {json_path} {picks} "
                     "--register")


def _arg(column: object) -> str:
    import shlex

    return shlex.quote(str(column))


def plan(data_path: str, name: Optional[str], registry_path: Optional[str], force: bool) -> Plan:
    """Read and infer; raises Unreadable or Inconsistent (the command shows them) or UsageError."""
    if not os.path.exists(data_path):
        raise UsageError(f"{data_path} does not exist")
    if not (os.path.isdir(data_path) or _regular(data_path)):
        raise UsageError(f"{data_path} is not a regular file (a pipe, device or socket): nothing to register")
    _loadable_or_convert(data_path)
    registry_path = registry_path or default_registry(data_path)
    name = name or dataset_name(data_path)
    check_name(name)
    file_name = file_name_for(data_path, registry_path)
    current = guard_existing(registry_path, name, file_name, force)
    inferred = infer(iter_values(data_path))
    new = dict({"file_name": file_name}, **inferred.entry)
    entry = merged(current, new) if current and current.get("file_name") == file_name else new
    return Plan(name, registry_path, entry, inferred, stage_of(inferred.entry))

