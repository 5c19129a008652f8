"""`lfgate convert`: tables in, alpaca/sharegpt out, filters counted, written safely, registered in place."""

import json

import pytest

from helpers import run_cli

pd = pytest.importorskip("pandas")


def convert(tmp_path, *argv):
    return run_cli("convert", *argv, cwd=tmp_path)


def removed(out: str) -> dict:
    """{filter: rows removed} from the report lines `  removed      N  WHAT`."""
    found = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] == "removed":
            found[parts[2]] = int(parts[1])
    return found


def leftovers(folder) -> list:
    return [p.name for p in folder.iterdir() if ".tmp" in p.name]


# -- xlsx and csv ----------------------------------------------------------------------------------
def test_xlsx_round_trip_keeps_text_exactly(tmp_path):
    pytest.importorskip("openpyxl")
    frame = pd.DataFrame({
        "question": ["天气怎么样？", "Zähle bis 3", "0042", "NA"],
        "answer": ["晴天 ☀️", "1, 2, 3", "leading zeros stay", "None"],
        "comment": ["", None, "x", "y"],
    })
    frame.to_excel(tmp_path / "sheet.xlsx", index=False, sheet_name="data")
    code, out, err = convert(tmp_path, "sheet.xlsx", "data/train.json", "--instruction", "Answer briefly.",
                             "--input", "question", "--output", "answer", "--sheet", "data")
    assert code == 0, err
    raw = (tmp_path / "data/train.json").read_bytes()
    assert "天气怎么样？".encode() in raw and b"\\u" not in raw  # UTF-8, non-ASCII kept as is
    records = json.loads(raw)
    assert records == [
        {"instruction": "Answer briefly.", "input": "天气怎么样？", "output": "晴天 ☀️"},
        {"instruction": "Answer briefly.", "input": "Zähle bis 3", "output": "1, 2, 3"},
        {"instruction": "Answer briefly.", "input": "0042", "output": "leading zeros stay"},
        {"instruction": "Answer briefly.", "input": "NA", "output": "None"},  # no NaN guessing on text cells
    ]
    assert "wrote 4 alpaca records to data/train.json" in out
    assert leftovers(tmp_path / "data") == []


def test_xlsx_unknown_sheet_is_a_usage_error(tmp_path):
    pytest.importorskip("openpyxl")
    pd.DataFrame({"q": ["a"], "a": ["b"]}).to_excel(tmp_path / "s.xlsx", index=False)
    code, _, err = convert(tmp_path, "s.xlsx", "out.json", "--input", "q", "--output", "a", "--sheet", "Nope")
    assert code == 2 and "no sheet 'Nope'" in err and "'Sheet1'" in err
    assert not (tmp_path / "out.json").exists()


def test_csv_with_chinese_text_to_jsonl(tmp_path):
    (tmp_path / "qa.csv").write_text(
        "问题,回答,系统\n"
        "你好,你好！有什么可以帮你？,你是一个助手\n"
        "\"多行\n问题\",\"第一行\n第二行\",你是一个助手\n",
        encoding="utf-8-sig")  # Excel writes a BOM; it must not end up in the first column's name
    code, out, err = convert(tmp_path, "qa.csv", "qa.jsonl", "--instruction", "问题", "--output", "回答",
                             "--system", "系统")
    assert code == 0, err
    lines = (tmp_path / "qa.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"instruction": "你好", "input": "", "output": "你好！有什么可以帮你？", "system": "你是一个助手"}'
    assert json.loads(lines[1]) == {"instruction": "多行\n问题", "input": "", "output": "第一行\n第二行",
                                    "system": "你是一个助手"}
    assert len(lines) == 2


def test_instruction_file_and_sharegpt_columns(tmp_path):
    (tmp_path / "prompt.txt").write_text("Reply in YAML.\nUse two spaces.\n", encoding="utf-8")
    (tmp_path / "t.csv").write_text("q,a\nhi,hello\n", encoding="utf-8")
    code, _, err = convert(tmp_path, "t.csv", "a.json", "--instruction-file", "prompt.txt", "--input", "q",
                           "--output", "a")
    assert code == 0, err
    assert json.loads((tmp_path / "a.json").read_text())[0]["instruction"] == "Reply in YAML.\nUse two spaces."
    code, _, err = convert(tmp_path, "t.csv", "s.json", "--user", "q", "--assistant", "a", "--system", "Be kind.")
    assert code == 0, err
    assert json.loads((tmp_path / "s.json").read_text()) == [
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}],
         "system": "Be kind."}]


