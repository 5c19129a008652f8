"""A rule that passes its examples must not miss at scale.

The fast paths (validator/fastpath.py, validator/typed.py) vouch for ordinary records once the full pipeline has
primed them, so a record rule the fast paths were not taught about passes its own few-record examples and finds
nothing in a real dataset. For every rule whose bad example differs from its good one in a data file, this writes
the good example's records repeated past the fast paths' priming, then the bad records, and checks that the rule
reports the same with the fast paths on as with every record taken the full way. A sample or data-file rule
(DS, DF) is grown in both layouts, one JSON array and JSON Lines (whichever its example uses, and the other), so
both the orjson fast path and the typed step (msgspec, JSON Lines only) are exercised.
"""

import dataclasses
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
    "DF030": "no registry (the inference)", "DF040": "Parquet/Arrow, no fast path (tests/test_data_read.py)",
}
# Record-family rules about what only one layout can hold: their example's layout is the only one.
ONE_LAYOUT = {
    "DF022": "a 64-bit integer overflow: pandas reads an array file, Arrow's JSON Lines reader a line",
}
PRIMED = 600  # records before the bad ones: past the full pipeline's priming and the typed step's trial (256)
ARRAY, LINES = "array", "lines"


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


def layout_of(path: str) -> str:
    return LINES if path.endswith(".jsonl") else ARRAY


def record_bytes(data: bytes, path: str) -> list:
    """Each record's own bytes, as the file holds them (a repeated key, invalid UTF-8, a huge number kept)."""
    if layout_of(path) == LINES:
        return [line for line in data.splitlines() if line.strip()]
    records, depth, start, in_string, escaped = [], 0, None, False, False
    for i, byte in enumerate(data):  # the array's elements: split at its commas, outside strings and nesting
        if in_string:
            escaped, in_string = (False, True) if escaped else (byte == 0x5C, byte != 0x22)
            continue
        if depth == 1 and start is None and byte not in b" \t\r\n,]":
            start = i
        if byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
        elif byte in b"]}":
            depth -= 1
        if start is not None and (depth == 1 and byte == 0x2C or depth == 0):
            records.append(data[start:i].strip())
            start = None
    return records


def _write(records: list, layout: str) -> bytes:
    """Records in a layout: one per line (JSON holds no raw newline but between tokens), or one JSON array."""
    if layout == LINES:
        return b"".join(r.replace(b"\r", b" ").replace(b"\n", b" ") + b"\n" for r in records)
    return b"[" + b",\n".join(records) + b"]\n"


def layouts(rule) -> tuple:
    """The layouts the rule is grown in: its example's, and for a record rule the other one too."""
    native = layout_of(data_files(rule)[0])
    if not rule.code.startswith(RECORD_FAMILIES) or rule.code in ONE_LAYOUT:
        return (native,)
    return (native, LINES if native == ARRAY else ARRAY)


def _moved(path: str, layout: str) -> str:
    if layout_of(path) == layout:
        return path
    return path[:-len(".jsonl")] + ".json" if layout == ARRAY else path + "l"


def _renamed(files: dict, moves: dict) -> dict:
    """The example with its data files in another layout: their names, and the registry's file_name for them."""
    out = {}
    for path, text in files.items():
        if path.endswith("dataset_info.json") and isinstance(text, str):
            folder = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
            for old, new in moves.items():
                if old.startswith(folder):
                    text = text.replace(json.dumps(old[len(folder):]), json.dumps(new[len(folder):]))
        out[moves.get(path, path)] = text
    return out


