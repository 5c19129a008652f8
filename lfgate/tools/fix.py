"""`lfgate fix`: a corrected copy of a dataset, without the records LLaMA-Factory would drop or crash on.

Each record is read through the dataset's entry (its dataset_info.json entry, else the inferred one, as `lfgate
check` does), given the safe mechanical repairs, then checked with the same per-sample rules as `lfgate check`:
a record with an error is left out. The repairs: a role value with stray whitespace, or a typo that is one close
match of exactly one declared role tag (`asistant` -> `assistant`). Every record removed or changed is reported
with its index and rule. The original is never touched; the copy is written through a temp file and os.replace,
then checked again through the same entry.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

from lfgate.diagnostics import Severity
from lfgate.errors import UsageError

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
            close = difflib.get_close_matches(role.strip(), declared, n=2, cutoff=0.6)  # `gtp` -> `gpt`
            fixed = close[0] if len(close) == 1 else None
        if fixed is not None:
            message[role_tag] = fixed
            repairs.append(f"message {i}: role {role!r} -> {fixed!r}")
    return repairs


def fix_records(path: str, entry, stage: Optional[str], settings) -> Tuple[List[Any], List[Change]]:
    """The records to keep (repaired) and the changes, in sample order."""
    from lfgate.readers import Record, iter_records
    from lfgate.validator.model import DatasetUsage
    from lfgate.validator.samples import SampleChecker

    checker = SampleChecker(entry, DatasetUsage(stage=stage), settings)
    kept, changes = [], []
    for item in iter_records(path):
        if not isinstance(item, Record):
            if item.sample is None:
                raise UsageError(f"cannot fix {path}: {item.message}")
            changes.append(Change(item.sample, "removed", "DF010", item.message))
            continue
        value = copy.deepcopy(item.value)
        repairs = _repair_roles(value, entry)
        errors = [f for f in checker.check(item.index, value)
                  if (f.severity if f.severity is not None else f.rule.severity) == Severity.ERROR]
        if errors:
            changes.append(Change(item.index, "removed", errors[0].rule.code, errors[0].message))
            continue
        kept.append(value)
        if repairs:
            changes.append(Change(item.index, "changed", "DS-fix", "; ".join(repairs)))
    return kept, changes


def _serialise(records: List[Any], output: str) -> str:
    if output.endswith(".jsonl"):
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    return json.dumps(records, ensure_ascii=False, indent=2) + "\n"


def run_fix(path: str, output: Optional[str], stage: Optional[str], force: bool, settings) -> FixResult:
    from lfgate import safe_write as out_file

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
    kept, changes = fix_records(path, entry, stage, settings)
    out_file.atomic_write(output, _serialise(kept, output), force=force)
    result = FixResult(source=path, output=output, kept=len(kept), changes=changes)
    result.remaining = _recheck(output, entry, stage, settings)
    return result


def _recheck(output: str, entry, stage: Optional[str], settings) -> List[Any]:
    """The written copy through the same entry (file_name pointed at it): errors only."""
    from lfgate.validator import datasets
    from lfgate.validator.model import DatasetUsage

    moved = copy.copy(entry)
    moved.dataset_dir = os.path.dirname(os.path.abspath(output))
    moved.source = os.path.basename(output)
    moved.load_from = "file"
    result = datasets.check_entry(moved, DatasetUsage(stage=stage), settings)
    return [d for d in result.diagnostics if d.severity == Severity.ERROR]
