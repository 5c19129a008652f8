"""LLaMA-Factory's own data/: every local dataset is read and passes; the only errors are entries LLaMA-Factory
itself fails on, and their messages say why. (examples/ is covered by test_corpus_yaml.py.)"""

import collections
import json

import pytest

from helpers import check_json

# Entries of data/dataset_info.json that LLaMA-Factory cannot load as written (spec §2.2: `ranking: true` with
# the default columns leaves `chosen` unset, and the alpaca converter raises KeyError: None).
EXPECTED_ERRORS = {
    ("DI116", "nectar_rm"),
    ("DI116", "orca_dpo_de"),
}


@pytest.fixture
def data_report(corpus, monkeypatch):
    from lfgate.validator import stock

    # the rules judged on LLaMA-Factory's own tree, as its own files (not folded as stock in a fork: stock.py)
    monkeypatch.setattr(stock, "release_of", lambda path: None)
    monkeypatch.setattr(stock, "is_stock_entry", lambda name, value: False)
    _, report = check_json("data", cwd=corpus)
    return corpus, report


def test_only_entries_llamafactory_fails_on_have_errors(data_report):
    corpus, report = data_report
    expected = set(EXPECTED_ERRORS)
    if not (corpus / "data" / "wiki_demo.txt").exists():  # spec Appendix B: the copy may lack it
        expected.add(("DF001", "wiki_demo"))
    errors = {(d["code"], d["dataset"]) for d in report["diagnostics"] if d["severity"] == "error"}
    assert errors == expected, [d for d in report["diagnostics"] if d["severity"] == "error"]
    for d in report["diagnostics"]:
        if d["code"] == "DI116":
            assert "KeyError: None" in d["message"] and d["file"] == "data/dataset_info.json" and d["line"]
        if d["code"] == "DF001":
            assert str(corpus / "data" / "wiki_demo.txt") in d["message"]


def test_no_warnings_on_the_data(data_report):
    _, report = data_report
    assert [d for d in report["diagnostics"] if d["severity"] == "warning"] == []


def test_every_local_dataset_is_read(data_report):
    corpus, report = data_report
    registry = json.loads((corpus / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    local = {name for name, entry in registry.items() if set(entry) & {"file_name"} and not
             set(entry) & {"hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name"}}
    assert local == {"identity", "alpaca_en_demo", "alpaca_zh_demo", "glaive_toolcall_en_demo",
                     "glaive_toolcall_zh_demo", "mllm_demo", "mllm_audio_demo", "mllm_video_demo",
                     "mllm_video_audio_demo", "dpo_en_demo", "dpo_zh_demo", "kto_en_demo", "wiki_demo", "c4_demo"}
    rows = sum(len(json.loads((corpus / "data" / registry[n]["file_name"]).read_text(encoding="utf-8")))
               for n in local if registry[n]["file_name"].endswith(".json"))
    rows += sum(1 for line in (corpus / "data" / "c4_demo.jsonl").read_text(encoding="utf-8").splitlines()
                if line.strip())
    wiki = corpus / "data" / "wiki_demo.txt"
    if wiki.exists():
        rows += len(wiki.read_text(encoding="utf-8").splitlines())
    assert report["summary"]["samples"] == rows


def test_hub_entries_are_reported_as_not_checkable_offline(data_report):
    corpus, report = data_report
    registry = json.loads((corpus / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    remote = {n for n, e in registry.items() if "file_name" not in e}
    infos = collections.Counter(d["dataset"] for d in report["diagnostics"] if d["code"] == "DI107")
    assert set(infos) == remote and set(infos.values()) == {1}
