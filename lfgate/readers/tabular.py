"""CSV, Parquet, Arrow and plain-text datasets, streamed as LLaMA-Factory's ``datasets`` builders read them.

pandas and pyarrow are imported only here, only when such a file is met.
"""

from __future__ import annotations

import csv
import math
from typing import Any, Iterable, Iterator, Optional, Union

from lfgate.readers.records import Problem, Record

BATCH = 10_000  # rows per batch, as the datasets csv/parquet builders use


def _plain(value: Any) -> Any:
    """numpy/pandas scalars -> Python values; NaN (an empty CSV cell) -> None, as Arrow stores it."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _csv_lines(path: str) -> Iterator[Optional[int]]:
    """The line each CSV data row starts on (pandas gives no positions); None once unknown."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            previous = 0
            header = True
            for row in reader:
                start, previous = previous + 1, reader.line_num
                if not row:
                    continue  # pandas skips blank lines
                if header:
                    header = False
                    continue
                yield start
    except (UnicodeDecodeError, csv.Error, OSError):
        pass
    while True:
        yield None


def iter_csv(path: str) -> Iterator[Union[Record, Problem]]:
    import pandas as pd

    lines = _csv_lines(path)
    index = 0
    try:
        for chunk in pd.read_csv(path, chunksize=BATCH):
            columns = list(chunk.columns)
            for row in chunk.itertuples(index=False, name=None):
                value = {str(c): _plain(v) for c, v in zip(columns, row)}
                yield Record(index, value, path, next(lines), 1)
                index += 1
    except UnicodeDecodeError as err:
        yield Problem("not-utf8", f"invalid UTF-8 ({err.reason}): LLaMA-Factory's CSV loader cannot decode the file",
                      path, None, None, index)
    except pd.errors.EmptyDataError:
        return
    except (pd.errors.ParserError, ValueError, OSError) as err:
        yield Problem("tabular", f"pandas cannot parse the CSV: {str(err).strip().splitlines()[0]}", path,
                      None, None, index)


def _batches_to_records(path: str, batches: Iterable[Any]) -> Iterator[Record]:
    index = 0
    for batch in batches:
        for value in batch.to_pylist():
            yield Record(index, value, path)
            index += 1


def iter_parquet(path: str) -> Iterator[Union[Record, Problem]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        yield from _batches_to_records(path, parquet.iter_batches(batch_size=BATCH))
    except (pa.ArrowException, OSError) as err:
        yield Problem("tabular", f"pyarrow cannot read the Parquet file: {err}", path)


def iter_arrow(path: str) -> Iterator[Union[Record, Problem]]:
    """The datasets arrow builder reads the IPC stream format, falling back to the file format."""
    import pyarrow as pa

    try:
        with open(path, "rb") as f:
            try:
                reader = pa.ipc.open_stream(f)
            except pa.ArrowInvalid:
                f.seek(0)
                file_reader = pa.ipc.open_file(f)
                reader = (file_reader.get_batch(i) for i in range(file_reader.num_record_batches))
            yield from _batches_to_records(path, reader)
    except (pa.ArrowException, OSError) as err:
        yield Problem("tabular", f"pyarrow cannot read the Arrow file: {err}", path)


def iter_text(path: str) -> Iterator[Union[Record, Problem]]:
    """One ``{"text": line}`` per line, blank lines included, as the datasets text builder does."""
    index = 0
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                column = len(raw[:err.start].decode("utf-8", "replace")) + 1
                yield Problem("not-utf8", f"invalid UTF-8 byte 0x{raw[err.start]:02x}: LLaMA-Factory's text loader "
                                          "cannot decode the file", path, line_no, column, index)
                return
            if line_no == 1 and text.startswith("\ufeff"):
                yield Problem("bom", "the file starts with a UTF-8 byte order mark (BOM): the first sample's text "
                                     "begins with an invisible U+FEFF", path, 1, 1, 0)
            for piece in text.splitlines() or [""]:
                yield Record(index, {"text": piece}, path, line_no, 1)
                index += 1
