"""Row filters for `lfgate convert --where`: `COL contains TEXT`, joined with `and`/`or`.

Grammar (one --where value; `and` binds tighter than `or`; quote words with spaces, shell-style):

    expr      := condition (("and" | "or") condition)*
    condition := COLUMN OPERATOR [TEXT]
    OPERATOR  := contains | "not contains" | startswith | endswith | equals | "not equals" | matches
                 | empty | "not empty"

Several --where options must all hold. Matching is on the cell's text; an empty cell is "".
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Callable, List, Sequence

from lfgate.errors import UsageError
from lfgate.lf_facts import did_you_mean

_BINARY = {
    "contains": lambda cell, text: text in cell,
    "startswith": lambda cell, text: cell.startswith(text),
    "endswith": lambda cell, text: cell.endswith(text),
    "equals": lambda cell, text: cell == text,
    "==": lambda cell, text: cell == text,
}
_UNARY = {"empty": lambda cell: not cell.strip()}


@dataclass
class Where:
    """One --where option: its text (for the report) and the row predicate."""

    text: str
    test: Callable[[dict], bool]

    def __call__(self, row: dict) -> bool:
        return self.test(row)


def cell_text(value) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def parse_where(text: str, columns: Sequence[str]) -> Where:
    try:
        tokens = shlex.split(text)
    except ValueError as err:
        raise UsageError(f"--where {text!r}: {err}") from None
    if not tokens:
        raise UsageError("--where needs a condition, e.g. --where 'answer contains ```yaml'")
    alternatives: List[List[Callable]] = [[]]
    i = 0
    while True:
        condition, i = _condition(tokens, i, text, columns)
        alternatives[-1].append(condition)
        if i == len(tokens):
            break
        joiner = tokens[i].lower()
        if joiner == "or":
            alternatives.append([])
        elif joiner != "and":
            raise UsageError(f"--where {text!r}: expected 'and' or 'or' before {tokens[i]!r}")
        i += 1
        if i == len(tokens):
            raise UsageError(f"--where {text!r}: a condition must follow {joiner!r}")

    def test(row: dict) -> bool:
        return any(all(c(row) for c in group) for group in alternatives)

    return Where(text, test)


def _condition(tokens, i, text, columns):
    if i + 1 >= len(tokens):
        raise UsageError(f"--where {text!r}: expected COLUMN OPERATOR TEXT, e.g. 'answer contains SKIP'")
    column = tokens[i]
    if column not in columns:
        hint = did_you_mean(column, columns, n=1, otherwise=f" Columns: {', '.join(columns)}.")
        raise UsageError(f"--where {text!r}: no column {column!r}.{hint}")
    i += 1
    negate = tokens[i].lower() == "not"
    if negate:
        i += 1
        if i >= len(tokens):
            raise UsageError(f"--where {text!r}: expected an operator after 'not'")
    op = tokens[i].lower()
    i += 1
    if op in _UNARY:
        unary = _UNARY[op]
        return (lambda row: unary(cell_text(row.get(column))) != negate), i
    if op == "!=":
        op, negate = "equals", not negate
    if op not in _BINARY and op != "matches":
        known = ", ".join([*_BINARY, "matches", "empty"])
        raise UsageError(f"--where {text!r}: unknown operator {op!r}; use {known} (optionally after 'not')")
    if i >= len(tokens):
        raise UsageError(f"--where {text!r}: {op} needs a text after it")
    operand = tokens[i]
    i += 1
    if op == "matches":
        try:
            pattern = re.compile(operand)
        except re.error as err:
            raise UsageError(f"--where {text!r}: bad regular expression {operand!r}: {err}") from None
        return (lambda row: (pattern.search(cell_text(row.get(column))) is not None) != negate), i
    binary = _BINARY[op]
    return (lambda row: binary(cell_text(row.get(column)), operand) != negate), i