def at_scale(rule, mixed: bool = True, layout: str = "") -> tuple:
    """(the bad example with each of its data files grown, the target to check): the good records repeated past
    the priming, then the bad ones; or, for a rule about the whole dataset (a field no record has, every sample
    dropped), which good records would hide, the bad records alone repeated past the priming. ``layout``: the
    data files as one JSON array or as JSON Lines (default: as the example has them)."""
    files = dict(rule.bad)
    moves = {}
    for path in data_files(rule):
        lead = _raw(rule.good[path] if mixed else rule.bad[path])
        lead_records, bad_records = record_bytes(lead, path), record_bytes(_raw(rule.bad[path]), path)
        repeats = -(-PRIMED // len(lead_records))
        moves[path] = _moved(path, layout or layout_of(path))
        files[path] = _write(lead_records * repeats + bad_records, layout_of(moves[path]))
    target = moves.get(rule.target, rule.target) if rule.target else None
    return _renamed(files, moves), target


def _selection(args) -> dict:
    """The example's own --select/--ignore (DS012's example ignores LK050, which would fold it)."""
    chosen = {}
    for flag, value in zip(args, args[1:]):
        if flag in ("--select", "--ignore"):
            chosen[flag[2:]] = tuple(c.strip().upper() for c in value.split(","))
    return chosen


def reported(rule, root: pathlib.Path, fast_path: bool, target=None) -> list:
    with chdir(root):  # as `lfgate check` runs the examples: a config's dataset_dir resolves against the cwd
        report = run_check([target or rule.target or "."],
                           Settings(fast_path=fast_path, workers=1, **_selection(rule.args)))
    return sorted((d.file, d.line, d.sample, d.message) for d in report.diagnostics if d.code == rule.code)


def missed_at_scale(rule, root: pathlib.Path, layout: str = "") -> list:
    """What the rule reports with every record the full way but not with the fast paths on (empty: nothing)."""
    for mixed in (True, False):
        files, target = at_scale(rule, mixed, layout)
        write_project(root, files)
        full = reported(rule, root, fast_path=False, target=target)
        if full:
            fast = reported(rule, root, fast_path=True, target=target)
            return [d for d in full if d not in fast]
    raise AssertionError(f"{rule.code} reports nothing even the full way at scale ({layout or 'as its example'}): "
                         "the test would prove nothing")


SCALED = sorted(code for code, r in RULES.items() if r.command == "check" and data_files(r))
SCALED_LAYOUTS = [(code, layout) for code in SCALED for layout in layouts(RULES[code])]


def test_every_record_rule_is_tested_at_scale():
    """A new DS or DF rule gets a bad example with records (then the test above grows it) or a reason here."""
    untested = [c for c in RULES if c.startswith(RECORD_FAMILIES) and c not in SCALED and c not in WHOLE_FILE]
    assert not untested, f"give these rules a JSON / JSON Lines data file in both examples: {untested}"
    assert not set(WHOLE_FILE) & set(SCALED), "a rule tested at scale needs no excuse"
    assert set(ONE_LAYOUT) <= set(SCALED)


def test_record_rules_are_grown_in_both_layouts():
    both = {code for code, _ in SCALED_LAYOUTS if code.startswith(RECORD_FAMILIES)}
    for code in both - set(ONE_LAYOUT):
        assert {layout for c, layout in SCALED_LAYOUTS if c == code} == {ARRAY, LINES}, code


def test_the_layouts_keep_each_records_bytes():
    records = [b'{"a": 1, "a": 2}', b'{"t": "x\xff y", "n": 123456789012345678901234}', b'[1, {"b": "]}"}]', b'7']
    for layout in (ARRAY, LINES):
        path = "d.json" if layout == ARRAY else "d.jsonl"
        assert record_bytes(_write(records, layout), path) == records


@pytest.mark.parametrize("code,layout", SCALED_LAYOUTS)
def test_rule_does_not_miss_at_scale(code, layout, tmp_path):
    assert not missed_at_scale(RULES[code], tmp_path, layout)


# -- the experiment that motivated this file: a blank-response rule -------------------------------------------------
_SHAREGPT = '{"a": {"file_name": "a.jsonl", "formatting": "sharegpt"}}\n'


def _chat(answer: str) -> str:
    return json.dumps({"conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": answer}]})


def blank_response_rule(monkeypatch, declared: bool):
    """A DS rule that flags a whitespace-only answer, added for this test only; ``declared``: with its
    ``refuses_texts`` declaration (what a rule that judges text declares so the fast paths refuse it)."""
    from lfgate import registry
    from lfgate.registry import WARNING, Rule
    from lfgate.validator.samples import base

    rule = Rule("DS999", "blank-response", WARNING, "The trained response is only whitespace",
                why="The model learns to answer with blanks.", fix="Write the answer.",
                bad={"data/dataset_info.json": _SHAREGPT, "data/a.jsonl": _chat("   ") + "\n"},
                good={"data/dataset_info.json": _SHAREGPT, "data/a.jsonl": _chat("Hi!") + "\n"},
                refuses_texts=(lambda texts: any(not t.strip() for t in texts)) if declared else None)
    monkeypatch.setitem(registry.RULES, rule.code, rule)  # where the fast paths read the declarations
    if not declared:  # DS080 (a real rule) declares the same refusal: without it, as before DS080 existed
        monkeypatch.setitem(registry.RULES, "DS080", dataclasses.replace(registry.RULES["DS080"], refuses=None))

    def blank_response(c, s):  # registered as `@check(KEPT, rule)` would, for this test only
        for message in s.aligned.response[:1]:
            if isinstance(message["content"], str) and message["content"] and not message["content"].strip():
                s.out.append(base.Finding(rule, "the response is only whitespace", s.index, ()))

    monkeypatch.setattr(base, "CHECKS", base.CHECKS + [base.Check(base.KEPT, blank_response, (rule,), base._always)])
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
    for layout in (ARRAY, LINES):
        assert not missed_at_scale(rule, tmp_path / layout, layout)
    # alpaca too: the declaration reaches the orjson fast path for alpaca records
    rule_files = {"data/dataset_info.json": '{"a": {"file_name": "a.json"}}\n',
                  "data/a.json": json.dumps([{"instruction": "q", "input": "", "output": "a"}] * PRIMED
                                            + [{"instruction": "q", "input": "", "output": " \n "}])}
    write_project(tmp_path / "alpaca", rule_files)
    assert [d[2] for d in reported(rule, tmp_path / "alpaca", fast_path=True)] == [PRIMED]
