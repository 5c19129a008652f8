"""Settings LLaMA-Factory accepts and then silently ignores, although the config depends on them.

A value that matches no branch is worse than one that raises: the run starts and does something else (a "QLoRA"
run in full precision, a LoRA config that fine-tunes every weight).
"""

from __future__ import annotations

from typing import Iterator

from lfgate.registry import ERROR, WARNING, rule

_BASE = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\ntemplate: qwen\n"
         "output_dir: saves/qwen2.5-0.5b/sft\n")

# model/model_utils/quantization.py (0.9.5) quantizes on the fly only in these branches; `quantization_method` is a
# StrEnum compared with ==, and HfArgumentParser.parse_dict does not convert the YAML text.
ON_THE_FLY_METHODS = ("bnb", "hqq", "eetq")
# hparams/finetuning_args.py LoraArguments (0.9.5): read only when finetuning_type is lora. The ones that raise
# there (use_dora, use_rslora, pissa_init, loraplus_lr_ratio) are the TY3xx parse checks' to report.
LORA_ONLY_KEYS = ("lora_rank", "lora_alpha", "lora_dropout", "lora_target", "loraplus_lr_embedding",
                  "create_new_adapter")

IGNORED_QUANTIZATION = rule(
    "TY220", "quantization-method-ignored", ERROR, "`quantization_method` matches no quantization branch",
    why="LLaMA-Factory compares `quantization_method` with bnb, hqq and eetq and quantizes in the branch that "
        "matches; any other text (`bitsandbytes`, `4bit`) matches none, so the model loads in full precision with "
        "no quantization at all: a 7B \"QLoRA\" run needs the memory of a 16-bit one.",
    fix="Write `quantization_method: bnb` (bitsandbytes), hqq or eetq.",
    bad={"train.yaml": _BASE + "finetuning_type: lora\nquantization_bit: 4\nquantization_method: bitsandbytes\n"},
    good={"train.yaml": _BASE + "finetuning_type: lora\nquantization_bit: 4\nquantization_method: bnb\n"},
    target="train.yaml",
)
LORA_KEYS_IGNORED = rule(
    "TY221", "lora-keys-ignored", WARNING, "LoRA settings with `finetuning_type` full or freeze",
    why="LLaMA-Factory reads lora_rank, lora_target, lora_alpha... only when `finetuning_type: lora`; with full "
        "or freeze they are ignored and the run fine-tunes the full model (or its last layers) instead of an "
        "adapter: a one-word slip that costs memory and gives a different result.",
    fix="Set `finetuning_type: lora` if you meant LoRA, else delete the LoRA keys.",
    bad={"train.yaml": _BASE + "finetuning_type: full\nlora_rank: 8\nlora_target: all\n"},
    good={"train.yaml": _BASE + "finetuning_type: lora\nlora_rank: 8\nlora_target: all\n"},
    target="train.yaml",
)


def check_ignored(config) -> Iterator:
    values = config.values
    method, bits = values.get("quantization_method"), values.get("quantization_bit")
    # gptq/awq/...: enum values for a model that is quantized already (LLaMA-Factory warns that quantization_bit is
    # unused), so only text outside the enum is the silent fall-through.
    if bits is not None and isinstance(method, str) and method not in _enum_values():
        meant = "bnb" if "bit" in method.lower() or "bnb" in method.lower() else "bnb, hqq or eetq"
        yield IGNORED_QUANTIZATION.diag(
            f"`quantization_method: {method}` is none of {', '.join(ON_THE_FLY_METHODS)}: LLaMA-Factory matches no "
            f"branch and does no quantization at all, so `quantization_bit: {bits}` is ignored and the model loads "
            f"in full precision. Write `quantization_method: {meant}`", **config.where("quantization_method"))
    finetuning = values.get("finetuning_type", "lora")
    lora_keys = [key for key in LORA_ONLY_KEYS if key in values]
    if finetuning in ("full", "freeze") and lora_keys:
        what = "every weight of the model" if finetuning == "full" else "the model's last layers"
        yield LORA_KEYS_IGNORED.diag(
            f"{', '.join(f'`{k}`' for k in lora_keys)} {'is' if len(lora_keys) == 1 else 'are'} read only with "
            f"`finetuning_type: lora`; with `finetuning_type: {finetuning}` LLaMA-Factory ignores "
            f"{'it' if len(lora_keys) == 1 else 'them'} and trains {what}, not an adapter. Set `finetuning_type: "
            f"lora` if you meant LoRA, else delete {'it' if len(lora_keys) == 1 else 'them'}",
            **config.where("finetuning_type"))


def _enum_values():
    from lfgate.validator import train_schema

    return train_schema.properties().get("quantization_method", {}).get("enum", ())
