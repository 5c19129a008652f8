"""LLaMA-Factory's checks newer than 0.9.5 (TY5xx) and its dependency pins (lf_pins.py)."""

import pytest

from conftest import write_project
from helpers import check_json, find
from lfgate import lf_pins
from lfgate.validator.training import BASE


def _check(tmp_path, extra, version="0.9.6"):
    write_project(tmp_path, {"train.yaml": BASE + "dataset: a\n" + extra})
    return check_json("train.yaml", "--llamafactory-version", version, cwd=tmp_path)[1]


@pytest.mark.parametrize("extra, code, words", [
    ("use_kt: true\nkt_cpu_activation: recompute\ndisable_gradient_checkpointing: true\n", "TY501", "GPU gradient"),
    ("use_kt: true\nkt_cpu_activation: always\n", "TY501", "retain or recompute"),
    ("use_kt: true\nfinetuning_type: freeze\n", "TY502", "LoRA and full"),
    ("use_kt: true\nuse_unsloth: true\n", "TY502", "Unsloth"),
    ("use_kt: true\nkt_config:\n  kt_lora_rank: 8\n", "TY502", "derived"),
    ("use_packed_sequences: true\nfinetuning_type: freeze\n", "TY504", "finetuning"),
    ("use_packed_sequences: true\nquantization_bit: 4\n", "TY504", "quantized"),
    ("use_packed_sequences: true\ndeepspeed: ds.json\n", "TY504", "DeepSpeed"),
])
def test_newest_checks(tmp_path, extra, code, words):
    hits = find(_check(tmp_path, extra), code)
    assert len(hits) == 1 and words in hits[0]["message"]


def test_not_applied_when_targeting_0_9_5(tmp_path):
    report = _check(tmp_path, "use_kt: true\nfinetuning_type: freeze\n", version="0.9.5")
    assert not find(report, "TY502")


def test_bridge_parallel_product_must_divide_the_world(tmp_path, monkeypatch):
    monkeypatch.setenv("NPROC_PER_NODE", "4")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("NNODES", raising=False)
    extra = "use_packed_sequences: true\ntensor_model_parallel_size: 3\n"
    assert "divides the world size (4" in find(_check(tmp_path, extra), "TY504")[0]["message"]
    assert not find(_check(tmp_path, "use_packed_sequences: true\ntensor_model_parallel_size: 2\n"), "TY504")


@pytest.mark.parametrize("version, spec, ok", [
    ("4.57.0", ">=4.55.0,<=5.8.0,!=4.57.0,!=5.6.0", False), ("4.57.1", ">=4.55.0,<=5.8.0,!=4.57.0,!=5.6.0", True),
    ("5.8.0", ">=4.55.0,<=5.8.0", True), ("5.9.0.dev0", ">=4.55.0,<=5.8.0", False), ("4.54", ">=4.55.0", False),
])
def test_version_ranges(version, spec, ok):
    assert lf_pins.satisfies(version, spec) is ok


def test_stack_problems_name_each_package_outside_the_range():
    installed = {"transformers": "5.6.0", "peft": "0.18.1", "trl": "0.30.0"}.get
    problems = lf_pins.stack_problems("0.9.6", installed)
    assert len(problems) == 2 and problems[0].startswith("transformers 5.6.0") and "trl 0.30.0" in problems[1]
    assert lf_pins.stack_problems("0.9.5", {"transformers": "5.6.0"}.get) == []
    assert lf_pins.ranges_for("0.9.7.dev0") == lf_pins.pins()["0.9.6"] and lf_pins.ranges_for("0.8.0") is None


def test_doctor_reports_the_stack_against_the_targeted_release(monkeypatch):
    import json

    from helpers import run_cli

    monkeypatch.setattr(lf_pins, "_installed", {"transformers": "4.57.0"}.get)
    code, out, _ = run_cli("doctor", "--format", "json", "--no-network")
    pins = json.loads(out)["llamafactory_pins"]
    assert code == 0 and pins["target"]
    if pins["target"].startswith("0.9.6"):
        assert len(pins["problems"]) == 1 and pins["problems"][0].startswith("transformers 4.57.0")
