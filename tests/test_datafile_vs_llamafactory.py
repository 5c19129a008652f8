"""The registry and data-file rules against LLaMA-Factory itself: each rule's documented examples are loaded with
LLaMA-Factory's own parser.py + loader.py (reading and converting, tests/lf_load_oracle.py). An error rule's bad
example must make LLaMA-Factory raise; a warning rule's bad example must still load; every good example loads.

Skips when no Python with `llamafactory` is available (LFGATE_LF_PYTHON, default ../lfvenv/bin/python).
"""

import json
import os
import subprocess

import pytest

from conftest import ROOT, oracle_missing, write_project
from lfgate.registry import all_rules

LF_PYTHON = os.environ.get("LFGATE_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))
RULES = all_rules()

# Rules whose verdict shows while LLaMA-Factory loads and converts the data (not later, at tokenization).
RAISES = ["DF001", "DF002", "DF004", "DF006", "DF010", "DF011", "DF012", "DF015", "DF016", "DF018",
          "DF019", "DF020", "DF022", "DF023", "DI001", "DI002", "DI003", "DI005", "DI105", "DI110", "DI114", "DI116", "DI117",
          "DI118", "DI140"]
LOADS = ["DF005", "DF014", "DF021", "DI101", "DI102", "DI103", "DI104", "DI119", "DS013", "DI120"]
GOOD = sorted(set(RAISES + LOADS))


def _cases(tmp_path):
    cases = []
    for kind, codes in (("bad", RAISES + LOADS), ("good", GOOD)):
        for code in codes:
            files = getattr(RULES[code], kind)
            root = write_project(tmp_path / f"{code}-{kind}", dict(files))
            names = ["a"]
            try:
                registry = json.loads((root / "data" / "dataset_info.json").read_text(encoding="utf-8"))
                if isinstance(registry, dict) and registry:
                    names = list(registry)
            except (OSError, ValueError):
                pass
            for name in names:
                cases.append({"code": code, "kind": kind, "dataset_dir": str(root / "data"), "name": name,
                              "cache_dir": str(tmp_path / "hf-cache")})
    return cases


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    if not os.path.exists(LF_PYTHON):
        oracle_missing("no Python with llamafactory (set LFGATE_LF_PYTHON)")
    cases = _cases(tmp_path_factory.mktemp("lf-load"))
    proc = subprocess.run([LF_PYTHON, str(ROOT / "tests" / "lf_load_oracle.py")], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0 and "No module named 'llamafactory'" in proc.stderr:
        oracle_missing("the LFGATE_LF_PYTHON interpreter has no llamafactory")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    out = {}
    for case, result in zip(cases, results):
        out.setdefault((case["code"], case["kind"]), []).append(result)
    return out


@pytest.mark.parametrize("code", RAISES)
def test_error_rule_bad_example_fails_in_llamafactory(verdicts, code):
    results = verdicts[(code, "bad")]
    assert any("error" in r for r in results), results


@pytest.mark.parametrize("code", LOADS)
def test_warning_rule_bad_example_still_loads(verdicts, code):
    results = verdicts[(code, "bad")]
    assert all("rows" in r for r in results), results


@pytest.mark.parametrize("code", GOOD)
def test_good_example_loads(verdicts, code):
    results = verdicts[(code, "good")]
    assert all("rows" in r for r in results), results


# Field values of two records: does Arrow (pyarrow for JSON Lines, pandas for arrays) accept the pair?
PAIRS = {
    "int_float": (1, 1.5), "bool_int": (True, 1), "str_null": ("a", None), "list_str_int": (["a"], [1]),
    "empty_list": ([], ["a"]), "obj_str": ({"x": 1}, "s"), "obj_list": ({"x": 1}, [1]), "empty_obj": ({}, {"a": 1}),
    "field_drift": ({"x": 1}, {"x": "s"}), "bool_str": (True, "true"), "float_str": (1.5, "1.5"),
    "null_items": ([None], ["a"]), "nested": ([{"a": 1}], [{"a": [1]}]), "big_int": (1, 2 ** 70),
    "list_depth": ([[1]], [1]), "mixed_items": ([1, True], [2]),
}


@pytest.fixture(scope="module")
def pair_verdicts(tmp_path_factory):
    if not os.path.exists(LF_PYTHON):
        oracle_missing("no Python with llamafactory (set LFGATE_LF_PYTHON)")
    from helpers import check_json

    root = tmp_path_factory.mktemp("pairs")
    data = root / "data"
    data.mkdir()
    registry, cases = {}, []
    for name, (a, b) in PAIRS.items():
        rows = [{"instruction": "hi", "input": "", "output": "x", "extra": v} for v in (a, b)]
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (data / f"{name}.json").write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n")
        for file in (f"{name}.jsonl", f"{name}.json"):
            registry[file] = {"file_name": file}
            cases.append({"dataset_dir": str(data), "name": file, "cache_dir": str(root / "cache")})
    (data / "dataset_info.json").write_text(json.dumps(registry))
    proc = subprocess.run([LF_PYTHON, str(ROOT / "tests" / "lf_load_oracle.py")], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and "No module named 'llamafactory'" in proc.stderr:
        oracle_missing("the LFGATE_LF_PYTHON interpreter has no llamafactory")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lf = {c["name"]: "error" in r for c, r in zip(cases, json.loads(proc.stdout))}
    _, report = check_json("data", cwd=root)
    ours = {d["dataset"] for d in report["diagnostics"] if d["severity"] == "error"}
    return lf, ours


@pytest.mark.parametrize("file", [f"{n}.{ext}" for n in PAIRS for ext in ("jsonl", "json")])
def test_type_changes_fail_exactly_where_llamafactory_fails(pair_verdicts, file):
    lf, ours = pair_verdicts
    assert (file in ours) == lf[file], f"LLaMA-Factory {'fails' if lf[file] else 'loads'} {file}"
