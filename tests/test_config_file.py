"""[tool.lfgate] / .lfgate.toml: found upward, every key parsed, the CLI wins, bad files are exit-2 errors."""

import os

import pytest

from conftest import write_project
from helpers import check_json, codes, run_cli
from lfgate import config_file
from lfgate.diagnostics import Severity
from lfgate.errors import UsageError

FULL = """
[tool.black]
line-length = 100

[tool.lfgate]
select = ["DS", "ty1"]
ignore = ["DS104"]
fail-on = "warning"
exclude = ["legacy/*"]
extend-exclude = ["scratch"]
dataset-dir = "data"
baseline = "lfgate-baseline.json"
devices = 8
workers = 2
llamafactory-version = "0.9.5"

[tool.lfgate.per-file-ignores]
"data/old_*.json" = ["DS102", "DS103"]
"""


def test_reads_every_key_from_pyproject(tmp_path):
    write_project(tmp_path, {"pyproject.toml": FULL})
    s = config_file.load_settings(str(tmp_path))
    assert s.select == ("DS", "TY1") and s.ignore == ("DS104",)
    assert s.fail_on == Severity.WARNING
    assert s.exclude == ("legacy/*",) and s.extend_exclude == ("scratch",)
    assert s.all_excludes == ("legacy/*", "scratch")
    assert s.per_file_ignores == {"data/old_*.json": ("DS102", "DS103")}
    assert s.dataset_dir == str(tmp_path / "data")  # relative to the file's folder
    assert s.baseline == str(tmp_path / "lfgate-baseline.json")
    assert (s.devices, s.workers, s.llamafactory_version) == (8, 2, "0.9.5")
    assert s.source == str(tmp_path / "pyproject.toml")


def test_found_upward_and_lfgate_toml_wins_in_the_same_folder(tmp_path):
    write_project(tmp_path, {
        "pyproject.toml": "[tool.lfgate]\nfail-on = \"info\"\n",
        ".lfgate.toml": "fail-on = \"warning\"\n",
        "sub/deeper/.keep": "",
    })
    s = config_file.load_settings(str(tmp_path / "sub" / "deeper"))
    assert s.fail_on == Severity.WARNING and s.source == str(tmp_path / ".lfgate.toml")


def test_pyproject_without_lfgate_table_is_passed_over(tmp_path):
    write_project(tmp_path, {"pyproject.toml": "[tool.lfgate]\ndevices = 4\n",
                             "pkg/pyproject.toml": "[project]\nname = 'x'\n"})
    s = config_file.load_settings(str(tmp_path / "pkg"))
    assert s.devices == 4 and s.source == str(tmp_path / "pyproject.toml")


def test_no_file_gives_defaults(tmp_path):
    s = config_file.load_settings(str(tmp_path))
    assert s.source is None and s.fail_on == Severity.ERROR and s.select == ()


@pytest.mark.parametrize("text, words", [
    ("[tool.lfgate]\nfail_on = 'warning'\n", ["unknown key [tool.lfgate].fail_on", "Did you mean `fail-on`"]),
    ("[tool.lfgate]\nfail-on = 'fatal'\n", ["fail-on", "unknown severity 'fatal'"]),
    ("[tool.lfgate]\nselect = 'DS 101'\n", ["select", "'DS 101' is not a rule code"]),
    ("[tool.lfgate]\ndevices = 0\n", ["devices must be a whole number of at least 1"]),
    ("[tool.lfgate]\nworkers = true\n", ["workers must be a whole number"]),
    ("[tool.lfgate]\nper-file-ignores = ['a']\n", ["per-file-ignores must be a table"]),
    ("[tool.lfgate]\nexclude = [1]\n", ["exclude must be a list of glob patterns"]),
    ("[tool.lfgate\n", ["not valid TOML"]),
])
def test_bad_configuration_is_a_clear_exit_2(tmp_path, text, words):
    write_project(tmp_path, {"pyproject.toml": text})
    with pytest.raises(UsageError) as raised:
        config_file.load_settings(str(tmp_path))
    message = str(raised.value)
    assert message.startswith(str(tmp_path / "pyproject.toml")) and all(w in message for w in words), message
    code, out, err = run_cli("check", cwd=tmp_path)
    assert code == 2 and out == "" and err.startswith("lfgate: error: ") and "Traceback" not in err


