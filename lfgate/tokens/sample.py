"""The one count of a sample: its tokens as LLaMA-Factory lays them out, and what cutoff_len cuts.

`check` (the SampleChecker, over the workers), `stats`, `train --dry-run` and `preview` all call ``measure``, so
the same sample, config and tokenizer give the same numbers everywhere. With a chat template lfgate models
(lfgate/runner/templates.py: qwen, qwen3, llama3, chatml, default, empty), the template's own tokens count too: the
system prompt or the template's default one, role markers, the tool text, `efficient_eos`; otherwise only the
messages' text is counted, which is less than LLaMA-Factory tokenizes.

What counts as response is what trains: each turn's answer (every turn's in sft, the last only with
`mask_history`), plus the prompts with `train_on_prompt`. Truncation is LLaMA-Factory's (lfgate/truncation.py,
data/processor/*.py at 0.9.5): the turn pairs share cutoff_len in order (the last first with mask_history); rm,
kto and ppo encode one turn (infer_seqlen(prompt, response)); with `packing`, DataArguments lowers cutoff_len by
one and the packed processor truncates the same way (nothing is dropped).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from lfgate.tokens.counters import Counter, Spec
from lfgate.truncation import infer_seqlen


@dataclass(frozen=True)
class Plan:
    """What a config says about counting its samples: picklable, carried to the workers by the DatasetUsage."""

    spec: Spec
    cutoff_len: Optional[int] = None  # the effective one: packing takes one off
    template: Optional[str] = None  # a template lfgate models, else None (message text only)
    template_name: Optional[str] = None  # the config's, modelled or not (for messages)
    default_system: Optional[str] = None
    tool_format: Optional[str] = None
    enable_thinking: Optional[bool] = True
    train_on_prompt: bool = False
    mask_history: bool = False
    packing: bool = False
    max_samples: Optional[int] = None  # LLaMA-Factory keeps the first max_samples records of each dataset


@dataclass
class Length:
    """One sample's tokens. pairs: (source, target) per turn as encoded; kept: what survives cutoff_len."""

    pairs: List[Tuple[float, float]]
    eos: int = 0  # efficient_eos: one more token at the end
    prompt: float = 0  # not trained (masked labels)
    response: float = 0  # trained
    kept: List[Tuple[float, float]] = field(default_factory=list)
    template: bool = False  # the template's tokens are in the count

    @property
    def total(self) -> float:
        return sum(s + t for s, t in self.pairs) + self.eos

    @property
    def source_cut(self) -> float:
        return sum(s for s, _ in self.pairs) - sum(s for s, _ in self.kept)

    @property
    def target_cut(self) -> float:
        return sum(t for _, t in self.pairs) - sum(t for _, t in self.kept)


class _CountingTokenizer:
    """Enough of a transformers tokenizer for the runner's encode_multiturn: only lengths matter."""

    eos_token_id = 0

    def __init__(self, lengths: Dict[str, float], counter: Counter):
        self.lengths, self.counter = lengths, counter
        self.bos_token_id = 0 if counter.family.bos else None

    def encode(self, text: str, add_special_tokens: bool = False) -> list:
        n = self.lengths.get(text)
        if n is None:
            n = self.lengths[text] = self.counter.count(text)
        return [0] * int(round(n))  # an estimate's fraction rounds per slot: under a token per message


_TEMPLATES: Dict[tuple, object] = {}


def template_of(plan: Plan):
    """The runner's Template for the plan (cached), or None when lfgate does not model it."""
    if plan.template is None:
        return None
    key = (plan.template, plan.default_system, plan.tool_format, plan.enable_thinking)
    if key not in _TEMPLATES:
        from lfgate.runner.templates import get_template

        _TEMPLATES[key] = get_template(plan.template, default_system=plan.default_system,
                                       tool_format=plan.tool_format, enable_thinking=plan.enable_thinking)
    return _TEMPLATES[key]


def text(value) -> str:
    return value if isinstance(value, str) else "" if value is None else json.dumps(value, ensure_ascii=False)


