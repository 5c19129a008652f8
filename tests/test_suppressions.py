"""Inline YAML ignores, file ignores, per-file-ignores, baselines, and SUP001 for suppressions that do nothing."""

import json

import pytest

from conftest import write_project
from helpers import check_json, codes, find, run_cli
from lfgate import suppressions
from lfgate.diagnostics import Diagnostic, Severity
from lfgate.errors import UsageError
from lfgate.settings import Settings

CONFIG = """\
model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct  # lfgate: ignore[TR101]
stage: sft
# lfgate: ignore[TR2, TR300]
lora_target:
  - q_proj
  - v_proj
template: qwen
dataset: a,b
"""


def diag(code, path, line=None, sample=None):
    return Diagnostic(code, Severity.WARNING, f"{code} here", file=str(path), line=line, sample=sample)


def run(diagnostics, files=(), **settings):
    return suppressions.apply(list(diagnostics), Settings(**settings), files)


def left(result):
    return sorted((d.code, d.line) for d in result)


def test_end_of_line_ignore_silences_that_line_only(tmp_path):
    path = write_project(tmp_path, {"train.yaml": CONFIG}) / "train.yaml"
    result = run([diag("TR101", path, 1), diag("TR101", path, 2), diag("TR102", path, 1),
                  diag("TR201", path, 4), diag("TR300", path, 5)])
    assert ("TR101", 1) not in left(result)
    assert ("TR101", 2) in left(result) and ("TR102", 1) in left(result)


def test_own_line_ignore_covers_the_next_key_and_its_block_by_prefix(tmp_path):
    path = write_project(tmp_path, {"train.yaml": CONFIG}) / "train.yaml"
    result = run([diag("TR101", path, 1), diag("TR201", path, 4), diag("TR202", path, 6),
                  diag("TR300", path, 5), diag("TR201", path, 7)])
    kept = left(result)
    assert ("TR201", 4) not in kept and ("TR202", 6) not in kept and ("TR300", 5) not in kept
    assert ("TR201", 7) in kept  # the next sibling key is not covered


def test_file_ignore_anywhere_silences_the_whole_file(tmp_path):
    path = write_project(tmp_path, {"train.yaml": CONFIG + "# lfgate: file-ignore[DS101]\n"}) / "train.yaml"
    result = run([diag("TR101", path, 1), diag("DS101", path, 3), diag("DS101", path), diag("DS102", path, 8)])
    assert left(result) == [("DS102", 8), ("SUP001", 3)]  # line 3's ignore[TR2, TR300] silenced nothing


def test_unused_codes_are_reported_as_sup001_at_the_comment(tmp_path):
    path = write_project(tmp_path, {"train.yaml": CONFIG}) / "train.yaml"
    result = run([diag("TR201", path, 4)], files=[str(path)])
    stale = [d for d in result if d.code == "SUP001"]
    assert [(d.line, d.column) for d in stale] == [(1, 49), (3, 1)]
    assert all(d.severity == Severity.INFO and d.file == str(path) for d in stale)
    assert "TR101 reports nothing here; remove it" in stale[0].message
    assert "TR300 reports nothing here; remove TR300" in stale[1].message  # TR2 was used


def test_suppressions_for_codes_the_run_does_not_report_are_not_stale(tmp_path):
    path = write_project(tmp_path, {"train.yaml": CONFIG}) / "train.yaml"
    result = run([], files=[str(path)], ignore=("TR",))
    assert result == []
    assert run([], files=[str(path)], ignore=("SUP001",)) == []


def test_marker_in_a_file_without_findings_is_only_seen_when_the_file_was_checked(tmp_path):
    path = write_project(tmp_path, {"train.yaml": CONFIG}) / "train.yaml"
    assert run([]) == []
    assert len(run([], files=[str(path)])) == 2


def test_files_without_the_marker_text_are_not_scanned(tmp_path):
    path = write_project(tmp_path, {"train.yaml": "stage: sft\n# an ordinary comment\n"}) / "train.yaml"
    assert suppressions.scan_markers(str(path)) == []
    assert suppressions.scan_markers(str(tmp_path / "missing.yaml")) == []


