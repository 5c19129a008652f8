"""TY2xx: values of the wrong type or choice, and what LLaMA-Factory never checks but users get wrong."""

from __future__ import annotations

import json
import os
import re
from typing import Any, Iterator, List, Optional, Tuple

from lfgate import lf_stack
from lfgate.lf_facts import did_you_mean, json_type, split_names
from lfgate.readers import guarded
from lfgate.registry import ERROR, INFO, WARNING, rule
from lfgate.validator import train_schema
from lfgate.validator.training import preference
from lfgate.validator.training.config import BASE, COMMA_LIST_KEYS, TrainingConfig, _y

WRONG_TYPE = rule(
    "TY201", "wrong-type", ERROR, "A value of the wrong type",
    why="LLaMA-Factory passes YAML values on unconverted: a quoted number stays text and fails later in the "
        "optimizer or scheduler; a quoted `\"false\"` is a non-empty string, which Python treats as true. `0`/`1` "
        "for a boolean key works (every use is a truth test): only an info.",
    fix="Write numbers and booleans unquoted (`learning_rate: 1.0e-4`, `bf16: true`).",
    bad=_y("learning_rate: \"1e-4\"\n"), good=_y("learning_rate: 1e-4\n"), target="train.yaml",
)
BAD_CHOICE = rule(
    "TY202", "invalid-choice", ERROR, "A value that is not one of the allowed choices",
    why="Where LLaMA-Factory or a library it hands the value to raises on it, for the entry point the config is "
        "for, an error: transformers converts lr_scheduler_type, optim and the strategies to enums, "
        "finetuning_type fails an assert, accelerate and torch.distributed refuse an unknown ddp_backend (all "
        "while parsing); an unknown stage fails at dispatch, log_level in the Trainer, flash_attn when the model "
        "loads, mix_strategy when two datasets are merged, pref_loss in a DPO step, the GaLore/APOLLO/BAdam "
        "choices in their optimizer; infer_backend in training and when chat/api start (chat/chat_model.py:75), "
        "lang and download_mode in `llamafactory-cli eval`. Which keys raise, where and when, is probed from "
        "LLaMA-Factory's own parsers (scripts/gen_train_schema.py: x-enum-raises in schemas/train.schema.json). "
        "Other choices are not checked and silently fall back (warnings).",
    fix="Use one of the values the message lists.",
    bad=_y("lr_scheduler_type: cosin\n"), good=_y("lr_scheduler_type: cosine\n"), target="train.yaml",
)
UNKNOWN_TEMPLATE = rule(
    "TY203", "unknown-template", ERROR, "A template LLaMA-Factory does not register",
    why="After the tokenizer loads, LLaMA-Factory raises `Template {name} does not exist.`",
    fix="Use a registered template; the message lists the closest names.",
    bad=_y("", base=BASE.replace("template: qwen\n", "template: qwen2.5\n")), good=_y(""), target="train.yaml",
)
NO_DO_TRAIN = rule(
    "TY210", "no-do-train", WARNING, "A training config without `do_train`",
    why="`do_train` defaults to false: the model and data load, and nothing is trained or saved.",
    fix="Add `do_train: true` (or do_eval/do_predict for an evaluation-only run).",
    bad=_y("", base=BASE.replace("do_train: true\n", "")), good=_y(""), target="train.yaml",
)
MAX_SAMPLES = rule(
    "TY211", "max-samples-not-positive", ERROR, "`max_samples` is zero or negative",
    why="LLaMA-Factory keeps `max_samples` samples per dataset: 0 or less leaves nothing to train on.",
    fix="Give a positive number, or delete the key to use every sample.",
    bad=_y("max_samples: 0\n"), good=_y("max_samples: 1000\n"), target="train.yaml",
)
DEEPSPEED_FILE = rule(
    "TY212", "deepspeed-config", ERROR, "The `deepspeed` config file is missing or not valid JSON",
    why="transformers fails at start-up: `Expected a string path to an existing deepspeed config`, or a JSON "
        "error. The path is resolved against the directory llamafactory-cli is launched from.",
    fix="Point `deepspeed` at an existing JSON file (e.g. examples/deepspeed/ds_z3_config.json).",
    bad=_y("deepspeed: ds_z3.json\n"),
    good={**_y("deepspeed: ds_z3.json\n"), "ds_z3.json": '{"zero_optimization": {"stage": 3}}'},
    target="train.yaml",
)
LEARNING_RATE = rule(
    "TY213", "learning-rate-range", WARNING, "A learning rate outside any sensible range",
    why="Fine-tuning learning rates lie between about 1e-7 and 1e-2; `1e4` or `0` is a typo (a missing minus "
        "sign) that diverges or trains nothing.",
    fix="Use a value such as 1.0e-4 (LoRA) or 1.0e-5 (full fine-tuning).",
    bad=_y("learning_rate: 1.0e+4\n"), good=_y("learning_rate: 1.0e-4\n"), target="train.yaml",
)
OUTPUT_DIR_MODEL = rule(
    "TY214", "output-dir-names-other-model", WARNING, "`output_dir` names another model",
    why="A config copied from another model keeps its output_dir: the run then writes a Qwen adapter into a "
        "folder named after Llama (or overwrites that run).",
    fix="Rename output_dir after the model you train.",
    bad=_y("", base=BASE.replace("output_dir: saves/qwen2.5-0.5b", "output_dir: saves/llama3-8b")),
    good=_y(""), target="train.yaml",
)
NO_TEMPLATE = rule(
    "TY204", "no-template", WARNING, "A chat-stage config without `template`",
    why="Without `template` LLaMA-Factory uses the tokenizer's own chat template if it has one, else the `empty` "
        "template: the model is then trained on a format that may not be the one it is prompted with.",
    fix="Set `template` to the model's template (e.g. qwen, llama3, qwen3_nothink).",
    bad=_y("dataset: a\n", base=BASE.replace("template: qwen\n", "")), good=_y("dataset: a\n"), target="train.yaml",
)
CUTOFF_LEN = rule(
    "TY216", "cutoff-len-not-positive", ERROR, "`cutoff_len` is zero or negative",
    why="Every sample is cut to cutoff_len tokens: 0 or less leaves nothing to train on.",
    fix="Use a positive length such as 2048.",
    bad=_y("dataset: a\ncutoff_len: 0\n"), good=_y("dataset: a\ncutoff_len: 2048\n"), target="train.yaml",
)
DEPRECATED_KEY = rule(
    "TY215", "deprecated-key", INFO, "A key transformers deprecates",
    why="transformers 5 logs `warmup_ratio is deprecated` / `logging_dir is deprecated`; the keys still work "
        "with the transformers versions LLaMA-Factory 0.9.5 supports.",
    fix="Use warmup_steps (a float below 1 is a ratio) / the TENSORBOARD_LOGGING_DIR variable.",
    bad=_y("warmup_ratio: 0.1\n"), good=_y("warmup_steps: 0.1\n"), target="train.yaml",
)