def texts_of(aligned, plan: Plan, stage: str) -> List[str]:
    """The strings measure() will count for this sample: count them together first (count_many) when many
    samples are at hand."""
    messages = aligned.prompt + aligned.response
    out = [text(m.get("content")) for m in messages] + [text(aligned.system), text(aligned.tools)]
    template = template_of(plan) if stage != "pt" else None
    if template is not None:
        from lfgate.runner.templates import render

        try:
            for elements in render(template, messages, text(aligned.system), text(aligned.tools)):
                out += [e for e in elements if isinstance(e, str)]
        except Exception:  # what encode_multiturn refuses below: the text alone is counted then
            pass
    return out


def measure(aligned, stage: str, plan: Plan, counter: Counter,
            lengths: Optional[Dict[str, float]] = None) -> Optional[Length]:
    """The sample's Length for the stage (None for a sample the stage drops; pt: its text, never cut).
    ``lengths``: counts already made for some of its strings (texts_of + count_many)."""
    from lfgate.validator.converter import kept_by_stage

    if not kept_by_stage(aligned, stage):
        return None
    lengths = {} if lengths is None else lengths
    if stage == "pt":  # the first prompt text, packed into blocks: nothing of it is cut
        n = _count(text(aligned.prompt[0].get("content")), lengths, counter)
        return Length([(n, 0.0)], prompt=0, response=n, kept=[(n, 0.0)])
    template = template_of(plan)
    if stage == "sft":
        return _multiturn(aligned.prompt + aligned.response[:1], aligned, plan, counter, lengths, template)
    return _one_turn(aligned, stage, plan, counter, lengths, template)


def _count(value: str, lengths, counter) -> float:
    n = lengths.get(value)
    if n is None:
        n = lengths[value] = counter.count(value)
    return n


def _pairs(messages, aligned, plan, counter, lengths, template) -> Tuple[List[Tuple[float, float]], bool]:
    """(source, target) lengths per turn pair, and whether the template's tokens are in them."""
    if template is not None:
        from lfgate.runner.templates import encode_multiturn

        try:
            encoded = encode_multiturn(_CountingTokenizer(lengths, counter), template, messages, text(aligned.system),
                                       text(aligned.tools), discarding_history_cot=plan.mask_history)
            return [(float(len(s)), float(len(t))) for s, t in encoded], True
        except Exception:  # a function turn that is not a call, bad tools JSON: the text alone
            pass
    head = _count(text(aligned.system), lengths, counter) + _count(text(aligned.tools), lengths, counter)
    pairs = []
    for i in range(0, len(messages) - 1, 2):
        source = _count(text(messages[i].get("content")), lengths, counter) + (head if i == 0 else 0)
        pairs.append((source, _count(text(messages[i + 1].get("content")), lengths, counter)))
    return pairs, False


def _multiturn(messages, aligned, plan: Plan, counter, lengths, template) -> Length:
    """SupervisedDatasetProcessor._encode_data_example (data/processor/supervised.py)."""
    pairs, templated = _pairs(messages, aligned, plan, counter, lengths, template)
    eos = 1 if template is not None and template.efficient_eos else 0
    order = pairs[::-1] if plan.mask_history else pairs  # the last turns have priority for the budget
    kept: List[Tuple[float, float]] = []
    cutoff = plan.cutoff_len
    total: float = eos
    for source, target in order:
        if cutoff is None:
            kept.append((source, target))
            continue
        if total >= cutoff:
            break
        s_kept, t_kept = infer_seqlen(int(round(source)), int(round(target)), cutoff - int(round(total)))
        pair = (min(s_kept, source), min(t_kept, target))
        kept.append(pair)
        total += pair[0] + pair[1]
    if plan.mask_history:
        kept = kept[::-1]
        kept = [(0.0, 0.0)] * (len(pairs) - len(kept)) + kept  # the first turns are the ones dropped
    else:
        kept += [(0.0, 0.0)] * (len(pairs) - len(kept))
    if plan.train_on_prompt:
        response = sum(s + t for s, t in pairs)
    elif plan.mask_history:
        response = pairs[-1][1] if pairs else 0
    else:
        response = sum(t for _, t in pairs)
    total_len = sum(s + t for s, t in pairs) + eos
    return Length(pairs, eos, total_len - response - eos, response + eos, kept, templated)


