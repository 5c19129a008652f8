"""Data-file rules (DF001-DF199): what LLaMA-Factory's loader.py and the `datasets` builders do with the file
itself, before any sample is converted (spec §4): the path, the extension, folders, decoding and JSON syntax,
and the Arrow table built from all records (a field whose type changes). A field missing from every record is
DS002 (samples/), which knows which columns the converter reads.
"""

from __future__ import annotations

import base64
import errno
import functools
import os
import re
import stat
from typing import Any, List, Optional, Tuple

from lfgate.diagnostics import Severity
from lfgate.readers import FILEEXT2TYPE, builder, extension, folder_files, locate
from lfgate.readers.records import Problem, Record
from lfgate.registry import ERROR, INFO, WARNING, rule
from lfgate.validator.arrow_types import (
    ARROW_MAX_NESTING,
    Field,
    TypeTracker,
    concrete_path,
    deep_path,
    dotted,
    load_raw,
)
from lfgate.validator.example_kit import ALPACA_RECORDS, ONE_ENTRY_REGISTRY, entry_project

_REG, _ALPACA = ONE_ENTRY_REGISTRY, ALPACA_RECORDS
_ALLOWED = ",".join(FILEEXT2TYPE)


def _project(data: str, name: str = "a.json", entry: Optional[str] = None) -> dict:
    return entry_project(entry or f'{{"file_name": "{name}"}}', data, name)


