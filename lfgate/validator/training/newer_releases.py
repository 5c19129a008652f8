"""The argument checks LLaMA-Factory added after 0.9.5 (its newest source, hparams/parser.py, model_args.py and
finetuning_args.py): KTransformers, HyperParallel and Megatron-Bridge. Rules TY5xx, applied when the targeted
LLaMA-Factory is 0.9.6 or newer (older ones reject these keys as unknown: TY104).
"""

from __future__ import annotations

import os
from typing import Iterator, List, Optional

from lfgate.lf_facts import env_enabled
from lfgate.registry import ERROR, rule
from lfgate.validator import train_schema
from lfgate.validator.training.config import TrainingConfig, _y

SINCE = "0.9.6"
_NEW = ("--llamafactory-version", SINCE)

KT_ACTIVATION = rule(
    "TY501", "kt-cpu-activation", ERROR, "`kt_cpu_activation` that KTransformers cannot use",
    why="LLaMA-Factory's KTransformersArguments raise `kt_cpu_activation must be retain or recompute`, "
        "`kt_cpu_activation is only valid when use_kt: true`, and `kt_cpu_activation: recompute requires GPU "
        "gradient checkpointing` (hparams/model_args.py).",
    fix="Set `use_kt: true`, use `retain` or `recompute`, and keep gradient checkpointing on for `recompute`.",
    bad=_y("dataset: a\nkt_cpu_activation: retain\n"), good=_y("dataset: a\nuse_kt: true\nkt_cpu_activation: retain\n"),
    target="train.yaml", args=_NEW,
)
KT_INCOMPATIBLE = rule(
    "TY502", "kt-incompatible", ERROR, "KTransformers with an option it refuses",
    why="With `use_kt: true` LLaMA-Factory owns gradient checkpointing and raises for `gradient_checkpointing: true`, "
        "`gradient_checkpointing_kwargs`, Unsloth checkpointing, a finetuning type other than lora/full, and a LoRA "
        "reward model in PPO (hparams/model_args.py configure_kt_checkpointing, hparams/parser.py).",
    fix="Remove the option the message names (gradient checkpointing stays on unless "
        "`disable_gradient_checkpointing: true`).",
    bad=_y("dataset: a\nuse_kt: true\ngradient_checkpointing: true\n"), good=_y("dataset: a\nuse_kt: true\n"),
    target="train.yaml", args=_NEW,
)
HYPER_PARALLEL_CP = rule(
    "TY503", "hyper-parallel-cp-size", ERROR, "`hyper_parallel_cp_size` is 0 or negative",
    why="FinetuningArguments asserts `hyper_parallel_cp_size must be greater than 0` (hparams/finetuning_args.py).",
    fix="Use 1 (no context parallelism) or more.",
    bad=_y("dataset: a\nhyper_parallel_cp_size: 0\n"), good=_y("dataset: a\nhyper_parallel_cp_size: 2\n"),
    target="train.yaml", args=_NEW,
)
BRIDGE = rule(
    "TY504", "megatron-bridge-unsupported", ERROR, "Megatron-Bridge with settings it refuses",
    why="With USE_MEGATRON_BRIDGE=1 LLaMA-Factory raises unless the stage is pt or sft, the finetuning type full or "
        "lora, with no quantization, no DeepSpeed, no MCA or HyperParallel, and a tensor x pipeline x context x "
        "expert parallel product that divides the world size (hparams/parser.py).",
    fix="Change the setting the message names.",
    bad=_y("dataset: a\nstage: dpo\nuse_packed_sequences: true\n"), good=_y("dataset: a\nuse_packed_sequences: true\n"),
    target="train.yaml", args=_NEW,
)


def _newer(settings) -> bool:
    version, _ = train_schema.target_version(settings)
    return train_schema.version_tuple(version) >= train_schema.version_tuple(SINCE)


def _check_kt(config: TrainingConfig) -> Iterator:
    v = config.values
    activation = v.get("kt_cpu_activation")
    use_kt = v.get("use_kt") is True
    if activation is not None:
        if activation not in ("retain", "recompute"):
            yield KT_ACTIVATION.diag(f"`kt_cpu_activation: {activation}`: LLaMA-Factory raises `kt_cpu_activation "
                                     "must be retain or recompute`", **config.where("kt_cpu_activation"))
        elif not use_kt:
            yield KT_ACTIVATION.diag("`kt_cpu_activation` without `use_kt: true`: LLaMA-Factory raises "
                                     "`kt_cpu_activation is only valid when use_kt: true`. Delete it or set use_kt",
                                     **config.where("kt_cpu_activation"))
        elif activation == "recompute" and v.get("disable_gradient_checkpointing") is True:
            yield KT_ACTIVATION.diag("`kt_cpu_activation: recompute` with `disable_gradient_checkpointing: true`: "
                                     "LLaMA-Factory raises `requires GPU gradient checkpointing`. Use `retain`",
                                     **config.where("kt_cpu_activation"))
    if not use_kt:
        return
    reason = _kt_conflict(config)
    if reason:
        key, text = reason
        yield KT_INCOMPATIBLE.diag(f"`use_kt: true` with {text}", **config.where(key, "use_kt"))


