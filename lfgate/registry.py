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
family: a sample rule (DS) is declared in its family module under validator/samples/ with its check, and declares
``refuses_texts`` when it judges what an ordinary record holds, so the fast paths refuse what it would flag.
CONTRIBUTING.md ("Adding a rule") lists the places per family.

``bad`` and ``good`` are small projects (relative path -> file text). ``lfgate rules CODE`` prints them and
``tests/test_rule_examples.py`` checks every one: ``bad`` must raise the rule, ``good`` must not. ``target``
names the path to check (default: the project folder). So the documentation cannot drift from the behaviour;
``tests/test_rules_at_scale.py`` grows each bad example's records past the fast paths' priming, so a rule cannot
pass its examples and miss on real data.

The rule index (``schemas/rule_index.json``, written by ``scripts/gen_rule_index.py``; ``tests/test_rule_index.py``
fails while it is stale) holds each code's name, severity, title and the module that declares it, so what only
needs the codes (``lfgate rules``, ``select``/``ignore``, suppressions, the baseline) reads the index instead of
importing every rule family, and ``lookup`` imports one family on demand. A check imports a family's module only
when it meets a file of its kind.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from lfgate.diagnostics import Diagnostic, Severity

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
# Where a rule's finding covers the findings it declares (``covers``): one finding per cause (findings.fold).
PLACE = "place"  # the same file, line and column (RN016 at `per_device_train_batch_size: 0` covers TY407 there)
DATASET = "dataset"  # the same dataset, wherever (LK050 at the config's cutoff_len covers the data's DS012)
ROOT = "root"  # the same dataset, when the covering finding decides how every sample is read: the covered
#                findings fold under it, which says so and takes the worst severity (DI140 `formating` folds the DS)
SUMMARY = "summary"  # among one dataset's summary findings (DS002, a column no record has, covers DS003)

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
    "lfgate.validator.training.preference",
    "lfgate.validator.training.kernels",
    "lfgate.validator.training.deepspeed_json",
    "lfgate.validator.training.ignored_settings",
    "lfgate.validator.training.removed_keys",
    "lfgate.validator.discovery",
    "lfgate.validator.launch",
    "lfgate.validator.links",
    "lfgate.validator.model_families",
    "lfgate.validator.cached_data",
    "lfgate.validator.pretrain",
    "lfgate.validator.multinode",
    "lfgate.validator.model_folder",
    "lfgate.suppressions",
    "lfgate.legacy",
    "lfgate.config_file",
    "lfgate.runner.rules",
    "lfgate.runner.export",
    "lfgate.runner.launch_rules",
    "lfgate.runner.plan_rules",
)

RULES: Dict[str, Rule] = {}
DECLARED_IN: Dict[str, str] = {}  # code -> the module whose top level declared it (what the index records)
INDEX_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas", "rule_index.json")
_INDEX: Dict[str, Dict[str, str]] = {}


class Symlink(str):
    """An example file that is a symbolic link; its text is where the link points."""


@dataclass(frozen=True)
class Refusal:
    """Records a sample rule may flag, in a form the fast paths test in one pass (``Rule.refuses``): ``empty``, a
    message text that is empty; ``blank``, one that is only white space; ``pattern``, a text it finds (``lead``: a
    character every match starts with, or ""); ``budget``, a tokens.budget.Budget: the texts may exceed cutoff_len
    by the count lfgate reports; ``always``: every record of the dataset."""

    empty: bool = False
    blank: bool = False
    pattern: Any = None  # a compiled regular expression
    lead: str = ""
    budget: Any = None  # lfgate.tokens.budget.Budget (its `within` test), kept untyped: no import on this path
    always: bool = False


ALWAYS = Refusal(always=True)


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
    # What a sample rule may flag in a record the fast paths (validator/fastpath.py, typed.py) would otherwise vouch
    # for, which then goes the full way: a predicate over the record's message texts in order (user first, then
    # assistant, alternating; alpaca: instruction + input, then output) ...
    refuses_texts: Optional[Callable[[Sequence[str]], bool]] = field(default=None, compare=False)
    # ... or a Refusal the fast paths compile into their own tests (an empty text, a pattern, a length budget),
    # or a builder of one for the dataset (its SampleChecker -> a Refusal or None: its placeholders, its cutoff_len).
    refuses: Any = field(default=None, compare=False)
    # The findings this rule's finding stands for (codes or code prefixes), and where: reported once, by this rule.
    covers: Tuple[str, ...] = ()
    scope: str = PLACE
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
    DECLARED_IN[code] = _declaring_module()
    return declared


def _declaring_module() -> str:
    """The module whose top level is running this declaration (a helper that declares rules for its caller
    counts as the caller): importing it registers the rule. No rule module has to name itself."""
    frame = sys._getframe(2)
    while frame.f_back is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back
    return str(frame.f_globals.get("__name__", ""))


def all_rules() -> Dict[str, Rule]:
    """Every registered rule, sorted by code (imports the rule modules on first use)."""
    for module in RULE_MODULES:
        importlib.import_module(module)  # a misspelt module fails loudly: it must not drop a rule family
    return dict(sorted(RULES.items()))


def build_index(rules: Mapping[str, Rule]) -> Dict[str, Dict[str, str]]:
    """What schemas/rule_index.json holds for these rules: per code, sorted, what `lfgate rules` lists and the
    module to import for the rest."""
    return {code: {"name": r.name, "severity": str(r.severity), "title": r.title, "module": DECLARED_IN[code]}
            for code, r in sorted(rules.items())}


def index_text(rules: Mapping[str, Rule]) -> str:
    """schemas/rule_index.json's text: one line per code, so a diff shows the rules that changed."""
    lines = [f"  {json.dumps(code)}: {json.dumps(entry, ensure_ascii=False)}"
             for code, entry in build_index(rules).items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def index() -> Dict[str, Dict[str, str]]:
    """The committed rule index, read once: every code, without importing a rule module."""
    if not _INDEX:
        with open(INDEX_PATH, encoding="utf-8") as f:
            _INDEX.update(json.load(f))
    return _INDEX


def known_codes() -> List[str]:
    """Every rule code, sorted, from the index."""
    return list(index())


def lookup(code: str) -> Optional[Rule]:
    """The rule with this code, importing only the module that declares it (None: no such rule)."""
    if code not in RULES:
        entry = index().get(code)
        if entry is None:
            return None
        importlib.import_module(entry["module"])
        if code not in RULES:  # the index is stale (tests/test_rule_index.py says so): load every family
            all_rules()
    return RULES.get(code)


def selected(code: str, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> bool:
    """ruff-style selection: the longest matching prefix wins; select defaults to everything."""
    best_select = max((len(p) for p in select if code.startswith(p)), default=-1 if select else 0)
    best_ignore = max((len(p) for p in ignore if code.startswith(p)), default=-1)
    return best_select >= 0 and best_select >= best_ignore + (0 if best_ignore < 0 else 1)
