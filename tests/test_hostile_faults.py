"""Hostile input and injected faults (issue 17): never an internal error, never a lost, clobbered or leaked byte.

Each test builds the hostile input or the fault in a temp dir and asserts the finding or message, the exit code,
that the files lfgate must not touch are intact, and that every output is a complete, valid document.
Subprocess runs go through `run()`: a time limit, the peak memory of the process tree (test_hostile's sampler)
and `HOSTILE_LOG=FILE` to record the figures in tests/README.md.
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, strategies as st
from test_hostile import high_water_mb, tree_memory_mb

from conftest import write_project
from helpers import check_json, run_cli
from lfgate.diagnostics import Diagnostic, Report, Severity
from lfgate.reporters import FORMATS, get

ALPACA = '[{"instruction": "hi", "input": "", "output": "hello"}]\n'
CONFIG = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
          "dataset: d\ndataset_dir: data\ntemplate: qwen\noutput_dir: saves/d\n")
REGISTRY = '{"d": {"file_name": "d.json"}}\n'
SECRET = "hf_SECRETsecretSECRETsecret0123456789"
FORMAT_NAMES = list(FORMATS)


def base(root, **files):
    project = {"data/dataset_info.json": REGISTRY, "data/d.json": ALPACA, "train.yaml": CONFIG}
    project.update(files)
    write_project(root, {k: v for k, v in project.items() if v is not None})
    return root


class Run:
    def __init__(self, code, stdout, stderr, seconds, peak_mb):
        self.code, self.stdout, self.stderr, self.seconds, self.peak_mb = code, stdout, stderr, seconds, peak_mb

    def json(self):
        return json.loads(self.stdout)


def run(cwd, *argv, timeout=60, max_mb=500, env=None, stdin=None):
    """`python -m lfgate ARGV` in cwd: no traceback, no internal error, within timeout and max_mb."""
    environment = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    environment.pop("LFGATE_DEBUG", None)
    out_path, err_path = cwd.parent / f"{cwd.name}.out", cwd.parent / f"{cwd.name}.err"
    start = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "lfgate", *argv], cwd=cwd, stdout=out, stderr=err,
                                env=environment, stdin=subprocess.DEVNULL)
        peak = 0.0
        while True:
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, tree_memory_mb(proc.pid), high_water_mb(proc.pid))
            if time.monotonic() - start > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                pytest.fail(f"lfgate {' '.join(argv)} ran past {timeout}s")
            time.sleep(0.01)
    seconds = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_bytes().decode("utf-8", "replace")
    stderr = err_path.read_bytes().decode("utf-8", "replace")
    assert "Traceback" not in stderr + stdout and "internal error" not in stderr, stderr[-3000:]
    assert peak < max_mb, f"peak memory {peak:.0f} MB"
    if os.environ.get("HOSTILE_LOG"):
        with open(os.environ["HOSTILE_LOG"], "a") as log:
            log.write(json.dumps([os.environ.get("PYTEST_CURRENT_TEST"), round(seconds, 2), round(peak), code])
                      + "\n")
    return Run(code, stdout, stderr, seconds, peak)


def parse_document(fmt: str, text: str):
    """The report parsed as its format promises; fails on a truncated or invalid document."""
    if fmt in ("json", "sarif"):
        return json.loads(text)
    if fmt == "junit":
        return ET.fromstring(text.encode("utf-8"))
    assert text == "" or text.endswith("\n")  # concise and github print nothing when nothing is found
    if fmt == "text":
        assert text.rstrip().splitlines()[-1].startswith(("ok:", "failed:"))
    return text.splitlines()


def assert_printable(text: str):
    """No control character but newline and tab, no bidi override, no lone surrogate."""
    bad = [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f
           or 0x202a <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069 or 0xd800 <= ord(c) <= 0xdfff]
    assert not bad, bad[:5]


# -- secrets -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_symlink_to_proc_self_environ_never_leaks_the_environment(tmp_path, fmt):
    root = base(tmp_path / "p")
    os.remove(root / "data/d.json")
    os.symlink("/proc/self/environ", root / "data/d.json")
    result = run(root, "check", "--format", fmt, env={"HF_TOKEN": SECRET, "MY_PASSWORD": "pa55-w0rd-xyz"})
    assert result.code == 1
    assert SECRET not in result.stdout + result.stderr and "pa55-w0rd-xyz" not in result.stdout + result.stderr
    parse_document(fmt, result.stdout)
    assert "DF006" in result.stdout and "/proc/" in result.stdout


def test_symlink_out_of_the_project_is_df005_and_never_shown(tmp_path):
    outside = tmp_path / "home" / "notes.json"
    outside.parent.mkdir()
    outside.write_text('{"token": "s3cr3t-value-never-shown"\n', encoding="utf-8")  # invalid JSON on purpose
    root = base(tmp_path / "p")
    os.remove(root / "data/d.json")
    os.symlink(outside, root / "data/d.json")
    for fmt in ("text", "json"):
        result = run(root, "check", "--format", fmt)
        assert "s3cr3t-value-never-shown" not in result.stdout
        assert "DF005" in result.stdout and "DF010" not in result.stdout
    report = run(root, "check", "--format", "json").json()
    [df005] = [d for d in report["diagnostics"] if d["code"] == "DF005"]
    assert df005["severity"] == "warning" and "not checked" in df005["message"]
    assert outside.read_text(encoding="utf-8").startswith('{"token"')


def test_code_frames_only_from_files_inside_the_project(tmp_path):
    from lfgate.reporters import text

    outside = tmp_path / "outside.json"
    outside.write_text("SECRET_LINE\n", encoding="utf-8")
    root = tmp_path / "p"
    root.mkdir()
    os.symlink(outside, root / "link.json")
    report = Report(diagnostics=[Diagnostic("DF010", Severity.ERROR, "bad", file="link.json", line=1, column=1)])
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        text.render(report, out)
        assert "SECRET_LINE" not in out.getvalue()
        assert not text.may_quote("/proc/self/environ") and text.may_quote(str(outside))  # no link: shown
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_credentials_and_environment_values_are_redacted_in_every_format(fmt):
    os.environ["LFGATE_TEST_API_TOKEN"] = "tok-4242-abcdef"
    try:
        report = Report(diagnostics=[Diagnostic(
            "DI107", Severity.INFO, f"hub https://user:hunter2@hf.example.com/x, {SECRET}, key tok-4242-abcdef, "
                                    "HF_TOKEN=abcdef123456", file="data/dataset_info.json", line=1)])
        out = io.StringIO()
        get(fmt).render(report, out)
    finally:
        del os.environ["LFGATE_TEST_API_TOKEN"]
    text = out.getvalue()
    for secret in ("hunter2", SECRET, "tok-4242-abcdef", "abcdef123456"):
        assert secret not in text
    assert "https://***@hf.example.com" in text


def test_doctor_redacts_hf_endpoint_userinfo(tmp_path):
    result = run(tmp_path, "doctor", "--no-network", "--format", "json",
                 env={"HF_ENDPOINT": "https://alice:s3cret-pass@mirror.example.com"})
    assert "s3cret-pass" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["env"]["HF_ENDPOINT"] == "https://***@mirror.example.com"


def test_script_url_pointing_nowhere_is_reported(tmp_path):
    base(tmp_path, **{"data/dataset_info.json": '{"d": {"script_url": "evil"}}\n'})
    code, report = check_json(".", cwd=tmp_path)
    [finding] = [d for d in report["diagnostics"] if d["code"] == "DI131"]
    assert "load_dataset('data/evil')" in finding["message"] and finding["line"] == 1


# -- every write is safe -------------------------------------------------------------------------------------
def _full_disk(monkeypatch):
    from lfgate import safe_write as output

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(output, "_fsync", no_space)


def _temps(folder):
    return [p for p in os.listdir(folder) if ".tmp" in p]


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit", "text"])
def test_output_file_on_a_full_disk_keeps_the_previous_report(tmp_path, monkeypatch, fmt):
    base(tmp_path)
    code, _, err = run_cli("check", "--format", fmt, "--output-file", "report.out", cwd=tmp_path)
    assert code == 0, err
    before = (tmp_path / "report.out").read_bytes()
    parse_document(fmt, before.decode("utf-8"))
    _full_disk(monkeypatch)
    code, _, err = run_cli("check", "--format", fmt, "--output-file", "report.out", cwd=tmp_path)
    assert code == 2 and "No space left" in err
    assert (tmp_path / "report.out").read_bytes() == before and not _temps(tmp_path)


def test_baseline_on_a_full_disk_keeps_the_previous_baseline(tmp_path, monkeypatch):
    base(tmp_path, **{"data/d.json": '[{"instruction": "hi", "input": "", "output": null}]\n'})
    assert run_cli("check", "--baseline", "b.json", "--update-baseline", cwd=tmp_path)[0] == 0
    before = (tmp_path / "b.json").read_bytes()
    _full_disk(monkeypatch)
    code, _, err = run_cli("check", "--baseline", "b.json", "--update-baseline", cwd=tmp_path)
    assert code == 2 and "cannot write" in err
    assert (tmp_path / "b.json").read_bytes() == before and not _temps(tmp_path)


def test_convert_and_register_on_a_full_disk_leave_nothing(tmp_path, monkeypatch):
    write_project(tmp_path, {"t.csv": "q,a\nhi,hello\n", "dataset_info.json": '{"x": {"file_name": "x.json"}}\n'})
    _full_disk(monkeypatch)
    code, _, err = run_cli("convert", "t.csv", "out.json", "--input", "q", "--output", "a", cwd=tmp_path)
    assert code == 2 and "No space left" in err and not (tmp_path / "out.json").exists()
    write_project(tmp_path, {"mine.json": ALPACA})
    code, _, err = run_cli("register", "mine.json", cwd=tmp_path)
    assert code == 2 and "No space left" in err
    assert (tmp_path / "dataset_info.json").read_text() == '{"x": {"file_name": "x.json"}}\n'
    assert not _temps(tmp_path)


@pytest.mark.parametrize("target", ["data/dataset_info.json", "train.yaml", "data/d.json"])
def test_update_baseline_and_output_file_never_overwrite_a_file_the_check_reads(tmp_path, target):
    base(tmp_path)
    before = (tmp_path / target).read_bytes()
    for argv in (["--baseline", target, "--update-baseline"], ["--output-file", target], ["--output-file", target,
                                                                                           "--force"]):
        code, _, err = run_cli("check", *argv, cwd=tmp_path)
        assert code == 2 and "read by this check" in err, (argv, err)
        assert (tmp_path / target).read_bytes() == before


def test_output_file_refuses_a_foreign_file_without_force(tmp_path):
    base(tmp_path, **{"notes.txt": "my notes\n"})
    code, _, err = run_cli("check", "--output-file", "notes.txt", cwd=tmp_path)
    assert code == 2 and "--force" in err and (tmp_path / "notes.txt").read_text() == "my notes\n"
    assert run_cli("check", "--output-file", "notes.txt", "--force", cwd=tmp_path)[0] == 0
    assert (tmp_path / "notes.txt").read_text().splitlines()[-1].startswith("ok:")
    assert run_cli("check", "--output-file", "notes.txt", cwd=tmp_path)[0] == 0  # now lfgate's own: rewritten


def test_output_file_never_writes_through_a_symlink(tmp_path):
    base(tmp_path / "p")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    os.symlink(victim, tmp_path / "p" / "report.json")
    code, _, err = run_cli("check", "--format", "json", "--output-file", "report.json", "--force",
                           cwd=tmp_path / "p")
    assert code == 2 and "symlink" in err and victim.read_text() == "keep\n"


def test_stats_plot_never_follows_a_symlink(tmp_path):
    pytest.importorskip("matplotlib")
    base(tmp_path / "p")
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"\x89PNG\r\n\x1a\nkeep")
    os.symlink(victim, tmp_path / "p" / "evil.png")
    code, _, err = run_cli("stats", "train.yaml", "--plot", "evil.png", cwd=tmp_path / "p")
    assert code == 2 and "symlink" in err and victim.read_bytes() == b"\x89PNG\r\n\x1a\nkeep"


def test_parallel_register_loses_nothing(tmp_path):
    names = [f"set{i}" for i in range(10)]
    write_project(tmp_path, {**{f"{n}.json": ALPACA for n in names}, "dataset_info.json": "{}\n"})
    procs = [subprocess.Popen([sys.executable, "-m", "lfgate", "register", f"{n}.json"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in names]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert b"added entry" in out
    registry = json.loads((tmp_path / "dataset_info.json").read_text())
    assert sorted(registry) == names
    assert not _temps(tmp_path)


def test_register_edits_a_symlinked_registry_through_the_link(tmp_path):
    shared = tmp_path / "shared" / "dataset_info.json"
    shared.parent.mkdir()
    shared.write_text('{"old": {"file_name": "old.json"}}\n')
    write_project(tmp_path / "p", {"mine.json": ALPACA})
    os.symlink(shared, tmp_path / "p" / "dataset_info.json")
    code, out, err = run_cli("register", "mine.json", cwd=tmp_path / "p")
    assert code == 0, err
    assert os.path.islink(tmp_path / "p" / "dataset_info.json")
    assert set(json.loads(shared.read_text())) == {"old", "mine"}


def test_register_refuses_a_read_only_registry_and_keeps_the_mode(tmp_path):
    registry = tmp_path / "dataset_info.json"
    write_project(tmp_path, {"mine.json": ALPACA, "dataset_info.json": "{}\n"})
    registry.chmod(0o444)
    code, _, err = run_cli("register", "mine.json", cwd=tmp_path)
    assert code == 2 and "read-only" in err and registry.read_text() == "{}\n"  # root included
    registry.chmod(0o640)
    registry.write_text("{}\n")
    assert run_cli("register", "mine.json", cwd=tmp_path)[0] == 0
    assert stat.S_IMODE(registry.stat().st_mode) == 0o640 and "mine" in json.loads(registry.read_text())
    if os.geteuid() == 0:  # only root can give a file away: then the owner must survive the edit too
        os.chown(registry, 1234, 1234)
        write_project(tmp_path, {"other.json": ALPACA})
        assert run_cli("register", "other.json", cwd=tmp_path)[0] == 0
        assert (registry.stat().st_uid, registry.stat().st_gid) == (1234, 1234)


@pytest.mark.parametrize("name", ["x,y", " x", "a\udcffb", "a\x1bb"])
def test_register_refuses_names_no_config_can_reference(tmp_path, name):
    write_project(tmp_path, {"mine.json": ALPACA, "dataset_info.json": "{}\n"})
    code, _, err = run_cli("register", "mine.json", "--name", name, cwd=tmp_path)
    assert code == 2 and "name" in err
    assert (tmp_path / "dataset_info.json").read_text() == "{}\n" and not _temps(tmp_path)


def test_register_of_a_registered_file_shows_the_difference_and_keeps_user_keys(tmp_path):
    entry = {"file_name": "mine.json", "split": "train", "columns": {"prompt": "instruction", "query": "input",
                                                                        "response": "output", "system": "sys"}}
    text = json.dumps({"mine": entry}, indent=2) + "\n"
    write_project(tmp_path, {"mine.json": '[{"instruction": "hi", "input": "", "output": "x", "sys": "s", '
                                          '"history": []}]\n', "dataset_info.json": text})
    code, out, err = run_cli("register", "mine.json", cwd=tmp_path)
    assert code == 1 and "--force" in err and "columns.history" in out
    assert (tmp_path / "dataset_info.json").read_text() == text
    code, out, err = run_cli("register", "mine.json", "--force", cwd=tmp_path)
    assert code == 0, err
    written = json.loads((tmp_path / "dataset_info.json").read_text())["mine"]
    assert written["split"] == "train" and written["columns"]["system"] == "sys"
    assert written["columns"]["history"] == "history"


def test_register_of_a_fifo_never_blocks(tmp_path):
    os.mkfifo(tmp_path / "FIFO.json")
    result = run(tmp_path, "register", "FIFO.json", timeout=30)
    assert result.code == 2 and "not a regular file" in result.stderr


def test_register_with_a_deeply_nested_registry_is_a_usage_error(tmp_path):
    nested = '{"x": ' + "[" * 5000 + "]" * 5000 + "}\n"
    write_project(tmp_path, {"mine.json": ALPACA, "dataset_info.json": nested})
    result = run(tmp_path, "register", "mine.json")
    assert result.code == 2 and "dataset_info.json" in result.stderr
    assert (tmp_path / "dataset_info.json").read_text() == nested


def test_convert_of_deeply_nested_data_is_a_clear_message(tmp_path):
    write_project(tmp_path, {"in.json": '[{"q": "hi", "a": ' + "[" * 1200 + "]" * 1200 + "}]"})
    result = run(tmp_path, "convert", "in.json", "out.json", "--input", "q", "--output", "a")
    assert result.code == 1 and "nested" in result.stderr and not (tmp_path / "out.json").exists()


# -- no internal error ----------------------------------------------------------------------------------------
def _hostile_names_project(root):
    root.mkdir()
    (root / "data").mkdir()
    (root / "data" / "dataset_info.json").write_text(
        '{"d\\ud800x": {"file_name": "\\udcff.json"}, "e": {"file_name": "e.json", "columns": {"prompt": '
        '"in\\ud800"}}, "n": {"file_name": "a\\u0000b.json"}}', encoding="utf-8")
    with open(os.fsencode(root / "data") + b"/\xff.json", "wb") as f:
        f.write(b'[{"instruction": "hi\\ud800", "input": "", "output": "x\x1b[2K\x1b[1A"}]')
    (root / "data" / "e.json").write_text('[{"in\\ud800": "hi \x1b[2K\x1b[1A", "output": "x"}]', encoding="utf-8")
    with open(os.fsencode(root / "data") + b"/\xfe\x1b[2K.yaml", "wb") as f:
        f.write(b"model_name_or_path: x\nstage: sft\ndataset: d\xed\xa0\x80x\n")
    return root


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_surrogates_undecodable_names_nul_and_escapes_give_a_complete_document(tmp_path, fmt):
    root = _hostile_names_project(tmp_path / "p")
    stdout = run(root, "check", "--format", fmt)
    assert stdout.code == 1
    parse_document(fmt, stdout.stdout)
    assert_printable(stdout.stdout)
    assert "\x1b" not in stdout.stdout and "DF001" in stdout.stdout  # NUL in file_name
    to_file = run(root, "check", "--format", fmt, "--output-file", "../report.out")
    assert to_file.code == 1
    parse_document(fmt, (tmp_path / "report.out").read_text(encoding="utf-8"))


def test_escape_sequences_in_a_data_line_are_shown_escaped_in_the_code_frame(tmp_path):
    base(tmp_path, **{"data/d.json": '[{"instruction": "\x1b[2K\x1b[1Aok", "input": "", "output": 5}]\n'})
    code, out, _ = run_cli("check", cwd=tmp_path)
    assert code == 1 and "\x1b" not in out and "\\x1b[2K\\x1b[1A" in out


def test_a_huge_integer_in_the_yaml_is_a_finding_not_an_internal_error(tmp_path):
    base(tmp_path, **{"train.yaml": CONFIG + "cutoff_len: " + "9" * 5000 + "\n"})
    result = run(tmp_path, "check", "--format", "json", "train.yaml")
    assert result.code == 1
    assert any(d["file"] == "train.yaml" and d["line"] == 9 for d in result.json()["diagnostics"])


def test_keys_from_a_yaml_merge_key_carry_the_merge_line(tmp_path):
    base(tmp_path, **{"train.yaml": "defaults: &defaults\n  lerning_rate: 1.0e-4\n" + CONFIG + "<<: *defaults\n"})
    code, report = check_json("train.yaml", cwd=tmp_path)
    merged = [d for d in report["diagnostics"] if "lerning_rate" in d["message"] and d["line"] == 11]
    assert merged, report["diagnostics"]


# -- a hostile repository ---------------------------------------------------------------------------------------
def test_workers_from_the_repository_are_capped_at_cores_and_chunks(tmp_path, monkeypatch):
    from lfgate.validator import datasets

    line = json.dumps({"instruction": "hi", "input": "", "output": "x" * 200}) + "\n"
    base(tmp_path, **{"data/d.json": None, "data/dataset_info.json": '{"d": {"file_name": "d.jsonl"}}\n',
                      "data/d.jsonl": line * ((datasets.PARALLEL_MIN_BYTES // len(line)) + 10),
                      "pyproject.toml": "[tool.lfgate]\nworkers = 99999\n"})
    asked = []
    real_pool = datasets._pool
    monkeypatch.setattr(datasets, "_pool", lambda workers: asked.append(workers) or real_pool(workers))
    code, report = check_json(".", cwd=tmp_path)
    assert code == 0 and asked and max(asked) <= min(os.cpu_count() or 1, 3)


def test_a_fifo_named_yaml_never_blocks_discovery(tmp_path):
    base(tmp_path)
    os.mkfifo(tmp_path / "evil.yaml")
    result = run(tmp_path, "check", "--format", "json", timeout=30)
    assert result.code == 0 and result.json()["summary"]["files"] >= 2


def test_a_fifo_named_on_the_command_line_is_reported_not_read(tmp_path):
    base(tmp_path)
    os.mkfifo(tmp_path / "evil.yaml")
    result = run(tmp_path, "check", "--format", "json", "evil.yaml", timeout=30)
    [finding] = result.json()["diagnostics"]
    assert result.code == 1 and finding["code"] == "LG001" and "not a regular file" in finding["message"]


@pytest.mark.parametrize("argv,config", [
    (["--select", "DS1O1"], None), (["--ignore", "DS999"], None), ([], 'select = ["DS999"]\n'),
])
def test_a_typo_in_rule_selection_is_a_usage_error(tmp_path, argv, config):
    base(tmp_path, **({".lfgate.toml": config} if config else {}))
    code, _, err = run_cli("check", *argv, cwd=tmp_path)
    assert code == 2 and "names no rule" in err


def test_rule_selection_ignores_case(tmp_path):
    base(tmp_path, **{".lfgate.toml": 'select = ["ds104"]\n',
                      "data/d.json": '[{"instruction": "hi", "input": "", "output": 5}]\n'})
    code, report = check_json(".", cwd=tmp_path)
    assert code == 1 and {d["code"] for d in report["diagnostics"]} == {"DS104"}


@pytest.mark.parametrize("text", ['{"tool": "lfgate", "baseline": 1, "findings": [{"file": "a", "code": "DS104", '
                                  '"sample": 0, "count": 1e309}]}',
                                  "[" * 5000 + "]" * 5000])
def test_a_broken_baseline_is_a_usage_error_naming_it(tmp_path, text):
    base(tmp_path, **{"b.json": text})
    result = run(tmp_path, "check", "--baseline", "b.json")
    assert result.code == 2 and "b.json" in result.stderr


def test_a_pyproject_with_invalid_utf8_above_is_a_usage_error_naming_it(tmp_path):
    (tmp_path / "pyproject.toml").write_bytes(b"[tool.black]\nx = '\xff'\n")
    base(tmp_path / "sub")
    result = run(tmp_path / "sub", "check")
    assert result.code == 2 and "pyproject.toml" in result.stderr and "UTF-8" in result.stderr


# -- a file changing during the check ---------------------------------------------------------------------------
def test_a_file_truncated_while_it_is_checked_is_an_error(tmp_path, monkeypatch):
    from lfgate.validator import datasets

    records = [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(50)]
    base(tmp_path, **{"data/d.json": json.dumps(records)})
    real = datasets.iter_file

    def truncating(path):
        for n, item in enumerate(real(path)):
            if n == 1:
                with open(path, "r+b") as f:
                    f.truncate(100)
            yield item
    monkeypatch.setattr(datasets, "iter_file", truncating)
    code, report = check_json(".", cwd=tmp_path)
    changed = [d for d in report["diagnostics"] if "changed while it was checked" in d["message"]]
    assert code == 1 and changed and changed[0]["code"] == "DF006" and changed[0]["severity"] == "error"


# -- bounded work on small hostile files --------------------------------------------------------------------------
def test_xlsx_with_one_cell_at_xfd1048576(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.append(["q", "a"])
    book.active.append(["hi", "hello"])
    book.active["XFD1048576"] = "x"
    book.save(tmp_path / "evil.xlsx")
    assert (tmp_path / "evil.xlsx").stat().st_size < 10_000
    result = run(tmp_path, "convert", "evil.xlsx", "out.json", "--input", "q", "--output", "a", timeout=10)
    assert result.code == 1 and "XFD1048576" in result.stderr and not (tmp_path / "out.json").exists()


def test_xlsx_is_read_from_its_real_cells(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    for row in (["q", "a"], ["hi", "hello"], [1, 2.5], [None, None], ["x", "y"]):
        book.active.append(row)
    book.save(tmp_path / "ok.xlsx")
    code, _, err = run_cli("convert", "ok.xlsx", "out.json", "--input", "q", "--output", "a", cwd=tmp_path)
    assert code == 0, err
    rows = json.loads((tmp_path / "out.json").read_text())
    assert [(r["input"], r["output"]) for r in rows] == [("hi", "hello"), ("1", "2.5"), ("x", "y")]


def _parquet(path, columns):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table(columns), path, compression="zstd")


def test_parquet_with_a_200mb_cell_is_reported_not_loaded(tmp_path):
    base(tmp_path, **{"data/d.json": None, "data/dataset_info.json": '{"d": {"file_name": "d.parquet"}}\n'})
    _parquet(tmp_path / "data/d.parquet", {"instruction": ["a" * (200 << 20)], "input": [""], "output": ["b"]})
    assert (tmp_path / "data/d.parquet").stat().st_size < 1 << 20
    result = run(tmp_path, "check", "--format", "json", timeout=20)
    [capped] = [d for d in result.json()["diagnostics"] if d["code"] == "DF040"]  # not checked: never a pass
    assert capped["severity"] == "error" and "200 MB" in capped["message"] and result.code == 1
    assert result.json()["summary"]["samples"] == 1


def test_dictionary_encoded_parquet_with_5_million_rows_is_checked_to_the_last_row(tmp_path):
    """43 KB that expand to 5 million rows: every row is checked (issue 20: no cap on rows), in bounded memory."""
    pa = pytest.importorskip("pyarrow")
    n = 5_000_000
    ones = pa.array([0] * n, type=pa.int8())
    last_empty = pa.array([0] * (n - 1) + [1], type=pa.int8())
    base(tmp_path, **{"data/d.json": None, "data/dataset_info.json": '{"d": {"file_name": "d.parquet"}}\n'})
    _parquet(tmp_path / "data/d.parquet", {"instruction": pa.DictionaryArray.from_arrays(ones, pa.array(["hi"])),
                                           "input": pa.DictionaryArray.from_arrays(ones, pa.array([""])),
                                           "output": pa.DictionaryArray.from_arrays(last_empty, pa.array(["x", ""]))})
    assert (tmp_path / "data/d.parquet").stat().st_size < 1 << 20
    result = run(tmp_path, "check", "--format", "json", timeout=90)
    report = result.json()
    assert report["summary"]["samples"] == n and not [d for d in report["diagnostics"] if d["code"] == "DF040"]
    assert [d["sample"] for d in report["diagnostics"] if d["code"] == "DS011"] == [n - 1]  # within run()'s 500 MB


# -- optional dependencies (issue 16 §1) -----------------------------------------------------------------------
BLOCK = ("import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
         "        if name.split('.')[0] in {blocked!r}:\n            raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)\n"
         "sys.meta_path.insert(0, Block())\nfrom lfgate.cli import main\nsys.exit(main(sys.argv[1:]))\n")


def _without(cwd, modules, *argv):
    proc = subprocess.run([sys.executable, "-c", BLOCK.format(blocked=set(modules)), *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    return proc


def test_without_pyarrow_a_parquet_dataset_is_one_finding_and_the_rest_is_checked(tmp_path):
    base(tmp_path, **{"data/dataset_info.json": '{"d": {"file_name": "d.json"}, "p": {"file_name": "p.parquet"}}\n',
                      "data/p.parquet": b"PAR1 not really", "data/d.json": '[{"instruction": 5, "output": "x"}]\n'})
    proc = _without(tmp_path, {"pyarrow", "pandas"}, "check", "--format", "json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 1  # the error in d.json: everything else was still checked
    [missing] = [d for d in report["diagnostics"] if d["dataset"] == "p"]
    assert missing["code"] == "DF020" and missing["severity"] == "warning"
    assert "lfgate[tabular]" in missing["message"]
    assert any(d["dataset"] == "d" and d["code"] == "DS103" for d in report["diagnostics"])


def test_without_openpyxl_convert_names_the_extra(tmp_path):
    (tmp_path / "t.xlsx").write_bytes(b"PK\x03\x04")
    proc = _without(tmp_path, {"openpyxl"}, "convert", "t.xlsx", "out.json", "--input", "q", "--output", "a")
    assert proc.returncode == 1 and "pip install 'lfgate[tabular]'" in proc.stderr
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "out.json").exists()


def test_the_light_install_reads_parquet():
    """pyarrow is a core dependency: `pip install .` checks every format LLaMA-Factory loads."""
    import re

    text = open(os.path.join(os.path.dirname(__file__), "..", "pyproject.toml"), encoding="utf-8").read()
    core = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
    assert '"pyarrow' in core and '"pandas' in core


# -- every reporter, every string --------------------------------------------------------------------------------
ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)


@given(message=ANY_TEXT, file=ANY_TEXT, dataset=st.none() | ANY_TEXT, line=st.none() | st.integers(1, 10**6),
       fmt=st.sampled_from(FORMAT_NAMES))
def test_every_reporter_writes_a_complete_parseable_document_for_any_text(message, file, dataset, line, fmt):
    report = Report(diagnostics=[
        Diagnostic("DS104", Severity.ERROR, message, file=file or None, line=line, column=1 if line else None,
                   dataset=dataset, sample=0),
        Diagnostic("DI107", Severity.INFO, message[::-1], file=None),
    ], files=1, samples=1)
    out = io.StringIO()
    get(fmt).render(report, out)
    text = out.getvalue()
    text.encode("utf-8")  # no lone surrogate survives
    assert_printable(text)
    document = parse_document(fmt, text)
    if fmt == "json":
        assert len(document["diagnostics"]) == 2
    if fmt == "sarif":
        assert len(document["runs"][0]["results"]) == 2
    if fmt == "junit":
        assert document.get("tests") == "2"


FILE_NAME = st.text(st.characters(min_codepoint=1, max_codepoint=0x10FFFF, blacklist_characters="/"),
                    min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))


@given(name=ANY_TEXT, key=ANY_TEXT, value=ANY_TEXT, file_name=FILE_NAME, fmt=st.sampled_from(FORMAT_NAMES))
def test_any_names_keys_and_values_through_check_give_a_complete_document(tmp_path_factory, name, key, value,
                                                                           file_name, fmt):
    """A whole `lfgate check` over a project whose dataset name, field name, value and data file name come from
    all of Unicode (JSON-escaped where JSON cannot hold them raw): exit 0 or 1, a complete document."""
    root = tmp_path_factory.mktemp("u")
    (root / "data").mkdir()
    try:
        data_path = os.path.join(os.fsencode(root / "data"), os.fsencode(file_name + ".json"))
    except UnicodeEncodeError:  # a surrogate that no byte sequence names: such a file cannot exist
        data_path = os.path.join(os.fsencode(root / "data"), b"d.json")
        file_name = "d"
    with open(data_path, "wb") as f:
        f.write(json.dumps([{"instruction": value, "input": "", "output": "x", key: value}]).encode())
    (root / "data" / "dataset_info.json").write_text(json.dumps({name: {"file_name": file_name + ".json"}}))
    (root / "train.yaml").write_text(CONFIG.replace("dataset: d", "dataset: " + json.dumps(name)))
    code, out, err = run_cli("check", "--format", fmt, cwd=root)
    assert code in (0, 1), err
    out.encode("utf-8")
    assert_printable(out)
    parse_document(fmt, out)


def test_register_and_usage_errors_show_input_escaped(tmp_path):
    write_project(tmp_path, {"mine.json": '[{"instruction": "hi", "input": "", "output": "x", "sys\\u001b[2K": "s"}]\n',
                             "dataset_info.json": "{}\n"})
    code, out, err = run_cli("register", "mine.json", "--dry-run", cwd=tmp_path)
    assert "\x1b" not in out + err
    code, out, err = run_cli("check", "--baseline", "no\x1b[2Kpe.json", cwd=tmp_path)
    assert code == 2 and "\x1b" not in err and "no\\x1b[2Kpe.json" in err


def test_a_fifo_as_baseline_never_blocks(tmp_path):
    base(tmp_path)
    os.mkfifo(tmp_path / "b.json")
    result = run(tmp_path, "check", "--baseline", "b.json", timeout=30)
    assert result.code == 2 and "not a regular file" in result.stderr


def test_arrow_with_a_70mb_value_is_reported_not_made_python(tmp_path):
    pa = pytest.importorskip("pyarrow")
    base(tmp_path, **{"data/d.json": None,
                      "data/dataset_info.json": '{"d": {"file_name": "d.arrow"}, "e": {"file_name": "e.arrow"}}\n'})
    for name, text in (("d", "a" * (70 << 20)), ("e", "hi")):
        table = pa.table({"instruction": [text], "input": [""], "output": ["x"]})
        with pa.OSFile(str(tmp_path / f"data/{name}.arrow"), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
            w.write_table(table)
    result = run(tmp_path, "check", "--format", "json", timeout=20, max_mb=300)
    [capped] = [d for d in result.json()["diagnostics"] if d["code"] == "DF040"]  # not checked: an error
    assert capped["dataset"] == "d" and capped["severity"] == "error" and "70 MB" in capped["message"]
    assert result.json()["summary"]["samples"] == 2  # d's sample was not loaded, but it is a sample


def test_a_read_only_report_or_baseline_is_never_replaced(tmp_path):
    base(tmp_path)
    assert run_cli("check", "--format", "json", "--output-file", "r.json", cwd=tmp_path)[0] == 0
    (tmp_path / "r.json").chmod(0o444)
    before = (tmp_path / "r.json").read_bytes()
    code, _, err = run_cli("check", "--format", "json", "--output-file", "r.json", "--force", cwd=tmp_path)
    assert code == 2 and "read-only" in err and (tmp_path / "r.json").read_bytes() == before
    assert not _temps(tmp_path)


def test_a_large_row_group_of_ordinary_samples_is_still_checked(tmp_path):
    """The Parquet caps must not skip a real dataset: one 70 MB column chunk of 100 000 ordinary samples."""
    base(tmp_path, **{"data/d.json": None, "data/dataset_info.json": '{"d": {"file_name": "d.parquet"}}\n'})
    n = 100_000
    _parquet(tmp_path / "data/d.parquet", {"instruction": [f"{i} " + "word " * 140 for i in range(n)],
                                           "input": [""] * n, "output": ["x"] * n})
    result = run(tmp_path, "check", "--format", "json", timeout=60)
    assert result.code == 0 and result.json()["summary"]["samples"] == n
    assert not [d for d in result.json()["diagnostics"] if d["code"] == "DF020"]


def test_convert_refuses_hostile_parquet_with_a_clear_message(tmp_path):
    _parquet(tmp_path / "big.parquet", {"q": ["a" * (100 << 20)], "a": ["b"]})
    result = run(tmp_path, "convert", "big.parquet", "out.json", "--input", "q", "--output", "a", timeout=20)
    assert result.code == 1 and "100 MB" in result.stderr and not (tmp_path / "out.json").exists()


def test_convert_register_over_a_changed_entry_writes_nothing_without_force(tmp_path):
    text = '{"mine": {"file_name": "mine.json", "columns": {"prompt": "instruction", "query": "input", ' \
           '"response": "output", "system": "sys"}, "split": "train"}}\n'
    write_project(tmp_path, {"t.csv": "q,a,s\nhi,hello,be brief\n", "dataset_info.json": text})
    argv = ("convert", "t.csv", "mine.json", "--input", "q", "--output", "a", "--system", "s", "--register", "mine")
    code, out, err = run_cli(*argv, cwd=tmp_path)
    assert code == 1 and "--force" in err and "columns.system" in out
    assert not (tmp_path / "mine.json").exists() and (tmp_path / "dataset_info.json").read_text() == text
    code, out, err = run_cli(*argv, "--force", cwd=tmp_path)
    assert code == 0, err
    assert json.loads((tmp_path / "dataset_info.json").read_text())["mine"]["split"] == "train"


# == issue 21: hostile input and faults, second round =============================================================
SHADOWS = ("json", "importlib", "runpy", "encodings", "sitecustomize", "usercustomize", "os", "sys", "platform")


def _shadowing_project(root):
    """A project whose committed files shadow the standard library; each one, imported, writes a marker."""
    root.mkdir(parents=True, exist_ok=True)
    marker = root.parent / "RAN"
    for name in SHADOWS:
        (root / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write('{name}\\n')\n")
    (root / "importlib").mkdir(exist_ok=True)  # a package shadows as well as a module
    (root / "importlib" / "__init__.py").write_text(f"open({str(marker)!r}, 'a').write('importlib/\\n')\n")
    return marker


def test_the_version_probe_never_runs_code_from_the_project(tmp_path, monkeypatch):
    """`train --backend llamafactory` asks the interpreter llamafactory-cli runs in for its packages: the project's
    `json.py` (or `importlib`, a `sitecustomize`), in the working directory or on PYTHONPATH, never runs."""
    from lfgate import lf_pins

    project = tmp_path / "p"
    marker = _shadowing_project(project)
    (tmp_path / "env" / "bin").mkdir(parents=True)
    python = tmp_path / "env" / "bin" / "python3"
    os.symlink(sys.executable, python)  # another path to an interpreter: asked in a subprocess
    cli = tmp_path / "env" / "bin" / "llamafactory-cli"
    cli.write_text(f"#!{python}\nimport sys\n")
    import sysconfig

    monkeypatch.chdir(project)
    site = sysconfig.get_paths()["purelib"]  # PYTHONPATH's folders are read as metadata, never imported from
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(project), ".", site]))
    versions, where, whole = lf_pins.cli_environment(str(cli))
    assert not marker.exists(), marker.read_text()
    assert versions is not None and where == str(python) and whole
    assert versions["transformers"] is not None


def test_every_python_child_starts_with_the_working_directory_off_sys_path(tmp_path):
    """torchrun and each of its workers start through subprocesses.module_argv: run one here, in a folder whose
    files shadow the standard library."""
    from lfgate import subprocesses
    from lfgate.runner import devices
    from lfgate.runner.devices import Machine

    marker = _shadowing_project(tmp_path / "p")
    (tmp_path / "p" / "in.json").write_text('{"b": 1, "a": [2]}')
    argv = subprocesses.module_argv(sys.executable, "json.tool", ["--sort-keys", "in.json"])
    done = subprocess.run(argv, cwd=tmp_path / "p", capture_output=True, text=True, timeout=60,
                          env=subprocesses.child_env())
    assert done.returncode == 0 and json.loads(done.stdout) == {"a": [2], "b": 1}, done.stderr
    assert not marker.exists(), marker.read_text()
    machine = Machine(kind="cuda", count=2, names=["a", "b"], bf16=True, fp16=True)
    command = devices.torchrun_command({}, machine, ["train.yaml"], python="py")
    assert "-m" not in command and command.count(subprocesses.BOOT) == 2  # torchrun and its workers
    assert "--no-python" in command


def test_no_executable_is_taken_from_a_relative_path_entry(tmp_path, monkeypatch):
    """`train --backend llamafactory` runs `llamafactory-cli` from PATH: a relative entry (`bin`, `.`) names the
    project, whose committed `bin/llamafactory-cli` must not run."""
    from lfgate.commands import train
    from lfgate.errors import UsageError

    marker = tmp_path / "RAN"
    (tmp_path / "p" / "bin").mkdir(parents=True)
    fake = tmp_path / "p" / "bin" / "llamafactory-cli"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake.chmod(0o755)
    monkeypatch.chdir(tmp_path / "p")
    monkeypatch.setenv("PATH", os.pathsep.join(["bin", ".", ""]))  # only the project's folders
    with pytest.raises(UsageError, match="not installed"):
        train._run_llamafactory("train.yaml", {})
    assert not marker.exists()


# -- writing only through safe_write, reading only through readers/guarded ----------------------------------------
PACKAGE = os.path.join(os.path.dirname(__file__), "..", "lfgate")
# (module, function) -> why this `open(` may stay outside readers/guarded.py and safe_write.py
OPEN_ALLOWED = {
    ("readers/guarded.py", "open_fd"): "the guarded reader itself (O_NONBLOCK, fstat)",
    ("readers/guarded.py", "open_regular"): "the guarded reader itself (a file object on its checked descriptor)",
    ("safe_write.py", "atomic_file"): "the writer itself: the temp file mkstemp just created",
    ("safe_write.py", "write_temp"): "the writer itself: the temp file mkstemp just created",
    ("safe_write.py", "commit"): "the writer itself: fsync of its own temp file",
    ("safe_write.py", "_sync_folder"): "the writer itself: fsync of the folder",
    ("safe_write.py", "locked"): "the writer itself: the lock, O_NOFOLLOW and O_EXCL",
    ("lf_pins.py", "pins"): "lfgate's own schemas/ (package data)",
    ("validator/train_schema.py", "_load"): "lfgate's own schemas/ (package data)",
    ("validator/training/removed_keys.py", "removed_keys"): "lfgate's own schemas/ (package data)",
    ("validator/training/v1_engine.py", "schema"): "lfgate's own schemas/ (package data)",
    ("validator/dataset_info.py", "schema"): "lfgate's own schemas/ (package data)",
    ("commands/schema.py", "run"): "lfgate's own schemas/ (package data)",
    ("validator/model_families.py", "data"): "lfgate's own schemas/ (package data)",
    ("registry.py", "index"): "lfgate's own schemas/ (package data: the rule index)",
    ("validator/training/model_loading.py", "installed_model_types"): "the installed transformers' source (site-packages)",
    # the runner's files in output_dir, written by the run itself: issue 21's runner part (helper i24)
    ("runner/progress.py", "on_log"): "the runner's own log in output_dir",
    ("runner/progress.py", "__init__"): "the runner's own log in output_dir",
    ("runner/progress.py", "write"): "the runner's own log in output_dir",
    ("runner/recipe.py", "plot_loss"): "trainer_state.json the run itself wrote",
    ("runner/memory.py", "rss_bytes"): "/proc/self/statm: the kernel's count of this process's memory",
    ("runner/memory.py", "machine_memory_bytes"): "the cgroup's memory limit under /sys/fs/cgroup",
    ("safe_write.py", "append_text"): "the writer itself: O_NOFOLLOW append to the run's own log",
    ("safe_write.py", "give_umask_mode"): "the writer itself: O_NOFOLLOW, fchmod of the run's own weights",
}


def _opens():
    """(module, function, line) of every call that opens a file by name in lfgate/."""
    import ast
    import pathlib

    root = pathlib.Path(PACKAGE).resolve()
    found = []
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root).as_posix()

        def walk(node, function, module=module):
            for child in ast.iter_child_nodes(node):
                name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
                if isinstance(child, ast.Call):
                    f = child.func
                    if (isinstance(f, ast.Name) and f.id == "open") or (
                            isinstance(f, ast.Attribute) and f.attr in ("open", "fdopen")
                            and isinstance(f.value, ast.Name) and f.value.id in ("os", "io", "codecs")) or (
                            isinstance(f, ast.Attribute) and f.attr in ("read_text", "read_bytes", "write_text",
                                                                        "write_bytes", "open")
                            and isinstance(f.value, ast.Call) and getattr(f.value.func, "id", "") == "Path"):
                        found.append((module, name, child.lineno))
                walk(child, name)
        walk(ast.parse(path.read_text(encoding="utf-8")), None)
    return found


def test_every_file_is_opened_through_the_guarded_reader_or_writer():
    """Fix the class, not the example: an `open(` anywhere else in lfgate/ is a file read without the FIFO,
    device, /proc and size guards (or written without safe_write's)."""
    stray = [f"lfgate/{m}:{line} in {fn}()" for m, fn, line in _opens() if (m, fn) not in OPEN_ALLOWED]
    assert not stray, "open these through lfgate.readers.guarded or lfgate.safe_write:\n" + "\n".join(stray)


def test_every_subprocess_is_started_through_lfgate_subprocesses():
    import pathlib
    import re

    root = pathlib.Path(PACKAGE).resolve()
    pattern = re.compile(r"^\s*(import subprocess|from subprocess |.*\bos\.(system|popen|exec\w*|spawn\w*)\()", re.M)
    stray = [p.relative_to(root).as_posix() for p in root.rglob("*.py")
             if p.name != "subprocesses.py" and pattern.search(p.read_text(encoding="utf-8"))]
    assert not stray, stray


# -- suppressions only from real comments --------------------------------------------------------------------------
@pytest.mark.parametrize("hidden", [
    'prompt: "see # lfgate: file-ignore[TY, LK, DS, DF, DI]"\n',
    "prompt: |\n  text\n  # lfgate: file-ignore[TY, LK, DS, DF, DI]\n",
    "prompt: >-\n  # lfgate: file-ignore[TY, LK, DS, DF, DI]\n",
    "prompt: 'a # lfgate: file-ignore[TY, LK, DS, DF, DI]'\n",
])
def test_a_suppression_inside_a_value_is_text_not_a_comment(tmp_path, hidden):
    base(tmp_path, **{"train.yaml": CONFIG + "lerning_rate: 1.0e-4\n" + hidden})
    code, report = check_json("train.yaml", cwd=tmp_path)
    assert code == 1 and "TY101" in {d["code"] for d in report["diagnostics"]}


def test_a_real_comment_still_suppresses(tmp_path):
    base(tmp_path, **{"train.yaml": CONFIG + "lerning_rate: 1.0e-4  # lfgate: ignore[TY101]\n"
                                             "note: |  # lfgate: ignore[TY101]\n  text\n"})
    code, report = check_json("train.yaml", cwd=tmp_path)
    assert "TY101" not in {d["code"] for d in report["diagnostics"]}, report["diagnostics"]


# -- media: no recursion, one measure per file, bounded decoding --------------------------------------------------
def test_an_mp4_of_5000_nested_trak_boxes_is_no_recursion_error(tmp_path):
    import struct

    payload = b""
    for _ in range(5000):
        payload = struct.pack(">I", 8 + len(payload)) + b"trak" + payload
    moov = struct.pack(">I", 8 + len(payload)) + b"moov" + payload
    video = b"\0\0\0\x14ftypisom\0\0\0\0isom" + moov
    assert len(video) < 50_000
    record = {"messages": [{"role": "user", "content": "<video>What?"}, {"role": "assistant", "content": "A cat."}],
              "videos": ["v.mp4"]}
    entry = {"v": {"file_name": "v.json", "formatting": "sharegpt", "columns": {"messages": "messages",
                                                                                 "videos": "videos"},
                   "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                            "assistant_tag": "assistant"}}}
    base(tmp_path, **{"data/dataset_info.json": json.dumps(entry), "data/v.json": json.dumps([record]),
                      "data/v.mp4": video, "train.yaml": CONFIG.replace("dataset: d", "dataset: v")
                      .replace("template: qwen", "template: qwen2_vl") + "cutoff_len: 1024\n"})
    result = run(tmp_path, "check", "--format", "json", timeout=60)
    found = [d for d in result.json()["diagnostics"] if d["code"] == "DS513"]
    assert result.code == 1 and found and "no video track" in found[0]["message"]


def test_one_image_named_many_ways_is_measured_and_decoded_once(tmp_path, monkeypatch):
    from lfgate.validator import media

    cut = media.png(300, 300)[:-30]  # cut inside the image data: a suspect PIL must decode
    write_project(tmp_path, {"x.png": cut})
    calls = []
    real = media.decode_problem
    monkeypatch.setattr(media, "decode_problem", lambda path: calls.append(path) or real(path))
    checker = media.ImageChecker(None)
    names = [str(tmp_path) + "/" + "./" * n + "x.png" for n in range(200)]
    found, _ = checker.check(0, names, "images", lambda rule, message, where: (rule.code, message))
    assert len(calls) == 1 and len(found) == 200 and {f[0] for f in found} == {"DS510"}


def test_decoding_suspects_stops_at_the_pixel_budget(tmp_path, monkeypatch):
    from lfgate.validator import media

    write_project(tmp_path, {"a.png": media.png(300, 300)[:-30], "b.png": media.png(300, 301)[:-30]})
    monkeypatch.setattr(media, "DECODE_BUDGET_PIXELS", 100_000)  # room for one 300x300 decode
    checker = media.ImageChecker(None)
    found, _ = checker.check(0, [str(tmp_path / "a.png"), str(tmp_path / "b.png")], "images",
                             lambda rule, message, where: message)
    assert len(found) == 1 and "a.png" in found[0]  # b.png was not decoded: a suspicion is never an error


# -- model-folder files: regular files only, size-capped -----------------------------------------------------------
MODEL_CONFIG = (CONFIG.replace("Qwen/Qwen2.5-0.5B-Instruct", "models/m") + "adapter_name_or_path: saves/a\n")


def _model_project(root, template="qwen"):
    base(root, **{"train.yaml": MODEL_CONFIG.replace("template: qwen", f"template: {template}"),
                  "models/m/config.json": '{"model_type": "qwen2", "num_hidden_layers": 2}\n',
                  "models/m/tokenizer.json": '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, '
                                             '"added_tokens": []}\n',
                  "models/m/preprocessor_config.json": "{}\n", "models/m/tokenizer_config.json": "{}\n",
                  "saves/a/adapter_config.json": '{"base_model_name_or_path": "m", "peft_type": "LORA"}\n'})
    return root


@pytest.mark.parametrize("name", ["models/m/config.json", "models/m/tokenizer.json", "models/m/tokenizer_config.json",
                                  "models/m/preprocessor_config.json", "saves/a/adapter_config.json",
                                  "models/m/model.safetensors"])
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_model_folder_file_that_is_a_fifo_or_dev_zero_never_blocks_nor_fills_memory(tmp_path, name, kind):
    root = _model_project(tmp_path / "p", template="qwen2_vl")
    path = root / name
    if path.exists():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink("/dev/zero", path)
    result = run(root, "check", "--format", "json", timeout=30, max_mb=400)
    assert result.code in (0, 1)
    parse_document("json", result.stdout)


def test_a_tokenizer_json_holding_an_empty_object_is_lk035(tmp_path):
    root = _model_project(tmp_path)
    (root / "models/m/tokenizer.json").write_text("{}\n")
    code, report = check_json("train.yaml", cwd=root)
    [finding] = [d for d in report["diagnostics"] if d["code"] == "LK035"]
    assert code == 1 and "no tokenizer model" in finding["message"]


def _safetensors(tensors: dict, extra: bytes = b"") -> bytes:
    header, data, at = {}, b"", 0
    for name, size in tensors.items():
        header[name] = {"dtype": "F32", "shape": [size // 4], "data_offsets": [at, at + size]}
        data, at = data + b"\0" * size, at + size
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data + extra


LFS = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 988097824\n"


@pytest.mark.parametrize("files, expected", [
    ({"model.safetensors": LFS}, "Git LFS pointer"),
    ({"model.safetensors": _safetensors({"w": 64})[:-8]}, "incomplete metadata"),
    ({"model.safetensors.index.json": json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors",
                                                                 "b": "model-00002-of-00002.safetensors"}}),
      "model-00001-of-00002.safetensors": _safetensors({"a": 4}),
      "model-00002-of-00002.safetensors.incomplete": b"\0" * 10}, "only a `.incomplete` download"),
    ({"model.safetensors.index.json": json.dumps({"weight_map": {"a": "model-00001-of-00001.safetensors"}}),
      "model-00001-of-00001.safetensors": LFS}, "Git LFS pointer"),
    ({"pytorch_model.bin": LFS}, "Git LFS pointer"),
])
def test_weights_that_cannot_load_are_lk080(tmp_path, files, expected):
    root = _model_project(tmp_path)
    write_project(root / "models/m", files)
    code, report = check_json("train.yaml", cwd=root)
    found = [d for d in report["diagnostics"] if d["code"] == "LK080"]
    assert code == 1 and found and expected in found[0]["message"], report["diagnostics"]


def test_whole_weights_and_shards_are_not_lk080(tmp_path):
    root = _model_project(tmp_path)
    write_project(root / "models/m", {
        "model.safetensors.index.json": json.dumps({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}),
        "s1.safetensors": _safetensors({"a": 16}), "s2.safetensors": _safetensors({"b": 8, "c": 4})})
    code, report = check_json("train.yaml", cwd=root)
    assert "LK080" not in {d["code"] for d in report["diagnostics"]}, report["diagnostics"]


# -- values that cannot work ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, code, severity", [
    ("seed: -1\n", "TY431", "error"), ("seed: 4294967296\n", "TY431", "error"),
    ("learning_rate: -1\n", "TY433", "error"), ("weight_decay: -0.1\n", "TY433", "error"),
    ("adam_beta1: 1.0\n", "TY433", "error"), ("adam_beta2: -0.5\n", "TY433", "error"),
    ("adam_epsilon: -1.0e-8\n", "TY433", "error"),
    ('dataset: "d,"\n', "TY432", "error"), ('dataset: ",d"\n', "TY432", "error"),
    ('eval_dataset: "d,"\n', "TY432", "error"), ('dataset: [d, " d"]\n', "TY432", "error"),
    ('interleave_probs: "1.0,"\nmix_strategy: interleave_under\n', "TY432", "error"),
    ('lora_target: "all,"\n', "TY432", "error"), ('freeze_trainable_modules: "all,"\n', "TY432", "error"),
    ("preprocessing_num_workers: 0\n", "TY434", "error"), ("dataloader_num_workers: -1\n", "TY434", "error"),
    ("val_size: 1.0\n", "TY435", "error"),
    ("val_size: 0.5\neval_strategy: steps\neval_steps: 1\neval_accumulation_steps: 0\n", "TY436", "error"),
    ("output_dir: .\n", "TY430", "error"), ("output_dir: /\n", "TY430", "error"),
    ("output_dir: data\n", "TY430", "warning"),
])
def test_values_that_cannot_work_are_findings(tmp_path, extra, code, severity):
    base(tmp_path, **{"train.yaml": CONFIG.replace("dataset: d\n", "dataset: d\n" if "dataset:" not in extra
                                                   else "") + extra})
    _, report = check_json("train.yaml", cwd=tmp_path)
    found = [d for d in report["diagnostics"] if d["code"] == code]
    assert found and found[0]["severity"] == severity and found[0]["line"], report["diagnostics"]
    if code == "TY433":
        assert not [d for d in report["diagnostics"] if d["code"] == "TY213"]  # once, at the cause


