"""`lfgate train --dry-run`: what the run would do, without loading weights.

Counts come from the same data path as training (runner/data.py) and the tokenizer; LoRA parameters from the
model's config.json, built on torch's meta device (no memory, no weights); the memory figure is an estimate.
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Optional, TypedDict

from lfgate.runner.config import RunConfig
from lfgate.runner.devices import Machine, Precision

_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}


class StepBudget(TypedDict, total=False):
    """steps(): the numbers, or `problem` and the `key` at fault (with per_epoch and batch_per_step when only the
    epochs are wrong)."""
    problem: str
    key: str
    per_epoch: int
    total: int
    batch_per_step: int


class ParameterCounts(TypedDict, total=False):
    """lora_parameters(): the counts, or `skipped` (why; `finding` when the config.json itself is at fault)."""
    skipped: str
    finding: bool
    trainable: int
    total: int
    hidden: int
    layers: int
    vocab: int
    source: str  # where the numbers came from, when not the local config.json


def steps(n_train: int, config: RunConfig, world_size: int) -> StepBudget:
    """Optimizer steps per epoch and in total, as transformers' Trainer computes them; with `problem` (and no
    numbers) when the batch, accumulation or epochs cannot give a finite, positive run."""
    shape = []
    for key, default in (("per_device_train_batch_size", 8), ("gradient_accumulation_steps", 1)):
        value = config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return {"problem": f"`{key}: {value}` is not a positive whole number: no step budget", "key": key}
        shape.append(value)
    batch, accum = shape
    world_size = max(int(world_size), 1)
    batches = math.ceil(n_train / (batch * world_size)) if n_train else 0
    if config.get("dataloader_drop_last", False):
        batches = n_train // (batch * world_size)
    per_epoch = max(batches // accum + int(batches % accum > 0), 1) if batches else 0
    max_steps = config.get("max_steps", -1)
    max_steps = max_steps if isinstance(max_steps, int) and not isinstance(max_steps, bool) else -1
    if max_steps > 0:
        total = max_steps
    else:
        epochs = config.get("num_train_epochs", 3.0)
        if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not math.isfinite(epochs) \
                or epochs <= 0:
            return {"problem": f"`num_train_epochs: {epochs}` without max_steps gives no finite, positive number "
                               "of optimizer steps", "key": "num_train_epochs",
                    "per_epoch": per_epoch, "batch_per_step": batch * accum * world_size}
        total = math.ceil(float(epochs) * per_epoch)
    return {"per_epoch": per_epoch, "total": total, "batch_per_step": batch * accum * world_size}


def _read_config(folder: str) -> Optional[dict]:
    from lfgate.readers import guarded

    return guarded.read_json_object(os.path.join(folder, "config.json"))  # regular files only, size-capped


def lora_parameters(config: RunConfig, trust_remote_code: bool = False) -> ParameterCounts:
    """Trainable (LoRA) and total parameters, from config.json on the meta device; {"skipped": why} when the plan
    goes without them. The model folder's own code (auto_map) runs only with trust_remote_code from the command
    line: a dry run executes nothing the YAML alone asks for."""
    from lfgate.runner.recipe import linear_module_names, model_path

    folder = model_path(config) if os.path.isdir(str(config.values.get("model_name_or_path") or "")) else None
    source = None
    if folder is None:  # a hub id: its config.json in a local hub cache, else lfgate's architecture table
        from lfgate import hub_cache

        found = hub_cache.find_config(str(config.values.get("model_name_or_path") or ""),
                                      **hub_cache.where_from_config(config.values))
        if found is not None:
            folder, source = os.path.dirname(found.path), f"config.json from {found.where}"
    info = _read_config(folder) if folder else None
    if not folder or info is None:
        return _from_table(config) if not folder else {"skipped": "no local config.json"}
    from lfgate.validator.model_folder import model_config_problem

    problem = model_config_problem(info)
    if problem:
        return {"skipped": f"{folder}/config.json: {problem[1]}", "finding": True}
    rank = config.values.get("lora_rank", 8)
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        return {"skipped": f"`lora_rank: {rank}` is not a positive whole number"}
    if info.get("auto_map") and not trust_remote_code:
        return {"skipped": "the model's config.json names its own code (auto_map): parameter counts need "
                           "--trust-remote-code on the command line (the YAML's trust_remote_code is not enough "
                           "for a dry run)"}
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError:  # no train extra: the plan goes without parameter counts
        return {"skipped": "torch/transformers are not installed"}

    try:
        model_config = AutoConfig.from_pretrained(folder, trust_remote_code=trust_remote_code)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(model_config, trust_remote_code=trust_remote_code)
    except Exception as err:  # a config transformers rejects: say so, plan the rest
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return {"skipped": f"transformers cannot build the model from {folder}/config.json "
                           f"({type(err).__name__}: {first[:300]})", "finding": True}
    targets = config.lora_target
    if "all" in targets:
        targets = linear_module_names(model)
    trainable = 0
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
    model_config = getattr(model_config, "text_config", None) or model_config
    hidden = getattr(model_config, "hidden_size", 0) or 0
    layers = getattr(model_config, "num_hidden_layers", 0) or 0
    vocab = getattr(model_config, "vocab_size", 0) or 0
    counts: ParameterCounts = {"trainable": trainable, "total": total, "hidden": hidden, "layers": layers,
                               "vocab": vocab}
    if source:
        counts["source"] = source
    return counts


def _from_table(config: RunConfig) -> ParameterCounts:
    """A hub id with no config.json on disk: the counts from lfgate's architecture table (runner/architectures.py)."""
    from lfgate.runner import architectures

    name = str(config.values.get("model_name_or_path") or "")
    entry = architectures.lookup(name)
    if entry is None:
        return {"skipped": f"no local config.json, and {name or 'the model'} is not in lfgate's architecture table"}
    rank = config.values.get("lora_rank", 8)
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        return {"skipped": f"`lora_rank: {rank}` is not a positive whole number"}
    trainable = architectures.lora_parameters(entry, config.lora_target, rank, bool(config.get("use_dora", False)),
                                              config.additional_target or [])
    return {"trainable": trainable, "total": architectures.total_parameters(entry), "hidden": entry["hidden"],
            "layers": entry["layers"], "vocab": entry["vocab"],
            "source": f"the numbers of {entry['hub_id']}'s published config.json, from lfgate's architecture table "
                      "(no config.json on disk)"}


