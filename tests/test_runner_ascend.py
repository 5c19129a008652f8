"""Ascend as LLaMA-Factory documents it today: the known-good table, and the checks `doctor` and `train` make.

The device layer is faked (FakeProbe, fake versions); `pytest -m npu` runs the real-device check on an NPU machine.
"""

import json

import pytest

from conftest import write_project
from helpers import run_cli
from lfgate.devices_env import DeviceCount
from lfgate.runner import ascend, devices, rules
from lfgate.runner.config import RunConfig

NPU_SMI = """\
+---------------------------+---------------+----------------------------------------------------+
| NPU     Chip              | Process id    | Process name             | Process memory(MB)      |
+===========================+===============+====================================================+
| 0       0                 | 4242          | python3                  | 61000                   |
+===========================+===============+====================================================+
| 1       0                 | 777           | python                   | 3000                    |
+===========================+===============+====================================================+
"""


class FakeProbe:
    def __init__(self, env=None, npu=None, processes=None):
        self.env, self._npu, self._processes = env or {}, npu, processes

    def cuda(self):
        return None

    def npu(self):
        return self._npu

    def npu_processes(self):
        return self._processes


def _checks(monkeypatch, env, npu=None, processes=None, torch="2.10.0", torch_npu="2.10.0.post2", allow_cpu=False):
    versions = {"torch": torch, "torch-npu": torch_npu}
    monkeypatch.setattr(ascend, "version", lambda name: versions.get(name))
    probe = FakeProbe(env, npu, processes)
    machine = devices.detect(probe)
    count = DeviceCount(2, "ASCEND_RT_VISIBLE_DEVICES=0,1", kind="npu", per_node=2)
    config = RunConfig("t.yaml", {"model_name_or_path": "m"})
    return rules.device_checks(config, machine, count, env, allow_cpu, probe)


CANN = {"ASCEND_HOME_PATH": "/usr/local/Ascend/ascend-toolkit/latest",
        "ASCEND_TOOLKIT_HOME": "/usr/local/Ascend/ascend-toolkit/latest"}
A2 = (2, ["Ascend910B2", "Ascend910B2"], True)


def test_known_good_table_is_llamafactorys_current_image_and_keeps_older_rows():
    newest = ascend.KNOWN_GOOD[0]
    assert (newest["CANN"], newest["torch"], newest["torch-npu"], newest["Python"]) == \
        ("9.1.0", "2.10.0", "2.10.0.post2", "3.12")
    assert {"2.1.0.post3", "2.4.0.post2", "2.7.1"} <= {row["torch-npu"] for row in ascend.KNOWN_GOOD}


@pytest.mark.parametrize("torch,npu,ok", [("2.10.0", "2.10.0.post2", True), ("2.10.0+cpu", "2.10.0.post2", True),
                                          ("2.13.0", "2.10.0.post2", False), ("2.1.0", "2.1.0.post3", True)])
def test_torch_must_equal_torch_npus_base_version(torch, npu, ok):
    assert (ascend.torch_npu_mismatch(torch, npu) is None) is ok


@pytest.mark.parametrize("name,ok", [("Ascend910B1", True), ("Ascend910B4", True), ("Ascend910_9392", True),
                                     ("Ascend910A", False), ("Ascend910ProB", False), ("Ascend310P3", False)])
def test_supported_training_parts_are_a2_and_a3(name, ok):
    assert (ascend.chip_problem(name) is None) is ok


def test_a_working_a2_machine_passes(monkeypatch):
    assert _checks(monkeypatch, {"ASCEND_RT_VISIBLE_DEVICES": "0,1", **CANN}, npu=A2, processes=[]) == []


def test_visible_npus_without_torch_npu_stop_the_launch_unless_allow_cpu(monkeypatch):
    found = _checks(monkeypatch, {"ASCEND_RT_VISIBLE_DEVICES": "0,1", **CANN}, torch_npu=None)
    assert [d.code for d in found] == ["RN013"]
    assert "torch-npu is not installed" in found[0].message and "--allow-cpu" in found[0].message
    assert _checks(monkeypatch, {"ASCEND_RT_VISIBLE_DEVICES": "0,1", **CANN}, torch_npu=None, allow_cpu=True) == []


