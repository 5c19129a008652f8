"""input_ids and labels from the built-in runner == LLaMA-Factory's own (converter + SFT processor).

Skipped unless `llamafactory` is importable (it is in ../lfvenv: run these tests there). Both sides use the
same tokenizer; each sample goes through LLaMA-Factory's DatasetAttr/converter/SupervisedDatasetProcessor and
through lfgate's registry/converter/runner.tokenize.
"""

import copy
import json

import pytest

from conftest import import_oracle
from runner_helpers import tiny_model  # noqa: F401  (fixture)

import_oracle("llamafactory")
pytestmark = pytest.mark.llamafactory

TEMPLATES = ["qwen", "qwen3", "qwen3_nothink", "llama3", "chatml", "default", "empty"]

ALPACA = [
    {"instruction": "What is 2 plus 3?", "input": "", "output": "2 plus 3 is 5."},
    {"instruction": "Spell the word backwards.", "input": "apple", "output": "elppa", "system": "Be brief."},
    {"instruction": "And now?", "input": "river", "output": "revir",
     "history": [["Spell hello backwards.", "olleh"], ["And world?", "dlrow"]]},
    {"instruction": "Think first.", "input": "", "output": "<think>\nsome reasoning\n</think>\n\nThe answer."},
    {"instruction": "hello world " * 30, "input": "", "output": "a long answer " * 25},
]
ALPACA_INFO = {"file_name": "a.json", "columns": {"prompt": "instruction", "query": "input", "response": "output",
                                                  "system": "system", "history": "history"}}

