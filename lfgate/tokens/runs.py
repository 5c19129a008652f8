"""The one count over the runner's samples, for `train --dry-run` and `preview` (they tokenize with the model's
tokenizer after cutoff_len; this says what cutoff_len cut, counted as `check` and `stats` count it)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import List, Optional

from lfgate.tokens import report
from lfgate.tokens.counters import counter, describe
from lfgate.tokens.sample import Length, measure, plan_for


def _aligned(sample):
    return SimpleNamespace(prompt=sample.prompt, response=sample.response, system=sample.system,
                           tools=sample.tools, images=[], videos=[], audios=[])


def lengths(values: dict, samples: List, stage: str = "sft", resolve=None) -> List[Optional[Length]]:
    """Each runner Sample's Length under the config's plan (None where the stage drops it)."""
    plan = plan_for(values, stage=stage, resolve=resolve)
    count = counter(plan.spec)
    return [measure(_aligned(s), stage, plan, count) for s in samples]


def summary(values: dict, samples: List, stage: str = "sft", resolve=None) -> Optional[report.TruncationFacts]:
    """Truncation facts over the samples plus how they were counted (``how``), or None without a cutoff_len."""
    plan = plan_for(values, stage=stage, resolve=resolve)
    if not plan.cutoff_len:
        return None
    count = counter(plan.spec)
    tally = report.Truncation(plan.cutoff_len, count.exact)
    for sample in samples:
        length = measure(_aligned(sample), stage, plan, count)
        if length is not None:
            text = "\n".join(m.get("content") or "" for m in sample.prompt + sample.response)
            tally.add(sample.index, length, count, text)
    facts = tally.facts()
    facts["how"] = describe(count.spec, report.band_kind(facts))
    return facts