_WORD_NUMBERS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twenty",
                 "hundred", "thousand", "million", "none", "null", "true", "false"}


def _type_message(key: str, value: Any, types: List[str]) -> str:
    want = " or ".join(t for t in types if t != "null")
    if isinstance(value, str) and {"number", "integer", "boolean"} & set(types):
        text = value.strip()
        try:
            float(text.replace("_", ""))
            return (f"`{key}` is the text {value!r}, not a number: LLaMA-Factory passes it on unconverted and it fails "
                    f"later. Write it unquoted ({key}: {text})")
        except ValueError:
            pass
        if text.lower() in ("true", "false", "yes", "no", "on", "off") and "boolean" in types:
            meant = "true" if text.lower() in ("true", "yes", "on") else "false"
            return f"`{key}` is the text {value!r}, which Python treats as true: write {meant} without quotes"
        if any(word in text.lower().split() for word in _WORD_NUMBERS) or text.lower() in _WORD_NUMBERS:
            return f"`{key}` is a number written as a word ({value!r}): write digits"
    shown = repr(value) if not isinstance(value, (dict, list)) else json_type(value)
    return f"`{key}` must be {want}, got {shown} ({json_type(value)})"


def check_values(config: TrainingConfig, settings) -> Iterator:
    props = train_schema.properties()
    for key, value in config.values.items():
        prop = props.get(key) if isinstance(key, str) else None
        if prop is None:
            continue
        where = config.where(key)
        types = prop["type"]
        kind = json_type(value)
        if key in COMMA_LIST_KEYS and kind == "array":
            kind = "string"
        if kind == "integer" and "number" in types:
            kind = "number"
        if kind in ("integer", "number") and value in (0, 1) and types == ["boolean"]:
            # parse_dict hands 0/1 on unconverted and every use is a truth test: it works (checked on 0.9.5).
            yield WRONG_TYPE.diag(f"`{key}: {value}` is a number, not a boolean; LLaMA-Factory only tests its truth, "
                                  f"so it works as {'true' if value else 'false'}. Write "
                                  f"{'true' if value else 'false'}", severity=INFO, **where)
            continue
        if kind not in types and not (kind == "null" and "boolean" in types):
            # A number where free text is expected (run_name: 123) rarely breaks anything: a warning.
            lenient = kind in ("integer", "number") and set(types) <= {"string", "null"} and key not in (
                "template", "dataset", "eval_dataset", "model_name_or_path", "stage", "finetuning_type")
            yield WRONG_TYPE.diag(_type_message(key, value, types), severity=WARNING if lenient else None, **where)
            continue
        if key == "template":
            continue  # checked against the template registry below
        enum = prop.get("enum")
        if key == "quantization_method" and config.values.get("quantization_bit") is not None:
            continue  # TY220 (training/ignored_settings.py) says what the run then does
        if enum and isinstance(value, str) and value not in enum:
            choices = [c for c in enum if c is not None]
            hint = did_you_mean(value, choices)
            raises = _raises(prop.get("x-enum-raises"), config)
            consequence = (f"LLaMA-Factory raises ({raises.replace('<value>', value)})" if raises else
                           "LLaMA-Factory does not check it and will not do what you meant")
            if key == "pref_loss" and config.stage == "dpo":  # what the installed TRL makes of it (TY440-TY441)
                consequence, fails, keep_hint = preference.unknown_loss(value, lf_stack.stack(settings))
                raises = "TRL raises" if fails else None  # by the TRL version the run gets (TY440-TY441)
                hint = hint if keep_hint else ""
            yield BAD_CHOICE.diag(f"`{key}: {value}` is not one of {', '.join(choices)}; {consequence}.{hint}",
                                  severity=None if raises else WARNING, **where)
    template = config.values.get("template")
    if isinstance(template, str) and template not in getattr(settings, "checkout_templates", ()):
        known = train_schema.templates()["templates"]
        since = known.get(template, {}).get("since")
        version, source = train_schema.target_version(settings)
        if since and train_schema.version_tuple(since) > train_schema.version_tuple(version):
            yield UNKNOWN_TEMPLATE.diag(f"template `{template}` needs LLaMA-Factory {train_schema.version_name(since)} "
                                        f"or newer; the target is {train_schema.version_name(version)} ({source}), "
                                        f"where `Template {template} does not exist.`",
                                        **config.where("template"))
        elif template not in known:
            hint = did_you_mean(template, known, otherwise=f" Registered: {', '.join(sorted(known)[:12])}, ...")
            yield UNKNOWN_TEMPLATE.diag(f"template `{template}` does not exist in LLaMA-Factory "
                                        f"(`Template {template} does not exist.`).{hint}", **config.where("template"))


