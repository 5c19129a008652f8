"""Streaming readers: records with exact positions, every format, hostile input as Problems (never a crash)."""

import json
import os
import time

import pytest
from hypothesis import given, settings, strategies as st

from lfgate.readers import Problem, Record, iter_records, jsonfile, locate
from lfgate.readers.jsonpos import position_map


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return str(path)


def _items(path):
    return list(iter_records(path))


def _records(path):
    return [i for i in iter_records(path) if isinstance(i, Record)]


def _problems(path):
    return [i for i in iter_records(path) if isinstance(i, Problem)]


# -- JSON arrays ----------------------------------------------------------------------------------------------
def test_array_records_with_positions(tmp_path):
    path = _write(tmp_path, "a.json", '[\n  {"a": "x]}\\"[", "b": [1, 2]},\n  {"a": "é", "c": {"d": "q"}}, 5, "s"\n]\n')
    got = [(r.index, r.value, r.line, r.column) for r in _records(path)]
    assert got == [(0, {"a": 'x]}"[', "b": [1, 2]}, 2, 3), (1, {"a": "é", "c": {"d": "q"}}, 3, 3),
                   (2, 5, 3, 32), (3, "s", 3, 35)]
    assert _problems(path) == []


def test_locate_nested_value_and_key(tmp_path):
    path = _write(tmp_path, "a.json", '[\n  {"a": "é", "c": {"d": "q"}},\n  {"m": [\n    {"from": "human"},\n'
                                      '    {"from": "bot"}\n  ]}\n]\n')
    first, second = _records(path)
    assert locate(first, ("c", "d")) == (2, 25)
    assert locate(first, ("c", "d"), key=True) == (2, 20)
    assert locate(first, ("c", "missing")) == (2, 19)  # deepest existing prefix
    assert locate(second, ("m", 1, "from")) == (5, 14)
    assert locate(second, ()) == (3, 3)


@pytest.mark.parametrize("text, message, line, column", [
    ('[{"a": 1} {"b": 2}]', "missing ','", 1, 11),
    ('[{"a": 1},]', "trailing comma", 1, 11),
    ('[{"a": 1}] x', "extra data", 1, 12),
    ('[{"a": 1},\n {"b": 2}', "not closed", 2, 10),
    ('[{"a": "x}]', "unterminated string", 1, 8),
    ('[{"a": 1},, {"b": 2}]', "unexpected ','", 1, 11),
])
def test_array_structure_problems(tmp_path, text, message, line, column):
    problems = _problems(_write(tmp_path, "a.json", text))
    assert problems and message in problems[0].message
    assert (problems[0].kind, problems[0].line, problems[0].column) == ("invalid-json", line, column)


def test_invalid_element_position_inside_record(tmp_path):
    path = _write(tmp_path, "a.json", '[\n  {"a": 1},\n  {"b": 2,\n   "c": tru}\n]\n')
    (problem,) = _problems(path)
    assert (problem.kind, problem.line, problem.column, problem.sample) == ("invalid-json", 4, 9, 1)


def test_top_level_object_is_one_record_and_a_problem(tmp_path):
    problem, record = _items(_write(tmp_path, "a.json", '{\n  "instruction": "hi",\n  "output": "x"\n}\n'))
    assert problem.kind == "top-level"
    assert (record.index, record.value, record.line, record.column) == (0, {"instruction": "hi", "output": "x"}, 1, 1)
    assert locate(record, ("output",)) == (3, 13)


def test_single_line_object_is_one_record(tmp_path):
    (record,) = _items(_write(tmp_path, "a.json", '{"instruction": "hi"}\n'))
    assert record.value == {"instruction": "hi"}


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
_INT = st.integers(-(2 ** 63), 2 ** 63 - 1)  # beyond 64 bits orjson (like pyarrow) gives a float
_VALUES = st.lists(st.one_of(
    st.dictionaries(st.text(max_size=5), st.one_of(_TEXT, _INT, st.none(),
                                                   st.lists(st.text(max_size=3), max_size=3),
                                                   st.dictionaries(_TEXT, _TEXT, max_size=2)), max_size=4),
    st.lists(_INT, max_size=3), _TEXT), max_size=12)


