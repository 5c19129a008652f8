"""`packing` and `neat_packing` for stage sft, as LLaMA-Factory 0.9.5 packs (data/processor/supervised.py
PackedSupervisedDatasetProcessor, processor_utils.greedy_knapsack, data/collator.py).

- With packing, DataArguments lowers cutoff_len by one (data_args.py:188), so each sample is encoded to at most
  ``cutoff_len - 1`` tokens and every pack is padded to exactly ``cutoff_len``.
- Packs are built per preprocessing batch: `datasets.map(batched=True, batch_size=preprocessing_batch_size,
  num_proc=preprocessing_num_workers)` hands the processor contiguous shards cut into batches, and the greedy
  knapsack never mixes two batches. `chunks` reproduces those boundaries from each sample's row.
- Each sample keeps its own position ids (0, 1, ...). Plain packing attends across the samples of a pack (a 2-D
  mask of ones, padding included); neat packing numbers the samples 1, 2, ... in the attention mask (padding 0),
  which the collator turns into a block-diagonal causal 4-D mask (`block_diag_mask`), or, with FlashAttention-2,
  drops in favour of the position ids (`unpad_for_varlen`).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

from lfgate.runner.tokenize import IGNORE_INDEX


def packing_enabled(config) -> Tuple[bool, bool]:
    """(packing, neat_packing) as LLaMA-Factory resolves them: neat_packing turns packing on; packing defaults to
    stage == pt (data_args.py:185, parser.py:520)."""
    neat = bool(config.get("neat_packing", False))
    packing = config.values.get("packing")
    if packing is None:
        packing = config.get("stage", "sft") == "pt"
    return bool(packing) or neat, neat


def encode_cutoff(cutoff_len: int, packing: bool) -> int:
    """The cutoff_len samples are encoded with: one less with packing (data_args.py:188)."""
    return cutoff_len - 1 if packing else cutoff_len


def greedy_knapsack(numbers: List[int], capacity: int) -> List[List[int]]:
    """processor_utils.greedy_knapsack: repeatedly fill a pack with the largest length that still fits."""
    numbers = sorted(numbers)
    knapsacks = []
    while numbers:
        current, remaining = [], capacity
        while True:
            index = bisect.bisect(numbers, remaining) - 1
            if index < 0:
                break
            remaining -= numbers[index]
            current.append(numbers.pop(index))
        knapsacks.append(current)
    return knapsacks


def chunks(rows: Sequence[int], n_rows: int, batch_size, num_proc) -> List[List[int]]:
    """Indexes into ``rows`` grouped by the `datasets.map` batch their row falls in.

    n_rows: rows in the split (dropped samples included); batch_size None or <= 0 maps one batch per shard;
    num_proc above the row count is lowered to it (arrow_dataset.py map), shards are contiguous (shard())."""
    shards = 1 if not num_proc or int(num_proc) <= 1 else min(int(num_proc), max(n_rows, 1))
    div, mod = divmod(n_rows, shards)
    starts = [div * i + min(i, mod) for i in range(shards)]
    size = int(batch_size) if batch_size and int(batch_size) > 0 else None
    groups: Dict[Tuple[int, int], List[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        shard = bisect.bisect_right(starts, row) - 1
        offset = row - starts[shard]
        groups[(shard, offset // size if size else 0)].append(i)
    return [groups[key] for key in sorted(groups)]


def pack_batch(features: List[dict], cutoff_len: int, pad_token_id: int, neat: bool) -> List[dict]:
    """One preprocessing batch of encoded samples -> packs of exactly cutoff_len tokens (the YAML's value).

    features: dicts with input_ids and labels, each at most cutoff_len - 1 tokens long."""
    capacity = cutoff_len - 1
    lengths: List[int] = []
    by_length: Dict[int, List[int]] = defaultdict(list)
    kept: List[dict] = []
    for feature in features:
        length = len(feature["input_ids"])
        if length > capacity:  # "Dropped lengthy example" (cannot happen after truncation; kept for parity)
            continue
        lengths.append(length)
        by_length[length].append(len(kept))
        kept.append(feature)
    packs = []
    for knapsack in greedy_knapsack(lengths, capacity):
        input_ids: List[int] = []
        labels: List[int] = []
        attention: List[int] = []
        positions: List[int] = []
        for i, length in enumerate(knapsack):
            feature = kept[by_length[length].pop()]
            input_ids += feature["input_ids"]
            labels += feature["labels"]
            positions += list(range(length))
            attention += [i + 1 if neat else 1] * length
        pad = capacity - len(input_ids) + 1
        input_ids += [pad_token_id] * pad
        labels += [IGNORE_INDEX] * pad
        positions += [0] * pad
        attention += [0 if neat else 1] * pad
        packs.append({"input_ids": input_ids, "attention_mask": attention, "position_ids": positions,
                      "labels": labels, "samples": len(knapsack)})
    return packs


def pack(features: List[dict], rows: Sequence[int], n_rows: int, cutoff_len: int, pad_token_id: int, neat: bool,
         batch_size=1000, num_proc=None) -> List[dict]:
    """All packs of a split, in LLaMA-Factory's order (batch by batch)."""
    out: List[dict] = []
    for group in chunks(rows, n_rows, batch_size, num_proc):
        out += pack_batch([features[i] for i in group], cutoff_len, pad_token_id, neat)
    return out


def block_diag_mask(indices, dtype):
    """collator.prepare_4d_attention_mask: (batch, seq) sample numbers -> (batch, 1, seq, seq) additive mask, 0
    where a token may attend (same sample, not later, not padding), the dtype's minimum elsewhere."""
    import torch

    seq_len = indices.size(1)
    allowed = (indices.unsqueeze(1).unsqueeze(2) == indices.unsqueeze(1).unsqueeze(3))
    allowed &= (indices != 0).unsqueeze(1).unsqueeze(2)
    allowed &= torch.tril(torch.ones((seq_len, seq_len), dtype=torch.bool))
    return torch.where(allowed, torch.tensor(0, dtype=dtype), torch.finfo(dtype).min)


def unpad_for_varlen(batch: dict) -> dict:
    """FlashAttention-2 (collator.py _unpad_packed_features): a batch of one pack loses its padding and its attention
    mask; the position ids, restarting at each sample, give transformers the varlen boundaries. LLaMA-Factory
    asserts the batch is one pack (rules.py refuses more before launch)."""
    if batch["input_ids"].shape[0] != 1:
        raise ValueError("bsz should be 1 for neat packing with FlashAttention-2 (rule RN022)")
    keep = batch["attention_mask"][0] != 0
    out = {key: batch[key][:, keep] for key in ("input_ids", "labels", "position_ids")}
    out["attention_mask"] = None
    return out