def test_the_config_applies_to_check_and_the_cli_overrides_it(tmp_path):
    write_project(tmp_path, {".lfgate.toml": "ignore = [\"LG\"]\n"})
    code, report = check_json("nope.json", cwd=tmp_path)
    assert code == 0 and "LG001" not in codes(report)
    code, report = check_json("nope.json", "--ignore", "DS", cwd=tmp_path)  # the CLI's ignore replaces the file's
    assert code == 1 and "LG001" in codes(report)


def test_fail_on_from_the_file_sets_the_exit_code(tmp_path):
    write_project(tmp_path, {".lfgate.toml": "fail-on = \"info\"\n",
                             "train.yaml": "model_name_or_path: x  # lfgate: ignore[DS999]\n"})
    code, report = check_json("train.yaml", cwd=tmp_path)
    assert {d["severity"] for d in report["diagnostics"]} >= {"info"} and code == 1
    code, report = check_json("train.yaml", "--fail-on", "error", cwd=tmp_path)  # the CLI wins
    assert code == int(any(d["severity"] == "error" for d in report["diagnostics"]))


def test_show_settings_prints_the_resolved_values(tmp_path):
    write_project(tmp_path, {"pyproject.toml": FULL})
    code, out, _ = run_cli("check", "--show-settings", "--devices", "2", "--select", "LG", cwd=tmp_path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"# config file: {tmp_path / 'pyproject.toml'}"
    assert 'select = ["LG"]' in lines and "devices = 2" in lines  # the command line wins
    assert 'fail-on = "warning"' in lines and "workers = 2" in lines  # the file fills the rest
    assert '''per-file-ignores = { "data/old_*.json" = ["DS102", "DS103"] }''' in lines


def test_show_settings_without_a_file(tmp_path):
    code, out, _ = run_cli("check", "--show-settings", cwd=tmp_path)
    assert code == 0 and out.startswith("# config file: none (defaults)\n") and "# devices = (unset)" in out


def test_exclude_from_the_file_skips_folders(tmp_path):
    write_project(tmp_path, {".lfgate.toml": "exclude = [\"legacy\"]\n",
                             "legacy/train.yaml": "model_name_or_path: x  # lfgate: ignore[DS999]\n"})
    _, report = check_json(cwd=tmp_path)
    assert "SUP001" not in codes(report)
    os.remove(tmp_path / ".lfgate.toml")
    _, report = check_json(cwd=tmp_path)
    assert "SUP001" in codes(report)


def test_config_and_isolated_choose_the_file(tmp_path):
    write_project(tmp_path, {".lfgate.toml": "devices = 4\n", "ci/lfgate.toml": "devices = 2\nworkers = 3\n",
                             "ci/pyproject.toml": "[project]\nname = 'x'\n"})
    code, out, _ = run_cli("check", "--show-settings", "--config", "ci/lfgate.toml", cwd=tmp_path)
    assert code == 0 and "devices = 2" in out and "workers = 3" in out
    code, out, _ = run_cli("check", "--show-settings", "--isolated", cwd=tmp_path)
    assert code == 0 and "# devices = (unset)" in out and "none (defaults)" in out
    code, _, err = run_cli("check", "--config", "ci/pyproject.toml", cwd=tmp_path)
    assert code == 2 and "has no [tool.lfgate] table" in err
    code, _, err = run_cli("check", "--config", "nope.toml", cwd=tmp_path)
    assert code == 2 and "no such file" in err


def test_exclude_flags_and_lowercase_codes_on_the_command_line(tmp_path):
    write_project(tmp_path, {".lfgate.toml": "exclude = [\"a\"]\nextend-exclude = [\"b\"]\n"})
    code, out, _ = run_cli("check", "--show-settings", "--extend-exclude", "c,d", "--ignore", "sup", cwd=tmp_path)
    assert 'exclude = ["a"]' in out and 'extend-exclude = ["b", "c", "d"]' in out and 'ignore = ["SUP"]' in out
    code, out, _ = run_cli("check", "--show-settings", "--exclude", "z", cwd=tmp_path)
    assert 'exclude = ["z"]' in out.splitlines()
