"""LLaMA-Factory's cutoff_len rule, shared by the checker's estimates and the runner's tokenisation.

Mirrors `infer_seqlen` (data/processor/processor_utils.py) and the turn loop of the supervised processor:
each (source, target) turn pair gets what is left of the budget, split between source and target.
"""

from __future__ import annotations

import re
from typing import List, Tuple

# Token estimate per script when no tokenizer is at hand, as a lower bound on the tokens: most text packs at most
# 6 characters into one token (English runs about 4); Chinese, Japanese and Korean run about 1-1.5 characters per
# token with Qwen's tokenizer (Qwen2.5's vocabulary holds common Han words of 1-2 characters), so 6 would miss
# every long CJK answer.
CHARS_PER_TOKEN = 6
CJK_CHARS_PER_TOKEN = 1.5
_CJK = re.compile("[\u1100-\u11ff\u2e80-\u2fdf\u3040-\u30ff\u3100-\u31bf\u3400-\u4dbf\u4e00-\u9fff"
                  "\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


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


def estimate_tokens(text: str) -> int:
    """At least how many tokens `text` is, by script (see CHARS_PER_TOKEN)."""
    if not text:
        return 0
    if text.isascii():
        return -(-len(text) // CHARS_PER_TOKEN)
    cjk = len(_CJK.findall(text))
    return int(-(-((len(text) - cjk) / CHARS_PER_TOKEN + cjk / CJK_CHARS_PER_TOKEN) // 1))


def may_exceed(text: str, chars: int, messages: int, budget_chars: int) -> bool:
    """Whether texts of `chars` characters in `messages` messages may estimate above cutoff_len (budget_chars =
    CHARS_PER_TOKEN * cutoff_len): the fast paths' bound, sound for estimate_tokens. ASCII: chars / 6 per message,
    rounded up; otherwise at most chars / 1.5 + 1 per message."""
    if text.isascii():
        return chars + (CHARS_PER_TOKEN - 1) * messages > budget_chars
    return chars * CHARS_PER_TOKEN / CJK_CHARS_PER_TOKEN + CHARS_PER_TOKEN * messages > budget_chars
