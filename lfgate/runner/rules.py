"""Checks `lfgate train` adds to `lfgate check`: can this runner, on this machine, train this config?

Pure functions of the config (and a Machine); none imports torch. RN001-RN006 apply to the built-in runner
only (LLaMA-Factory itself does those things); RN010-RN012 to both backends.
"""

from __future__ import annotations

import importlib.util
import os
from typing import List, Optional

from lfgate.lf_facts import hf_offline, looks_like_local_path
from lfgate.readers import guarded
from lfgate.registry import ERROR, WARNING, rule
from lfgate.runner.config import FINETUNING_TYPES, STAGES, RunConfig, unsupported
from lfgate.runner.hub import llamafactory_problem, other_hub, other_hub_problem

_DATA = {"data/dataset_info.json": '{"demo": {"file_name": "demo.json"}}\n',
         "data/demo.json": '[{"instruction": "Say hi.", "input": "", "output": "Hi!"}]\n',
         "model/config.json": '{"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, '
                              '"intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, '
                              '"num_key_value_heads": 2, "vocab_size": 512, "tie_word_embeddings": true}\n'}
_BASE = ("model_name_or_path: model\nstage: sft\ndo_train: true\nfinetuning_type: lora\ndataset: demo\n"
         "template: qwen\noutput_dir: out\n")
_ARGS = ("--dry-run",)


def _example(extra: str = "", base: str = _BASE, **files) -> dict:
    return {**_DATA, "train.yaml": base + extra, **files}


BACKEND = "--backend llamafactory runs LLaMA-Factory itself on the same config."

