"""Read a spreadsheet or table into rows (dicts): pandas for Excel/CSV/TSV/Parquet, imported only here.

Cells are read as text where the format has no types (CSV, TSV, Excel), without pandas' guessing: "NA", "null" or
"None" in a cell stay those words, and "007" stays "007". Empty cells become None.
"""

from __future__ import annotations

import math
import os
from typing import Dict, List, Optional, Tuple

from lfgate.errors import UsageError
from lfgate.readers import guarded

TABLE_SUFFIXES = (".xlsx", ".xlsm", ".csv", ".tsv", ".parquet", ".json", ".jsonl")
# Caps that keep a small hostile file small (issue 17: a 4.8 KB sheet with one cell at XFD1048576 took 7.7 GB).
MAX_COLUMNS = 1_000
MAX_CELLS = 5_000_000
MAX_DEPTH = 100  # nesting of a JSON row; json.dumps and the checks recurse
# A 296 KB workbook whose one cell holds 300 MB took a minute and 1.7 GB (issue 21): a cell's text is measured while
# the XML streams (shared strings included) and refused over MAX_CELL_BYTES, with its address. Excel itself holds
# at most 32,767 characters in a cell.
MAX_CELL_BYTES = 8 << 20
MAX_PART_BYTES = 256 << 20  # any other part of the workbook (styles, theme, the workbook itself), uncompressed
_XML_CHUNK = 1 << 20


class MissingExtra(Exception):
    """An optional dependency this input needs is not installed; the message names the extra."""


class TooLarge(Exception):
    """The table exceeds a cap; the message says which and where."""


def read_rows(path: str, sheet: Optional[str] = None) -> Tuple[List[str], List[Dict]]:
    """(column names, rows) of a table file."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in TABLE_SUFFIXES:
        raise UsageError(f"cannot read {path}: use one of {', '.join(TABLE_SUFFIXES)}")
    if not os.path.isfile(path):
        raise UsageError(f"{path} does not exist")
    if suffix in (".json", ".jsonl"):
        return _read_json(path, suffix == ".jsonl")
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, sheet)
    if sheet is not None:
        raise UsageError("--sheet applies to Excel files only")
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtra("reading tables needs pandas: pip install 'lfgate[tabular]'") from None
    try:
        frame = _read(pd, path, suffix, sheet)
    except (UsageError, TooLarge, MissingExtra):
        raise
    except ImportError as err:
        raise MissingExtra(f"reading {suffix} files needs {err.name or 'an optional package'}: "
                           "pip install 'lfgate[tabular]'") from None
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
    if suffix == ".csv":
        return pd.read_csv(path, **text_options)
    if suffix == ".tsv":
        return pd.read_csv(path, sep="\t", **text_options)
    # Parquet through pyarrow's own rows: pandas would turn an int column with nulls into floats (5 -> 5.0).
    import pyarrow.parquet as pq

    from lfgate.readers import tabular

    meta = pq.ParquetFile(path).metadata
    for group in range(meta.num_row_groups):
        big = tabular._oversized_chunk(meta.row_group(group))
        if big is not None:
            raise TooLarge(f"column {big[0]!r} of row group {group} holds {big[1] >> 20} MB uncompressed in values "
                           f"over lfgate's {tabular.MAX_VALUE_BYTES >> 20} MB cap per value: not loaded")
    size = os.path.getsize(path)
    if meta.num_rows > tabular.MAX_EXPANDED_ROWS and meta.num_rows > tabular.ROWS_PER_BYTE * size:
        raise TooLarge(f"{meta.num_rows} rows in {size} bytes (over {tabular.ROWS_PER_BYTE} rows per byte): not "
                       "loaded")
    table = pq.read_table(path)
    return pd.DataFrame({name: pd.Series(table.column(name).to_pylist(), dtype=object) for name in table.column_names})


def _xlsx_text(value):
    """A cell as text, as pandas' read_excel(dtype=str) gives it; an empty cell is None."""
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _column_letters(index: int) -> str:
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _read_xlsx(path: str, sheet: Optional[str]) -> Tuple[List[str], List[Dict]]:
    """Stream the sheet's real cells (openpyxl read-only mode, never its claimed dimensions): the first row is the
    header; a row holds the cells it has. Columns past MAX_COLUMNS and more than MAX_CELLS cells are refused."""
    try:
        import openpyxl
        from openpyxl.worksheet._reader import WorkSheetParser
    except ImportError:
        raise MissingExtra("reading Excel files needs openpyxl: pip install 'lfgate[tabular]'") from None
    try:
        reader = _capped_reader(openpyxl)(path, read_only=True, data_only=True)
        reader.read()
        book = reader.wb
    except TooLarge:
        raise
    except Exception as err:  # zip, XML and openpyxl errors of a broken workbook
        raise UsageError(f"cannot read {path}: {type(err).__name__}: {err}") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise UsageError(f"{path} has no sheet {sheet!r}; it has {', '.join(map(repr, book.sheetnames))}")
        ws = book[sheet if sheet is not None else book.sheetnames[0]]
        try:
            with ws._get_source() as source:  # every cell measured before openpyxl builds any value
                _measure_cells(source, reader.oversized_string, ws.title)
            if reader.oversized_string is not None:
                raise TooLarge(f"shared string {reader.oversized_string} holds more than {MAX_CELL_BYTES >> 20} MB "
                               f"(no cell of sheet {ws.title!r} uses it): lfgate does not load it")
            with ws._get_source() as source:
                parser = WorkSheetParser(source, ws._shared_strings, data_only=True, epoch=book.epoch,
                                         date_formats=book._date_formats, timedelta_formats=book._timedelta_formats)
                return _sheet_rows(path, parser.parse())
        except (UsageError, TooLarge):
            raise
        except Exception as err:
            raise UsageError(f"cannot read {path}: {type(err).__name__}: {err}") from None
    finally:
        book.close()


