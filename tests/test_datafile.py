"""Data-file rules (DF) at exact places, the streaming dataset scan, and the parallel path = the serial path."""

import json
import os
import subprocess
import sys

import pytest

from helpers import check_json, find
from lfgate.settings import Settings
from lfgate.validator import datasets
from lfgate.validator.engine import run_check

ALPACA = '[{"instruction": "hi", "input": "", "output": "hello"}]\n'


def _project(project, data, name="a.json", entry=None):
    registry = {"a": entry or {"file_name": name}}
    files = {"data/dataset_info.json": json.dumps(registry)}
    if data is not None:
        files["data/" + name] = data
    return project(files)


def _report(root, *args):
    return check_json(".", *args, cwd=root)[1]


def _one(report, code):
    found = find(report, code)
    assert len(found) == 1, report["diagnostics"]
    return found[0]


# -- the path ---------------------------------------------------------------------------------------------------
def test_missing_file_names_the_full_path_at_file_name(project):
    root = _project(project, None, "nope.json")
    d = _one(_report(root), "DF001")
    # the full path, written relative to the project in a report (issue 21: no machine paths)
    assert "data/nope.json does not exist" in d["message"] and str(root) not in d["message"]
    assert (d["file"], d["line"], d["column"], d["dataset"]) == ("data/dataset_info.json", 1, 21, "a")


@pytest.mark.parametrize("name, hint", [("a.JSON", "rename it to .json"), ("a", "(none)"), ("a.yaml", "loads only")])
def test_extension_is_case_sensitive(project, name, hint):
    d = _one(_report(_project(project, ALPACA, name)), "DF002")
    assert hint in d["message"]


def test_folder_rules(project, tmp_path):
    root = project({"data/dataset_info.json": json.dumps({"a": {"file_name": "parts"}, "e": {"file_name": "empty"},
                                                          "h": {"file_name": "hidden"}}),
                    "data/parts/1.json": ALPACA, "data/parts/sub/2.json": ALPACA,
                    "data/hidden/1.json": ALPACA, "data/hidden/.DS_Store": "x"})
    (root / "data" / "empty").mkdir()
    found = {d["dataset"]: d["message"] for d in find(_report(root), "DF004")}
    assert "sub/" in found["a"] and "empty" in found["e"] and ".DS_Store" in found["h"]


