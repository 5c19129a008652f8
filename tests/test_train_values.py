"""Training values that cannot work or silently do nothing (TY4xx), and the model folders a config names (TY42x):
the cases beyond each rule's documented examples (issues 15 and 17)."""

import pytest

from conftest import write_project
from helpers import check_json, find
from lfgate.validator.training import BASE


def _config(tmp_path, extra: str, files=None):
    write_project(tmp_path, {"train.yaml": BASE + "dataset: a\n" + extra, **(files or {})})
    return check_json("train.yaml", cwd=tmp_path)


@pytest.mark.parametrize("key", ["learning_rate", "val_size", "save_steps", "warmup_ratio", "num_train_epochs"])
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_numbers_are_errors(tmp_path, key, value):
    code, report = _config(tmp_path, f"{key}: {value}\n")
    hits = find(report, "TY401")
    assert code == 1 and len(hits) == 1 and hits[0]["severity"] == "error"
    assert hits[0]["line"] == 8 and key in hits[0]["message"]


def test_integer_beyond_python_digit_limit_is_a_finding(tmp_path):
    code, report = _config(tmp_path, "cutoff_len: " + "9" * 5000 + "\n")
    hits = find(report, "TY001")
    assert code == 1 and len(hits) == 1
    assert "5,000-digit integer" in hits[0]["message"] and hits[0]["line"] == 8
    assert "9" * 100 not in hits[0]["message"]


def test_an_integer_at_the_limit_still_reads(tmp_path):
    code, report = _config(tmp_path, "cutoff_len: " + "9" * 4300 + "\n")
    assert not find(report, "TY001")


@pytest.mark.parametrize("key", ["per_device_train_batch_size", "gradient_accumulation_steps"])
@pytest.mark.parametrize("value", [0, -2])
def test_zero_batch_and_accumulation_are_errors(tmp_path, key, value):
    code, report = _config(tmp_path, f"{key}: {value}\n")
    hits = find(report, "TY407")
    assert code == 1 and len(hits) == 1 and key in hits[0]["message"]


@pytest.mark.parametrize("extra, code", [
    ("save_strategy: epoch\nsave_steps: 100\n", "TY402"),
    ("logging_strategy: 'no'\nlogging_steps: 5\n", "TY402"),
    ("lora_dropout: -0.1\n", "TY410"),
    ("lora_dropout: 1\n", "TY410"),
    ("lora_rank: -4\n", "TY408"),
    ("num_train_epochs: -1\n", "TY411"),
    ("early_stopping_steps: 3\nval_size: 0.1\neval_strategy: steps\neval_steps: 10\n", "TY404"),
    ("stage: kto\npacking: true\n", "TY406"),
    ("model_name_or_path: path/to/your/model\n", "TY413"),
])
def test_more_impossible_or_silent_values(tmp_path, extra, code):
    _, report = _config(tmp_path, extra)
    assert find(report, code), report["diagnostics"]


@pytest.mark.parametrize("extra", [
    "save_strategy: steps\nsave_steps: 100\n",
    "save_steps: 100\n",  # save_strategy defaults to steps
    "early_stopping_steps: 3\nval_size: 0.1\neval_strategy: steps\neval_steps: 10\nload_best_model_at_end: true\n"
    "save_strategy: steps\nsave_steps: 10\n",
    "stage: pt\npacking: true\n",
    "finetuning_type: full\nlora_rank: 0\n",  # LoRA keys are not read for full fine-tuning
    "num_train_epochs: 0\nmax_steps: 10\n",
])
def test_settings_that_work_stay_silent(tmp_path, extra):
    _, report = _config(tmp_path, extra)
    assert not {d["code"] for d in report["diagnostics"]} & {"TY402", "TY404", "TY406", "TY408", "TY411"}


def test_wandb_with_an_api_key_is_silent(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x")
    _, report = _config(tmp_path, "report_to: wandb\n")
    assert not find(report, "TY412")


def test_wandb_login_read_from_netrc(tmp_path, monkeypatch):
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password k\n")
    monkeypatch.setenv("NETRC", str(netrc))
    _, report = _config(tmp_path, "report_to: [tensorboard, wandb]\n")
    assert not find(report, "TY412")
    monkeypatch.setenv("NETRC", str(tmp_path / "absent"))
    _, report = _config(tmp_path, "report_to: [tensorboard, wandb]\n")
    assert find(report, "TY412")


# -- model folders ----------------------------------------------------------------------------------------------
_ADAPTER = '{"base_model_name_or_path": "/models/Qwen2.5-0.5B-Instruct", "peft_type": "LORA"}'


def test_adapter_base_from_a_local_copy_of_the_same_model_is_fine(tmp_path):
    _, report = _config(tmp_path, "adapter_name_or_path: out/lora\n", {"out/lora/adapter_config.json": _ADAPTER})
    assert not find(report, "TY421") and not find(report, "TY420")


def test_missing_adapter_warns_and_hub_adapter_is_left_alone(tmp_path):
    _, report = _config(tmp_path, "adapter_name_or_path: saves/qwen/lora/sft,someone/hub-adapter\n")
    hits = find(report, "TY420")
    assert len(hits) == 1 and hits[0]["severity"] == "warning" and "saves/qwen/lora/sft" in hits[0]["message"]


def test_adapter_folder_without_config_is_an_error(tmp_path):
    _, report = _config(tmp_path, "ref_model_adapters: saves/ref\n", {"saves/ref/README.md": "x"})
    hits = find(report, "TY420")
    assert len(hits) == 1 and hits[0]["severity"] == "error"


@pytest.mark.parametrize("files, severity, words", [
    ({}, "warning", "does not exist"),  # an earlier run may write it
    ({"ck/checkpoint-5/README.md": "x"}, "error", "no model or adapter weights"),
    ({"ck/checkpoint-5/adapter_model.safetensors": "x", "ck/checkpoint-5/trainer_state.json": "{}"}, "warning",
     "optimizer state"),
    ({"ck/checkpoint-5/model.safetensors": "x", "ck/checkpoint-5/optimizer.pt": "x"}, "warning", "trainer_state.json"),
])
def test_resume_checkpoint(tmp_path, files, severity, words):
    _, report = _config(tmp_path, "resume_from_checkpoint: ck/checkpoint-5\n", files)
    hits = find(report, "TY422")
    assert len(hits) == 1 and hits[0]["severity"] == severity and words in hits[0]["message"]


def test_deepspeed_checkpoint_resumes(tmp_path):
    files = {"ck/checkpoint-5/global_step5/mp_rank_00_model_states.pt": "x", "ck/checkpoint-5/trainer_state.json": "{}"}
    _, report = _config(tmp_path, "resume_from_checkpoint: ck/checkpoint-5\n", files)
    assert not find(report, "TY422")


def test_known_model_type_with_auto_map_needs_no_remote_code(tmp_path):
    files = {"m/config.json": '{"model_type": "qwen2", "auto_map": {"AutoConfig": "c.C"}}'}
    _, report = _config(tmp_path, "model_name_or_path: ./m\n", files)
    assert not find(report, "TY425") and not find(report, "TY424")


def test_text_template_needs_no_processor(tmp_path):
    files = {"m/config.json": '{"model_type": "qwen2"}'}
    _, report = _config(tmp_path, "model_name_or_path: ./m\n", files)
    assert not find(report, "TY423")


def test_model_types_read_from_source_match_transformers():
    auto = pytest.importorskip("transformers.models.auto.configuration_auto")
    from lfgate.validator.training.model_loading import installed_model_types

    assert installed_model_types() == frozenset(auto.CONFIG_MAPPING_NAMES)
