"""What the sample rules share: the Finding value, bounded tallies, and builders for the rules' example projects."""

from __future__ import annotations

import json
from typing import Any, Dict, NamedTuple, Optional, Tuple

from lfgate.diagnostics import Severity

# Lower bound used by the cutoff_len estimate: natural text in common tokenizers rarely packs more than this many
# characters into one token, so chars / 6 undercounts tokens and the reported counts are lower bounds.
CHARS_PER_TOKEN = 6


class Finding(NamedTuple):
    """One sample-level finding. ``path`` is the JSON path inside the record (e.g. ("conversations", 3, "from"));
    the dataset layer turns it into a line and column. ``severity`` overrides the rule's own when set."""

    rule: Any
    message: str
    sample: Optional[int]
    path: tuple = ()
    severity: Optional[Severity] = None

    def __reduce__(self):  # across worker processes, send the rule's code, not the Rule with its examples
        return (_finding, (self.rule.code, self.message, self.sample, self.path, self.severity))


def _finding(code, message, sample, path, severity) -> Finding:
    from lfgate.registry import RULES, all_rules

    return Finding(RULES.get(code) or all_rules()[code], message, sample, path, severity)


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
