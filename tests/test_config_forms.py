"""Issue 20 §2: every config LLaMA-Factory would train is checked, whatever its form.

Each form holds a broken config (a template LLaMA-Factory does not register: TY203, an error); the check must exit 1
both when the file is named and when its folder is scanned. A Hypothesis property writes configs in random YAML
styles and requires the same findings.
"""

import json
import os
import stat
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from conftest import write_project
from helpers import check_json, codes, find, run_cli
from lfgate.settings import Settings
from lfgate.validator.engine import run_check

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
LFS = ("version https://git-lfs.github.com/spec/v1\n"
       "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 812\n")

FORMS = {
    "next-line values": ("train.yaml", f"model_name_or_path:\n  {MODEL}\nstage:\n  sft\ndo_train:\n  true\n"
                                       "finetuning_type:\n  lora\ntemplate:\n  qwen9\noutput_dir:\n  saves/q\n"),
    "quoted keys": ("train.yaml", f'"model_name_or_path": {MODEL}\n"stage": sft\n"do_train": true\n'
                                  "'finetuning_type': lora\n\"template\": qwen9\n\"output_dir\": saves/q\n"),
    "explicit keys": ("train.yaml", f"? model_name_or_path\n: {MODEL}\n? stage\n: sft\n? do_train\n: true\n"
                                    "? finetuning_type\n: lora\n? template\n: qwen9\n? output_dir\n: saves/q\n"),
    "flow mapping": ("train.yaml", f"{{model_name_or_path: {MODEL}, stage: sft, do_train: true,\n"
                                   " finetuning_type: lora, template: qwen9, output_dir: saves/q}\n"),
    "anchors and merge keys": ("train.yaml", f"<<: &common\n  model_name_or_path: {MODEL}\n  stage: sft\n"
                                             "  do_train: true\n  finetuning_type: lora\n"
                                             "template: &tpl qwen9\noutput_dir: saves/q\n"),
    "JSON config": ("train.json", json.dumps({"model_name_or_path": MODEL, "stage": "sft", "do_train": True,
                                              "finetuning_type": "lora", "template": "qwen9",
                                              "output_dir": "saves/q"}, indent=2) + "\n"),
    "wrapper block": ("pipeline.yaml", f"run: my-experiment\nllamafactory:\n  model_name_or_path: {MODEL}\n"
                                       "  stage: sft\n  do_train: true\n  finetuning_type: lora\n  template: qwen9\n"
                                       "  output_dir: saves/q\nserve:\n  port: 8000\n"),
    "LFS-pointer YAML": ("train.yaml", LFS),
}
EXPECTED = {"JSON config": {"TY203", "TY013"}, "wrapper block": {"TY203", "TY012"}, "LFS-pointer YAML": {"TY011"}}


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("how", ["named", "folder"])
def test_a_broken_config_in_every_form_fails_the_check(tmp_path, form, how):
    name, text = FORMS[form]
    write_project(tmp_path, {f"project/{name}": text})
    code, report = check_json(f"project/{name}" if how == "named" else "project", cwd=tmp_path)
    assert code == 1, report["diagnostics"]
    assert EXPECTED.get(form, {"TY203"}) <= codes(report), report["diagnostics"]
    assert "TY009" not in codes(report)


@pytest.mark.parametrize("form", [f for f in FORMS if f != "LFS-pointer YAML"])
def test_the_finding_sits_on_the_line_that_sets_the_template(tmp_path, form):
    name, text = FORMS[form]
    write_project(tmp_path, {name: text})
    _, report = check_json(name, cwd=tmp_path)
    [hit] = find(report, "TY203")
    assert "template" in text.splitlines()[hit["line"] - 1] or "qwen9" in text.splitlines()[hit["line"]]


def test_the_json_config_is_not_checked_as_alpaca_data(tmp_path):
    name, text = FORMS["JSON config"]
    write_project(tmp_path, {name: text})
    _, report = check_json(name, "--llamafactory-version", "0.9.4", cwd=tmp_path)
    # read as a config by 0.9.4, with its key findings; no DS/DF finding about alpaca records
    assert {"TY016", "TY203"} <= codes(report) and not any(c.startswith(("DS", "DF")) for c in codes(report))


def test_a_hydra_group_and_a_training_block_are_no_wrapped_configs(tmp_path):
    hydra = (f"model:\n  model_name_or_path: {MODEL}\n  template: qwen\ntraining:\n  learning_rate: 1.0e-4\n"
             "  num_train_epochs: 3\n  per_device_train_batch_size: 2\n")
    write_project(tmp_path, {"conf/config.yaml": hydra})
    code, report = check_json(".", cwd=tmp_path)
    assert code == 0 and codes(report) == {"TY009"}