def test_conversation_column_holding_openai_messages(tmp_path):
    rows = [{"chat": json.dumps([{"role": "system", "content": "S"}, {"role": "user", "content": "u"},
                                 {"role": "assistant", "content": "a"}])}]
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    code, _, err = convert(tmp_path, "c.csv", "c.json", "--conversation", "chat")
    assert code == 0, err
    assert json.loads((tmp_path / "c.json").read_text()) == [{"conversations": [
        {"from": "system", "value": "S"}, {"from": "human", "value": "u"}, {"from": "gpt", "value": "a"}]}]


def test_conversation_cell_with_unknown_role_names_the_row(tmp_path):
    rows = [{"chat": json.dumps([{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}])},
            {"chat": json.dumps([{"role": "user", "content": "u"}, {"role": "narrator", "content": "a"}])}]
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    code, _, err = convert(tmp_path, "c.csv", "c.json", "--conversation", "chat")
    assert code == 2 and "row 1: message 1 has role 'narrator'" in err
    assert not (tmp_path / "c.json").exists()


# -- filters ---------------------------------------------------------------------------------------
FILTER_ROWS = {
    "q": ["a", "b", "c", "d", "e", "f", "g"],
    "answer": ["```yaml\nk: 1\n```", "SKIP", "plain prose", "", "```yaml\nk: 1\n```", "```yaml\nk: 2\n```",
               "SKIP because"],
}


def _filter_table(tmp_path):
    frame = pd.DataFrame(FILTER_ROWS)
    frame.loc[4, "q"] = "a"  # row 4 becomes an exact duplicate of row 0
    frame.to_csv(tmp_path / "f.csv", index=False)


def test_where_or_with_empty_and_duplicate_counts(tmp_path):
    _filter_table(tmp_path)
    code, out, err = convert(tmp_path, "f.csv", "f.json", "--input", "q", "--output", "answer",
                             "--where", 'answer contains "```yaml" or answer startswith SKIP')
    assert code == 0, err
    assert removed(out) == {'--where answer contains "```yaml" or answer startswith SKIP': 2,
                            "empty response": 0, "exact duplicate": 1}
    kept = [r["input"] for r in json.loads((tmp_path / "f.json").read_text())]
    assert kept == ["a", "b", "f", "g"]


def test_repeated_where_all_must_hold_and_not(tmp_path):
    _filter_table(tmp_path)
    code, out, err = convert(tmp_path, "f.csv", "f.json", "--input", "q", "--output", "answer",
                             "--where", "answer not contains SKIP", "--where", "q matches ^[a-e]$",
                             "--keep-duplicates")
    assert code == 0, err
    assert removed(out) == {"--where answer not contains SKIP": 2, "--where q matches ^[a-e]$": 1,
                            "empty response": 1}
    assert [r["input"] for r in json.loads((tmp_path / "f.json").read_text())] == ["a", "c", "a"]


def test_and_binds_tighter_than_or(tmp_path):
    _filter_table(tmp_path)
    code, out, err = convert(tmp_path, "f.csv", "f.json", "--input", "q", "--output", "answer", "--keep-empty",
                             "--where", "q equals c or q equals f and answer contains 2")
    assert code == 0, err
    assert [r["input"] for r in json.loads((tmp_path / "f.json").read_text())] == ["c", "f"]


def test_where_with_unknown_column_suggests_one(tmp_path):
    _filter_table(tmp_path)
    code, _, err = convert(tmp_path, "f.csv", "f.json", "--input", "q", "--output", "answer",
                           "--where", "anwser contains x")
    assert code == 2 and "no column 'anwser'. Did you mean `answer`?" in err


def test_everything_filtered_writes_nothing(tmp_path):
    _filter_table(tmp_path)
    code, out, err = convert(tmp_path, "f.csv", "f.json", "--input", "q", "--output", "answer",
                             "--where", "answer contains NOTHING-MATCHES")
    assert code == 1 and "nothing to write" in err
    assert not (tmp_path / "f.json").exists()


