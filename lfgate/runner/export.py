"""`lfgate export`: merge LoRA adapters into their base model, as `llamafactory-cli export` does.

LLaMA-Factory 0.9.5 `train/tuner.py:152` (export_model): `export_dir` is required, adapters are merged into the
base model (peft's merge_and_unload, one adapter after another), the merged model is cast to the output dtype
(`infer_dtype`; `auto` keeps the checkpoint's dtype, and a float32 one becomes bfloat16 or float16 only where the
device has it), saved with `save_pretrained(export_dir, max_shard_size=f"{export_size}GB")` (`.bin` files with
`export_legacy_format: true` on transformers < 5), and the tokenizer is saved beside it with left padding.

The checks (RN050-RN059) are pure functions of the config; the merge imports torch, transformers and peft.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, List, Optional

from lfgate.diagnostics import Diagnostic
from lfgate.lf_facts import split_names
from lfgate.registry import ERROR, rule
from lfgate.runner.config import RunConfig

_MODEL = {"model/config.json": '{"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}\n'}
_BASE = "model_name_or_path: model\ntemplate: qwen\n"
_ARGS = ("--dry-run",)


def _example(text: str, **files) -> dict:
    return {**_MODEL, "export.yaml": _BASE + text, **files}


_ADAPTER = {"saves/lora/adapter_config.json": '{"peft_type": "LORA", "base_model_name_or_path": "model"}\n'}

NO_EXPORT_DIR = rule(
    "RN050", "export-dir-missing", ERROR,
    "An export config names no `export_dir`",
    why="LLaMA-Factory's export_model raises `Please specify \\`export_dir\\` to save model.` (train/tuner.py:155) "
        "after the argument parsing; nothing is written.",
    fix="Add `export_dir: saves/merged` (a new folder) to the export config.",
    bad=_example("adapter_name_or_path: saves/lora\n", **_ADAPTER),
    good=_example("adapter_name_or_path: saves/lora\nexport_dir: merged\n", **_ADAPTER),
    target="export.yaml", args=_ARGS, command="export",
)
QUANTIZE_WITH_ADAPTER = rule(
    "RN051", "export-quantize-adapter", ERROR,
    "Adapters and `export_quantization_bit` in one export",
    why="LLaMA-Factory raises `Please merge adapters before quantizing the model.` (train/tuner.py:158): merging "
        "and quantizing are two exports.",
    fix="Export the merged model first (no export_quantization_bit), then quantize that folder in a second export.",
    bad=_example("adapter_name_or_path: saves/lora\nexport_dir: merged\nexport_quantization_bit: 4\n", **_ADAPTER),
    good=_example("adapter_name_or_path: saves/lora\nexport_dir: merged\n", **_ADAPTER),
    target="export.yaml", args=_ARGS, command="export",
)
BUILTIN_CANNOT = rule(
    "RN052", "export-builtin-unsupported", ERROR,
    "The built-in export merges LoRA adapters only",
    why="GPTQ quantization (`export_quantization_bit`), pushing to the hub (`export_hub_model_id`) and adapters of "
        "other methods are LLaMA-Factory's: the built-in export would silently not do them.",
    fix="Drop the key, or run `lfgate export CONFIG --backend llamafactory` (llamafactory-cli export).",
    bad=_example("export_dir: merged\nexport_hub_model_id: me/merged\n"),
    good=_example("export_dir: merged\n"),
    target="export.yaml", args=_ARGS, command="export",
)
ADAPTER_NOT_LORA = rule(
    "RN053", "export-adapter-not-lora", ERROR,
    "Adapters with a `finetuning_type` other than lora",
    why="LLaMA-Factory's argument check raises `Adapter is only valid for the LoRA method.` "
        "(hparams/parser.py _verify_model_args) when adapter_name_or_path is set with freeze or full.",
    fix="Use `finetuning_type: lora` (the default) with adapters, or export a full model without adapters.",
    bad=_example("adapter_name_or_path: saves/lora\nfinetuning_type: full\nexport_dir: merged\n", **_ADAPTER),
    good=_example("adapter_name_or_path: saves/lora\nexport_dir: merged\n", **_ADAPTER),
    target="export.yaml", args=_ARGS, command="export",
)
EXPORT_DIR_UNSAFE = rule(
    "RN054", "export-dir-unsafe", ERROR,
    "`export_dir` is a link, holds links, or is the model or an adapter folder",
    why="save_pretrained writes through a symlink committed in the folder (a pull request can point one outside "
        "the project), and writing into the base model's or an adapter's folder replaces the weights being read.",
    fix="Point export_dir at a new folder of its own (saves/merged), not at a link or an input folder.",
    bad=_example("adapter_name_or_path: saves/lora\nexport_dir: saves/lora\n", **_ADAPTER),
    good=_example("adapter_name_or_path: saves/lora\nexport_dir: saves/merged\n", **_ADAPTER),
    target="export.yaml", args=_ARGS, command="export",
)


def adapters(config: RunConfig) -> List[str]:
    return split_names(config.values.get("adapter_name_or_path"))


def export_dir(config: RunConfig) -> Optional[str]:
    value = config.values.get("export_dir")
    return str(value) if value not in (None, "") else None


def checks(config: RunConfig, builtin: bool = True) -> List[Diagnostic]:
    """What stops this export before a model loads: LLaMA-Factory's own raises, and what the built-in export
    would not do."""
    out: List[Diagnostic] = []
    folder = export_dir(config)
    if folder is None:
        out.append(NO_EXPORT_DIR.diag(f"{os.path.basename(config.path)} names no export_dir: LLaMA-Factory raises "
                                      "`Please specify \\`export_dir\\` to save model.`; add `export_dir: "
                                      "saves/merged`", **config.where("adapter_name_or_path",
                                                                  "model_name_or_path")))
    quant = config.values.get("export_quantization_bit")
    if adapters(config) and quant is not None:
        out.append(QUANTIZE_WITH_ADAPTER.diag(
            f"`export_quantization_bit: {quant}` with adapters: LLaMA-Factory raises `Please merge adapters before "
            "quantizing the model.`; export the merged model first, then quantize it", **config.where(
                "export_quantization_bit")))
    if adapters(config) and config.finetuning_type != "lora":
        out.append(ADAPTER_NOT_LORA.diag(
            f"adapter_name_or_path with `finetuning_type: {config.finetuning_type}`: LLaMA-Factory raises `Adapter "
            "is only valid for the LoRA method.`", **config.where("finetuning_type")))
    if builtin:
        for key in ("export_quantization_bit", "export_hub_model_id"):
            if config.values.get(key) is not None and not (key == "export_quantization_bit" and adapters(config)):
                out.append(BUILTIN_CANNOT.diag(
                    f"`{key}` is not done by the built-in export (it merges and saves): drop it, or run "
                    "`lfgate export CONFIG --backend llamafactory`", **config.where(key)))
    if folder is not None:
        problem = _unsafe(config, folder)
        if problem:
            out.append(EXPORT_DIR_UNSAFE.diag(f"export_dir {folder}: {problem}", **config.where("export_dir")))
    return out


def _unsafe(config: RunConfig, folder: str) -> Optional[str]:
    target = os.path.abspath(folder)
    if os.path.islink(folder.rstrip("/\\") or folder):
        return "is a symlink; save_pretrained would write through it. Point export_dir at a real folder"
    inputs = [str(config.values.get("model_name_or_path") or "")] + adapters(config)
    for given in inputs:
        if given and os.path.isdir(given) and os.path.realpath(given) == os.path.realpath(target):
            return (f"is the folder {given} the export reads (model_name_or_path or adapter_name_or_path): "
                    "its weights would be replaced while read. Use a new folder")
    if os.path.isdir(folder):
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                if os.path.islink(os.path.join(root, name)):
                    return (f"holds a symlink, {os.path.relpath(os.path.join(root, name), folder)}; "
                            "save_pretrained would write through it. Remove it or use a new folder")
    return None


# -- the merge (heavy imports from here on) -------------------------------------------------------------------
def output_dtype(checkpoint_dtype, infer_dtype: str, bf16: bool, fp16: bool):
    """LLaMA-Factory's choice (train/tuner.py:176, extras/misc.py infer_optim_dtype): an explicit infer_dtype
    wins; `auto` keeps the checkpoint's dtype, and float32 becomes bfloat16 where the device has it, else float16
    where it has that (CUDA, Ascend), else stays float32 (a CPU)."""
    import torch

    if infer_dtype != "auto":
        return getattr(torch, infer_dtype)
    dtype = checkpoint_dtype if isinstance(checkpoint_dtype, torch.dtype) else torch.float32
    if dtype != torch.float32:
        return dtype
    return torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32


def merge(config: RunConfig, bf16: bool, fp16: bool, say: Callable[[str], None]) -> str:
    """Load the base model, merge each adapter in order, cast, save the model and tokenizer; returns export_dir."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from lfgate.runner import recipe
    from lfgate.runner.outputs import give_umask_modes
    from lfgate.runner.templates import fix_tokenizer

    folder = export_dir(config)
    assert folder is not None  # checks() refused the export otherwise
    tokenizer = recipe.load_tokenizer(config)
    template, _ = recipe.build_template(config, tokenizer)
    fix_tokenizer(tokenizer, template)
    device_map = {"": torch.device("cpu")} if config.get("export_device", "cpu") == "cpu" else "auto"
    kwargs = dict(trust_remote_code=bool(config.get("trust_remote_code", False)),
                  cache_dir=config.values.get("cache_dir"), revision=config.get("model_revision", "main"),
                  device_map=device_map)
    model = AutoModelForCausalLM.from_pretrained(recipe.model_path(config), **kwargs)
    checkpoint_dtype = getattr(model.config, "torch_dtype", None) or getattr(model.config, "dtype", None)
    rows = int(model.get_input_embeddings().weight.shape[0])  # type: ignore[index, unused-ignore]
    if len(tokenizer) > rows and config.get("resize_vocab", False):
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
    for adapter in adapters(config):
        say(f"merging {adapter}")
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    dtype = output_dtype(checkpoint_dtype, str(config.get("infer_dtype", "auto")), bf16, fp16)
    model = model.to(dtype)
    setattr(model.config, "dtype" if recipe._transformers_at_least(4, 56) else "torch_dtype", dtype)
    say(f"saving the merged model in {dtype} to {folder}")
    save: Dict[str, Any] = {"max_shard_size": f"{int(config.get('export_size', 5))}GB"}
    if not recipe._transformers_at_least(5, 0):
        save["safe_serialization"] = not bool(config.get("export_legacy_format", False))
    started = time.time() - 1
    model.save_pretrained(folder, **save)
    give_umask_modes(folder, since=started)  # safetensors writes its shards 0600 (runner/outputs.py)
    tokenizer.padding_side = "left"  # as LLaMA-Factory leaves it for generation
    tokenizer.init_kwargs["padding_side"] = "left"
    tokenizer.save_pretrained(folder)
    return folder
