"""Public third-party LLaMA-Factory projects, checked as a user would (issue 16 §5).

Each case is the registry, data and YAML configs of one public repository, trimmed. Those files are not committed
here (data fetched from other repositories stays out of this repository's history): `scripts/build_realworld_corpus.py`
rebuilds them from git mirrors into ../shared/realworld/<case>/ (or the folder LFGATE_REALWORLD names), and the
tests skip without them (fail, with LFGATE_REQUIRE_ORACLES=1). tests/realworld/<case>/ holds our SOURCE note (what
to rebuild, from which commit) and VERDICTS.json: every error and warning of `lfgate check` on it, judged against
LLaMA-Factory 0.9.5's source.

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

from helpers import run_cli

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


@functools.cache
def checked(case):
    """(exit code, stdout, stderr) of `lfgate check` run from the project's root, as its VERDICTS.json says."""
    return run_cli(*verdicts(case)["argv"], cwd=DATA / case)


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
    assert len(CASES) >= 12
    for case in CASES:
        assert (JUDGED / case / "SOURCE").is_file() and (DATA / case).is_dir(), case


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
