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
    ("pref_loss: dpo\nstage: dpo\n", "Unknown loss type"),
])
def test_a_choice_llamafactory_raises_on_is_an_error_saying_where(tmp_path, extra, where):
    [hit], _ = _choice(tmp_path, extra)
    assert hit["severity"] == "error" and where in hit["message"], hit


@pytest.mark.parametrize("extra", [
    "mix_strategy: mixed\n",  # one dataset: nothing is merged, the value is never read
    "pref_loss: dpo\n",  # stage sft: no preference loss
    "swanlab_mode: offline\n",  # never checked
])
def test_a_choice_that_is_never_checked_in_this_config_is_a_warning(tmp_path, extra):
    [hit], _ = _choice(tmp_path, extra)
    assert hit["severity"] == "warning" and "does not check it" in hit["message"], hit


def test_a_misspelt_infer_backend_in_training_is_one_error(tmp_path):
    hits, report = _choice(tmp_path, "infer_backend: vlm\n")
    backend = [d for d in report["diagnostics"] if d["line"] == len(BASE.splitlines()) + 1]
    assert [d["code"] for d in backend] == ["TY345"] and not hits


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
            assert prop.get("x-enum-raises", {}).get("where"), key


# -- against LLaMA-Factory itself --------------------------------------------------------------------------------
@pytest.mark.llamafactory
def test_the_choices_enforced_at_parse_are_those_llamafactory_raises_on():
    """The schema's parse-time facts are the probe's answers: every choice key marked as raising at parse raises in
    LLaMA-Factory's get_train_args on a value outside its choices, and no other one does."""
    python = os.environ.get("LFGATE_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))
    if not os.path.exists(python):
        oracle_missing("no Python with llamafactory (set LFGATE_LF_PYTHON)")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_train_schema
    finally:
        sys.path.pop(0)
    props = train_schema.properties()
    keys = sorted(k for k, p in props.items() if "enum" in p and "train" in p["x-entry-points"]
                  and not p.get("x-since") and p.get("x-engine", "v0") == "v0")
    try:
        probed = gen_train_schema.probe_enum_raises(python, keys)
    except (RuntimeError, subprocess.SubprocessError, OSError) as err:
        if "No module named" in str(err):
            oracle_missing("the LFGATE_LF_PYTHON interpreter has no llamafactory")
        raise
    at_parse = {k for k in keys if (props[k].get("x-enum-raises") or {}).get("at") == "parse"}
    assert {k for k, error in probed.items() if error} == at_parse, json.dumps(probed, indent=1)
