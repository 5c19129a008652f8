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


# -- `lfgate train --backend llamafactory`: the stack llamafactory-cli runs in, against its pins ----------------
def _fake_python(folder, versions):
    """A stand-in interpreter that answers lf_pins' probe with these versions, and a llamafactory-cli naming it."""
    import json
    import os

    folder.mkdir(parents=True, exist_ok=True)
    python = folder / "python3"
    python.write_text(f"#!/bin/sh\necho '{json.dumps(versions)}'\n")
    cli = folder / "llamafactory-cli"
    cli.write_text(f"#!{python}\nimport sys\n")
    for path in (python, cli):
        os.chmod(path, 0o755)
    return str(cli)


_LF_096 = {"llamafactory": "0.9.6", "transformers": "4.57.0", "datasets": "3.6.0", "accelerate": "1.10.0",
           "peft": "0.18.0", "trl": None}


def test_launch_problems_read_the_environment_llamafactory_cli_runs_in(tmp_path):
    cli = _fake_python(tmp_path / "env/bin", _LF_096)
    problems, note = lf_pins.launch_problems(None, env={}, which=lambda _: cli)
    assert note is None and len(problems) == 2, problems
    assert problems[0].startswith("transformers 4.57.0 is outside LLaMA-Factory 0.9.6's range")  # its own version
    assert "pip install 'transformers>=4.55.0" in problems[0] and str(tmp_path / "env/bin/python3") in problems[0]
    assert problems[1].startswith("trl is not installed")  # transformers' require_version raises for it
    # the release the user targets wins; DISABLE_VERSION_CHECK makes LLaMA-Factory skip the check, so do we
    assert [p.split(" is ")[0] for p in lf_pins.launch_problems("0.9.5", env={}, which=lambda _: cli)[0]] == ["trl"]
    assert lf_pins.launch_problems(None, env={"DISABLE_VERSION_CHECK": "1"}, which=lambda _: cli) == ([], None)
    assert lf_pins.launch_problems(None, env={}, which=lambda _: None) == ([], None)


def test_launch_problems_without_an_interpreter_read_the_site_packages_beside_the_script(tmp_path):
    site = tmp_path / "env/lib/python3.11/site-packages"
    for name, version in (("llamafactory", "0.9.6"), ("transformers", "5.6.0")):
        (site / f"{name}-{version}.dist-info").mkdir(parents=True)
        (site / f"{name}-{version}.dist-info/METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\n"
                                                                    f"Version: {version}\n")
    (tmp_path / "env/bin").mkdir()
    (tmp_path / "env/bin/llamafactory-cli").write_bytes(b"MZ\x90\x00 a launcher")
    problems, note = lf_pins.launch_problems(None, env={}, which=lambda _: str(tmp_path / "env/bin/llamafactory-cli"))
    # a venv may also see the system's packages: what is missing here is not judged
    assert note is None and len(problems) == 1 and problems[0].startswith("transformers 5.6.0"), problems


def test_launch_problems_say_when_the_environment_cannot_be_read(tmp_path):
    wrapper = tmp_path / "llamafactory-cli"
    wrapper.write_text("#!/bin/sh\nexec python -m llamafactory.cli \"$@\"\n")
    problems, note = lf_pins.launch_problems(None, env={}, which=lambda _: str(wrapper))
    assert problems == [] and "not checked" in note


def _train_project(tmp_path):
    from conftest import write_project
    from lfgate.runner import rules
    from lfgate.validator.model_folder import _TOKENIZER  # a tokenizer.json holding `{}` is LK035 (issue 21)

    write_project(tmp_path, rules._example(**{"model/tokenizer.json": _TOKENIZER}))


def test_train_with_the_llamafactory_backend_stops_on_a_stack_out_of_range(tmp_path, monkeypatch):
    import os

    from helpers import run_cli

    _train_project(tmp_path)
    cli = _fake_python(tmp_path / "env/bin", _LF_096)
    monkeypatch.setenv("PATH", f"{os.path.dirname(cli)}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("DISABLE_VERSION_CHECK", raising=False)
    for extra in ((), ("--dry-run",)):
        code, _, err = run_cli("train", "train.yaml", "--backend", "llamafactory", *extra, cwd=tmp_path)
        assert code == 1 and "error: transformers 4.57.0 is outside" in err and "not launching" in err, err
        assert "would run" not in err
    # the built-in runner does not run llamafactory-cli: its stack is not judged
    code, _, err = run_cli("train", "train.yaml", "--dry-run", cwd=tmp_path)
    assert "outside LLaMA-Factory" not in err
    monkeypatch.setenv("DISABLE_VERSION_CHECK", "1")
    code, _, err = run_cli("train", "train.yaml", "--backend", "llamafactory", "--dry-run", cwd=tmp_path)
    assert code == 0 and "would run: llamafactory-cli train train.yaml" in err, err
