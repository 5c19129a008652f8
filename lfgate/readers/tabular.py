"""CSV, Parquet, Arrow and plain-text datasets, streamed as LLaMA-Factory's ``datasets`` builders read them.

pandas and pyarrow are imported only here, only when such a file is met.
"""

from __future__ import annotations

import csv
import math
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from lfgate.readers import guarded
from lfgate.readers.records import Problem, Record

BATCH = 10_000  # rows per batch, as the datasets csv/parquet builders use
BATCH_BYTES = 64 << 20  # decoded bytes per batch at most: rows of large values come in smaller batches
# Bounded work on small hostile files (issue 17) without a cap on rows (issue 20): every row is checked, in
# batches of bounded memory. What is capped is one value: a value over MAX_VALUE_BYTES is never made a Python
# string, and its row is reported as not checked ("over-cap", an error: a cap must never turn into a pass). A 7 KB
# Parquet file holding one 200 MB cell never gets decoded: its column chunk averages over the cap per row.
MAX_VALUE_BYTES = 64 << 20
# `lfgate convert` (tools/table.py) loads a whole table into memory, so it refuses what would not fit: a column
# chunk over MAX_VALUE_BYTES whose rows average over MAX_AVERAGE_VALUE_BYTES, a file of more than
# MAX_EXPANDED_ROWS rows at over ROWS_PER_BYTE rows per byte. The check streams and has neither cap.
MAX_AVERAGE_VALUE_BYTES = 1 << 20
MAX_EXPANDED_ROWS = 250_000
ROWS_PER_BYTE = 10
READ_BUFFER = 1 << 20  # Parquet pages are read through a buffer this size, not a whole row group at once


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
                line = next(lines)
                over = _csv_over_cap(columns, row)
                if over:  # the same cap per value as Parquet/Arrow: the row is the unchecked part, an error
                    yield Problem("over-cap", f"sample {index} was not checked: column {over[0]!r} holds a value of "
                                              f"{_size(over[1])}, over lfgate's {_size(MAX_VALUE_BYTES)} cap per "
                                              "value", path, line, None, index, 1)
                else:
                    yield Record(index, {str(c): _plain(v) for c, v in zip(columns, row)}, path, line, 1)
                index += 1
    except UnicodeDecodeError as err:
        yield Problem("not-utf8", f"invalid UTF-8 ({err.reason}): LLaMA-Factory's CSV loader cannot decode the file",
                      path, None, None, index)
    except pd.errors.EmptyDataError:
        return
    except (pd.errors.ParserError, ValueError, OSError) as err:
        yield Problem("tabular", f"pandas cannot parse the CSV: {str(err).strip().splitlines()[0]}", path,
                      None, None, index)


def _csv_over_cap(columns: List[Any], row: Tuple[Any, ...]) -> Optional[Tuple[str, int]]:
    """(column, bytes) of a cell over MAX_VALUE_BYTES: pandas has parsed it, but no check runs over it."""
    for column, value in zip(columns, row):
        if isinstance(value, str) and len(value) > MAX_VALUE_BYTES // 4:
            size = len(value.encode("utf-8", "surrogatepass"))
            if size > MAX_VALUE_BYTES:
                return str(column), size
    return None


def _batches_to_records(path: str, batches: Iterable[Any], index: int = 0) -> Iterator[Union[Record, Problem]]:
    """Records, a slice of at most BATCH rows and about BATCH_BYTES at a time (an Arrow file may hold one batch of
    millions of rows); a row holding a value over MAX_VALUE_BYTES is reported, never made Python."""
    for batch in batches:
        for piece in _pieces(batch):
            sizes = _value_sizes(piece) or []
            over = [i for i, (_, size) in enumerate(sizes) if size > MAX_VALUE_BYTES]
            if not over:
                for value in _rows(piece):
                    yield Record(index, value, path)
                    index += 1
                continue
            skipped = set(over)
            kept = [i for i in range(piece.num_rows) if i not in skipped]
            values = iter(piece.take(kept).to_pylist() if kept else [])
            for i in range(piece.num_rows):
                if i in skipped:
                    column, size = sizes[i]
                    yield Problem("over-cap", f"sample {index} was not checked: column {column!r} holds a value of "
                                              f"{_size(size)}, over lfgate's {_size(MAX_VALUE_BYTES)} cap per value",
                                  path, None, None, index, 1)
                else:
                    yield Record(index, next(values), path)
                index += 1


