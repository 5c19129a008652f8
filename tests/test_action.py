"""action.yml, the one-line CI step: its steps run as a script, as the GitHub runner would run them (issue 25 §7)."""

import json
import os
import pathlib
import re
import subprocess
import sys

import yaml

from conftest import write_project

ROOT = pathlib.Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
STEPS = ACTION["runs"]["steps"]
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _context(temp, **inputs):
    values = {f"inputs.{k}": str(v.get("default", "")) for k, v in ACTION["inputs"].items()}
    values.update({f"inputs.{k}": v for k, v in inputs.items()})
    values.update({"github.action_path": str(ROOT), "runner.temp": str(temp)})
    return values


def _expand(text, context):
    return EXPRESSION.sub(lambda m: context[m.group(1)], text)


def _enabled(step, context):
    """The `if:` of the action's steps: `!cancelled() && inputs.X == 'true'` (the only form it uses)."""
    condition = step.get("if")
    if condition is None:
        return True
    match = re.fullmatch(r"\$\{\{ !cancelled\(\) && (inputs\.[\w-]+) == 'true' \}\}", condition)
    assert match, f"a condition this test cannot evaluate: {condition}"
    return context[match.group(1)] == "true"


def _run(step, context, workspace):
    env = {**os.environ, **{k: _expand(v, context) for k, v in step.get("env", {}).items()}}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]  # the lfgate the tests run
    cwd = workspace / _expand(step.get("working-directory", "."), context)
    assert not EXPRESSION.search(step["run"]), "inputs reach the shell through env, never as script text"
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env, capture_output=True, text=True)


def _project(workspace):
    return write_project(workspace / "proj", {
        "data/dataset_info.json": json.dumps({"mine": {"file_name": "mine.json"}}),
        "data/mine.json": json.dumps([{"instruction": "hi", "input": "", "output": 5}]),
    })


def test_the_install_step_takes_the_light_core_from_the_actions_own_ref():
    [install] = [s for s in STEPS if "pip install" in s.get("run", "")]
    assert install["env"]["LFGATE_SOURCE"] == "${{ github.action_path }}"
    assert re.search(r'pip install [^\n]*"\$LFGATE_SOURCE"$', install["run"].strip())  # no [train] extra: no torch
    assert STEPS[0]["uses"].startswith("actions/setup-python@")


def test_the_check_and_sarif_steps_annotate_fail_and_feed_the_upload(tmp_path):
    _project(tmp_path)
    context = _context(tmp_path, path="proj")
    runs = [s for s in STEPS if "run" in s and "pip install" not in s["run"]]
    check, sarif = (_run(s, context, tmp_path) for s in runs if _enabled(s, context))
    assert check.returncode == 1 and "::error file=data/mine.json" in check.stdout  # the job fails, lines annotated
    assert sarif.returncode == 0  # exit 1 is the findings, reported by the step before
    report = json.loads((tmp_path / "lfgate.sarif").read_text())
    assert report["runs"][0]["results"]
    [upload] = [s for s in STEPS if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")]
    assert _expand(upload["with"]["sarif_file"], context) == str(tmp_path / "lfgate.sarif")
    assert _enabled(upload, context)


def test_args_are_arguments_not_script_and_sarif_can_be_turned_off(tmp_path):
    _project(tmp_path)
    (tmp_path / "proj" / "data" / "mine.json").write_text(json.dumps([{"instruction": "hi", "output": "ok"}]))
    context = _context(tmp_path, path="proj", args="--fail-on warning; touch pwned", **{"upload-sarif": "false"})
    enabled = [s for s in STEPS if _enabled(s, context)]
    assert not any(s.get("uses", "").startswith("github/codeql-action/") for s in enabled)
    [check] = [s for s in enabled if "run" in s and "pip install" not in s["run"]]
    result = _run(check, context, tmp_path)
    assert result.returncode == 2 and not (tmp_path / "proj" / "pwned").exists()  # a usage error, nothing ran