@pytest.mark.parametrize("extra", ["seed: 0\n", "seed: 4294967295\n", "learning_rate: 0\n", 'lora_target: "q_proj,"\n',
                                   "val_size: 1\n", "dataloader_num_workers: 0\n", "output_dir: saves/x\n",
                                   "eval_accumulation_steps: 0\n", 'dataset: "d, d"\n'])
def test_values_that_work_are_not_ty43x(tmp_path, extra):
    base(tmp_path, **{"train.yaml": CONFIG.replace("dataset: d\n", "") + ("" if "dataset:" in extra
                                                                            else "dataset: d\n") + extra})
    _, report = check_json("train.yaml", cwd=tmp_path)
    assert not [d for d in report["diagnostics"] if d["code"].startswith("TY43")], report["diagnostics"]


def test_output_dir_the_model_folder_or_the_project_root_is_an_error(tmp_path):
    root = _model_project(tmp_path / "p")
    for out in ("models/m", str(root), "./"):
        config = MODEL_CONFIG.replace("output_dir: saves/d", f"output_dir: {out}")
        (root / "train.yaml").write_text(config)
        _, report = check_json("train.yaml", cwd=root)
        [found] = [d for d in report["diagnostics"] if d["code"] == "TY430"]
        assert found["severity"] == "error", out


