"""Right about the registry entry (issue 20 §4): unknown keys judged by what LLaMA-Factory does with the entry, and
one cause reported once, at the cause, with the sample findings it causes folded under it."""

import json

from conftest import write_project
from helpers import check_json, find

CONFIG = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
          "template: qwen\noutput_dir: saves/x\n")
ALPACA = '[{"instruction": "hi", "input": "", "output": "hello"}]\n'
SHAREGPT = '[{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}]\n'
OPENAI_ROLES = json.dumps([{"messages": [{"role": "user", "content": "hi"},
                                         {"role": "assistant", "content": "yo"}]}] * 7)


def _check(tmp_path, entry, data=ALPACA, config=True):
    files = {"data/dataset_info.json": json.dumps({"a": entry}), "data/a.json": data}
    if config:
        files["train.yaml"] = CONFIG + "dataset: a\n"
    write_project(tmp_path, files)
    return check_json(".", cwd=tmp_path)


def _errors(report):
    return [d for d in report["diagnostics"] if d["severity"] == "error"]


def test_format_json_is_an_info_with_no_rename_suggested(tmp_path):
    """LLaMA-Factory ignores `format` and reads the entry as alpaca; suggesting `formatting: json` would crash."""
    code, report = _check(tmp_path, {"file_name": "a.json", "format": "json"})
    [hit] = find(report, "DI101")
    assert code == 0 and hit["severity"] == "info" and "no effect" in hit["message"]
    assert "formatting" not in hit["message"] and not find(report, "DI140")


def test_a_suggestion_is_made_only_for_a_value_the_key_accepts(tmp_path):
    _, report = _check(tmp_path, {"file_name": "a.json", "fomatting": "csv-ish"})
    [hit] = find(report, "DI101")
    assert hit["severity"] == "warning" and "did you mean" not in hit["message"]
    _, report = _check(tmp_path, {"file_name": "a.json", "fomatting": "alpaca"})
    [hit] = find(report, "DI101")
    assert "did you mean `formatting`" in hit["message"]


def test_a_legacy_key_is_an_info_that_says_it_has_no_effect(tmp_path):
    code, report = _check(tmp_path, {"file_name": "a.json", "file_sha1": "0123abcd"})
    [hit] = find(report, "DI101")
    assert code == 0 and hit["severity"] == "info" and "no effect" in hit["message"]
    assert "did you mean" not in hit["message"] and "0.7.1" in hit["message"]


def test_a_misspelt_formatting_is_an_error_only_when_the_data_does_not_fit_the_default(tmp_path):
    code, report = _check(tmp_path, {"file_name": "a.json", "formating": "sharegpt"}, SHAREGPT)
    [hit] = _errors(report)
    assert code == 1 and hit["code"] == "DI140" and hit["file"] == "data/dataset_info.json"
    assert "folded" in hit["message"] and "1 sample affected" in hit["message"]
    assert not [d for d in report["diagnostics"] if d["code"].startswith("DS")]
    # the same typo over data that alpaca reads as meant: LLaMA-Factory trains it, so no misread is claimed
    code, report = _check(tmp_path, {"file_name": "a.json", "formating": "sharegpt"}, ALPACA)
    [hit] = find(report, "DI140")
    assert code == 0 and hit["severity"] == "warning" and "folded" not in hit["message"]


def test_tags_that_reset_a_role_are_one_error_at_the_entry_with_the_sample_count(tmp_path):
    entry = {"file_name": "a.json", "formatting": "sharegpt", "columns": {"messages": "messages"},
             "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user"}}
    code, report = _check(tmp_path, entry, OPENAI_ROLES)
    [hit] = _errors(report)
    assert code == 1 and hit["code"] == "DI112" and hit["file"] == "data/dataset_info.json"
    assert "7 samples affected" in hit["message"]
    assert not [d for d in report["diagnostics"] if d["code"].startswith("DS")]
    assert report["summary"]["errors"] == 1  # the summary counts the cause, not its folded consequences


def test_a_reset_every_record_fails_on_counts_every_record(tmp_path):
    """Every record raising is one DS001 for all of them: the count at the cause is the records', not 1."""
    entry = {"file_name": "a.json", "formatting": "sharegpt", "tags": {"role_tag": "role"}}
    code, report = _check(tmp_path, entry, json.dumps(json.loads(SHAREGPT) * 3))
    [hit] = _errors(report)
    assert code == 1 and hit["code"] == "DI112" and "3 samples affected" in hit["message"]
    assert not [d for d in report["diagnostics"] if d["code"].startswith("DS")]


def test_columns_that_reset_the_messages_column_fold_their_consequences(tmp_path):
    entry = {"file_name": "a.json", "formatting": "sharegpt", "columns": {"system": "sys"}}
    code, report = _check(tmp_path, entry, SHAREGPT)
    assert code == 1 and [d["code"] for d in _errors(report)] == ["DI110"]


def test_an_unrelated_unknown_key_folds_nothing(tmp_path):
    """`file_sha1` causes nothing in the data: the sample findings stay where they are."""
    data = '[{"instruction": "hi", "input": "", "output": "a"}, {"instruction": "hi", "input": "", "output": 5}]\n'
    _, report = _check(tmp_path, {"file_name": "a.json", "file_sha1": "x"}, data)
    assert find(report, "DS104")
    [hit] = find(report, "DI101")
    assert "folded" not in hit["message"]


def test_media_under_one_absent_root_are_one_finding_with_the_count(tmp_path):
    """Every image under one absolute root of another machine: one cause, one finding naming it and the count;
    a single missing file in a folder that exists keeps its own finding."""
    sample = {"messages": [{"role": "user", "content": "<image>hi"}, {"role": "assistant", "content": "yo"}]}
    records = [dict(sample, images=[f"/lfgate-absent-root/imgs/{i}.jpg"]) for i in range(6)]
    records.append(dict(sample, images=["img/missing.jpg"]))
    (tmp_path / "data" / "img").mkdir(parents=True)
    entry = {"file_name": "a.json", "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
             "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}
    _, report = _check(tmp_path, entry, json.dumps(records), config=False)
    rooted, single = sorted(find(report, "DS502"), key=lambda d: d["sample"])
    assert rooted["severity"] == "error" and "6 media paths" in rooted["message"]
    assert "'/lfgate-absent-root'" in rooted["message"] and rooted["sample"] == 0
    assert single["sample"] == 6 and "img/missing.jpg" in single["message"]


def test_a_cause_the_user_ignores_folds_nothing(tmp_path):
    entry = {"file_name": "a.json", "formatting": "sharegpt", "columns": {"messages": "messages"},
             "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user"}}
    _check(tmp_path, entry, OPENAI_ROLES)
    _, report = check_json(".", "--ignore", "DI112", cwd=tmp_path)
    assert not find(report, "DI112") and len(find(report, "DS201")) == 7