def test_per_file_ignores_silence_json_findings_and_stale_entries_are_reported(tmp_path):
    write_project(tmp_path, {
        ".lfgate.toml": '[per-file-ignores]\n"data/old_*.json" = ["DS1"]\n"data/x.json" = ["DS9"]\n'
                         '"nowhere/*" = ["DS7"]\n',
        "data/old_a.json": "[]", "data/x.json": "[]"})
    from lfgate.config_file import load_settings

    settings = load_settings(str(tmp_path))
    old, other = tmp_path / "data" / "old_a.json", tmp_path / "data" / "x.json"
    result = suppressions.apply([diag("DS101", old, 1, 0), diag("DS101", other, 1, 0), diag("DS201", old, 2, 1)],
                                settings, [str(old), str(other)])
    assert left(result) == [("DS101", 1), ("DS201", 2), ("SUP001", 3)]
    [stale] = [d for d in result if d.code == "SUP001"]
    assert stale.file == settings.source and "DS9" in stale.message  # "nowhere/*" matched no file: not judged


def test_baseline_survives_edits_elsewhere_and_counts_findings(tmp_path):
    data = tmp_path / "data" / "a.json"
    baseline = str(tmp_path / "baseline.json")
    recorded = suppressions.write_baseline(baseline, [diag("DS101", data, 10, 3), diag("DS101", data, 40, 7),
                                                      diag("DS101", data, 40, 7)])
    assert recorded == 3
    stored = json.load(open(baseline))["findings"]
    assert stored[0] == {"file": "data/a.json", "code": "DS101", "sample": 3, "count": 1, "severity": "warning",
                         "message": "DS101 here"}
    # Lines moved (an edit above), same samples: still silenced. A third finding on sample 7 is new.
    after = [diag("DS101", data, 12, 3), diag("DS101", data, 44, 7), diag("DS101", data, 44, 7),
             diag("DS101", data, 44, 7), diag("DS101", data, 50, 8), diag("DS102", data, 12, 3)]
    kept = suppressions.apply(after, Settings(baseline=baseline))
    assert [(d.code, d.sample) for d in kept] == [("DS101", 7), ("DS101", 8), ("DS102", 3)]


def _cut(severity, affected, path):
    return Diagnostic("LK050", severity, f"{affected} of 300 samples exceed cutoff_len", file=str(path), line=7,
                      affected=affected)


def test_a_baselined_finding_that_got_worse_is_new(tmp_path):
    config = tmp_path / "train.yaml"
    baseline = str(tmp_path / "baseline.json")
    suppressions.write_baseline(baseline, [_cut(Severity.INFO, 3, config)])
    assert json.load(open(baseline))["findings"][0]["affected"] == 3
    checked = {str(config)}
    # The same finding, or one standing for fewer samples: still the recorded one.
    assert suppressions.apply_baseline([_cut(Severity.INFO, 3, config)], baseline, checked) == []
    assert suppressions.apply_baseline([_cut(Severity.INFO, 2, config)], baseline, checked) == []
    # cutoff_len lowered: an info about 3 samples became a warning about 251, or an info about 40: new, and the
    # entry it used is not also reported as unused (SUP001).
    worse = _cut(Severity.WARNING, 251, config)
    assert suppressions.apply_baseline([worse], baseline, checked) == [worse]
    more = _cut(Severity.INFO, 40, config)
    assert suppressions.apply_baseline([more], baseline, checked) == [more]


def test_a_baseline_written_before_severities_still_silences(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps({"tool": "lfgate", "baseline": 1, "findings": [
        {"file": "train.yaml", "code": "LK050", "sample": None, "count": 1, "message": "..."}]}))
    found = _cut(Severity.WARNING, 251, tmp_path / "train.yaml")
    assert suppressions.apply_baseline([found], str(tmp_path / "old.json")) == []
    (tmp_path / "bad.json").write_text(json.dumps({"findings": [
        {"file": "train.yaml", "code": "LK050", "severity": "fatal"}]}))
    with pytest.raises(UsageError, match="malformed baseline entry"):
        suppressions.apply_baseline([found], str(tmp_path / "bad.json"))


