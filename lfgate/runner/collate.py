"""Features -> a batch, as LLaMA-Factory's SFTDataCollatorWith4DAttentionMask builds it for text samples.

Right padding to a multiple of 8 (pad_to_multiple_of=8 when do_train, sft/workflow.py), labels padded with
IGNORE_INDEX. Packed features also carry position ids; with neat packing their attention mask holds sample numbers,
which become a block-diagonal 4-D mask in the compute dtype (or no mask, with FlashAttention-2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lfgate.runner.tokenize import IGNORE_INDEX


@dataclass
class Collator:
    pad_token_id: int
    pad_to_multiple_of: int = 8
    neat_packing: bool = False
    attn_implementation: str = "sdpa"
    compute_dtype: str = "fp32"

    def __call__(self, features):
        import torch

        longest = max(len(f["input_ids"]) for f in features)
        size = int(math.ceil(longest / self.pad_to_multiple_of) * self.pad_to_multiple_of)
        keys = ["input_ids", "attention_mask", "labels"] + (["position_ids"] if "position_ids" in features[0] else [])
        fill = {"input_ids": self.pad_token_id, "attention_mask": 0, "labels": IGNORE_INDEX, "position_ids": 0}
        batch = {k: [f[k] + [fill[k]] * (size - len(f[k])) for f in features] for k in keys}
        out = {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}
        if self.neat_packing:
            from lfgate.runner.packing import block_diag_mask, unpad_for_varlen

            if self.attn_implementation == "flash_attention_2":
                return unpad_for_varlen(out)
            dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.compute_dtype, torch.float32)
            out["attention_mask"] = block_diag_mask(out["attention_mask"], dtype)
        return out