# Calibrated against `lfgate train --rehearse` (benchmarks/calibrate_memory.py, benchmarks/README.md): tensors of
# size hidden kept per token and layer for the backward (Qwen2-like decoder, LoRA on every linear layer); with
# gradient checkpointing only each layer's input is kept, and one layer's tensors exist again while it is
# recomputed. The loss keeps the logits in fp32 with their log-softmax and gradients: 16 bytes per logit.
KEPT_PER_LAYER = 30
KEPT_WITH_CHECKPOINTING = 2
LOGIT_BYTES = 16
ALLOCATOR_SLACK = 1.1  # an accelerator's caching allocator reserves more than it allocates


def memory_estimate(params: ParameterCounts, precision: Precision, batch: int, seq_len: int,
                    checkpointing: bool, device_kind: str = "cpu") -> Dict[str, float]:
    """GiB per device: frozen weights, LoRA weights + grads + Adam state (fp32), activations and logits."""
    gib = 1024 ** 3
    act_bytes = _BYTES[precision.dtype]
    weights = params["total"] * act_bytes / gib
    adapter = params["trainable"] * 4 * 4 / gib  # weight, grad, two Adam moments
    per_token = batch * seq_len * params["hidden"] * act_bytes
    if checkpointing:
        activations = per_token * (params["layers"] * KEPT_WITH_CHECKPOINTING + KEPT_PER_LAYER) / gib
    else:
        activations = per_token * params["layers"] * KEPT_PER_LAYER / gib
    logits = batch * seq_len * params["vocab"] * LOGIT_BYTES / gib
    total = (weights + adapter + activations + logits) * (1.0 if device_kind == "cpu" else ALLOCATOR_SLACK)
    return {"weights": weights, "adapter": adapter, "activations": activations + logits, "total": total}


