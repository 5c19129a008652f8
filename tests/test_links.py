"""Links between a training config, dataset_info.json, the datasets and the model (LK*)."""

import json
import os

import pytest

from conftest import write_project
from helpers import check_json, codes, find
from lfgate.lf_facts import looks_like_local_path
from lfgate.settings import Settings
from lfgate.validator import links, training

CFG = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
       "template: qwen\noutput_dir: saves/qwen2.5-0.5b/lora/sft\n")


def samples(n, text="hello there"):
    return json.dumps([{"instruction": f"{text} {i}", "input": "", "output": f"answer {i}"} for i in range(n)])


def project(tmp_path, config, registry=None, data=None, files=None):
    registry = registry or {"demo": {"file_name": "demo.json"}}
    write_project(tmp_path, {"train.yaml": config, "data/dataset_info.json": json.dumps(registry),
                             "data/demo.json": data if data is not None else samples(10), **(files or {})})
    return tmp_path


def run(tmp_path, *args, target="train.yaml"):
    _, report = check_json(target, *args, cwd=tmp_path)
    return report


def line_of(text, key):
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.split(":")[0] == key)


# -- names and paths ----------------------------------------------------------------------------------------------
def test_registry_not_found_says_where_it_looked(tmp_path):
    config = CFG + "dataset: demo\ndataset_dir: elsewhere\n"
    project(tmp_path, config)
    [hit] = find(run(tmp_path), "LK001")
    assert "at elsewhere/dataset_info.json" in hit["message"] and str(tmp_path) not in hit["message"]
    assert hit["line"] == line_of(config, "dataset_dir")


def test_dataset_dir_resolves_against_the_launch_directory(tmp_path):
    config = CFG + "dataset: demo\n"
    project(tmp_path, config, files={"configs/train.yaml": config})
    assert "LK001" not in codes(run(tmp_path, target="configs/train.yaml"))  # data/ of the working directory


def test_file_name_given_as_dataset_names_the_entry(tmp_path):
    config = CFG + "dataset: demo.json\n"
    project(tmp_path, config)
    [hit] = find(run(tmp_path), "LK002")
    assert "`dataset: demo`" in hit["message"] and hit["line"] == line_of(config, "dataset")
    assert hit["dataset"] == "demo.json"


def test_path_and_typo_in_dataset_names(tmp_path):
    config = CFG + "dataset: demmo\neval_dataset: data/other.jsonl\n"
    project(tmp_path, config)
    hits = {h["dataset"]: h for h in find(run(tmp_path), "LK002")}
    assert "Did you mean `demo`" in hits["demmo"]["message"]
    assert "looks like a file path" in hits["data/other.jsonl"]["message"]
    assert hits["data/other.jsonl"]["line"] == line_of(config, "eval_dataset")


def test_media_dir_missing(tmp_path):
    config = CFG + "dataset: demo\nmedia_dir: pictures\n"
    project(tmp_path, config)
    [hit] = find(run(tmp_path), "LK003")
    assert "(looked at pictures)" in hit["message"] and str(tmp_path) not in hit["message"]


def test_usages_carry_stage_media_dir_template_cutoff(tmp_path):
    config = CFG.replace("stage: sft", "stage: dpo") + "dataset: a, b,a\neval_dataset: c\ncutoff_len: 1024\n"
    project(tmp_path, config)
    loaded = training.load_config(str(tmp_path / "train.yaml"), str(tmp_path), Settings())
    usages = list(links.dataset_usages(loaded, None, Settings()))
    assert [name for name, _ in usages] == ["a", "b", "c"]
    usage = usages[0][1]
    assert usage.stage == "rm" and usage.template == "qwen" and usage.cutoff_len == 1024
    assert usage.media_dir == str(tmp_path / "data") and usage.config_path.endswith("train.yaml")


def test_a_template_that_is_not_text_is_a_type_error_not_a_crash(tmp_path):
    """validator/usage.py looked a list template up in the template table (unhashable): an internal error."""
    project(tmp_path, CFG.replace("template: qwen", "template: [qwen]") + "dataset: demo\n")
    loaded = training.load_config(str(tmp_path / "train.yaml"), str(tmp_path), Settings())
    [(name, usage)] = links.dataset_usages(loaded, None, Settings())
    assert name == "demo" and usage.template is None and usage.vision is None
    assert find(run(tmp_path), "TY201")


