"""Rows of a table -> alpaca or sharegpt records, through the column mapping and the row filters.

Pure functions over rows (dicts); reading the table (tools/table.py) and writing, checking and registering the
output (commands/convert.py) are elsewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from lfgate.errors import UsageError
from lfgate.lf_facts import did_you_mean
from lfgate.tools.filters import Where, cell_text
from lfgate.validator.infer import ROLE_MEANINGS

SHAREGPT_ROLE = {"user": "human", "assistant": "gpt", "system": "system", "observation": "observation",
                 "function": "function_call"}


@dataclass(frozen=True)
class Source:
    """Where one output field comes from: a column, or a fixed text."""

    column: Optional[str] = None
    text: Optional[str] = None

    def value(self, row: dict) -> str:
        if self.column is None:
            return self.text or ""  # a Source is a column or a text
        cell = row.get(self.column)
        if isinstance(cell, (list, dict)):  # str() of it would train on Python's repr
            raise ValueError(f"column {self.column!r} holds a {type(cell).__name__}, not text")
        return cell_text(cell)

    def describe(self) -> str:
        if self.column is not None:
            return f"column {self.column!r}"
        first = (self.text or "").splitlines()[0] if self.text else ""
        return f"fixed text ({len(self.text or '')} characters: {first[:40]!r}{'...' if len(first) > 40 else ''})"


@dataclass
class Mapping:
    to: str  # "alpaca" or "sharegpt"
    instruction: Optional[Source] = None
    input: Optional[Source] = None
    output: Optional[Source] = None
    system: Optional[Source] = None
    user: Optional[Source] = None
    assistant: Optional[Source] = None
    conversation: Optional[str] = None  # a column already holding a conversation


def column_or_text(option: str, value: str, columns: Sequence[str]) -> Source:
    """A column when `value` names one; else fixed text, unless it looks like a mistyped column name."""
    if value in columns:
        return Source(column=value)
    # stricter than a suggestion: this decides whether the value is meant as text at all
    hint = did_you_mean(value, columns, n=1, cutoff=0.8)
    if hint and " " not in value.strip():
        raise UsageError(f"{option} {value!r} is not a column.{hint} For a fixed text that looks like a column name, "
                         f"use {option}-file or add a space.")
    return Source(text=value)


def column(option: str, value: str, columns: Sequence[str]) -> Source:
    if value in columns:
        return Source(column=value)
    raise UsageError(f"{option}: no column {value!r}.{did_you_mean(value, columns, n=1, otherwise=_columns(columns))}")


def _columns(columns: Sequence[str]) -> str:
    return f" Columns: {', '.join(columns)}."


# -- building records ------------------------------------------------------------------------------
class RowError(Exception):
    def __init__(self, row: int, message: str):
        super().__init__(f"row {row}: {message}")


def build(pairs: List[Tuple[int, dict]], mapping: Mapping) -> List[Tuple[int, dict]]:
    """(row index, record) for (row index, row) pairs; RowError names the row (0-based, after the header)."""
    out = []
    for i, row in pairs:
        try:
            out.append((i, _record(i, row, mapping)))
        except ValueError as err:
            raise RowError(i, str(err)) from None
    return out


def _record(index: int, row: dict, m: Mapping) -> dict:
    record: dict
    if m.to == "alpaca":
        record = {"instruction": m.instruction.value(row) if m.instruction else "",
                  "input": m.input.value(row) if m.input else "",
                  "output": m.output.value(row) if m.output else ""}
        if m.system:
            record["system"] = m.system.value(row)
        return record
    if m.conversation is not None:
        messages = _conversation(index, row.get(m.conversation))
    else:  # without a conversation column the mapping names both turns
        user, assistant = m.user, m.assistant
        assert user is not None and assistant is not None
        messages = [{"from": "human", "value": user.value(row)}, {"from": "gpt", "value": assistant.value(row)}]
    record = {"conversations": messages}
    if m.system:
        record["system"] = m.system.value(row)
    return record


def _conversation(index: int, cell) -> List[dict]:
    """A cell holding a conversation (a list, or its JSON text as CSV and Excel store it) -> sharegpt messages."""
    if isinstance(cell, str):
        try:
            cell = json.loads(cell)
        except ValueError as err:
            raise RowError(index, f"the conversation cell is not JSON ({err})") from None
    if not isinstance(cell, list):
        raise RowError(index, f"the conversation cell holds {type(cell).__name__}, not a list of messages")
    messages = []
    for turn, message in enumerate(cell):
        if not isinstance(message, dict):
            raise RowError(index, f"message {turn} is not an object")
        role_key = "from" if "from" in message else "role"
        content_key = "value" if role_key == "from" else "content"
        role, content = message.get(role_key), message.get(content_key)
        meaning = ROLE_MEANINGS.get(role) if isinstance(role, str) else None
        if meaning is None:
            raise RowError(index, f"message {turn} has role {role!r}; use one of {', '.join(sorted(ROLE_MEANINGS))}")
        if not isinstance(content, str):
            raise RowError(index, f"message {turn} has {type(content).__name__} content, not text")
        messages.append({"from": SHAREGPT_ROLE[meaning], "value": content})
    return messages


# -- filters ---------------------------------------------------------------------------------------
def response_text(record: dict) -> str:
    if "output" in record:
        return record["output"]
    messages = record["conversations"]
    replies = [m["value"] for m in messages if m["from"] in ("gpt", "function_call")]
    return replies[-1] if replies else ""


@dataclass
class FilterReport:
    rows: int = 0
    removed: List[Tuple[str, int]] = field(default_factory=list)  # (filter, rows it removed), in order
    kept: int = 0
    dropped: List[Tuple[int, str]] = field(default_factory=list)  # (row index, why), each row the filters removed

    def drop(self, pairs: List[Tuple[int, dict]], kept: List[Tuple[int, dict]], why) -> None:
        """Record the rows of ``pairs`` not in ``kept``; ``why``: the reason, or a function of the row index."""
        left = {i for i, _ in kept}
        self.dropped.extend((i, why(i) if callable(why) else why) for i, _ in pairs if i not in left)


def filter_rows(rows: List[dict], wheres: Sequence[Where], report: FilterReport) -> List[Tuple[int, dict]]:
    """(row index, row) pairs that pass every --where, in order; the report counts what each one removed."""
    report.rows = len(rows)
    pairs = list(enumerate(rows))
    for where in wheres:
        kept = [p for p in pairs if where(p[1])]
        report.removed.append((f"--where {where.text}", len(pairs) - len(kept)))
        report.drop(pairs, kept, f"not matched by --where {where.text}")
        pairs = kept
    return pairs


def filter_records(records: List[Tuple[int, dict]], drop_empty: bool, drop_duplicates: bool,
                   report: FilterReport) -> List[Tuple[int, dict]]:
    """Drop (row index, record) pairs with an empty response, then exact duplicates (the first copy is kept)."""
    if drop_empty:
        kept = [p for p in records if response_text(p[1]).strip()]
        report.removed.append(("empty response", len(records) - len(kept)))
        report.drop(records, kept, "empty response (blank or white space only)")
        records = kept
    if drop_duplicates:
        first: dict = {}
        kept = []
        for p in records:
            key = json.dumps(p[1], ensure_ascii=False, sort_keys=True)
            if key not in first:
                first[key] = p[0]
                kept.append(p)
        report.removed.append(("exact duplicate", len(records) - len(kept)))
        first_of = {p[0]: first[json.dumps(p[1], ensure_ascii=False, sort_keys=True)] for p in records}
        report.drop(records, kept, lambda i: f"exact duplicate of row {first_of[i]}")
        records = kept
    report.kept = len(records)
    return records


def serialize(records: List[dict], jsonl: bool) -> str:
    """UTF-8 text with non-ASCII kept as is: a JSON array (indent 2) or one object per line (lone surrogates
    escaped: jsonio.dumps_records)."""
    from lfgate.jsonio import dumps_records

    return dumps_records(records, jsonl)