def make_plan(config: RunConfig, machine: Machine, precision: Precision, world_size: int, train_samples: List,
              eval_samples: List, per_dataset: Dict[str, int], tokenizer=None, count=None, target=None,
              trust_remote_code: bool = False, offline_reason: Optional[str] = None) -> dict:
    """count: devices_env.DeviceCount (where the device number came from); target: devices.Target when planning
    for another machine (its memory per device is compared with the estimate)."""
    plan: Dict[str, Any] = {
        "device": {"kind": machine.kind, "count": machine.count, "names": machine.names, "dtype": precision.dtype,
                   "world_size": world_size, "note": precision.note,
                   "source": count.source if count is not None else None,
                   "target": target is not None},
        "samples": {"per_dataset": per_dataset, "train": len(train_samples), "eval": len(eval_samples)},
        "steps": steps(len(train_samples), config, world_size),
        "notes": [],
    }
    plan["device"]["memory_gib"], plan["device"]["memory_of"] = _capacity(machine, target)
    if count is not None:
        plan["notes"] += list(count.notes)
    if offline_reason:
        plan["notes"].append(offline_reason)
    longest = None
    if tokenizer is not None:
        from lfgate.runner.recipe import build_template, data_options, tokenize

        template, _ = build_template(config, tokenizer)
        features = tokenize(train_samples, tokenizer, template, data_options(config))
        lengths = [len(f["input_ids"]) for f in features]
        trained = sum(sum(1 for x in f["labels"] if x != -100) for f in features)
        longest = max(lengths) if lengths else 0
        per_epoch_steps = plan["steps"].get("per_epoch") or 0
        epochs = plan["steps"]["total"] / max(per_epoch_steps, 1) if "total" in plan["steps"] else 0
        plan["tokens"] = {"per_epoch": sum(lengths), "trained_per_epoch": trained, "longest": longest,
                          "mean": round(sum(lengths) / len(lengths), 1) if lengths else 0,
                          "total": int(sum(lengths) * epochs)}
        from lfgate.tokens.runs import summary  # what cutoff_len cut: the count `check` and `stats` make

        cut = summary(config.values, train_samples)
        if cut is not None:
            plan["tokens"]["over_cutoff"] = {k: cut[k] for k in ("cutoff_len", "exceeding", "response_cut",
                                                                  "prompt_only", "low", "high", "how", "samples")}
        from lfgate.runner.recipe import encoding_problem

        problem = encoding_problem(tokenizer, train_samples, features)
        if problem:
            plan["notes"].append(f"{problem} (`lfgate train` stops on this)")
        untrained = sum(1 for f in features if all(x == -100 for x in f["labels"]))
        if features and untrained:
            plan["notes"].append(f"{untrained} of {len(features)} training samples have no trained token after "
                                 "the label mask (prompt-only after cutoff_len, or empty responses): they teach "
                                 "nothing" + (" - no sample trains anything" if untrained == len(features) else ""))
    params = lora_parameters(config, trust_remote_code)
    if "skipped" in params:
        plan["notes"].append(f"no parameter counts: {params['skipped']}")
    else:
        everything = params["total"] + params["trainable"]  # as peft counts: base plus adapter
        plan["lora"] = {"trainable": params["trainable"], "total": everything,
                        "percent": round(100 * params["trainable"] / max(everything, 1), 4),
                        "rank": config.lora_rank, "alpha": config.lora_alpha, "target": config.lora_target}
        cutoff = config.get("cutoff_len", 2048)
        cutoff = cutoff if isinstance(cutoff, int) and not isinstance(cutoff, bool) and cutoff > 0 else 2048
        seq = min(longest or cutoff, cutoff)
        seq = int(math.ceil(seq / 8) * 8)
        batch = config.get("per_device_train_batch_size", 8)
        batch = batch if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0 else 1
        memory = memory_estimate(params, precision, batch, seq, config.gradient_checkpointing, machine.kind)
        plan["memory_gib"] = {k: round(v, 6) for k, v in memory.items()}
        if params.get("source"):
            plan["lora"]["source"] = params["source"]
        capacity, of = plan["device"]["memory_gib"], plan["device"]["memory_of"]
        plan["fit"] = {"needed": round(memory["total"], 3), "capacity": capacity, "of": of}
        if capacity:
            plan["fit"]["fits"] = memory["total"] <= capacity
            plan["memory_gib"]["device"] = capacity
    return plan