def _raises(raises: Optional[list], config: TrainingConfig) -> Optional[str]:
    """Where LLaMA-Factory raises on a value outside the choices (the schema's x-enum-raises), when it does for
    this config: a raise of this config's entry point whose conditions the config meets."""
    for said in raises or []:
        if config.entry in said["entries"] and all(_holds(config, k, v) for k, v in said["when"].items()):
            return said["where"]
    return None


def _holds(config: TrainingConfig, key: str, wanted: Any) -> bool:
    if key == "datasets":  # at least that many datasets in one list
        return max(len(split_names(config.values.get(k))) for k in ("dataset", "eval_dataset")) >= wanted
    return config.get(key) == wanted


def check_unchecked(config: TrainingConfig, settings) -> Iterator:
    """What LLaMA-Factory never checks but users get wrong."""
    v = config.values
    if config.entry == "train" and not any(v.get(k) for k in ("do_train", "do_eval", "do_predict")) \
            and v.get("eval_strategy", "no") in ("no", None):
        yield NO_DO_TRAIN.diag("no `do_train: true`: the model and data load, and nothing trains or is saved. "
                               "Add `do_train: true`", **config.where("stage", "model_name_or_path"))
    max_samples = v.get("max_samples")
    if isinstance(max_samples, int) and not isinstance(max_samples, bool) and max_samples <= 0:
        yield MAX_SAMPLES.diag(f"`max_samples: {max_samples}` keeps no sample: give a positive number or delete it",
                               **config.where("max_samples"))
    deepspeed = v.get("deepspeed")
    if isinstance(deepspeed, str) and deepspeed and not deepspeed.lstrip().startswith("{"):
        resolved = config.resolve(deepspeed)
        if not os.path.isfile(resolved):
            looked = " and ".join(config.candidates(deepspeed))
            yield DEEPSPEED_FILE.diag(f"`deepspeed: {deepspeed}` does not exist (looked at {looked}; relative paths "
                                      "are resolved against the directory llamafactory-cli is launched from)",
                                      **config.where("deepspeed"))
        else:
            try:
                with guarded.open_regular(resolved, "r", encoding="utf-8") as f:
                    data = json.load(f)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as err:
                yield DEEPSPEED_FILE.diag(f"`deepspeed: {deepspeed}` is not a valid JSON config ({err}): fix the file",
                                          **config.where("deepspeed"))
    lr = v.get("learning_rate")
    if isinstance(lr, (int, float)) and not isinstance(lr, bool) and config.entry == "train":
        if 0 <= lr and (lr == 0 or lr > 1e-2 or lr < 1e-7):  # a negative one: TY433 (an error, futile_values.py)
            effect = "nothing trains" if lr <= 0 else "training will likely diverge" if lr > 1e-2 else \
                "nothing will change"
            yield LEARNING_RATE.diag(f"`learning_rate: {lr:g}` is outside 1e-7..1e-2: {effect}; typical values are "
                                     "1.0e-4 (LoRA) and 1.0e-5 (full)", **config.where("learning_rate"))
    other = _output_dir_mismatch(v.get("output_dir"), v.get("model_name_or_path"))
    if other:
        yield OUTPUT_DIR_MODEL.diag(
            f"`output_dir: {v['output_dir']}` names {other[0]}, but `model_name_or_path` is {v['model_name_or_path']} "
            f"({other[1]}): a copied config? Rename output_dir", **config.where("output_dir"))
    if "template" not in v and str(v.get("stage", "sft")) != "pt" and config.engine != "v1":
        yield NO_TEMPLATE.diag("no `template`: LLaMA-Factory falls back to the tokenizer's chat template, or to the "
                               "`empty` template when it has none. Set the model's template",
                               **config.where("stage", "model_name_or_path"))
    cutoff = v.get("cutoff_len")
    if isinstance(cutoff, int) and not isinstance(cutoff, bool) and cutoff <= 0:
        yield CUTOFF_LEN.diag(f"`cutoff_len: {cutoff}` leaves no token of any sample: use a positive length such as "
                              "2048", **config.where("cutoff_len"))
    for key, text in (("warmup_ratio", "use `warmup_steps` (a float below 1 is a ratio of the run)"),
                      ("logging_dir", "set the TENSORBOARD_LOGGING_DIR variable instead")):
        if key in v and v[key] not in (None, 0, 0.0):
            yield DEPRECATED_KEY.diag(f"`{key}` is deprecated in transformers 5 (it still works): {text}",
                                      **config.where(key))


