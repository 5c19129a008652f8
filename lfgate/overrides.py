"""`key=value` command-line overrides after a training YAML, read as llamafactory-cli reads them.

LLaMA-Factory's ``read_args`` merges the YAML with ``OmegaConf.from_cli(["k=v", ...])``: each value parsed as
YAML, dotted keys nested (``a.b=1`` sets ``a: {b: 1}``). `check`, `train` and each torchrun process use these two
functions, so they agree on what an override means.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Mapping, MutableMapping, Tuple


def split_overrides(items: Iterable[str]) -> Tuple[List[str], Dict[str, str]]:
    """(paths, {key: text}): ``key=value`` items that are not existing paths are overrides (a leading ``--`` on
    the key is dropped, as OmegaConf does)."""
    paths: List[str] = []
    overrides: Dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if sep and key and "/" not in key and not os.path.exists(item):
            overrides[key.lstrip("-")] = value
        else:
            paths.append(item)
    return paths, overrides


def apply_overrides(values: MutableMapping[str, Any], overrides: Mapping[str, str]) -> None:
    """Set each override in ``values`` (the YAML's top-level mapping), in place, as OmegaConf.merge would."""
    from lfgate.readers.yaml_reader import parse_scalar

    for raw_key, text in overrides.items():
        parts = raw_key.split(".")
        target = values
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[parts[-1]] = parse_scalar(text)


def top_level_keys(overrides: Mapping[str, str]) -> frozenset:
    """The YAML keys the overrides set or change (``a`` for ``a.b=1``)."""
    return frozenset(key.split(".")[0] for key in overrides)