def test_json_and_jsonl_may_share_a_folder(project):
    root = project({"data/dataset_info.json": '{"a": {"file_name": "parts"}}', "data/parts/1.json": ALPACA,
                    "data/parts/2.jsonl": '{"instruction": "a", "input": "", "output": "b"}\n'})
    report = _report(root)
    assert not [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert report["summary"]["samples"] == 2


def test_a_dotdot_file_name_is_an_info_inside_the_project_and_a_warning_out_of_it(project):
    root = project({"data/dataset_info.json": '{"a": {"file_name": "../a.json"}}', "a.json": ALPACA})
    inside = _one(_report(root), "DF005")  # the project checked: the folder that holds data/ and a.json
    assert inside["severity"] == "info" and inside["dataset"] == "a" and "inside the project" in inside["message"]
    report = check_json("data", cwd=root)[1]  # only data/ is the project now: a.json lies outside it
    outside = _one(report, "DF005")
    assert outside["severity"] == "warning" and "inside the project" not in outside["message"]
    assert report["summary"]["samples"] == 1  # not a link: LLaMA-Factory reads it, and so does lfgate


def test_symlink_loop(project):
    root = _project(project, None, "loop.json")
    os.symlink("loop.json", root / "data" / "loop.json")
    assert "symlink loop" in _one(_report(root), "DF006")["message"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_pipe_is_not_read(project):
    root = _project(project, None, "pipe.json")
    os.mkfifo(root / "data" / "pipe.json")
    assert "not a regular file" in _one(_report(root), "DF006")["message"]
    code, _ = check_json("data/pipe.json", cwd=root)  # named directly: reported, never opened (it would block)
    assert code == 1


# -- decoding and syntax ------------------------------------------------------------------------------------------
def test_invalid_jsonl_line_position(project):
    data = '{"instruction": "a", "input": "", "output": "b"}\n{"instruction": "a", "input": "" "output": "b"}\n'
    d = _one(_report(_project(project, data, "a.jsonl")), "DF010")
    assert (d["file"], d["line"], d["column"], d["sample"]) == ("data/a.jsonl", 2, 34, 1)


def test_not_utf8_position(project):
    data = b'[{"instruction": "caf\xe9", "input": "", "output": "x"}]'
    d = _one(_report(_project(project, data)), "DF011")
    assert (d["line"], d["column"], d["sample"]) == (1, 22, 0)


def test_bom(project):
    assert _one(_report(_project(project, b"\xef\xbb\xbf" + ALPACA.encode())), "DF012")["severity"] == "error"
    root = _project(project, "\ufeffhello\n", "a.txt", {"file_name": "a.txt", "columns": {"prompt": "text"}})
    assert _one(_report(root), "DF012")["severity"] == "warning"
    jsonl = _project(project, b'\xef\xbb\xbf{"instruction": "a", "input": "", "output": "b"}\n', "b.jsonl")
    assert not find(_report(jsonl), "DF012")


def test_deep_nesting_top_level_and_non_objects(project):
    deep = _one(_report(_project(project, '[{"a": ' + "[" * 5000 + "]" * 5000 + "}]")), "DF013")
    assert deep["sample"] == 0
    report = _report(_project(project, '{\n  "instruction": "hi", "input": "", "output": "x"\n}\n'))
    top = _one(report, "DF014")
    assert (top["severity"], top["line"], top["column"]) == ("warning", 1, 1) and report["summary"]["samples"] == 1
    d = _one(_report(_project(project, '[{"instruction": "hi", "input": "", "output": "x"},\n "hello"]')), "DF015")
    assert (d["line"], d["column"], d["sample"]) == (2, 2, 1)


@pytest.mark.parametrize("data, name", [("[]", "a.json"), ("", "a.jsonl"), ("\n\n", "a.jsonl")])
def test_empty_dataset(project, data, name):
    d = _one(_report(_project(project, data, name)), "DF016")
    assert d["file"] == "data/dataset_info.json" and d["dataset"] == "a"


def test_broken_file_is_not_also_reported_empty(project):
    report = _report(_project(project, "[{"))
    assert find(report, "DF010") and not find(report, "DF016")


# -- Arrow types ---------------------------------------------------------------------------------------------------
def test_type_drift_points_at_the_first_differing_value(project):
    data = ('[{"instruction": "a", "input": "", "output": "b"},\n'
            ' {"instruction": "a", "input": null, "output": "c"},\n'
            ' {"instruction": "a", "input": "", "output": 1.5},\n'
            ' {"instruction": "a", "input": "", "output": ["x"]}]\n')
    d = _one(_report(_project(project, data)), "DF018")
    assert (d["line"], d["column"], d["sample"]) == (3, 46, 2)
    assert "output" in d["message"] and "number" in d["message"] and "string" in d["message"]


def test_type_drift_inside_messages(project):
    rows = [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]} for _ in range(3)]
    rows[2]["conversations"][1]["value"] = ["yo"]
    data = "\n".join(json.dumps(r) for r in rows) + "\n"
    root = _project(project, data, "a.jsonl", {"file_name": "a.jsonl", "formatting": "sharegpt"})
    d = _one(_report(root), "DF018")
    assert "conversations[].value is a list" in d["message"]
    assert (d["line"], d["column"], d["sample"]) == (3, 79, 2)


def test_numbers_unify_and_nulls_do_not_count(project):
    data = '[{"instruction": "a", "input": "", "output": "b", "n": 1}, {"instruction": "a", "input": null, ' \
           '"output": "b", "n": 2.5}]'
    assert not find(_report(_project(project, data)), "DF018")


def test_csv_cannot_hold_sharegpt(project):
    root = _project(project, "conversations\nx\n", "a.csv", {"file_name": "a.csv", "formatting": "sharegpt"})
    assert _one(_report(root), "DF019")["dataset"] == "a"


def test_unreadable_parquet(project):
    assert _one(_report(_project(project, "not parquet", "a.parquet")), "DF020")["file"] == "data/a.parquet"


def test_nan_is_a_warning_at_its_record(project):
    d = _one(_report(_project(project, '[{"instruction": "a", "input": "", "output": "b"},\n {"x": NaN}]')), "DF021")
    assert (d["severity"], d["line"], d["sample"]) == ("warning", 2, 1)


def test_unregistered_file_is_checked_with_an_inferred_entry(project):
    root = project({"loose.json": ALPACA})
    report = check_json("loose.json", cwd=root)[1]
    assert _one(report, "DF030")["file"] == "loose.json"
    assert report["summary"]["samples"] == 1


def test_samples_are_counted_and_num_samples_recorded(project):
    root = _project(project, ALPACA.replace("]", ', {"instruction": "b", "input": "", "output": "c"}]'),
                    entry={"file_name": "a.json", "num_samples": 7})
    registry = __import__("lfgate.validator.dataset_info", fromlist=["x"]).load_registry(
        str(root / "data" / "dataset_info.json"), Settings())
    result = datasets.check_entry(registry.entries["a"], datasets.DatasetUsage(), Settings(workers=1))
    assert result.samples == 2 and result.facts.rows == 2 and result.facts.effective_samples == 7