# -- stage against data ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage, ranking, bad", [("dpo", False, True), ("rm", True, False), ("sft", True, True),
                                                 ("sft", False, False), ("orpo", False, True)])
def test_stage_against_ranking(tmp_path, stage, ranking, bad):
    config = CFG.replace("stage: sft", f"stage: {stage}") + "dataset: demo\n"
    project(tmp_path, config, registry={"demo": {"file_name": "demo.json", "ranking": ranking}})
    hits = find(run(tmp_path), "LK010")
    assert bool(hits) == bad
    if bad:
        assert hits[0]["line"] == line_of(config, "dataset") and hits[0]["dataset"] == "demo"


# -- template against model and media -----------------------------------------------------------------------------
def test_template_against_model_id(tmp_path):
    config = CFG.replace("template: qwen", "template: llama3") + "dataset: demo\n"
    project(tmp_path, config)
    [hit] = find(run(tmp_path), "LK020")
    assert "`template: qwen`" in hit["message"] and hit["line"] == line_of(config, "template")
    assert hit["severity"] == "warning"


def test_nothink_variant_matches_its_family(tmp_path):
    config = CFG.replace("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen3-8B").replace("template: qwen", "template: qwen3_nothink")
    project(tmp_path, config + "dataset: demo\n")
    assert "LK020" not in codes(run(tmp_path))


def test_template_against_local_config(tmp_path):
    config = CFG.replace("Qwen/Qwen2.5-0.5B-Instruct", "models/mine").replace("template: qwen", "template: llama3")
    project(tmp_path, config + "dataset: demo\n",
            files={"models/mine/config.json": json.dumps({"model_type": "qwen3"})})
    [hit] = find(run(tmp_path), "LK020")
    assert "model_type qwen3" in hit["message"] and "`template: qwen3`" in hit["message"]


def test_images_with_a_text_template(tmp_path):
    registry = {"mm": {"file_name": "mm.json", "columns": {"prompt": "instruction", "response": "output",
                                                           "images": "images"}}}
    data = json.dumps([{"instruction": "<image>What?", "output": "A cat.", "images": ["cat.png"]}])
    config = CFG + "dataset: mm\n"
    project(tmp_path, config, registry=registry, files={"data/mm.json": data, "data/cat.png": "x"})
    [hit] = find(run(tmp_path), "LK021")
    assert hit["severity"] == "error" and "image" in hit["message"] and hit["line"] == line_of(config, "template")


# -- the local model folder -----------------------------------------------------------------------------------------
def model_project(tmp_path, extra, cfg):
    config = CFG.replace("Qwen/Qwen2.5-0.5B-Instruct", "models/tiny") + "dataset: demo\n" + extra
    project(tmp_path, config, files={"models/tiny/config.json": json.dumps(cfg)})
    return config


def test_lora_target_names_checked_against_the_architecture(tmp_path):
    config = model_project(tmp_path, "lora_target: q_proj,query_key_value\n", {"model_type": "llama"})
    [hit] = find(run(tmp_path), "LK030")
    assert "`query_key_value`" in hit["message"] and "`q_proj`" not in hit["message"]
    assert hit["line"] == line_of(config, "lora_target")
    model_project(tmp_path, "lora_target: all\n", {"model_type": "llama"})
    assert "LK030" not in codes(run(tmp_path))
    model_project(tmp_path, "lora_target: query_key_value\n", {"model_type": "chatglm"})
    assert "LK030" not in codes(run(tmp_path))


def test_cutoff_len_against_context_and_dtype(tmp_path):
    config = model_project(tmp_path, "cutoff_len: 8192\nfp16: true\n",
                           {"model_type": "qwen2", "max_position_embeddings": 4096, "torch_dtype": "bfloat16"})
    report = run(tmp_path)
    assert find(report, "LK031")[0]["line"] == line_of(config, "cutoff_len")
    assert find(report, "LK032")[0]["line"] == line_of(config, "fp16")
    model_project(tmp_path, "cutoff_len: 8192\nrope_scaling: yarn\n", {"model_type": "qwen2", "max_position_embeddings": 4096})
    assert "LK031" not in codes(run(tmp_path))


