"""LLaMA-Factory's own examples/: no error except where LLaMA-Factory itself rejects the file, and a decision
recorded for every warning they trip."""

import collections
import shutil

import pytest

from conftest import CORPUS, oracle_missing
from helpers import check_json


@pytest.fixture(scope="module")
def corpus_copy(tmp_path_factory):
    if not CORPUS.is_dir():
        oracle_missing("../shared/corpus/llamafactory is not available")
    target = tmp_path_factory.mktemp("lf") / "lf"
    shutil.copytree(CORPUS, target)
    return target


def yaml_findings(report, severity):
    found = collections.defaultdict(set)
    for d in report["diagnostics"]:
        if d["severity"] == severity and (d["file"] or "").endswith((".yaml", ".yml")):
            found[d["file"]].add(d["code"])
    return dict(found)


@pytest.fixture(scope="module")
def newest(corpus_copy):
    # Launched from the repository root, as LLaMA-Factory's README runs its examples; judged for transformers 5
    # whatever transformers this machine has (TY102 is only a warning where 4.x is installed).
    from lfgate.validator.training import keys

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keys, "_installed_transformers", lambda: None)
        not_stock(patch)
        _, report = check_json("examples", "--llamafactory-version", "0.9.6", cwd=corpus_copy)
    return report


def not_stock(patch):
    """The rules judged on LLaMA-Factory's own examples, as its own files (not folded as stock in a fork)."""
    from lfgate.validator import stock

    patch.setattr(stock, "release_of", lambda path: None)
    patch.setattr(stock, "is_stock_entry", lambda name, value: False)


def test_only_files_llamafactory_rejects_have_errors(newest):
    errors = yaml_findings(newest, "error")
    assert errors == {
        # transformers 5 removed it from TrainingArguments: "Some keys are not used by the HfArgumentParser".
        "examples/extras/fp8/llama3_fp8_fsdp_sft.yaml": {"TY102"},
        # data/dataset_info.json defines neither `med` nor `math`: "Undefined dataset med in dataset_info.json."
        "examples/extras/asft/llama2_full_asft.yaml": {"LK002"},
        "examples/extras/asft/qwen2_full_asft.yaml": {"LK002"},
    }, errors
    messages = {d["file"]: d["message"] for d in newest["diagnostics"] if d["severity"] == "error"}
    assert "transformers 5" in messages["examples/extras/fp8/llama3_fp8_fsdp_sft.yaml"]
    assert "Undefined dataset med" in messages["examples/extras/asft/llama2_full_asft.yaml"]


def test_warnings_on_the_examples_are_the_recorded_decisions(newest):
    warnings = yaml_findings(newest, "warning")
    # LK040 (save_steps beyond the run): right. The examples train on ~1000 demo samples with max_samples 1000 and
    # save_steps 500 > the ~400 optimizer steps, so no intermediate checkpoint is written; only the final save.
    # LK050 (truncation): right. The estimate is a lower bound (at most 6 characters per token), and the dpo/kto
    # demo sets do hold samples longer than cutoff_len 2048 whose responses are cut.
    # LK020 (reasoning template for a non-reasoning model): right. Five examples pair *-Instruct-2507 / Qwen3-VL
    # -Instruct models, which do not think, with the qwen3/qwen3_vl reasoning templates; LLaMA-Factory itself logs
    # "You are using reasoning template, please add `_nothink` suffix if the model is not a reasoning model", and
    # its own model registry pairs these models with the _nothink templates.
    # LK033 (local model path missing): right. Two chat/export configs load saves/qwen3-4b/full/sft, which the
    # SFT example writes (run it first); one KTransformers example has the placeholder /path/to/DeepSeek-V3.1-source.
    # TY420 (adapter missing): right, as LK033: the nlg_eval predict config loads saves/llama3-8b/lora/sft, which
    # the SFT example writes. TY412 (wandb without a login and no terminal): right where the tests run (no
    # WANDB_API_KEY, no tty): the fp8 examples report to wandb. TY603 (v1 dataset list not a local file): right for
    # this copy, which leaves out LLaMA-Factory's data/v1_*.yaml; with them there it is silent. TY450 (`flash_attn:
    # fa2` without flash-attn): right where the tests run (no flash-attn, no Ascend NPU: FlashAttention-2 falls back
    # to SDPA); the five are examples/ascend/ configs, where torch-npu provides it.
    assert set().union(*warnings.values()) <= {"LK020", "LK033", "LK040", "LK050", "TY412", "TY420", "TY450",
                                               "TY603"}, warnings
    assert {f for f, c in warnings.items() if "TY450" in c} <= {f for f in warnings if f.startswith("examples/ascend/")}
    assert {f for f, c in warnings.items() if "LK033" in c} == {
        "examples/inference/qwen3_full_sft.yaml", "examples/merge_lora/qwen3_full_sft.yaml",
        "examples/ktransformers/train_lora/deepseek_v3_int8_lora_sft_kt.yaml"}
    assert {f for f, c in warnings.items() if "LK020" in c} == {
        "examples/ascend/qwen3moe_full_sft_fsdp.yaml", "examples/ascend/qwen3vlmoe_full_sft_fsdp2.yaml",
        "examples/ascend/qwen3vlmoe_lora_sft_fsdp.yaml", "examples/ktransformers/train_lora/qwen3moe_lora_sft_kt.yaml",
        "examples/ktransformers/train_lora/qwen3vlmoe_lora_sft_kt.yaml"}
    assert warnings["examples/extras/adam_mini/qwen2_full_sft.yaml"] == {"LK040"}
    assert "LK050" in warnings["examples/train_lora/qwen3_lora_dpo.yaml"]


def test_engines_and_non_configs_are_recognised(newest):
    by_file = collections.defaultdict(set)
    passed_over = [d for d in newest["diagnostics"] if d["code"] == "TY009"]
    for d in newest["diagnostics"]:
        if d["code"] != "TY009":
            by_file[d["file"]].add(d["code"])
    # The non-configs are passed over with one info that names them (issue 16), never checked as configs.
    [info] = passed_over
    assert info["severity"] == "info" and "examples/accelerate/fsdp2_config.yaml" in info["message"]
    assert not any(f.startswith("examples/accelerate/") for f in by_file)
    assert "examples/extras/multi_tokens/tokens_cfg.yaml" not in by_file
    for path in ("examples/v1/train_lora/train_lora_sft.yaml", "examples/megatron/qwen2_vl_full.yaml",
                 "examples/megatron_bridge/llama3_sft.yaml"):
        assert "TY007" in by_file[path] and "TY101" not in by_file[path]
    assert not any("TY101" in codes for codes in by_file.values())


def test_targeting_0_9_5_flags_the_newer_keys_and_templates(corpus_copy, monkeypatch):
    not_stock(monkeypatch)
    _, report = check_json("examples", "--llamafactory-version", "0.9.5", cwd=corpus_copy)
    errors = yaml_findings(report, "error")
    newer = {f for f, codes in errors.items() if "TY104" in codes}
    assert "examples/megatron_bridge/llama3_sft.yaml" in newer
    assert "examples/ktransformers/train_lora/qwen3moe_lora_sft_kt.yaml" not in newer  # uses only 0.9.5 keys
    assert "examples/ktransformers/train_lora/deepseek_v3_lora_sft_kt.yaml" in newer  # kt_config
    assert {f for f, codes in errors.items() if "TY203" in codes} == {
        "examples/inference/mossvl.yaml", "examples/merge_lora/mossvl_lora_sft.yaml",
        "examples/train_full/mossvl_full_sft.yaml", "examples/train_lora/mossvl_lora_sft.yaml"}
