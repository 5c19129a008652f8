"""dataset_info.json: read it as LLaMA-Factory's parser.py does, and check every entry. (Minimal; to extend.)"""

from __future__ import annotations

import json
import os

from lfguard.registry import ERROR, rule
from lfguard.validator.model import DatasetEntry, Registry

_COLUMN_DEFAULTS = {"prompt": "instruction", "query": "input", "response": "output", "history": None,
                    "messages": "conversations", "system": None, "tools": None, "images": None, "videos": None,
                    "audios": None, "chosen": None, "rejected": None, "kto_tag": None}
_TAG_DEFAULTS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}

REGISTRY_UNREADABLE = rule(
    "DI001", "registry-unreadable", ERROR,
    "dataset_info.json is not valid JSON",
    why="LLaMA-Factory raises `Cannot open data/dataset_info.json` before anything trains.",
    fix="Fix the JSON syntax at the reported place.",
    bad={"data/dataset_info.json": '{"a": {"file_name": "a.json",}}\n', "data/a.json": "[]"},
    good={"data/dataset_info.json": '{"a": {"file_name": "a.json"}}\n',
          "data/a.json": '[{"instruction": "hi", "input": "", "output": "hello"}]'},
)


def load_registry(path: str, settings) -> Registry:
    registry = Registry(path=path, dataset_dir=os.path.dirname(path) or ".")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        registry.readable = False
        line = getattr(err, "lineno", None)
        col = getattr(err, "colno", None)
        registry.diagnostics.append(REGISTRY_UNREADABLE.diag(f"cannot read {path}: {err}", file=path, line=line,
                                                             column=col))
        return registry
    if not isinstance(data, dict):
        return registry
    for name, raw in data.items():
        if isinstance(raw, dict):
            registry.entries[name] = resolve_entry(name, raw, registry)
    return registry


def resolve_entry(name: str, raw: dict, registry: Registry) -> DatasetEntry:
    entry = DatasetEntry(name=name, registry_path=registry.path, dataset_dir=registry.dataset_dir, raw=raw)
    for key, load_from in (("hf_hub_url", "hf_hub"), ("script_url", "script"), ("cloud_file_name", "cloud_file"),
                           ("file_name", "file")):
        if key in raw:
            entry.load_from, entry.source = load_from, raw[key]
            break
    entry.formatting = raw.get("formatting", "alpaca")
    entry.ranking = raw.get("ranking", False)
    entry.split = raw.get("split", "train")
    entry.num_samples = raw.get("num_samples")
    columns = raw.get("columns")
    entry.columns = dict(_COLUMN_DEFAULTS) if not isinstance(columns, dict) else {
        k: columns.get(k) for k in _COLUMN_DEFAULTS}
    tags = raw.get("tags")
    entry.tags = dict(_TAG_DEFAULTS) if not isinstance(tags, dict) else {k: tags.get(k) for k in _TAG_DEFAULTS}
    return entry
