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
    assert report["tool"] == "lfguard"
    assert set(report["summary"]) == {"files", "samples", "errors", "warnings", "infos"}


def test_usage_error_exits_2_without_traceback(tmp_path):
    code, out, err = run_cli("check", "--format", "nope", cwd=tmp_path)
    assert code == 2
    assert "Traceback" not in err and err.startswith("lfguard: error:")


def test_rules_json_lists_codes():
    code, out, _ = run_cli("rules", "--format", "json")
    assert code == 0
    assert "LG001" in {r["code"] for r in json.loads(out)}