def test_a_huge_config_like_yaml_is_refused_before_it_is_parsed(tmp_path):
    lines = [f"model_name_or_path: {MODEL}", "stage: sft"] + [f"key_{i}: value number {i}" for i in range(700_000)]
    (tmp_path / "big.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert (tmp_path / "big.yaml").stat().st_size > 14_000_000
    for target in ("big.yaml", "."):
        started = time.monotonic()
        code, report = check_json(target, cwd=tmp_path)
        assert time.monotonic() - started < 5
        [refused] = find(report, "TY001")
        assert code == 1 and "larger than" in refused["message"]


def test_skipped_folders_are_named_and_a_named_file_in_one_is_checked(tmp_path):
    write_project(tmp_path, {"outputs/run1/train.yaml": FORMS["quoted keys"][1], ".hidden/x.yaml": "a: 1\n",
                             "saves/a.yml": "b: 2\n", ".git/config.yaml": "c: 3\n", "train.yaml": "a: 1\n"})
    code, report = check_json(".", cwd=tmp_path)
    [info] = find(report, "TY015")
    assert code == 0 and "outputs/ (1 YAML)" in info["message"] and ".hidden/" in info["message"]
    assert "saves/" in info["message"] and ".git" not in info["message"]
    code, report = check_json("outputs/run1/train.yaml", cwd=tmp_path)
    assert code == 1 and "TY203" in codes(report)


# -- the launcher: only a config the check checked as a training config -----------------------------------------
@pytest.fixture
def fake_llamafactory(tmp_path, monkeypatch):
    """A llamafactory-cli on PATH that records that it was launched."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "launched"
    script = bin_dir / "llamafactory-cli"
    script.write_text(f"#!{sys.executable}\nimport os, pathlib, sys\npathlib.Path({str(marker)!r}).write_text("
                      f"' '.join(sys.argv[1:]))\npathlib.Path({str(marker)!r} + '.cwd').write_text(os.getcwd())\n",
                      encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DISABLE_VERSION_CHECK", "1")
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # a hub model id must not need the cache here
        monkeypatch.delenv(name, raising=False)
    return marker


@pytest.mark.parametrize("name, text, why", [
    ("notes.yaml", "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\n", "not a LLaMA-Factory training"),
    ("train.yaml", LFS, "Git LFS pointer"),
    ("pipeline.yaml", FORMS["wrapper block"][1].replace("qwen9", "qwen"), "wrapper YAML"),
    ("chat.yaml", f"model_name_or_path: {MODEL}\ntemplate: qwen\n", "nothing to train"),
])
def test_train_stops_before_launching_what_the_check_did_not_check_as_a_training_config(tmp_path, fake_llamafactory,
                                                                                      name, text, why):
    write_project(tmp_path, {name: text})
    code, out, err = run_cli("train", "--backend", "llamafactory", name, cwd=tmp_path)
    assert code == 1 and "not launching" in err and why in out, (out, err)
    assert "TY017" in out and not fake_llamafactory.exists()


def test_train_launches_a_config_the_check_recognised_in_any_form(tmp_path, fake_llamafactory, monkeypatch):
    text = FORMS["next-line values"][1].replace("qwen9", "qwen") + "dataset:\n  a\n"
    write_project(tmp_path, {"train.yaml": text, "data/dataset_info.json": '{"a": {"file_name": "a.json"}}',
                             "data/a.json": '[{"instruction": "hi", "input": "", "output": "hello"}]'})
    monkeypatch.setattr("lfgate.commands.train._llamafactory_stack_refused", lambda settings: False)
    code, out, err = run_cli("train", "--backend", "llamafactory", "train.yaml", cwd=tmp_path)
    assert code == 0 and fake_llamafactory.read_text() == "train train.yaml", (out, err)


def test_train_with_launch_dir_runs_llamafactory_there(tmp_path, fake_llamafactory, monkeypatch):
    text = FORMS["quoted keys"][1].replace("qwen9", "qwen") + "dataset: a\n"
    write_project(tmp_path, {"configs/x.yaml": text, "LF/data/dataset_info.json": '{"a": {"file_name": "a.json"}}',
                             "LF/data/a.json": '[{"instruction": "hi", "input": "", "output": "hello"}]'})
    monkeypatch.setattr("lfgate.commands.train._llamafactory_stack_refused", lambda settings: False)
    code, out, err = run_cli("train", "--backend", "llamafactory", "configs/x.yaml", cwd=tmp_path)
    assert code == 1 and "LK001" in out  # launched here, data/dataset_info.json is not where it runs
    code, out, err = run_cli("train", "--backend", "llamafactory", "--launch-dir", "LF", "configs/x.yaml", cwd=tmp_path)
    assert code == 0, (out, err)
    assert fake_llamafactory.read_text() == f"train {tmp_path / 'configs' / 'x.yaml'}"
    assert (tmp_path / "launched.cwd").read_text() == str(tmp_path / "LF")


# -- the same findings whatever the YAML style ----------------------------------------------------------------------
VALUES = st.fixed_dictionaries({
    "stage": st.sampled_from(["sft", "sftt", "pt"]),
    "do_train": st.booleans(),
    "finetuning_type": st.sampled_from(["lora", "loraa", "full"]),
    "template": st.sampled_from(["qwen", "qwen9", "llama3"]),
    "learning_rate": st.sampled_from([1.0e-4, "1e-4", 2.0e-5, -1.0]),
    "lora_rank": st.sampled_from([8, 0, 16]),
    "num_train_epochs": st.sampled_from([3.0, 1, "three"]),
    "cutoff_len": st.sampled_from([1024, 2048]),
    "output_dir": st.just("saves/q"),
}, optional={"learning_rat": st.just(1.0e-4), "lora_target": st.sampled_from(["all", ["q_proj", "v_proj"]]),
             "bf16": st.booleans()})
STYLES = ("plain", "quoted", "explicit", "next-line")


def scalar(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, (str, bool)) else repr(value)


def render(values: dict, draw) -> str:
    """values as YAML: the whole mapping in flow style, or each key in its own block style, some keys merged in."""
    items = [("model_name_or_path", MODEL)] + list(values.items())
    if draw(st.booleans()) and draw(st.booleans()):
        return "{" + ", ".join(f"{json.dumps(k)}: {scalar(v)}" for k, v in items) + "}\n"
    merged = draw(st.sets(st.sampled_from([k for k, _ in items]), max_size=3))
    lines = []
    if merged:
        lines.append("<<: &base {" + ", ".join(f"{k}: {scalar(v)}" for k, v in items if k in merged) + "}")
    for key, value in items:
        if key in merged:
            continue
        style = draw(st.sampled_from(STYLES))
        if style == "plain":
            lines.append(f"{key}: {scalar(value)}")
        elif style == "quoted":
            lines.append(f"{json.dumps(key)}: {scalar(value)}")
        elif style == "explicit":
            lines += [f"? {key}", f": {scalar(value)}"]
        else:
            lines += [f"{key}:", f"  {scalar(value)}"]
    return "\n".join(lines) + "\n"


def findings(folder, text):
    path = folder / "train.yaml"
    path.write_text(text, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        report = run_check(["train.yaml"], Settings(llamafactory_version="0.9.5"))
    finally:
        os.chdir(cwd)
    return sorted((d.code, str(d.severity), d.message) for d in report.diagnostics)


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=VALUES, data=st.data())
def test_findings_do_not_depend_on_the_yaml_style(tmp_path, values, data):
    plain = "".join(f"{k}: {scalar(v)}\n" for k, v in [("model_name_or_path", MODEL), *values.items()])
    expected = findings(tmp_path, plain)
    assert expected, plain  # the plain form is checked as a config (do_train/output_dir findings at least)
    styled = render(values, data.draw)
    assert findings(tmp_path, styled) == expected, styled


# -- LLaMA-Factory reads each form as lfgate does (the oracle: LLaMA-Factory 0.9.5's own read_args) ---------------
_READ_ARGS = r"""
import json, sys
from llamafactory.hparams.parser import read_args
out = {}
for path in json.load(sys.stdin):
    sys.argv = ["llamafactory-cli", path]
    try:
        out[path] = ["ok", read_args()]
    except Exception as err:
        out[path] = ["raised", f"{type(err).__name__}: {err}"]
print(json.dumps(out, default=str))
"""


def test_llamafactory_reads_every_yaml_form_as_lfgate_does(tmp_path):
    import subprocess

    from conftest import ROOT, oracle_missing
    from lfgate.readers.yaml_reader import load_file

    python = os.environ.get("LFGATE_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))
    if not os.path.exists(python):
        oracle_missing("no Python with llamafactory (set LFGATE_LF_PYTHON)")
    forms = {f: FORMS[f] for f in FORMS if f not in ("wrapper block", "LFS-pointer YAML")}
    paths = {}
    for index, (form, (name, text)) in enumerate(forms.items()):
        path = tmp_path / f"{index}{os.path.splitext(name)[1]}"
        path.write_text(text, encoding="utf-8")
        paths[form] = str(path)
    proc = subprocess.run([python, "-c", _READ_ARGS], input=json.dumps(list(paths.values())), capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    if proc.returncode != 0 and "No module named 'llamafactory'" in proc.stderr:
        oracle_missing("the LFGATE_LF_PYTHON interpreter has no llamafactory")
    assert proc.returncode == 0, proc.stderr
    read = json.loads(proc.stdout.strip().splitlines()[-1])
    for form, path in paths.items():
        if form == "JSON config":  # TY013's claim: 0.9.5's read_args fails on a JSON config
            assert read[path] == ["raised", "AttributeError: 'PosixPath' object has no attribute 'read'"]
            continue
        assert read[path] == ["ok", load_file(path).value], form
