"""Dataset statistics as LLaMA-Factory will see the data: per sample after its converter, for one data stage.

Lengths are in tokens, counted by lfgate/tokens (the same count as `check`, `train --dry-run` and `preview`):
with the model's tokenizer.json when it is on this machine (--tokenizer, the model folder, the Hugging Face,
ModelScope or openMind cache; never downloaded), else the `tokens` extra's vocabulary for the family, else the
calibrated estimate with its error band. With a chat template the runner models (lfgate/runner/templates.py), the
template's tokens count too (role markers, the default system prompt, tool text), as LLaMA-Factory's
encode_multiturn lays the turns out; otherwise only message text is counted, which underestimates what cutoff_len
cuts. Prompt is what trains no loss, response what does (mask_history and train_on_prompt move the line).
Truncation follows LLaMA-Factory's rule (lfgate/truncation.py): each turn pair gets what is left of cutoff_len.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from lfgate.diagnostics import display_path
from lfgate.tokens.report import Truncation

PERCENTILES = (50, 90, 95, 99)
HISTOGRAM_BINS = 20
BATCH = 256  # samples whose texts are tokenized in one call
UNIT = "tokens"


def plan_for(config: dict, *, stage: Optional[str], tokenizer: Optional[str] = None, template: Optional[str] = None,
             cutoff_len: Optional[int] = None, resolve=None):
    """How `stats` counts: the config's Plan (lfgate/tokens/sample.plan_for) with the command line's overrides."""
    from lfgate import hub_cache
    from lfgate.errors import UsageError
    from lfgate.tokens.sample import plan_for as config_plan

    if tokenizer and hub_cache.find_tokenizer(None, explicit=tokenizer) is None:
        raise UsageError(f"--tokenizer {tokenizer}: no tokenizer.json there")
    return config_plan(config, stage=stage, explicit_tokenizer=tokenizer, template=template, cutoff_len=cutoff_len,
                       resolve=resolve)


# -- the statistics --------------------------------------------------------------------------------
@dataclass
class DatasetStats:
    name: str
    file: Optional[str]
    formatting: str
    stage: str
    unit: str
    cutoff_len: Optional[int]
    template: Optional[str] = None  # the chat template whose tokens are counted, if any
    counted_with: str = ""  # how the tokens were counted (lfgate/tokens/counters.describe)
    exact: bool = True
    samples: int = 0
    dropped: int = 0  # blanked or ill-shaped: the stage's processor drops them
    crashes: int = 0  # records LLaMA-Factory's converter raises on
    duplicates: int = 0
    empty_responses: int = 0
    over_cutoff: int = 0
    response_truncated: int = 0
    roles: Counter = field(default_factory=Counter)
    placeholders: Counter = field(default_factory=Counter)
    media: Counter = field(default_factory=Counter)  # files per kind
    media_samples: Counter = field(default_factory=Counter)  # samples with at least one, per kind
    truncation: Optional[Truncation] = None
    turns: array = field(default_factory=lambda: array("l"))
    prompt: array = field(default_factory=lambda: array("l"))
    response: array = field(default_factory=lambda: array("l"))
    total: array = field(default_factory=lambda: array("l"))

    def to_dict(self) -> dict:
        t = self.truncation.facts() if self.truncation is not None else None
        return {
            "name": self.name, "file": display_path(self.file), "formatting": self.formatting, "stage": self.stage,
            "unit": self.unit, "template": self.template, "cutoff_len": self.cutoff_len, "samples": self.samples,
            "kept": self.samples - self.dropped - self.crashes, "dropped": self.dropped, "crashes": self.crashes,
            "turns": summary(self.turns),
            "roles": dict(self.roles),
            "lengths": {"prompt": summary(self.prompt), "response": summary(self.response),
                        "total": summary(self.total)},
            "counted_with": self.counted_with, "exact": self.exact,
            "over_cutoff": self.over_cutoff if self.cutoff_len else None,
            "over_cutoff_band": [t["low"], t["high"]] if t else None,
            "response_truncated": self.response_truncated if self.cutoff_len else None,
            "prompt_truncated": t["prompt_only"] if t else None,
            "over_cutoff_samples": t["samples"] if t else None,
            "duplicates": self.duplicates, "empty_responses": self.empty_responses,
            "placeholders": dict(self.placeholders), "media": dict(self.media),
            "media_samples": dict(self.media_samples),
            "histogram": histogram(self.total, self.cutoff_len),
        }


def percentile(sorted_values, q: float) -> int:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def summary(values) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "mean": 0, "min": 0, **{f"p{q}": 0 for q in PERCENTILES}, "max": 0}
    return {"count": len(ordered), "mean": round(sum(ordered) / len(ordered), 1), "min": ordered[0],
            **{f"p{q}": percentile(ordered, q) for q in PERCENTILES}, "max": ordered[-1]}


def histogram(values, cutoff_len: Optional[int] = None, bins: int = HISTOGRAM_BINS) -> dict:
    """Bins over [0, max]; when cutoff_len falls inside, one bin edge is cutoff_len + 1, so the bins right of it
    hold exactly the samples over cutoff_len. counts[i] covers edges[i] <= length < edges[i + 1]."""
    import bisect

    top = max(values, default=0) + 1
    if cutoff_len and cutoff_len + 1 < top:
        split = cutoff_len + 1
        below = min(bins - 1, max(1, round(bins * split / top)))
        edges = [-(-split * i // below) for i in range(below)]
        edges += [split + -(-(top - split) * i // (bins - below)) for i in range(bins - below + 1)]
    else:
        edges = [-(-top * i // bins) for i in range(bins + 1)]
    edges = sorted(set(edges))
    counts = [0] * (len(edges) - 1)
    for v in values:
        counts[min(bisect.bisect_right(edges, v) - 1, len(counts) - 1)] += 1
    return {"edges": edges, "counts": counts}


def add_sample(stats: DatasetStats, index: int, value, aligned, plan, counter, placeholders: Dict[str, str],
               seen: set, lengths: Optional[dict] = None) -> None:
    from lfgate.tokens.sample import measure, text

    dumped = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    # surrogatepass: a lone surrogate ("\ud800" escaped in the JSON) is a value LLaMA-Factory loads
    digest = hashlib.blake2b(dumped.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    if digest in seen:
        stats.duplicates += 1
    else:
        seen.add(digest)
    for kind in ("images", "videos", "audios"):
        items = getattr(aligned, kind) or []
        if items:
            stats.media[kind] += len(items)
            stats.media_samples[kind] += 1
    texts = [text(m.get("content")) for m in aligned.prompt + aligned.response] + [text(aligned.system)]
    for placeholder in placeholders.values():
        n = sum(t.count(placeholder) for t in texts)
        if n:
            stats.placeholders[placeholder] += n
    length = measure(aligned, stats.stage, plan, counter, lengths)
    if length is None:
        stats.dropped += 1
        return
    if aligned.system:
        stats.roles["system"] += 1
    for message in aligned.prompt:
        stats.roles[message.get("role")] += 1
    response = _stage_response(aligned, stats.stage) if stats.stage != "pt" else []
    for message in response:
        stats.roles[message.get("role")] += 1
    if response and not text(response[0].get("content")).strip():
        stats.empty_responses += 1
    stats.turns.append(len(length.pairs))
    stats.prompt.append(int(round(length.prompt)))
    stats.response.append(int(round(length.response)))
    stats.total.append(int(round(length.total)))
    if stats.truncation is not None:
        joined = "" if counter.exact else "\n".join(t for t in texts if t)
        stats.truncation.add(index, length, counter, joined)
        facts = stats.truncation
        stats.over_cutoff, stats.response_truncated = facts.over, facts.response_cut


def _stage_response(aligned, stage: str) -> List[dict]:
    """The response messages the stage trains on: the single one (sft), chosen (rm), the non-empty one (kto)."""
    response = aligned.response
    if stage == "kto":
        return [m for m in response if m.get("content")][:1] or response[:1]
    return response[:1]


def _add_batch(stats, batch, plan, counter, placeholders, seen) -> None:
    """Add samples; their texts are counted together first (one count_many call: every core for a tokenizer)."""
    from lfgate.tokens.sample import texts_of

    texts = list({t for _, _, a in batch for t in texts_of(a, plan, stats.stage)} - {""})
    lengths = dict(zip(texts, counter.count_many(texts))) if texts else {}
    for index, value, aligned in batch:
        add_sample(stats, index, value, aligned, plan, counter, placeholders, seen, lengths)


def dataset_stats(entry, stage: str, plan, placeholders: Dict[str, str], media_dir: Optional[str] = None,
                  records=None) -> DatasetStats:
    """Statistics of one registered dataset, counted by ``plan`` (lfgate/tokens/sample.Plan). records: (index,
    value) pairs (default: read entry.local_path)."""
    from lfgate.tokens import report
    from lfgate.tokens.counters import counter as make_counter, describe
    from lfgate.tokens.sample import template_of
    from lfgate.validator.converter import ConversionError, align

    counter = make_counter(plan.spec)
    cutoff = plan.cutoff_len if stage != "pt" else None
    template = template_of(plan) if stage != "pt" else None
    stats = DatasetStats(name=entry.name, file=entry.local_path, formatting=entry.formatting, stage=stage,
                         unit=UNIT, cutoff_len=cutoff, template=getattr(template, "name", None),
                         exact=counter.exact, truncation=report.Truncation(cutoff, counter.exact) if cutoff else None)
    if records is None:
        from lfgate.tools.register import iter_values

        records = iter_values(entry.local_path)
    seen: set = set()
    batch = []
    for index, value in records:
        stats.samples += 1
        try:
            batch.append((index, value, align(value, entry, media_dir)))
        except ConversionError:
            stats.crashes += 1
        if len(batch) >= BATCH:
            _add_batch(stats, batch, plan, counter, placeholders, seen)
            batch = []
    _add_batch(stats, batch, plan, counter, placeholders, seen)
    kind = report.band_kind(stats.truncation.facts()) if stats.truncation is not None else None
    stats.counted_with = describe(counter.spec, kind)
    return stats
