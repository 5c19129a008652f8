"""`lfgate train` end to end on CPU with a tiny local Qwen2 model: loss, outputs, adapter, resume, dry run."""

import json
import os

import pytest

from helpers import run_cli
from runner_helpers import one_thread, tiny_model, write_training_project  # noqa: F401  (fixtures)

pytest.importorskip("peft")


pytestmark = pytest.mark.usefixtures("one_thread")


def _log(out_dir):
    with open(os.path.join(out_dir, "trainer_log.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.mark.slow
def test_train_end_to_end_loss_falls_and_outputs_are_laid_out_like_llamafactory(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model, "num_train_epochs: 6\nplot_loss: true\n")
    code, out, err = run_cli("train", str(config), cwd=tmp_path)
    assert code == 0, err
    out_dir = tmp_path / "out"
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "tokenizer_config.json",
                 "trainer_log.jsonl", "train_results.json", "all_results.json", "trainer_state.json",
                 "training_loss.png"):
        assert (out_dir / name).is_file(), name
    log = _log(out_dir)
    assert {"current_steps", "total_steps", "loss", "lr", "epoch", "percentage", "elapsed_time",
            "remaining_time"} <= set(log[0])
    assert log[-1]["current_steps"] == log[-1]["total_steps"] == 48  # 32 samples / 4 per step * 6 epochs
    losses = [r["loss"] for r in log if "loss" in r]
    first, last = losses[0], min(losses[-3:])
    assert last < first * 0.9, (first, last)
    results = json.loads((out_dir / "train_results.json").read_text())
    assert results["epoch"] == 6.0 and "train_loss" in results and "train_samples_per_second" in results
    adapter = json.loads((out_dir / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and adapter["lora_alpha"] == 8  # default alpha = rank * 2
    assert set(adapter["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                               "down_proj"}  # lora_target: all, without lm_head
    assert "step 48/48" in out  # plain progress lines when stdout is not a terminal


@pytest.mark.slow
def test_adapter_loads_with_peft_and_changes_the_output(tiny_model, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    config = write_training_project(tmp_path, tiny_model, "max_steps: 10\n")
    code, _, err = run_cli("train", str(config), cwd=tmp_path)
    assert code == 0, err
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        before = base(input_ids=ids).logits
        tuned = PeftModel.from_pretrained(base, str(tmp_path / "out"))
        after = tuned(input_ids=ids).logits
    assert before.shape == after.shape
    assert not torch.allclose(before, after, atol=1e-4)


@pytest.mark.slow
def test_resume_continues_from_the_last_checkpoint(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model, "max_steps: 10\n")
    code, _, err = run_cli("train", str(config), cwd=tmp_path)
    assert code == 0, err
    out_dir = tmp_path / "out"
    assert (out_dir / "checkpoint-10").is_dir() and (out_dir / "checkpoint-5").is_dir()
    # an interruption after step 5: what a killed run leaves behind
    import shutil

    shutil.rmtree(out_dir / "checkpoint-10")
    for name in ("adapter_model.safetensors", "adapter_config.json", "training_args.bin"):
        if (out_dir / name).exists():
            os.remove(out_dir / name)
    code, _, err = run_cli("train", str(config), cwd=tmp_path)
    assert code == 0, err
    assert "resuming from" in err and "checkpoint-5" in err
    state = json.loads((out_dir / "trainer_state.json").read_text())
    assert state["global_step"] == 10
    steps = [r["current_steps"] for r in _log(out_dir)]
    assert steps[-1] == 10 and min(steps[steps.index(10) - 2:]) > 5  # the second run logged steps 6..10 only


def test_dry_run_plans_without_loading_weights(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model, "num_train_epochs: 2\nval_size: 0.25\n")
    code, out, err = run_cli("train", "--format", "json", str(config), "--dry-run", cwd=tmp_path)
    assert code == 0, err
    plan = json.loads(out)["plan"]
    assert plan["device"]["kind"] == "cpu" and plan["device"]["dtype"] == "fp32"
    assert plan["samples"] == {"per_dataset": {"demo": 32}, "train": 24, "eval": 8}
    assert plan["steps"] == {"per_epoch": 6, "total": 12, "batch_per_step": 4}
    assert plan["tokens"]["longest"] <= 64 and plan["tokens"]["trained_per_epoch"] > 0
    # LoRA on 7 linears per layer, rank 4: 4 * (in + out) each
    assert plan["lora"]["trainable"] > 0 and plan["lora"]["rank"] == 4
    assert not (tmp_path / "out").exists()


def test_overrides_reach_the_runner_and_unsupported_configs_stop_before_loading(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model)
    code, out, err = run_cli("train", "--format", "json", str(config), "stage=dpo", "loraplus_lr_ratio=16", cwd=tmp_path)
    assert code == 1
    report = json.loads(out)
    assert {"RN001", "RN005"} <= {d["code"] for d in report["diagnostics"]}
    assert "not launching" in err and not (tmp_path / "out").exists()


def test_llamafactory_backend_is_a_clear_error_when_not_installed(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    config = write_training_project(tmp_path, tiny_model)
    code, _, err = run_cli("train", str(config), "--backend", "llamafactory", cwd=tmp_path)
    assert code == 2 and "llamafactory-cli is not installed" in err


def test_llamafactory_backend_runs_the_cli_with_the_overrides(tiny_model, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "llamafactory-cli"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/called\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = write_training_project(tmp_path, tiny_model)
    code, _, err = run_cli("train", str(config), "learning_rate=1e-4", "--backend", "llamafactory", cwd=tmp_path)
    assert code == 3
    assert (tmp_path / "called").read_text().split() == ["train", str(config), "learning_rate=1e-4"]


@pytest.mark.slow
def test_two_processes_through_torchrun_on_cpu(tiny_model, tmp_path, monkeypatch):
    # the multi-device path end to end: torchrun (gloo on CPU), DDP, one log line per step from rank 0 only
    import subprocess
    import sys

    config = write_training_project(tmp_path, tiny_model, "max_steps: 4\n")
    env = dict(os.environ, FORCE_TORCHRUN="1", NPROC_PER_NODE="2", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "lfgate", "train", str(config)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "torch.distributed.run" in proc.stderr and "--nproc_per_node 2" in proc.stderr
    assert proc.stdout.count("step 4/4  loss") == 1
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["train_batch_size"] == 4
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


def test_val_size_evaluates_during_and_after_training(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model, "max_steps: 4\nval_size: 0.25\neval_strategy: steps\n"
                                                           "eval_steps: 2\ndo_eval: true\n")
    code, out, err = run_cli("train", str(config), cwd=tmp_path)
    assert code == 0, err
    evals = [r for r in _log(tmp_path / "out") if "eval_loss" in r]
    assert [r["current_steps"] for r in evals] == [2, 4, 4]  # every eval_steps, then the final evaluation
    results = json.loads((tmp_path / "out" / "eval_results.json").read_text())
    assert results["eval_loss"] > 0 and "data: 24 training samples, 8 for evaluation" in err


@pytest.mark.parametrize("library", ["peft", "transformers"])
def test_the_builtin_runner_without_the_train_extra_is_a_clear_error(tiny_model, tmp_path, monkeypatch, library):
    """`pip install lfgate` without `[train]`: the check runs, then an install hint and exit 2, no traceback."""
    config = write_training_project(tmp_path, tiny_model)
    monkeypatch.setitem(__import__("sys").modules, library, None)  # `import peft` now raises ImportError
    code, _, err = run_cli("train", str(config), cwd=tmp_path)
    assert code == 2 and f"needs {library}" in err and "pip install 'lfgate[train]'" in err
    assert "internal error" not in err and not (tmp_path / "out").exists()
    code, out, err = run_cli("train", "--format", "json", str(config), "--dry-run", cwd=tmp_path)
    assert code == 0, err  # the plan goes without what needs the library
    assert json.loads(out)["plan"]["steps"]["total"] > 0