def _capped_reader(openpyxl):
    """openpyxl's ExcelReader, with the shared strings measured (streamed, nothing kept) before they are loaded, and
    every other part's declared size capped."""
    from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader

    class CappedReader(ExcelReader):
        oversized_string: Optional[int] = None

        def read_manifest(self):
            for info in self.archive.infolist():
                if info.file_size > MAX_PART_BYTES and "worksheets/" not in info.filename \
                        and not info.filename.endswith("sharedStrings.xml"):
                    raise TooLarge(f"the workbook part {info.filename} is {info.file_size >> 20} MB uncompressed, "
                                   f"over lfgate's {MAX_PART_BYTES >> 20} MB cap")
            super().read_manifest()

        def read_strings(self):
            found = self.package.find(SHARED_STRINGS)
            if found is not None and found.PartName[1:] in self.valid_files:
                with self.archive.open(found.PartName[1:]) as source:
                    self.oversized_string = _oversized_string(source)
                if self.oversized_string is not None:
                    return  # not loaded: the sheet's scan names the cell that uses it
            super().read_strings()

    return CappedReader


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def _feed(parser, source) -> None:
    while True:
        chunk = source.read(_XML_CHUNK)
        parser.Parse(chunk, not chunk)
        if not chunk:
            return


def _oversized_string(source) -> Optional[int]:
    """The index of the first shared string over MAX_CELL_BYTES, streaming sharedStrings.xml (nothing kept)."""
    from xml.parsers import expat

    class Found(Exception):
        pass

    state = {"index": -1, "size": 0, "inside": False}

    def start(name, attrs):
        if _local(name) == "si":
            state.update(index=state["index"] + 1, size=0, inside=True)

    def end(name):
        if _local(name) == "si":
            state["inside"] = False

    def text(data):
        if state["inside"]:
            state["size"] += len(data.encode("utf-8", "surrogatepass"))
            if state["size"] > MAX_CELL_BYTES:
                raise Found

    parser = expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    try:
        _feed(parser, source)
    except Found:
        return state["index"]
    except expat.ExpatError:
        return None  # openpyxl reports the broken XML itself
    return None


