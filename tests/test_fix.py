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


# Records only dataset-level findings count: `check` names them once per dataset, LLaMA-Factory drops each.
_SUMMARY_ONLY = [
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
    {"conversations": [{"value": "Hi"}, {"from": "gpt", "value": "Hello"}]},  # DS201 (summary): no role key
    {"conversations": [{"from": None, "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},  # DS201: null role
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}], "label": True},  # DS453
    {"conversations": [{"from": "human", "value": "<image>Hi"}, {"from": "gpt", "value": "Hello"}]},  # DS503
    {"conversations": [{"from": "human", "value ": "Hi "}, {"from": "gpt", "value": "Hello "}]},  # key repaired
]
_VL_YAML = ("model_name_or_path: Qwen/Qwen2-VL-2B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
            "dataset: chat\ntemplate: qwen2_vl\noutput_dir: out\ndataset_dir: data\n")


def _summary_project(tmp_path, name="chat.json", with_config=True):
    text = (json.dumps(_SUMMARY_ONLY, indent=1) if name.endswith(".json")
            else "".join(json.dumps(r) + "\n" for r in _SUMMARY_ONLY))
    files = {"data/dataset_info.json": json.dumps({"chat": {"file_name": name, "formatting": "sharegpt",
                                                            "columns": {"messages": "conversations",
                                                                        "kto_tag": "label"}}}),
             f"data/{name}": text}
    if with_config:
        files["train.yaml"] = _VL_YAML
    write_project(tmp_path, files)
    return text


def test_fix_removes_records_that_only_dataset_level_errors_count(tmp_path):
    _summary_project(tmp_path, with_config=False)
    code, out, err = run_cli("fix", "data/chat.json", "--format", "json", cwd=tmp_path)
    report = json.loads(out)
    removed = {c["sample"]: c["code"] for c in report["changes"] if c["action"] == "removed"}
    assert removed == {1: "DS201", 2: "DS201", 3: "DS453"}, report  # no template given: DS503 is a warning
    assert code == 0 and report["remaining_errors"] == []
    fixed = json.loads((tmp_path / "data/chat.fixed.json").read_text())
    # the only record with `label` is gone: a null keeps the column LLaMA-Factory indexes (else KeyError)
    assert "label" in fixed[0] and fixed[0]["label"] is None
    # a key with stray whitespace is renamed; message text, trailing spaces included, is never touched
    assert fixed[-1]["conversations"][0] == {"from": "human", "value": "Hi "}
    assert fixed[-1]["conversations"][1]["value"] == "Hello "


def test_check_fix_writes_a_copy_beside_each_registered_file_that_passes_check(tmp_path):
    original = _summary_project(tmp_path)
    code, out, err = run_cli("check", "--fix", "--format", "json", ".", cwd=tmp_path)
    assert code == 1 and json.loads(out)["diagnostics"]  # the report is the original's
    assert (tmp_path / "data/chat.json").read_text() == original
    # under the config's multimodal template, the placeholder without an image crashes LLaMA-Factory: removed
    for sample, code_ in ((1, "DS201"), (2, "DS201"), (3, "DS453"), (4, "DS503")):
        assert f"data/chat.json: sample {sample}: removed [{code_}]" in err, err
    assert "data/chat.json: sample 5: changed [DS-fix]" in err and "wrote data/chat.fixed.json" in err
    assert "still an error" not in err
    fixed = json.loads((tmp_path / "data/chat.fixed.json").read_text())
    assert len(fixed) == 2
    # the copy, registered in place of the original, passes `check` with the same config
    (tmp_path / "data/chat.json").write_text((tmp_path / "data/chat.fixed.json").read_text())
    os.remove(tmp_path / "data/chat.fixed.json")
    code, report = check_json(".", cwd=tmp_path)
    assert not [d for d in report["diagnostics"] if d["severity"] == "error"], report["diagnostics"]


def test_check_fix_keeps_jsonl_and_needs_force_to_overwrite(tmp_path):
    _summary_project(tmp_path, "chat.jsonl")
    assert run_cli("check", "--fix", ".", cwd=tmp_path)[0] == 1
    first = (tmp_path / "data/chat.fixed.jsonl").read_text()
    assert len(first.splitlines()) == 2
    (tmp_path / "data/chat.fixed.jsonl").write_text("mine")
    code, _, err = run_cli("check", "--fix", ".", cwd=tmp_path)
    assert code == 2 and "--force" in err and (tmp_path / "data/chat.fixed.jsonl").read_text() == "mine"
    assert run_cli("check", "--fix", "--force", ".", cwd=tmp_path)[0] == 1
    assert (tmp_path / "data/chat.fixed.jsonl").read_text() == first
    assert sorted(os.listdir(tmp_path / "data")) == ["chat.fixed.jsonl", "chat.jsonl", "dataset_info.json"]


