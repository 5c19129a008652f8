import json

from helpers import check_json, run_cli


def test_missing_path_is_reported_and_fails(tmp_path):
    code, report = check_json("nope.json", cwd=tmp_path)
    assert code == 1
    [d] = report["diagnostics"]
    assert (d["code"], d["file"], d["severity"]) == ("LG001", "nope.json", "error")


def test_json_report_shape(tmp_path):
    code, report = check_json(cwd=tmp_path)
    assert code == 0
    assert report["tool"] == "lfgate"
    assert set(report["summary"]) == {"files", "samples", "errors", "warnings", "infos"}


def test_usage_error_exits_2_without_traceback(tmp_path):
    code, out, err = run_cli("check", "--format", "nope", cwd=tmp_path)
    assert code == 2
    assert "Traceback" not in err and err.startswith("lfgate: error:")


def test_rules_json_lists_codes():
    code, out, _ = run_cli("rules", "--format", "json")
    assert code == 0
    assert "LG001" in {r["code"] for r in json.loads(out)}


def test_overrides_may_follow_options(tmp_path):
    """key=value after an option is still an override (llamafactory-cli accepts that order too)."""
    (tmp_path / "train.yaml").write_text("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\n")
    code, report = check_json("train.yaml", "--fail-on", "error", "lerning_rate=1e-4", cwd=tmp_path)
    assert any(d["file"] == "<command line>" and "lerning_rate" in d["message"] for d in report["diagnostics"])
    code, _, err = run_cli("check", "--bogus", cwd=tmp_path)
    assert code == 2 and "unrecognized arguments: --bogus" in err
