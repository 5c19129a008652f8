"""TY444-TY445: a DeepSpeed config that disagrees with the training YAML, as transformers finds at train start.

transformers' HfTrainerDeepSpeedConfig (integrations/deepspeed.py) fills every `"auto"` value of the DeepSpeed
config from TrainingArguments and notes each explicit value that differs (`fill_match`: Python's `!=`, so the text
"4" differs from the number 4); `trainer_config_finalize` raises `Please correct the following DeepSpeed config
values that mismatch TrainingArguments values` once the model has loaded and the steps are counted, after
tokenization. This module replays `trainer_config_process` and the finalize step's scheduler checks for the
installed transformers (4.x also matches `amp.enabled` and `amp.opt_level`), with the world size from
devices_env.py, and reports each mismatch at the JSON key.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Iterator, List, Optional, Tuple

from lfgate import lf_stack
from lfgate.devices_env import device_count
from lfgate.readers import guarded
from lfgate.registry import ERROR, WARNING, rule
from lfgate.validator.training.config import TrainingConfig, _y

_DS = ('{\n "train_micro_batch_size_per_gpu": %s,\n "gradient_accumulation_steps": "auto",\n'
       ' "zero_optimization": {"stage": 2}\n}\n')

MISMATCH = rule(
    "TY444", "deepspeed-config-mismatch", ERROR, "A DeepSpeed config value that disagrees with the training YAML",
    why="transformers checks each explicit value of the DeepSpeed JSON against TrainingArguments (`fill_match` in "
        "integrations/deepspeed.py): train_micro_batch_size_per_gpu, gradient_accumulation_steps, train_batch_size "
        "(= micro batch x accumulation x world size), gradient_clipping, fp16/bf16.enabled, optimizer lr, betas, "
        "eps and weight_decay, scheduler warmup_max_lr, total_num_steps and warmup_num_steps. Any difference, a "
        "quoted number included, raises `Please correct the following DeepSpeed config values that mismatch "
        "TrainingArguments values` at train start, after tokenization and model load. The world size is the one "
        "lfgate derives for the step budget (devices_env.py).",
    fix="Write `\"auto\"` for the value in the DeepSpeed JSON (the YAML then decides), or make the two agree.",
    bad={**_y("deepspeed: ds.json\nper_device_train_batch_size: 2\n"), "ds.json": _DS % "4"},
    good={**_y("deepspeed: ds.json\nper_device_train_batch_size: 2\n"), "ds.json": _DS % '"auto"'},
    target="train.yaml",
)
STEPS_UNKNOWN = rule(
    "TY445", "deepspeed-scheduler-steps", WARNING, "A DeepSpeed scheduler step count that must equal the run's",
    why="transformers fills `scheduler.params.total_num_steps` with the run's optimizer steps and "
        "`warmup_num_steps` with its warm-up steps at train start, and raises on an explicit number that differs. "
        "Without `max_steps` the count depends on the data, the batch and the devices, so an explicit number breaks "
        "as soon as one of them changes.",
    fix="Write `\"auto\"` for total_num_steps and warmup_num_steps.",
    bad={**_y("deepspeed: ds.json\n"), "ds.json": '{"scheduler": {"type": "WarmupDecayLR", "params": {\n'
                                                  '  "total_num_steps": 1000}}}\n'},
    good={**_y("deepspeed: ds.json\n"), "ds.json": '{"scheduler": {"type": "WarmupDecayLR", "params": {\n'
                                                   '  "total_num_steps": "auto"}}}\n'},
    target="train.yaml",
)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load(config: TrainingConfig) -> Optional[Tuple[dict, Optional[str], Optional[str]]]:
    """(the DeepSpeed config, its path or None for an inline dict, its text) or None (TY212 reports a bad file)."""
    value = config.values.get("deepspeed")
    if isinstance(value, dict):
        return value, None, None
    if not isinstance(value, str) or not value or value.lstrip().startswith("{"):
        return None
    path = config.resolve(value)
    try:
        with guarded.open_regular(path, "r", encoding="utf-8") as f:
            text = f.read()
        data = json.loads(text)
    except (OSError, ValueError):
        return None
    return (data, path, text) if isinstance(data, dict) else None


def _node(ds: dict, dotted: str) -> Tuple[Optional[dict], str]:
    """HfDeepSpeedConfig.find_config_node: (the dict holding the last key, the key), (None, key) when absent."""
    *parents, key = dotted.split(".")
    node: Any = ds
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None, key
    return (node if isinstance(node, dict) else None), key


def _warmup_steps(config: TrainingConfig, total: Optional[int]) -> Optional[int]:
    """TrainingArguments.get_warmup_steps, when it does not depend on an unknown step count."""
    steps: Any = config.get("warmup_steps", 0)
    ratio: Any = config.values.get("warmup_ratio")
    fraction = steps if _number(steps) and 0 < steps < 1 else ratio if _number(ratio) and ratio > 0 else None
    if _number(steps) and steps >= 1:
        return int(steps)
    if fraction is not None:
        return math.ceil(total * fraction) if total is not None else None
    return 0


def expected(config: TrainingConfig, settings, transformers: Optional[str]) -> List[Tuple[str, Any, str, bool]]:
    """[(DeepSpeed key, the TrainingArguments value, the YAML key(s) it comes from, must match)] in
    trainer_config_process's order, for that transformers version."""
    g = config.get
    micro, accum = g("per_device_train_batch_size", 8), g("gradient_accumulation_steps", 1)
    world = device_count(settings)
    auto_batch = bool(g("auto_find_batch_size", False))
    batch = world.count * micro * accum if _number(micro) and _number(accum) else None
    fp16 = bool(g("fp16", False) or g("fp16_full_eval", False))
    bf16 = bool(g("bf16", False) or g("bf16_full_eval", False))
    lr = g("learning_rate", 5e-5)
    out = [("train_micro_batch_size_per_gpu", micro, "per_device_train_batch_size", not auto_batch),
           ("gradient_accumulation_steps", accum, "gradient_accumulation_steps", True),
           ("train_batch_size", batch, f"per_device_train_batch_size {micro} x gradient_accumulation_steps {accum} x "
                                       f"world size {world.describe()}", not auto_batch and batch is not None),
           ("gradient_clipping", g("max_grad_norm", 1.0), "max_grad_norm", True),
           ("optimizer.params.lr", lr, "learning_rate", True),
           ("optimizer.params.betas", [g("adam_beta1", 0.9), g("adam_beta2", 0.999)], "adam_beta1 + adam_beta2", True),
           ("optimizer.params.eps", g("adam_epsilon", 1e-8), "adam_epsilon", True),
           ("optimizer.params.weight_decay", g("weight_decay", 0.0), "weight_decay", True),
           ("scheduler.params.warmup_max_lr", lr, "learning_rate", True)]
    if lf_stack.release(transformers)[:1] == (4,):  # 4.x: fp16 goes through amp or apex (fp16_backend)
        apex = g("fp16_backend", "auto") == "apex"
        out += [("fp16.enabled", fp16 and not apex, "fp16 | fp16_full_eval (amp backend)", True),
                ("amp.enabled", fp16 and apex, "fp16 with fp16_backend: apex", True),
                ("amp.opt_level", g("fp16_opt_level", "O1"), "fp16_opt_level", True)]
    else:
        out.append(("fp16.enabled", fp16, "fp16 | fp16_full_eval", True))
    out.append(("bf16.enabled", bf16, "bf16 | bf16_full_eval", True))
    max_steps = g("max_steps", -1)
    total = int(max_steps) if _number(max_steps) and max_steps > 0 else None
    out += [("scheduler.params.total_num_steps", total, "max_steps", total is not None),
            ("scheduler.params.warmup_num_steps", _warmup_steps(config, total), "warmup_steps",
             _warmup_steps(config, total) is not None)]
    return out


