"""LLaMA-Factory v1 configs (USE_V1=1, TY6xx): keys, the dataset-list YAML and the message format."""

import json

import pytest

from conftest import write_project
from helpers import check_json, find
from lfgate.validator.training import v1_engine

_HEAD = "model: Qwen/Qwen3-0.6B\nmodel_class: llm\noutput_dir: out\nmax_steps: 10\ntrain_dataset: data/list.yaml\n"
_OK = {"messages": [{"role": "user", "content": [{"type": "text", "value": "hi"}], "loss_weight": 0.0},
                    {"role": "assistant", "content": [{"type": "text", "value": "yo"}]}]}


def _run(tmp_path, extra="", listing="d:\n  path: data/d.jsonl\n  source: local\n", records=(_OK,), files=None):
    write_project(tmp_path, {"train.yaml": _HEAD + extra, "data/list.yaml": listing,
                             "data/d.jsonl": "".join(json.dumps(r) + "\n" for r in records), **(files or {})})
    return check_json("train.yaml", cwd=tmp_path)[1]


def test_clean_v1_config_has_no_v1_findings(tmp_path):
    report = _run(tmp_path, "peft_config:\n  name: lora\n  r: 8\nbatching_strategy: padding_free\n")
    assert not [d for d in report["diagnostics"] if d["code"].startswith("TY6")]


@pytest.mark.parametrize("extra, words", [
    ("dataset: x\n", "`dataset` is not a LLaMA-Factory v1 key"),
    ("flash_attn: fa2\n", "Unsupported flash_attn"),
    ("dist_config: '{\"dcp_path\": null}'\n", "`dist_config` has no `name`"),
    ("batching_strategy: dynamic_batching\nmax_steps: null\n", "requires max_steps"),
    ("batching_strategy: dynamic_batching\nsave_epochs: 1\n", "save_epochs"),
])
def test_v1_keys_and_values(tmp_path, extra, words):
    report = _run(tmp_path, extra)
    assert any(words in d["message"] for d in report["diagnostics"] if d["code"] in ("TY601", "TY602")), \
        report["diagnostics"]


def test_allow_extra_keys_makes_unknown_keys_warnings(tmp_path, monkeypatch):
    monkeypatch.setenv("ALLOW_EXTRA_KEYS", "1")
    hits = find(_run(tmp_path, "dataset: x\n"), "TY601")
    assert hits and hits[0]["severity"] == "warning"


@pytest.mark.parametrize("listing, words", [
    ("d:\n  path: data/d.jsonl\n  source: ms_hub\n", "has no loader"),
    ("d:\n  path: data/d.jsonl\n  converter: chatml\n  source: local\n", "`converter: chatml`"),
    ("d:\n  source: local\n", "no `path`"),
    ("d:\n  path: data/d.jsonl\n  source: local\n  weigth: 2\n", "unknown key `weigth`"),
    ("d:\n  path: data/missing.jsonl\n  source: local\n", "does not exist"),
    ("d:\n  path: data/d.jsonl\n  source: local\n  streaming: true\ne:\n  path: org/x\n", "mixes streaming"),
    ("d:\n  path: data/d.jsonl\n  source: local\n  size: 0\n", "`size` must be a positive"),
])
def test_dataset_list(tmp_path, listing, words):
    hits = find(_run(tmp_path, listing=listing), "TY603")
    assert len(hits) == 1 and words in hits[0]["message"]


@pytest.mark.parametrize("record, words", [
    ({"messages": [{"role": "human", "content": [{"type": "text", "value": "x"}]}]}, "role` is 'human'"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "value": "a.png"}]}]}, "content[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "value": "x"}], "loss_weight": "1"}]}, "loss_weight"),
    ({"conversations": []}, "no `messages`"),
    ({"chosen_messages": _OK["messages"]}, "rejected_messages"),
])
def test_message_format(tmp_path, record, words):
    hits = find(_run(tmp_path, records=[_OK, record, record]), "TY604")
    assert len(hits) == 1 and words in hits[0]["message"] and "sample 1" in hits[0]["message"]
    assert "(2 of 3 samples)" in hits[0]["message"]


def test_a_bad_record_past_any_prefix_is_found(tmp_path):
    hits = find(_run(tmp_path, records=[_OK] * 12_000 + [{"conversations": []}]), "TY604")
    assert len(hits) == 1 and "sample 12000" in hits[0]["message"]


def test_a_converter_means_the_records_are_not_in_v1_format(tmp_path):
    listing = "d:\n  path: data/d.jsonl\n  source: local\n  converter: alpaca\n"
    assert not find(_run(tmp_path, listing=listing, records=[{"instruction": "a", "output": "b"}]), "TY604")


def test_llamafactory_v1_examples_give_no_v1_errors(corpus):
    # the corpus keeps only .json/.jsonl data; the dataset lists v1 examples name, as in LLaMA-Factory's data/
    lists = {"v1_sft_demo": "identity:\n  path: data/identity.json\n  source: local\n  converter: alpaca\n"
                            "v1_sft:\n  path: data/v1_sft_demo.jsonl\n  source: local\n",
             "v1_dpo_demo": "dpo:\n  path: data/v1_dpo_demo.jsonl\n  source: local\n",
             "v1_multimodal_demo": "mm:\n  path: data/v1_multimodal_demo.jsonl\n  source: local\n"}
    for name, text in lists.items():
        (corpus / "data" / f"{name}.yaml").write_text(text)
    report = check_json("examples/v1", cwd=corpus)[1]
    assert not [d for d in report["diagnostics"] if d["code"].startswith("TY6")], report["diagnostics"]


def test_schema_is_generated_from_the_newest_source():
    data = v1_engine.schema()
    assert {"train_dataset", "micro_batch_size", "batching_strategy", "peft_config"} <= set(data["arguments"])
    assert data["dataset_info_keys"] == ["path", "source", "split", "converter", "size", "weight", "streaming"]
