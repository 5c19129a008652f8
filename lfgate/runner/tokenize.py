"""One aligned sample -> input_ids and labels, as LLaMA-Factory's SupervisedDatasetProcessor builds them.

Turn pairs come from the template; cutoff_len is shared between them by the same rule as LLaMA-Factory
(lfgate/truncation.py); prompts (and, with mask_history, earlier turns) get IGNORE_INDEX labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

from lfgate.runner.templates import Template, encode_multiturn
from lfgate.truncation import infer_seqlen

IGNORE_INDEX = -100


@dataclass(frozen=True)
class DataOptions:
    """The data arguments that change tokenisation (LLaMA-Factory's defaults)."""

    cutoff_len: int = 2048
    train_on_prompt: bool = False
    mask_history: bool = False


def is_valid(prompt: list, response: list) -> bool:
    """LLaMA-Factory drops a sample unless it has an odd number of prompt messages and one response."""
    return len(prompt) % 2 == 1 and len(response) == 1


def encode_sample(tokenizer, template: Template, prompt: list, response: list, system: Optional[str],
                  tools: Optional[str], options: DataOptions) -> Tuple[List[int], List[int]]:
    """input_ids and labels of one valid sample (see is_valid)."""
    pairs = encode_multiturn(tokenizer, template, prompt + response, system, tools,
                             discarding_history_cot=options.mask_history)
    eos = tokenizer.eos_token_id
    total = 1 if template.efficient_eos else 0
    if options.mask_history:
        pairs = pairs[::-1]  # the last turns have priority for the budget
    input_ids: List[int] = []
    labels: List[int] = []
    for turn, (source, target) in enumerate(pairs):
        if total >= options.cutoff_len:
            break
        source_len, target_len = infer_seqlen(len(source), len(target), options.cutoff_len - total)
        source, target = source[:source_len], target[:target_len]
        total += source_len + target_len
        if options.train_on_prompt:
            source_label = source
        elif template.efficient_eos and turn != 0:
            source_label = [eos] + [IGNORE_INDEX] * (source_len - 1)
        else:
            source_label = [IGNORE_INDEX] * source_len
        target_label = [IGNORE_INDEX] * target_len if options.mask_history and turn != 0 else target
        if options.mask_history:  # pairs are reversed: prepend
            input_ids = source + target + input_ids
            labels = source_label + target_label + labels
        else:
            input_ids += source + target
            labels += source_label + target_label
    if template.efficient_eos:
        input_ids += [eos]
        labels += [eos]
    return input_ids, labels
