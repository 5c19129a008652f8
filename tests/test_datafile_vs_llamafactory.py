"""The registry and data-file rules against LLaMA-Factory itself: each rule's documented examples are loaded with
LLaMA-Factory's own parser.py + loader.py (reading and converting, tests/lf_load_oracle.py). An error rule's bad
example must make LLaMA-Factory raise; a warning rule's bad example must still load; every good example loads.

Skips when no Python with `llamafactory` is available (LFGUARD_LF_PYTHON, default ../lfvenv/bin/python).
"""

import json
import os
import subprocess

import pytest

from conftest import ROOT, write_project
from lfguard.registry import all_rules

LF_PYTHON = os.environ.get("LFGUARD_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))
RULES = all_rules()

# Rules whose verdict shows while LLaMA-Factory loads and converts the data (not later, at tokenization).
RAISES = ["DF001", "DF002", "DF004", "DF006", "DF010", "DF011", "DF012", "DF015", "DF016", "DF018",
          "DF019", "DF020", "DF022", "DI001", "DI002", "DI003", "DI005", "DI105", "DI110", "DI114", "DI116", "DI117",
          "DI118"]
LOADS = ["DF005", "DF014", "DF021", "DI101", "DI102", "DI103", "DI104", "DI111", "DI119", "DI120"]
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
        pytest.skip("no Python with llamafactory (set LFGUARD_LF_PYTHON)")
    cases = _cases(tmp_path_factory.mktemp("lf-load"))
    proc = subprocess.run([LF_PYTHON, str(ROOT / "tests" / "lf_load_oracle.py")], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0 and "No module named 'llamafactory'" in proc.stderr:
        pytest.skip("the LFGUARD_LF_PYTHON interpreter has no llamafactory")
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
