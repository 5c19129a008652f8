"""What cutoff_len cuts from a dataset: a tally the workers fill and merge, and the one wording of it.

The SampleChecker adds each kept sample's Length (sample.measure); `check` reports the tally once per cause
(DS012 for data no config loads, LK050 at the config), `stats` prints and plots it. Severity goes by what is cut:
a sample that loses part of its response trains on a cut target (a warning); one that loses only prompt tokens
trains the model to answer inputs it never saw: a warning once that is 1% of the samples, an info below. An estimate
warns only for what the low end of its band says is cut.
"""

from __future__ import annotations

from array import array
from collections import Counter as Tally
from typing import Dict, List, Optional, TypedDict

from lfgate.tokens import estimate
from lfgate.tokens.counters import Counter

PROMPT, RESPONSE, BOTH = 1, 2, 3  # which part a cut sample loses
PART_NAMES = {PROMPT: "prompt", RESPONSE: "response", BOTH: "prompt and response"}
PROMPT_CUT_WARN = 0.01  # share of samples losing only prompt tokens from which that is a warning
SHOWN = 5  # cut samples named in a message; --format json carries them all


class TruncationFacts(TypedDict, total=False):
    """What Truncation.facts() gives a dataset's SampleFacts (validator/model.py), LK050, stats and the JSON."""

    cutoff_len: int
    exact: bool
    counted: int  # kept samples counted (max_samples: the first ones only)
    exceeding: int  # over cutoff_len (an estimate: by the central estimate)
    response_cut: int  # ... of which lose part of a response
    prompt_only: int  # ... of which lose prompt tokens only
    low: int  # an estimate's band: at least / at most this many are over
    high: int
    tokens_cut: int
    near_kinds: Dict[str, int]  # the make-up of the samples near the cutoff (estimates)
    samples: List[dict]  # every cut sample: index, tokens, prompt, cut
    how: str  # how they were counted, in words (runs.py)


