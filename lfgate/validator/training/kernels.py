"""TY450-TY455: attention and kernel settings that fail late or do nothing, judged by the environment.

Whether flash-attn or liger-kernel is installed decides what LLaMA-Factory does with `flash_attn` and
`enable_liger_kernel`; lfgate reads the environment llamafactory-cli runs in (lf_stack.py: else a fresh install,
which has neither). `--target` plans for another machine, whose packages are not known: the package-dependent
findings are then left out (or said conditionally), as the step budget plans with the target's devices.
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

from lfgate import lf_stack
from lfgate.registry import ERROR, WARNING, rule
from lfgate.validator import model_families, train_schema
from lfgate.validator.training.config import TrainingConfig, _y

# model/model_utils/liger_kernel.py apply_liger_kernel (0.9.5): the model types it patches; any other logs
# "Current model does not support liger kernel." and does nothing.
LIGER_TYPES = ("gemma", "gemma2", "gemma3", "gemma3_text", "glm", "glm4", "glm4v", "granite", "llama", "llava",
               "mistral", "mixtral", "mllama", "olmo2", "paligemma", "phi3", "qwen2", "qwen2_vl", "qwen2_5_vl",
               "qwen3", "qwen3_moe", "qwen3_next", "qwen3_5", "gpt_oss")
# data/collator.py:491: neat packing with FlashAttention-2 raises for these at the collator's creation.
NEAT_PACKING_EXCLUDED = ("gemma4",)
FA3_HANDLED_SINCE = "0.9.6"  # configure_attn_implementation has an fa3 branch from the repository's main on

_LOCAL_GEMMA = "model_name_or_path: models/g\n"

FA_FALLBACK = rule(
    "TY450", "flash-attn-falls-back", WARNING, "`flash_attn: fa2` without flash-attn installed",
    why="Without the flash-attn package (or a CUDA device) LLaMA-Factory logs `FlashAttention-2 is not installed.` "
        "and leaves the attention to transformers' default, SDPA (model/model_utils/attention.py:143-147): the run "
        "neither fails nor uses FlashAttention-2, and needs more memory than planned. Judged by the environment "
        "llamafactory-cli runs in (a fresh install has no flash-attn); `--target` plans for another machine and "
        "leaves it out.",
    fix="`pip install flash-attn --no-build-isolation` where you train, or write `flash_attn: sdpa` for what "
        "will run.",
    bad=_y("dataset: a\nflash_attn: fa2\n"), good=_y("dataset: a\nflash_attn: sdpa\n"), target="train.yaml",
)
FA3_UNSUPPORTED = rule(
    "TY451", "flash-attn-fa3-unsupported", ERROR, "`flash_attn: fa3` in LLaMA-Factory 0.9.5",
    why="LLaMA-Factory 0.9.5's configure_attn_implementation has no FlashAttention-3 branch: for every model but "
        "gpt-oss (which it switches to a FlashAttention-3 kernel itself) it raises `NotImplementedError: Unknown "
        "attention type: fa3` when the model loads, after tokenization (model/model_utils/attention.py:86). The "
        "repository's main branch (0.9.6) handles fa3.",
    fix="Use `flash_attn: fa2` (with flash-attn installed) or `sdpa`.",
    bad=_y("dataset: a\nflash_attn: fa3\n"), good=_y("dataset: a\nflash_attn: fa2\n"), target="train.yaml",
)
NEAT_PACKING_BATCH = rule(
    "TY452", "neat-packing-batch-size", ERROR, "`neat_packing` with FlashAttention-2 and a batch size above 1",
    why="With FlashAttention-2 active, LLaMA-Factory's SFT collator asserts `bsz should be 1 for neat packing` on "
        "the first batch (data/collator.py:528), after tokenization and model load; the same for an evaluation "
        "batch. FlashAttention-2 is active with `flash_attn: fa2` when flash-attn is installed (or on Ascend), and "
        "for Gemma 2 with `auto` as well (attention.py:39-47). Without it, neat packing runs with a 4D mask.",
    fix="Set `per_device_train_batch_size: 1` (and `per_device_eval_batch_size: 1`) and raise "
        "`gradient_accumulation_steps`; packing fills each sample to cutoff_len anyway.",
    bad=_y("dataset: a\nneat_packing: true\nflash_attn: fa2\nper_device_train_batch_size: 4\n"),
    good=_y("dataset: a\nneat_packing: true\nflash_attn: fa2\nper_device_train_batch_size: 1\n"), target="train.yaml",
    env={"ASCEND_RT_VISIBLE_DEVICES": "0"},  # FlashAttention-2 is active on Ascend whatever is installed
)
NEAT_PACKING_MODEL = rule(
    "TY453", "neat-packing-model-excluded", ERROR, "`neat_packing` with FlashAttention-2 on a model it refuses",
    why="The SFT collator raises `Neat packing is not supported for gemma4, gpt_oss models for now.` when it is "
        "created with FlashAttention-2 (data/collator.py:491), after the model loaded. (gpt-oss always runs a "
        "FlashAttention-3 kernel in LLaMA-Factory, so only Gemma 4 reaches it.)",
    fix="Use `packing: true` without neat_packing for this model, or another attention (`flash_attn: sdpa`).",
    bad=_y("dataset: a\nneat_packing: true\nflash_attn: fa2\n" + _LOCAL_GEMMA) | {
        "models/g/config.json": '{"model_type": "gemma4"}'},
    good=_y("dataset: a\npacking: true\nflash_attn: fa2\n" + _LOCAL_GEMMA) | {
        "models/g/config.json": '{"model_type": "gemma4"}'},
    target="train.yaml", env={"ASCEND_RT_VISIBLE_DEVICES": "0"},
)
LIGER_NO_OP = rule(
    "TY454", "liger-kernel-unsupported-model", WARNING, "`enable_liger_kernel` on a model Liger does not patch",
    why="LLaMA-Factory patches only the model types it lists (model/model_utils/liger_kernel.py): for any other it "
        "logs `Current model does not support liger kernel.` and trains without it, at the memory the config was "
        "not sized for.",
    fix="Delete `enable_liger_kernel`, or train a model type Liger supports (llama, qwen2, qwen3, mistral, gemma...).",
    bad=_y("dataset: a\nenable_liger_kernel: true\nmodel_name_or_path: models/p\n") | {
        "models/p/config.json": '{"model_type": "gpt2"}'},
    good=_y("dataset: a\nmodel_name_or_path: models/p\n") | {"models/p/config.json": '{"model_type": "gpt2"}'},
    target="train.yaml",
)
LIGER_MISSING = rule(
    "TY455", "liger-kernel-not-installed", ERROR, "`enable_liger_kernel` without liger-kernel installed",
    why="For a model type Liger supports, LLaMA-Factory imports `liger_kernel.transformers` while the model loads "
        "(model/model_utils/liger_kernel.py): without the package the run stops with `ModuleNotFoundError: No "
        "module named 'liger_kernel'` after tokenization. Judged by the environment llamafactory-cli runs in (a "
        "fresh install has none); `--target` leaves it out.",
    fix="`pip install liger-kernel` where you train, or delete `enable_liger_kernel`.",
    bad=_y("dataset: a\nenable_liger_kernel: true\n"), good=_y("dataset: a\n"), target="train.yaml",
)


def _other_machine(settings) -> bool:
    """`train --dry-run --target ...` plans for a machine whose packages lfgate cannot see."""
    return str(getattr(settings, "devices_from", "") or "").startswith("--target")


def _ascend(settings) -> bool:
    import os

    target = str(getattr(settings, "devices_from", "") or "")
    return bool(os.environ.get("ASCEND_RT_VISIBLE_DEVICES")) or target.startswith("--target") and any(
        word in target for word in ("npu", "ascend", "910", "a3"))


def fa2_active(config: TrainingConfig, settings, types: Tuple[str, ...]) -> Optional[bool]:
    """Whether the model will run FlashAttention-2: True/False, None when it depends on another machine."""
    attn = config.get("flash_attn", "auto")
    if attn != "fa2" and not (attn == "auto" and "gemma2" in types):
        return False
    if _ascend(settings):
        return True
    if _other_machine(settings):
        return None
    return lf_stack.stack(settings).has("flash-attn")


def check(config: TrainingConfig, settings) -> List:
    if config.entry != "train":
        return []
    return list(_check(config, settings))


def _check(config: TrainingConfig, settings) -> Iterator:
    v = config.values
    found = model_families.family(config)
    types = found.model_types if found else ()
    attn = v.get("flash_attn")
    version = lf_stack.llamafactory(settings)
    if attn == "fa3" and train_schema.version_tuple(version) < train_schema.version_tuple(FA3_HANDLED_SINCE) \
            and "gpt_oss" not in types:
        yield FA3_UNSUPPORTED.diag(
            f"`flash_attn: fa3` is not handled by LLaMA-Factory {version}: loading the model raises "
            "`NotImplementedError: Unknown attention type: fa3` (model/model_utils/attention.py:86). Use fa2 or sdpa",
            **config.where("flash_attn"))
    active = fa2_active(config, settings, types)
    stack = lf_stack.stack(settings)
    if attn == "fa2" and active is False and "gpt_oss" not in types:
        yield FA_FALLBACK.diag(
            f"`flash_attn: fa2` without flash-attn ({stack.describe('flash-attn')}): LLaMA-Factory logs "
            "`FlashAttention-2 is not installed.` and the model runs transformers' default attention (SDPA"
            f"{', eager for Gemma 2' if 'gemma2' in types else ''}). Install flash-attn where you train, or write "
            "`flash_attn: sdpa`", **config.where("flash_attn"))
    if v.get("neat_packing") is True and config.stage == "sft" and active is not False:
        yield from _neat_packing(config, types, active)
    if v.get("enable_liger_kernel") is True:
        yield from _liger(config, settings, types, found, stack)


def _neat_packing(config: TrainingConfig, types: Tuple[str, ...], active: Optional[bool]) -> Iterator:
    maybe = "" if active else " (if flash-attn is installed on the target machine)"
    severity = None if active else WARNING
    excluded = [t for t in types if t in NEAT_PACKING_EXCLUDED]
    if excluded:
        yield NEAT_PACKING_MODEL.diag(
            f"`neat_packing` with FlashAttention-2 on a {excluded[0]} model: the SFT collator raises `Neat packing is "
            f"not supported for gemma4, gpt_oss models for now.`{maybe}. Use `packing: true` without neat_packing",
            severity=severity, **config.where("neat_packing"))
    for key, when in (("per_device_train_batch_size", "the first batch"),
                      ("per_device_eval_batch_size", "the first evaluation batch")):
        size = config.get(key, 8 if key == "per_device_eval_batch_size" else 1)
        evaluates = config.values.get("val_size") or config.values.get("eval_dataset") or config.values.get("do_eval")
        if key == "per_device_eval_batch_size" and not evaluates:
            continue
        if isinstance(size, int) and not isinstance(size, bool) and size > 1:
            yield NEAT_PACKING_BATCH.diag(
                f"`{key}: {size}` with `neat_packing` and FlashAttention-2: LLaMA-Factory's collator asserts `bsz "
                f"should be 1 for neat packing` at {when}{maybe}. Set `{key}: 1` and raise gradient_accumulation_steps",
                severity=severity, **config.where(key, "neat_packing"))


def _liger(config: TrainingConfig, settings, types: Tuple[str, ...], found, stack) -> Iterator:
    where = config.where("enable_liger_kernel")
    if types and not any(t in LIGER_TYPES for t in types):
        yield LIGER_NO_OP.diag(
            f"`enable_liger_kernel: true` does nothing for a {'/'.join(types)} model ({found.source}): LLaMA-Factory "
            "logs `Current model does not support liger kernel.` and trains without it. Delete it, or train a model "
            "type Liger supports", **where)
        return
    if _other_machine(settings) or stack.has("liger-kernel") or types == ("gpt_oss",):
        return  # gpt-oss: a missing Liger build is caught and logged (liger_kernel.py)
    unknown = "" if types else " (unless the model is a type Liger does not patch, where the setting does nothing)"
    yield LIGER_MISSING.diag(
        f"`enable_liger_kernel: true` without liger-kernel ({stack.describe('liger-kernel')}): loading the model "
        f"raises `ModuleNotFoundError: No module named 'liger_kernel'`{unknown}. `pip install liger-kernel` where you "
        "train, or delete the key", severity=None if types else WARNING, **where)


# -- the machine `lfgate train` runs on or plans for -----------------------------------------------------------
_RUN = {"data/dataset_info.json": '{"demo": {"file_name": "demo.json"}}\n',
        "data/demo.json": '[{"instruction": "Say hi.", "input": "", "output": "Hi!"}]\n',
        "model/config.json": '{"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, '
                             '"intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, '
                             '"num_key_value_heads": 2, "vocab_size": 512, "tie_word_embeddings": true}\n'}
_RUN_YAML = ("model_name_or_path: model\nstage: sft\ndo_train: true\nfinetuning_type: lora\ndataset: demo\n"
             "template: qwen\noutput_dir: out\n")
FA2_GPU = rule(
    "RN048", "flash-attn-gpu-unsupported", ERROR, "`flash_attn: fa2` on a GPU older than Ampere",
    why="FlashAttention-2 runs on Ampere and newer GPUs only: on a V100 or T4 with flash-attn installed, "
        "LLaMA-Factory selects it (transformers checks the package, not the GPU) and the first forward pass raises "
        "`FlashAttention only supports Ampere GPUs or newer.` The device is the one `lfgate train` probes, or the one "
        "`--target` plans for (whose flash-attn is then assumed installed).",
    fix="Use `flash_attn: sdpa` on these GPUs.",
    bad={**_RUN, "train.yaml": _RUN_YAML + "flash_attn: fa2\n"}, good={**_RUN, "train.yaml": _RUN_YAML},
    target="train.yaml", args=("--dry-run", "--target", "v100:1"), command="train",
)


def machine_findings(config: TrainingConfig, machine, settings=None) -> List:
    """RN048: what the probed (or --target) device makes of the attention setting."""
    if config.values.get("flash_attn") != "fa2" or getattr(machine, "kind", None) != "cuda" or machine.bf16:
        return []
    if not _other_machine(settings) and not lf_stack.stack(settings).has("flash-attn"):
        return []  # no flash-attn: it falls back (TY450)
    names = ", ".join(sorted(set(machine.names))) or "this GPU"
    return [FA2_GPU.diag(f"`flash_attn: fa2` on {names}, which is older than Ampere: the first forward pass raises "
                         "`FlashAttention only supports Ampere GPUs or newer.` Use `flash_attn: sdpa`",
                         **config.where("flash_attn"))]