def _kt_conflict(config: TrainingConfig) -> Optional[tuple]:
    v = config.values
    if v.get("gradient_checkpointing") is True:
        return "gradient_checkpointing", ("`gradient_checkpointing: true`: LLaMA-Factory raises `KTransformers uses "
                                          "LLaMA-Factory's disable_gradient_checkpointing`. Remove it")
    if v.get("gradient_checkpointing_kwargs") is not None:
        return "gradient_checkpointing_kwargs", ("`gradient_checkpointing_kwargs`: LLaMA-Factory raises `KTransformers "
                                                 "supplies its checkpoint context`. Remove it")
    if v.get("use_unsloth") is True or v.get("use_unsloth_gc") is True:
        return "use_unsloth", "Unsloth: LLaMA-Factory raises `KTransformers cannot be combined with Unsloth`"
    finetuning = str(config.get("finetuning_type") or "lora")
    if finetuning not in ("lora", "full"):
        return "finetuning_type", (f"`finetuning_type: {finetuning}`: LLaMA-Factory raises `KTransformers supports "
                                   "LoRA and full-parameter finetuning`")
    kt_config = v.get("kt_config")
    if kt_config is not None:
        if not isinstance(kt_config, dict):
            return "kt_config", ("a `kt_config` that is not a mapping: LLaMA-Factory raises `kt_config must be a "
                                 "flat mapping`")
        derived = sorted(k for k, value in kt_config.items() if k in _KT_DERIVED
                         and not (k in ("enabled", "kt_skip_expert_loading") and value is True))
        if derived:
            return "kt_config", (f"`kt_config` setting {', '.join(derived)}: LLaMA-Factory raises `These kt_config "
                                 "values are derived from LLaMA-Factory arguments`. Set the LLaMA-Factory keys instead")
    if config.stage == "ppo" and config.get("reward_model_type") == "lora":
        return "reward_model_type", ("a LoRA reward model: LLaMA-Factory raises `KTransformers does not support lora "
                                     "reward model`")
    return None


# KTransformersArguments._KT_DERIVED_KEYS (hparams/model_args.py): kt_config keys LLaMA-Factory sets itself.
_KT_DERIVED = frozenset({"enabled", "kt_activation_policy", "kt_expert_checkpoint_path", "kt_full_weight_grad",
                         "kt_lora_alpha", "kt_lora_dropout", "kt_lora_expert_intermediate_size", "kt_lora_expert_num",
                         "kt_lora_rank", "kt_non_expert_weight_path", "kt_skip_expert_loading", "kt_train_mode",
                         "kt_use_lora_experts", "kt_weight_path"})


def _world_size() -> Optional[int]:
    """The launch's world size when the environment states it (WORLD_SIZE, else NNODES x NPROC_PER_NODE)."""
    try:
        if os.environ.get("WORLD_SIZE"):
            return int(os.environ["WORLD_SIZE"])
        if os.environ.get("NPROC_PER_NODE"):
            return int(os.environ.get("NNODES") or 1) * int(os.environ["NPROC_PER_NODE"])
    except ValueError:
        return None
    return None


def _bridge_problem(config: TrainingConfig) -> Optional[tuple]:
    v = config.values
    if v.get("use_mca") is True or v.get("use_hyper_parallel") is True:
        return "use_hyper_parallel", "cannot be used together with MCA or HyperParallel"
    if config.stage not in ("pt", "sft"):
        return "stage", f"only supports the `pt` and `sft` stages, not `{config.stage}`"
    finetuning = str(config.get("finetuning_type") or "lora")
    if finetuning not in ("full", "lora"):
        return "finetuning_type", f"only supports `full` and `lora` finetuning, not `{finetuning}`"
    if v.get("quantization_bit") is not None:
        return "quantization_bit", "does not support quantized models (`quantization_bit`)"
    if v.get("deepspeed") is not None:
        return "deepspeed", "is incompatible with DeepSpeed"
    sizes = [v.get(k, 1) for k in ("tensor_model_parallel_size", "pipeline_model_parallel_size",
                                   "context_parallel_size", "expert_model_parallel_size")]
    world = _world_size()
    if world and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
        product = sizes[0] * sizes[1] * sizes[2] * sizes[3]
        if product > world or world % product:
            return "tensor_model_parallel_size", (f"needs a parallel size (tensor x pipeline x context x expert = "
                                                  f"{product}) that divides the world size ({world}, from the "
                                                  "environment)")
    return None


def _check_bridge(config: TrainingConfig) -> Iterator:
    bridge = config.engine == "megatron_bridge" or config.values.get("use_megatron_bridge") is True
    if not bridge:
        return
    if config.values.get("use_megatron_bridge") is True and not env_enabled("USE_MEGATRON_BRIDGE") \
            and config.engine != "megatron_bridge":
        yield BRIDGE.diag("`use_megatron_bridge: true` without USE_MEGATRON_BRIDGE=1: LLaMA-Factory raises `Megatron "
                          "Bridge arguments are missing. Please set USE_MEGATRON_BRIDGE=1.`",
                          **config.where("use_megatron_bridge"))
        return
    problem = _bridge_problem(config)
    if problem:
        key, text = problem
        yield BRIDGE.diag(f"Megatron-Bridge {text}: LLaMA-Factory raises at start-up", **config.where(key))


def check(config: TrainingConfig, settings) -> List:
    if config.entry != "train" or not _newer(settings):
        return []
    found = list(_check_kt(config))
    size = config.values.get("hyper_parallel_cp_size")
    if isinstance(size, int) and not isinstance(size, bool) and size <= 0:
        found.append(HYPER_PARALLEL_CP.diag(f"`hyper_parallel_cp_size: {size}`: LLaMA-Factory asserts it is greater "
                                            "than 0. Use 1 or more", **config.where("hyper_parallel_cp_size")))
    found.extend(_check_bridge(config))
    return found

