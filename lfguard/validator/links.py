"""Links between a training config, its registry and its datasets (minimal; to extend)."""

from __future__ import annotations

import os

from lfguard.validator.model import DATA_STAGE, DatasetUsage


def registry_path(config, settings):
    dataset_dir = settings.dataset_dir or config.values.get("dataset_dir") or "data"
    if not isinstance(dataset_dir, str) or dataset_dir.startswith(("REMOTE:", "ONLINE")):
        return None
    return os.path.join(config.base_dir, dataset_dir, "dataset_info.json")


def dataset_usages(config, registry, settings):
    stage = DATA_STAGE.get(config.values.get("stage", "sft"))
    for key in ("dataset", "eval_dataset"):
        value = config.values.get(key)
        if isinstance(value, str):
            for name in value.split(","):
                yield name.strip(), DatasetUsage(stage=stage, config_path=config.path)


def check_links(config, registry, registry_path, used, settings):
    return []