FILE_NOT_FOUND = rule(
    "DF001", "file-not-found", ERROR,
    "The data file or folder named by file_name does not exist",
    why="loader.py raises `File data/x.json not found.` after the tokenizer has loaded.",
    fix="Fix file_name (it is joined onto dataset_dir, case-sensitively), or add the file.",
    bad={"data/dataset_info.json": _REG},
    good=_project(_ALPACA),
)
BAD_EXTENSION = rule(
    "DF002", "unsupported-extension", ERROR,
    "The data file's extension is not one LLaMA-Factory loads",
    why=f"The builder comes from the extension, case-sensitively: anything but {_ALLOWED} raises "
        "`Allowed file types: ...` (so does `.JSON`, or no extension).",
    fix="Rename the file with a lower-case extension: .json, .jsonl, .csv, .parquet, .arrow or .txt.",
    bad=_project(_ALPACA, "a.JSON"),
    good=_project(_ALPACA),
)
MIXED_FOLDER = rule(
    "DF004", "folder-not-loadable", ERROR,
    "A dataset folder is empty, or holds entries of another type (a README, a hidden file, a subfolder)",
    why="Every entry of the folder is a data file to LLaMA-Factory, unsorted and unfiltered: anything that does "
        "not map to the same builder raises `File types should be identical.` (or `Allowed file types`); an "
        "empty folder raises a bare IndexError.",
    fix="Keep only data files of one format in the folder (.json and .jsonl may mix).",
    bad={"data/dataset_info.json": '{"a": {"file_name": "parts"}}\n', "data/parts/1.json": _ALPACA,
         "data/parts/README.md": "notes\n"},
    good={"data/dataset_info.json": '{"a": {"file_name": "parts"}}\n', "data/parts/1.json": _ALPACA,
          "data/parts/2.jsonl": '{"instruction": "a", "input": "", "output": "b"}\n'},
)
OUTSIDE_DATASET_DIR = rule(
    "DF005", "outside-dataset-dir", WARNING,
    "file_name leaves the project, or is a symlink out of it",
    why="LLaMA-Factory accepts it (loader.py os.path.join(dataset_dir, file_name) follows `../` and symlinks), but "
        "a project that depends on files outside it breaks when it is copied or run elsewhere. Data linked out of "
        "the project is never read nor shown by lfgate (it could be any file of this machine): its content was "
        "not checked. A `../` path that stays inside the project is only an info; an absolute file_name is "
        "deliberate (data on shared cluster storage) and not reported.",
    fix="Move the data under dataset_dir, or set dataset_dir to the folder that holds it.",
    bad={"data/dataset_info.json": '{"a": {"file_name": "../a.json"}}\n', "a.json": _ALPACA},
    good=_project(_ALPACA),
)
UNREADABLE = rule(
    "DF006", "unreadable-file", ERROR,
    "The data file cannot be opened (permissions, a symlink loop, an I/O error)",
    why="The loader fails on it (a symlink loop even reads as `not found`).",
    fix="Fix the path or its permissions; replace a looping symlink with the real file.",
    bad={"data/dataset_info.json": '{"a": {"file_name": "%s.json"}}\n' % ("x" * 300)},
    good=_project(_ALPACA),
)
INVALID_JSON = rule(
    "DF010", "invalid-json", ERROR,
    "The data file is not valid JSON / JSON Lines",
    why="The datasets JSON builder fails the whole load with `DatasetGenerationError`, naming no line.",
    fix="Fix the syntax at the reported line and column.",
    bad=_project('[{"instruction": "hi", "input": "", "output": "hello"},]\n'),
    good=_project(_ALPACA),
)
NOT_UTF8 = rule(
    "DF011", "not-utf8", ERROR,
    "The data file is not valid UTF-8",
    why="The datasets builders decode UTF-8 and fail on the first invalid byte.",
    fix="Re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`).",
    bad={"data/dataset_info.json": _REG,
         "data/a.json": '[{"instruction": "caf\xe9", "input": "", "output": "x"}]\n'.encode("latin1")},
    good=_project(_ALPACA),
)
BOM = rule(
    "DF012", "byte-order-mark", ERROR,
    "A JSON array file (or a text file) starts with a UTF-8 byte order mark",
    why="pyarrow strips a BOM from JSON Lines, but a JSON array goes through pandas, which fails on it; in a .txt "
        "file the first sample's text starts with an invisible U+FEFF.",
    fix="Save the file as UTF-8 without BOM.",
    bad={"data/dataset_info.json": _REG, "data/a.json": b"\xef\xbb\xbf" + _ALPACA.encode()},
    good=_project(_ALPACA),
)
TOO_DEEP = rule(
    "DF013", "nesting-too-deep", ERROR,
    "A record nests deeper than Arrow or the JSON parsers allow",
    why="Arrow refuses schemas deeper than 63 levels (the record counts as one): `Recursion level in ArrowSchema "
        "struct exceeded`; the JSON parsers stop at about 1000 (`Reached object decoding depth limit`).",
    fix="Flatten the record (e.g. keep a deep structure as a JSON string); past 1000 levels it is surely corrupt.",
    bad=_project("[" + "[" * 1100 + "]" * 1100 + "]\n"),
    good=_project(_ALPACA),
)
TOP_LEVEL = rule(
    "DF014", "top-level-not-list", WARNING,
    "The JSON file is one object, not a list of samples",
    why="The JSON builder reads a top-level object as one single row: fine if it is one sample, but a mapping of "
        "samples ({\"0\": {...}, \"1\": {...}}) becomes one broken row (then reported by the sample rules).",
    fix="Wrap the samples in a list: [{...}, {...}], or write one object per line (JSON Lines).",
    bad=_project('{\n  "instruction": "hi",\n  "input": "",\n  "output": "hello"\n}\n'),
    good=_project(_ALPACA),
)
NOT_OBJECT = rule(
    "DF015", "sample-not-object", ERROR,
    "A sample is not a JSON object",
    why="Rows must be objects (field -> value); a string, number or list raises while the table is built.",
    fix="Make every element an object such as {\"instruction\": ..., \"output\": ...}. A record wrapped in a "
        "list (`c.append([{...}])` in a pandas script) is one object: `lfgate fix` unwraps it.",
    bad=_project('[{"instruction": "hi", "input": "", "output": "hello"}, "hello"]\n'),
    good=_project(_ALPACA),
)


def wrapped_record(value: Any) -> Optional[dict]:
    """The one object a non-object sample wraps ([{...}], [[{...}]], [{...}, null, []]), else None: what a script
    that appends `[row]` instead of `row` writes, and what `lfgate fix` unwraps."""
    found: List[dict] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            found.append(item)
        elif isinstance(item, list):
            if len(found) + len(item) > 64:  # a table of rows, not one wrapped record
                return None
            pending.extend(item)
        elif item is not None:
            return None
        if len(found) > 1:
            return None
    return found[0] if found else None
