"""What `lfgate train --dry-run` says of its plan: the devices it plans for, and whether the estimate fits them.

TY460: a visible-devices variable names NPUs or GPUs this machine does not have; the plan is for those devices
(devices.implied_target), and this says, once, that this machine cannot run it. TY461: the memory estimate per
device is more than the plan's device has (the target's part, the device layer's figure, or this machine's memory
on CPU). Both are warnings: a plan is an estimate, and a dry run loads nothing.
"""

from __future__ import annotations

from typing import List, Optional

from lfgate.registry import WARNING, rule
from lfgate.runner.rules import _example, where

_BIG = ('{"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 16384, '
        '"intermediate_size": 98304, "num_hidden_layers": 1, "num_attention_heads": 128, "num_key_value_heads": 128, '
        '"vocab_size": 512, "tie_word_embeddings": true}\n')  # one wide layer: 5.9B parameters, 22 GiB in fp32
_TOKENIZER = ('{"version": "1.0", "model": {"type": "BPE", "vocab": {"H": 0, "i": 1, "Hi": 2}, "merges": []}, '
              '"added_tokens": []}\n')

PLAN_ELSEWHERE = rule(
    "TY460", "plan-for-absent-devices", WARNING,
    "The dry run plans for devices a visible-devices variable names, which this machine does not have",
    why="ASCEND_RT_VISIBLE_DEVICES (or CUDA_VISIBLE_DEVICES) says which devices the run is for; a dry run on a "
        "laptop or CI machine without them plans for those devices (their count, dtype and memory per device), "
        "not for this CPU. Training here would not use them: `lfgate train` stops with RN013.",
    fix="Run the dry run on the NPU/GPU machine to check its software stack too (`lfgate doctor --target npu`); "
        "pass --target PART:N (e.g. 910b4:2) when the part is not the default one, or --allow-cpu to plan for "
        "this CPU.",
    bad=_example(), good=_example(), target="train.yaml", args=("--dry-run",), command="train",
    env={"ASCEND_RT_VISIBLE_DEVICES": "0,1"}, good_env={},
)
DOES_NOT_FIT = rule(
    "TY461", "plan-does-not-fit-device", WARNING,
    "The dry run's memory estimate per device is more than the device has",
    why="The estimate adds the frozen weights, the adapter with its gradients and Adam state, and the activations "
        "and logits of the longest batch (runner/plan.py). More than the device's memory (the target part's, the "
        "device's own figure, or this machine's RAM or cgroup limit on CPU) means the run stops with out-of-memory "
        "at its first step, or on CPU swaps for hours.",
    fix="Lower per_device_train_batch_size (raise gradient_accumulation_steps to keep the step) or cutoff_len, "
        "set gradient_checkpointing, use more devices with DeepSpeed ZeRO-3 (--backend llamafactory), or a larger "
        "part (--target).",
    bad=_example(**{"model/config.json": _BIG, "model/tokenizer.json": _TOKENIZER}),
    good=_example(**{"model/tokenizer.json": _TOKENIZER}), target="train.yaml",
    args=("--dry-run", "--target", "t4:1"), command="train", needs=("torch", "transformers"),
)


def absent_devices(config, target) -> List:
    """TY460 for a plan made for the devices a visible-devices variable names (target.implied_by)."""
    from lfgate.runner import ascend

    machine = target.machine
    if machine.kind == "npu":
        reason = "torch-npu is not installed" if ascend.version("torch-npu") is None else "torch-npu sees no NPU"
    else:
        reason = "torch sees no CUDA device"
    part = f"{machine.count} x {machine.names[0]} ({target.memory_gib} GiB each)" if machine.names else "them"
    message = (f"{target.implied_by} names {machine.count} {machine.kind.upper()} device"
               f"{'s' if machine.count != 1 else ''}, but this machine cannot run them ({reason}): the plan is for "
               f"{part}, the default {machine.kind.upper()} part; --target names another. `lfgate train` here "
               "stops (RN013) unless --allow-cpu")
    return [PLAN_ELSEWHERE.diag(message, **where(config, "model_name_or_path"))]


def fit_findings(config, plan: Optional[dict]) -> List:
    """TY461 from the plan's `fit` (plan.make_plan)."""
    fit = (plan or {}).get("fit")
    if not fit or fit.get("fits", True):
        return []
    message = (f"~{fit['needed']:.1f} GiB per device (an estimate) does not fit {fit['capacity']:.1f} GiB, "
               f"{fit['of']}: lower per_device_train_batch_size or cutoff_len, set gradient_checkpointing, or use "
               "more or larger devices")
    key = "per_device_train_batch_size" if "per_device_train_batch_size" in config.positions else "model_name_or_path"
    return [DOES_NOT_FIT.diag(message, **where(config, key))]
