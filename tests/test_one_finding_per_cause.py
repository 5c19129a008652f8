"""One finding per cause: a rule declares the findings it stands for (``covers``) and where (``scope``), and
``findings.fold`` reports the cause once, wherever that scope's findings meet."""

import json

import pytest

from conftest import write_project
from helpers import check_json, codes, run_cli
from lfgate import findings
from lfgate.diagnostics import Diagnostic, Severity
from lfgate.registry import DATASET, PLACE, ROOT, SUMMARY, all_rules

RULES = all_rules()
RN = sorted(code for code, r in RULES.items() if r.command == "train")


def _train(tmp_path, rule, files, monkeypatch, *extra):
    write_project(tmp_path, files)
    for name, value in rule.env.items():
        monkeypatch.setenv(name, value)
    code, out, err = run_cli("train", "--format", "json", rule.target or ".", *rule.args, *extra, cwd=tmp_path)
    assert code in (0, 1), f"exit {code}: {err}"
    return json.loads(out)["diagnostics"]


# An RN and a TY finding at one key that are two causes, each its own fix: said both.
DISTINCT = {
    ("RN003", "TY423"): "the built-in runner has no such template; LLaMA-Factory (the --backend the message offers) "
                        "would fail for the missing processor files",
    ("RN011", "TY334"): "the deepspeed package is not installed; DeepSpeed also needs a distributed launch",
}


@pytest.mark.parametrize("code", RN)
def test_no_runner_finding_repeats_a_training_finding_at_its_place(code, tmp_path, monkeypatch):
    """`lfgate train` says a cause once: an RN finding and a TY finding at one line and column are either one cause,
    which the RN rule covers (RN016 covers TY407 for `per_device_train_batch_size: 0`), or two, listed above."""
    found = _train(tmp_path, RULES[code], RULES[code].bad, monkeypatch)
    pairs = {(rn["code"], ty["code"]) for rn in found for ty in found if rn["code"].startswith("RN")
             and ty["code"].startswith("TY") and rn["line"] and (rn["file"], rn["line"], rn["column"])
             == (ty["file"], ty["line"], ty["column"])}
    assert pairs <= set(DISTINCT), f"cover the TY finding on the RN rule, or list the pair as two causes: {pairs}"


@pytest.mark.parametrize("line,covered", [("per_device_train_batch_size: 0\n", "TY407"),
                                          ("num_train_epochs: 0\n", "TY411")])
def test_run_shape_is_one_finding_at_its_key(line, covered, tmp_path, monkeypatch):
    rule = RULES["RN016"]
    files = {**rule.bad, "train.yaml": rule.good["train.yaml"].replace("per_device_train_batch_size: 1\n", line)}
    found = _train(tmp_path, rule, files, monkeypatch)
    [shape] = [d for d in found if d["code"] == "RN016"]
    assert shape["line"] == files["train.yaml"].splitlines().index(line.strip()) + 1
    assert covered not in {d["code"] for d in found}
    # a covering finding the user ignores covers nothing: the training finding is back
    again = _train(tmp_path / "ignored", rule, files, monkeypatch, "--ignore", "RN016")
    assert covered in {d["code"] for d in again} and "RN016" not in {d["code"] for d in again}


def test_the_run_shape_says_its_key_as_structure():
    from lfgate.runner.config import RunConfig
    from lfgate.runner.plan import steps

    for key, value in (("per_device_train_batch_size", 0), ("gradient_accumulation_steps", -1),
                       ("num_train_epochs", float("inf"))):
        config = RunConfig(path="t.yaml", values={key: value}, positions={})
        assert steps(1, config, 1)["key"] == key


def test_every_cover_names_registered_rules_and_a_scope():
    for code, rule in RULES.items():
        assert rule.scope in (PLACE, DATASET, ROOT, SUMMARY), code
        for covered in rule.covers:
            assert covered != code and any(c.startswith(covered) for c in RULES), (code, covered)


def _d(code, line=1, dataset=None, severity=Severity.ERROR, file="t.yaml"):
    return Diagnostic(code, severity, f"{code} here", file=file, line=line, column=1, dataset=dataset)


def test_fold_drops_a_covered_finding_at_the_same_place_only():
    shape, there, elsewhere = _d("RN016", 3), _d("TY407", 3), _d("TY407", 4)
    assert findings.fold([there, shape, elsewhere], PLACE) == [shape, elsewhere]
    assert findings.fold([there, shape], PLACE, chosen=lambda code: code != "RN016") == [there, shape]


def test_a_root_cause_folds_its_datasets_sample_findings_and_says_so():
    root = _d("DI110", 2, "a", file="dataset_info.json")
    sample, other = _d("DS201", 5, "a", file="a.json"), _d("DS201", 5, "b", file="b.json")
    folded = findings.fold([root, sample, other], ROOT)
    assert [d.code for d in folded] == ["DI110", "DS201"] and folded[1] is other
    assert "DS201" in folded[0].message and "folded here" in folded[0].message
    # a misspelt formatting (DI140, a warning alone) that misreads the samples is the one error, at the cause
    warning = _d("DI140", 2, "a", Severity.WARNING, file="dataset_info.json")
    [head] = findings.fold([warning, sample], ROOT)
    assert head.code == "DI140" and head.severity == Severity.ERROR and "DS201" in head.message


def test_a_config_finding_covers_its_datasets_estimate():
    linked = _d("LK050", 7, "a")
    estimate = _d("DS012", None, "a", file="a.json")
    assert findings.fold([estimate], DATASET, covering=[linked]) == []
    assert findings.fold([estimate], DATASET, covering=[_d("LK050", 7, "b")]) == [estimate]


def test_a_stop_covers_the_summaries_that_judge_the_samples(tmp_path):
    """No record has the messages key: LLaMA-Factory stops converting, so neither "no valid sample" (DS003) nor the
    unused tags (DS206) are said; ignoring the stop brings DS003 back."""
    files = {"data/dataset_info.json": '{"a": {"file_name": "a.json", "formatting": "sharegpt"}}\n',
             "data/a.json": '[{"conversations": [{"role": "human", "content": "Hi"}, '
                            '{"role": "gpt", "content": "Hello!"}]}]\n'}
    write_project(tmp_path, files)
    _, report = check_json(".", cwd=tmp_path)
    assert "DS208" in codes(report) and not {"DS003", "DS206"} & set(codes(report))
    _, report = check_json(".", "--ignore", "DS208", cwd=tmp_path)
    assert "DS003" in codes(report)
