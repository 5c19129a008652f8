"""CSV, Parquet, Arrow and plain-text datasets, streamed as LLaMA-Factory's ``datasets`` builders read them.

pandas and pyarrow are imported only here, only when such a file is met.
"""

from __future__ import annotations

import csv
import math
from typing import Any, Iterable, Iterator, Optional, Tuple, Union

from lfgate.readers import guarded
from lfgate.readers.records import Problem, Record

BATCH = 10_000  # rows per batch, as the datasets csv/parquet builders use
# Bounded work on small hostile files (issue 17): a 7 KB Parquet file with one 200 MB cell, or 43 KB of
# dictionary-encoded data holding 5 million rows. What exceeds a cap is reported ("over-cap"), not loaded.
MAX_VALUE_BYTES = 64 << 20  # one value made a Python string
# A Parquet column chunk over MAX_VALUE_BYTES whose rows average over MAX_AVERAGE_VALUE_BYTES holds values too
# large to decode; large row groups of ordinary samples (1M rows of 1 KB) average far less and are read.
MAX_AVERAGE_VALUE_BYTES = 1 << 20
MAX_EXPANDED_ROWS = 250_000  # rows checked of a file that holds far more rows than bytes...
ROWS_PER_BYTE = 10  # ...i.e. more than this many rows per byte of file


EXTRA_MODULES = ("pandas", "pyarrow", "numpy")


def needing_extra(path: str, records: Iterator[Union[Record, Problem]]) -> Iterator[Union[Record, Problem]]:
    """The reader's records; when the library it needs is missing, one finding that names the extra instead of
    an internal error, and the check goes on with everything else."""
    try:
        yield from records
    except ModuleNotFoundError as err:
        top = (err.name or "").split(".")[0]
        if top not in EXTRA_MODULES:
            raise
        yield Problem("missing-extra", f"not checked: reading this file needs {top}, which is not installed "
                                       "(pip install 'lfgate[tabular]')", path)


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
        with guarded.open_regular(path, "r", encoding="utf-8", newline="") as f:
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


def _batches_to_records(path: str, batches: Iterable[Any], index: int = 0) -> Iterator[Union[Record, Problem]]:
    """Records batch by batch; a batch holding a string over MAX_VALUE_BYTES is reported, not made Python."""
    for batch in batches:
        big = _oversized_value(batch)
        if big is not None:
            yield Problem("over-cap", f"samples {index}-{index + batch.num_rows - 1} were not checked: column "
                                      f"{big[0]!r} holds a value of {big[1] >> 20} MB, over lfgate's "
                                      f"{MAX_VALUE_BYTES >> 20} MB cap", path, None, None, index)
            index += batch.num_rows
            continue
        for value in batch.to_pylist():
            yield Record(index, value, path)
            index += 1


def _oversized_value(batch: Any) -> Optional[Tuple[str, int]]:
    """(column, bytes) of the batch's longest top-level string/binary value over MAX_VALUE_BYTES, else None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name, column in zip(batch.schema.names, batch.columns):
        kind = column.type
        if pa.types.is_dictionary(kind):
            column, kind = column.dictionary, column.type.value_type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) \
                or pa.types.is_large_binary(kind):
            longest = pc.max(pc.binary_length(column)).as_py() if len(column) else None
            if longest is not None and longest > MAX_VALUE_BYTES:
                return name, longest
    return None


def iter_parquet(path: str) -> Iterator[Union[Record, Problem]]:
    """Row group by row group; a row group whose column chunk holds values too large to decode is skipped and
    reported, and of a file that expands past ROWS_PER_BYTE rows per byte only the first MAX_EXPANDED_ROWS are
    checked."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        meta = parquet.metadata
        size = os.path.getsize(path)
        budget = meta.num_rows
        if meta.num_rows > MAX_EXPANDED_ROWS and meta.num_rows > ROWS_PER_BYTE * size:
            budget = MAX_EXPANDED_ROWS
            yield Problem("over-cap", f"{meta.num_rows} rows in {size} bytes (over {ROWS_PER_BYTE} rows per byte): "
                                      f"only the first {MAX_EXPANDED_ROWS} rows were checked", path)
        index = 0
        for group in range(meta.num_row_groups):
            rows = meta.row_group(group).num_rows
            big = _oversized_chunk(meta.row_group(group))
            if big is not None:
                yield Problem("over-cap", f"samples {index}-{index + rows - 1} (row group {group}) were not "
                                          f"checked: column {big[0]!r} holds {big[1] >> 20} MB uncompressed, over "
                                          f"lfgate's {MAX_VALUE_BYTES >> 20} MB cap per value", path, None, None, index)
                index += rows
                continue
            for item in _batches_to_records(path, parquet.iter_batches(batch_size=BATCH, row_groups=[group]), index):
                if isinstance(item, Record) and item.index >= budget:
                    return
                yield item
            index += rows
    except (pa.ArrowException, OSError) as err:
        yield Problem("tabular", f"pyarrow cannot read the Parquet file: {err}", path)


def _oversized_chunk(row_group: Any) -> Optional[Tuple[str, int]]:
    """(column, uncompressed bytes) of the row group's largest column chunk when it is over MAX_VALUE_BYTES and
    its rows average over MAX_AVERAGE_VALUE_BYTES (decoding it would hold huge values), else None."""
    sizes = [(row_group.column(i).path_in_schema, row_group.column(i).total_uncompressed_size)
             for i in range(row_group.num_columns)]
    largest = max(sizes, key=lambda item: item[1], default=None)
    if largest is None or largest[1] <= MAX_VALUE_BYTES:
        return None
    return largest if largest[1] / max(row_group.num_rows, 1) > MAX_AVERAGE_VALUE_BYTES else None


def iter_arrow(path: str) -> Iterator[Union[Record, Problem]]:
    """The datasets arrow builder reads the IPC stream format, falling back to the file format."""
    import pyarrow as pa

    try:
        with pa.memory_map(path) as f:  # batches stay in the page cache, not in lfgate's memory
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
    with guarded.open_regular(path) as f:
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