UNSUPPORTED_STAGE = rule(
    "RN001", "runner-unsupported-stage", ERROR,
    "The built-in runner trains stage: sft only",
    why="Reward modelling, DPO/KTO/ORPO, PPO and pre-training need other losses and data; the built-in runner "
        "would train the wrong objective.",
    fix="Use stage: sft, or " + BACKEND,
    bad=_example(base=_BASE.replace("stage: sft", "stage: dpo")), good=_example(),
    target="train.yaml", args=_ARGS, command="train",
)
UNSUPPORTED_METHOD = rule(
    "RN002", "runner-unsupported-finetuning-type", ERROR,
    "The built-in runner trains LoRA adapters only",
    why="finetuning_type full, freeze and oft change other weights than a LoRA adapter.",
    fix="Use finetuning_type: lora, or " + BACKEND,
    bad=_example(base=_BASE.replace("finetuning_type: lora", "finetuning_type: full")), good=_example(),
    target="train.yaml", args=_ARGS, command="train",
)
UNSUPPORTED_TEMPLATE = rule(
    "RN003", "runner-unsupported-template", ERROR,
    "The built-in runner does not have this chat template",
    why="It implements qwen, qwen3, qwen3_nothink, llama3, chatml, default and empty exactly as LLaMA-Factory "
        "does; any other template (multimodal ones included) would format the samples differently. Without "
        "`template`, LLaMA-Factory parses the tokenizer's own chat template, which the runner does not.",
    fix="Use one of those templates, or " + BACKEND,
    bad=_example(base=_BASE.replace("template: qwen", "template: qwen2_vl")), good=_example(),
    target="train.yaml", args=_ARGS, command="train",
)
QUANTIZATION = rule(
    "RN004", "runner-no-quantization", ERROR,
    "The built-in runner does not quantize the model",
    why="quantization_bit asks for QLoRA (bitsandbytes, HQQ or EETQ); the runner would train in full precision "
        "and need several times the memory the config was sized for.",
    fix="Remove quantization_bit, or " + BACKEND,
    bad=_example("quantization_bit: 4\n"), good=_example(),
    target="train.yaml", args=_ARGS, command="train",
)
UNSUPPORTED_OPTION = rule(
    "RN005", "runner-unsupported-option", ERROR,
    "A LLaMA-Factory option the built-in runner does not implement is set",
    why="The runner would silently train without it (streaming, pissa_init, loraplus_lr_ratio, rope_scaling, "
        "...; docs/devices.md lists what it does not do).",
    fix="Remove the option, or " + BACKEND,
    bad=_example("loraplus_lr_ratio: 16.0\n"), good=_example("packing: true\nneat_packing: true\n"),
    target="train.yaml", args=_ARGS, command="train",
)
DATA_NOT_TRAINABLE = rule(
    "RN006", "runner-data-not-trainable", ERROR,
    "The built-in runner cannot read this dataset",
    why="It trains text samples from local json, jsonl, csv, parquet and arrow files; hub datasets, scripts, "
        "cloud files and images/videos/audios need LLaMA-Factory's loader.",
    fix="Download the dataset to a local file and register it with file_name, or " + BACKEND,
    bad=_example(**{"data/dataset_info.json": '{"demo": {"hf_hub_url": "someone/demo"}}\n'}), good=_example(),
    target="train.yaml", args=_ARGS, command="train",
)
PRECISION_CHANGED = rule(
    "RN010", "runner-precision-changed", WARNING,
    "The device cannot train in the dtype the config asks for",
    why="bf16 needs an Ampere or newer GPU or an Ascend 910B; CPUs train in fp32. The built-in runner uses the "
        "nearest dtype the device has (LLaMA-Factory would stop with an error on a GPU without bf16).",
    fix="Set bf16/fp16 to what the device supports (`lfgate doctor` shows it).",
    bad=_example("bf16: true\n"), good=_example(),
    target="train.yaml", args=_ARGS, command="train",
)
DEEPSPEED = rule(
    "RN011", "deepspeed-unavailable", ERROR,
    "The config names a DeepSpeed configuration but deepspeed is not installed",
    why="transformers imports deepspeed when the Trainer starts: without the package the run stops after the data "
        "was prepared and the model loaded. (A missing or invalid DeepSpeed file is TY212, which `check` reports.)",
    fix="pip install deepspeed (0.13.2 is the known-good version on Ascend).",
    bad=_example("deepspeed: ds_z2.json\n", **{"ds_z2.json": '{"zero_optimization": {"stage": 2}}\n'}),
    good=_example(),
    target="train.yaml", args=_ARGS, command="train",
)
MODEL_NOT_FOUND = rule(
    "RN012", "model-path-not-found", ERROR,
    "model_name_or_path names a model that cannot be loaded from here",
    why="A path (it starts with ./, ../, / or ~, or has more than one /) is not a hub id, so nothing can be "
        "downloaded: loading fails. Likewise a hub id that is not in the local cache while HF_HUB_OFFLINE or "
        "TRANSFORMERS_OFFLINE is set, and, with USE_MODELSCOPE_HUB / USE_OPENMIND_HUB, a hub id that is not in that "
        "hub's local cache while the hub does not answer (one probe of 3 s; the SDK's snapshot_download would retry "
        "for half a minute, extras/misc.py:294-328). With `--backend llamafactory` and USE_MODELSCOPE_HUB, even a "
        "model in the ModelScope cache: LLaMA-Factory's snapshot_download asks ModelScope first and, offline, stops "
        "with [E1020] (modelscope 1.40).",
    fix="Fix the path (relative paths resolve against the directory you launch from); for a hub id, download the "
        "model into the cache of the hub you use first.",
    bad=_example(base=_BASE.replace("model_name_or_path: model", "model_name_or_path: ./models/nope")),
    good=_example(), target="train.yaml", args=_ARGS, command="train",
    # `check` says a missing local model as a warning (LK033: an earlier stage may write the folder); for the run
    # about to start it is fatal, and said once, here
    covers=("LK033",),
)


RUN_SHAPE = rule(
    "RN016", "runner-no-run-shape", ERROR,
    "The batch size, gradient accumulation or epochs give no run the built-in runner can start",
    why="transformers' DataLoader raises `batch_size should be a positive integer value` for "
        "per_device_train_batch_size 0, the Trainer divides by gradient_accumulation_steps (ZeroDivisionError at 0), "
        "and an infinite, NaN or negative num_train_epochs without max_steps trains nothing or never ends.",
    fix="Use positive whole numbers for per_device_train_batch_size and gradient_accumulation_steps, and a finite, "
        "positive num_train_epochs (or max_steps).",
    bad=_example("per_device_train_batch_size: 0\n"), good=_example("per_device_train_batch_size: 1\n"),
    target="train.yaml", args=_ARGS, command="train",
    covers=("TY407", "TY411"),  # what `check` says of the same key (a batch size of 0, no epoch): one cause
)