def _measure_cells(source, oversized_string: Optional[int], sheet: str) -> None:
    """TooLarge, naming the cell, for a cell whose text is over MAX_CELL_BYTES or that uses the oversized shared
    string; the sheet's XML is streamed and no value is kept."""
    from xml.parsers import expat

    state = {"row": 0, "column": 0, "address": "", "kind": None, "size": 0, "inside": False, "value": ""}

    def start(name, attrs):
        local = _local(name)
        if local == "row":
            state["row"] = int(attrs["r"]) if str(attrs.get("r", "")).isdigit() else state["row"] + 1
            state["column"] = 0
        elif local == "c":
            reference = attrs.get("r") or ""
            letters = reference.rstrip("0123456789")
            state["column"] = _column_number(letters) if letters else state["column"] + 1
            state.update(address=reference or f"{_column_letters(state['column'])}{state['row']}",
                         kind=attrs.get("t"), size=0, value="")
        elif local in ("v", "t"):
            state["inside"] = True

    def end(name):
        local = _local(name)
        if local in ("v", "t"):
            state["inside"] = False
        elif local == "c" and state["kind"] == "s" and oversized_string is not None \
                and state["value"].strip() == str(oversized_string):
            raise TooLarge(f"cell {state['address']} of sheet {sheet!r} holds shared string {oversized_string} "
                           f"of more than {MAX_CELL_BYTES >> 20} MB (lfgate's cap per cell; Excel itself holds "
                           "32,767 characters): shorten it or export the sheet as JSON Lines")

    def text(data):
        if not state["inside"]:
            return
        state["size"] += len(data.encode("utf-8", "surrogatepass"))
        if state["size"] > MAX_CELL_BYTES:
            raise TooLarge(f"cell {state['address']} of sheet {sheet!r} holds more than {MAX_CELL_BYTES >> 20} MB "
                           "(lfgate's cap per cell; Excel itself holds 32,767 characters): shorten it or export "
                           "the sheet as JSON Lines")
        if state["kind"] == "s" and len(state["value"]) < 32:
            state["value"] += data

    parser = expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    try:
        _feed(parser, source)
    except expat.ExpatError:
        return  # openpyxl's own parse reports the broken XML


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def _column_name(name: Optional[str], column: int) -> str:
    """A header cell's text; a column without one is named as pandas names it."""
    return name if name is not None else f"Unnamed: {column - 1}"


def _sheet_rows(path: str, parsed) -> Tuple[List[str], List[Dict]]:
    header: Dict[int, Optional[str]] = {}  # None: a column with data but no header cell
    rows: List[Dict] = []
    cells = 0
    first = True
    for row_number, row_cells in parsed:
        values = {}
        for cell in row_cells:
            value = _xlsx_text(cell["value"])
            if value is None:
                continue
            column = cell["column"]
            if column > MAX_COLUMNS:
                raise TooLarge(f"cell {_column_letters(column)}{row_number} lies past column "
                               f"{_column_letters(MAX_COLUMNS)}, lfgate's cap of {MAX_COLUMNS} columns; delete it "
                               "or move the data left")
            values[column] = value
            cells += 1
            if cells > MAX_CELLS:
                raise TooLarge(f"more than {MAX_CELLS} cells (lfgate's cap); export the sheet as CSV or "
                               "JSON Lines")
        if first:
            header, first = values, False
            continue
        for column in values:
            header.setdefault(column, None)
        if values:
            rows.append(values)
    names = {c: _column_name(header[c], c) for c in sorted(header)}
    duplicated = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    if duplicated:
        raise UsageError(f"{path} has duplicate column names: {', '.join(duplicated)}")
    return list(names.values()), [{names[c]: row.get(c) for c in names} for row in rows]


def _read_json(path: str, lines: bool) -> Tuple[List[str], List[Dict]]:
    """JSON rows as they are (no pandas: it would guess dates and turn ints with nulls into floats)."""
    import json

    try:
        with guarded.open_regular(path, "r", encoding="utf-8-sig") as f:
            if lines:
                rows = [json.loads(line) for line in f if line.strip()]
            else:
                rows = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UsageError(f"cannot read {path}: {err}") from None
    except RecursionError:
        raise TooLarge(f"a value is nested too deeply to convert (over {MAX_DEPTH} levels)") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UsageError(f"{path}: expected a list of objects (one per row)")
    for index, row in enumerate(rows):
        if _depth_over(row, MAX_DEPTH):
            raise TooLarge(f"row {index} is nested more than {MAX_DEPTH} levels deep; flatten it")
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return columns, [{c: r.get(c) for c in columns} for r in rows]


def _depth_over(value, limit: int) -> bool:
    """Whether value nests lists/objects more than limit levels (without recursing)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


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
