"""Every rule over one config: keys, values, parse checks, then the rule modules built on them; a v1 config's own."""

from __future__ import annotations

import dataclasses
from typing import List

from lfgate.lf_facts import env_enabled as _env
from lfgate.validator import train_schema
from lfgate.validator.training import (
    deepspeed_json,
    futile_values,
    ignored_settings,
    kernels,
    model_loading,
    newer_releases,
    preference,
    v1_engine,
)
from lfgate.validator.training.config import COMMAND_LINE, TrainingConfig
from lfgate.validator.training.keys import check_keys
from lfgate.validator.training.parse_checks import PARSE_CHECKS, _View, check_output_dir
from lfgate.validator.training.values import check_unchecked, check_values


def check_config(config: TrainingConfig, settings) -> List:
    """Every rule over a config ``load_config`` read (none over one it could not read); a finding an override
    causes names the `key=value` it comes from."""
    if not config.readable:
        return []
    if config.engine == "v1":  # v1's keys, dataset list and message format
        return list(v1_engine.check(config, settings))
    overrides = getattr(settings, "overrides", None) or {}
    return [_with_cause(found, overrides) if found.file == COMMAND_LINE else found
            for found in _rules(config, settings)]


def _with_cause(found, overrides) -> object:
    """Say which key=value on the command line caused a finding."""
    causes = [f"{k}={v}" for k, v in overrides.items() if f"`{k.split('.')[0]}" in found.message]
    causes = causes or [f"{k}={v}" for k, v in overrides.items()]
    return found.at(message=f"{found.message} (command line: {' '.join(causes)})")


def _rules(config: TrainingConfig, settings) -> List:
    """Every v0 rule over one config, in file order (the reporter sorts)."""
    found = list(check_keys(config, settings))
    config = as_meant(config)
    found.extend(check_values(config, settings))
    if config.entry == "train":
        found.extend(check_unchecked(config, settings))
        view = _View(config)
        for check in PARSE_CHECKS:
            try:
                hit = check.test(view)
            except (TypeError, ValueError, AttributeError, OverflowError):  # a wrong type is TY201's, .inf TY401's
                hit = False
            if hit:
                found.append(check.rule.diag(check.message, **config.where(*check.keys)))
        found.extend(check_output_dir(config))
        found.extend(ignored_settings.check_ignored(config))
    else:
        if not config.values.get("model_name_or_path"):
            found.append(PARSE_CHECKS[0].rule.diag(PARSE_CHECKS[0].message, file=config.path))
        export_check = next(c for c in PARSE_CHECKS if c.rule.code == "TY303")
        if export_check.test(_View(config)):
            found.append(export_check.rule.diag(export_check.message, **config.where(*export_check.keys)))
    found.extend(futile_values.check(config, settings))
    found.extend(model_loading.check(config, settings))
    found.extend(newer_releases.check(config, settings))
    found.extend(preference.check(config, settings))
    found.extend(kernels.check(config, settings))
    found.extend(deepspeed_json.check(config, settings))
    return found


def as_meant(config: TrainingConfig) -> TrainingConfig:
    """The config with each renamed key under its new name, where the old name's value means the same (TY103
    says once that LLaMA-Factory rejects the old name): the other rules judge what the user meant, so
    `evaluation_strategy: steps` is one finding, not also `eval_steps` doing nothing without `eval_strategy`.
    With ALLOW_EXTRA_ARGS=1 LLaMA-Factory drops the old name instead, and the config is judged as it is read."""
    renamed = train_schema.train_schema()["x-renamed"]
    moves = {old: info["key"] for old, info in renamed.items() if old in config.values and info.get("same_value")
             and info["key"] not in config.values}
    if not moves or _env("ALLOW_EXTRA_ARGS"):
        return config
    moves = {old: new for old, new in moves.items() if list(moves.values()).count(new) == 1}  # two olds: neither
    return dataclasses.replace(config, values={moves.get(k, k): v for k, v in config.values.items()},
                               overrides=frozenset(moves.get(k, k) for k in config.overrides),
                               meant_from={new: old for old, new in moves.items()})