def run_shape_problem(config: RunConfig) -> Optional[tuple]:
    """(key, why) when no step budget exists for the config (runner/plan.steps), else None."""
    from lfgate.runner.plan import steps

    budget = steps(1, config, 1)
    if "problem" not in budget:
        return None
    return budget["key"], budget["problem"]


def where(config: RunConfig, key: str, positions: Optional[dict] = None) -> dict:
    line, column = (positions or config.positions).get(key, (None, None))
    return {"file": config.path, "line": line, "column": column}


def runner_checks(config: RunConfig, positions: Optional[dict] = None) -> List:
    """RN001-RN005: what the built-in runner refuses before loading anything."""
    from lfgate.runner.templates import TEMPLATES

    out = []
    if config.stage not in STAGES:
        out.append(UNSUPPORTED_STAGE.diag(f"stage: {config.stage} is not trained by the built-in runner (sft only); "
                                          f"use --backend llamafactory", **where(config, "stage", positions)))
    if config.finetuning_type not in FINETUNING_TYPES:
        out.append(UNSUPPORTED_METHOD.diag(f"finetuning_type: {config.finetuning_type} is not trained by the built-in "
                                           "runner (lora only); use --backend llamafactory",
                                           **where(config, "finetuning_type", positions)))
    template = config.values.get("template")
    if template is not None and template not in TEMPLATES:
        out.append(UNSUPPORTED_TEMPLATE.diag(
            f"template: {template} is not one of the built-in runner's ({', '.join(sorted(TEMPLATES))}); "
            "use --backend llamafactory", **where(config, "template", positions)))
    elif template is None and _has_chat_template(config):
        out.append(UNSUPPORTED_TEMPLATE.diag(
            "no template is set, so LLaMA-Factory would parse the tokenizer's chat template, which the built-in "
            "runner does not: set template explicitly", **where(config, "model_name_or_path", positions)))
    shape = run_shape_problem(config)
    if shape is not None:
        key, why = shape
        out.append(RUN_SHAPE.diag(f"{why}: the built-in runner cannot start this run", **where(config, key, positions)))
    for key, value in unsupported(config):
        if key == "quantization_bit":
            out.append(QUANTIZATION.diag(f"quantization_bit: {value} is not supported by the built-in runner; "
                                         "remove it or use --backend llamafactory", **where(config, key, positions)))
        else:
            out.append(UNSUPPORTED_OPTION.diag(f"{key}: {value} is not implemented by the built-in runner; remove it "
                                               "or use --backend llamafactory", **where(config, key, positions)))
    return out


def _has_chat_template(config: RunConfig) -> bool:
    from lfgate.runner.recipe import model_found  # a hub id in the ModelScope / openMind cache

    found = model_found(config)
    folder = found.path if found is not None else str(config.values.get("model_name_or_path") or "")
    if os.path.isfile(os.path.join(folder, "chat_template.jinja")):
        return True
    info = guarded.read_json_object(os.path.join(folder, "tokenizer_config.json"))  # regular, size-capped
    return isinstance((info or {}).get("chat_template"), str)