def test_check_fix_writes_nothing_for_clean_data_or_entry_level_errors(tmp_path):
    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"a": {"file_name": "a.json"},
                                                                   "b": {"file_name": "b.json"},
                                                                   "c": {"file_name": "c.json",
                                                                         "columns": {"prompt": "question",
                                                                                     "response": "answer"}}}),
                             "data/a.json": json.dumps([{"instruction": "a", "input": "", "output": "b"}]),
                             "data/b.json": json.dumps([{"instruction": "a", "output": "b"}]),  # no `input` field
                             "data/c.json": json.dumps([{"instruction": "a", "output": "b"}] * 2)})
    code, _, err = run_cli("check", "--fix", ".", cwd=tmp_path)
    assert code == 1 and "data/b.json: no record to remove or repair" in err, err
    assert "data/c.json: every record would be removed" in err and "a.json" not in err
    assert sorted(os.listdir(tmp_path / "data")) == ["a.json", "b.json", "c.json", "dataset_info.json"]


def test_check_fix_never_writes_over_a_file_the_check_reads(tmp_path):
    _summary_project(tmp_path, with_config=False)
    info = json.loads((tmp_path / "data/dataset_info.json").read_text())
    info["other"] = {"file_name": "chat.fixed.json"}
    (tmp_path / "data/dataset_info.json").write_text(json.dumps(info))
    (tmp_path / "data/chat.fixed.json").write_text("[]")
    code, _, err = run_cli("check", "--fix", "--force", ".", cwd=tmp_path)
    assert code == 2 and "read by this check" in err and (tmp_path / "data/chat.fixed.json").read_text() == "[]"


def test_check_fix_writes_no_copy_of_a_file_no_record_survives_and_fixes_the_others(tmp_path):
    _summary_project(tmp_path)
    info = json.loads((tmp_path / "data/dataset_info.json").read_text())
    info["broken"], info["cut"] = {"file_name": "broken.json"}, {"file_name": "cut.jsonl"}
    (tmp_path / "data/dataset_info.json").write_text(json.dumps(info))
    (tmp_path / "data/broken.json").write_text('{"instruction": ')
    (tmp_path / "data/cut.jsonl").write_bytes(b'{"instruction": "a", "input": "", "output": "b"}\n\xff\xfe{\n')
    code, _, err = run_cli("check", "--fix", ".", cwd=tmp_path)
    assert code == 1 and "data/broken.json: every record would be removed" in err, err
    assert "the cause is the file or its entry" in err and not (tmp_path / "data/broken.fixed.json").exists()
    # a line LLaMA-Factory's loader cannot decode is one removed record
    assert "data/cut.jsonl: sample 1: removed [DF010]" in err
    assert len((tmp_path / "data/cut.fixed.jsonl").read_text().splitlines()) == 1
    assert (tmp_path / "data/chat.fixed.json").exists()


def test_fix_strips_a_media_path_only_where_the_stripped_name_is_the_file(tmp_path):
    record = {"messages": [{"role": "user", "content": "<image>Hi"}, {"role": "assistant", "content": "Hello"}]}
    records = [dict(record, images=["cat.png "]), dict(record, images=" dog.png"), dict(record, images=["cow.png "])]
    entry = {"file_name": "d.json", "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
             "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}
    from lfgate.validator.media import png

    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"d": entry}), "data/d.json": json.dumps(records),
                             "data/cat.png": png(8, 8), "data/dog.png": png(8, 8)})
    code, out, err = run_cli("fix", "data/d.json", "--format", "json", cwd=tmp_path)
    report = json.loads(out)
    assert [c["action"] for c in report["changes"]] == ["changed", "changed", "removed"], report
    assert "'cat.png ' -> 'cat.png'" in report["changes"][0]["message"]
    fixed = json.loads((tmp_path / "data/d.fixed.json").read_text())
    assert [r["images"] for r in fixed] == [["cat.png"], "dog.png"]  # no cow.png: that record is removed
