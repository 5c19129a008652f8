"""Public third-party LLaMA-Factory projects, checked as a user would (issue 16 §5, issue 20).

Each case is one public repository, trimmed: its registries, data, YAML configs and DeepSpeed JSONs, and what says where
it launches `llamafactory-cli` (launch scripts, README code blocks, a nested checkout's env.py). Every case is checked
from its repository root with no path argument, as a pre-commit hook or CI job runs `lfgate check`: finding the launch
folder is lfgate's job. The trimmed files are not committed here (data fetched from other repositories stays out of
this repository's history): `scripts/build_realworld_corpus.py` rebuilds them from git mirrors into
../shared/realworld/<case>/ (or the folder LFGATE_REALWORLD names). A case whose folder is not there skips (fails
with LFGATE_REQUIRE_CORPUS=1), so a case can be judged here before ../shared has it. tests/realworld/<case>/ holds our
SOURCE note (what to rebuild, from which commit) and VERDICTS.json: every error and warning of `lfgate check` on it,
judged against what LLaMA-Factory 0.9.5 does to the project launched the way the project launches it.

Verdicts: "true" (a real problem: must still be found), "true-warning" (real, but LLaMA-Factory never loads it
for this project: found, at most a warning), "false-error" (must not be an error), "false-warning" (must be at most
an info), "artifact" (caused by the trimming, e.g. step counts: not asserted). A VERDICTS.json `xfail` entry names
a test that fails today for a known gap (strict: it turns red the day the gap closes, so the mark can go).
"""

import collections
import functools
import json
import os
import pathlib

import pytest

from conftest import corpus_case_missing
from helpers import run_cli
from lfgate.cli import build_parser

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = pathlib.Path(os.environ.get("LFGATE_REALWORLD") or ROOT.parent / "shared" / "realworld")
JUDGED = ROOT / "tests" / "realworld"
CASES = sorted(p.name for p in JUDGED.iterdir() if (p / "VERDICTS.json").is_file())
RANK = {"info": 0, "warning": 1, "error": 2}
HIGHEST_ALLOWED = {"false-error": "warning", "true-warning": "warning", "false-warning": "info"}


if not DATA.is_dir():
    if os.environ.get("LFGATE_REQUIRE_ORACLES") == "1":
        raise RuntimeError(f"the real-world corpus is missing at {DATA}: build it with scripts/build_realworld_corpus.py")
    pytest.skip(f"the real-world corpus is not at {DATA} (scripts/build_realworld_corpus.py builds it; "
                "LFGATE_REALWORLD names another folder)", allow_module_level=True)


def verdicts(case) -> dict:
    return json.loads((JUDGED / case / "VERDICTS.json").read_text(encoding="utf-8"))


def built(case) -> pathlib.Path:
    """The case's folder under DATA; skip (fail under LFGATE_REQUIRE_CORPUS=1) while it has not been built there."""
    folder = DATA / case
    if not folder.is_dir():
        corpus_case_missing(f"{case} is not in {DATA} yet: scripts/build_realworld_corpus.py --case {case} builds it "
                       "from a git mirror of its repository")
    return folder


@functools.cache
def checked(case):
    """(exit code, stdout, stderr) of `lfgate check` run from the project's root, as its VERDICTS.json says."""
    return run_cli(*verdicts(case)["argv"], cwd=built(case))


def report(case) -> dict:
    return json.loads(checked(case)[1])


def codes(entry) -> set:
    """The entry's code, and the codes it may go by once the issue-16 fixes land (`also_codes`)."""
    return {entry["code"], *entry.get("also_codes", ())}


def matches(entry, d) -> bool:
    return (d["code"] in codes(entry) and d["file"] == entry["file"]
            and ("line" not in entry or d["line"] == entry["line"])
            and ("dataset" not in entry or d["dataset"] == entry["dataset"]))


def params(test_name):
    out = []
    for case in CASES:
        reason = verdicts(case)["xfail"].get(test_name)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(case, marks=marks, id=case))
    return out


def test_the_corpus_is_there():
    assert len(CASES) >= 25
    assert [case for case in CASES if not (JUDGED / case / "SOURCE").is_file()] == []


@pytest.mark.parametrize("case", CASES)
def test_runs_from_the_repository_root(case):
    """No path argument and the root as working directory: the launch folder is lfgate's to infer, as in CI."""
    judged = verdicts(case)
    assert build_parser().parse_args(judged["argv"]).paths == []
    assert judged["data"] == f"../shared/realworld/{case}"
    assert built(case).is_dir()


@pytest.mark.parametrize("case", CASES)
def test_no_crash(case):
    code, out, err = checked(case)
    assert code in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err
    assert isinstance(json.loads(out)["diagnostics"], list)


@pytest.mark.parametrize("case", params("test_no_repeated_finding"))
def test_no_repeated_finding(case):
    seen = collections.Counter((d["code"], d["file"], d["line"], d["sample"], d["message"])
                               for d in report(case)["diagnostics"])
    assert [key for key, n in seen.items() if n > 1] == []


@pytest.mark.parametrize("case", params("test_no_false_error"))
def test_no_false_error(case):
    """Nothing the verdicts call false (or LLaMA-Factory never loads) is reported above what they allow."""
    diagnostics = report(case)["diagnostics"]
    too_severe = [(entry["verdict"], d["code"], d["file"], d["line"], d["dataset"], d["severity"])
                  for entry in verdicts(case)["findings"] if entry["verdict"] in HIGHEST_ALLOWED
                  for d in diagnostics
                  if matches(entry, d) and RANK[d["severity"]] > RANK[HIGHEST_ALLOWED[entry["verdict"]]]]
    assert too_severe == []


@pytest.mark.parametrize("case", CASES)
def test_every_true_catch_is_still_found(case):
    """A `true-warning` (an entry no config uses) may be folded into one summary per rule (issue 16 §3), so it only
    needs its code in its file; a `true` catch needs its own place."""
    diagnostics = report(case)["diagnostics"]
    lost = [entry for entry in verdicts(case)["findings"] if entry["verdict"] in ("true", "true-warning")
            and not any(matches(entry, d) if entry["verdict"] == "true"
                        else d["code"] in codes(entry) and d["file"] == entry["file"] for d in diagnostics)]
    assert lost == []


@pytest.mark.parametrize("case", CASES)
def test_every_error_is_judged(case):
    """A new error on a real project needs a verdict (true or false) before it ships."""
    judged = verdicts(case)["findings"]
    unjudged = [(d["code"], d["file"], d["line"], d["dataset"], d["message"]) for d in report(case)["diagnostics"]
                if d["severity"] == "error" and not any(matches(entry, d) for entry in judged)]
    assert unjudged == []