def machine_checks(config: RunConfig, machine, precision, builtin: bool, positions: Optional[dict] = None,
                   settings=None) -> List:
    """RN010-RN012: the dtype, DeepSpeed and the model path, on this machine; RN040-RN047: its launch variables."""
    from lfgate.validator import multinode
    from lfgate.validator.training import kernels

    out = multinode.check(os.environ, (machine.count, machine.kind) if machine.kind != "cpu" else None)
    out += kernels.machine_findings(config, machine, settings)
    if builtin and precision.note:
        key = "bf16" if config.values.get("bf16") else "fp16"
        out.append(PRECISION_CHANGED.diag(precision.note, **where(config, key, positions)))
    ds = config.values.get("deepspeed")
    if ds and importlib.util.find_spec("deepspeed") is None:  # the file itself is TY212 (training/values.py)
        out.append(DEEPSPEED.diag(f"deepspeed: {ds} is set but the deepspeed package is not installed: "
                                  "pip install deepspeed", **where(config, "deepspeed", positions)))
    name = str(config.values.get("model_name_or_path") or "")
    if name and not os.path.exists(os.path.expanduser(name)):
        if looks_like_local_path(name):
            out.append(MODEL_NOT_FOUND.diag(f"model_name_or_path: {name} does not exist (relative paths resolve "
                                            f"against {os.getcwd()})",
                                            **where(config, "model_name_or_path", positions)))
        elif _offline() and not _in_hf_cache(name, config):
            out.append(MODEL_NOT_FOUND.diag(f"model_name_or_path: {name} is a hub id that is not in the local cache, "
                                            "and HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE forbid downloading it",
                                            **where(config, "model_name_or_path", positions)))
        elif other_hub():  # not in the ModelScope / openMind cache (or llamafactory-cli offline): one short probe
            where_from = (_text(config.values.get("cache_dir")), _text(config.values.get("model_revision")))
            why = other_hub_problem(name, *where_from) if builtin else llamafactory_problem(name, *where_from)
            if why:
                out.append(MODEL_NOT_FOUND.diag(f"model_name_or_path: {why}",
                                                **where(config, "model_name_or_path", positions)))
    return out


def _text(value) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _offline() -> bool:
    return not other_hub() and hf_offline()


def _in_hf_cache(name: str, config: RunConfig) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return True  # cannot tell: let the loader say
    try:
        found = try_to_load_from_cache(name, "config.json", cache_dir=config.values.get("cache_dir"),
                                       revision=config.values.get("model_revision"))
    except Exception:  # an id the hub library rejects: the loader will say why
        return True
    return isinstance(found, str)


# -- the devices the environment asks for, against the devices this machine has ------------------------------
NO_DEVICE = rule(
    "RN013", "visible-devices-without-device", ERROR,
    "A visible-devices variable asks for NPUs or GPUs this machine cannot use",
    why="With ASCEND_RT_VISIBLE_DEVICES set but no usable NPU (torch-npu missing, CANN not sourced, no device), "
        "or CUDA_VISIBLE_DEVICES set with no CUDA device, the run would load a model sized for accelerators and "
        "train it on the CPU, hours or days per step, with only a generic warning.",
    fix="Source CANN's set_env.sh and install the torch-npu that matches torch (`lfgate doctor` shows both), or "
        "the CUDA build of torch; or pass --allow-cpu to train on the CPU on purpose.",
    # not a dry run: a dry run plans for the devices the variable names instead (TY460)
    bad=_example(), good=_example(), target="train.yaml", args=(), command="train",
    env={"ASCEND_RT_VISIBLE_DEVICES": "0,1"}, good_env={},
)
ASCEND_STACK = rule(
    "RN014", "ascend-stack-unusable", ERROR,
    "The Ascend software stack cannot train here",
    why="torch-npu is built for one torch version (2.10.0.post2 for torch 2.10.0): another torch fails at import "
        "or crashes. Without CANN's set_env.sh (ASCEND_HOME_PATH, ASCEND_TOOLKIT_HOME) torch-npu finds no CANN "
        "library. LLaMA-Factory documents training on Atlas A2 (910B) and A3 (910_93) parts, not on the 310 series "
        "or the first 910 series.",
    fix="source /usr/local/Ascend/ascend-toolkit/set_env.sh; install the torch / torch-npu pair of the known-good "
        "table (`lfgate doctor`); train on an A2/A3 part.",
    bad=_example(), good=_example(), target="train.yaml", args=(), command="train",
    env={"ASCEND_RT_VISIBLE_DEVICES": "0"},
    good_env={"ASCEND_RT_VISIBLE_DEVICES": "0", "ASCEND_HOME_PATH": "/usr/local/Ascend/ascend-toolkit/latest",
              "ASCEND_TOOLKIT_HOME": "/usr/local/Ascend/ascend-toolkit/latest"},
)
ASCEND_LAUNCH = rule(
    "RN015", "ascend-launch-risk", WARNING,
    "A multi-node Ascend run without HCCL_SOCKET_IFNAME, or NPUs held by another process",
    why="Across nodes HCCL picks a network interface itself unless HCCL_SOCKET_IFNAME names one; the wrong one "
        "hangs the first collective until the timeout. A process left over from an earlier run holds NPU memory, "
        "so the new run fails with out-of-memory or an HCCL error.",
    fix="export HCCL_SOCKET_IFNAME=<the cluster interface>; stop the stale process (`npu-smi info` lists them).",
    bad=_example(), good=_example(), target="train.yaml", args=(), command="train",
    env={"ASCEND_RT_VISIBLE_DEVICES": "0,1", "NNODES": "2"},
    good_env={"ASCEND_RT_VISIBLE_DEVICES": "0,1", "NNODES": "2", "HCCL_SOCKET_IFNAME": "eth0"},
)


