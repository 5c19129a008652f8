"""A fork (or copy) of LLaMA-Factory is a project too (issue 25 §3): one file is checked with what it needs, and
LLaMA-Factory's own stock files and registry entries, unchanged from a release, never fail the user's check."""

import json

from conftest import write_project
from helpers import check_json, find

# LLaMA-Factory's own entries, as its data/dataset_info.json has them (v0.9.x): the two ranking entries without
# `columns` raise in its converter (DI116), so a check of the whole registry reports them.
STOCK_ENTRIES = {
    "identity": {"file_name": "identity.json"},
    "nectar_rm": {"hf_hub_url": "AstraMindAI/RLAIF-Nectar", "ms_hub_url": "AI-ModelScope/RLAIF-Nectar",
                  "ranking": True},
    "orca_dpo_de": {"hf_hub_url": "mayflowergmbh/intel_orca_dpo_pairs_de", "ranking": True},
}
ALPACA = '[{"instruction": "hi", "input": "", "output": "hello"}]\n'
CONFIG = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
          "template: qwen\noutput_dir: saves/q\nlogging_steps: 1\nsave_steps: 1\ndataset: my\n")


def fork(tmp_path, mine=None, files=None):
    """A fork-like tree: LLaMA-Factory's stock entries plus the user's `my` entry (and any more in ``mine``)."""
    registry = {**STOCK_ENTRIES, "my": {"file_name": "my.json"}, **(mine or {})}
    return write_project(tmp_path, {"data/dataset_info.json": json.dumps(registry, indent=2),
                                    "data/identity.json": ALPACA, "data/my.json": ALPACA, **(files or {})})


def datasets_named(report) -> set:
    return {d["dataset"] for d in report["diagnostics"] if d.get("dataset")}


# -- one file: a data file with the entries that read it, a config with what it uses ---------------------------------
def test_a_data_file_alone_is_checked_with_its_own_entries_only(tmp_path):
    fork(tmp_path)
    code, report = check_json("data/my.json", cwd=tmp_path)
    assert code == 0 and not find(report, "DI116"), report["diagnostics"]
    assert datasets_named(report) <= {"my"}


def test_every_entry_that_reads_the_file_is_checked_and_its_errors_stay(tmp_path):
    broken = {"my_ranked": {"file_name": "my.json", "ranking": True, "columns": {"prompt": "instruction"}}}
    fork(tmp_path, mine=broken)
    code, report = check_json("data/my.json", cwd=tmp_path)
    [hit] = find(report, "DI116")
    assert code == 1 and hit["dataset"] == "my_ranked" and hit["severity"] == "error"


def test_a_config_alone_is_checked_with_the_entries_it_loads_only(tmp_path):
    fork(tmp_path, files={"train.yaml": CONFIG})
    code, report = check_json("train.yaml", cwd=tmp_path)
    assert code == 0 and not find(report, "DI116") and datasets_named(report) <= {"my"}, report["diagnostics"]