def _one_turn(aligned, stage: str, plan: Plan, counter, lengths, template) -> Length:
    """rm (pairwise.py: the longer of chosen and rejected), kto (feedback.py) and ppo (unsupervised.py): one turn,
    infer_seqlen(prompt, response, cutoff_len)."""
    if stage == "rm":
        responses = aligned.response[:2]
    elif stage == "kto":
        responses = [m for m in aligned.response if m.get("content")][:1] or aligned.response[:1]
    else:
        responses = aligned.response[:1] if len(aligned.response) == 1 else [{"role": "assistant", "content": ""}]
    eos = 1 if template is not None and template.efficient_eos and stage != "ppo" else 0
    source = target = 0.0
    templated = False
    for response in responses:
        pairs, templated = _pairs(aligned.prompt + [response], aligned, plan, counter, lengths, template)
        if not pairs:
            continue
        source = sum(s for s, _ in pairs) + sum(t for _, t in pairs[:-1])
        target = max(target, pairs[-1][1] + eos)
    pair = (source, target)
    kept = [pair]
    if plan.cutoff_len is not None:
        s_kept, t_kept = infer_seqlen(int(round(source)), int(round(target)), plan.cutoff_len)
        kept = [(min(s_kept, source), min(t_kept, target))]
    return Length([pair], 0, source, target, kept, templated)


# -- plans from a config --------------------------------------------------------------------------------------------
def plan_for(values: dict, *, stage: Optional[str] = None, explicit_tokenizer: Optional[str] = None,
             template: Optional[str] = None, cutoff_len: Optional[int] = None, resolve=None, env=None) -> Plan:
    """The Plan a training config's keys give (stage, cutoff_len, template and its data arguments, packing, the
    model and where its tokenizer is). Arguments given override the config's."""
    from lfgate import hub_cache
    from lfgate.runner.templates import TEMPLATES
    from lfgate.tokens.counters import spec_for

    def flag(key, default=False) -> bool:
        value = values.get(key, default)
        return value if isinstance(value, bool) else default

    name = template if template is not None else values.get("template")
    name = name if isinstance(name, str) and name else None
    stage = stage or values.get("stage", "sft")
    packing = flag("neat_packing") or flag("packing", stage == "pt")
    cutoff = cutoff_len if cutoff_len is not None else values.get("cutoff_len", 2048)
    cutoff = cutoff if isinstance(cutoff, int) and not isinstance(cutoff, bool) and cutoff > 0 else None
    if cutoff is not None and packing:
        cutoff -= 1  # DataArguments.__post_init__: "avoid pad_to_multiple_of"
    model = values.get("model_name_or_path")
    where = hub_cache.where_from_config(values, resolve)
    spec = spec_for(model if isinstance(model, str) else None, template=name, explicit=explicit_tokenizer,
                    where=where, env=env)
    system = values.get("default_system")
    tool_format = values.get("tool_format")
    thinking = values.get("enable_thinking", True)
    limit = values.get("max_samples")
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None
    return Plan(spec, cutoff, name if name in TEMPLATES else None, name,
                system if isinstance(system, str) else None, tool_format if isinstance(tool_format, str) else None,
                thinking if isinstance(thinking, bool) else True, flag("train_on_prompt"), flag("mask_history"),
                packing, limit)


def count_plan(usage, cutoff_len: Optional[int]) -> Plan:
    """The usage's Plan (a config's), else the plan for data no config loads: the estimate for the template's
    family, at cutoff_len, counting message text only unless the usage names a template lfgate models."""
    plan = getattr(usage, "counting", None)
    if plan is not None:
        return plan
    from lfgate.runner.templates import TEMPLATES
    from lfgate.tokens.counters import ESTIMATE
    from lfgate.tokens.families import family_of

    template = getattr(usage, "template", None)
    return Plan(Spec(ESTIMATE, family_of(None, None, template).name), cutoff_len,
                template if template in TEMPLATES else None, template)
