"""The YAML reader: positions, OmegaConf's scalar rules, and everything it refuses to build."""

import time

import pytest

from lfgate.readers.yaml_reader import MAX_NODES, load_file, load_text, parse_scalar


def kinds(doc):
    return [p.kind for p in doc.problems]


@pytest.mark.parametrize("text, expected", [
    ("1e-4", 0.0001),         # a float for OmegaConf; plain PyYAML keeps the string '1e-4'
    ("2e-5", 2e-05),
    ("5.0e-6", 5e-06),
    ("1E5", 100000.0),
    ("yes", True), ("on", True), ("off", False), ("NO", False),  # YAML 1.1 booleans, as OmegaConf reads them
    ("0x10", 16), ("1_000", 1000), ("1:30", 90),
    ("2024-01-01", "2024-01-01"),  # OmegaConf drops the timestamp resolver
    ("'1e-4'", "1e-4"),         # quoted: a string
    ("${oc.env:HOME}", "${oc.env:HOME}"),  # interpolations are passed on as text (no resolve)
    ("~", None), ("null", None),
])
def test_scalars_resolve_as_omegaconf_does(text, expected):
    doc = load_text(f"key: {text}\n")
    assert doc.problems == []
    assert doc.value == {"key": expected}


def test_positions_of_keys_and_values_are_one_based():
    doc = load_text("a: 1\nb:\n  c: [1, 2]\n  d: x\n")
    assert doc.key_positions[("a",)] == (1, 1)
    assert doc.key_positions[("b", "c")] == (3, 3)
    assert doc.value_positions[("b", "c")] == (3, 6)
    assert doc.value_positions[("b", "d")] == (4, 6)
    assert doc.position("b", "d") == (4, 3)
    assert doc.position("missing") == (None, None)


def test_duplicate_keys_are_reported_at_the_second_one():
    doc = load_text("a: 1\nb: 2\na: 3\n")
    assert kinds(doc) == ["duplicate-key"]
    assert (doc.problems[0].line, doc.problems[0].column) == (3, 1)
    assert "line 1" in doc.problems[0].message
    assert doc.value == {"a": 3, "b": 2}


def test_tags_never_construct_objects():
    doc = load_text("a: !!python/object/apply:os.system ['echo hi']\nb: !custom 1\n")
    assert kinds(doc) == ["tag", "tag"]
    assert [p.line for p in doc.problems] == [1, 2]
    assert doc.value["b"] == "1"  # the text, never a constructed object


def test_several_documents_and_syntax_errors_have_positions():
    doc = load_text("a: 1\n---\nb: 2\n")
    assert kinds(doc) == ["multi-document"] and doc.problems[0].line == 2 and not doc.readable
    doc = load_text("a: [1\nb: 2\n")
    assert kinds(doc) == ["syntax"] and doc.problems[0].line is not None