# -- safety ----------------------------------------------------------------------------------------
def test_never_overwrites_without_force(tmp_path):
    (tmp_path / "t.csv").write_text("q,a\nhi,hello\n", encoding="utf-8")
    (tmp_path / "out.json").write_text("precious\n", encoding="utf-8")
    code, _, err = convert(tmp_path, "t.csv", "out.json", "--input", "q", "--output", "a")
    assert code == 2 and "exists; pass --force" in err
    assert (tmp_path / "out.json").read_text() == "precious\n"
    code, _, err = convert(tmp_path, "t.csv", "out.json", "--input", "q", "--output", "a", "--force")
    assert code == 0, err
    assert json.loads((tmp_path / "out.json").read_text())[0]["output"] == "hello"
    assert leftovers(tmp_path) == []


def test_mistyped_column_is_not_taken_as_text(tmp_path):
    (tmp_path / "t.csv").write_text("question,a\nhi,hello\n", encoding="utf-8")
    code, _, err = convert(tmp_path, "t.csv", "o.json", "--instruction", "questoin", "--output", "a")
    assert code == 2 and "is not a column. Did you mean `question`?" in err
    code, _, err = convert(tmp_path, "t.csv", "o.json", "--input", "question", "--output", "answer")
    assert code == 2 and "--output: no column 'answer'" in err


def test_output_is_checked_before_it_is_written(tmp_path):
    # A conversation ending on a user turn: LLaMA-Factory drops the sample ("Invalid message count"), so
    # nothing is written (and nothing registered).
    rows = [{"chat": json.dumps([{"from": "human", "value": "u"}, {"from": "gpt", "value": "a"}])},
            {"chat": json.dumps([{"from": "human", "value": "u"}, {"from": "gpt", "value": "a"},
                                 {"from": "human", "value": "again"}])}]
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    code, out, err = convert(tmp_path, "c.csv", "c.json", "--conversation", "chat", "--register")
    assert code == 1 and "not written: 1 error(s)" in err, out + err
    assert "sample 1" in out and "rows of c.csv (0-based, after the header): sample 1 = row 1" in out
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "dataset_info.json").exists()
    assert leftovers(tmp_path) == []


# -- --register ------------------------------------------------------------------------------------
def test_register_into_existing_registry_keeps_other_entries_byte_for_byte(tmp_path, corpus):
    registry = corpus / "data" / "dataset_info.json"
    before = registry.read_text(encoding="utf-8")
    (tmp_path / "t.csv").write_text("q,a,sys\nhi,hello,S\n", encoding="utf-8")
    code, out, err = convert(tmp_path, "t.csv", str(corpus / "data" / "mine.json"), "--input", "q",
                             "--output", "a", "--system", "sys", "--register", "my_data")
    assert code == 0, err
    assert "added entry 'my_data'" in out
    after = registry.read_text(encoding="utf-8")
    added = ',\n  "my_data": {\n    "file_name": "mine.json",\n    "columns": {\n      "prompt": "instruction",\n' \
            '      "query": "input",\n      "response": "output",\n      "system": "system"\n    }\n  }'
    assert after == before[:before.rindex("}")].rstrip() + added + before[len(before[:before.rindex("}")].rstrip()):]
    assert after.replace(added, "", 1) == before


def test_register_updates_only_the_touched_entry(tmp_path):
    registry = tmp_path / "dataset_info.json"
    before = ('{\n    "first": {"file_name": "a.json", "note": "\\u00e9"},\n'
              '    "mine": {\n        "file_name": "mine.json",\n        "num_samples": 10\n    },\n'
              '    "last": {\n        "file_name": "b.json"\n    }\n}\n')
    registry.write_text(before, encoding="utf-8")
    (tmp_path / "t.csv").write_text("q,a\nhi,hello\n", encoding="utf-8")
    code, out, err = convert(tmp_path, "t.csv", "mine.json", "--input", "q", "--output", "a", "--register",
                             "mine")
    assert code == 0, err
    # The entry already says all the inferred one says (num_samples, written by the user, is kept): no rewrite.
    assert "unchanged entry 'mine'" in out
    assert registry.read_text(encoding="utf-8") == before


def test_register_refuses_a_name_taken_by_another_file(tmp_path):
    registry = tmp_path / "dataset_info.json"
    registry.write_text('{"mine": {"file_name": "other.json"}}\n', encoding="utf-8")
    (tmp_path / "t.csv").write_text("q,a\nhi,hello\n", encoding="utf-8")
    code, _, err = convert(tmp_path, "t.csv", "mine.json", "--input", "q", "--output", "a", "--register", "mine")
    assert code == 2 and "already has an entry 'mine' for 'other.json'" in err
    assert not (tmp_path / "mine.json").exists()
    assert registry.read_text() == '{"mine": {"file_name": "other.json"}}\n'