EMPTY_DATASET = rule(
    "DF016", "empty-dataset", ERROR,
    "The dataset has no samples",
    why="An empty file raises `Instruction \"train\" corresponds to no data!` (or a schema inference error).",
    fix="Add samples, or remove the dataset from the config.",
    bad=_project("[]\n"),
    good=_project(_ALPACA),
)
TYPE_DRIFT = rule(
    "DF018", "type-drift", ERROR,
    "A field changes JSON type from one sample to another",
    why="Arrow needs one type per column: a string in one row and a number or list in another fails the whole "
        "load with `DatasetGenerationError` (the cause is only in the log).",
    fix="Give the field the same type in every sample (e.g. quote numbers, wrap single values in a list).",
    bad=_project('[{"instruction": "hi", "input": "", "output": "hello"},\n'
                 ' {"instruction": "hi", "input": "", "output": 5}]\n'),
    good=_project('[{"instruction": "hi", "input": "", "output": "hello"},\n'
                  ' {"instruction": "hi", "input": "", "output": "5"}]\n'),
)
LATE_COLUMN = rule(
    "DF024", "field-not-in-first-file", ERROR,
    "A field of a dataset folder first has a value in a later file",
    why="`datasets` fixes the columns and their types from the first file it reads (os.listdir order) and casts "
        "the others to them: a field the first file lacks, or holds only null in, fails the whole load with "
        "`DatasetGenerationCastError: All the data files must have the same columns` (or a cast error).",
    fix="Give the field a value of its type (e.g. an empty string) in at least one record of every file, or keep "
        "the dataset in one file.",
    bad={"data/dataset_info.json": '{"a": {"file_name": "parts"}}\n',
         "data/parts/x.jsonl": '{"instruction": "hi", "input": "", "output": "hello", "system": "be brief"}\n',
         "data/parts/y.jsonl": '{"instruction": "hi", "input": "", "output": "hello", "history": []}\n'},
    good={"data/dataset_info.json": '{"a": {"file_name": "parts"}}\n',
          "data/parts/x.jsonl": '{"instruction": "hi", "input": "", "output": "hello", "system": "be brief"}\n',
          "data/parts/y.jsonl": '{"instruction": "hi", "input": "", "output": "hello", "system": ""}\n'},
)
CSV_NESTED = rule(
    "DF019", "csv-cannot-nest", ERROR,
    "A sharegpt/openai or ranking dataset is stored as CSV",
    why="CSV cells are strings; message lists and chosen/rejected objects cannot come from a CSV "
        "(`TypeError: string indices must be integers`).",
    fix="Store the data as JSON or JSONL (`lfgate convert` turns tables into sharegpt/alpaca JSON).",
    bad={"data/dataset_info.json": '{"a": {"file_name": "a.csv", "formatting": "sharegpt"}}\n',
         "data/a.csv": "conversations\n\"[{'from': 'human', 'value': 'hi'}]\"\n"},
    good={"data/dataset_info.json": '{"a": {"file_name": "a.csv"}}\n',
          "data/a.csv": "instruction,input,output\nhi,,hello\n"},
)
TABULAR_UNREADABLE = rule(
    "DF020", "table-unreadable", ERROR,
    "A CSV, Parquet or Arrow file cannot be parsed",
    why="pandas/pyarrow raise while the datasets builder reads it.",
    fix="Re-export the file from its source; check quoting and column counts in a CSV.",
    bad={"data/dataset_info.json": '{"a": {"file_name": "a.parquet"}}\n', "data/a.parquet": "not parquet\n"},
    good={"data/dataset_info.json": '{"a": {"file_name": "a.csv"}}\n',
          "data/a.csv": "instruction,input,output\nhi,,hello\n"},
)
NONSTANDARD_NUMBER = rule(
    "DF021", "nan-or-infinity", WARNING,
    "A record holds NaN or Infinity",
    why="Not JSON; pyarrow and pandas accept them (as a float, or null), so a text field with NaN is not a string.",
    fix="Write null, or the text you meant, instead of NaN/Infinity.",
    bad=_project('[{"instruction": "hi", "input": "", "output": NaN}]\n'),
    good=_project(_ALPACA),
)

