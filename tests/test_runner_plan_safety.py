"""`train --dry-run`, `preview` and `stats` on hostile or broken inputs, and without network: no model code runs,
no internal error, bounded work, one short hub probe, and never a run that trains on nothing."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from helpers import run_cli
from runner_helpers import ROOT, tiny_model, write_training_project  # noqa: F401  (fixture)

pytest.importorskip("transformers")

UNREACHABLE = "http://127.0.0.1:9"  # a closed port on loopback: refused at once, never the real network
HUB_CONFIG = ("model_name_or_path: Qwen/Qwen2.5-14B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
              "dataset: demo\ndataset_dir: data\ntemplate: qwen\noutput_dir: out\n")


@pytest.fixture(autouse=True)
def online(monkeypatch, tmp_path):
    # test_register_llamafactory.py sets HF_HUB_OFFLINE for the whole session; these tests choose their own
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


def _codes(out):
    return {d["code"] for d in json.loads(out)["diagnostics"]}


def _copy_model(tiny_model, tmp_path, name="model"):
    folder = tmp_path / name
    shutil.copytree(tiny_model, folder)
    return folder


def _dry_run(config, cwd, *extra):
    return run_cli("train", "--dry-run", "--format", "json", str(config), *extra, cwd=cwd)


# -- model code never runs in a dry run or a preview -------------------------------------------------------------
def _remote_code_model(tiny_model, tmp_path):
    folder = _copy_model(tiny_model, tmp_path)
    marker = tmp_path / "MARKER"
    payload = f"open({str(marker)!r}, 'w').write('ran')\n"
    for module in ("configuration_evil", "modeling_evil", "tokenization_evil"):
        (folder / f"{module}.py").write_text(payload + "from transformers import PretrainedConfig as EvilConfig\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig",
                          "AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    tok = json.loads((folder / "tokenizer_config.json").read_text())
    tok["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tok))
    return folder, marker


def test_dry_run_and_preview_never_run_the_model_folders_code(tiny_model, tmp_path):
    folder, marker = _remote_code_model(tiny_model, tmp_path)
    config = write_training_project(tmp_path, folder, "trust_remote_code: true\n")
    code, out, err = _dry_run(config, tmp_path)
    assert "internal error" not in err and code in (0, 1), err
    assert not marker.exists(), "the dry run executed the model folder's Python"
    plan = json.loads(out).get("plan")
    if plan is not None:
        assert any("--trust-remote-code" in note for note in plan["notes"]), plan["notes"]
    code, out, err = run_cli("preview", str(config), "-n", "1", cwd=tmp_path)
    assert "internal error" not in err and code in (0, 2), err
    assert not marker.exists(), "preview executed the model folder's Python"
    # the command-line flag, and only it, lets the code run: the setup above would show it. In a subprocess, since
    # the remote classes register themselves in transformers' auto mappings for the rest of the process.
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "lfgate", "train", "--dry-run", "--trust-remote-code", str(config)],
                   cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert marker.exists()


# -- config.json that contradicts itself, or claims 200,000 layers -----------------------------------------------
def _with_config(tiny_model, tmp_path, **fields):
    folder = _copy_model(tiny_model, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config.update(fields)
    (folder / "config.json").write_text(json.dumps(config))
    return write_training_project(tmp_path, folder)


def test_layer_types_against_num_hidden_layers_is_a_finding_not_a_crash(tiny_model, tmp_path):
    config = _with_config(tiny_model, tmp_path, num_hidden_layers=2, layer_types=["full_attention"] * 5)
    code, out, err = _dry_run(config, tmp_path)
    assert code == 1 and "internal error" not in err, err
    assert "LK034" in _codes(out)


def test_a_config_claiming_200000_layers_is_not_built(tiny_model, tmp_path):
    config = _with_config(tiny_model, tmp_path, num_hidden_layers=200_000)
    start = time.monotonic()
    code, out, err = _dry_run(config, tmp_path)
    assert time.monotonic() - start < 15 and "internal error" not in err, err
    report = json.loads(out)
    assert "LK034" in _codes(out)
    assert any("200,000" in note for note in report["plan"]["notes"]) and "lora" not in report["plan"]


# -- numbers no budget can be computed from ---------------------------------------------------------------------
@pytest.mark.parametrize("override,why", [("per_device_train_batch_size=0", "per_device_train_batch_size: 0"),
                                          ("gradient_accumulation_steps=0", "gradient_accumulation_steps: 0"),
                                          ("num_train_epochs=.inf", "num_train_epochs: inf"),
                                          ("num_train_epochs=-1", "num_train_epochs: -1")])
def test_no_budget_from_zero_batch_or_infinite_or_negative_epochs(tiny_model, tmp_path, override, why):
    config = write_training_project(tmp_path, tiny_model)
    code, out, err = _dry_run(config, tmp_path, override, "max_steps=-1")
    assert "internal error" not in err and "ZeroDivisionError" not in err, err
    report = json.loads(out)
    budget = [d["message"] for d in report["diagnostics"] if d["code"] == "LK043"]
    assert budget and all("no step budget" in m and why in m for m in budget), budget
    assert not any("-1 optimizer steps" in m or "with 8" in m for m in budget)
    if "plan" in report:
        assert why in report["plan"]["steps"]["problem"]


# -- no network: one short probe, an answer in seconds ----------------------------------------------------------
def _hub_project(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dataset_info.json").write_text(json.dumps({"demo": {"file_name": "demo.json"}}))
    (tmp_path / "data" / "demo.json").write_text(json.dumps([{"instruction": "Q", "input": "", "output": "A"}] * 4))
    (tmp_path / "train.yaml").write_text(HUB_CONFIG)
    return tmp_path / "train.yaml"


@pytest.mark.parametrize("command", ["dry-run", "preview", "stats"])
def test_unreachable_hub_answers_in_seconds(tmp_path, monkeypatch, command):
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    config = _hub_project(tmp_path)
    start = time.monotonic()
    if command == "dry-run":
        code, out, err = run_cli("train", "--dry-run", str(config), cwd=tmp_path)
    elif command == "preview":
        code, out, err = run_cli("preview", str(config), cwd=tmp_path)
    else:
        code, out, err = run_cli("stats", str(config), cwd=tmp_path)
    assert time.monotonic() - start < 5
    assert "internal error" not in err and "Retrying" not in err, err
    if command != "stats":  # stats never downloads: it counts characters without a local tokenizer
        assert "cannot reach the hub at http://127.0.0.1:9" in err and "HF_HUB_OFFLINE=1" in err, err


def test_offline_mode_with_an_uncached_model_says_so_without_probing(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    config = _hub_project(tmp_path)
    code, out, err = run_cli("preview", str(config), cwd=tmp_path)
    assert code == 2 and "not in the local cache" in err


# -- never train on nothing -------------------------------------------------------------------------------------
def _no_tokenizer(tiny_model, tmp_path):
    folder = tmp_path / "bare"
    folder.mkdir()
    shutil.copy(tiny_model / "config.json", folder / "config.json")
    shutil.copy(tiny_model / "model.safetensors", folder / "model.safetensors")
    return write_training_project(tmp_path, folder)


def test_model_folder_without_tokenizer_is_an_error_in_check_and_train(tiny_model, tmp_path):
    config = _no_tokenizer(tiny_model, tmp_path)
    code, out, err = run_cli("check", "--format", "json", str(config), cwd=tmp_path)
    assert code == 1 and "LK035" in _codes(out)
    code, out, err = run_cli("train", "--format", "json", str(config), cwd=tmp_path)
    assert code == 1 and "LK035" in _codes(out) and not (tmp_path / "out").exists()


def test_an_empty_tokenizer_is_refused_by_the_runner(tiny_model, tmp_path):
    from lfgate.runner import config as config_mod, data, recipe

    config = config_mod.load(str(_no_tokenizer(tiny_model, tmp_path)))
    with pytest.raises(data.DataError, match="tokenizer is empty"):
        recipe.load_tokenizer(config)


def test_samples_with_no_content_or_mostly_unknown_tokens_are_refused():
    from types import SimpleNamespace

    from lfgate.runner.recipe import encoding_problem

    tokenizer = SimpleNamespace(all_special_ids=[0, 1, 2], unk_token_id=3)
    samples = [SimpleNamespace(dataset="demo", index=i) for i in range(2)]
    ok = {"input_ids": [1, 10, 11, 2], "labels": [-100, 10, 11, 2]}
    assert encoding_problem(tokenizer, samples, [ok, ok]) is None
    empty = {"input_ids": [1, 2, 1, 2], "labels": [-100, -100, 1, 2]}
    assert "no content token" in encoding_problem(tokenizer, samples, [ok, empty])
    unknown = {"input_ids": [1, 3, 3, 3, 10, 2], "labels": [-100] * 6}
    assert "mostly the unknown token" in encoding_problem(tokenizer, samples, [unknown, ok])


def test_preview_and_dry_run_warn_when_no_token_is_trained(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model)
    code, out, err = run_cli("preview", str(config), "cutoff_len=1", "-n", "2", cwd=tmp_path)
    assert code == 0 and "have no trained token" in err, err
    code, out, err = _dry_run(config, tmp_path, "cutoff_len=1")
    assert any("no trained token" in n for n in json.loads(out)["plan"]["notes"])


def test_a_hub_that_never_answers_is_given_up_on_within_the_deadline():
    import socket

    from lfgate.runner.hub import reachable

    with socket.socket() as server:  # listens on loopback, never answers
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        start = time.monotonic()
        why = reachable(f"http://127.0.0.1:{server.getsockname()[1]}", timeout=0.5)
        assert why is not None and time.monotonic() - start < 2
