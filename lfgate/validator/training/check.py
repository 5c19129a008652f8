"""Every rule over one config: keys, values, parse checks, then the rule modules built on them; a v1 config's own."""

from __future__ import annotations

from typing import List

from lfgate.validator.training import futile_values, ignored_settings, model_loading, newer_releases, v1_engine
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
    return found
