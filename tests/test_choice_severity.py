"""Severity where LLaMA-Factory raises (issue 20 §4): a choice that LLaMA-Factory, or a library it hands the value
to, raises on is an error; one it never checks is a warning. One cause is one finding: a renamed key is not also
the consequences of its new name being unset, a misspelt backend not also the backend check."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, oracle_missing, write_project
from helpers import check_json, find
from lfgate.validator import train_schema, training

BASE = training.BASE + "dataset: a\n"
PROJECT = {"data/dataset_info.json": '{"a": {"file_name": "a.json"}, "b": {"file_name": "a.json"}}\n',
           "data/a.json": '[{"instruction": "hi", "input": "", "output": "hello"}]\n'}


def _choice(tmp_path, extra):
    write_project(tmp_path, {"train.yaml": BASE + extra, **PROJECT})
    _, report = check_json("train.yaml", "--dataset-dir", "data", cwd=tmp_path)
    return find(report, "TY202"), report


@pytest.mark.parametrize("extra, where", [
    ("ddp_backend: torch\n", "accelerate"),
    ("log_level: verbose\n", "get_process_log_level"),
    ("flash_attn: flash_attention_2\n", "Unknown attention type"),
    ("lr_scheduler_type: cosin\n", "SchedulerType"),
    ("stage: sfft\n", "Unknown task"),
    ("mix_strategy: mixed\ndataset: a,b\n", "Unknown mixing strategy"),
    # pref_loss under stage: dpo depends on the TRL version (sigmoid or a raise): tests/test_what_trains.py
    ("use_galore: true\nfinetuning_type: full\ngalore_proj_type: standard\n", "GaLoreProjector"),
    ("use_apollo: true\nfinetuning_type: full\napollo_scale_type: channels\n", "apollo_torch"),
])
def test_a_choice_llamafactory_raises_on_is_an_error_saying_where(tmp_path, extra, where):
    [hit], _ = _choice(tmp_path, extra)
    assert hit["severity"] == "error" and where in hit["message"], hit


@pytest.mark.parametrize("extra", [
    "mix_strategy: mixed\n",  # one dataset: nothing is merged, the value is never read
    "pref_loss: dpo\n",  # stage sft: no preference loss
    "swanlab_mode: offline\n",  # never checked
    "galore_proj_type: standard\n",  # no GaLore: no projector
])
def test_a_choice_that_is_never_checked_in_this_config_is_a_warning(tmp_path, extra):
    [hit], _ = _choice(tmp_path, extra)
    assert hit["severity"] == "warning" and "does not check it" in hit["message"], hit


def test_a_misspelt_infer_backend_in_training_is_one_error(tmp_path):
    hits, report = _choice(tmp_path, "infer_backend: vlm\n")
    backend = [d for d in report["diagnostics"] if d["line"] == len(BASE.splitlines()) + 1]
    assert [d["code"] for d in backend] == ["TY345"] and not hits


@pytest.mark.parametrize("config, where", [
    ("infer_backend: vlm\n", "Unknown backend"),  # chat/api: ChatModel picks no engine
    ("flash_attn: flash_attention_2\n", "Unknown attention type"),  # the model loads for chat too
    ("finetuning_type: lorra\n", "get_infer_args"),
])
def test_a_chat_config_is_judged_by_what_chat_raises_on(tmp_path, config, where):
    write_project(tmp_path, {"chat.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\ntemplate: qwen\n" + config})
    _, report = check_json("chat.yaml", cwd=tmp_path)
    [hit] = find(report, "TY202")
    assert hit["severity"] == "error" and where in hit["message"], hit


def test_an_export_config_is_not_told_the_chat_engine_raises(tmp_path):
    """`llamafactory-cli export` never picks an inference engine: a misspelt one does nothing there."""
    write_project(tmp_path, {"export.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\ntemplate: qwen\n"
                             "export_dir: out\ninfer_backend: vlm\n"})
    _, report = check_json("export.yaml", cwd=tmp_path)
    [hit] = find(report, "TY202")
    assert hit["severity"] == "warning", hit


@pytest.mark.parametrize("config, where", [
    ("lang: english\n", "Template english does not exist"),
    ("download_mode: force\n", "DownloadMode"),
])
def test_an_eval_config_is_judged_by_what_the_evaluator_raises_on(tmp_path, config, where):
    write_project(tmp_path, {"eval.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\ntemplate: qwen\n"
                             "task: mmlu_test\nn_shot: 5\n" + config})
    _, report = check_json("eval.yaml", cwd=tmp_path)
    [hit] = find(report, "TY202")
    assert hit["severity"] == "error" and where in hit["message"], hit


def test_a_renamed_key_is_one_finding_not_also_its_consequences(tmp_path):
    write_project(tmp_path, {"train.yaml": BASE + "evaluation_strategy: steps\neval_steps: 10\nval_size: 0.1\n"
                             "load_best_model_at_end: true\n", **PROJECT})
    _, report = check_json("train.yaml", "--dataset-dir", "data", cwd=tmp_path)
    codes = sorted(d["code"] for d in report["diagnostics"] if d["file"] == "train.yaml")
    assert "TY103" in codes and not {"TY402", "TY314", "TY316"} & set(codes), report["diagnostics"]


def test_a_renamed_key_still_has_its_value_checked(tmp_path):
    write_project(tmp_path, {"train.yaml": BASE + "evaluation_strategy: stpes\n", **PROJECT})
    _, report = check_json("train.yaml", "--dataset-dir", "data", cwd=tmp_path)
    [typo] = find(report, "TY202")
    assert "stpes" in typo["message"] and typo["severity"] == "error" and find(report, "TY103")


def test_every_enforced_choice_says_where_it_raises():
    for key, prop in train_schema.properties().items():
        if prop.get("x-enum-enforced"):
            assert any("train" in r["entries"] and not r["when"] for r in prop["x-enum-raises"]), key
        for said in prop.get("x-enum-raises", []):
            assert said["where"] and set(said["entries"]) <= {"train", "infer", "export", "eval"}, key


# -- against LLaMA-Factory itself --------------------------------------------------------------------------------
@pytest.mark.llamafactory
def test_the_choices_enforced_at_parse_are_those_llamafactory_raises_on():
    """The schema's parse-time facts are the probe's answers: every choice key marked as raising at parse raises in
    that entry point's parser (get_train_args, get_infer_args, get_eval_args) on a value outside its choices, and no
    other one does; the probe recorded for machines without LLaMA-Factory says the same."""
    python = os.environ.get("LFGATE_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))
    if not os.path.exists(python):
        oracle_missing("no Python with llamafactory (set LFGATE_LF_PYTHON)")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_train_schema
    finally:
        sys.path.pop(0)
    props = train_schema.properties()
    keys = gen_train_schema.probe_keys(props)
    try:
        probed = gen_train_schema.probe_enum_raises(python, keys)
    except (RuntimeError, subprocess.SubprocessError, OSError) as err:
        if "No module named" in str(err):
            oracle_missing("the LFGATE_LF_PYTHON interpreter has no llamafactory")
        raise
    for parser, entries in gen_train_schema.PARSER_ENTRIES.items():
        at_parse = {k for k in keys[parser] if any(r["at"] == "parse" and entries[0] in r["entries"]
                                                   for r in props[k].get("x-enum-raises", []))}
        assert {k for k, error in probed[parser].items() if error} == at_parse, (parser, json.dumps(probed, indent=1))
    recorded = {p: set(said) for p, said in gen_train_schema.RECORDED_PROBE.items()}
    assert recorded == {p: {k for k, e in said.items() if e} for p, said in probed.items()}, "RECORDED_PROBE is stale"
