"""`lfgate fix`: a corrected copy without the records LLaMA-Factory drops or crashes on, and a report."""

import json
import os

from conftest import write_project
from helpers import check_json, run_cli

_RECORDS = [
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
    {"conversations": [{"from": "human ", "value": "Hi"}, {"from": "gtp", "value": "Hello"}]},  # repaired
    {"conversations": [{"from": "human", "value": "Hi"}]},  # DS204: odd number of messages
    {"conversations": [{"from": "gpt", "value": "Hi"}, {"from": "human", "value": "Hello"}]},  # DS202: order
    {"conversations": "oops"},  # DS205: crashes LLaMA-Factory's converter
    {"conversations": [{"from": "robot", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},  # no close tag
]


def _project(tmp_path, data_name="chat.json", text=None):
    text = text if text is not None else json.dumps(_RECORDS, indent=1)
    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"chat": {"file_name": data_name,
                                                                             "formatting": "sharegpt"}}),
                             f"data/{data_name}": text})
    return text


def test_fix_removes_what_llamafactory_drops_repairs_roles_and_reports_each(tmp_path):
    original = _project(tmp_path)
    code, out, err = run_cli("fix", "data/chat.json", "--format", "json", cwd=tmp_path)
    assert code == 0, err
    report = json.loads(out)
    assert report["output"] == "data/chat.fixed.json" and report["kept"] == 2 and report["removed"] == 4
    actions = {c["sample"]: (c["action"], c["code"]) for c in report["changes"]}
    assert actions == {1: ("changed", "DS-fix"), 2: ("removed", "DS204"), 3: ("removed", "DS202"),
                       4: ("removed", "DS205"), 5: ("removed", "DS201")}
    assert (tmp_path / "data/chat.json").read_text() == original  # the original is never touched
    fixed = json.loads((tmp_path / "data/chat.fixed.json").read_text())
    assert fixed[1]["conversations"][0]["from"] == "human" and fixed[1]["conversations"][1]["from"] == "gpt"
    # the copy, registered in place of the original, passes `check`
    (tmp_path / "data/chat.json").write_text((tmp_path / "data/chat.fixed.json").read_text())
    os.remove(tmp_path / "data/chat.fixed.json")
    code, report = check_json("data", cwd=tmp_path)
    assert code == 0, report["diagnostics"]


def test_fix_writes_jsonl_and_leaves_no_temp_file(tmp_path):
    _project(tmp_path, "chat.jsonl", "".join(json.dumps(r) + "\n" for r in _RECORDS) + "{broken\n")
    code, out, err = run_cli("fix", "data/chat.jsonl", "-o", "data/clean.jsonl", cwd=tmp_path)
    assert code == 0, err
    lines = (tmp_path / "data/clean.jsonl").read_text().splitlines()
    assert len(lines) == 2 and "sample 6: removed [DF010]" in out
    assert sorted(os.listdir(tmp_path / "data")) == ["chat.jsonl", "clean.jsonl", "dataset_info.json"]


def test_fix_never_overwrites_without_force(tmp_path):
    _project(tmp_path)
    (tmp_path / "data/chat.fixed.json").write_text("keep me")
    code, _, err = run_cli("fix", "data/chat.json", cwd=tmp_path)
    assert code == 2 and "--force" in err and (tmp_path / "data/chat.fixed.json").read_text() == "keep me"
    code, _, err = run_cli("fix", "data/chat.json", "-o", "data/chat.json", cwd=tmp_path)
    assert code == 2 and (tmp_path / "data/chat.json").read_text().startswith("[")
    assert run_cli("fix", "data/chat.json", "--force", cwd=tmp_path)[0] == 0


def test_unregistered_file_uses_the_inferred_entry(tmp_path):
    write_project(tmp_path, {"d.json": json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "c"}])})
    code, out, err = run_cli("fix", "d.json", "--format", "json", cwd=tmp_path)
    report = json.loads(out)
    assert code == 0 and report["kept"] == 1 and report["changes"][0]["sample"] == 1


def test_a_csv_dataset_gets_a_json_copy(tmp_path):
    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"t": {"file_name": "t.csv"}}),
                             "data/t.csv": "instruction,input,output\na,,b\nc,,\n"})
    code, out, err = run_cli("fix", "data/t.csv", "--format", "json", cwd=tmp_path)
    report = json.loads(out)
    assert code == 0 and report["output"] == "data/t.fixed.json", err
    assert json.loads((tmp_path / "data/t.fixed.json").read_text())[0]["instruction"] == "a"