# -- the step budget ----------------------------------------------------------------------------------------------
def test_step_budget_counts_samples_batches_and_devices(tmp_path):
    config = CFG + ("dataset: demo\nper_device_train_batch_size: 2\ngradient_accumulation_steps: 1\n"
                    "num_train_epochs: 1\nlogging_steps: 1\nsave_steps: 1\neval_steps: 10\n")
    project(tmp_path, config)
    report = run(tmp_path)
    assert "5 optimizer steps" in find(report, "LK043")[0]["message"]
    assert "LK040" not in codes(report)  # eval_strategy is no: eval_steps does not matter
    project(tmp_path, config.replace("save_steps: 1", "save_steps: 4"))
    assert "LK040" not in codes(run(tmp_path, "--devices", "1"))
    hits = find(run(tmp_path, "--devices", "2"), "LK040")  # 10 / (2 x 2) = 3 steps
    assert len(hits) == 1 and "`save_steps: 4`" in hits[0]["message"] and "3 optimizer steps" in hits[0]["message"]
    assert hits[0]["line"] == line_of(config, "save_steps")


def test_max_samples_num_samples_and_val_size(tmp_path):
    registry = {"demo": {"file_name": "demo.json", "num_samples": 40}}
    config = CFG + ("dataset: demo\nper_device_train_batch_size: 1\nnum_train_epochs: 1\nmax_samples: 30\n"
                    "val_size: 0.1\nlogging_steps: 1\nsave_steps: 1\n")
    project(tmp_path, config, registry=registry, data=samples(10))
    report = run(tmp_path)
    assert "27 optimizer steps" in find(report, "LK043")[0]["message"]  # min(40, 30) - ceil(3) held out
    [few] = find(report, "LK042")
    assert "3 of 30" in few["message"] and few["line"] == line_of(config, "val_size")


def test_warmup_covering_the_run(tmp_path):
    config = CFG + ("dataset: demo\nper_device_train_batch_size: 10\nnum_train_epochs: 2\nlogging_steps: 1\n"
                    "save_steps: 1\nwarmup_steps: 2\n")
    project(tmp_path, config)
    [hit] = find(run(tmp_path), "LK041")
    assert hit["line"] == line_of(config, "warmup_steps")
    project(tmp_path, config.replace("warmup_steps: 2", "warmup_steps: 0.5"))
    assert "LK041" not in codes(run(tmp_path))


# -- truncation ------------------------------------------------------------------------------------------------------
def test_truncation_estimate_without_tokenizer(tmp_path, monkeypatch):
    from lfgate.tokens import counters

    monkeypatch.setattr(counters, "_has_quicktok", lambda: False)  # no `tokens` extra: the calibrated estimate
    long = json.dumps([{"instruction": "word " * 400, "input": "", "output": "answer " * 400},
                       {"instruction": "hi", "input": "", "output": "hello"}])
    config = CFG + "dataset: demo\ncutoff_len: 64\n"
    project(tmp_path, config, data=long)
    [hit] = find(run(tmp_path), "LK050")
    assert "1 of 2 samples" in hit["message"] and "estimated for Qwen2/2.5/3" in hit["message"]
    assert "lfgate[tokens]" in hit["message"]  # what installing the extra gives
    assert hit["line"] == line_of(config, "cutoff_len") and hit["dataset"] == "demo"
    assert [s["index"] for s in hit["details"]["samples"]] == [0]