SHAREGPT = [
    {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
    {"conversations": [{"from": "system", "value": "You are terse."}, {"from": "human", "value": "count to 3"},
                       {"from": "gpt", "value": "1 2 3"}, {"from": "human", "value": "and to 5?"},
                       {"from": "gpt", "value": "<think>\nhmm\n</think>\n\n1 2 3 4 5"},
                       {"from": "human", "value": "thanks"}, {"from": "gpt", "value": "you are welcome"}]},
    {"conversations": [{"from": "human", "value": "weather in Paris?"},
                       {"from": "function_call", "value": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
                       {"from": "observation", "value": '{"temp": 21}'},
                       {"from": "gpt", "value": "It is 21 degrees."}],
     "tools": json.dumps([{"name": "get_weather", "description": "Weather of a city",
                           "parameters": {"type": "object", "properties": {"city": {"type": "string",
                                                                                    "description": "the city"}},
                                          "required": ["city"]}}])},
    {"conversations": [{"from": "human", "value": "long " * 40}, {"from": "gpt", "value": "short"},
                       {"from": "human", "value": "again " * 10}, {"from": "gpt", "value": "reply " * 40}]},
    {"conversations": [{"from": "human", "value": "broken"}, {"from": "human", "value": "order"}]},
]
SHAREGPT_INFO = {"file_name": "s.json", "formatting": "sharegpt", "columns": {"messages": "conversations",
                                                                               "tools": "tools"}}

OPTIONS = [
    dict(cutoff_len=2048),
    dict(cutoff_len=24),
    dict(cutoff_len=60, mask_history=True),
    dict(cutoff_len=2048, train_on_prompt=True),
    dict(cutoff_len=2048, mask_history=True),
]


def _lf_encode(model_dir, template_name, info, rows, options, enable_thinking=True, default_system=None):
    import llamafactory.data.template as lf_template
    from llamafactory.data.converter import get_dataset_converter
    from llamafactory.data.parser import DatasetAttr
    from llamafactory.data.processor.supervised import SupervisedDatasetProcessor
    from llamafactory.data.template import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    data_args = DataArguments(template=template_name, enable_thinking=enable_thinking, default_system=default_system,
                              **options)
    original = lf_template.TEMPLATES[template_name]  # get_template_and_fix_tokenizer changes it in place
    lf_template.TEMPLATES[template_name] = copy.deepcopy(original)
    try:
        template = get_template_and_fix_tokenizer(tokenizer, data_args)
    finally:
        lf_template.TEMPLATES[template_name] = original
    attr = DatasetAttr("file", "x")
    attr.join(info)
    converter = get_dataset_converter(attr.formatting, attr, data_args)
    processor = SupervisedDatasetProcessor(template=template, tokenizer=tokenizer, processor=None, data_args=data_args)
    out = []
    for row in rows:
        full = {k: row.get(k) for k in set().union(*rows)}  # Arrow fills missing columns with None
        aligned = converter(full)
        if len(aligned["_prompt"]) % 2 != 1 or len(aligned["_response"]) != 1:
            out.append(None)
            continue
        out.append(processor._encode_data_example(aligned["_prompt"], aligned["_response"], aligned["_system"],
                                                  aligned["_tools"], [], [], []))
    return out


def _ours(model_dir, template_name, info, rows, options, tmp_path, enable_thinking=True, default_system=None):
    from lfgate.runner.config import RunConfig
    from lfgate.runner.recipe import build_template, data_options, load_tokenizer
    from lfgate.runner.tokenize import encode_sample, is_valid
    from lfgate.settings import Settings
    from lfgate.validator import converter, dataset_info

    (tmp_path / "dataset_info.json").write_text(json.dumps({"x": info}))
    entry = dataset_info.load_registry(str(tmp_path / "dataset_info.json"), Settings()).entries["x"]
    values = dict(model_name_or_path=str(model_dir), template=template_name, enable_thinking=enable_thinking,
                  default_system=default_system, **options)
    config = RunConfig("t.yaml", values)
    tokenizer = load_tokenizer(config)
    template, _ = build_template(config, tokenizer)
    out = []
    for row in rows:
        aligned = converter.align(row, entry, str(tmp_path))
        if not is_valid(aligned.prompt, aligned.response):
            out.append(None)
            continue
        out.append(encode_sample(tokenizer, template, aligned.prompt, aligned.response, aligned.system or None,
                                 aligned.tools or None, data_options(config)))
    return out


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt"])
def test_same_input_ids_and_labels_as_llamafactory(tiny_model, tmp_path, template, options, fmt):
    info, rows = (ALPACA_INFO, ALPACA) if fmt == "alpaca" else (SHAREGPT_INFO, SHAREGPT)
    expected = _lf_encode(tiny_model, template, info, rows, options)
    got = _ours(tiny_model, template, info, rows, options, tmp_path)
    assert _plain(got) == _plain(expected)


def _plain(encoded):
    return [None if e is None else (list(e[0]), list(e[1])) for e in encoded]


@pytest.mark.parametrize("enable_thinking", [True, False])
def test_qwen3_thinking_switch_matches(tiny_model, tmp_path, enable_thinking):
    expected = _lf_encode(tiny_model, "qwen3", SHAREGPT_INFO, SHAREGPT, dict(cutoff_len=2048, mask_history=True),
                          enable_thinking=enable_thinking)
    got = _ours(tiny_model, "qwen3", SHAREGPT_INFO, SHAREGPT, dict(cutoff_len=2048, mask_history=True), tmp_path,
                enable_thinking=enable_thinking)
    assert _plain(got) == _plain(expected)


def test_default_system_override_matches(tiny_model, tmp_path):
    expected = _lf_encode(tiny_model, "qwen", ALPACA_INFO, ALPACA, dict(cutoff_len=2048), default_system="Custom.")
    got = _ours(tiny_model, "qwen", ALPACA_INFO, ALPACA, dict(cutoff_len=2048), tmp_path, default_system="Custom.")
    assert _plain(got) == _plain(expected)


@pytest.mark.parametrize("n,val_size,seed", [(240, 0.1, 42), (37, 0.25, 7), (100, 13, 1), (10, 0.05, 3)])
def test_val_size_split_is_the_one_datasets_makes(n, val_size, seed):
    from datasets import Dataset

    from lfgate.runner.data import split

    expected = Dataset.from_dict({"i": list(range(n))}).train_test_split(
        test_size=int(val_size) if val_size > 1 else val_size, seed=seed)
    train, test = split(list(range(n)), val_size, seed)
    assert (train, test) == (expected["train"]["i"], expected["test"]["i"])


# -- packing and neat packing: the packs, the collated batch, the losses ------------------------------------------
def _packing_project(tmp_path, model_dir, n=60):
    import random

    rng = random.Random(0)
    words = "alpha beta gamma delta apple river cloud stone green music paper light tiger bread chair ocean".split()
    rows = [{"instruction": " ".join(rng.choice(words) for _ in range(rng.choice([1, 2, 3, 5, 8, 12, 40]))),
             "input": "", "output": " ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))} for _ in range(n)]
    rows[7] = {"instruction": "", "input": "", "output": "dropped: an empty prompt"}  # kept out after the split
    rows[3]["history"] = [["hello world", "alpha beta"], ["river", "cloud stone"]]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "demo.json").write_text(json.dumps(rows))
    info = {"demo": {"file_name": "demo.json", "columns": {"prompt": "instruction", "query": "input",
                                                          "response": "output", "history": "history"}}}
    (tmp_path / "data" / "dataset_info.json").write_text(json.dumps(info))
    return dict(model_name_or_path=str(model_dir), stage="sft", do_train=True, finetuning_type="lora",
                dataset="demo", dataset_dir=str(tmp_path / "data"), template="qwen", cutoff_len=128,
                output_dir=str(tmp_path / "lf_out"), overwrite_output_dir=True, report_to="none",
                cache_dir=str(tmp_path / "hf_cache"))


def _lf_packed(values):
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    model_args, data_args, training_args, _, _ = get_train_args(dict(values))
    module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(module["tokenizer"], data_args)
    dataset = get_dataset(template, model_args, data_args, training_args, stage="sft", **module)
    keys = ("input_ids", "labels", "attention_mask", "position_ids")
    return {split: [{k: list(f[k]) for k in keys} for f in dataset.get(name) or []]
            for split, name in (("train", "train_dataset"), ("eval", "eval_dataset"))}, template, module


def _ours_packed(values):
    from lfgate.runner import data
    from lfgate.runner.config import RunConfig
    from lfgate.runner.recipe import build_template, data_options, load_tokenizer, tokenize, training_features

    config = RunConfig("t.yaml", dict(values))
    tokenizer = load_tokenizer(config)
    template, _ = build_template(config, tokenizer)
    train, evaluation = data.load_samples(config)
    keys = ("input_ids", "labels", "attention_mask", "position_ids")
    out = {}
    for split, samples in (("train", train), ("eval", evaluation)):
        features = training_features(config, samples, tokenize(samples, tokenizer, template, data_options(config)),
                                     tokenizer.pad_token_id) if samples else []
        out[split] = [{k: f[k] for k in keys} for f in features]
    return out


PACKING = [
    dict(packing=True),
    dict(neat_packing=True),
    dict(neat_packing=True, preprocessing_batch_size=7),
    dict(packing=True, preprocessing_batch_size=10, preprocessing_num_workers=3),
    dict(neat_packing=True, val_size=0.2, train_on_prompt=True),
    dict(neat_packing=True, cutoff_len=96, mask_history=True),
]


@pytest.mark.parametrize("options", PACKING, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_same_packs_as_llamafactory(tiny_model, tmp_path, options):
    """input_ids, labels, attention mask (sample numbers with neat packing) and position ids of every pack, in
    LLaMA-Factory's order, train and eval split; its get_dataset runs datasets.map with the same batch and workers."""
    values = {**_packing_project(tmp_path, tiny_model), **options}
    expected, _, _ = _lf_packed(values)
    got = _ours_packed(values)
    assert len(got["train"]) == len(expected["train"]) and len(got["train"]) < 60  # samples were packed
    assert got == expected


@pytest.mark.parametrize("neat", [False, True])
def test_same_collated_batch_as_llamafactory(tiny_model, tmp_path, neat):
    """The batch the model sees: LLaMA-Factory's SFTDataCollatorWith4DAttentionMask (sdpa, fp32) and ours."""
    import torch
    from llamafactory.data.collator import SFTDataCollatorWith4DAttentionMask

    from lfgate.runner.collate import Collator

    values = {**_packing_project(tmp_path, tiny_model), ("neat_packing" if neat else "packing"): True}
    expected, template, module = _lf_packed(values)
    lf_collator = SFTDataCollatorWith4DAttentionMask(
        template=template, model=None, pad_to_multiple_of=8, label_pad_token_id=-100, block_diag_attn=neat,
        neat_packing=neat, attn_implementation="sdpa", compute_dtype=torch.float32, **module)
    features = expected["train"][:3]
    theirs = lf_collator([dict(f) for f in copy.deepcopy(features)])
    ours = Collator(module["tokenizer"].pad_token_id, neat_packing=neat)(copy.deepcopy(features))
    assert set(ours) == {"input_ids", "attention_mask", "position_ids", "labels"} <= set(theirs)
    for key in ours:
        assert ours[key].dtype == theirs[key].dtype and torch.equal(ours[key], theirs[key]), key
    if neat:
        assert ours["attention_mask"].dim() == 4  # block-diagonal, causal


@pytest.mark.slow
@pytest.mark.parametrize("options", [["packing=true"], ["neat_packing=true", "preprocessing_batch_size=9"]])
def test_same_logged_losses_as_llamafactory_with_packing(tiny_model, tmp_path, options):
    """CPU, fp32, one thread: llamafactory-cli train and lfgate train log the same loss and grad_norm at every step."""
    import os
    import subprocess
    import sys

    values = _packing_project(tmp_path, tiny_model)
    values.update(lora_rank=4, per_device_train_batch_size=2, learning_rate=1e-2, max_steps=4, logging_steps=1,
                  save_steps=1000, seed=1)
    values.pop("cache_dir")
    (tmp_path / "t.yaml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "WORLD_SIZE", "RANK")}
    env.update(HF_HUB_OFFLINE="1", DISABLE_VERSION_CHECK="1", OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE",
               HF_DATASETS_CACHE=str(tmp_path / "hf_cache"))
    cli = os.path.join(os.path.dirname(sys.executable), "llamafactory-cli")
    runs = {"lf": [cli, "train"], "ours": [sys.executable, "-m", "lfgate", "train"]}
    history = {}
    for name, command in runs.items():
        result = subprocess.run([*command, "t.yaml", f"output_dir={name}", *options], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        with open(tmp_path / name / "trainer_state.json", encoding="utf-8") as f:
            history[name] = [(h["loss"], h["grad_norm"]) for h in json.load(f)["log_history"] if "loss" in h]
    assert len(history["ours"]) == 4 and history["ours"] == history["lf"]