LF_LIBRARY_CHECKS = r"""
import json, os, sys, tempfile
out = {}
def attempt(name, fn):
    try:
        fn(); out[name] = None
    except BaseException as err:
        out[name] = f"{type(err).__name__}: {err}"
from llamafactory.data.parser import get_dataset_list
folder = tempfile.mkdtemp()
json.dump({"demo": {"file_name": "demo.json"}}, open(os.path.join(folder, "dataset_info.json"), "w"))
from llamafactory.hparams import DataArguments
for text in ("demo,", ",demo"):
    args = DataArguments(dataset=text, dataset_dir=folder)
    attempt("dataset " + text, lambda: get_dataset_list(args.dataset, folder))
attempt("interleave", lambda: DataArguments(dataset="demo", interleave_probs="1.0,", mix_strategy="interleave_under"))
import torch
p = [torch.nn.Parameter(torch.zeros(1))]
for key, kw in (("lr", dict(lr=-1)), ("wd", dict(weight_decay=-0.1)), ("beta", dict(betas=(1.0, 0.999))),
                ("eps", dict(eps=-1e-8))):
    attempt("adamw " + key, lambda: torch.optim.AdamW(p, **dict(dict(lr=1e-4), **kw)))
import transformers, datasets, peft
attempt("seed", lambda: transformers.set_seed(-1))
d = datasets.Dataset.from_dict({"a": list(range(10))})
attempt("num_proc", lambda: d.map(lambda x: x, num_proc=0))
attempt("val_size", lambda: d.train_test_split(test_size=1.0))
attempt("dataloader", lambda: torch.utils.data.DataLoader([1], num_workers=-1))
m = torch.nn.Sequential(torch.nn.Linear(2, 2))
attempt("lora_target", lambda: peft.get_peft_model(m, peft.LoraConfig(r=2, target_modules=["all", ""])))
print("RESULT " + json.dumps(out))
"""


