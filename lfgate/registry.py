"""The rule registry: every rule's code, name, severity, title and documented examples, in one place.

A rule is declared once, next to the pure function that checks it::

    UNKNOWN_KEY = rule(
        "DI101", "unknown-entry-key", WARNING,
        "Unknown key in a dataset_info.json entry",
        why="LLaMA-Factory ignores keys it does not know, so a typo silently does nothing.",
        fix="Use one of the documented keys.",
        bad={"data/dataset_info.json": '{"a": {"file_name": "a.json", "fomatting": "sharegpt"}}', ...},
        good={...},
    )

and the check yields ``UNKNOWN_KEY.diag("message", file=..., line=...)``. Where the check runs depends on the
family: a sample rule (DS) is declared in its family module under validator/samples/ and checked in
``SampleChecker`` (per record) or ``samples/finish.py`` (per dataset), and declares ``refuses_text`` when it judges
a message's text, so the fast paths refuse what it would flag. CONTRIBUTING.md ("Adding a rule") lists the places
per family.

``bad`` and ``good`` are small projects (relative path -> file text). ``lfgate rules CODE`` prints them and
``tests/test_rule_examples.py`` checks every one: ``bad`` must raise the rule, ``good`` must not. ``target``
names the path to check (default: the project folder). So the documentation cannot drift from the behaviour;
``tests/test_rules_at_scale.py`` grows each bad example's records past the fast paths' priming, so a rule cannot
pass its examples and miss on real data.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

from lfgate.diagnostics import Diagnostic, Severity

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

# Modules that declare rules. Importing them fills RULES; adding a rule module is one line here.
RULE_MODULES = (
    "lfgate.validator.rules_general",
    "lfgate.validator.dataset_info",
    "lfgate.validator.datafile",
    "lfgate.validator.lfs",
    "lfgate.validator.samples",
    "lfgate.validator.training.reading",
    "lfgate.validator.training.keys",
    "lfgate.validator.training.values",
    "lfgate.validator.training.parse_checks",
    "lfgate.validator.training.futile_values",
    "lfgate.validator.training.model_loading",
    "lfgate.validator.media",
    "lfgate.validator.training.newer_releases",
    "lfgate.validator.training.v1_engine",
    "lfgate.validator.training.ignored_settings",
    "lfgate.validator.training.removed_keys",
    "lfgate.validator.discovery",
    "lfgate.validator.links",
    "lfgate.validator.model_folder",
    "lfgate.suppressions",
    "lfgate.legacy",
    "lfgate.runner.rules",
)

RULES: Dict[str, Rule] = {}


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    title: str
    why: str = ""
    fix: str = ""
    bad: Mapping[str, Union[str, bytes]] = field(default_factory=dict)  # bytes: a file deliberately not UTF-8
    good: Mapping[str, Union[str, bytes]] = field(default_factory=dict)
    target: Optional[str] = None  # path inside the example project to check; None = the whole folder
    args: Tuple[str, ...] = ()  # extra `lfgate check` arguments the examples need
    command: str = "check"  # the subcommand that runs the examples: check, or train (its RN rules)
    # A sample rule that judges a message's text declares what it may flag: the fast paths (validator/fastpath.py,
    # typed.py) then send every record holding such a text the full way (fastpath.text_refusals).
    refuses_text: Optional[Callable[[str], bool]] = field(default=None, compare=False)
    env: Mapping[str, str] = field(default_factory=dict)  # environment variables the bad example runs under
    good_env: Optional[Mapping[str, str]] = None  # ... and the good one (default: env)
    # Packages the check reads (TY424: transformers' model table). Without them it cannot fire, so its examples
    # skip, saying which is missing; the check itself stays silent rather than guess.
    needs: Tuple[str, ...] = ()

    def missing(self) -> Tuple[str, ...]:
        """The packages of ``needs`` that are not installed here."""
        return tuple(name for name in self.needs if importlib.util.find_spec(name) is None)

    def diag(self, message: str, *, severity: Optional[Severity] = None, **where: Any) -> Diagnostic:
        return Diagnostic(self.code, severity if severity is not None else self.severity, message, **where)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": str(self.severity),
            "title": self.title,
            "why": self.why,
            "fix": self.fix,
            "bad": _texts(self.bad),
            "good": _texts(self.good),
            "target": self.target,
            "args": list(self.args),
            "command": self.command,
            "env": dict(self.env),
            "good_env": dict(self.env if self.good_env is None else self.good_env),
            "needs": list(self.needs),
        }


def _texts(files: Mapping[str, Union[str, bytes]]) -> Dict[str, str]:
    """Example files as text; bytes (a file that is deliberately not UTF-8) shown with \\x escapes."""
    return {path: text if isinstance(text, str) else text.decode("utf-8", "backslashreplace")
            for path, text in files.items()}


def rule(code: str, name: str, severity: Severity, title: str, **doc: Any) -> Rule:
    if code in RULES:
        raise RuntimeError(f"rule code {code} declared twice")
    declared = Rule(code, name, severity, title, **doc)
    RULES[code] = declared
    return declared


def all_rules() -> Dict[str, Rule]:
    """Every registered rule, sorted by code (imports the rule modules on first use)."""
    for module in RULE_MODULES:
        importlib.import_module(module)  # a misspelt module fails loudly: it must not drop a rule family
    return dict(sorted(RULES.items()))


def selected(code: str, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> bool:
    """ruff-style selection: the longest matching prefix wins; select defaults to everything."""
    best_select = max((len(p) for p in select if code.startswith(p)), default=-1 if select else 0)
    best_ignore = max((len(p) for p in ignore if code.startswith(p)), default=-1)
    return best_select >= 0 and best_select >= best_ignore + (0 if best_ignore < 0 else 1)
