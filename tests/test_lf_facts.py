"""The small facts of lf_facts.py, each coded once: every caller reads the same answer (issue 26 §3)."""

import ast
import json
import os
import subprocess

import pytest

from conftest import ROOT, oracle_missing
from lfgate import lf_facts

LF_PYTHON = os.environ.get("LFGATE_LF_PYTHON", str(ROOT.parent / "lfvenv" / "bin" / "python"))

# (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE) -> offline for huggingface_hub (None: unset)
OFFLINE_CASES = [
    ((None, None), False), (("1", None), True), (("ON", None), True), (("yes", None), True), (("True", None), True),
    (("y", None), False),  # LLaMA-Factory's is_env_enabled says on; huggingface_hub does not
    (("0", None), False), ((None, "1"), True),
    (("0", "1"), False),  # a set HF_HUB_OFFLINE, even 0, hides TRANSFORMERS_OFFLINE (`a or b` on strings)
    (("", "1"), True), (("", ""), False), ((" 1", None), False),
]


def _env(hub, transformers):
    return {name: value for name, value in (("HF_HUB_OFFLINE", hub), ("TRANSFORMERS_OFFLINE", transformers))
            if value is not None}


@pytest.mark.parametrize("values, offline", OFFLINE_CASES)
def test_hf_offline_reads_the_variables_as_huggingface_hub_does(values, offline):
    assert lf_facts.hf_offline(_env(*values)) is offline


@pytest.mark.llamafactory
def test_hf_offline_matches_huggingface_hub_itself():
    """huggingface_hub.constants.HF_HUB_OFFLINE, recomputed under each environment in LLaMA-Factory's venv."""
    if not os.path.exists(LF_PYTHON):
        oracle_missing("no Python with llamafactory (set LFGATE_LF_PYTHON)")
    script = ("import importlib, json, os, sys\nimport huggingface_hub.constants as c\nout = []\n"
              "for env in json.load(sys.stdin):\n"
              "    for name in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'):\n"
              "        os.environ.pop(name, None)\n"
              "    os.environ.update(env)\n"
              "    out.append(importlib.reload(c).HF_HUB_OFFLINE)\n"
              "print(json.dumps(out))\n")
    envs = [_env(*values) for values, _ in OFFLINE_CASES]
    proc = subprocess.run([LF_PYTHON, "-c", script], input=json.dumps(envs), capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0 and "No module named" in proc.stderr:
        oracle_missing("the LFGATE_LF_PYTHON interpreter has no huggingface_hub")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == [lf_facts.hf_offline(env) for env in envs]


@pytest.mark.parametrize("value, offline", [("1", True), ("y", False), ("0", False)])
def test_the_hub_probe_and_the_rn_rules_agree_on_offline(tmp_path, monkeypatch, value, offline):
    """`HF_HUB_OFFLINE=y` once made runner/hub.py offline and the RN rules online: both now ask lf_facts."""
    from lfgate.runner import hub, rules

    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    for name in ("USE_MODELSCOPE_HUB", "USE_OPENMIND_HUB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # refused at once: never the network
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    problem = hub.hub_problem("org/not-cached", cache_dir=str(tmp_path / "hf"))
    assert problem is not None
    assert ("HF_HUB_OFFLINE forbids downloading" in problem) is offline
    assert ("cannot reach the hub" in problem) is not offline
    assert rules._offline() is offline


# -- one did-you-mean ------------------------------------------------------------------------------------------------

def test_did_you_mean_has_one_wording_and_a_fallback():
    assert lf_facts.did_you_mean("learning_rat", ["learning_rate", "lr_scheduler_type"]) == \
        " Did you mean `learning_rate`?"
    assert lf_facts.did_you_mean("zzz", ["learning_rate"]) == ""
    assert lf_facts.did_you_mean("zzz", ["learning_rate"], otherwise=" Known keys: learning_rate.") == \
        " Known keys: learning_rate."
    assert lf_facts.did_you_mean("demmo", ["demo", "demo2"], n=2) == " Did you mean `demo`, `demo2`?"


def test_a_stricter_cutoff_is_the_callers_choice():
    assert lf_facts.close_matches("rank", ["ranking"]) == ["ranking"]  # 0.73: a suggestion
    assert lf_facts.close_matches("rank", ["ranking"], cutoff=0.75) == []  # too far to act on


# Still their own copy: the sample checker's column typos (validator/samples/checker.py, finish.py), which helper
# i26b is moving into their rules; drop them from this list once they call lf_facts.
_OWN_COPIES = {"lfgate/validator/samples/checker.py", "lfgate/validator/samples/finish.py"}


def test_only_lf_facts_computes_close_matches():
    """difflib appears in one module: seven copies once disagreed (thresholds 0.6-0.8, three wordings)."""
    users = set()
    for path in sorted((ROOT / "lfgate").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) else [])
            if "difflib" in names:
                users.add(path.relative_to(ROOT).as_posix())
    assert users - _OWN_COPIES == {"lfgate/lf_facts.py"}