def test_the_values_rules_quote_what_llamafactory_and_its_libraries_raise():
    """TY431-TY435's claims against LLaMA-Factory 0.9.5's own venv (LFGATE_LF_PYTHON, default ../lfvenv)."""
    import pathlib

    from conftest import oracle_missing

    python = pathlib.Path(os.environ.get("LFGATE_LF_PYTHON", pathlib.Path(__file__).resolve().parent.parent.parent
                                         / "lfvenv" / "bin" / "python"))
    if not python.exists():
        oracle_missing("no LLaMA-Factory venv (LFGATE_LF_PYTHON)")
    done = subprocess.run([str(python), "-c", LF_LIBRARY_CHECKS], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, DISABLE_VERSION_CHECK="1"))
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        oracle_missing(f"the LLaMA-Factory venv did not run: {done.stderr[-500:]}")
    got = json.loads(line[len("RESULT "):])
    expected = {"dataset demo,": "Undefined dataset  in dataset_info.json", "dataset ,demo": "Undefined dataset ",
                "interleave": "could not convert string to float", "adamw lr": "Invalid learning rate",
                "adamw wd": "Invalid weight_decay value", "adamw beta": "Invalid beta parameter at index 0",
                "adamw eps": "Invalid epsilon value", "seed": "Seed must be between 0 and 2**32 - 1",
                "num_proc": "num_proc must be an integer > 0", "val_size": "test_size=1.0 should be",
                "dataloader": "num_workers option should be non-negative", "lora_target": "not found in the base"}
    for name, text in expected.items():
        assert got[name] and text in got[name], (name, got[name])


