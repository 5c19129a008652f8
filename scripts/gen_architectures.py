"""Generate lfgate/schemas/architectures.json: the few numbers the dry run's memory estimate needs (layers, hidden
size, heads, KV heads, head size, intermediate size, vocabulary, tied embeddings) for hub ids of LLaMA-Factory's
model registry, so that `lfgate train --dry-run` has a number without the model's config.json on disk.

    python scripts/gen_architectures.py FOLDER      # FOLDER: saved public config.json files

FOLDER holds one JSON file per hub id, `ORG__NAME.json`: the model's public config.json as published, with a
`_source` key saying where that copy was read (kept beside the numbers). No number is written by hand here.
Which hub ids get an entry: the file's own id and every id LLaMA-Factory registers under the same model name
(its ModelScope and Modelers mirrors), as `schemas/model_families.json` lists them (generated from
LLaMA-Factory's `register_model_group` calls by scripts/gen_model_families.py). Mixture-of-experts and composite
(vision) configs are left out: the estimate models a dense decoder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lfgate.safe_write import atomic_write  # noqa: E402

OUT = os.path.join(ROOT, "lfgate", "schemas", "architectures.json")
FAMILIES = os.path.join(ROOT, "lfgate", "schemas", "model_families.json")
DENSE = ("qwen2", "qwen3", "llama", "mistral", "gemma", "gemma2")  # q/k/v/o and gate/up/down decoders
MOE_KEYS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_intermediate_size")


def numbers(config: dict) -> dict:
    """The estimate's numbers from one config.json; ValueError when it is not a dense decoder we model."""
    model_type = config.get("model_type")
    if model_type not in DENSE or any(config.get(k) for k in MOE_KEYS):
        raise ValueError(f"model_type {model_type!r} is not a dense decoder the estimate models")
    heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    return {
        "model_type": model_type,
        "layers": int(config["num_hidden_layers"]),
        "hidden": hidden,
        "heads": heads,
        "kv_heads": int(config.get("num_key_value_heads") or heads),
        "head_dim": int(config.get("head_dim") or hidden // heads),
        "intermediate": int(config["intermediate_size"]),
        "vocab": int(config["vocab_size"]),
        "tied_embeddings": bool(config.get("tie_word_embeddings", False)),
        # the attention projections' bias: Qwen2's q/k/v always have one (transformers' Qwen2Attention)
        "attention_bias": model_type == "qwen2" or bool(config.get("attention_bias", False)),
    }


def registry_ids(hub_id: str, registry: dict) -> list:
    """hub_id and the ids LLaMA-Factory registers under the same model name (ModelScope, Modelers mirrors)."""
    key = hub_id.lower()
    name = registry[key]["name"] if key in registry else hub_id.split("/", 1)[1]
    # Meta renamed its 3.1 repositories (Meta-Llama-3.1-8B -> Llama-3.1-8B; the hub redirects the old name)
    names = {name.lower(), name.lower().removeprefix("meta-")}
    same = [k for k, v in registry.items() if v["name"].lower().removeprefix("meta-") in names]
    return sorted(set([key] + same)) if key in registry or same else []


def build(folder: str) -> dict:
    with open(FAMILIES, encoding="utf-8") as f:
        registry = json.load(f)["hub_ids"]
    models, skipped = {}, []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json") or "__" not in name:
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            config = json.load(f)
        hub_id = name[:-len(".json")].replace("__", "/", 1)
        try:
            entry = numbers(config)
        except (ValueError, KeyError, TypeError) as err:
            skipped.append(f"{hub_id}: {err}")
            continue
        ids = registry_ids(hub_id, registry)
        if not ids:
            skipped.append(f"{hub_id}: not in LLaMA-Factory's registry")
            continue
        entry["source"] = f"{hub_id} config.json, as copied in {config.get('_source', 'an unnamed public copy')}"
        for key in ids:
            models[key] = dict(entry, hub_id=hub_id)
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    return {"description": "Architecture numbers for the dry run's memory estimate, by lower-cased hub id "
                           "(scripts/gen_architectures.py, from public config.json files)",
            "models": dict(sorted(models.items()))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="saved public config.json files, ORG__NAME.json")
    parser.add_argument("--output", default=OUT)
    args = parser.parse_args(argv)
    table = build(args.folder)
    text = json.dumps(table, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write(args.output, text, force=True)
    print(f"{len(table['models'])} hub ids -> {os.path.relpath(args.output, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
