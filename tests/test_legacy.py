"""The former name, lfguard: its configuration, suppressions and variables still work, each with one LG002 info."""

import os
import subprocess
import sys

from conftest import write_project
from helpers import check_json, find
from lfgate import config_file
from lfgate.diagnostics import Severity

CONFIG = "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nlearning_rate: 1e-4\nwarmup_step: 10\n"


def _lg002(report):
    return find(report, "LG002")


def test_old_pyproject_table_is_read_with_one_finding(tmp_path):
    write_project(tmp_path, {"pyproject.toml": "[project]\nname = 'x'\n\n[tool.lfguard]\nignore = [\"TY101\"]\n",
                             "train.yaml": CONFIG})
    code, report = check_json("train.yaml", cwd=tmp_path)
    assert not find(report, "TY101")  # the old table's ignore applies
    [finding] = _lg002(report)
    assert finding["severity"] == "info" and "[tool.lfgate]" in finding["message"]
    assert finding["file"].endswith("pyproject.toml") and finding["line"] == 4
    assert code == 0


def test_new_table_wins_over_the_old_one_and_gives_no_finding(tmp_path):
    write_project(tmp_path, {"pyproject.toml": "[tool.lfgate]\nfail-on = \"warning\"\n[tool.lfguard]\nfail-on = \"info\"\n"})
    s = config_file.load_settings(str(tmp_path))
    assert s.fail_on == Severity.WARNING and s.deprecations == []


def test_old_toml_file_is_read_after_the_new_one(tmp_path):
    write_project(tmp_path, {".lfguard.toml": "ignore = [\"TY101\"]\n", "train.yaml": CONFIG})
    _, report = check_json("train.yaml", cwd=tmp_path)
    assert not find(report, "TY101")
    [finding] = _lg002(report)
    assert ".lfgate.toml" in finding["message"] and finding["file"].endswith(".lfguard.toml")
    write_project(tmp_path, {".lfgate.toml": "fail-on = \"info\"\n"})
    s = config_file.load_settings(str(tmp_path))
    assert s.source == str(tmp_path / ".lfgate.toml")
    assert [d.code for d in s.deprecations] == ["LG003"]  # the old file is shadowed, and that is said


def test_old_suppression_comment_silences_and_is_reported_once(tmp_path):
    write_project(tmp_path, {"train.yaml": CONFIG.replace("warmup_step: 10", "warmup_step: 10  # lfguard: ignore[TY101]")
                             + "# lfguard: file-ignore[TY999]\n"})
    _, report = check_json("train.yaml", cwd=tmp_path)
    assert not find(report, "TY101")
    old = _lg002(report)
    assert [(f["line"], "file-ignore" in f["message"]) for f in old] == [(3, False), (4, True)]
    assert "`# lfgate: ignore[...]`" in old[0]["message"]
    assert len(find(report, "SUP001")) == 1  # the stale old-spelt marker is still judged as a marker


def test_new_suppression_comment_gives_no_finding(tmp_path):
    write_project(tmp_path, {"train.yaml": CONFIG.replace("warmup_step: 10", "warmup_step: 10  # lfgate: ignore[TY101]")})
    _, report = check_json("train.yaml", cwd=tmp_path)
    assert not find(report, "TY101") and not _lg002(report)


def test_lg002_can_be_ignored_like_any_rule(tmp_path):
    write_project(tmp_path, {"train.yaml": CONFIG.replace("warmup_step: 10", "warmup_step: 10  # lfguard: ignore[TY101]")})
    _, report = check_json("train.yaml", "--ignore", "LG002", cwd=tmp_path)
    assert not _lg002(report) and not find(report, "TY101")


def test_old_environment_variables_are_read_as_new_ones(tmp_path):
    write_project(tmp_path, {"train.yaml": CONFIG})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LFGATE_", "LFGUARD_"))}
    env["LFGUARD_DEBUG"] = "1"
    probe = ("import os, sys\nfrom lfgate import legacy\nlegacy.adopt_old_environment()\n"
             "print(os.environ.get('LFGATE_DEBUG'))\n")
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.strip() == "1", done.stderr
    done = subprocess.run([sys.executable, "-m", "lfgate", "check", "--format", "json", "train.yaml"], env=env,
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    assert '"LG002"' in done.stdout and "LFGUARD_DEBUG is read as LFGATE_DEBUG" in done.stdout


def test_new_environment_variable_wins():
    env = {"LFGUARD_X": "old", "LFGATE_X": "new"}
    from lfgate import legacy

    assert legacy.adopt_old_environment(env) == ["LFGUARD_X"] and env["LFGATE_X"] == "new"
    legacy.adopt_old_environment({})  # leave no remembered variable for other tests