# -- check --fix: one copy per data file ---------------------------------------------------------------------------
def test_check_fix_gives_x_json_and_x_csv_copies_of_their_own(tmp_path):
    base(tmp_path, **{"data/dataset_info.json": '{"j": {"file_name": "x.json"}, "c": {"file_name": "x.csv"}}\n',
                      "data/x.json": '[{"instruction": "a", "input": "", "output": 5}, '
                                     '{"instruction": "j", "input": "", "output": "b"}]\n',
                      "data/x.csv": "instruction,input,output\na,,\nc,,d\n", "data/d.json": None,
                      "train.yaml": CONFIG.replace("dataset: d", "dataset: j,c")})
    code, _, err = run_cli("check", "--fix", cwd=tmp_path)
    assert code == 1, err
    from_json = json.loads((tmp_path / "data/x.fixed.json").read_text())
    from_csv = json.loads((tmp_path / "data/x.csv.fixed.json").read_text())
    assert [r["instruction"] for r in from_json] == ["j"] and [r["instruction"] for r in from_csv] == ["c"]


def test_fix_names_are_unique_on_a_case_folding_disk():
    from lfgate.tools.fix import unique_outputs

    outputs = unique_outputs(["d/X.json", "d/x.json", "d/x.csv", "d/x.parquet"])
    assert len({o.lower() for o in outputs.values()}) == 4 and outputs["d/X.json"] == "d/X.fixed.json"


