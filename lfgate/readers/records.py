"""What the dataset readers yield: records with their place, and problems met while reading."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional


class Record:
    """One sample. ``index`` is 0-based across the dataset; ``line``/``column`` (1-based) are where the record
    starts in ``file`` when the format has lines. ``raw`` holds a JSON record's own bytes, so the place of a
    nested value can be found later (``lfgate.readers.locate``) without keeping positions for every value."""

    __slots__ = ("index", "value", "file", "line", "column", "raw")

    def __init__(self, index: int, value: Any, file: str, line: Optional[int] = None, column: Optional[int] = None,
                 raw: Optional[bytes] = None):
        self.index = index
        self.value = value
        self.file = file
        self.line = line
        self.column = column
        self.raw = raw

    def __repr__(self) -> str:
        return f"Record({self.index}, {self.file}:{self.line}:{self.column}, {self.value!r:.60})"


class Problem(NamedTuple):
    """Something that stops LLaMA-Factory reading the file as it stands (or that it reads oddly).

    kind is one of: unreadable, not-utf8, bom, invalid-json, too-deep, top-level, not-object, empty-line-text,
    tabular, over-cap, missing-extra. ``rows``: how many samples it stands for that yield no Record (rows of a
    Parquet row group not read), so the dataset's count stays the real one."""

    kind: str
    message: str
    file: str
    line: Optional[int] = None
    column: Optional[int] = None
    sample: Optional[int] = None
    rows: int = 0
