"""LLaMA-Factory v1 configs (USE_V1=1): their keys, their dataset-list YAML and the v1 message format. Rules TY6xx.

v1 has its own parser (v1/config/arg_parser.py: HfArgumentParser over Model/Data/Training/SampleArguments, extra
keys refused unless ALLOW_EXTRA_KEYS=1), its own dataset list (a YAML of name -> {path, source, split, converter,
size, weight, streaming}, read by v1/core/data_engine.py) and its own sample format (messages of role / content
blocks / loss_weight, v1/utils/types.py). The arguments are data: schemas/v1.schema.json, generated from the newest
source by scripts/gen_v1_schema.py.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Iterator, List, Optional

from lfgate.lf_facts import did_you_mean, env_enabled
from lfgate.registry import ERROR, WARNING, rule
from lfgate.validator.training.config import TrainingConfig

_V1 = "model: Qwen/Qwen3-0.6B\nmodel_class: llm\noutput_dir: outputs/sft\nmax_steps: 10\n"
_LIST = "demo:\n  path: data/demo.jsonl\n  source: local\n"
_SAMPLE = json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "value": "hi"}], "loss_weight": 0.0},
                                   {"role": "assistant", "content": [{"type": "text", "value": "Hello"}],
                                    "loss_weight": 1.0}]}) + "\n"


def _v1(extra: str = "", files=None) -> dict:
    return {"train.yaml": _V1 + "train_dataset: data/demo.yaml\n" + extra, "data/demo.yaml": _LIST,
            "data/demo.jsonl": _SAMPLE, **(files or {})}


V1_KEY = rule(
    "TY601", "v1-unknown-key", ERROR, "A key LLaMA-Factory v1 does not know",
    why="v1's parser (HfArgumentParser.parse_dict over its four argument classes) raises `Some keys are not used "
        "by the HfArgumentParser` for any other key, unless ALLOW_EXTRA_KEYS=1. v0 keys such as `dataset`, "
        "`template` or `per_device_train_batch_size` do not exist in v1.",
    fix="Use v1's keys (`train_dataset`, `micro_batch_size`, `model`...); the message names the closest one.",
    bad=_v1("per_device_train_batch_size: 2\n"), good=_v1("micro_batch_size: 2\n"), target="train.yaml",
)
V1_VALUE = rule(
    "TY602", "v1-invalid-value", ERROR, "A v1 value its parser or plugins refuse",
    why="v1 raises `Unsupported flash_attn`, `Plugin configuration must have a 'name' field` for a plugin config "
        "(peft_config, dist_config, kernel_config...) without `name`, and `dynamic_batching requires max_steps` / "
        "`save_epochs is not supported with dynamic_batching` (v1/config/*.py).",
    fix="Use one of the values the message lists; give every plugin config a `name`.",
    bad=_v1("peft_config:\n  r: 16\n"), good=_v1("peft_config:\n  name: lora\n  r: 16\n"), target="train.yaml",
)
V1_DATASET = rule(
    "TY603", "v1-dataset-list", ERROR, "A v1 dataset list entry LLaMA-Factory cannot load",
    why="v1 reads `train_dataset` / `eval_dataset` as a YAML of name -> {path, source, split, converter, size, "
        "weight, streaming}: `source` is hf_hub (the default) or local (the only loader registered), `converter` "
        "alpaca, sharegpt or pair, a local `path` must exist with a .json/.jsonl/.csv/.parquet/.arrow/.txt "
        "extension, and streaming must be the same for every dataset (v1/core/data_engine.py, "
        "v1/plugins/data_plugins/).",
    fix="Fix the entry the message names.",
    bad=_v1(files={"data/demo.yaml": "demo:\n  path: data/demo.jsonl\n  source: locl\n"}), good=_v1(),
    target="train.yaml",
)
V1_MESSAGES = rule(
    "TY604", "v1-message-format", ERROR, "A v1 sample not in v1's message format",
    why="Without a `converter`, v1 reads each sample as `messages` (or `chosen_messages` / `rejected_messages`): "
        "a list of {role: system/user/assistant/tool, content: [{type: text/reasoning/tool_call/image_url/"
        "video_url/audio_url, value: string}], loss_weight}; another shape fails while rendering "
        "(v1/utils/types.py, v1/core/rendering/).",
    fix="Write the samples in v1's format, or name a converter (alpaca, sharegpt, pair) in the dataset list.",
    bad=_v1(files={"data/demo.jsonl": json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n"}),
    good=_v1(), target="train.yaml",
)

# v1/utils/types.py: Message.role, Content.type; v1/plugins/data_plugins: the registered loaders and converters.
_ROLES = ("system", "user", "assistant", "tool")
_CONTENT_TYPES = ("text", "reasoning", "tool_call", "image_url", "video_url", "audio_url")
_SOURCES = ("hf_hub", "local")
_CONVERTERS = ("alpaca", "sharegpt", "pair")
_EXTENSIONS = ("arrow", "csv", "json", "jsonl", "parquet", "txt")
_PLUGIN_KEYS = ("init_config", "peft_config", "kernel_config", "quant_config", "dist_config", "optim_config",
                "lr_scheduler_config")
_ENUM_KEYS = {"flash_attn": "AttentionFunction", "model_class": "ModelClass", "batching_strategy": "BatchingStrategy",
              "sample_backend": "SampleBackend"}


@functools.lru_cache(maxsize=1)
def schema() -> dict:
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "v1.schema.json"), encoding="utf-8") as f:
        return json.load(f)


def _check_keys(config: TrainingConfig) -> Iterator:
    known = schema()["arguments"]
    extra_ok = env_enabled("ALLOW_EXTRA_KEYS")
    for key in config.values:
        if isinstance(key, str) and key in known:
            continue
        hint = did_you_mean(str(key), known, n=2)
        text = (f"`{key}` is not a LLaMA-Factory v1 key: its parser raises `Some keys are not used by the "
                f"HfArgumentParser`.{hint}")
        if extra_ok:
            text += " (ALLOW_EXTRA_KEYS=1: v1 ignores it silently instead)"
        yield V1_KEY.diag(text, severity=WARNING if extra_ok else None, **config.where(str(key)))


def _check_values(config: TrainingConfig) -> Iterator:
    v = config.values
    enums = schema()["enums"]
    for key, enum_name in _ENUM_KEYS.items():
        value = v.get(key)
        if value is not None and value not in enums.get(enum_name, [value]):
            consequence = "v1 raises `Unsupported flash_attn`" if key == "flash_attn" else "v1 cannot use it"
            yield V1_VALUE.diag(f"`{key}: {value}` is not one of {', '.join(enums[enum_name])}: {consequence}",
                                **config.where(key))
    for key in _PLUGIN_KEYS:
        value = v.get(key)
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                yield V1_VALUE.diag(f"`{key}` is a JSON string that does not parse", **config.where(key))
                continue
        if isinstance(value, dict) and "name" not in value:
            yield V1_VALUE.diag(f"`{key}` has no `name`: v1 raises `Plugin configuration must have a 'name' field.`",
                                **config.where(key))
    if v.get("batching_strategy") == "dynamic_batching":
        max_steps = v.get("max_steps")
        if not (isinstance(max_steps, int) and max_steps > 0):
            yield V1_VALUE.diag("`batching_strategy: dynamic_batching` needs a positive `max_steps`: v1 raises "
                                "`dynamic_batching requires max_steps because it is step-driven.`",
                                **config.where("batching_strategy"))
        if v.get("save_epochs") is not None:
            yield V1_VALUE.diag("`save_epochs` with `dynamic_batching`: v1 raises `save_epochs is not supported with "
                                "dynamic_batching; use save_steps instead.`", **config.where("save_epochs"))


def _load_yaml(path: str):
    from lfgate.readers import yaml_reader

    doc = yaml_reader.load_file(path)
    return doc.value if doc.readable else None


def _check_datasets(config: TrainingConfig) -> Iterator:
    for key in ("train_dataset", "eval_dataset"):
        value = config.values.get(key)
        if not isinstance(value, str) or not value:
            continue
        where = config.where(key)
        local = config.resolve(value)
        if value.endswith(".yaml"):
            if not os.path.isfile(local):
                yield V1_DATASET.diag(f"`{key}: {value}` is not a local file ({local}): v1 then reads it as a hub "
                                      "path (repo/file.yaml) and downloads it. Fix the path if it is local",
                                      severity=WARNING, **where)
                continue
            infos = _load_yaml(local)
            if not isinstance(infos, dict) or not infos:
                yield V1_DATASET.diag(f"`{key}: {value}` is not a mapping of dataset name -> {{path, source, ...}}",
                                      **where)
                continue
            yield from _check_list(config, key, value, infos)
        elif os.path.exists(local):
            yield from _check_local(config, key, value, local, None)


def _check_list(config: TrainingConfig, key: str, value: str, infos: dict) -> Iterator:
    where = config.where(key)
    allowed = schema()["dataset_info_keys"]
    streaming = set()
    for name, info in infos.items():
        at = f"`{key}: {value}`, dataset `{name}`"
        if not isinstance(info, dict):
            yield V1_DATASET.diag(f"{at} is not a mapping", **where)
            continue
        unknown = [k for k in info if k not in allowed]
        problems = [f"unknown key `{k}` (keys: {', '.join(allowed)})" for k in unknown]
        source = info.get("source", "hf_hub")
        if source not in _SOURCES:
            problems.append(f"`source: {source}` has no loader (hf_hub or local)")
        converter = info.get("converter")
        if converter is not None and converter not in _CONVERTERS:
            problems.append(f"`converter: {converter}` is not one of {', '.join(_CONVERTERS)}")
        if not isinstance(info.get("path"), str) or not info.get("path"):
            problems.append("no `path`")
        for number in ("size", "weight"):
            if number in info and not (isinstance(info[number], (int, float)) and not isinstance(info[number], bool)
                                       and info[number] > 0):
                problems.append(f"`{number}` must be a positive number")
        streaming.add(bool(info.get("streaming", False)))
        if problems:
            yield V1_DATASET.diag(f"{at}: {'; '.join(problems)}", **where)
            continue
        if source == "local":
            path = info["path"]
            local = config.resolve(path)
            if not os.path.exists(local):
                yield V1_DATASET.diag(f"{at}: `path: {path}` does not exist (looked at {local}; relative to the "
                                      "launch directory): v1 raises `Can not load dataset`", **where)
            elif os.path.isfile(local) and os.path.splitext(local)[1][1:] not in _EXTENSIONS:
                yield V1_DATASET.diag(f"{at}: `path: {path}` has an extension v1 does not load ("
                                      f"{', '.join(_EXTENSIONS)}): `Unknown dataset filetype`", **where)
            else:
                yield from _check_local(config, key, value, local, converter)
    if len(streaming) > 1:
        yield V1_DATASET.diag(f"`{key}: {value}` mixes streaming and non-streaming datasets: v1 raises `All datasets "
                              "must be streaming or non-streaming.`", **where)


def _message_problem(messages: Any, field: str) -> Optional[str]:
    if not isinstance(messages, list) or not messages:
        return f"`{field}` is not a non-empty list of messages"
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"`{field}[{i}]` is not an object"
        if message.get("role") not in _ROLES:
            return f"`{field}[{i}].role` is {message.get('role')!r}, not one of {', '.join(_ROLES)}"
        content = message.get("content")
        if not isinstance(content, list):
            return (f"`{field}[{i}].content` is a {type(content).__name__}, not a list of content blocks "
                    "({type, value})")
        for j, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") not in _CONTENT_TYPES \
                    or not isinstance(block.get("value"), str):
                return (f"`{field}[{i}].content[{j}]` is not a {{type, value}} block with type one of "
                        f"{', '.join(_CONTENT_TYPES)} and a string value")
        weight = message.get("loss_weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            return f"`{field}[{i}].loss_weight` is {weight!r}, not a number"
    return None


def _sample_problem(record: Any) -> Optional[str]:
    if not isinstance(record, dict):
        return "the sample is not an object"
    if "messages" in record:
        return _message_problem(record["messages"], "messages")
    if "chosen_messages" in record or "rejected_messages" in record:
        return (_message_problem(record.get("chosen_messages"), "chosen_messages")
                or _message_problem(record.get("rejected_messages"), "rejected_messages"))
    return "no `messages` (nor `chosen_messages` / `rejected_messages`)"


def _check_local(config: TrainingConfig, key: str, value: str, path: str, converter) -> Iterator:
    """v1's own format, for a dataset read without a converter (the first bad sample, with how many). Every
    record, streamed: v1 raises at the first bad one, wherever it is, so a prefix would pass a broken file."""
    if converter is not None:
        return
    from lfgate.readers import Record, iter_records

    first, bad, seen = None, 0, 0
    try:
        for item in iter_records(path):
            if not isinstance(item, Record):
                continue  # unreadable lines are the data-file rules' to report
            seen += 1
            problem = _sample_problem(item.value)
            if problem:
                bad += 1
                first = first or (item.index, problem)
    except (OSError, ValueError):
        return
    if first:
        index, problem = first
        more = f" ({bad} of {seen} samples)" if bad > 1 else ""
        yield V1_MESSAGES.diag(f"`{key}: {value}`: {os.path.basename(path)} sample {index}: {problem}{more}. Without "
                               "a `converter` v1 reads samples in its own message format", **config.where(key))


def check(config: TrainingConfig, settings) -> List:
    found = list(_check_keys(config))
    found.extend(_check_values(config))
    found.extend(_check_datasets(config))
    return found