def test_fix_output_never_replaces_a_file_the_check_reads_even_with_force(tmp_path):
    base(tmp_path, **{"data/d.json": '[{"instruction": "a", "input": "", "output": 5}]\n'})
    for target in ("data/dataset_info.json", "train.yaml"):
        before = (tmp_path / target).read_bytes()
        code, _, err = run_cli("fix", "data/d.json", "-o", target if target.endswith(".json") else "train.json",
                               "--force", cwd=tmp_path)
        if target.endswith(".json"):
            assert code == 2 and "read by this check" in err, err
        assert (tmp_path / target).read_bytes() == before


# -- lone surrogates in what convert, fix and check --fix write -------------------------------------------------
@pytest.mark.parametrize("argv", [("convert", "data/d.json", "out.json", "--input", "instruction", "--output",
                                   "output"), ("fix", "data/d.json"), ("check", "--fix")])
def test_a_lone_surrogate_is_written_escaped_not_an_internal_error(tmp_path, argv):
    base(tmp_path, **{"data/d.json": '[{"instruction": "hi\\ud800", "input": "", "output": "x"}, '
                                     '{"instruction": "a", "input": "", "output": 5}]\n'})
    result = run(tmp_path, *argv)
    written = tmp_path / ("out.json" if argv[0] == "convert" else "data/d.fixed.json")
    assert result.code in (0, 1) and "\\ud800" in written.read_text(encoding="utf-8")


