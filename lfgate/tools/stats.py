"""Dataset statistics as LLaMA-Factory will see the data: per sample after its converter, for one data stage.

Lengths are counted in tokens with the model's own tokenizer when a tokenizer.json is on this machine (the model
folder, or the Hugging Face cache; never downloaded), else in characters. With tokens and a chat template the
runner models (lfgate/runner/templates.py), the template's tokens count too (role markers, the default system
prompt, tool text), exactly as LLaMA-Factory's encode_multiturn lays the turns out; otherwise only message text
is counted, which underestimates what cutoff_len cuts. Truncation follows LLaMA-Factory's rule
(lfgate/truncation.py): each turn pair gets what is left of cutoff_len.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from lfgate.diagnostics import display_path
from lfgate.readers import guarded
from lfgate.truncation import truncate_turns

PERCENTILES = (50, 90, 95, 99)
HISTOGRAM_BINS = 20
BATCH = 256  # samples whose texts are tokenized in one call


# -- length counting -------------------------------------------------------------------------------
@dataclass
class Measure:
    """How text is measured: `count(text) -> int`, and in which unit."""

    unit: str
    count: Callable[[str], int]
    source: Optional[str] = None  # the tokenizer file used
    count_many: Optional[Callable[[List[str]], List[int]]] = None  # faster for many texts at once
    template: Optional[object] = None  # lfgate.runner.templates.Template: count its tokens too


class _CountingTokenizer:
    """Enough of a transformers tokenizer for the runner's encode_multiturn: only lengths matter here."""

    bos_token_id = eos_token_id = 0  # each bos/eos slot is one token

    def __init__(self, count: Callable[[str], int]):
        self.count = count

    def encode(self, text: str, add_special_tokens: bool = False) -> List[int]:
        return [0] * self.count(text)


def characters() -> Measure:
    return Measure("characters", len)


def estimated() -> Measure:
    """No tokenizer: the same per-script token estimate as `lfgate check` (truncation.estimate_tokens)."""
    from lfgate.truncation import estimate_tokens

    return Measure("tokens (estimate)", estimate_tokens)


def find_tokenizer(model: Optional[str]) -> Optional[str]:
    """A local tokenizer.json for a model folder, a tokenizer.json path, or a hub id already in the HF cache."""
    if not model or not isinstance(model, str):
        return None
    if os.path.isfile(model) and model.endswith(".json"):
        return model
    if os.path.isdir(model):
        path = os.path.join(model, "tokenizer.json")
        return path if os.path.isfile(path) else None
    if model.count("/") != 1:
        return None
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")
    repo = os.path.join(hub, "models--" + model.replace("/", "--"))
    try:
        with guarded.open_regular(os.path.join(repo, "refs", "main"), "r", encoding="utf-8") as f:
            candidates = [os.path.join(repo, "snapshots", f.read().strip(), "tokenizer.json")]
    except OSError:
        candidates = []
    candidates += sorted(glob.glob(os.path.join(repo, "snapshots", "*", "tokenizer.json")))
    return next((c for c in candidates if os.path.isfile(c)), None)


def _encodable(text: str) -> str:
    """The text with lone surrogates (an escaped "\\ud800" in the data) as U+FFFD: tokenizers refuses them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def tokens(path: str) -> Measure:
    """Token counts with the `tokenizers` library (imported only here), without special tokens."""
    from tokenizers import Tokenizer

    from lfgate.validator.model_folder import TOKENIZER_JSON_LIMIT

    tokenizer = Tokenizer.from_str(guarded.read_text(path, TOKENIZER_JSON_LIMIT))  # regular files only, size-capped

    def count(text: str) -> int:
        return len(tokenizer.encode(_encodable(text), add_special_tokens=False).ids) if text else 0

    def count_many(texts: List[str]) -> List[int]:  # encode_batch runs on every core
        return [len(e.ids) for e in tokenizer.encode_batch([_encodable(t) for t in texts], add_special_tokens=False)]

    return Measure("tokens", count, path, count_many)


def with_template(measure: Measure, name: Optional[str]) -> Measure:
    """Count the chat template's tokens as well, when the runner models that template and lengths are tokens."""
    from lfgate.runner.templates import TEMPLATES, get_template

    if measure.unit != "tokens" or name not in TEMPLATES:
        return measure
    return Measure(measure.unit, measure.count, measure.source, measure.count_many, get_template(name))


