"""Real tokenizers built offline for the token-count tests, and small datasets of each make-up.

``qwen25_tokenizer()`` builds Qwen2.5's tokenizer as transformers builds one from a BPE rank file (the tiktoken
conversion: merges recovered from the ranks, Qwen2's pre-tokenizer regex, NFC, its 22 added tokens) from the
byte-level BPE that quicktok-v1 ships, with the `tokenizers` library: an independent engine over the same
vocabulary, so lfgate's counts (through quicktok) are compared with what LLaMA-Factory's tokenizer gives.
With ../shared/tokenizers/qwen2.5/tokenizer.json present (transformers' own build from Qwen2's vocab.json and
merges.txt), the oracle tests compare with that one too.
"""

from __future__ import annotations

import functools
import glob
import os
import random
import sys
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QWEN2_SPLIT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
               r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
QWEN25_ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
                "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]
SHARED_QWEN = os.path.join(ROOT, "..", "shared", "tokenizers", "qwen2.5", "tokenizer.json")


def _byte_chars() -> Dict[int, str]:
    """GPT-2's byte -> printable character map (ByteLevel)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


@functools.lru_cache(maxsize=1)
def qwen25_tokenizer():
    """A `tokenizers` Tokenizer equal to Qwen2.5's, from quicktok's Qwen vocabulary (ranks -> merges)."""
    import quicktok
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers

    encoding = quicktok.get_encoding("qwen3")
    ranks: Dict[bytes, int] = {}
    for i in range(151643):
        ranks[encoding.decode_single_token_bytes(i)] = i
    chars = _byte_chars()

    def spelled(token: bytes) -> str:
        return "".join(chars[b] for b in token)

    merges = []
    for token, rank in ranks.items():
        if len(token) == 1:
            continue
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            if ranks.get(left, rank) < rank and ranks.get(right, rank) < rank:
                merges.append((ranks[left], ranks[right], rank, spelled(left), spelled(right)))
    merges.sort(key=lambda m: (m[2], m[0], m[1]))
    vocab = {spelled(token): rank for token, rank in ranks.items()}
    model = models.BPE(vocab, [(m[3], m[4]) for m in merges], byte_fallback=False)
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(pattern=__import__("tokenizers").Regex(QWEN2_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=t not in ("<tool_call>", "</tool_call>"), normalized=False)
                                  for t in QWEN25_ADDED])
    return tokenizer


def save_qwen25(path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    qwen25_tokenizer().save(path)
    return path


# -- datasets of each make-up ---------------------------------------------------------------------------------------
def _calibration_texts():
    sys.path.insert(0, os.path.join(ROOT, "scripts", "token_calibration"))
    import texts  # noqa: E402

    return texts


def made_up(kind: str, samples: int = 120, seed: int = 7) -> List[dict]:
    """Alpaca records of one make-up (seeds apart from the calibration's): English, code or mixed."""
    texts = _calibration_texts()
    rng = random.Random(seed)
    if kind == "English":
        pool = texts._chunks(sorted(glob.glob(os.path.join(ROOT, "*.md")) + glob.glob(os.path.join(ROOT, "docs",
                                                                                                   "*.md"))),
                             rng, samples * 2)
    elif kind == "code":
        pool = texts._chunks(sorted(glob.glob(os.path.join(ROOT, "lfgate", "**", "*.py"), recursive=True)), rng,
                             samples * 2)
    else:
        lines = texts._lines("mixed.txt") + texts._lines("prose_zh.txt")[:4]
        pool = [texts._joined(lines, rng, 300, 4000) for _ in range(samples * 2)]
    return [{"instruction": pool[2 * i], "input": "", "output": pool[2 * i + 1]} for i in range(samples)]