# Model families as they appear in ids and folder names; (pattern, display name). Order: specific first.
_FAMILIES = [
    (r"qwen\d*(?:[._]\d)?(?:[-_]?(?:vl|omni|audio|moe))?", "Qwen"), (r"llama[-_]?\d*", "Llama"),
    (r"mi[sx]tral", "Mistral"), (r"gemma\d*", "Gemma"), (r"phi[-_]?\d", "Phi"), (r"deepseek", "DeepSeek"),
    (r"(?:chat)?glm", "GLM"), (r"baichuan", "Baichuan"), (r"internlm|intern[-_]?vl", "InternLM"),
    (r"\byi\b", "Yi"), (r"falcon", "Falcon"), (r"olmo", "OLMo"), (r"granite", "Granite"), (r"mossvl|moss", "MOSS"),
]


def _families(text: str) -> List[str]:
    low = text.lower()
    return [name for pattern, name in _FAMILIES if re.search(pattern, low)]


def _output_dir_mismatch(output_dir, model) -> Optional[Tuple[str, str]]:
    """(family in output_dir, family of the model) when they share none (a distilled DeepSeek-Qwen is both)."""
    if not isinstance(output_dir, str) or not isinstance(model, str):
        return None
    model_families = _families(model.rstrip("/").split("/")[-1]) or _families(model)
    out_families = _families(output_dir)
    if model_families and out_families and not set(model_families) & set(out_families):
        return out_families[0], model_families[0]
    return None
