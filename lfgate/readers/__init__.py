"""Readers: files in, values with positions out. No rules here.

- ``iter_records(path)``: the samples of a dataset file or folder, streamed, as ``Record``s (and ``Problem``s
  where the file cannot be read as it stands), in LLaMA-Factory's order.
- ``locate(record, path)``: the line/column of a nested value of a JSON record, found only when asked.
- ``yaml_reader``: training YAMLs with positions.
"""

from __future__ import annotations

import os
from typing import Iterator, List, Optional, Tuple, Union

from lfgate.readers.records import Problem, Record

# LLaMA-Factory's FILEEXT2TYPE (extras/constants.py): extension -> datasets builder. Case-sensitive.
FILEEXT2TYPE = {"arrow": "arrow", "csv": "csv", "json": "json", "jsonl": "json", "parquet": "parquet", "txt": "text"}


def extension(path: str) -> str:
    """The extension as LLaMA-Factory takes it: os.path.splitext(path)[-1][1:], case kept."""
    return os.path.splitext(path)[-1][1:]


def builder(path: str) -> Optional[str]:
    return FILEEXT2TYPE.get(extension(path))


def folder_files(folder: str) -> List[str]:
    """Every entry of a dataset folder, in os.listdir order, as LLaMA-Factory lists them (not sorted)."""
    return [os.path.join(folder, name) for name in os.listdir(folder)]


def iter_file(path: str) -> Iterator[Union[Record, Problem]]:
    kind = builder(path)
    if kind == "json":
        from lfgate.readers.jsonfile import iter_json_records
        return iter_json_records(path)
    from lfgate.readers import tabular
    if kind == "csv":
        return tabular.needing_extra(path, tabular.iter_csv(path))
    if kind == "parquet":
        return tabular.needing_extra(path, tabular.iter_parquet(path))
    if kind == "arrow":
        return tabular.needing_extra(path, tabular.iter_arrow(path))
    if kind == "text":
        return tabular.iter_text(path)
    raise ValueError(f"not a dataset file LLaMA-Factory loads: {path}")


def iter_records(path: str) -> Iterator[Union[Record, Problem]]:
    """Records of a file, or of every loadable file of a folder; indexes run on across a folder's files.
    A file that cannot be opened gives one ``unreadable`` Problem."""
    files = folder_files(path) if os.path.isdir(path) else [path]
    offset = 0
    for file in files:
        if os.path.isdir(file) or builder(file) is None:
            continue  # the file rules report these
        count = 0
        try:
            for item in iter_file(file):
                if isinstance(item, Record):
                    item.index += offset
                    count = item.index - offset + 1
                elif item.sample is not None:
                    count = max(count, item.sample + item.rows)
                    item = item._replace(sample=item.sample + offset)
                yield item
        except OSError as err:
            yield Problem("unreadable", f"cannot read the file: {err.strerror or err}", file)
        offset += count


def locate(record: Record, path: Tuple[Union[str, int], ...] = (),
           key: bool = False) -> Tuple[Optional[int], Optional[int]]:
    """(line, column) of the value at ``path`` inside a JSON record (of its key when ``key``), else of its
    deepest existing prefix; the record's own start for other formats."""
    if record.raw is None or not path:
        return record.line, record.column
    from lfgate.readers.jsonfile import Span, offset_place
    from lfgate.readers.jsonpos import find

    text = record.raw.decode("utf-8", "replace")
    value_at, key_at = find(text, path)
    at = key_at if key and key_at is not None else value_at
    if at is None or record.line is None or record.column is None:
        return record.line, record.column
    return offset_place(Span(0, 0, record.line, record.column, record.index), text, at)


__all__ = ["Record", "Problem", "iter_records", "iter_file", "locate", "builder", "extension", "FILEEXT2TYPE"]
