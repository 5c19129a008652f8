"""The multi-node handshake (runner/handshake.py): nodes that differ, or cannot reach node 0, stop with a message.

Sockets on loopback only; each test finishes in a few seconds. The two-node training run itself is in
tests/test_runner_multiprocess.py.
"""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from helpers import run_cli
from lfgate.runner import handshake
from runner_helpers import ROOT, tiny_model, write_training_project  # noqa: F401  (fixture)

FP = {"lfgate": "1.0", "torch": "2.13.0", "transformers": "5.6.0", "peft": "0.18.1", "config": "abc",
      "dataset demo": "123", "devices": "1 cpu"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_in_thread(node, mine):
    result = {}

    def target():
        try:
            handshake.serve(node, mine)
            result["ok"] = True
        except handshake.HandshakeError as err:
            result["error"] = str(err)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def test_nodes_that_agree_go_ahead():
    port = free_port()
    thread, result = _serve_in_thread(handshake.Node(0, 3, "127.0.0.1", port, timeout=20), FP)
    joiners = [threading.Thread(target=handshake.join, args=(handshake.Node(r, 3, "127.0.0.1", port, 20), dict(FP)))
               for r in (1, 2)]
    for j in joiners:
        j.start()
    for j in joiners + [thread]:
        j.join(30)
    assert result == {"ok": True}


def test_a_node_that_differs_stops_every_node_with_a_table():
    port = free_port()
    thread, result = _serve_in_thread(handshake.Node(0, 2, "127.0.0.1", port, timeout=20), FP)
    theirs = dict(FP, torch="2.10.0", **{"dataset demo": "999"})
    with pytest.raises(handshake.HandshakeError) as caught:
        handshake.join(handshake.Node(1, 2, "127.0.0.1", port, timeout=20), theirs)
    thread.join(30)
    for text in (str(caught.value), result["error"]):
        assert "differ from node 0" in text
        rows = [line.split() for line in text.splitlines()]
        assert ["1", "torch", "2.13.0", "2.10.0"] in rows and ["1", "dataset", "demo", "123", "999"] in rows
    assert str(caught.value).startswith("node 1:")


def test_a_node_that_cannot_reach_the_master_stops_in_bounded_time_naming_node_and_address():
    port = free_port()  # nothing listens there
    start = time.monotonic()
    with pytest.raises(handshake.HandshakeError) as caught:
        handshake.join(handshake.Node(1, 2, "127.0.0.1", port, timeout=1.5), FP)
    assert time.monotonic() - start < 10
    assert f"node 1 cannot reach MASTER_ADDR 127.0.0.1:{port}" in str(caught.value)


def test_node_0_stops_when_a_node_never_reports():
    port = free_port()
    with pytest.raises(handshake.HandshakeError, match=r"node\(s\) 1, 2 did not report"):
        handshake.serve(handshake.Node(0, 3, "127.0.0.1", port, timeout=1.0), FP)


def test_a_stray_connection_does_not_count_as_a_node():
    port = free_port()
    thread, result = _serve_in_thread(handshake.Node(0, 2, "127.0.0.1", port, timeout=20), FP)
    for _ in range(50):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as stray:
                stray.sendall(b"GET / HTTP/1.0\r\n\r\n")
            break
        except OSError:
            time.sleep(0.1)
    handshake.join(handshake.Node(1, 2, "127.0.0.1", port, timeout=20), dict(FP))
    thread.join(30)
    assert result == {"ok": True}


def test_the_fingerprint_hashes_the_config_overrides_and_each_dataset(tmp_path):
    (tmp_path / "t.yaml").write_text("a: 1\n")
    (tmp_path / "d.json").write_text("[]")
    one = handshake.fingerprint(str(tmp_path / "t.yaml"), {}, {"demo": str(tmp_path / "d.json")}, ("cpu", 1))
    assert {"lfgate", "torch", "transformers", "peft", "config", "dataset demo", "devices"} <= set(one)
    assert one["devices"] == "1 cpu"
    assert handshake.fingerprint(str(tmp_path / "t.yaml"), {"a": "2"}, {"demo": str(tmp_path / "d.json")},
                                 ("cpu", 1))["config"] != one["config"]
    (tmp_path / "d.json").write_text("[{}]")
    assert handshake.fingerprint(str(tmp_path / "t.yaml"), {}, {"demo": str(tmp_path / "d.json")},
                                 ("cpu", 1))["dataset demo"] != one["dataset demo"]


# Both "nodes" run on this host, so MASTER_ADDR is loopback on purpose: RN041 (right for real nodes) is ignored.
ONE_HOST = ("--ignore", "RN041")


def _node_env(rank, port, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "WORLD_SIZE", "RANK")}
    env.update(NNODES="2", NODE_RANK=str(rank), NPROC_PER_NODE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
               PYTHONPATH=str(ROOT), **extra)
    return env


def test_lfgate_train_on_node_1_stops_before_torchrun_when_node_0_is_unreachable(tiny_model, tmp_path,
                                                                                  monkeypatch):
    config = write_training_project(tmp_path, tiny_model)
    port = free_port()
    for name, value in _node_env(1, port).items():
        monkeypatch.setenv(name, value)
    code, _, err = run_cli("train", str(config), "--handshake-timeout", "1", *ONE_HOST, cwd=tmp_path)
    assert code == 1 and f"node 1 cannot reach MASTER_ADDR 127.0.0.1:{port + 1}" in err
    assert "not launching" in err and "torch.distributed.run" not in err and not (tmp_path / "out").exists()


def test_lfgate_train_on_two_nodes_with_different_configs_stops_both(tiny_model, tmp_path, monkeypatch):
    """Node 0 in a subprocess, node 1 in-process with another learning rate: both stop, with the table."""
    config = write_training_project(tmp_path, tiny_model)
    port = free_port()
    node0 = subprocess.Popen([sys.executable, "-m", "lfgate", "train", str(config), "--handshake-timeout", "400", *ONE_HOST],
                             cwd=tmp_path, env=_node_env(0, port), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        for name, value in _node_env(1, port).items():
            monkeypatch.setenv(name, value)
        code, _, err = run_cli("train", str(config), "learning_rate=0.5", "--handshake-timeout", "400", *ONE_HOST,
                               cwd=tmp_path)
        _, node0_err = node0.communicate(timeout=600)
    finally:
        node0.kill()
    assert code == 1 and node0.returncode == 1, (err, node0_err)
    for text in (err, node0_err):
        assert "differ from node 0" in text and "config" in text and "not launching" in text
    assert not (tmp_path / "out").exists()


def test_multi_node_without_master_address_is_an_error_before_launch(tiny_model, tmp_path, monkeypatch):
    import json

    config = write_training_project(tmp_path, tiny_model)
    monkeypatch.setenv("NNODES", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    code, out, _ = run_cli("train", "--format", "json", str(config), "--dry-run", cwd=tmp_path)
    found = [d for d in json.loads(out)["diagnostics"] if d["code"] == "RN023"]
    assert code == 1 and len(found) == 1 and "MASTER_ADDR and MASTER_PORT are not set" in found[0]["message"]