@settings(max_examples=80, deadline=None)
@given(values=_VALUES, indent=st.sampled_from([None, 1, 2, "lines"]), block=st.integers(1, 40))
def test_framing_matches_a_full_parse_for_any_block_size(values, indent, block, tmp_path_factory):
    """Whatever the layout and block size, each record's value and start position agree with a whole-document
    parse (one element per line and json.dump(indent=...) take the fast path, the rest the token walk)."""
    if indent == "lines":
        text = "[\n" + ",\n".join(json.dumps(v, ensure_ascii=False) for v in values) + "\n]\n"
    else:
        text = json.dumps(values, indent=indent, ensure_ascii=False)
    path = tmp_path_factory.mktemp("f") / "a.json"
    path.write_text(text, encoding="utf-8")
    old = jsonfile.BLOCK
    jsonfile.BLOCK = block
    try:
        items = _items(str(path))
    finally:
        jsonfile.BLOCK = old
    places = position_map(text)
    assert [i.value for i in items] == values
    assert [(i.line, i.column) for i in items] == [(places.get((n,)).line, places.get((n,)).column)
                                                   for n in range(len(values))]


# -- JSON Lines -----------------------------------------------------------------------------------------------
def test_jsonl_skips_blank_lines_and_places_each_record(tmp_path):
    path = _write(tmp_path, "a.jsonl", '{"a": 1}\n\n   \n  {"a": 2}\r\n{"a": 3}')
    assert [(r.index, r.value, r.line, r.column) for r in _records(path)] == [
        (0, {"a": 1}, 1, 1), (1, {"a": 2}, 4, 3), (2, {"a": 3}, 5, 1)]


def test_jsonl_bad_lines_keep_going(tmp_path):
    path = _write(tmp_path, "a.jsonl", b'{"a": 1}\n{"a": 2,\n{"x": "\xff"}\n{"a": 4}\n')
    items = _items(path)
    assert [type(i).__name__ for i in items] == ["Record", "Problem", "Problem", "Record"]
    assert (items[1].kind, items[1].line, items[1].sample) == ("invalid-json", 2, 1)
    assert (items[2].kind, items[2].line, items[2].column, items[2].sample) == ("not-utf8", 3, 8, 2)
    assert items[3].index == 3


def test_jsonl_holding_an_array_is_read_as_an_array(tmp_path):
    assert [r.value for r in _records(_write(tmp_path, "a.jsonl", '[{"a": 1},\n{"a": 2}]\n'))] == [{"a": 1}, {"a": 2}]


# -- hostile input --------------------------------------------------------------------------------------------
def test_bom_is_a_problem_in_an_array_but_not_in_json_lines(tmp_path):
    array = _items(_write(tmp_path, "a.json", b'\xef\xbb\xbf[{"a": 1}]'))
    assert array[0].kind == "bom" and array[1].value == {"a": 1}
    lines = _items(_write(tmp_path, "b.jsonl", b'\xef\xbb\xbf{"a": 1}\n'))
    assert [type(i).__name__ for i in lines] == ["Record"]


def test_nul_byte_is_invalid_json_at_its_place(tmp_path):
    (problem,) = _problems(_write(tmp_path, "a.jsonl", b'{"a": "x\x00y"}\n'))
    assert (problem.kind, problem.line, problem.column) == ("invalid-json", 1, 9)


def test_nan_is_read_like_pyarrow_and_flagged(tmp_path):
    items = _items(_write(tmp_path, "a.json", '[{"a": NaN, "b": -Infinity}]'))
    assert items[0].kind == "nan"
    assert items[1].value["b"] == float("-inf")


def test_very_deep_nesting_is_a_problem_not_a_crash(tmp_path):
    depth = 300_000
    items = _items(_write(tmp_path, "a.json", "[" + "[" * depth + "]" * depth + "]"))
    assert [i.kind for i in items] == ["too-deep"]
    items = _items(_write(tmp_path, "b.jsonl", "{\"a\": " + "[" * depth + "]" * depth + "}\n"))
    assert [i.kind for i in items] == ["too-deep"]


