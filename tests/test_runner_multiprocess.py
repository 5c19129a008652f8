"""2 processes (torchrun on CPU, gloo) against 1, same global batch: the same logged loss and grad_norm. And two
nodes on this machine (two torchrun agents, one process each, with the handshake) against one node with two
processes: the same losses, and only rank 0 writes outputs.

Before the fix the 2-process run logged about twice the loss and grad_norm (12.64 against 6.32): without
`use_cpu`, accelerate set DistributedType.NO under torchrun, so the model was never wrapped in DDP (gradients not
averaged, num_items_in_batch not gathered) while the Trainer still multiplied the loss by the 2 processes
(benchmarks/README.md has both runs and LLaMA-Factory 0.9.5's own figures).
"""

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from conftest import oracle_missing
from runner_helpers import ROOT, tiny_model, write_training_project  # noqa: F401  (fixture)

pytest.importorskip("peft")

STEPS = 4


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "WORLD_SIZE", "RANK")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE", **extra)
    return env


def _command(config, out, batch):
    return [sys.executable, "-m", "lfgate", "train", str(config), f"output_dir={out}",
            f"per_device_train_batch_size={batch}", f"max_steps={STEPS}", "logging_steps=1", "save_steps=1000"]


def _train(config, cwd, out, processes, batch):
    env = _env(**({"FORCE_TORCHRUN": "1", "NPROC_PER_NODE": str(processes)} if processes > 1 else {}))
    result = subprocess.run(_command(config, out, batch), cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    return _logged(cwd, out) + (result.stderr,)


def _logged(cwd, out):
    with open(os.path.join(cwd, out, "trainer_state.json"), encoding="utf-8") as f:
        history = [h for h in json.load(f)["log_history"] if "loss" in h]
    with open(os.path.join(cwd, out, "trainer_log.jsonl"), encoding="utf-8") as f:
        logged = [json.loads(line)["loss"] for line in f if "loss" in json.loads(line)]
    return history, logged


@pytest.fixture(scope="module")
def two_processes(tiny_model, tmp_path_factory):
    """One node, two processes, batch 4 each: (project folder, config, history, trainer_log losses, stderr)."""
    root = tmp_path_factory.mktemp("two-processes")
    config = write_training_project(root, tiny_model)
    return (root, config) + _train(config, root, "two", processes=2, batch=4)


@pytest.mark.slow
def test_two_processes_log_the_same_loss_and_grad_norm_as_one(two_processes):
    tmp_path, config, two, two_log, err = two_processes
    one, one_log, _ = _train(config, tmp_path, "one", processes=1, batch=8)
    assert "2 devices (NPROC_PER_NODE=2)" in err  # the launch says where the count came from
    assert len(one) == len(two) == STEPS
    for a, b in zip(one, two):
        assert b["loss"] == pytest.approx(a["loss"], rel=0.05), (one, two)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=0.05), (one, two)
    assert two_log == pytest.approx(one_log, rel=0.05)  # trainer_log.jsonl, which the loss plot reads too
    log = (tmp_path / "two" / "running_log.txt").read_text(encoding="utf-8")
    assert "step 1/4" in log and "loss" in log and "done:" in log  # running_log.txt, as LLaMA-Factory writes it


def _free_port_pair() -> int:
    """A port P with P + 1 free as well (torchrun's store on P, the handshake on P + 1)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as b:
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


@pytest.mark.slow
def test_two_nodes_log_the_same_losses_as_one_node_with_two_processes(two_processes, tmp_path):
    """NNODES=2, NODE_RANK=0/1, MASTER_ADDR=127.0.0.1, one process each, gloo; each node in its own copy of the
    project. The handshake runs first; node 1 writes nothing."""
    project, config, two, two_log, _ = two_processes
    port = _free_port_pair()
    nodes = []
    for rank in (0, 1):
        folder = tmp_path / f"node{rank}"
        folder.mkdir()
        shutil.copy(config, folder / "train.yaml")
        shutil.copytree(project / "data", folder / "data")
        env = _env(NNODES="2", NODE_RANK=str(rank), NPROC_PER_NODE="1", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port))
        one_host = ["--ignore", "RN041"]  # both nodes on this host: loopback MASTER_ADDR on purpose
        nodes.append(subprocess.Popen(_command(folder / "train.yaml", "out", 4) + ["--handshake-timeout", "300", *one_host],
                                      cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    errs = []
    try:
        for node in nodes:
            errs.append(node.communicate(timeout=600)[1])
    finally:
        for node in nodes:
            node.kill()
    assert [n.returncode for n in nodes] == [0, 0], [e[-3000:] for e in errs]
    assert "the 2 nodes agree with node 0" in errs[0] and "the 2 nodes agree with node 0" in errs[1]
    history, logged = _logged(tmp_path / "node0", "out")
    assert [h["loss"] for h in history] == [h["loss"] for h in two] and logged == two_log
    assert [h["grad_norm"] for h in history] == pytest.approx([h["grad_norm"] for h in two], rel=1e-6)
    out = tmp_path / "node1" / "out"
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) if out.exists() else []
    # Node 1 writes no output; only transformers' per-rank RNG state in each checkpoint, which resuming needs on
    # that node (LLaMA-Factory's runs do the same)
    assert written == ["checkpoint-4/rng_state_1.pth"], written


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