def test_lowering_cutoff_len_under_a_baseline_reports_the_truncation(tmp_path):
    # Issue 25: cutoff_len 2048 -> 256 cut most samples, and the baselined check still printed "ok".
    # at 2048 one prompt of 300 is cut (under 1%: an info); at 256 nearly every sample is (a warning)
    rows = [{"instruction": "抽取ESG指标 " + "文本" * (3000 if i == 0 else 300), "input": "", "output": "结果" * 60}
            for i in range(300)]
    config = "model_name_or_path: Qwen/Qwen2.5-14B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n" \
             "dataset: esg\ntemplate: qwen\ncutoff_len: {}\noutput_dir: saves/x\n"
    write_project(tmp_path, {"data/dataset_info.json": json.dumps({"esg": {"file_name": "esg.json"}}),
                             "data/esg.json": json.dumps(rows, ensure_ascii=False),
                             "train.yaml": config.format(2048)})
    code, report = check_json(".", cwd=tmp_path)
    [before] = [d for d in report["diagnostics"] if d["code"] == "LK050"]
    assert before["severity"] == "info"
    run_cli("check", ".", "--baseline", "b.json", "--update-baseline", cwd=tmp_path)
    (tmp_path / "train.yaml").write_text(config.format(256))
    code, report = check_json(".", "--baseline", "b.json", cwd=tmp_path)
    assert [d["severity"] for d in report["diagnostics"] if d["code"] == "LK050"] == ["warning"]
    assert "SUP001" not in codes(report)


def test_missing_or_malformed_baseline_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="create it with --update-baseline"):
        suppressions.apply([], Settings(baseline=str(tmp_path / "none.json")))
    (tmp_path / "bad.json").write_text('{"findings": [{"code": 1}]}')
    with pytest.raises(UsageError, match="malformed baseline entry"):
        suppressions.apply([], Settings(baseline=str(tmp_path / "bad.json")))


def test_baseline_round_trip_from_the_command_line(tmp_path):
    code, out, err = run_cli("check", "--format", "concise", "a.json", "--baseline", "b.json", "--update-baseline",
                             cwd=tmp_path)
    assert code == 0 and out == "" and "recorded 1 findings in b.json" in err
    code, report = check_json("a.json", "--baseline", "b.json", cwd=tmp_path)
    assert code == 0 and report["diagnostics"] == []
    code, report = check_json("a.json", "c.json", "--baseline", "b.json", cwd=tmp_path)
    assert code == 1 and [d["file"] for d in report["diagnostics"]] == ["c.json"]


def test_update_baseline_needs_a_file(tmp_path):
    code, _, err = run_cli("check", "--update-baseline", cwd=tmp_path)
    assert code == 2 and "--baseline FILE" in err


def test_end_to_end_inline_and_file_ignores(tmp_path):
    write_project(tmp_path, {"train.yaml": "model_name_or_path: x  # lfgate: ignore[XX001]\n"
                                           "# lfgate: file-ignore[LG001]\n"})
    _, report = check_json("train.yaml", cwd=tmp_path)
    stale = find(report, "SUP001")
    assert [(d["file"], d["line"], d["column"]) for d in stale] == [("train.yaml", 1, 24), ("train.yaml", 2, 1)]
    _, report = check_json("train.yaml", "--ignore", "SUP", cwd=tmp_path)
    assert "SUP001" not in codes(report)


def test_sup001_can_itself_be_silenced_per_file(tmp_path):
    write_project(tmp_path, {"train.yaml": "model_name_or_path: x  # lfgate: ignore[XX001]\n",
                             ".lfgate.toml": '[per-file-ignores]\n"*.yaml" = ["SUP001"]\n'})
    _, report = check_json("train.yaml", cwd=tmp_path)
    assert "SUP001" not in codes(report)  # and the per-file-ignores entry, used, is not stale either


