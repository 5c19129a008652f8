"""What the sample rules share: the hooks a check registers for, the Finding and DropReason values, a dataset-level
rule's State and the bounded Tally, and builders for the rules' example projects.

A sample rule is declared in its family module with ``rule(...)`` and checked beside it, registered for the hook it
needs (as yamllint declares a rule's TYPE, sqlfluff its crawl_behaviour)::

    @check(KEPT, EMPTY_RESPONSE, when=lambda c: c.stage in ("sft", "rm"))
    def empty_response(c, s): ...            # c: the SampleChecker (entry, usage, stage); s: the Sample

    @dataset_check(CONVERTED, TRAILING_TOOLS)
    class Rewritten(Counted): ...            # add(c, s) per record, merge(other), findings(c) at the dataset's end

The SampleChecker (checker.py) runs one flat loop per hook over the checks that apply to its dataset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from lfgate.diagnostics import Severity

# The hooks, in the order a record meets them.
RECORD = "record"  # every record, before the converter: s.value
CRASHED = "crashed"  # a record the converter raises on: s.error (a converter.ConversionError)
CONVERTED = "converted"  # every converted record, kept by the stage or dropped: s.aligned, s.kept
KEPT = "kept"  # a sample the stage keeps: s.lists, the message lists the template formats (converter.stage_messages)
MESSAGE = "message"  # each message of a kept sample the template formats: check(c, s, message, path)
END = "end"  # the dataset's end, once the workers' checkers are merged: check(c) -> findings
HOOKS = (RECORD, CRASHED, CONVERTED, KEPT, MESSAGE)

# A record's field taken for a typo of the column LLaMA-Factory reads (`ouput` for `output`): stricter than a
# suggestion's cutoff (lf_facts.DID_YOU_MEAN_CUTOFF), as the message says the field is the one meant.
FIELD_TYPO_CUTOFF = 0.8


class Finding(NamedTuple):
    """One sample-level finding. ``path`` is the JSON path inside the record (e.g. ("conversations", 3, "from"));
    the dataset layer turns it into a line and column. ``severity`` overrides the rule's own when set."""

    rule: Any
    message: str
    sample: Optional[int]
    path: tuple = ()
    severity: Optional[Severity] = None
    affected: Optional[int] = None  # a dataset-level finding: how many samples it stands for (Diagnostic.affected)

    def __reduce__(self):  # across worker processes, send the rule's code, not the Rule with its examples
        return (_finding, (self.rule.code, self.message, self.sample, self.path, self.severity, self.affected))


def _finding(code, message, sample, path, severity, affected=None) -> Finding:
    from lfgate.registry import RULES, all_rules

    return Finding(RULES.get(code) or all_rules()[code], message, sample, path, severity, affected)


class DropReason(NamedTuple):
    """Why the stage drops a sample: where, what (said before "the <stage> stage drops this sample"), the rule that
    reports it and the fix. ``rule`` None: said elsewhere (a dataset-level summary, or the rule's own finding)."""

    path: tuple
    what: str
    rule: Any = None
    fix: str = ""


class Sample:
    """One record as the checks see it; each check appends its findings to ``out``."""

    __slots__ = ("index", "value", "aligned", "kept", "lists", "error", "out")

    def __init__(self, index: int, value, out: list):
        self.index, self.value, self.out = index, value, out
        self.aligned: Any = None
        self.kept = False
        self.lists: list = []
        self.error: Any = None

    def source(self, k: int) -> tuple:
        """The JSON path of the k-th aligned message (prompt, then response), or ()."""
        sources = self.aligned.sources
        return (sources[k] or ()) if k < len(sources) else ()

    def reported(self, rule) -> bool:
        """Whether this record already has a finding of the rule (a rule said once per sample)."""
        return any(f.rule is rule for f in self.out)


def _always(checker) -> bool:
    return True


@dataclass(frozen=True)
class Check:
    """A registered check: a function, or a dataset-level rule's State class, for one hook."""

    hook: str
    run: Any
    rules: tuple
    when: Callable[[Any], bool]

    @property
    def is_state(self) -> bool:
        return isinstance(self.run, type)


CHECKS: List[Check] = []
# What the converter raises, by ConversionError.kind: (rule, fix), declared by the family that owns the rule.
CRASHES: Dict[str, Tuple[Any, str]] = {}


