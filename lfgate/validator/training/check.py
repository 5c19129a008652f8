"""Every rule over one config: keys, values, parse checks, then the rule modules built on them."""

from __future__ import annotations

from typing import List

from lfgate.validator import ignored
from lfgate.validator.training import futile_values, model_loading, newer_releases
from lfgate.validator.training.config import TrainingConfig
from lfgate.validator.training.keys import check_keys
from lfgate.validator.training.parse_checks import PARSE_CHECKS, _View, check_output_dir
from lfgate.validator.training.values import check_unchecked, check_values


def check_config(config: TrainingConfig, settings) -> List:
    """Every rule over one config, in file order (the reporter sorts)."""
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
        found.extend(ignored.check_ignored(config))
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