def test_line_numbers_follow_yaml_line_breaks(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_bytes("a: 1\r\nb: \"x\u2028y\"\r\nc: 2  # lfgate: ignore[TY101]\r\n".encode("utf-8"))
    [marker] = suppressions.scan_markers(str(path))
    assert marker.line == 4 and marker.lines == frozenset({4})  # PyYAML counts U+2028 as a line break too


def test_baseline_entries_for_fixed_findings_are_reported_where_they_are(tmp_path):
    data = write_project(tmp_path, {"data/a.json": "[]", "data/b.json": "[]"}) / "data"
    baseline = str(tmp_path / "baseline.json")
    suppressions.write_baseline(baseline, [diag("DS101", data / "a.json", 3, 0), diag("DS101", data / "a.json", 9, 4),
                                           diag("DS101", data / "b.json", 3, 0)])
    # Sample 4 of a.json was fixed; b.json was not checked in this run, so its entry is not judged.
    kept = suppressions.apply([diag("DS101", data / "a.json", 3, 0)], Settings(baseline=baseline),
                              [str(data / "a.json")])
    [stale] = kept
    assert stale.code == "SUP001" and stale.file == baseline
    assert "data/a.json DS101, sample 4" in stale.message
    lines = open(baseline).read().splitlines()
    assert lines[stale.line - 1].strip() == '"file": "data/a.json",' and '"sample": 4' in lines[stale.line + 1]
    assert suppressions.apply([diag("DS101", data / "a.json", 3, 0)], Settings(baseline=baseline, ignore=("SUP",)),
                              [str(data / "a.json")]) == []


# -- RN findings (added by `lfgate train` after the Checker) obey every suppression, once, at the end ------------


def _train_json(tmp_path, *argv):
    code, out, err = run_cli("train", "train.yaml", "--dry-run", "--format", "json", *argv, cwd=tmp_path)
    assert code in (0, 1), err
    return json.loads(out)


def _rn_project(tmp_path, bf16_line="bf16: true\n", **extra):
    from lfgate.runner.rules import PRECISION_CHANGED as PRECISION

    files = dict(PRECISION.bad)
    files["train.yaml"] = files["train.yaml"].replace("bf16: true\n", bf16_line)
    write_project(tmp_path, {**files, **extra})


def test_rn_finding_is_reported_without_a_suppression(tmp_path):  # the premise of the tests below (a CPU here)
    _rn_project(tmp_path)
    assert "RN010" in codes(_train_json(tmp_path))


@pytest.mark.parametrize("line", ["bf16: true  # lfgate: ignore[RN010]\n", "# lfgate: ignore[RN]\nbf16: true\n",
                                  "bf16: true\n# lfgate: file-ignore[RN010]\n"])
def test_inline_ignore_silences_an_rn_finding_and_is_not_stale(tmp_path, line):
    _rn_project(tmp_path, line)
    report = _train_json(tmp_path)
    assert not {"RN010", "SUP001"} & codes(report), report["diagnostics"]


def test_per_file_ignores_silence_an_rn_finding(tmp_path):
    _rn_project(tmp_path, **{".lfgate.toml": 'per-file-ignores = { "train.yaml" = ["RN010"] }\n'})
    report = _train_json(tmp_path)
    assert not {"RN010", "SUP001"} & codes(report), report["diagnostics"]


def test_ignore_option_drops_an_rn_finding(tmp_path):
    _rn_project(tmp_path)
    assert "RN010" not in codes(_train_json(tmp_path, "--ignore", "RN010"))
    assert codes(_train_json(tmp_path, "--select", "RN010")) == {"RN010"}


def test_baseline_silences_an_rn_finding(tmp_path):
    _rn_project(tmp_path)
    code, _, err = run_cli("check", "train.yaml", "--baseline", "base.json", "--update-baseline", cwd=tmp_path)
    assert code == 0, err
    # `check` does not see RN010: record it the way a baseline records it, by file and code
    baseline = json.loads((tmp_path / "base.json").read_text())
    baseline["findings"].append({"file": "train.yaml", "code": "RN010", "sample": None, "count": 1, "message": ""})
    (tmp_path / "base.json").write_text(json.dumps(baseline, indent=2))
    report = _train_json(tmp_path, "--baseline", "base.json")
    assert not {"RN010", "SUP001"} & codes(report), report["diagnostics"]
