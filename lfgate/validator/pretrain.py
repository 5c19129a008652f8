"""LK102: pre-training data with less text than one `cutoff_len` block, so nothing is trained.

LLaMA-Factory 0.9.5 packs `stage: pt` by default (hparams/parser.py:520) and then cuts `cutoff_len` by one
(data_args.py:189). The pretrain processor concatenates each map batch's texts, each followed by the eos token,
and keeps only whole blocks of that size (data/processor/pretrain.py:39-47): the rest of every batch is dropped.
With less text than one block the dataset is empty and get_dataset raises `RuntimeError: Cannot find sufficient
samples, consider increasing dataset size.` (data/loader.py:268-269), after tokenization; confirmed with
LLaMA-Factory itself (tests/test_what_trains_vs_llamafactory.py).

No tokenizer is needed for certainty: a byte-level or byte-fallback tokenizer never makes fewer than one byte of
text into a token, so the data files' size plus one eos token per sample bounds the token count from above.
"""

from __future__ import annotations

import os
from typing import Iterator, Optional

from lfgate.lf_facts import split_names
from lfgate.registry import ERROR, rule
from lfgate.validator.example_kit import BASE_CONFIG

# Text formats, where a file's bytes are at least its text's UTF-8 bytes (JSON escapes and CSV quotes only add).
_TEXT_FORMATS = (".json", ".jsonl", ".csv", ".txt", ".tsv")
_PT = BASE_CONFIG.replace("stage: sft", "stage: pt")
_REG = '{"c": {"file_name": "c.json", "columns": {"prompt": "text"}}}\n'
_TEXT = '[{"text": "A short text."}, {"text": "Another one."}]\n'

BELOW_BLOCK = rule(
    "LK102", "pretrain-text-below-block", ERROR, "Pre-training data with less text than one `cutoff_len` block",
    why="`stage: pt` packs the text into blocks of `cutoff_len - 1` tokens and drops what does not fill a block "
        "(data/processor/pretrain.py:39-47): with less text than one block nothing is left, and LLaMA-Factory "
        "raises `Cannot find sufficient samples, consider increasing dataset size.` after tokenization "
        "(data/loader.py:269). The bound is certain: the data files' bytes plus one eos token per sample.",
    fix="Add text, or lower `cutoff_len` below the dataset's token count.",
    bad={"train.yaml": _PT + "dataset: c\n", "data/dataset_info.json": _REG, "data/c.json": _TEXT},
    good={"train.yaml": _PT + "dataset: c\ncutoff_len: 8\n", "data/dataset_info.json": _REG, "data/c.json": _TEXT},
    target="train.yaml",
)


def _text_bytes(entry) -> Optional[int]:
    """The bytes of the entry's data files, when every one is a text format; None otherwise."""
    local = getattr(entry, "local_path", None)
    if not local or not os.path.exists(local):
        return None
    paths = [local] if os.path.isfile(local) else [os.path.join(d, n) for d, _, names in os.walk(local)
                                                   for n in names if not n.startswith(".")]
    if not paths or not all(p.lower().endswith(_TEXT_FORMATS) for p in paths):
        return None
    try:
        return sum(os.path.getsize(p) for p in paths)
    except OSError:
        return None


def check(config, registry, used) -> Iterator:
    v = config.values
    if config.get("stage", "sft") != "pt" or not config.get("do_train", False) or v.get("streaming"):
        return
    if v.get("packing") is False or v.get("tokenized_path"):
        return  # unpacked: each sample is a row; a tokenized cache: LK100
    cutoff = config.get("cutoff_len", 2048)
    if not isinstance(cutoff, int) or isinstance(cutoff, bool) or cutoff <= 1:
        return
    block = cutoff - 1  # data_args.py: packing takes one token off cutoff_len
    total, samples = 0, 0
    for name in split_names(v.get("dataset")):
        entry = getattr(registry, "entries", {}).get(name) if registry is not None else None
        result = used.get(name)
        size = _text_bytes(entry) if entry is not None else None
        if size is None or result is None:
            return  # a hub dataset, a binary format or an unread file: the bound is unknown
        total += size
        samples += getattr(result, "samples", 0) or 0
    bound = total + samples  # every token takes at least one byte of text; one eos per sample
    if samples and bound < block:
        yield BELOW_BLOCK.diag(
            f"the pre-training data has at most {bound} tokens ({total} bytes of data files and {samples} eos "
            f"tokens), less than one block of `cutoff_len: {cutoff}` - 1 = {block} tokens: packing keeps no block "
            "and LLaMA-Factory raises `Cannot find sufficient samples, consider increasing dataset size.` after "
            f"tokenization. Add text, or lower cutoff_len below {bound}", **config.where("cutoff_len", "dataset"))
