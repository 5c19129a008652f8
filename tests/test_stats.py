"""`lfgate stats`: counts, lengths in tokens (counted or estimated), cutoff_len truncation, the histogram PNG."""

import json
import struct

import pytest

from conftest import CORPUS, ROOT, skip_without_oracle
from helpers import run_cli
from lfgate.tools.stats import histogram, percentile

RECORDS = [
    {"instruction": "a b c", "input": "", "output": "d e"},  # 3 + 2
    {"instruction": "a b c d e f", "input": "", "output": "g h i j"},  # 6 + 4 > 8: the response loses a token
    {"instruction": "a b c", "input": "", "output": "d e"},  # duplicate of 0
    {"instruction": "x", "input": "", "output": ""},  # empty response
    {"instruction": "x y z w v u t s r q", "input": "", "output": "o"},  # 10 + 1 > 8: only the prompt is cut
    {"instruction": "x", "input": "", "output": None},  # dropped in sft
]


def _project(tmp_path, with_tokenizer=True):
    data = tmp_path / "data"
    data.mkdir()
    (data / "d.json").write_text(json.dumps(RECORDS), encoding="utf-8")
    (data / "dataset_info.json").write_text('{"d": {"file_name": "d.json"}}', encoding="utf-8")
    model = tmp_path / "model"
    model.mkdir()
    if with_tokenizer:
        tokenizers = pytest.importorskip("tokenizers")
        from tokenizers.models import WordLevel
        from tokenizers.pre_tokenizers import Whitespace

        words = sorted({w for r in RECORDS for v in r.values() if v for w in v.split()})
        vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(words)}}
        tokenizer = tokenizers.Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
        tokenizer.pre_tokenizer = Whitespace()
        tokenizer.save(str(model / "tokenizer.json"))
    # no template: message text only (the template case is test_template_tokens_match_the_runners_tokenization)
    (tmp_path / "train.yaml").write_text("model_name_or_path: model\nstage: sft\ndataset: d\ndataset_dir: data\n"
                                         "cutoff_len: 8\nfinetuning_type: lora\n", encoding="utf-8")
    return tmp_path


def _stats_json(tmp_path, *argv):
    code, out, err = run_cli("stats", *argv, "--format", "json", cwd=tmp_path)
    assert code == 0, err
    return json.loads(out)["datasets"]


def test_config_counts_in_tokens_with_the_local_tokenizer(tmp_path):
    _project(tmp_path)
    [d] = _stats_json(tmp_path, "train.yaml")
    assert (d["name"], d["stage"], d["unit"], d["cutoff_len"]) == ("d", "sft", "tokens", 8)
    assert (d["samples"], d["kept"], d["dropped"]) == (6, 5, 1)
    assert (d["duplicates"], d["empty_responses"]) == (1, 1)
    assert (d["over_cutoff"], d["response_truncated"]) == (2, 1)
    assert d["roles"] == {"user": 5, "assistant": 5}
    assert d["lengths"]["prompt"] == {"count": 5, "mean": 4.6, "min": 1, "p50": 3, "p90": 10, "p95": 10, "p99": 10,
                                      "max": 10}
    assert d["lengths"]["total"]["max"] == 11 and d["lengths"]["response"]["min"] == 0
    assert d["turns"]["max"] == 1
    assert sum(d["histogram"]["counts"]) == 5
    # cutoff_len + 1 is a bin edge: the bins from there on hold exactly the samples over cutoff_len
    edges, counts = d["histogram"]["edges"], d["histogram"]["counts"]
    assert sum(c for e, c in zip(edges, counts) if e >= 9) == 2 and 9 in edges


def test_estimated_tokens_without_a_tokenizer_and_cutoff_override(tmp_path):
    _project(tmp_path, with_tokenizer=False)
    [d] = _stats_json(tmp_path, "train.yaml", "--cutoff-len", "3")
    assert d["unit"] == "tokens" and d["exact"] is False  # one unit; the estimate `lfgate check` makes too
    assert d["counted_with"].startswith("estimated for an unknown tokenizer, ±")  # with its band
    assert d["lengths"]["prompt"]["max"] >= 8  # "x y z w v u t s r q": ten one-letter words, about ten tokens
    low, high = d["over_cutoff_band"]
    assert low <= d["over_cutoff"] <= high and d["over_cutoff"] >= 2
    over = [s["index"] for s in d["over_cutoff_samples"]]  # every sample over it, by index
    assert len(over) == d["over_cutoff"] and over == sorted(over) and 1 in over and 4 in over


def test_dataset_name_and_data_file_targets(tmp_path):
    _project(tmp_path, with_tokenizer=False)
    [by_name] = _stats_json(tmp_path, "d", "--dataset-dir", "data")
    [by_file] = _stats_json(tmp_path, "data/d.json")
    assert by_name["cutoff_len"] == 2048  # LLaMA-Factory's default
    assert by_name == by_file