def measure_for(model: Optional[str], explicit: Optional[str] = None) -> Measure:
    path = find_tokenizer(explicit) if explicit else find_tokenizer(model)
    if explicit and not path:
        from lfgate.errors import UsageError

        raise UsageError(f"--tokenizer {explicit}: no tokenizer.json there")
    if path:
        try:
            return tokens(path)
        except ImportError:
            pass  # the `tokenizers` library is not installed: characters it is
        except Exception as err:  # a tokenizer.json this tokenizers version cannot read
            from lfgate.errors import UsageError

            raise UsageError(f"cannot load {path}: {err}") from None
    return estimated()


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
    turns: array = field(default_factory=lambda: array("l"))
    prompt: array = field(default_factory=lambda: array("l"))
    response: array = field(default_factory=lambda: array("l"))
    total: array = field(default_factory=lambda: array("l"))

    def to_dict(self) -> dict:
        return {
            "name": self.name, "file": display_path(self.file), "formatting": self.formatting, "stage": self.stage,
            "unit": self.unit, "template": self.template, "cutoff_len": self.cutoff_len, "samples": self.samples,
            "kept": self.samples - self.dropped - self.crashes, "dropped": self.dropped, "crashes": self.crashes,
            "turns": summary(self.turns),
            "roles": dict(self.roles),
            "lengths": {"prompt": summary(self.prompt), "response": summary(self.response),
                        "total": summary(self.total)},
            "over_cutoff": self.over_cutoff if self.cutoff_len else None,
            "response_truncated": self.response_truncated if self.cutoff_len else None,
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


def _text(value) -> str:
    return value if isinstance(value, str) else "" if value is None else json.dumps(value, ensure_ascii=False)


def _stage_response(aligned, stage: str) -> List[dict]:
    """The response messages the stage trains on: the single one (sft), chosen (rm), the non-empty one (kto)."""
    response = aligned.response
    if stage == "kto":
        return [m for m in response if m.get("content")][:1] or response[:1]
    return response[:1]


def add_sample(stats: DatasetStats, value, aligned, measure: Callable[[str], int], placeholders: Dict[str, str],
               seen: set, template=None) -> None:
    from lfgate.validator.converter import kept_by_stage

    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    # surrogatepass: a lone surrogate ("\ud800" escaped in the JSON) is a value LLaMA-Factory loads
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    if digest in seen:
        stats.duplicates += 1
    else:
        seen.add(digest)
    for kind in ("images", "videos", "audios"):
        items = getattr(aligned, kind) or []
        if items:
            stats.media[kind] += len(items)
            stats.media_samples[kind] += 1
    texts = [_text(m.get("content")) for m in aligned.prompt + aligned.response] + [_text(aligned.system)]
    for placeholder in placeholders.values():
        n = sum(t.count(placeholder) for t in texts)
        if n:
            stats.placeholders[placeholder] += n
    if not kept_by_stage(aligned, stats.stage):
        stats.dropped += 1
        return
    if aligned.system:
        stats.roles["system"] += 1
    for message in aligned.prompt:
        stats.roles[message.get("role")] += 1
    response = _stage_response(aligned, stats.stage) if stats.stage != "pt" else []
    for message in response:
        stats.roles[message.get("role")] += 1
    if response and not _text(response[0].get("content")).strip():
        stats.empty_responses += 1

    if stats.stage == "pt":  # pretraining reads the first prompt text only, then packs it into blocks
        length = measure(_text(aligned.prompt[0].get("content")))
        stats.turns.append(1)
        stats.prompt.append(length)
        stats.response.append(0)
        stats.total.append(length)
        return
    pairs = turn_pairs(aligned.prompt + response, aligned.system, aligned.tools, measure, template)
    stats.turns.append(len(pairs))
    if stats.stage != "sft" and pairs:
        pairs = [_one_turn(pairs, aligned, stats.stage, measure, template)]
    prompt_len = sum(s for s, _ in pairs) + sum(t for _, t in pairs[:-1])
    response_len = pairs[-1][1] if pairs else 0
    stats.prompt.append(prompt_len)
    stats.response.append(response_len)
    stats.total.append(prompt_len + response_len)
    if stats.cutoff_len and prompt_len + response_len > stats.cutoff_len:
        stats.over_cutoff += 1
        kept = truncate_turns(pairs, stats.cutoff_len)
        if sum(t for _, t in kept) < sum(t for _, t in pairs):  # trained tokens lost, in any turn
            stats.response_truncated += 1


def turn_pairs(messages: List[dict], system, tools, count: Callable[[str], int], template=None) -> List[tuple]:
    """(source, target) lengths per turn pair, as LLaMA-Factory's encode_multiturn pairs messages. With a
    template, its tokens (system prompt or default system, role markers, tool text) count too; without, only
    the message text (system and tools with the first turn)."""
    if template is not None:
        from lfgate.runner.templates import encode_multiturn

        try:
            return [(len(s), len(t)) for s, t in encode_multiturn(_CountingTokenizer(count), template, messages,
                                                                  _text(system), _text(tools))]
        except Exception:  # e.g. a function turn that is not a call, bad tools JSON: count the text alone
            pass
    head = count(_text(system)) + count(_text(tools))
    pairs = []
    for i in range(0, len(messages) - 1, 2):
        source = count(_text(messages[i].get("content"))) + (head if i == 0 else 0)
        pairs.append((source, count(_text(messages[i + 1].get("content")))))
    return pairs


def _one_turn(pairs, aligned, stage: str, measure, template) -> tuple:
    """rm, kto and ppo encode one turn (encode_oneturn): everything before the answer is one source. rm budgets
    for the longer of chosen and rejected (pairwise.py: infer_seqlen(prompt, max(chosen, rejected)))."""
    source = sum(s for s, _ in pairs) + sum(t for _, t in pairs[:-1])
    target = pairs[-1][1]
    if stage == "rm" and len(aligned.response) >= 2:
        rejected = turn_pairs(aligned.prompt + aligned.response[1:2], aligned.system, aligned.tools, measure,
                              template)
        target = max(target, rejected[-1][1]) if rejected else target
    return source, target


def _add_batch(stats, batch, measure: Measure, placeholders, seen) -> None:
    """Add samples; with a tokenizer, their texts are encoded together first (one encode_batch call)."""
    count = measure.count
    if measure.count_many and batch:
        texts = list({t for _, a in batch for t in _texts_of(a, measure.template)} - {""})
        lengths = dict(zip(texts, measure.count_many(texts)))
        count = lambda text: lengths[text] if text in lengths else measure.count(text)  # noqa: E731
    for value, aligned in batch:
        add_sample(stats, value, aligned, count, placeholders, seen, measure.template)


def _texts_of(aligned, template=None) -> list:
    """The strings that will be tokenized for this sample (the template's rendered slots, if any)."""
    texts = [_text(m.get("content")) for m in aligned.prompt + aligned.response]
    texts += [_text(aligned.system), _text(aligned.tools)]
    if template is not None:
        from lfgate.runner.templates import render

        try:
            for elements in render(template, aligned.prompt + aligned.response, _text(aligned.system),
                                   _text(aligned.tools)):
                texts += [e for e in elements if isinstance(e, str)]
        except Exception:
            pass
    return texts


def dataset_stats(entry, stage: str, cutoff_len: Optional[int], measure: Measure, placeholders: Dict[str, str],
                  media_dir: Optional[str] = None, records=None) -> DatasetStats:
    """Statistics of one registered dataset. records: (index, value) pairs (default: read entry.local_path)."""
    from lfgate.validator.converter import ConversionError, align

    template = measure.template if stage != "pt" else None  # pretraining text gets no chat template
    measure = Measure(measure.unit, measure.count, measure.source, measure.count_many, template)
    stats = DatasetStats(name=entry.name, file=entry.local_path, formatting=entry.formatting, stage=stage,
                         unit=measure.unit, cutoff_len=cutoff_len, template=getattr(template, "name", None))
    if records is None:
        from lfgate.tools.register import iter_values

        records = iter_values(entry.local_path)
    seen: set = set()
    batch = []
    for _, value in records:
        stats.samples += 1
        try:
            batch.append((value, align(value, entry, media_dir)))
        except ConversionError:
            stats.crashes += 1
        if len(batch) >= BATCH:
            _add_batch(stats, batch, measure, placeholders, seen)
            batch = []
    _add_batch(stats, batch, measure, placeholders, seen)
    return stats
