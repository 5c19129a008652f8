"""The rule index (lfgate/schemas/rule_index.json) is generated from the registry and must match it; what only needs
the codes reads it, and a check imports a rule family only when it meets a file of its kind (issue 26 §4)."""

import importlib
import json
import pathlib
import subprocess
import sys

import pytest

from lfgate import registry
from lfgate.registry import INDEX_PATH, all_rules, index_text

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLES = "lfgate.validator.samples"
CONFIG = "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n" \
         "template: qwen\ndataset: small\noutput_dir: saves/x\n"


def committed() -> str:
    return pathlib.Path(INDEX_PATH).read_text(encoding="utf-8")


def test_the_rule_index_is_up_to_date():
    assert index_text(all_rules()) == committed(), \
        "lfgate/schemas/rule_index.json is stale: run scripts/gen_rule_index.py and commit the result"


def test_a_rule_added_without_regenerating_makes_the_index_stale(monkeypatch, tmp_path):
    """A new rule module (as a newcomer adds one) declares a rule: the index no longer matches until regenerated,
    and the rule's module is found without the module naming itself."""
    monkeypatch.setattr(registry, "RULES", dict(all_rules()))
    monkeypatch.setattr(registry, "DECLARED_IN", dict(registry.DECLARED_IN))
    (tmp_path / "zz_new_rules.py").write_text(
        "from lfgate.registry import WARNING, rule\n\n"
        "NEW = rule('ZZ999', 'new-rule', WARNING, 'A rule nobody indexed')\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "zz_new_rules", raising=False)
    importlib.import_module("zz_new_rules")
    assert registry.DECLARED_IN["ZZ999"] == "zz_new_rules"
    assert index_text(registry.RULES) != committed()
    assert '"ZZ999": {"name": "new-rule", "severity": "warning", "title": "A rule nobody indexed", ' \
           '"module": "zz_new_rules"}' in index_text(registry.RULES)
    monkeypatch.delitem(sys.modules, "zz_new_rules")


def test_every_indexed_module_declares_its_codes():
    """The index says which module to import for a code: each one, imported alone in a fresh interpreter,
    registers exactly the codes the index gives it (so `lookup` never has to fall back to every family)."""
    modules = sorted({entry["module"] for entry in registry.index().values()})
    script = ("import importlib, json, sys\nfrom lfgate import registry\nout = {}\n"
              "for m in sys.argv[1:]:\n    importlib.import_module(m)\n"
              "    out[m] = sorted(c for c, d in registry.DECLARED_IN.items() if d == m)\nprint(json.dumps(out))\n")
    found = json.loads(_python(script, *modules))
    for module in modules:
        assert found[module] == sorted(c for c, e in registry.index().items() if e["module"] == module), module


def _python(script: str, *argv: str, cwd=None) -> str:
    done = subprocess.run([sys.executable, "-c", script, *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _imported_by_check(folder: pathlib.Path, *args: str):
    """(exit code, the lfgate/rich modules imported) by `lfgate check ARGS .` in a fresh interpreter."""
    script = ("import sys\nfrom lfgate.cli import main\ncode = main(sys.argv[1:])\nsys.stdout.flush()\n"
              "print('\\n#MODULES', *sorted(m for m in sys.modules if m.startswith(('lfgate', 'rich'))))\n"
              "sys.exit(0)\n")
    out = _python(script, "check", *args, ".", cwd=folder)
    return set(out.rsplit("#MODULES", 1)[1].split())


def _project(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_yaml_only_check_imports_no_sample_rules_and_no_rich(tmp_path):
    folder = _project(tmp_path, {"train.yaml": CONFIG})
    for fmt in ("json", "sarif", "concise"):
        modules = _imported_by_check(folder, "--format", fmt)
        assert "lfgate.validator.training" in modules  # the YAML's family is loaded: the check ran
        assert not {m for m in modules if m.startswith(SAMPLES)}, fmt
        assert "lfgate.validator.fastpath" not in modules
        assert not {m for m in modules if m.startswith("rich")}, fmt


def test_a_dataset_brings_in_the_sample_rules(tmp_path):
    folder = _project(tmp_path, {"data/dataset_info.json": '{"small": {"file_name": "small.json"}}',
                                 "data/small.json": '[{"instruction": "q", "input": "", "output": "a"}]'})
    modules = _imported_by_check(folder, "--format", "json")
    assert f"{SAMPLES}.alpaca" in modules and "lfgate.validator.fastpath" in modules


def test_nothing_found_prints_the_verdict_without_rich(tmp_path):
    folder = _project(tmp_path, {"data/dataset_info.json": '{"small": {"file_name": "small.json"}}',
                                 "data/small.json": '[{"instruction": "q", "input": "", "output": "a"}]'})
    modules = _imported_by_check(folder)
    assert not {m for m in modules if m.startswith("rich")}
    done = subprocess.run([sys.executable, "-m", "lfgate", "check", "."], cwd=folder, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "ok: 0 errors, 0 warnings, 0 infos in 2 files, 1 samples\n"


def test_a_finding_in_text_still_uses_rich(tmp_path):
    modules = _imported_by_check(_project(tmp_path, {"train.yaml": "stage: sft\n"}))
    assert "rich.console" in modules


@pytest.mark.parametrize("code, family", [("DS101", SAMPLES), ("TY336", "lfgate.validator.training")])
def test_lookup_imports_the_declaring_family_only(code, family):
    script = ("import sys\nfrom lfgate.registry import lookup, known_codes\nassert sys.argv[1] in known_codes()\n"
              "rule = lookup(sys.argv[1])\nprint(rule.code, *sorted(m for m in sys.modules if m.startswith('lfgate')))\n")
    shown, *modules = _python(script, code).split()
    assert shown == code and family in modules
    other = SAMPLES if family != SAMPLES else "lfgate.validator.training.values"
    assert other not in modules


def test_select_of_an_unknown_code_reads_the_index_only(tmp_path):
    """`--select` is validated against the index: a misspelt code is a usage error before any family loads."""
    script = ("import sys\nfrom lfgate.cli import main\ncode = main(sys.argv[1:])\n"
              "print(code, any(m.startswith('lfgate.validator.samples') for m in sys.modules))\n")
    out = _python(script, "check", "--select", "DS1O1", ".", cwd=_project(tmp_path, {"train.yaml": CONFIG}))
    assert out.split()[-2:] == ["2", "False"]


def test_lookup_of_no_rule_is_none():
    assert registry.lookup("XX999") is None
