"""Every rule's documented examples are tests: `bad` raises the rule, `good` does not."""

import json

import pytest

from conftest import write_project
from helpers import check_json, codes, run_cli, skip_unless_installed
from lfgate.registry import all_rules

RULES = all_rules()


def _check(tmp_path, rule, files, monkeypatch, env=None):
    skip_unless_installed(rule)
    write_project(tmp_path, files)
    for name, value in (rule.env if env is None else env).items():
        monkeypatch.setenv(name, value)
    if rule.command == "check":
        _, report = check_json(rule.target or ".", *rule.args, cwd=tmp_path)
        return report
    # another subcommand (`lfgate train --dry-run` for RN rules): the same JSON report, plus its own fields
    code, out, err = run_cli(rule.command, "--format", "json", rule.target or ".", *rule.args, cwd=tmp_path)
    assert code in (0, 1), f"exit {code}: {err}"
    return json.loads(out)


@pytest.mark.parametrize("code", sorted(c for c, r in RULES.items() if r.bad))
def test_bad_example_triggers_rule(code, tmp_path, monkeypatch):
    rule = RULES[code]
    report = _check(tmp_path, rule, rule.bad, monkeypatch)
    assert code in codes(report), report["diagnostics"]


@pytest.mark.parametrize("code", sorted(c for c, r in RULES.items() if r.good))
def test_good_example_stays_silent(code, tmp_path, monkeypatch):
    rule = RULES[code]
    report = _check(tmp_path, rule, rule.good, monkeypatch, rule.good_env)
    assert code not in codes(report), report["diagnostics"]


def test_every_rule_is_documented_with_both_examples():
    missing = [c for c, r in RULES.items() if not (r.bad and r.good and r.title and r.why and r.fix)]
    assert not missing, f"rules without title/why/fix/bad/good examples: {missing}"


def test_a_rule_says_which_package_it_needs():
    """TY424 reads transformers' model table: without transformers its examples skip, naming it (issue 26 §3)."""
    from lfgate.registry import ERROR, Rule

    assert Rule("XX001", "x", ERROR, "x", needs=("json", "no_such_package_here")).missing() == ("no_such_package_here",)
    assert RULES["TY424"].needs == ("transformers",) and RULES["TY425"].needs == ("transformers",)
