"""2 processes (torchrun on CPU, gloo) against 1, same global batch: the same logged loss and grad_norm.

Before the fix the 2-process run logged about twice the loss and grad_norm (12.64 against 6.32): without
`use_cpu`, accelerate set DistributedType.NO under torchrun, so the model was never wrapped in DDP (gradients not
averaged, num_items_in_batch not gathered) while the Trainer still multiplied the loss by the 2 processes
(benchmarks/README.md has both runs and LLaMA-Factory 0.9.5's own figures).
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import oracle_missing
from runner_helpers import ROOT, tiny_model, write_training_project  # noqa: F401  (fixture)

pytest.importorskip("peft")

STEPS = 4


def _train(config, cwd, out, processes, batch):
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "WORLD_SIZE", "RANK")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    if processes > 1:
        env.update(FORCE_TORCHRUN="1", NPROC_PER_NODE=str(processes))
    overrides = [f"output_dir={out}", f"per_device_train_batch_size={batch}", f"max_steps={STEPS}",
                 "logging_steps=1", "save_steps=1000"]
    result = subprocess.run([sys.executable, "-m", "lfgate", "train", str(config), *overrides], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(cwd, out, "trainer_state.json"), encoding="utf-8") as f:
        history = [h for h in json.load(f)["log_history"] if "loss" in h]
    with open(os.path.join(cwd, out, "trainer_log.jsonl"), encoding="utf-8") as f:
        logged = [json.loads(line)["loss"] for line in f if "loss" in json.loads(line)]
    return history, logged, result.stderr


@pytest.mark.slow
def test_two_processes_log_the_same_loss_and_grad_norm_as_one(tiny_model, tmp_path):
    config = write_training_project(tmp_path, tiny_model)
    one, one_log, _ = _train(config, tmp_path, "one", processes=1, batch=8)
    two, two_log, err = _train(config, tmp_path, "two", processes=2, batch=4)
    assert "2 devices (NPROC_PER_NODE=2)" in err  # the launch says where the count came from
    assert len(one) == len(two) == STEPS
    for a, b in zip(one, two):
        assert b["loss"] == pytest.approx(a["loss"], rel=0.05), (one, two)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=0.05), (one, two)
    assert two_log == pytest.approx(one_log, rel=0.05)  # trainer_log.jsonl, which the loss plot reads too
    log = (tmp_path / "two" / "running_log.txt").read_text(encoding="utf-8")
    assert "step 1/4" in log and "loss" in log and "done:" in log  # running_log.txt, as LLaMA-Factory writes it


LF_PYTHON = os.environ.get("LFGATE_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))


@pytest.mark.slow
@pytest.mark.llamafactory
def test_two_processes_match_llamafactorys_own_two_process_run(tiny_model, tmp_path):
    """LLaMA-Factory 0.9.5 itself (FORCE_TORCHRUN=1 NPROC_PER_NODE=2) on the same config: the same losses."""
    cli = os.path.join(os.path.dirname(LF_PYTHON), "llamafactory-cli")
    if not os.path.isfile(cli):
        oracle_missing("no llamafactory-cli (set LFGATE_LF_PYTHON; scripts/make_llamafactory_venv.sh builds one)")
    config = write_training_project(tmp_path, tiny_model)
    ours, _, _ = _train(config, tmp_path, "ours", processes=2, batch=4)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LOCAL_RANK", "WORLD_SIZE", "RANK")}
    env.update(FORCE_TORCHRUN="1", NPROC_PER_NODE="2", OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE",
               PATH=os.path.dirname(LF_PYTHON) + os.pathsep + env.get("PATH", ""))
    result = subprocess.run([cli, "train", str(config), "output_dir=lf", "per_device_train_batch_size=4",
                             f"max_steps={STEPS}", "logging_steps=1", "save_steps=1000", "overwrite_output_dir=true"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "lf" / "trainer_state.json", encoding="utf-8") as f:
        theirs = [h for h in json.load(f)["log_history"] if "loss" in h]
    assert [h["loss"] for h in ours] == pytest.approx([h["loss"] for h in theirs], rel=0.05)
    assert [h["grad_norm"] for h in ours] == pytest.approx([h["grad_norm"] for h in theirs], rel=0.05)