# -- the lock and the BOM of `register` ---------------------------------------------------------------------------
def test_register_never_writes_through_a_committed_lock_symlink_nor_leaves_a_lock_file(tmp_path):
    victim = tmp_path / "outside" / "created-by-lfgate"
    write_project(tmp_path / "p", {"mine.json": ALPACA, "dataset_info.json": "{}\n"})
    os.symlink(victim, tmp_path / "p" / ".dataset_info.json.lock")
    code, _, err = run_cli("register", "mine.json", cwd=tmp_path / "p")
    assert code == 0, err
    assert not victim.exists() and not (tmp_path / "outside").exists()
    write_project(tmp_path / "q", {"mine.json": ALPACA})
    assert run_cli("register", "mine.json", cwd=tmp_path / "q")[0] == 0
    assert sorted(os.listdir(tmp_path / "q")) == ["dataset_info.json", "mine.json"]  # no lock file to commit


def test_parallel_register_creating_the_registry_loses_nothing(tmp_path):
    names = [f"set{i}" for i in range(6)]
    write_project(tmp_path, {f"{n}.json": ALPACA for n in names})
    procs = [subprocess.Popen([sys.executable, "-m", "lfgate", "register", f"{n}.json"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in names]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert sorted(json.loads((tmp_path / "dataset_info.json").read_text())) == names
    assert sorted(p for p in os.listdir(tmp_path) if not p.endswith(".json")) == []


def test_register_refuses_a_registry_with_a_bom_and_says_so(tmp_path):
    text = '\ufeff{"x": {"file_name": "x.json"}}\n'
    write_project(tmp_path, {"mine.json": ALPACA, "dataset_info.json": text.encode("utf-8")})
    code, _, err = run_cli("register", "mine.json", cwd=tmp_path)
    assert code == 2 and "byte order mark" in err
    assert (tmp_path / "dataset_info.json").read_bytes() == text.encode("utf-8")


# -- xlsx cells capped while streaming --------------------------------------------------------------------------
def _big_cell_xlsx(path, megabytes: int, shared: bool) -> None:
    """A tiny workbook whose cell B2 holds `megabytes` MB of text, inline or as a shared string."""
    import zipfile

    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.append(["q", "a"])
    book.active.append(["hi", "PLACEHOLDER"])
    buffer = io.BytesIO()
    book.save(buffer)
    cell = b'<c r="B2" t="inlineStr"><is><t>PLACEHOLDER</t></is></c>'
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        def stream(name, head, tail):
            with dst.open(name, "w", force_zip64=True) as out:
                out.write(head)
                for _ in range(megabytes):
                    out.write(b"a" * (1 << 20))
                out.write(tail)
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                if shared:
                    dst.writestr(info.filename, data.replace(cell, b'<c r="B2" t="s"><v>0</v></c>'))
                else:
                    stream(info.filename, *data.split(b"PLACEHOLDER"))
            elif shared and info.filename == "[Content_Types].xml":
                dst.writestr(info.filename, data.replace(b"</Types>", (
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                    b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>')))
            elif shared and info.filename == "xl/_rels/workbook.xml.rels":
                dst.writestr(info.filename, data.replace(b"</Relationships>", (
                    b'<Relationship Id="rIdSS" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    b'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')))
            else:
                dst.writestr(info, data)
        if shared:
            stream("xl/sharedStrings.xml", b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.'
                   b'openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>', b"</t></si></sst>")


@pytest.mark.parametrize("shared", [True, False], ids=["shared-string", "inline"])
def test_an_xlsx_cell_over_the_cap_stops_with_its_address(tmp_path, shared):
    _big_cell_xlsx(tmp_path / "big.xlsx", 64, shared)
    assert (tmp_path / "big.xlsx").stat().st_size < 200_000
    result = run(tmp_path, "convert", "big.xlsx", "out.json", "--input", "q", "--output", "a", timeout=30,
                 max_mb=300)
    assert result.code == 1 and "cell B2" in result.stderr and "8 MB" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_an_xlsx_cell_under_the_cap_converts(tmp_path):
    _big_cell_xlsx(tmp_path / "ok.xlsx", 1, True)
    code, _, err = run_cli("convert", "ok.xlsx", "out.json", "--input", "q", "--output", "a", cwd=tmp_path)
    assert code == 0, err
    assert len(json.loads((tmp_path / "out.json").read_text())[0]["output"]) == 1 << 20


# -- settings files in a pull request --------------------------------------------------------------------------------
def test_a_settings_file_that_shadows_another_says_so(tmp_path):
    base(tmp_path, **{".lfgate.toml": "\n", "pyproject.toml": '[tool.lfgate]\nfail-on = "warning"\n'})
    code, report = check_json(".", cwd=tmp_path)
    [info] = [d for d in report["diagnostics"] if d["code"] == "LG003"]
    assert info["severity"] == "info" and "pyproject.toml" in info["message"] and "`fail-on`" in info["message"]
    assert info["file"] == ".lfgate.toml"


def test_a_pinned_config_is_what_the_run_uses_whatever_the_tree_holds(tmp_path):
    pinned = tmp_path / "ci" / "lfgate.toml"
    pinned.parent.mkdir()
    pinned.write_text('fail-on = "warning"\ninline-ignores = false\n')
    root = base(tmp_path / "p", **{".lfgate.toml": 'fail-on = "error"\nignore = ["TY", "LK"]\n',
                                   "train.yaml": CONFIG + "lerning_rate: 1.0e-4  # lfgate: ignore[TY101]\n"})
    code, report = check_json("--config", str(pinned), cwd=root)
    assert code == 1 and "TY101" in {d["code"] for d in report["diagnostics"]}
    assert "LG003" not in {d["code"] for d in report["diagnostics"]}
    code, report = check_json(cwd=root)  # without the pin, the tree's settings rule
    assert code == 0


# -- reports: verdict, paths, tokens ------------------------------------------------------------------------------
def test_the_verdict_line_agrees_with_the_exit_code(tmp_path):
    base(tmp_path, **{".lfgate.toml": 'fail-on = "warning"\n', "train.yaml": CONFIG + "warmup_steps: 1\n"
                                                                             "warmup_ratio: 0.1\n"})
    code, out, _ = run_cli("check", "train.yaml", "--select", "TY403", cwd=tmp_path)
    assert code == 1 and out.rstrip().splitlines()[-1].startswith("failed: 0 errors, 1 warnings")
    code, out, _ = run_cli("check", "train.yaml", "--select", "TY403", "--fail-on", "error", cwd=tmp_path)
    assert code == 0 and out.rstrip().splitlines()[-1].startswith("ok: 0 errors, 1 warnings")


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_reports_name_no_absolute_path_of_this_machine(tmp_path, fmt):
    root = base(tmp_path / "p", **{"data/dataset_info.json": '{"d": {"file_name": "d.json"}, '
                                                             '"m": {"file_name": "missing.json"}}\n',
                                   "train.yaml": CONFIG.replace("Qwen/Qwen2.5-0.5B-Instruct", "./no/model")
                                   .replace("dataset: d", "dataset: d,m,zz")})
    result = run(root, "check", "--format", fmt)
    assert result.code == 1 and "DF001" in result.stdout and "LK033" in result.stdout
    assert str(tmp_path) not in result.stdout and os.path.realpath(tmp_path) not in result.stdout
    if fmt == "text":
        assert str(root) in run(root, "check", "--absolute-paths").stdout
        assert run(root, "check", "--format", "json", "--absolute-paths").code == 2


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_token_values_are_redacted_by_key_name_whatever_their_type(tmp_path, fmt):
    base(tmp_path, **{"train.yaml": CONFIG + "om_hub_token: 48151623424242\nhf_hub_tokn: abcdefgh12345678xyz\n"
                                             "ms_hub_token: [987654321987]\n"})
    result = run(tmp_path, "check", "--format", fmt, "train.yaml")
    for secret in ("48151623424242", "abcdefgh12345678xyz", "987654321987"):
        assert secret not in result.stdout
    assert "om_hub_token" in result.stdout and "hf_hub_tokn" in result.stdout


def test_redaction_takes_values_not_parts_of_words():
    from lfgate.sanitize import redact

    assert redact("tokenizer: Couldn't load it", None) == "tokenizer: Couldn't load it"
    assert redact("max_new_tokens: 123456789", None) == "max_new_tokens: 123456789"
    assert redact("HF_TOKEN=abcdef123456, next", None) == "HF_TOKEN=***, next"
    assert redact("`hub_token: 12345678` is", None) == "`hub_token: ***` is"


# -- preview and doctor print data escaped -------------------------------------------------------------------------
HOSTILE_TEXT = "a\x1b[2K\x1b]0;pwned\x07\u202eb"


def test_preview_shows_the_datas_escape_sequences_escaped(monkeypatch):
    from lfgate.commands import preview

    class Tokenizer:
        def decode(self, ids, skip_special_tokens=False):
            return HOSTILE_TEXT

    for color in (False, True):
        shown = preview.render_spans(Tokenizer(), [1, 2], [-100, 2], color)
        assert "\x07" not in shown and "\u202e" not in shown and "\\x1b]0;pwned" in shown
        assert shown.count("\x1b") == (4 if color else 0)  # only preview's own colour codes


def test_doctor_prints_no_raw_escape_from_the_environment(tmp_path):
    result = run(tmp_path, "doctor", "--no-network", env={"HF_HOME": str(tmp_path / "x") + HOSTILE_TEXT}, timeout=120)
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout and "\\x1b]0;pwned" in result.stdout