def test_unregistered_file_is_read_through_the_inferred_entry(tmp_path):
    (tmp_path / "chat.jsonl").write_text(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},'
        ' {"role": "user", "content": "bye"}, {"role": "assistant", "content": "ciao"}]}\n', encoding="utf-8")
    [d] = _stats_json(tmp_path, "chat.jsonl")
    assert d["formatting"] == "sharegpt" and d["turns"]["max"] == 2
    assert d["roles"] == {"user": 2, "assistant": 2}
    # sft trains every assistant turn (LLaMA-Factory's labels): "hello" and "ciao" are response, "hi", "bye" prompt
    assert d["lengths"]["prompt"]["max"] == 2 and d["lengths"]["response"]["max"] == 2


@skip_without_oracle((CORPUS / "data").is_dir(), "corpus not available")
def test_placeholders_and_media_counts_on_the_corpus(corpus):
    records = json.loads((corpus / "data" / "mllm_demo.json").read_text(encoding="utf-8"))
    images = sum(len(r["images"]) for r in records)
    tags = sum(m["content"].count("<image>") for r in records for m in r["messages"])
    [d] = _stats_json(corpus, "mllm_demo", "--dataset-dir", "data")
    assert d["media"] == {"images": images} and d["media_samples"] == {"images": len(records)}
    assert d["placeholders"] == {"<image>": tags}


def test_text_output_has_table_and_histogram(tmp_path):
    _project(tmp_path)
    code, out, err = run_cli("stats", "train.yaml", cwd=tmp_path)
    assert code == 0, err
    assert "samples 6, kept 5, dropped 1, duplicates 1, empty responses 1" in out
    assert "over cutoff_len 8: 2 (40.0%), losing part of the response: 1 (20.0%)" in out
    assert "over cutoff_len 8:" in out.split("total length per sample:")[1]
    assert "p99" in out and "prompt tokens" in out


def test_plot_writes_a_png_with_the_histogram(tmp_path):
    pytest.importorskip("matplotlib")
    _project(tmp_path)
    code, out, err = run_cli("stats", "train.yaml", "--plot", "lengths.png", cwd=tmp_path)
    assert code == 0, err
    data = (tmp_path / "lengths.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (800, 300)
    assert len(data) > 8000  # bars, axes, labels and the cutoff line, not an empty canvas


def test_usage_errors(tmp_path):
    _project(tmp_path, with_tokenizer=False)
    assert run_cli("stats", "nope", cwd=tmp_path)[0] == 2
    code, _, err = run_cli("stats", "train.yaml", "--plot", "x.jpg", cwd=tmp_path)
    assert code == 2 and ".png" in err
    code, _, err = run_cli("stats", "train.yaml", "--tokenizer", "missing", cwd=tmp_path)
    assert code == 2 and "no tokenizer.json" in err


def test_percentile_and_histogram_helpers():
    assert [percentile([1, 2, 3, 4], q) for q in (25, 50, 75, 100)] == [1, 2, 3, 4]
    hist = histogram([0, 5, 10, 100], cutoff_len=10, bins=4)
    assert hist["edges"][0] == 0 and 11 in hist["edges"] and hist["edges"][-1] == 101
    assert sum(hist["counts"]) == 4
    assert sum(c for e, c in zip(hist["edges"], hist["counts"]) if e >= 11) == 1


def test_remote_datasets_are_skipped_with_a_note(tmp_path):
    _project(tmp_path, with_tokenizer=False)
    (tmp_path / "data" / "dataset_info.json").write_text(
        '{"d": {"file_name": "d.json"}, "hub": {"hf_hub_url": "org/name"}}', encoding="utf-8")
    (tmp_path / "two.yaml").write_text("model_name_or_path: model\ndataset: hub, d\ncutoff_len: 8\n",
                                       encoding="utf-8")
    code, out, err = run_cli("stats", "two.yaml", "--format", "json", cwd=tmp_path)
    assert code == 0 and "skipped dataset hub: a hf_hub dataset (nothing is downloaded)" in err
    assert [d["name"] for d in json.loads(out)["datasets"]] == ["d"]
    (tmp_path / "hub.yaml").write_text("dataset: hub\n", encoding="utf-8")
    assert run_cli("stats", "hub.yaml", cwd=tmp_path)[0] == 2


def test_template_tokens_match_the_runners_tokenization(tmp_path):
    """With the model's tokenizer and a template lfgate models, per-sample totals are the lengths the runner
    (and LLaMA-Factory) tokenize to: same min, max, mean and count over cutoff_len."""
    transformers = pytest.importorskip("transformers")
    from conftest import ROOT
    from lfgate.runner.templates import fix_tokenizer, get_template
    from lfgate.runner.tokenize import DataOptions, encode_sample
    from lfgate.validator.converter import align

    quickstart = ROOT / "examples" / "quickstart"
    if not (quickstart / "model" / "tokenizer.json").is_file():
        pytest.skip("examples/quickstart/model is not built")
    config = tmp_path / "t.yaml"
    config.write_text(f"model_name_or_path: {quickstart / 'model'}\ndataset: quickstart\n"
                      f"dataset_dir: {quickstart / 'data'}\ntemplate: qwen\ncutoff_len: 24\n", encoding="utf-8")
    [d] = _stats_json(tmp_path, "t.yaml")
    assert d["template"] == "qwen" and d["unit"] == "tokens"

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(quickstart / "model"))
    template = get_template("qwen")
    fix_tokenizer(tokenizer, template)
    from lfgate.tools.validate import entry_for

    entry = entry_for("quickstart", {"file_name": "quickstart.json"}, str(quickstart / "data" / "dataset_info.json"))
    records = json.loads((quickstart / "data" / "quickstart.json").read_text(encoding="utf-8"))
    lengths = []
    for record in records:
        a = align(record, entry)
        ids, _ = encode_sample(tokenizer, template, a.prompt, a.response, a.system, a.tools,
                               DataOptions(cutoff_len=10 ** 6))
        lengths.append(len(ids))
    total = d["lengths"]["total"]
    assert (total["min"], total["max"], total["count"]) == (min(lengths), max(lengths), len(lengths))
    assert total["mean"] == round(sum(lengths) / len(lengths), 1)
    assert d["over_cutoff"] == sum(n > 24 for n in lengths)