def test_cann_not_sourced_mismatched_torch_and_unsupported_chip_are_errors(monkeypatch):
    found = _checks(monkeypatch, {"ASCEND_RT_VISIBLE_DEVICES": "0,1"}, npu=(1, ["Ascend310P3"], False),
                    torch="2.13.0", processes=[])
    messages = " | ".join(d.message for d in found if d.code == "RN014")
    assert "set_env.sh" in messages and "torch 2.13.0 does not match torch-npu" in messages
    assert "Ascend310P3 is an inference part" in messages


def test_multi_node_without_hccl_interface_and_stale_process_warn(monkeypatch):
    env = {"ASCEND_RT_VISIBLE_DEVICES": "0", "NNODES": "2", **CANN}
    found = _checks(monkeypatch, env, npu=A2, processes=ascend.parse_npu_smi(NPU_SMI))
    warnings = [d.message for d in found if d.code == "RN015"]
    assert any("HCCL_SOCKET_IFNAME" in m for m in warnings)
    assert any("NPU 0 is held by process 4242" in m for m in warnings)
    assert not any("process 777" in m for m in warnings)  # NPU 1 is not one this run uses


def test_train_dry_run_reports_them_before_loading_anything(tmp_path, monkeypatch):
    from lfgate.runner.rules import _example

    write_project(tmp_path, _example())
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0,1")
    for name in ("ASCEND_HOME_PATH", "ASCEND_TOOLKIT_HOME", "NNODES", "NPROC_PER_NODE"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = run_cli("train", "--format", "json", "train.yaml", cwd=tmp_path)
    report = json.loads(out)
    assert code == 1 and {"RN013", "RN014"} <= {d["code"] for d in report["diagnostics"]}
    assert "plan" not in report  # nothing planned, nothing loaded
    # a dry run plans for the NPUs the variable names and says once that this machine cannot run it (TY460)
    code, out, err = run_cli("train", "--dry-run", "--format", "json", "train.yaml", cwd=tmp_path)
    found = {d["code"] for d in json.loads(out)["diagnostics"]}
    assert "TY460" in found and not {"RN013", "RN014"} & found
    code, out, err = run_cli("train", "--dry-run", "--allow-cpu", "--format", "json", "train.yaml", cwd=tmp_path)
    assert not {"RN013", "TY460"} & {d["code"] for d in json.loads(out)["diagnostics"]}


def test_doctor_lists_the_ascend_problems(monkeypatch):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv("NNODES", "2")
    monkeypatch.delenv("ASCEND_HOME_PATH", raising=False)
    monkeypatch.delenv("ASCEND_TOOLKIT_HOME", raising=False)
    monkeypatch.delenv("HCCL_SOCKET_IFNAME", raising=False)
    code, out, _ = run_cli("doctor", "--format", "json", "--no-network")
    problems = " | ".join(json.loads(out)["ascend"]["problems"])
    assert code == 0 and "set_env.sh" in problems and "HCCL_SOCKET_IFNAME" in problems


@pytest.mark.npu
def test_real_npu_stack_passes_the_checks(monkeypatch):
    pytest.importorskip("torch_npu")
    machine = devices.detect()
    if machine.kind != "npu":
        pytest.skip("no Ascend NPU")
    import os

    problems = [p for p in (ascend.cann_not_sourced(os.environ),
                            ascend.torch_npu_mismatch(ascend.version("torch"), ascend.version("torch-npu")))
                if p]
    assert problems == []


def test_cuda_visible_devices_without_a_cuda_device_stops_the_launch(monkeypatch):
    probe = FakeProbe({"CUDA_VISIBLE_DEVICES": "0,1"})
    machine = devices.detect(probe)
    count = DeviceCount(2, "CUDA_VISIBLE_DEVICES=0,1", kind="cuda", per_node=2)
    config = RunConfig("t.yaml", {"model_name_or_path": "m"})
    found = rules.device_checks(config, machine, count, probe.env, False, probe)
    assert [d.code for d in found] == ["RN013"] and "torch sees no CUDA device" in found[0].message
    assert rules.device_checks(config, machine, count, probe.env, True, probe) == []  # --allow-cpu
    hidden = DeviceCount(1, "CUDA_VISIBLE_DEVICES=", kind="cuda", per_node=0)  # an empty list hides every GPU
    assert rules.device_checks(config, machine, hidden, {"CUDA_VISIBLE_DEVICES": ""}, False, probe) == []