BIG_INTEGER = rule(
    "DF022", "integer-too-big", ERROR,
    "A JSON array file holds an integer beyond 64 bits",
    why="A JSON array is read through pandas (ujson), which raises `Value is too big!` and fails the load. (JSON "
        "Lines go through pyarrow, which turns the number into an imprecise float.)",
    fix="Store the number as a string, or write the file as JSON Lines.",
    bad=_project('[{"instruction": "hi", "input": "", "output": "hello", "id": 123456789012345678901234567890}]\n'),
    good=_project('[{"instruction": "hi", "input": "", "output": "hello", "id": "123456789012345678901234567890"}]\n'),
)

DUPLICATE_FIELD = rule(
    "DF023", "duplicate-field", ERROR,
    "A sample gives the same key twice",
    why="In JSON Lines pyarrow refuses it and the whole load fails (`Trailing data`); in a JSON array pandas keeps "
        "the last value silently (a warning there).",
    fix="Keep one of the two keys.",
    bad=_project('{"instruction": "hi", "instruction": "ho", "input": "", "output": "hello"}\n', "a.jsonl"),
    good=_project('{"instruction": "hi", "input": "", "output": "hello"}\n', "a.jsonl"),
)

# A Parquet file of 626 bytes (brotli) with one 65 MB instruction: lfgate reports it without decoding it.
_HUGE_CELL_PARQUET = base64.b64decode(
    "UEFSMRUEFYiAgEEV7gFMFQIVABIAAMv//z8ApAEIIMLEa4HU3v9Bzv//PwAkAOKwAHTv//j//weABEAcFoDu/R////8AkACIwwLQ"
    "vf/j//8fABIAcVgAuvd//P//A0ACIA4LQPf+j///fwBIAMRhAeje//H//w8ACYA4LADd+78cAIAAIAEQhwXge/8AFQAVEhUaLBUC"
    "FRAVBhUGHAAAABsIAAAkAQIEQpcAjmsVBBUIFRBMFQIVABIAAIsBgAAAAAADFQAVEhUaLBUCFRAVBhUGHAAAABsIAAAkAQIEQpcA"
    "jmsVBBUKFRJMFQIVABIAAAsCgAEAAABiAxUAFRIVGiwVAhUQFQYVBhwAAAAbCAAAJAECBEKXAI5rFQQZTDUAGAZzY2hlbWEVBgAV"
    "DCUCGAtpbnN0cnVjdGlvbiUATBwAAAAVDCUCGAVpbnB1dCUATBwAAAAVDCUCGAZvdXRwdXQlAEwcAAAAFgIZHBk8JgAcFQwZNQAG"
    "EBkYC2luc3RydWN0aW9uFQgWAhbkgIBBFtICJpoCJggpLBUEFQAVAgAVABUQFQIAPBaAgIBBGQYZJgACAAAAJgAcFQwZNQAGEBkY"
    "BWlucHV0FQgWAhZcFmwmhgMm2gIpLBUEFQAVAgAVABUQFQIAPBYAGQYZJgACAAAAJgAcFQwZNQAGEBkYBm91dHB1dBUIFgIWXhZu"
    "JvQDJsYDKSwVBBUAFQIAFQAVEBUCADwWAhkGGSYAAgAAABaegoBBFgImCBasBAAoIHBhcnF1ZXQtY3BwLWFycm93IHZlcnNpb24g"
    "MjYuMC4xGTwcAAAcAAAcAAAAUAEAAFBBUjE=")
