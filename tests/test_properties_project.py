"""Whole-project properties, through the public `lfgate check` path (issue 5, "Hypothesis").

1. A generated valid project raises no error.
2. One targeted mutation raises the rule made for it, at the mutated place (file, sample, line).
3. Arbitrary JSON values, bytes and YAML documents in any file of a project, or an arbitrary JSON value in any field
   of a record, give a report, exit 0 or 1.
4. JSON, JSONL and a folder of JSONL files holding the same records give the same diagnostics up to position.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import tempfile

import yaml
from hypothesis import given, note, strategies as st

import strategies as S
from conftest import write_project
from helpers import check_json, run_cli
from lfgate.registry import all_rules

RULES = all_rules()


def check_project(project: S.Project, *args):
    """(exit code, report) of `lfgate check .` on the rendered project."""
    with tempfile.TemporaryDirectory() as tmp:
        write_project(pathlib.Path(tmp), project.files())
        return check_json(".", "--workers", "1", *args, cwd=tmp)


def errors(report):
    return [d for d in report["diagnostics"] if d["severity"] == "error"]


def show(project: S.Project, report) -> None:
    note(json.dumps(project.files(), default=repr, ensure_ascii=False, indent=1)[:4000])
    note(json.dumps(report["diagnostics"], ensure_ascii=False, indent=1)[:4000])


# -- 1. valid projects are clean ------------------------------------------------------------------------
@given(S.projects())
def test_valid_project_raises_no_error(project):
    code, report = check_project(project)
    show(project, report)
    assert errors(report) == []
    assert code == 0
    assert report["summary"]["samples"] == len(project.records)


# -- 2. one targeted mutation, the rule made for it, at the mutated place ------------------------------
# mutation -> the codes that are "the rule made for it" (any one of them may be the one reported, since some
# defects have two honest descriptions, e.g. a changed type is both type drift and a non-string content).
EXPECTED = {
    "swap_turns": {"DS202"},
    "change_role": {"DS201"},
    "drop_message": {"DS204"},
    "add_placeholder": {"DS501"},
    "remove_placeholder": {"DS501"},
    "remove_media_file": {"DS502"},
    "bool_to_string_record": {"DS451"},
    "bool_to_string_registry": {"DI115"},  # a warning: rm/dpo train `"true"` as ranking data
    "mistype_config_key": {"TY101"},
    "omit_columns_entry": {"DI110", "DI116"},
    "stage_mismatch": {"LK010"},
    "change_type_in_record": {"DS004", "DS103", "DS104", "DS401", "DF018"},
}


def expected_codes(mutation):
    """The declared codes among EXPECTED[mutation]."""
    return EXPECTED[mutation] & set(RULES)


@given(S.mutated_projects())
def test_one_mutation_raises_its_rule_at_its_place(m):
    wanted = expected_codes(m.mutation)
    assert wanted, f"no rule declared for {m.mutation}: {EXPECTED[m.mutation]}"
    code, report = check_project(m.project)
    show(m.project, report)
    note(f"mutation={m.mutation} file={m.file} sample={m.sample} line={m.line}")
    at_place = [d for d in report["diagnostics"] if d["code"] in wanted and d["file"] == m.file
                and (m.sample is None or d["sample"] == m.sample) and (m.line is None or d["line"] == m.line)]
    assert at_place, f"no {sorted(wanted)} at {m.file}, sample {m.sample}, line {m.line}"
    if any(RULES[c].severity == RULES[c].severity.ERROR for c in wanted):  # an error rule: the check fails
        assert code == 1 and any(d["severity"] == "error" for d in at_place)
    assert all(d["dataset"] == m.project.name for d in at_place if d["sample"] is not None)


# -- 3. arbitrary content in any file: a report, never an exception -------------------------------------
contents = st.one_of(
    S.json_values.map(lambda v: json.dumps(v, ensure_ascii=False)),
    S.json_values.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
    st.binary(max_size=300),
    st.text(max_size=300),
    S.json_values.map(lambda v: "".join(json.dumps(x) + "\n" for x in (v if isinstance(v, list) else [v]))),
)


@given(S.projects(), st.data())
def test_arbitrary_content_in_any_file_gives_a_report(project, data):
    files = project.files()
    target = data.draw(st.sampled_from(sorted(files)), label="file")
    files[target] = data.draw(contents, label="content")
    with tempfile.TemporaryDirectory() as tmp:
        write_project(pathlib.Path(tmp), files)
        code, out, err = run_cli("check", "--format", "json", "--workers", "1", ".", cwd=tmp)
    assert code in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err
    json.loads(out)


@st.composite
def projects_with_an_arbitrary_value(draw):
    """A valid project whose one record has one field (top level, or inside a message or answer object) replaced by
    an arbitrary JSON value."""
    project = draw(S.projects()).copy()
    record = draw(st.sampled_from(project.records))
    targets = [(record, key) for key in record]
    for value in record.values():
        for item in (value if isinstance(value, list) else [value]):
            if isinstance(item, dict):
                targets += [(item, key) for key in item]
    container, key = draw(st.sampled_from(targets))
    container[key] = draw(S.json_values)
    return project


@given(projects_with_an_arbitrary_value())
def test_arbitrary_value_in_any_field_gives_a_report(project):
    with tempfile.TemporaryDirectory() as tmp:
        write_project(pathlib.Path(tmp), project.files())
        code, out, err = run_cli("check", "--format", "json", "--workers", "1", ".", cwd=tmp)
    assert code in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err


# -- 4. layout independence --------------------------------------------------------------------------
def layout_free(report):
    """The diagnostics with every position removed: (code, severity, dataset) counts."""
    return collections.Counter((d["code"], None if d["code"] in LAYOUT_SEVERITY else d["severity"], d["dataset"])
                               for d in report["diagnostics"] if d["code"] not in LAYOUT_CODES)


LAYOUT_CODES: set = set()  # codes that describe the layout itself (none so far)
# Codes whose severity follows LLaMA-Factory's own layout dependence: across the files of a folder, `datasets`
# casts later files to the first file's types (a number under a string column loads as text: DF018 warning),
# while within one file the same change fails the load (DF018 error).
LAYOUT_SEVERITY = {"DF018"}


@given(st.one_of(S.projects(), S.mutated_projects().map(lambda m: m.project)))
def test_layout_does_not_change_the_diagnostics(project):
    reports = []
    for variant in S.all_layouts(project):
        _, report = check_project(variant)
        reports.append(report)
    note(json.dumps([r["diagnostics"] for r in reports], ensure_ascii=False, indent=1)[:6000])
    json_r, jsonl_r, folder_r = (layout_free(r) for r in reports)
    assert json_r == jsonl_r
    assert json_r == folder_r
    assert len({r["summary"]["samples"] for r in reports}) == 1


# -- found by differential testing -----------------------------------------------------------------------
def test_a_field_new_in_a_later_file_is_an_error(tmp_path):
    # LLaMA-Factory 0.9.5 + datasets 4.0: "DatasetGenerationCastError: All the data files must have the same
    # columns, but at some point there are 1 new columns ({'system'})". A column missing later is null-filled.
    turn = '{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]'
    files = {"data/dataset_info.json": '{"d": {"file_name": "d", "formatting": "sharegpt", '
                                       '"columns": {"messages": "conversations", "system": "system"}}}'}
    files.update({f"data/d/p{i}.jsonl": turn + "}\n" for i in range(3)})
    write_project(tmp_path, files)
    last = os.listdir(tmp_path / "data" / "d")[-1]  # the order LLaMA-Factory reads them in
    (tmp_path / "data" / "d" / last).write_text(turn + ', "system": "be brief"}\n', encoding="utf-8")
    code, report = check_json(".", cwd=tmp_path)
    assert code == 1
    assert [(d["code"], d["file"], d["line"]) for d in errors(report)] == [("DF024", f"data/d/{last}", 1)]


def test_a_null_role_is_a_dropped_sample(tmp_path):
    # found by differential testing: LLaMA-Factory 0.9.5 blanks a sample whose message has "from": null
    # ("Invalid role tag"), as it does when the key is missing
    write_project(tmp_path, {
        "data/dataset_info.json": '{"s": {"file_name": "s.json", "formatting": "sharegpt"}}',
        "data/s.json": '[{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]},\n'
                       '{"conversations": [{"from": "human", "value": "a"}, {"from": null, "value": "b"}]}]\n'})
    code, report = check_json(".", cwd=tmp_path)
    assert code == 1
    assert [(d["code"], d["sample"]) for d in errors(report)] == [("DS201", 1)]


def test_a_number_in_a_later_file_where_the_first_has_a_string_is_cast(tmp_path):
    # datasets casts later files of a folder to the first file's types: an `id` that is a string in the first
    # file and a number in a later one loads as text (LLaMA-Factory 0.9.5 trains it); the reverse fails the load.
    files = {"data/dataset_info.json": '{"d": {"file_name": "d"}}'}
    files.update({f"data/d/p{i}.jsonl": f'{{"id": "a{i}", "instruction": "q", "input": "", "output": "a"}}\n'
                  for i in range(2)})
    write_project(tmp_path, files)
    first, last = os.listdir(tmp_path / "data" / "d")[0], os.listdir(tmp_path / "data" / "d")[-1]
    (tmp_path / "data" / "d" / last).write_text('{"id": 7, "instruction": "q", "input": "", "output": "a"}\n')
    code, report = check_json(".", cwd=tmp_path)
    drift = [d for d in report["diagnostics"] if d["code"] == "DF018"]
    assert code == 0 and [(d["severity"], d["file"], d["line"]) for d in drift] == [("warning", f"data/d/{last}", 1)]
    assert "casts it to text" in drift[0]["message"]
    (tmp_path / "data" / "d" / last).write_text('{"id": "b", "instruction": "q", "input": "", "output": "a"}\n')
    (tmp_path / "data" / "d" / first).write_text('{"id": 7, "instruction": "q", "input": "", "output": "a"}\n')
    code, report = check_json(".", cwd=tmp_path)
    assert code == 1 and [d["severity"] for d in report["diagnostics"] if d["code"] == "DF018"] == ["error"]
