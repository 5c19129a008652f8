"""A rule that passes its examples must not miss at scale.

The fast paths (validator/fastpath.py, validator/typed.py) vouch for ordinary records once the full pipeline has
primed them, so a record rule the fast paths were not taught about passes its own few-record examples and finds
nothing in a real dataset. For every rule whose bad example differs from its good one in a data file, this writes
the good example's records repeated past the fast paths' priming, then the bad records, and checks that the rule
reports the same with the fast paths on as with every record taken the full way.
"""

import json
import pathlib

import pytest

from conftest import write_project
from helpers import chdir
from lfgate.registry import all_rules
from lfgate.settings import Settings
from lfgate.validator.engine import run_check

RULES = all_rules()
DATA_SUFFIXES = (".json", ".jsonl")
RECORD_FAMILIES = ("DS", "DF")  # rules about records: each must be tested at scale or say here why it cannot be
# Record-family rules about a file as a whole, read before any record reaches a fast path (or a file of no records).
WHOLE_FILE = {
    "DF001": "no file", "DF002": "the file's extension", "DF005": "the file's place",
    "DF006": "the file cannot be opened", "DF010": "the file is not JSON", "DF012": "a byte order mark",
    "DF013": "nesting the parsers refuse", "DF014": "one object, not records", "DF016": "no samples",
    "DF019": "CSV, no fast path", "DF020": "Parquet, no fast path", "DF025": "a Git LFS pointer, not data",
    "DF030": "no registry (the inference)",
}
PRIMED = 600  # records before the bad ones: past the full pipeline's priming and the typed step's trial (256)


def data_files(rule) -> list:
    """The data files whose records the rule judges: lists of records in both examples, which differ (for a
    sample or data-file rule, DS/DF, also the same records under another registry entry or config)."""
    return [path for path in rule.bad if path.endswith(DATA_SUFFIXES) and not path.endswith("dataset_info.json")
            and path in rule.good and (rule.good[path] != rule.bad[path] or rule.code.startswith(RECORD_FAMILIES))
            and _records(rule.bad[path], path) and _records(rule.good[path], path)]


def _records(text, path):
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    try:
        if path.endswith(".jsonl"):
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None  # not records the fast path could see (a syntax error: the full way regardless)
    return value if isinstance(value, list) and value else None


def _raw(text) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


def _grown(lead: bytes, bad: bytes, repeats: int, path: str) -> bytes:
    """``lead``'s records ``repeats`` times, then ``bad``'s, as bytes: the bad records keep the very bytes that
    make them bad (a repeated key, invalid UTF-8)."""
    if path.endswith(".jsonl"):
        lead = lead if lead.endswith(b"\n") else lead + b"\n"
        return lead * repeats + bad
    inner = lead.strip()[1:-1].strip()  # the records of a JSON array, without the brackets
    return b"[" + b",\n".join([inner] * repeats + [bad.strip()[1:-1].strip()]) + b"]\n"


def at_scale(rule, mixed: bool = True) -> dict:
    """The bad example with each of its data files grown: the good records repeated past the priming, then the
    bad ones; or, for a rule about the whole dataset (a field no record has, every sample dropped), which good
    records would hide, the bad records alone repeated past the priming."""
    files = dict(rule.bad)
    for path in data_files(rule):
        lead = rule.good[path] if mixed else rule.bad[path]
        files[path] = _grown(_raw(lead), _raw(rule.bad[path]), -(-PRIMED // len(_records(lead, path))), path)
    return files


def _selection(args) -> dict:
    """The example's own --select/--ignore (DS012's example ignores LK050, which would fold it)."""
    chosen = {}
    for flag, value in zip(args, args[1:]):
        if flag in ("--select", "--ignore"):
            chosen[flag[2:]] = tuple(c.strip().upper() for c in value.split(","))
    return chosen


def reported(rule, root: pathlib.Path, fast_path: bool) -> list:
    with chdir(root):  # as `lfgate check` runs the examples: a config's dataset_dir resolves against the cwd
        report = run_check([rule.target or "."], Settings(fast_path=fast_path, workers=1, **_selection(rule.args)))
    return sorted((d.file, d.line, d.sample, d.message) for d in report.diagnostics if d.code == rule.code)


def missed_at_scale(rule, root: pathlib.Path) -> list:
    """What the rule reports with every record the full way but not with the fast paths on (empty: nothing)."""
    for mixed in (True, False):
        write_project(root, at_scale(rule, mixed))
        full = reported(rule, root, fast_path=False)
        if full:
            fast = reported(rule, root, fast_path=True)
            return [d for d in full if d not in fast]
    raise AssertionError(f"{rule.code} reports nothing even the full way at scale: the test would prove nothing")


SCALED = sorted(code for code, r in RULES.items() if r.command == "check" and data_files(r))


def test_every_record_rule_is_tested_at_scale():
    """A new DS or DF rule gets a bad example with records (then the test above grows it) or a reason here."""
    untested = [c for c in RULES if c.startswith(RECORD_FAMILIES) and c not in SCALED and c not in WHOLE_FILE]
    assert not untested, f"give these rules a JSON / JSON Lines data file in both examples: {untested}"
    assert not set(WHOLE_FILE) & set(SCALED), "a rule tested at scale needs no excuse"


@pytest.mark.parametrize("code", SCALED)
def test_rule_does_not_miss_at_scale(code, tmp_path):
    assert not missed_at_scale(RULES[code], tmp_path)


# -- the experiment that motivated this file: a blank-response rule -------------------------------------------------
_SHAREGPT = '{"a": {"file_name": "a.jsonl", "formatting": "sharegpt"}}\n'


def _chat(answer: str) -> str:
    return json.dumps({"conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": answer}]})