def test_ranking_budgets_for_the_longer_answer_in_one_turn(tmp_path):
    """DPO/RM: the prompt is one source and the budget goes to the longer of chosen and rejected."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    data = tmp_path / "data"
    data.mkdir()
    tokenizer = tokenizers.Tokenizer(WordLevel({"[UNK]": 0, "a": 1, "b": 2}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    records = [{"instruction": "a " * 10, "input": "", "chosen": "b " * 2, "rejected": "b " * 4},  # 10 + 4
               {"instruction": "a " * 2, "input": "", "chosen": "b " * 3, "rejected": "b " * 2}]  # 2 + 3
    (data / "p.json").write_text(json.dumps(records), encoding="utf-8")
    (data / "dataset_info.json").write_text(json.dumps({"p": {"file_name": "p.json", "ranking": True, "columns": {
        "prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}}}), encoding="utf-8")
    [d] = _stats_json(tmp_path, "p", "--dataset-dir", "data", "--cutoff-len", "12", "--tokenizer", "tokenizer.json")
    assert d["stage"] == "rm" and d["kept"] == 2
    assert d["lengths"]["response"]["max"] == 4 and d["lengths"]["total"]["max"] == 14  # the rejected answer
    # 14 > 12, but an answer under half the budget is kept whole (infer_seqlen): only the prompt is cut
    assert (d["over_cutoff"], d["response_truncated"]) == (1, 0)
    [d] = _stats_json(tmp_path, "p", "--dataset-dir", "data", "--cutoff-len", "6", "--tokenizer", "tokenizer.json")
    assert (d["over_cutoff"], d["response_truncated"]) == (1, 1)


def test_config_overrides_like_llamafactory_cli(tmp_path):
    _project(tmp_path, with_tokenizer=False)
    [d] = _stats_json(tmp_path, "train.yaml", "cutoff_len=12", "stage=ppo")
    assert (d["cutoff_len"], d["stage"]) == (12, "ppo")
    assert run_cli("stats", "d", "cutoff_len=12", cwd=tmp_path)[0] == 2


def test_overrides_are_read_as_check_and_train_read_them(tmp_path):
    _project(tmp_path, with_tokenizer=False)
    (tmp_path / "data" / "dataset_info.json").write_text(
        '{"d": {"file_name": "d.json"}, "e": {"file_name": "d.json"}}', encoding="utf-8")
    (tmp_path / "two.yaml").write_text("model_name_or_path: model\ndataset: d\ncutoff_len: 8\n", encoding="utf-8")
    code, out, err = run_cli("stats", "two.yaml", "dataset=d, e", "--format", "json", cwd=tmp_path)
    assert code == 0, err
    assert [d["name"] for d in json.loads(out)["datasets"]] == ["d", "e"]


def test_a_lone_surrogate_in_the_data_is_counted_not_a_crash(tmp_path):
    """An escaped lone surrogate loads in LLaMA-Factory (Python's json); stats hashes and tokenizes around it."""
    tokenizer = ROOT / "examples" / "quickstart" / "model" / "tokenizer.json"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.json").write_text(
        '[{"instruction": "hi \\ud800 there", "input": "", "output": "ok \\udfff"},'
        ' {"instruction": "hi \\ud800 there", "input": "", "output": "ok \\udfff"}]\n', encoding="utf-8")
    (tmp_path / "data" / "dataset_info.json").write_text('{"a": {"file_name": "a.json"}}', encoding="utf-8")
    for extra in ([], ["--tokenizer", str(tokenizer)]):
        [d] = _stats_json(tmp_path, "data/a.json", *extra)
        assert d["samples"] == 2 and d["duplicates"] == 1