OVER_CAP = rule(
    "DF040", "value-over-cap", ERROR,
    "Part of a data file was not checked: a value is over lfgate's cap per value",
    why="Every row of a CSV, Parquet or Arrow file is checked, in batches of bounded memory; what is capped is "
        "one value (64 MB: readers/tabular.py MAX_VALUE_BYTES): a Parquet or Arrow value over it is never made a "
        "Python value, a Parquet column chunk that holds more than that per row is never decoded, and no check "
        "runs over a CSV cell over it. LLaMA-Factory "
        "itself would load it, so what lfgate could not check is an error, never a pass: the gate does not vouch "
        "for data it has not read.",
    fix="Shorten or split what is that large (a whole document or an embedded file in one cell), or keep media "
        "as files named by path.",
    bad={"data/dataset_info.json": '{"a": {"file_name": "a.parquet"}}\n', "data/a.parquet": _HUGE_CELL_PARQUET},
    good={"data/dataset_info.json": '{"a": {"file_name": "a.csv"}}\n',
          "data/a.csv": "instruction,input,output\nhi,,hello\n"},
)
FORMAT_INFERRED = rule(
    "DF030", "format-inferred", INFO,
    "A data file no dataset_info.json names was checked with an inferred entry",
    why="Without a registry entry the columns and formatting are guessed from the first records; LLaMA-Factory "
        "itself needs the entry.",
    fix="Register the file (`lfgate register FILE`) so it is checked exactly as it will be trained.",
    target="data.json",
    bad={"data.json": '[{"instruction": "hi", "input": "", "output": "hello"}]\n'},
    good={"data/dataset_info.json": '{"a": {"file_name": "a.json"}}\n',
          "data/a.json": '[{"instruction": "hi", "input": "", "output": "hello"}]\n'},
)

_PROBLEM_RULES = {"nan": NONSTANDARD_NUMBER, "unreadable": UNREADABLE, "not-utf8": NOT_UTF8, "bom": BOM,
                  "invalid-json": INVALID_JSON, "too-deep": TOO_DEEP, "top-level": TOP_LEVEL, "not-object": NOT_OBJECT,
                  "tabular": TABULAR_UNREADABLE, "over-cap": OVER_CAP, "missing-extra": TABULAR_UNREADABLE}
_PROBLEM_FIX = {"nan": "write null or the text you meant", "unreadable": "fix the path or its permissions",
                "not-utf8": "re-save the file as UTF-8",
                "bom": "save it as UTF-8 without BOM", "invalid-json": "fix the JSON here",
                "too-deep": "flatten or remove this record", "top-level": "wrap the samples in a list [...] or "
                "write one object per line", "not-object": "make it an object (field -> value)",
                "tabular": "re-export the file",
                "over-cap": "split the file or shorten what is that large",
                "missing-extra": "then run lfgate again"}
# lfgate cannot read it here, but LLaMA-Factory's own environment may: a missing optional library (pip install).
_WARNING_KINDS = ("missing-extra",)


def problem_diagnostic(problem: Problem, dataset: Optional[str]):
    """A reader's Problem as a diagnostic of the matching rule."""
    rule_ = _PROBLEM_RULES.get(problem.kind, INVALID_JSON)
    severity = WARNING if (problem.kind == "bom" and problem.file.endswith(".txt")) or \
        problem.kind in _WARNING_KINDS else None
    return rule_.diag(f"{problem.message}; {_PROBLEM_FIX.get(problem.kind, 'fix the file')}", severity=severity,
                      file=problem.file, line=problem.line, column=problem.column, sample=problem.sample,
                      dataset=dataset)


# -- keys given twice -------------------------------------------------------------------------------------------------
def duplicate_key(record: Record, dataset: Optional[str]):
    """DF023 at the first key a record repeats (ColumnTracker.observe flags candidates), else None."""
    from lfgate.readers.jsonfile import Span, offset_place
    from lfgate.readers.jsonpos import find, position_map

    if record.raw is None or record.line is None or record.column is None:
        return None  # a record without its bytes (not JSON) repeats no key
    text = record.raw.decode("utf-8", "replace")
    places = position_map(text)
    if not places.duplicates:
        return None
    path, _ = places.duplicates[0]
    _, key_at = find(text, path)  # find() stops at the first occurrence: point at the repeat instead
    repeat = _nth_key_offset(text, path)
    line, column = offset_place(Span(0, 0, record.line, record.column, record.index), text,
                                repeat if repeat is not None else (key_at or 0))
    array = _is_array_file(record.file)
    consequence = ("pandas keeps the last value silently" if array else
                   "pyarrow refuses it and the whole load fails (`Trailing data`)")
    return DUPLICATE_FIELD.diag(f"key {dotted(path)!r} appears twice in this sample: {consequence}; keep one",
                                severity=WARNING if array else None, file=record.file, line=line,
                                column=column, sample=record.index, dataset=dataset)


