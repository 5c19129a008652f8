"""Folders a config names that fail only once the model loads: adapters, the checkpoint to resume, the model's
processor, its architecture against the installed transformers. Rules TY42x.

Only local folders are read, and transformers is never imported: its list of model types is read from its source
files. A hub id is judged from LLaMA-Factory's model registry (validator/model_families.py) for its processor only.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from typing import FrozenSet, Iterator, List, Optional

from lfgate.lf_facts import looks_like_local_path, split_names
from lfgate.registry import ERROR, INFO, WARNING, rule
from lfgate.validator import model_families, train_schema
from lfgate.validator.links import _read_json
from lfgate.validator.training.config import TrainingConfig, _y

_ADAPTER = '{"base_model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "peft_type": "LORA", "r": 8}'
_FULL = '{"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}'
_LOCAL = "model_name_or_path: ./models/m\n"
_REMOTE = '{"model_type": "my_custom_lm", "auto_map": {"AutoConfig": "configuration_my.MyConfig"}}'

ADAPTER_PATH = rule(
    "TY420", "adapter-not-found", ERROR, "An adapter path that is missing or not a PEFT adapter",
    why="`adapter_name_or_path` (and `ref_model_adapters`, `reward_model_adapters`) must be folders holding "
        "`adapter_config.json`. A full model checkpoint there fails after the base model has loaded (PEFT: "
        "`Can't find 'adapter_config.json'`); relative paths resolve from the launch directory (LLaMA-Factory "
        "#6764, #2416, #3466). A missing path is a warning: an earlier stage may write it.",
    fix="Point it at the adapter folder (the training run's output_dir, with adapter_config.json); a full model "
        "goes in `model_name_or_path`.",
    bad={**_y("dataset: a\nadapter_name_or_path: saves/full/sft\n"), "saves/full/sft/config.json": _FULL},
    good={**_y("dataset: a\nadapter_name_or_path: saves/lora/sft\n"), "saves/lora/sft/adapter_config.json": _ADAPTER},
    target="train.yaml",
)
ADAPTER_BASE = rule(
    "TY421", "adapter-base-mismatch", WARNING, "An adapter trained on another base model",
    why="A LoRA adapter only fits the base model it was trained on: on another one PEFT fails with size "
        "mismatches or, for the same shapes, silently produces garbage.",
    fix="Use the adapter's base model (`base_model_name_or_path` in its adapter_config.json) as model_name_or_path.",
    bad={**_y("dataset: a\nadapter_name_or_path: saves/lora/sft\n"),
         "saves/lora/sft/adapter_config.json": _ADAPTER.replace("Qwen/Qwen2.5-0.5B-Instruct",
                                                                 "meta-llama/Llama-3.2-1B")},
    good={**_y("dataset: a\nadapter_name_or_path: saves/lora/sft\n"), "saves/lora/sft/adapter_config.json": _ADAPTER},
    target="train.yaml",
)
RESUME = rule(
    "TY422", "resume-checkpoint-invalid", ERROR, "`resume_from_checkpoint` is not a checkpoint that can resume",
    why="transformers raises `Can't find a valid checkpoint at ...` when the folder holds no weights (an error) or is "
        "missing (a warning: an earlier run may write it). "
        "Without trainer_state.json the run restarts at step 0; without the optimizer state (a `save_only_model: "
        "true` checkpoint) optimizer and scheduler start afresh, and DeepSpeed fails (LLaMA-Factory #5497, #7614).",
    fix="Point it at a `checkpoint-N` folder written without `save_only_model`.",
    bad=_y("dataset: a\nresume_from_checkpoint: saves/qwen2.5-0.5b/lora/sft/checkpoint-100\n"),
    good={**_y("dataset: a\nresume_from_checkpoint: saves/ckpt/checkpoint-100\n"),
          **{f"saves/ckpt/checkpoint-100/{name}": "x" for name in ("adapter_model.safetensors", "optimizer.pt")},
          "saves/ckpt/checkpoint-100/trainer_state.json": "{}"},
    target="train.yaml",
)
NO_PROCESSOR = rule(
    "TY423", "multimodal-without-processor", ERROR, "A multimodal template with a model that ships no processor",
    why="A multimodal template checks the processor on every sample, text-only ones included: without "
        "preprocessor_config.json / processor_config.json in the model folder LLaMA-Factory raises `Processor was "
        "not found, please check and update your model file.` (LLaMA-Factory #8437, #8854, #8210; data/mm_plugin.py:"
        "178). For a hub id: a model LLaMA-Factory's registry lists as text-only, or an original (non `-hf`) "
        "layout such as InternVL's or LLaVA's own repositories, whose remote code ships no processor transformers "
        "loads (model/loader.py drops whatever AutoProcessor returns that is not a Processor).",
    fix="Copy the processor files (preprocessor_config.json, processor_config.json, chat_template...) from the "
        "base model into the folder, or use a text template.",
    bad={**_y("dataset: a\n" + _LOCAL + "template: qwen2_vl\n"), "models/m/config.json": _FULL},
    good={**_y("dataset: a\n" + _LOCAL + "template: qwen2_vl\n"), "models/m/config.json": _FULL,
          "models/m/preprocessor_config.json": "{}"},
    target="train.yaml",
)
UNKNOWN_ARCH = rule(
    "TY424", "model-type-unknown", ERROR, "The model's `model_type` is unknown to the installed transformers",
    why="transformers looks `model_type` up in its own table: an architecture newer than the installed version fails "
        "as soon as the tokenizer or config loads (`KeyError: 'qwen3_5'`, LLaMA-Factory #9178, #10219).",
    fix="Upgrade transformers to a version that knows the architecture (within LLaMA-Factory's supported range).",
    bad={**_y("dataset: a\n" + _LOCAL), "models/m/config.json": '{"model_type": "qwen99_moe_future"}'},
    good={**_y("dataset: a\n" + _LOCAL), "models/m/config.json": _FULL},
    target="train.yaml", needs=("transformers",),
)
REMOTE_CODE = rule(
    "TY425", "auto-map-without-trust-remote-code", ERROR, "A model with its own code, without `trust_remote_code`",
    why="A config.json whose `auto_map` names the model's own Python files, and whose model_type transformers does "
        "not know, loads only with `trust_remote_code: true`; LLaMA-Factory's default is false, and transformers "
        "then refuses to load it.",
    fix="Add `trust_remote_code: true` (after reading the model's code), or upgrade transformers.",
    bad={**_y("dataset: a\n" + _LOCAL),
         "models/m/config.json": _REMOTE},
    good={**_y("dataset: a\n" + _LOCAL + "trust_remote_code: true\n"),
          "models/m/config.json": _REMOTE},
    target="train.yaml", needs=("transformers",),
)

# Adapter keys and what LLaMA-Factory loads them onto.
_ADAPTER_KEYS = ("adapter_name_or_path", "ref_model_adapters", "reward_model_adapters")
_WEIGHT_PREFIXES = ("model", "pytorch_model", "adapter_model", "global_step", "pytorch_model_fsdp")
_OPTIMIZER_PREFIXES = ("optimizer", "global_step", "pytorch_model_fsdp")  # DeepSpeed/FSDP keep it in a folder
_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json")


def _listdir(folder: str) -> List[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _base_name(model: str) -> str:
    return model.replace("\\", "/").rstrip("/").split("/")[-1].lower()


def _check_adapters(config: TrainingConfig) -> Iterator:
    model = config.values.get("model_name_or_path")
    for key in _ADAPTER_KEYS:
        for path in split_names(config.values.get(key)):
            folder = config.resolve(os.path.expanduser(path))
            where = config.where(key)
            if not os.path.exists(folder):
                if looks_like_local_path(path):
                    looked = " and ".join(config.candidates(os.path.expanduser(path)))
                    yield ADAPTER_PATH.diag(f"`{key}: {path}` does not exist (looked at {looked}; relative paths "
                                            "resolve from the launch directory): loading fails unless an earlier stage "
                                            "writes it", severity=WARNING if config.entry == "train" else INFO,
                                            **where)
                continue
            names = _listdir(folder) if os.path.isdir(folder) else []
            if "adapter_config.json" in names:
                yield from _check_base(config, key, path, folder, model)
            elif "config.json" in names or any(n.startswith(("model.safetensors", "pytorch_model")) for n in names):
                yield ADAPTER_PATH.diag(f"`{key}: {path}` is a full model (config.json, no adapter_config.json), not a "
                                        "LoRA adapter: PEFT fails after the base model loads. Use it as "
                                        "`model_name_or_path`, or point at the adapter folder", **where)
            else:
                yield ADAPTER_PATH.diag(f"`{key}: {path}` holds no adapter_config.json ({folder}): PEFT fails with "
                                        "`Can't find 'adapter_config.json'`. Point it at the adapter folder", **where)


def _check_base(config: TrainingConfig, key: str, path: str, folder: str, model) -> Iterator:
    if key != "adapter_name_or_path" or not isinstance(model, str) or not model:
        return
    info = _read_json(os.path.join(folder, "adapter_config.json")) or {}
    base = info.get("base_model_name_or_path")
    if isinstance(base, str) and base and _base_name(base) != _base_name(model):
        yield ADAPTER_BASE.diag(f"`{key}: {path}` was trained on `{base}` (adapter_config.json), but "
                                f"`model_name_or_path` is `{model}`: the adapter does not fit another base model. "
                                "Load it onto its own base model", **config.where(key))


def _check_resume(config: TrainingConfig) -> Iterator:
    path = config.values.get("resume_from_checkpoint")
    if not isinstance(path, str) or not path or config.entry != "train":
        return
    folder = config.resolve(os.path.expanduser(path))
    where = config.where("resume_from_checkpoint")
    if not os.path.isdir(folder):
        looked = " and ".join(config.candidates(os.path.expanduser(path)))
        # A warning, as a missing adapter (TY420): checkpoints live on the training machine, never in the repository
        # a CI job checks, and a resumed run points at its own earlier output.
        yield RESUME.diag(f"`resume_from_checkpoint: {path}` does not exist (looked at {looked}): transformers raises "
                          "`Can't find a valid checkpoint` unless the run that writes it comes first. Point it at a "
                          "`checkpoint-N` folder", severity=WARNING, **where)
        return
    names = _listdir(folder)
    if not any(n.startswith(_WEIGHT_PREFIXES) for n in names):
        yield RESUME.diag(f"`resume_from_checkpoint: {path}` holds no model or adapter weights: transformers raises "
                          "`Can't find a valid checkpoint`. Point it at a `checkpoint-N` folder", **where)
        return
    missing = [what for what, present in (
        ("trainer_state.json (the run would restart at step 0)", "trainer_state.json" in names),
        ("the optimizer state (a save_only_model checkpoint: optimizer and scheduler start afresh, and DeepSpeed "
         "fails)", any(n.startswith(_OPTIMIZER_PREFIXES) for n in names))) if not present]
    if missing:
        yield RESUME.diag(f"`resume_from_checkpoint: {path}` lacks {' and '.join(missing)}: it cannot resume the run. "
                          "Use a checkpoint written without `save_only_model`", severity=WARNING, **where)


def _local_model(config: TrainingConfig) -> Optional[str]:
    model = config.values.get("model_name_or_path")
    if not isinstance(model, str) or not model:
        return None
    folder = config.resolve(os.path.expanduser(model))
    return folder if os.path.isfile(os.path.join(folder, "config.json")) else None


def _check_processor(config: TrainingConfig, folder: str) -> Iterator:
    template = config.values.get("template")
    info = train_schema.templates()["templates"].get(template) if isinstance(template, str) else None
    if not info or not info.get("accepts"):
        return
    if not any(os.path.isfile(os.path.join(folder, name)) for name in _PROCESSOR_FILES):
        yield NO_PROCESSOR.diag(
            f"`template: {template}` is multimodal, but the model folder {folder} has no preprocessor_config.json or "
            "processor_config.json: LLaMA-Factory raises `Processor was not found` on the first sample, text-only "
            "ones included. Copy the processor files from the base model, or use a text template",
            **config.where("template", "model_name_or_path"))


@functools.lru_cache(maxsize=1)
def installed_model_types() -> Optional[FrozenSet[str]]:
    """The model types the installed transformers knows, read from its auto-mapping sources (never imported);
    None when transformers is absent or its layout is not recognised."""
    try:
        spec = importlib.util.find_spec("transformers")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        return None
    auto = os.path.join(locations[0], "models", "auto")
    found = set()
    # 4.x: CONFIG_MAPPING_NAMES in configuration_auto.py; 5.x: auto_mappings.py as well
    for name in ("configuration_auto.py", "auto_mappings.py"):
        try:
            with open(os.path.join(auto, name), encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        found.update(re.findall(r"[(\s{,]\"([\w.\-]+)\"\s*[,:]\s*\"\w+Config\"", text))
    return frozenset(found) if len(found) > 100 else None  # a few hundred in any real version


def _check_architecture(config: TrainingConfig, folder: str) -> Iterator:
    info = _read_json(os.path.join(folder, "config.json")) or {}
    model_type = info.get("model_type")
    known = installed_model_types()
    if not isinstance(model_type, str) or not model_type or known is None or model_type in known:
        return
    where = config.where("model_name_or_path")
    auto_map = info.get("auto_map")
    if isinstance(auto_map, dict) and auto_map:
        if not config.values.get("trust_remote_code"):
            yield REMOTE_CODE.diag(f"`model_name_or_path: {config.values['model_name_or_path']}` brings its own "
                                   f"code (`auto_map` in config.json) for model_type `{model_type}`, which the "
                                   "installed transformers does not know: without `trust_remote_code: true` it "
                                   "refuses to load. Add it after reading the model's code", **where)
        return
    yield UNKNOWN_ARCH.diag(f"`model_name_or_path: {config.values['model_name_or_path']}` has model_type "
                            f"`{model_type}` ({folder}/config.json), which is unknown to the installed "
                            f"transformers: loading fails with `KeyError: '{model_type}'`. Upgrade transformers",
                            **where)


def check(config: TrainingConfig, settings) -> List:
    """Every TY42x rule over a config."""
    found = list(_check_adapters(config))
    found.extend(_check_resume(config))
    folder = _local_model(config)
    if folder is not None:
        found.extend(_check_processor(config, folder))
        found.extend(_check_architecture(config, folder))
    elif config.entry == "train":
        found.extend(_check_hub_processor(config))
    return found


def _check_hub_processor(config: TrainingConfig) -> Iterator:
    problem = model_families.processor_problem(config)
    if problem:
        yield NO_PROCESSOR.diag(
            f"`template: {config.values['template']}` is multimodal, but {problem}: LLaMA-Factory raises `Processor "
            "was not found, please check and update your model file.` on the first sample. Use a multimodal "
            "checkpoint (the `-hf` one), or a text template", **config.where("template", "model_name_or_path"))
