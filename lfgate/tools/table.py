"""Read a spreadsheet or table into rows (dicts): pandas for Excel/CSV/TSV/Parquet, imported only here.

Cells are read as text where the format has no types (CSV, TSV, Excel), without pandas' guessing: "NA", "null" or
"None" in a cell stay those words, and "007" stays "007". Empty cells become None.
"""

from __future__ import annotations

import math
import os
from typing import Dict, List, Optional, Tuple

from lfgate.errors import UsageError

TABLE_SUFFIXES = (".xlsx", ".xlsm", ".csv", ".tsv", ".parquet", ".json", ".jsonl")


def read_rows(path: str, sheet: Optional[str] = None) -> Tuple[List[str], List[Dict]]:
    """(column names, rows) of a table file."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in TABLE_SUFFIXES:
        raise UsageError(f"cannot read {path}: use one of {', '.join(TABLE_SUFFIXES)}")
    if not os.path.isfile(path):
        raise UsageError(f"{path} does not exist")
    if suffix in (".json", ".jsonl"):
        return _read_json(path, suffix == ".jsonl")
    try:
        import pandas as pd
    except ImportError:
        raise UsageError("reading tables needs pandas: pip install 'lfgate[tabular]'") from None
    try:
        frame = _read(pd, path, suffix, sheet)
    except UsageError:
        raise
    except ImportError as err:
        raise UsageError(f"cannot read {path}: {err.msg if hasattr(err, 'msg') else err}") from None
    except Exception as err:  # pandas raises many kinds for unreadable input; the user needs the message
        raise UsageError(f"cannot read {path}: {type(err).__name__}: {err}") from None
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        raise UsageError(f"{path} has duplicate column names: {', '.join(duplicated)}")
    frame.columns = columns
    rows = [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    return columns, rows


def _read(pd, path: str, suffix: str, sheet: Optional[str]):
    text_options = dict(dtype=str, keep_default_na=False, na_values=[], encoding="utf-8-sig")
    if suffix in (".xlsx", ".xlsm"):
        book = pd.ExcelFile(path, engine="openpyxl")
        if sheet is not None and sheet not in book.sheet_names:
            raise UsageError(f"{path} has no sheet {sheet!r}; it has {', '.join(map(repr, book.sheet_names))}")
        return pd.read_excel(book, sheet_name=sheet if sheet is not None else 0, dtype=str,
                             keep_default_na=False, na_values=[])
    if sheet is not None:
        raise UsageError("--sheet applies to Excel files only")
    if suffix == ".csv":
        return pd.read_csv(path, **text_options)
    if suffix == ".tsv":
        return pd.read_csv(path, sep="\t", **text_options)
    # Parquet through pyarrow's own rows: pandas would turn an int column with nulls into floats (5 -> 5.0).
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return pd.DataFrame({name: pd.Series(table.column(name).to_pylist(), dtype=object) for name in table.column_names})


def _read_json(path: str, lines: bool) -> Tuple[List[str], List[Dict]]:
    """JSON rows as they are (no pandas: it would guess dates and turn ints with nulls into floats)."""
    import json

    try:
        with open(path, encoding="utf-8-sig") as f:
            if lines:
                rows = [json.loads(line) for line in f if line.strip()]
            else:
                rows = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UsageError(f"cannot read {path}: {err}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UsageError(f"{path}: expected a list of objects (one per row)")
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return columns, [{c: r.get(c) for c in columns} for r in rows]


def _clean(value):
    """pandas/numpy cell values as plain Python: NaN and empty Excel cells -> None, numpy scalars -> Python."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars and arrays
        value = value.tolist()
        if isinstance(value, list):
            return [_clean(v) for v in value]
        return _clean(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
