"""Parameter counts for a hub id with no config.json on disk, from lfgate's shipped architecture table.

The table is lfgate/schemas/architectures.json (scripts/gen_architectures.py, from the models' public config.json
files): for hub ids of LLaMA-Factory's registry, the numbers of a dense decoder with q/k/v/o attention and a
gate/up/down MLP (Qwen2, Qwen3, Llama, Mistral, Gemma). The counts are what transformers builds for those numbers
(tests/test_npu_plan.py compares them with the model built on the meta device). No torch.
"""

from __future__ import annotations

import functools
import os
from typing import Iterable, Optional

_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas", "architectures.json")
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


@functools.lru_cache(maxsize=1)
def table() -> dict:
    from lfgate.readers import guarded

    return (guarded.read_json_object(_DATA) or {}).get("models", {})


def lookup(hub_id: str) -> Optional[dict]:
    """The table's entry for a hub id (case as the hub ignores it), or None."""
    return table().get(hub_id.strip().lower()) if isinstance(hub_id, str) else None


def linear_shapes(entry: dict) -> dict:
    """(in_features, out_features) of each projection of one decoder layer."""
    hidden, inner = entry["hidden"], entry["intermediate"]
    q, kv = entry["heads"] * entry["head_dim"], entry["kv_heads"] * entry["head_dim"]
    return {"q_proj": (hidden, q), "k_proj": (hidden, kv), "v_proj": (hidden, kv), "o_proj": (q, hidden),
            "gate_proj": (hidden, inner), "up_proj": (hidden, inner), "down_proj": (inner, hidden)}


def total_parameters(entry: dict) -> int:
    """Every parameter transformers creates: projections (with Qwen2's q/k/v bias), norms, embeddings, lm_head."""
    hidden, vocab, layers = entry["hidden"], entry["vocab"], entry["layers"]
    shapes = linear_shapes(entry)
    per_layer = sum(i * o for i, o in shapes.values()) + 2 * hidden  # input and post-attention norms
    if entry.get("attention_bias"):
        per_layer += sum(shapes[name][1] for name in ("q_proj", "k_proj", "v_proj"))
    if entry.get("model_type") == "qwen3":
        per_layer += 2 * entry["head_dim"]  # q_norm, k_norm
    if entry.get("model_type") == "gemma2":
        per_layer += 2 * hidden  # pre- and post-feedforward norms
    embeddings = vocab * hidden * (1 if entry["tied_embeddings"] else 2)
    return layers * per_layer + embeddings + hidden  # the final norm


def lora_parameters(entry: dict, targets: Iterable[str], rank: int, dora: bool = False,
                    additional: Iterable[str] = ()) -> int:
    """Trainable parameters of a LoRA (or DoRA) adapter on `targets` (`all`: every projection, as LLaMA-Factory's
    find_all_linear_modules picks them), plus the modules_to_save in `additional`."""
    targets = set(targets)
    names = ATTENTION + MLP if "all" in targets else [n for n in ATTENTION + MLP if n in targets]
    shapes = linear_shapes(entry)
    per_layer = sum(rank * (shapes[n][0] + shapes[n][1]) + (shapes[n][1] if dora else 0) for n in names)
    extra = sum(entry["vocab"] * entry["hidden"] for name in set(additional) if name in ("embed_tokens", "lm_head"))
    return entry["layers"] * per_layer + extra