def blank_response_rule(monkeypatch, declared: bool):
    """A DS rule that flags a whitespace-only answer, added for this test only; ``declared``: with its
    ``refuses_texts`` declaration (what a rule that judges text declares so the fast paths refuse it)."""
    from lfgate import registry
    from lfgate.registry import WARNING, Rule
    from lfgate.validator.samples.base import Finding
    from lfgate.validator.samples.checker import SampleChecker

    rule = Rule("DS999", "blank-response", WARNING, "The trained response is only whitespace",
                why="The model learns to answer with blanks.", fix="Write the answer.",
                bad={"data/dataset_info.json": _SHAREGPT, "data/a.jsonl": _chat("   ") + "\n"},
                good={"data/dataset_info.json": _SHAREGPT, "data/a.jsonl": _chat("Hi!") + "\n"},
                refuses_texts=(lambda texts: any(not t.strip() for t in texts)) if declared else None)
    monkeypatch.setitem(registry.RULES, rule.code, rule)  # where the fast paths read the declarations
    empty_turns = SampleChecker._empty_turns

    def empty_turns_and_blank(self, index, aligned, out):
        empty_turns(self, index, aligned, out)
        for message in aligned.response[:1]:
            if isinstance(message["content"], str) and message["content"] and not message["content"].strip():
                out.append(Finding(rule, "the response is only whitespace", index, ()))

    monkeypatch.setattr(SampleChecker, "_empty_turns", empty_turns_and_blank)
    return rule


@pytest.mark.parametrize("declared", [False, True])
def test_the_blank_response_experiment_passes_its_examples(monkeypatch, tmp_path, declared):
    rule = blank_response_rule(monkeypatch, declared)
    write_project(tmp_path / "bad", rule.bad)
    write_project(tmp_path / "good", rule.good)
    assert reported(rule, tmp_path / "bad", fast_path=True)
    assert not reported(rule, tmp_path / "good", fast_path=True)


def test_the_at_scale_test_catches_the_undeclared_blank_response_rule(monkeypatch, tmp_path):
    """Without its declaration the fast paths vouch for the blank answers: the at-scale check says what it missed,
    here 1 record after 600 good ones, as the 2,000-record file of the experiment did."""
    rule = blank_response_rule(monkeypatch, declared=False)
    missed = missed_at_scale(rule, tmp_path)
    assert [d[2] for d in missed] == [PRIMED]


def test_the_declared_blank_response_rule_is_refused_by_both_fast_paths(monkeypatch, tmp_path):
    rule = blank_response_rule(monkeypatch, declared=True)
    assert not missed_at_scale(rule, tmp_path)
    # alpaca too: the declaration reaches the orjson fast path for alpaca records
    rule_files = {"data/dataset_info.json": '{"a": {"file_name": "a.json"}}\n',
                  "data/a.json": json.dumps([{"instruction": "q", "input": "", "output": "a"}] * PRIMED
                                            + [{"instruction": "q", "input": "", "output": " \n "}])}
    write_project(tmp_path / "alpaca", rule_files)
    assert [d[2] for d in reported(rule, tmp_path / "alpaca", fast_path=True)] == [PRIMED]
