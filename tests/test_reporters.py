"""Every output format against a golden file, plus the properties each format promises.

Regenerate the golden files after an intended change with LFGATE_UPDATE_GOLDEN=1 and review the diff.
"""

import io
import json
import os
import pathlib
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from helpers import run_cli
from lfgate import __version__
from lfgate.diagnostics import Diagnostic, Report, Severity
from lfgate.registry import Rule
from lfgate.reporters import FORMATS, get, github

GOLDEN = pathlib.Path(__file__).parent / "golden"
# The OASIS schema stays in ../shared (its README asks not to copy it into the project); skip without it.
SARIF_SCHEMA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "spec" / "sarif" / "sarif-schema-2.1.0.json"
EXTENSIONS = {"concise": "txt", "github": "txt", "sarif": "sarif", "junit": "xml", "json": "json", "text": "txt"}

# Fixed rules, so the golden SARIF does not change whenever a rule's documentation does.
RULES = {
    "DS102": Rule("DS102", "role-order", Severity.ERROR, "Turns in the wrong order",
                  why="LLaMA-Factory drops the sample.", fix="Alternate user and assistant turns."),
    "TR201": Rule("TR201", "unknown-key", Severity.WARNING, "Unknown training key",
                  why="HfArgumentParser rejects it.", fix="Use a documented key."),
    "DI003": Rule("DI003", "hub-and-file", Severity.INFO, "Both a hub and a file source",
                  why="The hub wins.", fix="Keep one source."),
}


def sample_report():
    """Diagnostics that exercise every field and every escaping rule."""
    return Report(diagnostics=[
        Diagnostic("TR201", Severity.WARNING, "unknown key 'lerning_rate': did you mean 'learning_rate'?",
                   file="configs/train, v2.yaml", line=7, column=1),
        Diagnostic("DS102", Severity.ERROR, "100% broken:\nturn 2 is 'user'\r\nafter 'user'",
                   file="data/chat.json", line=12, column=5, sample=3, dataset="chat"),
        Diagnostic("DS102", Severity.ERROR, "a turn spans lines", file="data/chat.json", line=20, column=3,
                   end_line=24, end_column=2, sample=4, dataset="chat"),
        Diagnostic("DI003", Severity.INFO, "both hf_hub_url and file_name: <hub> & file", file="data/dataset_info.json",
                   line=2, column=3, end_line=2, end_column=9, dataset="alpaca_en"),
        Diagnostic("TR201", Severity.WARNING, "no file at all"),
    ], files=3, samples=5)


def render(fmt, report=None):
    out = io.StringIO()
    module = get(fmt)
    if fmt == "sarif":
        module.render(report or sample_report(), out, rules=RULES)
    else:
        module.render(report or sample_report(), out)
    return out.getvalue().replace(__version__, "<VERSION>")


@pytest.mark.parametrize("fmt", ["concise", "github", "sarif", "junit", "json", "text"])
def test_matches_golden_file(fmt):
    golden = GOLDEN / f"report.{fmt}.{EXTENSIONS[fmt]}"
    text = render(fmt)
    if os.environ.get("LFGATE_UPDATE_GOLDEN"):
        golden.write_bytes(text.encode("utf-8"))
    assert golden.is_file(), f"missing {golden}: run with LFGATE_UPDATE_GOLDEN=1"
    assert text == golden.read_bytes().decode("utf-8"), f"{fmt} output changed; LFGATE_UPDATE_GOLDEN=1 rewrites it"


def test_every_format_is_available_and_has_a_golden_file():
    from lfgate.reporters import available_formats

    assert available_formats() == list(FORMATS) == ["text", "json", "concise", "github", "sarif", "junit"]
    assert {p.name.split(".")[1] for p in GOLDEN.glob("report.*")} == set(FORMATS)


# -- github ---------------------------------------------------------------------------------------------------


def test_github_levels_title_and_escaping():
    lines = render("github").splitlines()
    by_file = {line.split("file=")[1].split(",")[0] if "file=" in line else None: line for line in lines}
    error = next(line for line in lines if "line=12" in line)
    assert error.startswith("::error file=data/chat.json,line=12,col=5,title=lfgate DS102::")
    # control characters from input are shown escaped (issue 17), so the annotation stays one line
    assert error.endswith("::100%25 broken:\\nturn 2 is 'user'\\r\\nafter 'user' (dataset chat, sample 3)")
    assert "configs/train%2C v2.yaml" in by_file  # ',' in a property value is escaped
    assert any(line.startswith("::notice ") for line in lines)  # info -> notice
    assert any(line.startswith("::warning ") and "title=lfgate TR201" in line for line in lines)


