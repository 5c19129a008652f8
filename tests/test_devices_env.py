"""The device count every command uses (lfgate/devices_env.py): its order of sources, and that each message says
where the number came from; `check` never imports torch for it."""

import json
import os
import subprocess
import sys

import pytest

from conftest import write_project
from helpers import check_json, find, run_cli
from lfgate.devices_env import device_count, visible_count
from lfgate.settings import Settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROJECT = {
    "train.yaml": ("model_name_or_path: Qwen/Qwen2.5-14B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
                   "dataset: demo\ntemplate: qwen\noutput_dir: out\nper_device_train_batch_size: 2\n"
                   "num_train_epochs: 1\nlogging_steps: 1\nsave_steps: 1\n"),
    "data/dataset_info.json": '{"demo": {"file_name": "demo.json"}}\n',
    "data/demo.json": json.dumps([{"instruction": f"Q{i}", "input": "", "output": f"A{i}"} for i in range(180)]),
}
ENV = ("ASCEND_RT_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "NPU_VISIBLE_DEVICES", "NNODES", "NPROC_PER_NODE",
       "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")  # test_register_llamafactory.py sets HF_HUB_OFFLINE for the session


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_order_devices_flag_then_config_then_torchrun_env_then_visible_devices():
    env = {"NNODES": "2", "NPROC_PER_NODE": "4", "ASCEND_RT_VISIBLE_DEVICES": "0,1"}
    cli = Settings(devices=3, devices_from="--devices")
    assert (device_count(cli, env).count, device_count(cli, env).source) == (3, "--devices")
    config = Settings(devices=5, source="/p/pyproject.toml")
    assert device_count(config, env).count == 5
    assert device_count(config, env).source == "[tool.lfgate] devices in /p/pyproject.toml"
    assert device_count(Settings(), env).describe() == "8 devices (NNODES=2 x NPROC_PER_NODE=4)"
    del env["NPROC_PER_NODE"], env["NNODES"]
    counted = device_count(Settings(), env)
    assert counted.describe() == "2 devices (ASCEND_RT_VISIBLE_DEVICES=0,1)" and counted.kind == "npu"
    counted = device_count(Settings(), {"CUDA_VISIBLE_DEVICES": "0,1,2"})
    assert (counted.count, counted.kind) == (3, "cuda")
    # devices present, only where the caller probes (train does; check never)
    assert device_count(Settings(), {}, present=lambda: (4, "cuda")).describe() == "4 devices (4 cuda devices present)"
    assert device_count(Settings(), {}).count == 1 and "default" in device_count(Settings(), {}).source


def test_nnodes_alone_multiplies_the_devices_per_node():
    counted = device_count(Settings(), {"NNODES": "2", "ASCEND_RT_VISIBLE_DEVICES": "0,1,2,3"})
    assert counted.count == 8 and counted.per_node == 4 and "NNODES=2" in counted.source


def test_npu_visible_devices_is_reported_not_counted():
    counted = device_count(Settings(), {"NPU_VISIBLE_DEVICES": "0,1"})
    assert counted.count == 1
    assert any("NPU_VISIBLE_DEVICES" in n and "ASCEND_RT_VISIBLE_DEVICES" in n for n in counted.notes)


@pytest.mark.parametrize("value,kind,count", [("0,1", "cuda", 2), ("", "cuda", 0), ("0,-1,2", "cuda", 1),
                                              ("GPU-5e3a,GPU-77b1", "cuda", 2), ("0, 1, 2", "npu", 3)])
def test_visible_devices_lists(value, kind, count):
    assert visible_count(value, kind) == count


def test_check_computes_the_two_npu_budget_and_says_why(tmp_path, monkeypatch):
    write_project(tmp_path, PROJECT)
    _, report = check_json("train.yaml", "--fail-on", "info", cwd=tmp_path)
    assert "90 optimizer steps" in find(report, "LK043")[0]["message"]  # 180 / 2 per step on 1 device
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0,1")
    _, report = check_json("train.yaml", cwd=tmp_path)
    message = find(report, "LK043")[0]["message"]
    assert "45 optimizer steps" in message and "2 devices (ASCEND_RT_VISIBLE_DEVICES=0,1)" in message
    _, report = check_json("train.yaml", "--devices", "3", cwd=tmp_path)
    assert "30 optimizer steps" in find(report, "LK043")[0]["message"] and "(--devices)" in \
        find(report, "LK043")[0]["message"]


