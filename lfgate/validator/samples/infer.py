"""Infer a dataset_info.json entry from a data file's first records, for files no registry names."""

from __future__ import annotations

import os
from typing import Iterable, Tuple

from lfgate.validator.infer import (
    KTO_FIELDS,
    MEDIA_FIELDS,
    MESSAGE_FIELDS,
    PROMPT_FIELDS,
    QUERY_FIELDS,
    RESPONSE_FIELDS,
    Inconsistent,
    infer,
)
from lfgate.validator.model import DatasetEntry

# The field names are validator/infer.py's (`lfgate register` infers with them too); only the fallback is here.
_MEDIA = tuple(MEDIA_FIELDS)


def infer_entry(first_values: Iterable, path: str) -> Tuple[DatasetEntry, str]:
    """(entry, note): the entry LLaMA-Factory would need for these records, and a phrase saying what was
    inferred (e.g. "sharegpt conversations (from/value)").

    When the records agree, this is exactly the entry `lfgate register` would write (one inference for both).
    When they disagree, `register` refuses; the checker still needs a best guess so that the rules can point at
    the records that break it, so it falls back to the union of the records' fields."""
    from lfgate.validator.datafile import wrapped_record

    # a record wrapped in a list ([{...}], DF015) is inferred from: `lfgate fix` unwraps it, and its copy must be
    # judged through the entry the records mean, not a guess from lists
    values = [v if isinstance(v, dict) else wrapped_record(v) or v for v in first_values]
    try:
        inferred = infer(enumerate(values))
    except Inconsistent:
        return _best_guess(values, path)
    return _resolved({"file_name": os.path.basename(path), **inferred.entry}, path), inferred.description


def _resolved(raw: dict, path: str) -> DatasetEntry:
    """The entry as LLaMA-Factory's parser reads ``raw`` from a dataset_info.json beside the file (its defaults
    for what ``raw`` leaves out)."""
    from lfgate.validator.dataset_info import resolve_entry
    from lfgate.validator.model import Registry

    registry = Registry(path=path, dataset_dir=os.path.dirname(path) or ".")
    return resolve_entry(os.path.splitext(os.path.basename(path))[0], raw, registry)


def _best_guess(first_values, path: str) -> Tuple[DatasetEntry, str]:
    records = [v for v in first_values if isinstance(v, dict)]
    fields: dict = {}
    for record in records:
        for key, value in record.items():
            if key not in fields or fields[key] is None:
                fields[key] = value
    raw: dict = {"file_name": os.path.basename(path)}
    columns: dict = {}
    note = []
    messages_field = next((f for f in MESSAGE_FIELDS if isinstance(fields.get(f), list)), None)
    if messages_field is None:  # any list of objects with role-like keys
        messages_field = next((k for k, v in fields.items() if isinstance(v, list) and v
                               and all(isinstance(m, dict) for m in v)
                               and ({"from", "value"} <= set(v[0]) or {"role", "content"} <= set(v[0]))), None)
    if messages_field is not None:
        sample = next((m for m in fields[messages_field] if isinstance(m, dict)), {})
        raw["formatting"] = "sharegpt"
        columns["messages"] = messages_field
        if "role" in sample and "content" in sample:
            roles = {m.get("role") for r in records for m in (r.get(messages_field) or []) if isinstance(m, dict)}
            tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                    "system_tag": "system"}
            tool_calls = any("tool_calls" in m for r in records for m in (r.get(messages_field) or [])
                             if isinstance(m, dict))
            if "tool" in roles or tool_calls:
                tags["observation_tag"] = "tool"
                tags["function_tag"] = "function"
            if tool_calls:
                raw["formatting"] = "openai"
                note.append("OpenAI-style messages with tool_calls: formatting openai")
            else:
                note.append("OpenAI-style messages (role/content): formatting sharegpt with OpenAI tags")
            raw["tags"] = tags
        else:
            note.append("sharegpt conversations (from/value)")
        for key in ("chosen", "rejected"):
            if isinstance(fields.get(key), dict):
                columns[key] = key
    else:
        for key, names in (("prompt", PROMPT_FIELDS), ("query", QUERY_FIELDS), ("response", RESPONSE_FIELDS)):
            found = next((n for n in names if n in fields), None)
            if found:
                columns[key] = found
        if "history" in fields:
            columns["history"] = "history"
        if isinstance(fields.get("chosen"), str) and isinstance(fields.get("rejected"), str):
            columns["chosen"], columns["rejected"] = "chosen", "rejected"
        if columns.get("prompt") == "text" and "response" not in columns:
            note.append("plain text records: pretraining text (columns.prompt = text)")
        else:
            note.append("alpaca records (instruction/input/output)")
    if "chosen" in columns:
        raw["ranking"] = True
        note.append("chosen/rejected: a ranking dataset")
    kto_field = next((f for f in KTO_FIELDS if isinstance(fields.get(f), bool)), None)
    if kto_field:
        columns["kto_tag"] = kto_field
        note.append(f"boolean {kto_field!r}: KTO data")
    for key in ("system", "tools") + _MEDIA:
        if key in fields:
            columns[key] = key
    raw["columns"] = columns
    return _resolved(raw, path), "; ".join(note)