def test_github_omits_columns_when_the_range_spans_lines():
    spanning = next(line for line in render("github").splitlines() if "line=20" in line)
    assert "endLine=24" in spanning and "col=" not in spanning and "endColumn" not in spanning
    one_line = next(line for line in render("github").splitlines() if "line=2," in line)
    assert "col=3,endColumn=9" in one_line


def test_github_property_escaping():
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert github.escape_data("a:b,c%\r") == "a:b,c%25%0D"


# -- sarif ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif_validator():
    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"SARIF 2.1.0 schema not found at {SARIF_SCHEMA}")
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def test_sarif_is_valid_sarif_2_1_0(sarif_validator):
    log = json.loads(render("sarif"))
    errors = sorted(sarif_validator.iter_errors(log), key=str)
    assert not errors, errors[0]


def test_sarif_has_what_github_code_scanning_reads(sarif_validator):
    log = json.loads(render("sarif"))
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-schema-2.1.0.json")
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "lfgate" and driver["version"] == "<VERSION>" and driver["informationUri"]
    rules = {r["id"]: r for r in driver["rules"]}
    assert set(rules) == {"DS102", "TR201", "DI003"}
    assert rules["DS102"]["defaultConfiguration"]["level"] == "error"
    assert rules["DI003"]["defaultConfiguration"]["level"] == "note"
    assert rules["TR201"]["helpUri"].endswith("docs/rules.md#tr201-unknown-key")
    for r in rules.values():
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"] and r["help"]["text"]
    first = next(r for r in run["results"] if r["message"]["text"].startswith("100%"))
    assert first["ruleId"] == "DS102" and first["level"] == "error"
    assert driver["rules"][first["ruleIndex"]]["id"] == "DS102"
    [location] = first["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "data/chat.json"
    assert physical["region"] == {"startLine": 12, "startColumn": 5}
    assert first["properties"] == {"dataset": "chat", "sample": 3}
    assert all(len(r["locations"]) == 1 for r in run["results"])  # GitHub rejects results without one
    project = next(r for r in run["results"] if r["message"]["text"] == "no file at all")
    assert project["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "."}}
    spaced = next(r for r in run["results"] if "lerning_rate" in r["message"]["text"])
    assert spaced["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "configs/train%2C%20v2.yaml"


def test_sarif_from_the_command_line_uses_the_registry(tmp_path, sarif_validator):
    code, out, _ = run_cli("check", "--format", "sarif", "missing.json", cwd=tmp_path)
    assert code == 1
    log = json.loads(out)
    assert not list(sarif_validator.iter_errors(log))
    [rule] = log["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == "LG001" and rule["helpUri"].endswith("#lg001-path-not-found")


def test_sarif_help_anchor_exists_in_rules_doc():
    from lfgate.registry import all_rules
    from lfgate.ruledoc import anchor, heading

    doc = (pathlib.Path(__file__).parent.parent / "docs" / "rules.md").read_text(encoding="utf-8")
    rule = all_rules()["LG001"]
    assert f"## {heading(rule)}\n" in doc and anchor(rule) == "lg001-path-not-found"


# -- junit and concise ----------------------------------------------------------------------------------------


def test_junit_one_suite_per_file_one_case_per_diagnostic_failing_at_the_failure_level():
    root = ET.fromstring(render("junit"))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"configs/train, v2.yaml", "data/chat.json", "data/dataset_info.json", "<project>"}
    chat = suites["data/chat.json"]
    assert chat.get("tests") == "2" and chat.get("failures") == "2"
    cases = chat.findall("testcase")
    assert len(cases) == 2 and all(c.find("failure") is not None for c in cases)
    assert cases[0].find("failure").get("message") == "100% broken:\\nturn 2 is 'user'\\r\\nafter 'user'"
    assert root.get("tests") == "5" and root.get("failures") == "2"  # the errors; warnings and infos pass
    info = suites["data/dataset_info.json"].find("testcase")
    assert info.find("failure") is None and "DI003 (info)" in info.find("system-out").text


@pytest.mark.parametrize("fail_on, failures", [(Severity.ERROR, 2), (Severity.WARNING, 4), (Severity.INFO, 5)])
def test_junit_failures_follow_fail_on(fail_on, failures):
    report = sample_report()
    report.fail_on = fail_on
    root = ET.fromstring(render("junit", report))
    assert root.get("failures") == str(failures) == str(len(list(root.iter("failure"))))
    assert len(list(root.iter("system-out"))) == 5 - failures


def test_junit_from_the_command_line_uses_fail_on(tmp_path):
    from conftest import write_project
    from helpers import run_cli

    write_project(tmp_path, {"train.yaml": "model_name_or_path: x\nstage: sft\nlearning_rat: 1\n"})
    failures = {}
    for level in ("error", "info"):
        _, out, _ = run_cli("check", "train.yaml", "--format", "junit", "--fail-on", level, "--isolated", cwd=tmp_path)
        failures[level] = len(list(ET.fromstring(out).iter("failure")))
    assert failures["info"] > failures["error"]


def test_junit_clean_run_is_one_passing_case_and_bad_xml_characters_are_replaced():
    root = ET.fromstring(render("junit", Report()))
    [case] = root.iter("testcase")
    assert case.find("failure") is None and root.get("failures") == "0"
    nasty = Report(diagnostics=[Diagnostic("DS102", Severity.ERROR, "nul \x00 byte", file="a.json", line=1)])
    failure = next(ET.fromstring(render("junit", nasty)).iter("failure"))
    assert failure.get("message") == "nul \\x00 byte"  # escaped visibly (issue 17), never written raw


def test_concise_is_one_line_per_diagnostic():
    lines = render("concise").splitlines()
    assert len(lines) == 5
    expected = "data/chat.json:12:5: DS102 100% broken:\\nturn 2 is 'user'\\r\\nafter 'user' (dataset chat, sample 3)"
    assert expected in lines
    assert "<project>: TR201 no file at all" in lines


def test_output_file_receives_the_report(tmp_path):
    code, out, _ = run_cli("check", "--format", "concise", "--output-file", "out.txt", "nope.json", cwd=tmp_path)
    assert code == 1 and out == ""
    assert (tmp_path / "out.txt").read_text() == "nope.json: LG001 nope.json does not exist.\n"


def test_no_format_pulls_in_heavy_packages(tmp_path):
    """The CI gate runs on the light core: no reporter may import torch, transformers, peft or pandas."""
    import subprocess
    import sys

    (tmp_path / "train.yaml").write_text("model_name_or_path: x  # lfgate: ignore[XX001]\n")
    script = (
        "import contextlib, io, sys\n"
        "from lfgate.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    codes = [main(['check', '--format', f, 'train.yaml']) for f in {sorted(FORMATS)!r}]\n"
        "print(sorted(set(codes)), [m for m in ('torch', 'transformers', 'peft', 'pandas') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    codes, heavy = done.stdout.strip().rsplit(" [", 1)
    assert heavy == "]" and codes in ("[0]", "[1]"), done.stdout


def test_command_line_findings_are_not_file_annotations():
    """Findings about a key=value override name no file: github omits `file=`, SARIF points at the project."""
    d = Diagnostic("DS102", Severity.ERROR, "unknown key", file="<command line>")
    assert "file=" not in github.command(d)
    report = Report(diagnostics=[d])
    log = json.loads(render("sarif", report))
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "."
    assert render("concise", report).startswith("<command line>: DS102")


def test_every_format_is_checked_against_the_reporter_protocol():
    """mypy checks each format's module against `reporters.Reporter` through the TYPE_CHECKING mapping: every format
    is in it, and each render takes what the Protocol passes (report, stream, color=False)."""
    import ast
    import inspect
    import pathlib

    from lfgate import reporters

    source = pathlib.Path(reporters.__file__).read_text(encoding="utf-8")
    [checked] = [node for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "CHECKED"]
    assert "Reporter" in ast.unparse(checked.annotation)
    assert {k.value: v.id for k, v in zip(checked.value.keys, checked.value.values)} == \
        {name: module.rsplit(".", 1)[1] for name, module in reporters.FORMATS.items()}
    for name in reporters.available_formats():
        params = list(inspect.signature(reporters.get(name).render).parameters.values())
        assert [p.name for p in params[:3]] == ["report", "stream", "color"] and params[2].default is False, name
        assert all(p.default is not inspect.Parameter.empty for p in params[3:]), name