def _nth_key_offset(text: str, path: tuple):
    """The offset of the second occurrence of path's key."""
    from lfgate.readers.jsonpos import walk

    seen = 0
    for p, key_at, _ in walk(text):
        if p == path and key_at is not None:
            seen += 1
            if seen == 2:
                return key_at
    return None


# -- integers pandas cannot hold ------------------------------------------------------------------------------------
_LONG_DIGITS = re.compile(rb"\d{19,}")
_INT_RANGE = (-(2 ** 63), 2 ** 64 - 1)  # what ujson (pandas.read_json) accepts


@functools.lru_cache(maxsize=64)
def _is_array_file(path: str) -> bool:
    from lfgate.readers.jsonfile import layout

    try:
        return layout(path) == "array"
    except OSError:
        return False


def big_integer(record: Record, dataset: Optional[str]):
    """DF022 for a record of a JSON array file holding an integer ujson refuses, else None. Cheap unless the
    record's bytes hold a run of 19+ digits."""
    # the file test first: it is cached per file, while the regex scan costs more than parsing the record
    if record.raw is None or not _is_array_file(record.file) or not _LONG_DIGITS.search(record.raw):
        return None
    import json

    try:
        value = json.loads(record.raw)  # exact integers, unlike orjson
    except (ValueError, RecursionError):
        return None
    stack: List[Tuple[tuple, Any]] = [((), value)]
    while stack:
        path, obj = stack.pop()
        if isinstance(obj, int) and not isinstance(obj, bool) and not _INT_RANGE[0] <= obj <= _INT_RANGE[1]:
            line, column = locate(record, path)
            return BIG_INTEGER.diag(f"{dotted(path) or 'the sample'} is an integer beyond 64 bits: pandas raises "
                                    "`Value is too big!` on JSON arrays; store it as a string", file=record.file,
                                    line=line, column=column, sample=record.index, dataset=dataset)
        if isinstance(obj, dict):
            stack.extend((path + (k,), v) for k, v in obj.items())
        elif isinstance(obj, list):
            stack.extend((path + (i,), v) for i, v in enumerate(obj))
    return None