def test_project_configuration_devices_wins_over_the_environment(tmp_path, monkeypatch):
    write_project(tmp_path, {**PROJECT, "pyproject.toml": "[tool.lfgate]\ndevices = 4\n"})
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0,1")
    _, report = check_json("train.yaml", cwd=tmp_path)
    message = find(report, "LK043")[0]["message"]
    assert "23 optimizer steps" in message and "[tool.lfgate] devices" in message


def test_dry_run_plans_the_two_device_run_from_the_environment(tmp_path, monkeypatch):
    write_project(tmp_path, PROJECT)
    monkeypatch.setenv("NPROC_PER_NODE", "2")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a closed port on loopback: no tokenizer, no network
    code, out, err = run_cli("train", "--dry-run", "--format", "json", "train.yaml", "--fail-on", "error",
                             cwd=tmp_path)
    report = json.loads(out)
    assert "plan" in report, (report["diagnostics"], err)
    plan = report["plan"]
    assert plan["device"]["world_size"] == 2 and plan["device"]["source"] == "NPROC_PER_NODE=2"
    assert plan["steps"]["per_epoch"] == 45


def test_check_does_not_import_torch_for_the_device_count(tmp_path):
    write_project(tmp_path, PROJECT)
    code = ("import sys, runpy; sys.argv = ['lfgate', 'check', 'train.yaml'];\n"
            "try:\n    runpy.run_module('lfgate', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'check imported torch'\nprint('no torch')")
    env = dict(os.environ, PYTHONPATH=str(ROOT), ASCEND_RT_VISIBLE_DEVICES="0,1")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert "no torch" in result.stdout, result.stderr[-2000:]


def test_train_counts_the_devices_it_probed_for_its_own_check():
    settings = Settings(devices_present=(2, "cuda"))
    assert device_count(settings, {}).describe() == "2 devices (2 cuda devices present)"
    assert device_count(settings, {"CUDA_VISIBLE_DEVICES": "0"}).count == 1  # the variable comes first


def test_dry_run_target_plans_another_machine(tmp_path, monkeypatch):
    write_project(tmp_path, PROJECT)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    code, out, err = run_cli("train", "--dry-run", "--format", "json", "--target", "v100:3,bf16", "train.yaml",
                             cwd=tmp_path)
    report = json.loads(out)
    plan = report["plan"]
    assert plan["device"]["target"] and plan["device"]["kind"] == "cuda" and plan["device"]["world_size"] == 3
    assert plan["device"]["dtype"] == "fp16" and "V100" in plan["device"]["note"]  # no bf16 before Ampere
    assert plan["steps"]["per_epoch"] == 30 and plan["device"]["source"] == "--target v100:3,bf16"
    assert "(--target v100:3,bf16)" in find(report, "LK043")[0]["message"]  # the check plans for it too
    code, out, err = run_cli("train", "--dry-run", "--target", "tpu:8", "train.yaml", cwd=tmp_path)
    assert code == 2 and "unknown device" in err
    code, out, err = run_cli("train", "--target", "npu:2", "train.yaml", cwd=tmp_path)
    assert code == 2 and "--dry-run" in err


def test_allow_cpu_plans_one_process_and_bad_launch_variables_are_usage_errors(tmp_path, monkeypatch):
    write_project(tmp_path, PROJECT)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0,1")
    code, out, err = run_cli("train", "--dry-run", "--allow-cpu", "--format", "json", "train.yaml", cwd=tmp_path)
    report = json.loads(out)
    assert "RN013" not in {d["code"] for d in report["diagnostics"]}
    assert report["plan"]["device"]["world_size"] == 1 and "--allow-cpu" in find(report, "LK043")[0]["message"]
    monkeypatch.setenv("NNODES", "two")
    code, out, err = run_cli("train", "--dry-run", "train.yaml", cwd=tmp_path)
    assert code == 2 and "NNODES='two'" in err