def test_huge_integer_is_read(tmp_path):
    (record,) = _records(_write(tmp_path, "a.jsonl", '{"a": 123456789012345678901234567890}\n'))
    assert record.value["a"] == pytest.approx(1.2345678901234568e29)


def test_twenty_megabyte_line_is_fast(tmp_path):
    big = "x" * (20 << 20)
    path = _write(tmp_path, "a.json", '[{"a": "' + big + '"}, {"b": 1}]')
    start = time.perf_counter()
    records = _records(path)
    assert len(records) == 2 and records[1].column == 20 * (1 << 20) + 13
    assert time.perf_counter() - start < 20


def test_unreadable_file_is_a_problem(tmp_path):
    (problem,) = _items(str(tmp_path / "missing.json"))
    assert problem.kind == "unreadable"


# -- other formats --------------------------------------------------------------------------------------------
def test_text_lines_blank_lines_and_bad_bytes(tmp_path):
    items = _items(_write(tmp_path, "a.txt", b"one\n\nthree\nf\xc3\x28our\n"))
    assert [(i.value, i.line) for i in items[:3]] == [({"text": "one"}, 1), ({"text": ""}, 2), ({"text": "three"}, 3)]
    assert (items[3].kind, items[3].line, items[3].column) == ("not-utf8", 4, 2)


def test_csv_rows_with_line_numbers(tmp_path):
    path = _write(tmp_path, "a.csv", 'instruction,input,output\nhi,,"multi\nline"\nyo,1,x\n')
    records = _records(path)
    assert [(r.value, r.line) for r in records] == [
        ({"instruction": "hi", "input": None, "output": "multi\nline"}, 2),
        ({"instruction": "yo", "input": 1, "output": "x"}, 4)]


def test_parquet_and_arrow(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"instruction": ["a", "b"], "output": ["c", "d"]})
    pq.write_table(table, str(tmp_path / "a.parquet"))
    with pa.OSFile(str(tmp_path / "a.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    for name in ("a.parquet", "a.arrow"):
        assert [r.value for r in _records(str(tmp_path / name))] == table.to_pylist()
    assert _problems(_write(tmp_path, "bad.parquet", "nope"))[0].kind == "tabular"


def test_folder_indexes_run_on_in_listdir_order(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "1.json").write_text('[{"a": 1}, {"a": 2}]')
    (folder / "2.jsonl").write_text('{"a": 3}\n')
    records = _records(str(folder))
    order = [n for n in os.listdir(folder)]
    expected = {"1.json": [1, 2], "2.jsonl": [3]}
    assert [r.value["a"] for r in records] == [v for n in order for v in expected[n]]
    assert [r.index for r in records] == [0, 1, 2]


def test_reading_never_imports_pandas_for_json(tmp_path):
    import subprocess
    import sys

    path = _write(tmp_path, "a.json", '[{"a": 1}]')
    code = (f"import sys; from lfgate.readers import iter_records; list(iter_records({str(path)!r})); "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


_JSONISH = st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b",", b":", b" ", b"\n", b"1", b"a",
                                     b"null", b"\xff", b"\x00", b"\xef\xbb\xbf", b'"k"', b"NaN"]), max_size=60)


@settings(max_examples=150, deadline=None)
@given(chunks=_JSONISH, name=st.sampled_from(["a.json", "a.jsonl", "a.txt"]), block=st.integers(1, 16))
def test_any_bytes_give_records_or_problems_never_an_exception(chunks, name, block, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(b"".join(chunks))
    old = jsonfile.BLOCK
    jsonfile.BLOCK = block
    try:
        items = list(iter_records(str(path)))
    finally:
        jsonfile.BLOCK = old
    assert all(isinstance(i, (Record, Problem)) for i in items)
    indexes = [i.index for i in items if isinstance(i, Record)]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    for item in items:
        if isinstance(item, Record) and item.raw is not None:
            assert locate(item, ("x", 0)) is not None