def _size(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{n} bytes"


def _rows(batch: Any) -> List[Dict[str, Any]]:
    """batch.to_pylist(), with a dictionary-encoded column decoded once per distinct value (a 43 KB file can hold
    millions of rows of one value: each row then shares its Python objects, 6x faster)."""
    import pyarrow as pa

    if not any(pa.types.is_dictionary(column.type) for column in batch.columns):
        rows: List[Dict[str, Any]] = batch.to_pylist()
        return rows
    columns = []
    for column in batch.columns:
        if pa.types.is_dictionary(column.type):
            values = column.dictionary.to_pylist()
            columns.append([None if i is None else values[i] for i in column.indices.to_pylist()])
        else:
            columns.append(column.to_pylist())
    names = batch.schema.names
    return [dict(zip(names, row)) for row in zip(*columns)]


def _pieces(batch: Any) -> Iterator[Any]:
    """Zero-copy slices of a record batch: at most BATCH rows, fewer when its rows are large."""
    rows = batch.num_rows
    if not rows:
        return
    per_row = max(batch.nbytes // rows, 1)
    step = max(1, min(BATCH, BATCH_BYTES // per_row))
    for start in range(0, rows, step):
        yield batch.slice(start, step) if step < rows else batch


def _value_sizes(batch: Any) -> Optional[List[Tuple[str, int]]]:
    """Per row, (column, bytes) of its largest top-level value (strings and binaries, nested ones summed up to
    the top-level value that holds them); None when no value of the batch can be over MAX_VALUE_BYTES."""
    if batch.nbytes <= MAX_VALUE_BYTES:
        return None  # no single value can be larger than the whole batch
    import numpy as np

    best = np.zeros(batch.num_rows, dtype=np.int64)
    names = np.zeros(batch.num_rows, dtype=np.int64)
    for k, column in enumerate(batch.columns):
        sizes = _array_sizes(column)
        if sizes is None:
            continue
        larger = sizes > best
        best = np.where(larger, sizes, best)
        names = np.where(larger, k, names)
    if not (best > MAX_VALUE_BYTES).any():
        return None
    columns = batch.schema.names
    return [(columns[int(n)], int(b)) for n, b in zip(names, best)]


def _array_sizes(array: Any) -> Any:
    """Bytes of string/binary data under each element of an Arrow array (a numpy int64 array), else None."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        sizes = _array_sizes(array.dictionary)
        if sizes is None:
            return None
        indices = array.indices.fill_null(0).to_numpy(zero_copy_only=False)
        return np.where(array.is_null().to_numpy(zero_copy_only=False), 0, sizes[indices]) if len(sizes) else \
            np.zeros(len(array), dtype=np.int64)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) \
            or pa.types.is_large_binary(kind):
        return pc.binary_length(array).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        inner = _array_sizes(array.values)  # offsets index into the whole child, also for a slice
        if inner is None:
            return None
        total = np.concatenate([[0], np.cumsum(inner)])
        offsets = array.offsets.to_numpy(zero_copy_only=False)
        sizes = total[offsets[1:]] - total[offsets[:-1]]
        return np.where(array.is_null().to_numpy(zero_copy_only=False), 0, sizes)
    if pa.types.is_struct(kind):
        found = [s for s in (_array_sizes(field) for field in array.flatten()) if s is not None]
        return np.sum(found, axis=0) if found else None
    return None


def iter_parquet(path: str) -> Iterator[Union[Record, Problem]]:
    """Every row, row group by row group, in batches of bounded memory (fewer rows per batch where rows are
    large). A row group whose column chunk averages over MAX_VALUE_BYTES per row is not decoded at all: its rows
    are reported as not checked (with their count: the real row count still reaches the step budgets)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    index = 0
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER)
        meta = parquet.metadata
        for group in range(meta.num_row_groups):
            row_group = meta.row_group(group)
            rows = row_group.num_rows
            big = _certainly_over_cap(row_group)
            if big is not None:
                yield Problem("over-cap", f"samples {index}-{index + rows - 1} (row group {group}) were not "
                                          f"checked: column {big[0]!r} holds {_size(big[1])} uncompressed in "
                                          f"{rows} row(s), over lfgate's {_size(MAX_VALUE_BYTES)} cap per value",
                              path, None, None, index, rows)
                index += rows
                continue
            per_row = max(row_group.total_byte_size // max(rows, 1), 1)
            batch = max(1, min(BATCH, BATCH_BYTES // per_row))
            yield from _batches_to_records(path, parquet.iter_batches(batch_size=batch, row_groups=[group]), index)
            index += rows
    except (pa.ArrowException, OSError) as err:
        yield Problem("tabular", f"pyarrow cannot read the Parquet file: {err}", path)


# A value can be in a column chunk three times: the data, and a page header's min and max statistics.
_COPIES_PER_VALUE = 3


def _certainly_over_cap(row_group: Any) -> Optional[Tuple[str, int]]:
    """(column, uncompressed bytes) of a column chunk whose rows average over MAX_VALUE_BYTES even if each value
    is stored thrice: some value of it is over the cap, wherever it is, so it is not decoded. None otherwise."""
    rows = max(row_group.num_rows, 1)
    for i in range(row_group.num_columns):
        chunk = row_group.column(i)
        if chunk.total_uncompressed_size > _COPIES_PER_VALUE * MAX_VALUE_BYTES * rows:
            return chunk.path_in_schema, chunk.total_uncompressed_size
    return None


def _oversized_chunk(row_group: Any) -> Optional[Tuple[str, int]]:
    """(column, uncompressed bytes) of the row group's largest column chunk when it is over MAX_VALUE_BYTES and
    its rows average over MAX_AVERAGE_VALUE_BYTES (loading it whole would hold huge values), else None."""
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
