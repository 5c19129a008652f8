"""docs/rules.md is generated from the registry and must match `lfgate rules --format markdown`."""

import json
import pathlib

import pytest

from helpers import run_cli
from lfgate.registry import all_rules
from lfgate.ruledoc import anchor

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "rules.md"


def test_docs_rules_md_is_up_to_date():
    code, out, _ = run_cli("rules", "--format", "markdown")
    assert code == 0
    assert DOC.is_file(), "docs/rules.md is missing: run scripts/gen_rules_doc.py"
    assert DOC.read_text(encoding="utf-8") == out, \
        "docs/rules.md is out of date with the rule registry: run scripts/gen_rules_doc.py and commit the result"


def test_every_rule_has_a_section_and_a_table_row_linking_to_it():
    doc = DOC.read_text(encoding="utf-8")
    for code, rule in all_rules().items():
        assert f"\n## {code} {rule.name}\n" in doc
        assert f"| [{code}](#{anchor(rule)}) |" in doc


def test_rules_table_lists_every_code():
    code, out, _ = run_cli("rules")
    assert code == 0
    rows = [line.split()[0] for line in out.splitlines() if line.strip()[:1].isupper() and "  " in line.strip()]
    assert rows == list(all_rules()), "one line per rule, in code order, when piped"


def test_rules_code_explains_why_example_and_fix():
    code, out, _ = run_cli("rules", "sup001")
    assert code == 0
    assert out.startswith("## SUP001 unused-suppression\n")
    for section in ("### Why", "### Triggers it", "### Passes", "### Fix", "# lfgate: ignore[LG001]"):
        assert section in out


def test_rules_json_has_the_same_data():
    code, out, _ = run_cli("rules", "--format", "json")
    listed = {r["code"]: r for r in json.loads(out)}
    assert set(listed) == set(all_rules())
    code, out, _ = run_cli("rules", "SUP001", "--format", "json")
    one = json.loads(out)
    assert one == listed["SUP001"] and one["severity"] == "info" and one["bad"] and one["fix"]


def test_unknown_rule_is_a_usage_error():
    code, _, err = run_cli("rules", "XX999")
    assert code == 2 and "no rule XX999" in err


@pytest.mark.parametrize("heading, expected", [("DS101 role-order", "ds101-role-order")])
def test_anchor_follows_github_heading_ids(heading, expected):
    class Fake:
        code, name = heading.split(" ")
    assert anchor(Fake) == expected


def test_contributing_names_every_module_that_declares_rules():
    """The newcomer's path (issue 26 §3): CONTRIBUTING.md names each module a rule may live in, so a new rule's
    home is found by reading, not by grepping."""
    import pathlib

    from lfgate.registry import RULE_MODULES

    root = pathlib.Path(__file__).resolve().parent.parent
    text = (root / "CONTRIBUTING.md").read_text(encoding="utf-8")
    unnamed = []
    for module in RULE_MODULES:
        path = module.replace(".", "/")
        path = path + "/" if (root / path).is_dir() else path + ".py"
        name = path.rstrip("/").rsplit("/", 1)[-1] + ("/" if path.endswith("/") else "")
        if path not in text and f"`{name}`" not in text:  # the full path, or the file name in its package's section
            unnamed.append(path)
    assert not unnamed, f"CONTRIBUTING.md does not name {unnamed}"