def test_converted_and_registered_data_passes_check(tmp_path):
    from helpers import check_json

    (tmp_path / "data").mkdir()
    (tmp_path / "t.csv").write_text("q,a\n你好,你好！\nhow?,like this\n", encoding="utf-8")
    code, _, err = convert(tmp_path, "t.csv", "data/t.json", "--user", "q", "--assistant", "a", "--register")
    assert code == 0, err
    _, report = check_json("data", cwd=tmp_path)
    assert [d for d in report["diagnostics"] if d["severity"] == "error"] == []
    assert json.loads((tmp_path / "data/dataset_info.json").read_text()) == {
        "t": {"file_name": "t.json", "formatting": "sharegpt"}}


def test_json_and_parquet_inputs_keep_their_values(tmp_path):
    # pandas would read an int column with a null as floats (5 -> "5.0"); rows are read as they are.
    (tmp_path / "t.json").write_text('[{"q": "x", "a": 5}, {"q": "y", "a": null}, {"q": "z", "a": "ok"}]',
                                     encoding="utf-8")
    code, out, err = convert(tmp_path, "t.json", "o.json", "--input", "q", "--output", "a")
    assert code == 0, err
    assert [r["output"] for r in json.loads((tmp_path / "o.json").read_text())] == ["5", "ok"]
    assert removed(out)["empty response"] == 1
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = [{"chat": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "hi"}], "n": 1},
            {"chat": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "n": None}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")  # n: int64 with a null
    code, _, err = convert(tmp_path, "t.parquet", "o.jsonl", "--conversation", "chat", "--where", "n equals 1")
    assert code == 0, err
    assert (tmp_path / "o.jsonl").read_text(encoding="utf-8") == \
        '{"conversations": [{"from": "human", "value": "你好"}, {"from": "gpt", "value": "hi"}]}\n'


def test_commands_import_nothing_heavy_until_run():
    import subprocess
    import sys

    code = ("import sys; from lfgate.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('pandas', 'matplotlib', 'tokenizers', 'openpyxl', 'torch') if m in sys.modules]; "
            "print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_list_cell_in_a_text_column_names_the_row(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"q": "x", "a": "fine"}\n{"q": "y", "a": ["not", "text"]}\n',
                                      encoding="utf-8")
    code, _, err = convert(tmp_path, "t.jsonl", "o.json", "--input", "q", "--output", "a")
    assert code == 2 and "t.jsonl: row 1: column 'a' holds a list, not text" in err
    assert not (tmp_path / "o.json").exists()


def test_unreadable_registry_stops_before_anything_is_written(tmp_path):
    (tmp_path / "dataset_info.json").write_text('{"a": {"file_name": "a.json"},}\n', encoding="utf-8")
    (tmp_path / "t.csv").write_text("q,a\nhi,hello\n", encoding="utf-8")
    code, _, err = convert(tmp_path, "t.csv", "o.json", "--input", "q", "--output", "a", "--register")
    assert code == 2 and "dataset_info.json is not a JSON object" in err and "lfgate check" in err
    assert not (tmp_path / "o.json").exists()
    assert (tmp_path / "dataset_info.json").read_text() == '{"a": {"file_name": "a.json"},}\n'


@pytest.mark.parametrize("expr,kept", [
    ("a empty", [1, 3]),
    ("a not empty", [0, 2]),
    ("a != x", [1, 2, 3]),
    ("a endswith 'y z'", [2]),
    ("b == 1 or a empty and b == 2", [0, 1]),
])
def test_where_operators(expr, kept):
    from lfgate.tools.filters import parse_where

    rows = [{"a": "x", "b": 1}, {"a": "", "b": 2}, {"a": "x y z", "b": 3}, {"a": None, "b": None}]
    where = parse_where(expr, ["a", "b"])
    assert [i for i, row in enumerate(rows) if where(row)] == kept


@pytest.mark.parametrize("expr,message", [
    ("a", "expected COLUMN OPERATOR TEXT"),
    ("a has x", "unknown operator 'has'"),
    ("a matches (", "bad regular expression"),
    ("a contains x and", "a condition must follow 'and'"),
    ("a contains x b contains y", "expected 'and' or 'or' before 'b'"),
    ("a contains 'x", "No closing quotation"),
])
def test_where_errors_are_usage_errors(expr, message):
    from lfgate.errors import UsageError
    from lfgate.tools.filters import parse_where

    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        parse_where(expr, ["a", "b"])
