"""`lfgate train --dry-run`: what the run would do, without loading weights.

Counts come from the same data path as training (runner/data.py) and the tokenizer; LoRA parameters from the
model's config.json, built on torch's meta device (no memory, no weights); the memory figure is an estimate.
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Optional

from lfgate.runner.config import RunConfig
from lfgate.runner.devices import Machine, Precision

_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}


def steps(n_train: int, config: RunConfig, world_size: int) -> Dict[str, int]:
    """Optimizer steps per epoch and in total, as transformers' Trainer computes them."""
    batch = int(config.get("per_device_train_batch_size", 8))
    accum = int(config.get("gradient_accumulation_steps", 1))
    batches = math.ceil(n_train / (batch * world_size)) if n_train else 0
    if config.get("dataloader_drop_last", False):
        batches = n_train // (batch * world_size)
    per_epoch = max(batches // accum + int(batches % accum > 0), 1) if batches else 0
    max_steps = int(config.get("max_steps", -1))
    total = max_steps if max_steps > 0 else math.ceil(float(config.get("num_train_epochs", 3.0)) * per_epoch)
    return {"per_epoch": per_epoch, "total": total, "batch_per_step": batch * accum * world_size}


def lora_parameters(config: RunConfig) -> Optional[Dict[str, int]]:
    """Trainable (LoRA) and total parameters, from config.json on the meta device; None without a config."""
    from lfgate.runner.recipe import linear_module_names, model_path

    folder = model_path(config) if os.path.isdir(str(config.values.get("model_name_or_path") or "")) else None
    if folder is None or not os.path.isfile(os.path.join(folder, "config.json")):
        return None
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError:  # no train extra: the plan goes without parameter counts
        return None

    model_config = AutoConfig.from_pretrained(folder, trust_remote_code=bool(config.get("trust_remote_code", False)))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config)
    targets = config.lora_target
    if "all" in targets:
        targets = linear_module_names(model)
    rank, trainable = config.lora_rank, 0
    for name, module in model.named_modules():
        if name.split(".")[-1] in targets and hasattr(module, "in_features") and "lm_head" not in name:
            trainable += rank * (module.in_features + module.out_features)
            if config.get("use_dora", False):
                trainable += module.out_features
    for name in config.additional_target or []:
        module = dict(model.named_modules()).get(name) or next(
            (m for n, m in model.named_modules() if n.split(".")[-1] == name), None)
        if module is not None:
            trainable += sum(p.numel() for p in module.parameters())
    total = sum(p.numel() for p in model.parameters())
    hidden = getattr(model_config, "hidden_size", 0) or 0
    layers = getattr(model_config, "num_hidden_layers", 0) or 0
    vocab = getattr(model_config, "vocab_size", 0) or 0
    return {"trainable": trainable, "total": total, "hidden": hidden, "layers": layers, "vocab": vocab}


def memory_estimate(params: Dict[str, int], precision: Precision, batch: int, seq_len: int,
                    checkpointing: bool) -> Dict[str, float]:
    """GiB per device: frozen weights, LoRA weights + grads + Adam state (fp32), activations (rough)."""
    gib = 1024 ** 3
    act_bytes = _BYTES[precision.dtype]
    weights = params["total"] * act_bytes / gib
    adapter = params["trainable"] * 4 * 4 / gib  # weight, grad, two Adam moments
    per_layer = 34 if not checkpointing else 2  # tensors of size hidden kept per token per layer (rough)
    activations = batch * seq_len * params["hidden"] * params["layers"] * per_layer * act_bytes / gib
    logits = batch * seq_len * params["vocab"] * 4 * 2 / gib  # fp32 logits and their gradient
    total = weights + adapter + activations + logits
    return {"weights": weights, "adapter": adapter, "activations": activations + logits, "total": total * 1.1}


def make_plan(config: RunConfig, machine: Machine, precision: Precision, world_size: int, train_samples: List,
              eval_samples: List, per_dataset: Dict[str, int], tokenizer=None) -> dict:
    plan: Dict[str, Any] = {
        "device": {"kind": machine.kind, "count": machine.count, "names": machine.names, "dtype": precision.dtype,
                   "world_size": world_size, "note": precision.note},
        "samples": {"per_dataset": per_dataset, "train": len(train_samples), "eval": len(eval_samples)},
        "steps": steps(len(train_samples), config, world_size),
    }
    longest = None
    if tokenizer is not None:
        from lfgate.runner.recipe import build_template, data_options, tokenize

        template, _ = build_template(config, tokenizer)
        features = tokenize(train_samples, tokenizer, template, data_options(config))
        lengths = [len(f["input_ids"]) for f in features]
        trained = sum(sum(1 for x in f["labels"] if x != -100) for f in features)
        longest = max(lengths) if lengths else 0
        epochs = plan["steps"]["total"] / max(plan["steps"]["per_epoch"], 1)
        plan["tokens"] = {"per_epoch": sum(lengths), "trained_per_epoch": trained, "longest": longest,
                          "mean": round(sum(lengths) / len(lengths), 1) if lengths else 0,
                          "total": int(sum(lengths) * epochs)}
    params = lora_parameters(config)
    if params is not None:
        everything = params["total"] + params["trainable"]  # as peft counts: base plus adapter
        plan["lora"] = {"trainable": params["trainable"], "total": everything,
                        "percent": round(100 * params["trainable"] / max(everything, 1), 4),
                        "rank": config.lora_rank, "alpha": config.lora_alpha, "target": config.lora_target}
        seq = min(longest or int(config.get("cutoff_len", 2048)), int(config.get("cutoff_len", 2048)))
        seq = int(math.ceil(seq / 8) * 8)
        memory = memory_estimate(params, precision, int(config.get("per_device_train_batch_size", 8)), seq,
                                 config.gradient_checkpointing)
        plan["memory_gib"] = {k: round(v, 6) for k, v in memory.items()}
    return plan


def render_text(plan: dict) -> str:
    d, s, st = plan["device"], plan["samples"], plan["steps"]
    lines = ["plan (dry run, no weights loaded):",
             f"  device     {d['kind']} x{d['count']} ({', '.join(d['names'])}), {d['dtype']}"
             + (f", {d['world_size']} processes via torchrun" if d["world_size"] > 1 else ""),
             "  samples    " + ", ".join(f"{k}: {v}" for k, v in s["per_dataset"].items())
             + f" -> train {s['train']}, eval {s['eval']}",
             f"  steps      {st['per_epoch']} per epoch, {st['total']} in total ({st['batch_per_step']} samples per step)"]
    if "tokens" in plan:
        t = plan["tokens"]
        lines.append(f"  tokens     {t['per_epoch']:,} per epoch ({t['trained_per_epoch']:,} trained), "
                     f"mean {t['mean']}, longest {t['longest']}, {t['total']:,} in total")
    if "lora" in plan:
        lo = plan["lora"]
        lines.append(f"  lora       rank {lo['rank']}, alpha {lo['alpha']}, {lo['trainable']:,} trainable parameters "
                     f"of {lo['total']:,} ({lo['percent']}%) on {', '.join(lo['target'])}")
    if "memory_gib" in plan:
        m = plan["memory_gib"]
        lines.append(f"  memory     ~{_size(m['total'])} per device (weights {_size(m['weights'])}, adapter and "
                     f"optimizer {_size(m['adapter'])}, activations {_size(m['activations'])}; an estimate)")
    return "\n".join(lines) + "\n"


def _size(gib: float) -> str:
    return f"{gib:.2f} GiB" if gib >= 1 else f"{gib * 1024:.1f} MiB"
