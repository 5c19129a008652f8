"""A fork (or copy) of LLaMA-Factory is a project too (issue 25 §3): one file is checked with what it needs, and
LLaMA-Factory's own stock files and registry entries, unchanged from a release, never fail the user's check."""

import hashlib
import json
import subprocess
import sys

import pytest

from conftest import ROOT, write_project
from helpers import chdir, check_json, find

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


def test_a_config_alone_keeps_the_registry_findings_of_an_entry_it_names(tmp_path):
    fork(tmp_path, mine={"my": "my.json"}, files={"train.yaml": CONFIG})  # a string, not an object: DI003
    _, report = check_json("train.yaml", cwd=tmp_path)
    assert [d["dataset"] for d in find(report, "DI003")] == ["my"] and not find(report, "DI116")


# -- LLaMA-Factory's own files and entries, unchanged from a release ---------------------------------------------
def test_the_registry_with_the_users_data_passes_and_stock_entries_are_warnings(tmp_path):
    fork(tmp_path)  # the `lfgate-files` hook on a data commit: the registry and the new file, together
    code, report = check_json("data/dataset_info.json", "data/my.json", cwd=tmp_path)
    found = find(report, "DI116")
    assert code == 0 and sorted(d["dataset"] for d in found) == ["nectar_rm", "orca_dpo_de"]
    assert all(d["severity"] == "warning" and "LLaMA-Factory's own" in d["message"] for d in found)


def test_a_users_config_that_loads_a_stock_entry_makes_it_an_error_again(tmp_path):
    fork(tmp_path, files={"train.yaml": CONFIG.replace("dataset: my", "dataset: nectar_rm")})
    code, report = check_json(".", cwd=tmp_path)
    by_dataset = {d["dataset"]: d["severity"] for d in find(report, "DI116")}
    assert code == 1 and by_dataset["nectar_rm"] == "error" and by_dataset.get("orca_dpo_de") != "error"


def test_a_changed_stock_entry_is_the_users(tmp_path):
    changed = {"orca_dpo_de": {**STOCK_ENTRIES["orca_dpo_de"], "split": "train"}}
    fork(tmp_path, mine=changed)
    code, report = check_json("data/dataset_info.json", cwd=tmp_path)
    assert code == 1 and [d["dataset"] for d in find(report, "DI116") if d["severity"] == "error"] == ["orca_dpo_de"]


BROKEN_EXAMPLE = CONFIG.replace("dataset: my", "dataset: med")  # LK002: no entry `med`, as in asft's examples


@pytest.fixture
def as_stock(monkeypatch):
    """Make the given files' bytes stock, as if a release held them (the real table is LLaMA-Factory's)."""
    from lfgate.validator import stock

    def mark(*paths):
        rows = {hashlib.sha256(p.read_bytes()).hexdigest(): {"size": p.stat().st_size, "paths": [str(p.name)],
                                                             "releases": ["v0.9.5"]} for p in paths}
        table = {"files": rows, "entries": stock._table()["entries"]}
        monkeypatch.setattr(stock, "_table", lambda: table)
        monkeypatch.setattr(stock, "_sizes", lambda: frozenset(r["size"] for r in rows.values()))
    return mark


def test_an_unchanged_example_is_at_most_a_warning_and_a_changed_one_is_the_users(tmp_path, as_stock):
    root = fork(tmp_path, files={"examples/asft.yaml": BROKEN_EXAMPLE, "train.yaml": CONFIG})
    as_stock(root / "examples" / "asft.yaml")
    code, report = check_json(".", cwd=tmp_path)
    [hit] = find(report, "LK002")
    assert code == 0 and hit["severity"] == "warning" and "LLaMA-Factory's own" in hit["message"]
    (root / "examples" / "mine.yaml").write_text(BROKEN_EXAMPLE, encoding="utf-8")  # a copy elsewhere: the user's
    code, report = check_json(".", cwd=tmp_path)
    assert code == 1 and [d["file"] for d in find(report, "LK002") if d["severity"] == "error"] == ["examples/mine.yaml"]
    (root / "examples" / "mine.yaml").unlink()
    (root / "examples" / "asft.yaml").write_text(BROKEN_EXAMPLE + "# mine\n", encoding="utf-8")
    code, report = check_json(".", cwd=tmp_path)
    assert code == 1 and [d["severity"] for d in find(report, "LK002")] == ["error"]


def test_launching_an_unchanged_example_keeps_its_errors(tmp_path, as_stock):
    from lfgate.settings import Settings
    from lfgate.validator.engine import Checker

    root = fork(tmp_path, files={"examples/asft.yaml": BROKEN_EXAMPLE})
    as_stock(root / "examples" / "asft.yaml")
    with chdir(tmp_path):
        report = Checker(Settings(), launching=True).run(["examples/asft.yaml"])
    assert [str(d.severity) for d in report.diagnostics if d.code == "LK002"] == ["error"]


def test_llamafactorys_own_tree_with_the_users_entry_has_no_error(corpus):
    registry = json.loads((corpus / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    registry["my"] = {"file_name": "my.json"}
    write_project(corpus, {"data/dataset_info.json": json.dumps(registry, indent=2), "data/my.json": ALPACA,
                           "train.yaml": CONFIG})
    code, report = check_json(".", cwd=corpus)
    assert code == 0, [(d["code"], d["file"]) for d in report["diagnostics"] if d["severity"] == "error"]
    assert {d["severity"] for d in find(report, "LK002")} == {"warning"}  # asft's examples: still said, at their place


# -- the table and its generator -----------------------------------------------------------------------------------
def test_the_generator_hashes_each_release_from_a_git_directory(tmp_path):
    from lfgate.validator import stock

    sys.path.insert(0, str(ROOT / "scripts"))
    import gen_stock_hashes

    repo = tmp_path / "lf"
    entry = {"file_name": "identity.json"}

    def commit(tag, text):
        write_project(repo, {"examples/a.yaml": text, "data/dataset_info.json": json.dumps({"identity": entry}),
                             "src/x.py": text})
        git("add", "-A")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", tag)
        git("tag", tag)

    def git(*args):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    repo.mkdir()
    git("init", "-q")
    commit("v0.8.3", "old: 1\n")
    commit("v0.9.0", "same: 1\n")
    commit("v0.9.1", "same: 1\n")
    out = tmp_path / "stock.json"
    assert gen_stock_hashes.main(["--repo", str(repo), "--since", "v0.9.0", "--output", str(out)]) == 0
    table = json.loads(out.read_text(encoding="utf-8"))
    assert table["releases"] == ["v0.9.0", "v0.9.1"]
    row = table["files"][hashlib.sha256(b"same: 1\n").hexdigest()]
    assert row == {"size": 8, "paths": ["examples/a.yaml"], "releases": ["v0.9.0", "v0.9.1"]}
    assert hashlib.sha256(b"old: 1\n").hexdigest() not in table["files"] and len(table["files"]) == 2  # no src/
    [(digest, seen)] = table["entries"].items()
    assert seen["name"] == "identity" and digest in stock._table()["entries"]  # the same hash as the shipped one


def test_the_shipped_table_covers_the_releases():
    from lfgate.validator import stock

    table = stock._table()
    assert {"v0.9.0", "v0.9.5"} <= set(table["releases"]) and len(table["files"]) > 100
    assert all(set(row) == {"size", "paths", "releases"} for row in table["files"].values())
