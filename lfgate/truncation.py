"""LLaMA-Factory's cutoff_len rule, shared by the checker's counts and the runner's tokenisation.

Mirrors `infer_seqlen` (data/processor/processor_utils.py) and the turn loop of the supervised processor:
each (source, target) turn pair gets what is left of the budget, split between source and target.

The fast paths' gate on it, sound for the count lfgate reports, is lfgate/tokens/budget.py.
"""

from __future__ import annotations

from typing import List, Tuple


def infer_seqlen(source_len: int, target_len: int, cutoff_len: int) -> Tuple[int, int]:
    """How many source and target tokens of one turn pair survive a budget of cutoff_len tokens."""
    if target_len * 2 < cutoff_len:  # truncate source
        max_target_len = cutoff_len
    elif source_len * 2 < cutoff_len:  # truncate target
        max_target_len = cutoff_len - source_len
    else:  # truncate both, in proportion
        max_target_len = int(cutoff_len * (target_len / (source_len + target_len)))
    new_target_len = min(max_target_len, target_len)
    max_source_len = max(cutoff_len - new_target_len, 0)
    new_source_len = min(max_source_len, source_len)
    return new_source_len, new_target_len


def truncate_turns(pairs: List[Tuple[int, int]], cutoff_len: int) -> List[Tuple[int, int]]:
    """Kept (source, target) lengths per turn pair, in order; pairs past the budget are dropped."""
    kept, total = [], 0
    for source_len, target_len in pairs:
        if total >= cutoff_len:
            break
        s, t = infer_seqlen(source_len, target_len, cutoff_len - total)
        kept.append((s, t))
        total += s + t
    return kept