def _capacity(machine: Machine, target) -> tuple:
    """(GiB, where from) of one device the plan runs on: the target's part, else what this machine has."""
    from lfgate.runner.devices import device_memory

    if target is not None and target.memory_gib:
        return float(target.memory_gib), f"each {target.machine.names[0]} (lfgate's part table)"
    capacity, of = device_memory(machine)
    return round(capacity, 3), of


def render_text(plan: dict) -> str:
    d, s, st = plan["device"], plan["samples"], plan["steps"]
    where = "target" if d.get("target") else "device"
    lines = ["plan (dry run, no weights loaded):",
             f"  {where:<10} {d['kind']} x{d['count']} ({', '.join(dict.fromkeys(d['names']))}), {d['dtype']}"
             + (f", {d['world_size']} processes via torchrun" if d["world_size"] > 1 else "")
             + (f"; {d['world_size']} device{'s' if d['world_size'] != 1 else ''} from {d['source']}"
                if d.get("source") else "")
             + (f"; {_size(d['memory_gib'])} {_memory_word(d)}" if d.get("memory_gib") else ""),
             "  samples    " + ", ".join(f"{k}: {v}" for k, v in s["per_dataset"].items())
             + f" -> train {s['train']}, eval {s['eval']}"]
    if "problem" in st:
        lines.append(f"  steps      {st['problem']}")
    else:
        lines.append(f"  steps      {st['per_epoch']} per epoch, {st['total']} in total ({st['batch_per_step']} "
                     "samples per step)")
    if "tokens" in plan:
        t = plan["tokens"]
        lines.append(f"  tokens     {t['per_epoch']:,} per epoch ({t['trained_per_epoch']:,} trained), "
                     f"mean {t['mean']}, longest {t['longest']}, {t['total']:,} in total")
        over = t.get("over_cutoff")
        if over and over["exceeding"]:
            lines.append(f"  cutoff_len {over['exceeding']:,} samples over {over['cutoff_len']} "
                         f"({over['response_cut']:,} lose part of their response, {over['prompt_only']:,} only of "
                         f"their prompt; {over['how']})")
    if "lora" in plan:
        lo = plan["lora"]
        lines.append(f"  lora       rank {lo['rank']}, alpha {lo['alpha']}, {lo['trainable']:,} trainable parameters "
                     f"of {lo['total']:,} ({lo['percent']}%) on {', '.join(lo['target'])}")
    if "memory_gib" in plan:
        m = plan["memory_gib"]
        lines.append(f"  memory     ~{_size(m['total'])} per device (weights {_size(m['weights'])}, adapter and "
                     f"optimizer {_size(m['adapter'])}, activations {_size(m['activations'])}; an estimate)")
        fit = plan.get("fit") or {}
        if "fits" in fit:
            lines.append(f"  fits       {'yes' if fit['fits'] else 'NO'}: ~{_size(fit['needed'])} of "
                         f"{_size(fit['capacity'])}, {fit['of']}")
        elif fit:
            lines.append(f"  fits       unknown: {fit['of']}")
    if plan.get("lora", {}).get("source"):
        lines.append(f"  numbers    {plan['lora']['source']}")
    for note in plan.get("notes", []):
        lines.append(f"  warning    {note}")
    return "\n".join(lines) + "\n"


def _memory_word(device: dict) -> str:
    return "of memory on this machine" if device["kind"] == "cpu" else "per device"


def _size(gib: float) -> str:
    return f"{gib:.2f} GiB" if gib >= 1 else f"{gib * 1024:.1f} MiB"