def check(config: TrainingConfig, settings) -> List:
    if config.entry != "train":
        return []
    loaded = load(config)
    if loaded is None:
        return []
    return list(_check(config, settings, *loaded))


def _shown(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (str, list, bool)) or value is None else f"{value:g}" \
        if isinstance(value, float) else str(value)


def _check(config: TrainingConfig, settings, ds: dict, path: Optional[str], text: Optional[str]) -> Iterator:
    places = None
    if text is not None:
        from lfgate.readers.jsonpos import position_map

        places = position_map(text).places
    transformers = lf_stack.stack(settings).version("transformers")
    shown_file = os.path.basename(path) if path else "the inline `deepspeed` dict"
    for dotted, hf_value, hf_key, must in expected(config, settings, transformers):
        node, key = _node(ds, dotted)
        if node is None or key not in node:
            continue
        ds_value = node[key]
        if ds_value == "auto" or ds_value is None:
            continue
        where = _where(config, path, places, dotted)
        if dotted.startswith("scheduler.params.") and dotted.endswith("_num_steps") and not must:
            yield STEPS_UNKNOWN.diag(
                f"`{dotted}: {_shown(ds_value)}` in {shown_file} must equal the run's "
                f"{'warm-up' if 'warmup' in dotted else 'optimizer'} steps, which depend on the data, batch and "
                "devices without `max_steps`: transformers raises at train start when they differ. Write \"auto\"",
                **where)
            continue
        if not must or ds_value == hf_value:
            continue
        quoted = (f" (the text {ds_value!r}, not a number: transformers compares it as it is)"
                  if isinstance(ds_value, str) and _looks_numeric(ds_value) else "")
        named = hf_key if " x " in hf_key else f"`{hf_key}`"
        yield MISMATCH.diag(
            f"`{dotted}: {_shown(ds_value)}` in {shown_file}{quoted} disagrees with {named} = {_shown(hf_value)} "
            f"({os.path.basename(config.path)}): transformers raises `Please correct the following DeepSpeed config "
            "values that mismatch TrainingArguments values` at train start, after the model loads. Write \"auto\" "
            "in the DeepSpeed config, or make them agree", **where)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return text.strip().lower() in ("true", "false")


def _where(config: TrainingConfig, path: Optional[str], places, dotted: str) -> dict:
    if path is None or places is None:
        return config.where("deepspeed")
    key_path = tuple(dotted.split("."))
    place = places.get(key_path)
    if place is None:
        return {"file": path}
    line, column = place.key
    return {"file": path, "line": line, "column": column}