def check(hook: str, *rules, when: Optional[Callable[[Any], bool]] = None):
    """Register ``fn(c, s)`` (MESSAGE: ``fn(c, s, message, path)``; END: ``fn(c) -> findings``) for the hook, for
    the datasets ``when(c)`` holds for (default: every one)."""
    def register(fn):
        CHECKS.append(Check(hook, fn, rules, when or _always))
        return fn
    return register


def dataset_check(hook: str, *rules, when: Optional[Callable[[Any], bool]] = None):
    """Register a State class: one per dataset (``State(c)``), ``add(c, s)`` at the hook, merged across workers,
    its ``findings(c)`` at the dataset's end."""
    def register(cls):
        if not (issubclass(cls, State) and cls.merge is not State.merge and cls.add is not State.add):
            raise TypeError(f"{cls.__name__} must be a State with its own add and merge")
        CHECKS.append(Check(hook, cls, rules, when or _always))
        return cls
    return register


def converter_raises(kind: str, rule, fix: str) -> None:
    """The rule that reports the converter raising a ConversionError of this kind, and the fix to say."""
    CRASHES[kind] = (rule, fix)


class State:
    """A dataset-level rule's state: small, bounded, mergeable across the worker processes."""

    def __init__(self, c):
        pass

    def add(self, c, s) -> None:
        raise NotImplementedError

    def merge(self, other: State) -> None:
        raise NotImplementedError

    def findings(self, c) -> List[Finding]:
        return []

    def counted(self) -> int:
        """The records counted toward the dataset-level finding (`lfgate fix` removes them when it is an error)."""
        return 0


class Counted(State):
    """A state that is one Tally (counts per key, the first sample of each)."""

    def __init__(self, c):
        self.tally = Tally()

    def counted(self) -> int:
        return self.tally.total()

    def merge(self, other: State) -> None:
        assert isinstance(other, Counted)
        self.tally.merge(other.tally)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class Tally:
    """Counts per key plus the first (lowest-index) sample seen for each: bounded, mergeable across workers."""

    __slots__ = ("counts", "first", "limit")

    def __init__(self, limit: int = 64):
        self.counts: Dict[Any, int] = {}
        self.first: Dict[Any, Tuple[int, tuple, Any]] = {}
        self.limit = limit  # distinct keys kept; beyond it new keys are folded into None

    def add(self, key, sample: int, path: tuple = (), detail: Any = None, n: int = 1) -> None:
        if key not in self.counts and len(self.counts) >= self.limit:
            key = None
        self.counts[key] = self.counts.get(key, 0) + n
        old = self.first.get(key)
        if old is None or sample < old[0]:
            self.first[key] = (sample, path, detail)

    def merge(self, other: Tally) -> None:
        for key, n in other.counts.items():
            sample, path, detail = other.first[key]
            self.add(key, sample, path, detail, n)

    def total(self) -> int:
        return sum(self.counts.values())

    def earliest(self):
        """(sample, path, detail) of the lowest sample over all keys, or None."""
        return min(self.first.values(), key=lambda f: f[0]) if self.first else None

    def __bool__(self) -> bool:
        return bool(self.counts)


# -- example projects for the rule documentation (bad/good) -------------------------------------------------

TRAIN_YAML = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: {stage}\ndo_train: true\n"
              "finetuning_type: lora\ndataset: a\ntemplate: qwen\noutput_dir: saves/a\n")


def example(records, entry: Optional[dict] = None, stage: Optional[str] = None, name: str = "a.json",
            extra: Optional[dict] = None) -> dict:
    """A tiny project: data/dataset_info.json with one entry "a", its data file, and a training YAML when a
    stage is given."""
    info = {"file_name": name}
    info.update(entry or {})
    if name.endswith(".jsonl"):
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    else:
        text = json.dumps(records, ensure_ascii=False, indent=1) + "\n"
    files = {"data/dataset_info.json": json.dumps({"a": info}, indent=1) + "\n", f"data/{name}": text}
    if stage:
        files["train.yaml"] = TRAIN_YAML.format(stage=stage)
    files.update(extra or {})
    return files


SHAREGPT = {"formatting": "sharegpt"}
OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "system_tag": "system"}


def turns(*pairs, key=("from", "value")):
    """[{"from": role, "value": text}, ...] from ("human", "hi"), ("gpt", "hello"), ..."""
    return [{key[0]: role, key[1]: text} for role, text in pairs]
