"""`lfgate doctor --target npu` (issue 25 §6): the torch / torch-npu / CANN triple against the published tables,
and exit 1 when this machine cannot train on NPUs. Versions, CANN and the NPU probe are faked; the probe runs in
a child process (it can crash or hang), whose answers are faked here too."""

import json
import subprocess

import pytest

from helpers import run_cli
from lfgate import subprocesses
from lfgate.commands import doctor
from lfgate.runner import ascend, devices

CANN_ENV = {"ASCEND_HOME_PATH": "/usr/local/Ascend/ascend-toolkit/latest",
            "ASCEND_TOOLKIT_HOME": "/usr/local/Ascend/ascend-toolkit/latest"}
A2 = {"count": 2, "names": ["Ascend910B2", "Ascend910B2"], "memory": 64 * 1024 ** 3}


@pytest.fixture
def stack(monkeypatch):
    """fake(torch=..., torch_npu=..., cann=..., npu=probe answer or None, env=...)."""
    for name in ("ASCEND_RT_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "NNODES", "HCCL_SOCKET_IFNAME",
                 *CANN_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(devices.Probe, "cuda", lambda self: None)
    monkeypatch.setattr(doctor, "_pins", lambda: {"target": None, "source": None, "problems": []})
    monkeypatch.setattr(ascend, "npu_smi_processes", lambda: [])

    def fake(torch="2.10.0", torch_npu="2.10.0.post2", cann="9.1.0", npu=None, env=CANN_ENV, why=None):
        versions = {"torch": torch, "torch-npu": torch_npu, "transformers": "4.57.1"}
        monkeypatch.setattr(doctor, "version", versions.get)
        monkeypatch.setattr(ascend, "version", versions.get)
        monkeypatch.setattr(doctor, "cann_version", lambda env=None: cann)
        monkeypatch.setattr(ascend, "probe_npu", lambda: (npu, None if npu else (why or "torch-npu sees no NPU")))
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return fake


def _doctor(*args):
    code, out, err = run_cli("doctor", "--format", "json", "--no-network", *args)
    return code, json.loads(out)


def _status(info, name):
    return next(row["status"] for row in info["packages"] if row["name"] == name)


def test_torch_without_a_torch_npu_release_is_not_ok_and_no_npu_exits_1(stack):
    stack(torch="2.13.0", torch_npu=None, cann=None, env={})
    code, info = _doctor("--target", "npu")
    assert _status(info, "torch") != "ok"  # main called torch 2.13 "ok"
    assert code == 1 and info["target"]["can_train"] is False  # main exited 0
    problems = " | ".join(info["target"]["problems"])
    assert "torch 2.13.0 has no torch-npu release" in problems and "no NPU is usable here" in problems
    assert "torch==2.10.0 torch-npu==2.10.0.post2" in problems


def test_installed_torch_npu_wants_its_own_torch(stack):
    stack(torch="2.13.0", torch_npu="2.10.0.post2", npu=A2)
    code, info = _doctor("--target", "npu")
    assert _status(info, "torch") == "does not match torch-npu" and code == 1
    assert any("does not match torch-npu 2.10.0.post2" in p for p in info["target"]["problems"])


def test_torch_npu_against_the_installed_cann(stack):
    stack(torch="2.4.0", torch_npu="2.4.0.post2", cann="9.1.0", npu=A2)
    code, info = _doctor("--target", "npu")
    assert code == 1 and any("is released for CANN 8.0.0" in p and "8.1.RC1" in p and "has CANN 9.1.0" in p
                             for p in info["target"]["problems"])


def test_a_working_a2_machine_can_train(stack):
    stack(npu=A2)
    code, info = _doctor("--target", "npu")
    assert code == 0 and info["target"] == {"kind": "npu", "can_train": True, "problems": []}
    assert info["devices"]["kind"] == "npu" and info["devices"]["count"] == 2
    assert _status(info, "torch") == "ok" and _status(info, "torch-npu") == "ok"
    code, out, _ = run_cli("doctor", "--no-network", "--target", "npu")
    assert code == 0 and "target npu: this machine can train on it" in out


def test_without_target_the_exit_code_stays_0_and_a_bad_target_is_a_usage_error(stack):
    stack(torch="2.13.0", torch_npu=None, cann=None, env={})
    assert _doctor()[0] == 0
    assert run_cli("doctor", "--no-network", "--target", "tpu")[0] == 2


@pytest.mark.parametrize("torch,npu,cann,ok", [
    ("2.10.0", "2.10.0.post2", "9.1.0", True), ("2.10.0+cpu", "2.10.0.post4", "9.1.0", True),
    ("2.12.0", None, None, True), ("2.13.0", None, None, False), ("2.13.0", "2.10.0.post2", "9.1.0", False),
    ("2.1.0", "2.1.0.post10", "8.0.0", True), ("2.1.0", "2.1.0.post10", "7.0.0", False),
    ("2.8.0", "2.8.0", "8.3.RC1.alpha002", True)])
def test_the_triple_against_ascends_published_table(torch, npu, cann, ok):
    assert (ascend.stack_problems(torch, npu, cann) == []) is ok


def test_the_npu_probe_survives_a_crashing_or_hanging_import(monkeypatch):
    monkeypatch.setattr(ascend, "version", {"torch-npu": "2.10.0.post2"}.get)
    crashed = subprocess.CompletedProcess([], -11, "", "Fatal Python error: Segmentation fault\n")
    monkeypatch.setattr(subprocesses, "run", lambda argv, **kw: crashed)
    assert ascend.probe_npu() == (None, "import torch_npu fails: Fatal Python error: Segmentation fault")

    def hang(argv, **options):
        assert options["timeout"] > 0 and "import torch, torch_npu" in argv[2]  # a child, never this process
        raise subprocess.TimeoutExpired(argv, options["timeout"])

    monkeypatch.setattr(subprocesses, "run", hang)
    found, why = ascend.probe_npu(timeout=5)
    assert found is None and "did not finish within 5 s" in why
    answered = subprocess.CompletedProcess([], 0, json.dumps(A2) + "\n", "")
    monkeypatch.setattr(subprocesses, "run", lambda argv, **kw: answered)
    assert ascend.probe_npu() == (A2, None)


def test_doctor_reports_the_probe_failure_for_an_npu_target(stack, monkeypatch):
    stack(npu=None, why="import torch_npu fails: Fatal Python error: Segmentation fault")
    code, info = _doctor("--target", "npu")
    assert code == 1 and any("Segmentation fault" in p for p in info["target"]["problems"])


def test_train_stops_on_the_same_triple(monkeypatch):
    """RN014 on an NPU machine reads the same table: torch-npu built for another CANN than the installed one."""
    from lfgate.devices_env import DeviceCount
    from lfgate.runner import rules
    from lfgate.runner.config import RunConfig

    class Fake(devices.Probe):
        def npu(self):
            return 2, ["Ascend910B2", "Ascend910B2"], True

        def npu_processes(self):
            return []

    monkeypatch.setattr(ascend, "version", {"torch": "2.4.0", "torch-npu": "2.4.0.post2"}.get)
    monkeypatch.setattr(ascend, "cann_version", lambda env=None: "9.1.0")
    env = {"ASCEND_RT_VISIBLE_DEVICES": "0,1", **CANN_ENV}
    probe = Fake(env=env)
    count = DeviceCount(2, "ASCEND_RT_VISIBLE_DEVICES=0,1", kind="npu", per_node=2)
    found = rules.device_checks(RunConfig("t.yaml", {"model_name_or_path": "m"}), devices.detect(probe), count, env,
                                False, probe)
    assert [d.code for d in found] == ["RN014"] and "released for CANN" in found[0].message
    monkeypatch.setattr(ascend, "cann_version", lambda env=None: "8.0.0")
    assert rules.device_checks(RunConfig("t.yaml", {"model_name_or_path": "m"}), devices.detect(probe), count, env,
                               False, probe) == []


def test_doctor_asks_the_hubs_at_the_endpoints_the_downloads_use(monkeypatch):
    """MODELSCOPE_ENDPOINT / MODELSCOPE_DOMAIN and OPENMIND_HUB_ENDPOINT, as runner/hub.py resolves them for the
    downloads, not fixed addresses."""
    asked = []
    monkeypatch.setattr(doctor, "hub_reachable", lambda url, timeout: asked.append(url) or "ok")
    monkeypatch.setenv("MODELSCOPE_DOMAIN", "ms.example.internal")
    monkeypatch.setenv("OPENMIND_HUB_ENDPOINT", "https://om.example.internal/")
    monkeypatch.delenv("MODELSCOPE_ENDPOINT", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.example")
    info = doctor.collect(no_network=False, timeout=0.1)
    assert sorted(asked) == ["https://hf-mirror.example", "https://ms.example.internal", "https://om.example.internal"]
    assert set(info["hubs"]) == {"huggingface", "modelscope", "modelers"}