class Truncation:
    """Mergeable counts of the samples over cutoff_len, with every cut sample (index, tokens, prompt, part)."""

    def __init__(self, cutoff_len: int, exact: bool = True):
        self.cutoff_len = cutoff_len
        self.exact = exact
        self.counted = self.over = self.response_cut = self.prompt_only = 0
        self.low = self.high = 0  # estimates: the band's ends
        self.tokens_cut = 0
        self.kinds: Tally = Tally()  # make-up of the samples near the cutoff (estimates)
        self.rows = array("q")  # index, total, prompt, part; flat

    def add(self, index: int, length, counter: Optional[Counter] = None, sample_text: str = "") -> None:
        self.counted += 1
        total = length.total
        cutoff = self.cutoff_len
        if not self.exact and counter is not None:
            widest = max(estimate.band(counter.family, k) for k in estimate.KINDS)
            if total * (1 + widest) > cutoff and total * (1 - widest) <= cutoff:  # near: its own band decides
                kind = estimate.make_up(sample_text)
                self.kinds[kind] += 1
                b = estimate.band(counter.family, kind)
                self.high += total * (1 + b) > cutoff
                self.low += total * (1 - b) > cutoff
            elif total > cutoff:
                self.high += 1
                self.low += 1
        if round(total) <= cutoff:
            return
        self.over += 1
        source_cut, target_cut = length.source_cut, length.target_cut
        part = (PROMPT if source_cut >= 0.5 else 0) | (RESPONSE if target_cut >= 0.5 else 0) or PROMPT
        if part & RESPONSE:
            self.response_cut += 1
        else:
            self.prompt_only += 1
        self.tokens_cut += int(round(source_cut + target_cut))
        self.rows.extend((index, int(round(total)), int(round(length.prompt)), part))

    def merge(self, other: Truncation) -> None:
        for name in ("counted", "over", "response_cut", "prompt_only", "low", "high", "tokens_cut"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.kinds.update(other.kinds)
        self.rows.extend(other.rows)

    def __repr__(self) -> str:
        return f"Truncation({self.facts()!r})"

    def samples(self) -> List[dict]:
        """Every cut sample, by index: its tokens, how many of them are prompt, the part cut."""
        rows = [tuple(self.rows[i:i + 4]) for i in range(0, len(self.rows), 4)]
        return [{"index": i, "tokens": t, "prompt": p, "cut": PART_NAMES[part]} for i, t, p, part in sorted(rows)]

    def facts(self) -> TruncationFacts:
        return {"cutoff_len": self.cutoff_len, "exact": self.exact, "counted": self.counted,
                "exceeding": self.over, "response_cut": self.response_cut, "prompt_only": self.prompt_only,
                "low": self.low if not self.exact else self.over, "high": self.high if not self.exact else self.over,
                "tokens_cut": self.tokens_cut, "near_kinds": dict(self.kinds), "samples": self.samples()}


def band_kind(facts: TruncationFacts) -> Optional[str]:
    kinds: dict = facts.get("near_kinds") or {}
    return max(kinds, key=lambda k: kinds[k]) if kinds else None


def how_many(facts: TruncationFacts) -> str:
    """`137` exact, `128-149` for an estimate whose band straddles the cutoff."""
    low, high = facts.get("low", facts["exceeding"]), facts.get("high", facts["exceeding"])
    if facts.get("exact", True) or low == high:
        return f"{facts['exceeding']:,}"
    return f"{low:,}–{high:,}"


def severity_name(facts: TruncationFacts) -> Optional[str]:
    """"warning", "info", or None when nothing is (or may be) cut."""
    if not facts.get("high", facts["exceeding"]) and not facts["exceeding"]:
        return None
    counted = max(facts.get("counted") or 0, 1)
    if not facts.get("exact", True):  # an estimate warns only for what its whole band says is cut
        low = facts.get("low", 0)
        if not low:
            return "info"
        share = low / max(facts["exceeding"], 1)
        if facts["response_cut"] * share >= 1 or low >= counted:
            return "warning"
        return "warning" if facts["prompt_only"] * share >= PROMPT_CUT_WARN * counted else "info"
    if facts["response_cut"] or facts["exceeding"] >= counted:
        return "warning"
    if facts["prompt_only"] >= PROMPT_CUT_WARN * counted:
        return "warning"
    return "info"


def message(facts: TruncationFacts, how: str, total: Optional[int] = None, dataset: Optional[str] = None,
            cutoff_note: str = "") -> str:
    """The one wording of a dataset's truncation: how many, what part, which samples, how counted."""
    counted = total if total is not None else facts.get("counted", 0)
    head = f"dataset `{dataset}`: " if dataset else ""
    cutoff = facts["cutoff_len"]
    parts = []
    if facts["response_cut"]:
        parts.append(f"{facts['response_cut']:,} lose part of their response (the model trains on a cut answer)")
    if facts["prompt_only"]:
        parts.append(f"{facts['prompt_only']:,} only part of their prompt (the model learns answers to inputs it "
                     "never saw)")
    cut = "; ".join(parts) if facts["exceeding"] else "none by the central estimate"
    samples = facts.get("samples") or []
    named = ", ".join(f"#{s['index']} ({s['tokens']:,} tokens, {s['prompt']:,} of them prompt; {s['cut']} cut)"
                      for s in samples[:SHOWN])
    more = f" and {len(samples) - SHOWN:,} more (all in --format json)" if len(samples) > SHOWN else ""
    which = f". Cut: {named}{more}" if named else ""
    lost = f", {facts['tokens_cut']:,} tokens in all" if facts.get("tokens_cut") else ""
    return (f"{head}{how_many(facts)} of {counted:,} samples exceed `cutoff_len: {cutoff}`{cutoff_note} ({how}): "
            f"{cut}{lost}{which}. Raise cutoff_len or shorten them")


def details(facts: TruncationFacts) -> dict:
    """The finding's --format json details: the counts and every cut sample."""
    keys = ("cutoff_len", "exact", "counted", "exceeding", "low", "high", "response_cut", "prompt_only", "tokens_cut",
            "samples")
    return {k: v for k, v in facts.items() if k in keys}
