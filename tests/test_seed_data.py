"""The data the seed article's pandas script writes (issue 25 §1): what `check` says and `fix` repairs."""

import json

import pandas as pd

from conftest import write_project
from helpers import check_json, run_cli
from lfgate.validator.datafile import wrapped_record


def _article_records(n=299):
    # The article's loop: `c.append([{...}])`, so every record is a one-element list around a correct object.
    frame = pd.DataFrame({"instruction": [f"抽取第{i}份ESG报告的指标" for i in range(n)],
                          "output": [f"排放量：{i}吨" for i in range(n)]})
    c = []
    for _, row in frame.iterrows():
        c.append([{"instruction": row["instruction"], "input": "", "output": row["output"]}])
    return c


def _project(tmp_path, records):
    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"esg": {"file_name": "esg.json"}}),
                             "data/esg.json": json.dumps(records, ensure_ascii=False, indent=2)})


def test_fix_unwraps_records_the_article_wrapped_in_lists(tmp_path):
    records = _article_records()
    _project(tmp_path, records)
    code, out, err = run_cli("fix", "data/esg.json", "--format", "json", cwd=tmp_path)
    assert code == 0, err
    fixed = json.loads((tmp_path / "data" / "esg.fixed.json").read_text(encoding="utf-8"))
    assert fixed == [r[0] for r in records]  # all 299 kept, unwrapped, not deleted
    code, report = check_json("data/esg.fixed.json", cwd=tmp_path)
    assert not [d for d in report["diagnostics"] if d["file"].endswith("esg.fixed.json") and d["severity"] == "error"]


def test_check_and_fix_name_the_wrapping_with_one_rule(tmp_path):
    _project(tmp_path, [[{"instruction": "a", "input": "", "output": "b"}], 5])
    _, report = check_json(".", cwd=tmp_path)
    found = {(d["code"], d["sample"]) for d in report["diagnostics"] if d["file"].endswith("esg.json")}
    assert found == {("DF015", 0), ("DF015", 1)}
    [wrapped] = [d for d in report["diagnostics"] if d["sample"] == 0]
    assert "lfgate fix" in wrapped["message"]
    code, out, err = run_cli("fix", "data/esg.json", cwd=tmp_path)
    assert code == 0, err
    assert "sample 0: changed [DF015] unwrapped" in out and "sample 1: removed [DF015]" in out
    assert json.loads((tmp_path / "data" / "esg.fixed.json").read_text()) == [
        {"instruction": "a", "input": "", "output": "b"}]


def test_only_a_wrapping_of_exactly_one_object_is_unwrapped():
    record = {"instruction": "a", "output": "b"}
    assert wrapped_record([record]) == record
    assert wrapped_record([[record]]) == record
    assert wrapped_record([record, None, []]) == record
    assert wrapped_record([record, record]) is None  # two records in one: which one is meant is not known
    assert wrapped_record([record, "text"]) is None
    assert wrapped_record([]) is None and wrapped_record("text") is None


def test_one_numeric_output_cell_is_told_to_become_a_string(tmp_path):
    # A spreadsheet column of texts with one cell Excel kept as a number, first or not.
    for rows in ([5, "d", "e"], ["d", 5, "e"]):
        _project(tmp_path, [{"instruction": "q", "input": "", "output": o} for o in rows])
        _, report = check_json(".", cwd=tmp_path)
        [drift] = [d for d in report["diagnostics"] if d["code"] == "DF018"]
        assert drift["sample"] == rows.index(5), drift
        assert 'make it a string ("5", not 5)' in drift["message"] and "use one type (number)" not in drift["message"]


def test_register_points_a_spreadsheet_at_convert(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dataset_info.json").write_text("{}")
    pd.DataFrame({"问题": [f"q{i}" for i in range(320)], "答案": [f"a{i}" for i in range(320)]}).to_excel(
        tmp_path / "data" / "esg.xlsx", index=False)
    code, out, err = run_cli("register", "data/esg.xlsx", cwd=tmp_path)
    assert code == 2 and "holds no records" not in err
    assert "320 rows" in err and "lfgate convert data/esg.xlsx data/esg.json --instruction '问题' --output '答案'" in err
    assert json.loads((tmp_path / "data" / "dataset_info.json").read_text()) == {}


def test_convert_lists_each_row_it_removed_and_why(tmp_path):
    pd.DataFrame({"问题": ["a", "b", "c", "a", "e"], "答案": ["x", "  ", "z", "x", "w"]}).to_excel(
        tmp_path / "esg.xlsx", index=False)
    code, out, err = run_cli("convert", "esg.xlsx", "esg.json", "--instruction", "问题", "--output", "答案",
                             "--where", '问题 != "e"', cwd=tmp_path)
    assert code == 0, err
    listed = out[out.index("rows removed"):].splitlines()[1:4]
    assert [line.strip() for line in listed] == ["row 1: empty response (blank or white space only)",
                                                 "row 3: exact duplicate of row 0",
                                                 'row 4: not matched by --where 问题 != "e"']


def test_fix_of_an_unregistered_wrapped_file_judges_the_copy_by_the_unwrapped_records(tmp_path):
    """No registry yet (the article registers after writing): the entry is inferred from the objects the lists wrap,
    so the fixed copy is judged as alpaca with its output, not by a guess that has no response column."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "esg.json").write_text(json.dumps(_article_records(30), ensure_ascii=False))
    code, out, err = run_cli("fix", "data/esg.json", cwd=tmp_path)
    assert code == 0, err
    assert "30 records kept, 0 removed, 30 changed" in out and "still an error" not in out + err
    _, report = check_json("data/esg.json", cwd=tmp_path)
    assert {d["code"] for d in report["diagnostics"] if d["severity"] == "error"} == {"DF015"}


def test_register_of_a_wrapped_file_points_at_fix(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "esg.json").write_text(json.dumps(_article_records(5), ensure_ascii=False))
    code, out, err = run_cli("register", "data/esg.json", cwd=tmp_path)
    assert code == 1
    assert "a list around one record" in err and "`lfgate fix`" in err and "DF015" in err
    assert not (tmp_path / "data" / "dataset_info.json").exists()
