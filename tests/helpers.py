"""Run `lfgate check` in-process and read its JSON report."""

import contextlib
import io
import json
import os

import pytest

from lfgate.cli import main


@contextlib.contextmanager
def chdir(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run_cli(*argv, cwd=None):
    """(exit code, stdout, stderr) of `lfgate *argv`, run in-process in cwd."""
    out, err = io.StringIO(), io.StringIO()
    with chdir(cwd or os.getcwd()), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def check_json(*argv, cwd=None):
    """(exit code, report dict) of `lfgate check --format json *argv`."""
    code, out, err = run_cli("check", "--format", "json", *argv, cwd=cwd)
    assert code in (0, 1), f"exit {code}: {err}"
    return code, json.loads(out)


def codes(report) -> set:
    return {d["code"] for d in report["diagnostics"]}


def find(report, code) -> list:
    return [d for d in report["diagnostics"] if d["code"] == code]


def skip_unless_installed(rule) -> None:
    """A rule whose check reads a package (``needs``) cannot fire without it: its examples skip, saying so."""
    missing = rule.missing()
    if missing:
        pytest.skip(f"{rule.code} needs {', '.join(missing)} installed (pip install -e '.[train,test]')")