def test_alias_bomb_stops_quickly():
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(9):
        prev, cur = chr(97 + i), chr(98 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    start = time.perf_counter()
    doc = load_text("\n".join(lines) + "\n")
    assert time.perf_counter() - start < 5
    assert kinds(doc) == ["alias-limit"] and not doc.readable
    assert MAX_NODES < 9 ** 10


def test_recursive_alias_and_merge_keys():
    assert kinds(load_text("a: &a [*a]\n")) == ["recursive-alias"]
    doc = load_text("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n")
    assert doc.problems == [] and doc.value["c"] == {"x": 1, "y": 3}
    assert doc.key_positions[("c", "y")] == (4, 3)


def test_malformed_interpolation_and_odd_keys():
    assert kinds(load_text("a: ${foo\n")) == ["interpolation"]
    assert kinds(load_text("? [1, 2]\n: x\n")) == ["bad-key"]


def test_empty_file_is_an_empty_mapping_and_lists_stay_lists(tmp_path):
    assert load_text("").value == {}
    assert load_text("- a\n- b\n").value == ["a", "b"]
    path = tmp_path / "x.yaml"
    path.write_bytes(b"a: \xff\n")
    doc = load_file(str(path))
    assert kinds(doc) == ["syntax"] and not doc.readable


def test_command_line_values_parse_like_omegaconf_from_cli():
    assert parse_scalar("1e-5") == 1e-05
    assert parse_scalar("yes") is True
    assert parse_scalar("") is None
    assert parse_scalar("a,b") == "a,b"
    assert parse_scalar("[1, 2]") == [1, 2]


def test_control_characters_are_a_syntax_problem_not_a_crash():
    doc = load_text("a: 1\nb: \x1f\n")
    assert kinds(doc) == ["syntax"] and doc.problems[0].line == 2 and not doc.readable


# -- against the real OmegaConf (skipped when neither this interpreter nor LFGATE_LF_PYTHON has it) ---------------
_OMEGACONF_PROBE = r"""
import json, sys, tempfile
from omegaconf import OmegaConf
out = {}
for name, text in json.load(sys.stdin).items():
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        out[name] = ["ok", OmegaConf.to_container(OmegaConf.load(f.name))]
    except Exception as err:
        out[name] = ["error", type(err).__name__]
print("RESULT " + json.dumps(out, default=repr))
"""

_CASES = {
    "floats": "a: 1e-4\nb: 5.0e-6\nc: 1E5\nd: .5\ne: 1.\nf: -2e-3\n",
    "bools": "a: yes\nb: on\nc: off\nd: NO\ne: True\nf: y\n",
    "ints": "a: 0x10\nb: 010\nc: 1_000\nd: 1:30\ne: +1\n",
    "strings": "a: 2024-01-01\nb: '1e-4'\nc: ${x}\nd: \"${oc.env:HOME}\"\ne: a,b\n",
    "nested": "a: {b: 1, c: [1, {d: 2}]}\nbase: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n",
    "empty": "",
    "duplicate": "a: 1\na: 2\n",
    "documents": "a: 1\n---\nb: 2\n",
    "tag": "a: !!python/object:os.system x\n",
    "interpolation": "a: ${foo\n",
}


def _omegaconf_python():
    import importlib.util
    import pathlib
    import subprocess
    import sys

    if importlib.util.find_spec("omegaconf"):
        return sys.executable
    import os

    candidate = pathlib.Path(os.environ.get("LFGATE_LF_PYTHON")
                             or pathlib.Path(__file__).resolve().parent.parent.parent / "lfvenv" / "bin" / "python")
    if candidate.exists() and subprocess.run([str(candidate), "-c", "import omegaconf"],
                                             capture_output=True).returncode == 0:
        return str(candidate)
    return None


def test_reader_agrees_with_omegaconf():
    import json
    import subprocess

    from conftest import CORPUS

    python = _omegaconf_python()
    if python is None:
        from conftest import oracle_missing

        oracle_missing("omegaconf (LLaMA-Factory's YAML reader) is not installed here or in LFGATE_LF_PYTHON")
    cases = dict(_CASES)
    if CORPUS.is_dir():
        for path in sorted((CORPUS / "examples").rglob("*.yaml")):
            cases[str(path.relative_to(CORPUS))] = path.read_text(encoding="utf-8")
    run = subprocess.run([python, "-c", _OMEGACONF_PROBE], input=json.dumps(cases), capture_output=True, text=True,
                         timeout=300)
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
    expected = json.loads(line[len("RESULT "):])
    for name, text in cases.items():
        doc = load_text(text)
        if expected[name][0] == "error":
            assert doc.problems, (name, expected[name])
        else:
            assert not doc.problems, (name, doc.problems)
            assert json.loads(json.dumps(doc.value, default=repr)) == expected[name][1], name


def test_deep_nesting_is_a_problem_not_a_crash():
    doc = load_text("a: " + "[" * 3000 + "]" * 3000 + "\n")
    assert kinds(doc) == ["too-large"] and not doc.readable
