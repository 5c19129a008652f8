"""A response of white space only is trained as it is (issue 25 §1): DS080 warns; an empty one stays DS011."""

import json
import os
import subprocess

import pytest

from conftest import ROOT, oracle_missing, write_project
from helpers import check_json, find

LF_PYTHON = os.environ.get("LFGATE_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))


def _project(tmp_path, records, entry=None):
    registry = {"a": {"file_name": "a.json", **(entry or {})}}
    write_project(tmp_path, {"data/dataset_info.json": json.dumps(registry), "data/a.json": json.dumps(records)})
    return check_json(".", cwd=tmp_path)[1]


def test_a_whitespace_output_is_a_warning_and_an_empty_one_is_ds011(tmp_path):
    records = [{"instruction": "Summarise.", "input": "", "output": out} for out in ("Fine.", " \n ", "", "\t")]
    report = _project(tmp_path, records)
    blank = find(report, "DS080")
    assert sorted(d["sample"] for d in blank) == [1, 3] and {d["severity"] for d in blank} == {"warning"}
    assert [d["sample"] for d in find(report, "DS011")] == [2]


def test_a_whitespace_sharegpt_answer_is_found_and_a_real_one_is_not(tmp_path):
    def chat(answer):
        return {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": answer}]}

    report = _project(tmp_path, [chat("Hello!")] * 3 + [chat("\n\n")], {"formatting": "sharegpt"})
    [hit] = find(report, "DS080")
    assert hit["sample"] == 3 and "'\\n\\n'" in hit["message"]
    assert not find(_project(tmp_path / "clean", [chat("Hello!")] * 3, {"formatting": "sharegpt"}), "DS080")


@pytest.mark.llamafactory
def test_llamafactory_keeps_the_whitespace_as_the_response(tmp_path):
    if not os.path.exists(LF_PYTHON):
        oracle_missing("no Python with llamafactory (set LFGATE_LF_PYTHON)")
    payload = [{"entry": {"file_name": "a.json"}, "records": [{"instruction": "Say hi", "input": "", "output": " \n "}]}]
    proc = subprocess.run([LF_PYTHON, str(ROOT / "tests" / "lf_oracle.py")], input=json.dumps(payload),
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    if proc.returncode != 0 and "No module named" in proc.stderr:
        oracle_missing("the LFGATE_LF_PYTHON interpreter has no llamafactory")
    [[converted]] = json.loads(proc.stdout)
    assert converted["ok"]["_response"] == [{"role": "assistant", "content": " \n "}]  # kept, not dropped