def test_truncation_counted_with_a_local_tokenizer(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers

    vocab = {"[UNK]": 0, "a": 1, "b": 2}
    tok = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    data = json.dumps([{"instruction": "a " * 10, "input": "", "output": "b " * 30},   # 40 + 35 tokens: response cut
                       {"instruction": "a " * 3, "input": "", "output": "b " * 3}])    # 6 + 35 tokens: fits
    # the qwen template adds 35 tokens here (its markers and default system prompt, one [UNK] per word)
    config = CFG.replace("Qwen/Qwen2.5-0.5B-Instruct", "models/tiny") + "dataset: demo\ncutoff_len: 60\n"
    project(tmp_path, config, data=data, files={"models/tiny/config.json": json.dumps({"model_type": "qwen2"})})
    tok.save(os.path.join(tmp_path, "models", "tiny", "tokenizer.json"))
    [hit] = find(run(tmp_path), "LK050")
    assert "1 of 2 samples" in hit["message"] and "1 lose part of their response" in hit["message"]
    assert "tokenizer.json from the model folder" in hit["message"] and hit["severity"] == "warning"


def test_a_dataset_dir_or_a_file_of_another_registry_given_as_dataset(tmp_path):
    config = CFG + "dataset: data\n"
    project(tmp_path, config)
    [hit] = find(run(tmp_path), "LK002")
    assert "`dataset_dir: data`" in hit["message"]
    other = {"more/dataset_info.json": json.dumps({"extra": {"file_name": "extra.json"}}),
             "more/extra.json": samples(2)}
    project(tmp_path, CFG + "dataset: more/extra.json\n", files=other)
    [hit] = find(run(tmp_path), "LK002")
    assert "`dataset_dir: more`" in hit["message"] and "`dataset: extra`" in hit["message"]


def test_reasoning_template_for_a_non_reasoning_model(tmp_path):
    config = CFG.replace("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen3-4B-Instruct-2507").replace(
        "template: qwen", "template: qwen3") + "dataset: demo\n"
    project(tmp_path, config)
    [hit] = find(run(tmp_path), "LK020")
    assert "`qwen3_nothink`" in hit["message"] and "reasoning" in hit["message"]
    project(tmp_path, config.replace("Qwen3-4B-Instruct-2507", "Qwen3-8B").replace("template: qwen3", "template: qwen3_nothink"))
    assert "LK020" not in codes(run(tmp_path))  # thinking turned off on a reasoning model: the user's choice


def test_step_budget_counts_a_partial_accumulation_as_a_step(tmp_path):
    config = CFG + ("dataset: demo\nper_device_train_batch_size: 1\ngradient_accumulation_steps: 4\n"
                    "num_train_epochs: 2\nlogging_steps: 1\nsave_steps: 1\n")
    project(tmp_path, config)  # 10 batches / 4 = 3 updates per epoch (transformers 5), x 2 epochs
    assert "the run has 6 optimizer steps" in find(run(tmp_path), "LK043")[0]["message"]
    project(tmp_path, config.replace("per_device_train_batch_size: 1", "per_device_train_batch_size: 3")
            + "dataloader_drop_last: true\n")  # 3 full batches of 3 -> 1 update per epoch
    assert "the run has 2 optimizer steps" in find(run(tmp_path), "LK043")[0]["message"]


def test_no_step_budget_for_packed_sequences(tmp_path):
    project(tmp_path, CFG.replace("stage: sft", "stage: pt") + "dataset: demo\n")
    assert "LK043" not in codes(run(tmp_path))
    project(tmp_path, CFG + "dataset: demo\nneat_packing: true\n")
    assert "LK043" not in codes(run(tmp_path))


def test_missing_local_model_path(tmp_path):
    config = CFG.replace("Qwen/Qwen2.5-0.5B-Instruct", "../models/qwen") + "dataset: demo\n"
    project(tmp_path, config)
    [hit] = find(run(tmp_path), "LK033")
    assert hit["line"] == line_of(config, "model_name_or_path") and "models/qwen" in hit["message"]
    assert not looks_like_local_path("Qwen/Qwen2.5-0.5B-Instruct") and looks_like_local_path("/data/models/q")


def test_chat_configs_get_the_model_and_template_checks(tmp_path):
    text = "model_name_or_path: Qwen/Qwen2.5-7B-Instruct\ntemplate: llama3\ninfer_backend: huggingface\n"
    write_project(tmp_path, {"chat.yaml": text})
    [hit] = find(run(tmp_path, target="chat.yaml"), "LK020")
    assert hit["line"] == 2
