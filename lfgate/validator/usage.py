"""How a training config uses its data: where its dataset_info.json is (``registry_path``) and, per dataset it
names, the stage, template, media folder and cutoff it is read with (``dataset_usages``), so the dataset rules run
as that config loads the data. The engine calls both before the LK rules (``links.check_links``).
"""

from __future__ import annotations

import os
from typing import Iterator, Optional, Tuple

from lfgate.lf_facts import split_names
from lfgate.validator import train_schema
from lfgate.validator.model import DATA_STAGE, DatasetUsage


def _dataset_dir(config, settings) -> Optional[str]:
    value = settings.dataset_dir or config.values.get("dataset_dir") or "data"
    if not isinstance(value, str) or value.startswith(("REMOTE:", "ONLINE")):
        return None
    if not settings.dataset_dir and "dataset_dir" in getattr(config, "placeholder_keys", ()):
        return None  # a template's `${DIR}/data`: the folder is known only once it is rendered
    return value


def registry_path(config, settings) -> Optional[str]:
    """dataset_dir/dataset_info.json, resolved against the directory LLaMA-Factory is launched from (the config's
    launch folder, validator/launch.py, then the other candidates); None for REMOTE:/ONLINE, a template's
    placeholder and other engines."""
    if getattr(config, "engine", "v0") == "v1" or getattr(config, "entry", "train") != "train":
        return None
    dataset_dir = _dataset_dir(config, settings)
    if dataset_dir is None:
        return None
    if settings.dataset_dir:  # given on lfgate's command line: relative to the current directory
        return os.path.join(os.path.abspath(settings.dataset_dir), "dataset_info.json")
    candidates = [os.path.join(c, "dataset_info.json") for c in config.candidates(dataset_dir)]
    return next((c for c in candidates if os.path.isfile(c)), candidates[0])


def int_or_none(value) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _media_dir(config, settings) -> Optional[str]:
    media = config.values.get("media_dir")
    if isinstance(media, str) and media:
        return config.resolve(media)
    dataset_dir = _dataset_dir(config, settings)
    if dataset_dir is None:
        return None
    if settings.dataset_dir:
        return os.path.abspath(settings.dataset_dir)
    return config.resolve(dataset_dir)  # media_dir defaults to dataset_dir


def _usage(config, settings) -> DatasetUsage:
    stage = config.values.get("stage", "sft")
    data_stage = DATA_STAGE.get(stage) if isinstance(stage, str) else None
    cutoff = int_or_none(config.values.get("cutoff_len", 2048))
    if data_stage == "pt":
        cutoff = None  # pre-training packs text into blocks: nothing is cut from a sample
    template = config.values.get("template")
    return DatasetUsage(stage=data_stage, media_dir=_media_dir(config, settings),
                        template=template if isinstance(template, str) else None,
                        config_path=config.path, cutoff_len=cutoff,
                        vision=_vision(config, template if isinstance(template, str) else None),
                        counting=_counting(config, data_stage))


def _counting(config, data_stage):
    """How the samples are counted in tokens (lfgate/tokens): the model's tokenizer, template, cutoff_len."""
    from lfgate.tokens.sample import plan_for

    return plan_for(config.values, stage=data_stage, resolve=config.resolve)


def _vision(config, template) -> Optional[tuple]:
    from lfgate.validator import media

    return media.vision_settings(config, train_schema.templates()["templates"].get(template))


def dataset_usages(config, registry, settings) -> Iterator[Tuple[str, DatasetUsage]]:
    if getattr(config, "engine", "v0") == "v1" or getattr(config, "entry", "train") != "train":
        return
    usage = _usage(config, settings)
    seen = set()
    for key in ("dataset", "eval_dataset"):
        for name in split_names(config.values.get(key)):
            if name not in seen:  # `dataset: a,a` loads a once
                seen.add(name)
                yield name, usage