# -- the path: file, folder, extension ------------------------------------------------------------------------
def resolve_files(entry) -> Tuple[Optional[List[str]], List]:
    """The files LLaMA-Factory would load for a file_name entry, in its order, and the path diagnostics.
    None when it cannot load them at all."""
    path = entry.local_path
    line, column = entry.place("file_name")
    where = {"file": entry.registry_path, "line": line, "column": column, "dataset": entry.name}
    out: List = []
    if not isinstance(path, str):
        return None, out
    shown = os.path.abspath(path)
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(entry.dataset_dir))
    # An absolute file_name is deliberate (shared cluster storage); a `../` escape is the accident.
    if not os.path.isabs(entry.source) and (rel == ".." or rel.startswith(".." + os.sep)):
        inside = in_project(os.path.realpath(path), entry)
        out.append(OUTSIDE_DATASET_DIR.diag(
            f"file_name {entry.source!r} resolves to {shown}, outside dataset_dir "
            f"{os.path.abspath(entry.dataset_dir)}" + ("" if not inside else " but inside the project: LLaMA-Factory "
                                                        "reads it (os.path.join), and so does lfgate")
            + "; move the data under dataset_dir to keep the project self-contained",
            severity=INFO if inside else None, **where))
    if "\0" in path:  # os.stat raises ValueError on it; LLaMA-Factory's os.path.isfile says "not found"
        out.append(FILE_NOT_FOUND.diag(f"file_name {entry.source!r} contains a NUL character: no file can have that "
                                       "name; fix file_name", **where))
        return None, out
    refused = _refused_link(path, entry, where)
    if refused is not None:
        out.append(refused)
        return None, out
    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            out.append(UNREADABLE.diag(f"{shown} is a symlink loop; replace it with the real file", **where))
        elif err.errno in (errno.ENOENT, errno.ENOTDIR):
            out.append(FILE_NOT_FOUND.diag(f"file_name {entry.source!r}: {shown} does not exist (LLaMA-Factory: "
                                           f"`File {path} not found.`); fix file_name or add the file", **where))
        else:
            out.append(UNREADABLE.diag(f"cannot open {shown}: {err.strerror}", **where))
        return None, out
    if os.path.isdir(path):
        try:
            files = folder_files(path)
        except OSError as err:
            out.append(UNREADABLE.diag(f"cannot list the folder {shown}: {err.strerror}", **where))
            return None, out
        if not files:
            out.append(MIXED_FOLDER.diag(f"the folder {shown} is empty: LLaMA-Factory raises IndexError; add data "
                                         "files to it", **where))
            return None, out
        first = builder(files[0])
        if first is None:
            first = next((builder(f) for f in files if builder(f)), None)
        odd = [f for f in files if builder(f) != first or first is None or os.path.isdir(f)]
        if odd:
            names = ", ".join(os.path.basename(f) + ("/" if os.path.isdir(f) else "") for f in sorted(odd)[:5])
            out.append(MIXED_FOLDER.diag(f"the folder {shown} mixes entries LLaMA-Factory cannot load together "
                                         f"({names}{', ...' if len(odd) > 5 else ''}); every entry is a data file to "
                                         "it. Move them out of the folder", **where))
            return None, out
        for member in files:
            refused = _refused_link(member, entry, where)
            if refused is not None:  # one member linked out of the project: the dataset cannot be checked
                out.append(refused)
                return None, out
        special = [f for f in files if not _regular(f)]
        if special:
            out.append(UNREADABLE.diag(f"{os.path.abspath(special[0])} is not a regular file (a pipe, device or "
                                       "socket); put real data files in the folder", **where))
            return None, out
        return files, out
    if not _regular(path):
        out.append(UNREADABLE.diag(f"{shown} is not a regular file (a pipe, device or socket); point file_name at "
                                   "a real data file", **where))
        return None, out
    if builder(path) is None:
        ext = extension(path)
        hint = (f"; rename it to .{ext.lower()}" if ext.lower() in FILEEXT2TYPE else "")
        out.append(BAD_EXTENSION.diag(f"{shown} has extension {('.' + ext) if ext else '(none)'!s}; LLaMA-Factory "
                                      f"loads only {_ALLOWED} (case-sensitive){hint}", **where))
        return None, out
    return [path], out


PSEUDO_FILE_SYSTEMS = ("/proc", "/sys", "/dev")


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def in_project(real: str, entry) -> bool:
    """Whether a real path lies in the checked project (entry.project, validator/engine.py) or dataset_dir."""
    return any(_under(real, root) for root in tuple(entry.project) + (os.path.realpath(entry.dataset_dir),))


def linked_out(path: str, entry) -> bool:
    """Whether reading path would read a file of this machine rather than of the project (_refused_link)."""
    return _refused_link(path, entry, {}) is not None


def _refused_link(path: str, entry, where: dict):
    """A diagnostic when path is never to be read as data: it lies in /proc, /sys or /dev (a symlink to
    /proc/self/environ would print the CI's secrets in a code frame), or it is reached through a symlink whose
    target leaves the checked project (DF005; its content is neither read nor shown). A link inside the project
    is read as the data it is, as LLaMA-Factory follows it. None otherwise."""
    real = os.path.realpath(path)
    if any(_under(real, top) for top in PSEUDO_FILE_SYSTEMS):
        return UNREADABLE.diag(f"file_name {entry.source!r} leads to {real}, a file of the operating system, not "
                               "data: lfgate never reads it; point file_name at a real data file", **where)
    if real == os.path.abspath(path) or in_project(real, entry) or not os.path.exists(real):
        return None
    shown = os.path.abspath(path)
    return OUTSIDE_DATASET_DIR.diag(f"{shown} is a symlink to a file outside the project ({real}): LLaMA-Factory "
                                    "reads it, but lfgate did not, so its content was not checked (nor shown); "
                                    "copy the data into the project, or check it where it lies", **where)