def device_checks(config: RunConfig, machine, count, env, allow_cpu: bool = False, probe=None,
                  positions: Optional[dict] = None) -> List:
    """RN013-RN015: the devices the environment selects (count: devices_env.DeviceCount) against this machine."""
    from lfgate.runner import ascend

    at = where(config, "model_name_or_path", positions)
    out = []
    wants = count.kind  # "npu" / "cuda" when a visible-devices variable selected devices
    if wants and (count.per_node or 0) > 0 and machine.kind != wants and not allow_cpu:
        variable = "ASCEND_RT_VISIBLE_DEVICES" if wants == "npu" else "CUDA_VISIBLE_DEVICES"
        if wants == "npu":
            missing = ("torch-npu is not installed (pip install torch-npu matching torch)"
                       if ascend.version("torch-npu") is None else "torch-npu sees no NPU")
            how = f"{ascend.SET_ENV}, install the torch-npu that matches torch ({ascend.KNOWN_GOOD[0]['torch']} / " \
                  f"{ascend.KNOWN_GOOD[0]['torch-npu']} today)"
        else:
            missing = "torch sees no CUDA device (a CPU build of torch, or no driver)"
            how = "install the CUDA build of torch and check nvidia-smi"
        out.append(NO_DEVICE.diag(f"{variable}={env.get(variable)} asks for {count.per_node} {wants.upper()} "
                                  f"device(s), but {missing}: the run would train on the CPU. Fix: {how}; or pass "
                                  "--allow-cpu to train on the CPU on purpose", **at))
    ascend_wanted = wants == "npu" or machine.kind == "npu"
    if not ascend_wanted:
        return out
    npu_version = ascend.version("torch-npu")  # not installed: RN013 says so, with the pair to install
    problems = [ascend.cann_not_sourced(env),
                *(ascend.stack_problems(ascend.version("torch"), npu_version, ascend.cann_version(env))
                  if npu_version else [])]
    if machine.kind == "npu":
        problems += [ascend.chip_problem(name) for name in sorted(set(machine.names))]
    out += [ASCEND_STACK.diag(p, **at) for p in problems if p]
    nnodes = int(env.get("NNODES", "1")) if str(env.get("NNODES", "1")).isdigit() else 1
    warnings = [ascend.hccl_interface_missing(env, nnodes)]
    if machine.kind == "npu":
        processes = probe.npu_processes() if probe is not None and hasattr(probe, "npu_processes") else None
        visible = env.get("ASCEND_RT_VISIBLE_DEVICES")
        chosen = [int(x) for x in visible.split(",") if x.strip().isdigit()] if visible else None
        warnings += ascend.stale_holders(processes or [], chosen, own_pids=(os.getpid(),))
    out += [ASCEND_LAUNCH.diag(w, **at) for w in warnings if w]
    return out
