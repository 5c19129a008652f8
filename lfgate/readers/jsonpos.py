"""Positions inside JSON text: where each key and value starts, by key path.

Used only when a finding needs a place (a record's nested value) and for dataset_info.json, so it favours
simplicity over speed. The walk is iterative: nesting depth costs memory, never Python recursion. The text is
expected to be valid JSON (it was parsed before); on anything unexpected the walk just stops.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

Path = Tuple[Any, ...]

_WS = re.compile(r"[ \t\n\r]*")
# the "unrolled loop" form: runs of plain characters match in one step, so a 20 MB string costs neither
# seconds nor a backtracking stack per character (the `(?:[^"\\]|\\.)*` form took 8 s and 2.8 GB on one)
_STRING = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"', re.S)
_SCALAR = re.compile(r"[^\s,\]}:]+")


def _key(raw: str) -> str:
    if "\\" not in raw:
        return raw
    try:
        return str(json.loads('"' + raw + '"'))
    except ValueError:
        return raw


def after_blanks(text: str, pos: int) -> int:
    """The offset after the JSON blank space at ``pos`` (the pattern also matches none)."""
    found = _WS.match(text, pos)
    assert found is not None
    return found.end()


def walk(text: str, pos: int = 0) -> Iterator[Tuple[Path, Optional[int], int]]:
    """Yield (path, key_offset, value_offset) for every value in document order; key_offset is None for
    array items and the root. Offsets are character indexes into text."""
    ws = after_blanks
    n = len(text)
    i = ws(text, pos)
    stack: List[List[Any]] = []  # [is_object, path of the container, next array index]
    path: Path = ()
    key_at: Optional[int] = None
    while i < n:
        yield path, key_at, i
        ch = text[i]
        opened = False
        if ch == "{" or ch == "[":
            j = ws(text, i + 1)
            if j < n and text[j] == ("}" if ch == "{" else "]"):
                i = j + 1
            elif ch == "{":
                m = _STRING.match(text, j)
                if not m:
                    return
                key_at = j
                j = ws(text, m.end())
                if text[j:j + 1] != ":":
                    return
                stack.append([True, path, 0])
                path = path + (_key(m.group(1)),)
                i = ws(text, j + 1)
                opened = True
            else:
                stack.append([False, path, 0])
                path = path + (0,)
                key_at = None
                i = j
                opened = True
        elif ch == '"':
            m = _STRING.match(text, i)
            if not m:
                return
            i = m.end()
        else:
            m = _SCALAR.match(text, i)
            if not m:
                return
            i = m.end()
        if opened:
            continue
        # After a value: close finished containers, then step to the next sibling.
        while True:
            if not stack:
                return
            i = ws(text, i)
            c = text[i:i + 1]
            frame = stack[-1]
            if c == ",":
                i = ws(text, i + 1)
                if frame[0]:
                    m = _STRING.match(text, i)
                    if not m:
                        return
                    key_at = i
                    j = ws(text, m.end())
                    if text[j:j + 1] != ":":
                        return
                    path = frame[1] + (_key(m.group(1)),)
                    i = ws(text, j + 1)
                else:
                    frame[2] += 1
                    path = frame[1] + (frame[2],)
                    key_at = None
                break
            if c in ("}", "]") and c:
                stack.pop()
                i += 1
                continue
            return


class LineIndex:
    """Character offset -> (1-based line, 1-based column)."""

    def __init__(self, text: str):
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> Tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


@dataclass
class Place:
    """Where a key (if any) and its value start, 1-based."""

    line: int
    column: int
    key_line: Optional[int] = None
    key_column: Optional[int] = None

    @property
    def key(self) -> Tuple[int, int]:
        """The key's place when there is one, else the value's."""
        if self.key_line is not None and self.key_column is not None:
            return self.key_line, self.key_column
        return self.line, self.column


@dataclass
class PositionMap:
    """Every path's place in one JSON document, plus the keys an object repeats (json keeps the last)."""

    places: Dict[Path, Place] = field(default_factory=dict)
    duplicates: List[Tuple[Path, Place]] = field(default_factory=list)

    def get(self, path: Path) -> Optional[Place]:
        return self.places.get(tuple(path))

    def nearest(self, path: Path) -> Optional[Place]:
        """The place of path, else of its longest existing prefix."""
        path = tuple(path)
        while True:
            place = self.places.get(path)
            if place is not None or not path:
                return place
            path = path[:-1]


def position_map(text: str) -> PositionMap:
    index = LineIndex(text)
    result = PositionMap()
    for path, key_at, value_at in walk(text):
        line, column = index.at(value_at)
        place = Place(line, column)
        if key_at is not None:
            place.key_line, place.key_column = index.at(key_at)
        if path in result.places and key_at is not None:
            result.duplicates.append((path, place))
        result.places[path] = place
    return result


def find(text: str, path: Path) -> Tuple[Optional[int], Optional[int]]:
    """(value offset, key offset) of path in text, or of its deepest existing prefix; stops early."""
    path = tuple(path)
    best: Tuple[Optional[int], Optional[int]] = (None, None)
    best_len = -1
    for p, key_at, value_at in walk(text):
        if p == path:
            return value_at, key_at
        if len(p) < len(path) and p == path[:len(p)] and len(p) > best_len:
            best, best_len = (value_at, key_at), len(p)
    return best