def _regular(path: str) -> bool:
    """A regular file (after symlinks): reading a FIFO or a device would block or never end."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def csv_shape_rule(entry, files: List[str]) -> List:
    if not any(builder(f) == "csv" for f in files):
        return []
    if entry.formatting in ("sharegpt", "openai") or (entry.ranking and entry.formatting != "alpaca"):
        line, column = entry.place("file_name")
        return [CSV_NESTED.diag(f"{entry.formatting} data cannot come from CSV: cells are strings, not message "
                                "lists; store the data as JSON/JSONL", file=entry.registry_path, line=line,
                                column=column, dataset=entry.name)]
    return []


# -- the Arrow table: one type per field (validator/arrow_types.py tracks it) -----------------------------------
class ColumnTracker(TypeTracker):
    """The type tracker with its findings (TYPE_DRIFT, LATE_COLUMN, TOO_DEEP), in sample order."""

    def findings(self, entry, files: List[str]) -> List:
        out = []
        for index, defect in self.defects(files):
            if defect[0] == "drift":
                out.append((index, _drift(entry, path=defect[1], node=defect[2])))
            elif defect[0] == "late":
                out.append((index, _late_column(entry, key=defect[1], ref=defect[2], first_file=files[0])))
            else:
                out.append((index, _too_deep(entry, ref=defect[1])))
        return [d for _, d in sorted(out, key=lambda pair: pair[0])]


def _too_deep(entry, ref):
    index, file, line, column, raw = ref
    if raw is not None:
        path = deep_path(load_raw(raw), ARROW_MAX_NESTING)
        if path is not None:
            line, column = locate(Record(index, None, file, line, column, raw), path)
    return TOO_DEEP.diag(f"sample {index} nests deeper than {ARROW_MAX_NESTING} levels: Arrow refuses the schema "
                         "(`Recursion level in ArrowSchema struct exceeded`); flatten it, e.g. store the deep part "
                         "as a JSON string", file=file, line=line, column=column, sample=index, dataset=entry.name)


def _late_column(entry, key: str, ref, first_file: str):
    index, file, line, column, raw = ref
    if raw is not None:
        line, column = locate(Record(index, None, file, line, column, raw), (key,))
    return LATE_COLUMN.diag(f"field {key!r} first has a value here, in {os.path.basename(file)}, but not in "
                            f"{os.path.basename(first_file)}, the first file LLaMA-Factory reads: datasets raises "
                            "DatasetGenerationCastError (new columns). Give it a value in a record of every file",
                            file=file, line=line, column=column, sample=index, dataset=entry.name)


def _quoted(kind: str) -> str:
    return '"5", not 5' if kind == "number" else '"true", not true'


def _drift(entry, path: tuple, node: Field):
    (first_kind, first), (kind, ref) = sorted(node.kinds.items(), key=lambda kv: kv[1][0])[:2]
    if first_kind in ("number", "boolean") and kind == "string" and first[1] == ref[1]:
        # A numeric spreadsheet cell among texts: the number is the odd one, and the fix is quoting it, not
        # "use one type (number)" for every text (one file: the folder case below has its own order).
        (first_kind, first), (kind, ref) = (kind, ref), (first_kind, first)
    index, file, line, column, raw = ref
    if raw is not None:
        concrete = concrete_path(raw, path, kind)
        if concrete is not None:
            line, column = locate(Record(index, None, file, line, column, raw), concrete)
    if file != first[1] and first_kind == "string" and kind in ("number", "boolean"):
        # Across the files of a folder, datasets casts later files to the first file's types: a number or bool
        # where the first file has a string loads as its text ("5", "true"), silently (checked against 0.9.5).
        return TYPE_DRIFT.diag(f"field {dotted(path)} is a {kind} here but a string in sample {first[0]} of "
                               f"{os.path.basename(first[1])}, the first file: datasets silently casts it to text; "
                               "quote it if text is meant", severity=Severity.WARNING,
                               file=file, line=line, column=column, sample=index, dataset=entry.name)
    advice = (f"make it a string ({_quoted(kind)})" if first_kind == "string" and kind in ("number", "boolean")
              else f"use one type ({first_kind}) in every sample")
    return TYPE_DRIFT.diag(f"field {dotted(path)} is a {kind} here but a {first_kind} in sample {first[0]}: Arrow "
                           f"cannot load mixed types; {advice}",
                           file=file, line=line, column=column, sample=index, dataset=entry.name)