# -- parallel = serial --------------------------------------------------------------------------------------------
def _defective_sharegpt(n):
    lines = []
    for i in range(n):
        row = {"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": "a" * (i % 50)}]}
        if i % 97 == 13:
            row["conversations"][1]["from"] = "bot"
        if i == 700:
            row["conversations"][0]["value"] = 7
        text = json.dumps(row)
        lines.append(text.replace(": ", ": : ", 1) if i == 555 else text)  # broken, brackets balanced
    return lines


@pytest.mark.parametrize("layout", ["a.jsonl", "a.json"])
def test_parallel_scan_gives_the_serial_report(project, monkeypatch, layout):
    lines = _defective_sharegpt(1500)
    data = "\n".join(lines) + "\n" if layout.endswith("l") else "[\n" + ",\n".join(lines) + "\n]\n"
    root = _project(project, data, layout, {"file_name": layout, "formatting": "sharegpt"})
    monkeypatch.setattr(datasets, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(datasets, "PARALLEL_MIN_BYTES", 1)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        serial = run_check(["."], Settings(workers=1))
        parallel = run_check(["."], Settings(workers=2))
    finally:
        os.chdir(cwd)
    assert [d.to_dict() for d in parallel.sorted()] == [d.to_dict() for d in serial.sorted()]
    assert parallel.samples == serial.samples
    codes = {d.code for d in serial.diagnostics}
    assert {"DF010", "DF018"} <= codes
    drift = [d for d in serial.diagnostics if d.code == "DF018"]
    assert [d.sample for d in drift] == [700]


def test_lint_path_imports_no_heavy_modules(project):
    root = _project(project, ALPACA)
    code = ("import sys; from lfgate.validator.engine import run_check; run_check(['.']); "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'torch', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_syntax_errors_are_capped(project, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_SYNTAX_ERRORS", 5)
    data = "".join('{"instruction": "a",\n' for _ in range(20))
    report = _report(_project(project, data, "a.jsonl"))
    errors = find(report, "DF010")
    assert len(errors) == 6 and sorted(d["line"] for d in errors if d["line"]) == [1, 2, 3, 4, 5]
    assert any("15 more syntax errors" in d["message"] for d in errors)


@pytest.mark.parametrize("levels, fails", [(62, False), (63, True)])
def test_arrow_nesting_limit(project, levels, fails):
    """Observed with LLaMA-Factory 0.9.5: a field of 62 nested lists loads (63 levels with the record), 63 fail."""
    record = '{"instruction": "hi", "input": "", "output": "x", "deep": ' + "[" * levels + "]" * levels + "}"
    found = find(_report(_project(project, '{"instruction": "a", "input": "", "output": "b"}\n' + record + "\n",
                                  "a.jsonl")), "DF013")
    assert [(d["sample"], d["line"], d["column"]) for d in found] == ([(1, 2, 121)] if fails else [])


def test_duplicate_keys(project):
    data = ('{"instruction": "say \\":\\" twice", "input": "", "output": "x", "m": {"k": "a\\":"}}\n'
            '{"instruction": "hi", "input": "", "output": "x", "m": {"k": 1, "k": 2}}\n')
    d = _one(_report(_project(project, data, "a.jsonl")), "DF023")
    assert (d["severity"], d["line"], d["column"], d["sample"]) == ("error", 2, 65, 1) and "'m.k'" in d["message"]
    array = _one(_report(_project(project, '[{"instruction": "hi", "instruction": "ho", "input": "", "output": "x"}]',
                                  "b.json")), "DF023")
    assert (array["severity"], array["column"]) == ("warning", 24)


def test_path_rules_point_at_file_name(project):
    registry = {"ext": {"file_name": "a.JSONL"}, "dir": {"file_name": "mixed"}, "out": {"file_name": "../o.json"},
                "empty": {"file_name": "e.json"}, "csv": {"file_name": "c.csv", "formatting": "sharegpt"}}
    text = json.dumps(registry, indent=1)
    root = project({"data/dataset_info.json": text, "data/a.JSONL": "{}\n", "data/mixed/1.json": ALPACA,
                    "data/mixed/notes.txt": "x\n", "o.json": ALPACA, "data/e.json": "[]", "data/c.csv": "a\nb\n"})
    report = _report(root)

    def where(value):
        offset = text.index(json.dumps(value))
        return 1 + text.count("\n", 0, offset), offset - text.rfind("\n", 0, offset)

    expected = {("DF002", "ext"): where("a.JSONL"), ("DF004", "dir"): where("mixed"),
                ("DF005", "out"): where("../o.json"), ("DF016", "empty"): where("e.json"),
                ("DF019", "csv"): where("c.csv")}
    got = {(d["code"], d["dataset"]): (d["line"], d["column"]) for d in report["diagnostics"]
           if d["file"] == "data/dataset_info.json"}
    for key, place in expected.items():
        assert got.get(key) == place, (key, got.get(key), place)
