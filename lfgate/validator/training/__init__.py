"""Training YAMLs: read them as LLaMA-Factory does, recognise what they are for, and check every key at once.

    config.py          TrainingConfig (the values LLaMA-Factory sees, positions, path resolution), the key sets
    reading.py         load_config: YAML -> TrainingConfig, engine and entry point; TY0xx (the file itself)
    keys.py            TY1xx keys
    removed_keys.py    TY109 keys a release removed (schemas/removed_keys.json)
    values.py          TY2xx values and what LLaMA-Factory never checks
    ignored_settings.py  TY22x settings LLaMA-Factory accepts and then silently ignores
    parse_checks.py    TY3xx the checks of LLaMA-Factory's own argument parsing (PARSE_CHECKS)
    futile_values.py   TY40x-TY41x values LLaMA-Factory accepts that do nothing or cannot work
    model_loading.py   TY42x what fails only once the model loads: adapters, resume checkpoint, processor, model_type
    newer_releases.py  TY5xx the argument checks of LLaMA-Factory releases after 0.9.5
    v1_engine.py       TY6xx configs of the v1 engine (USE_V1=1): its keys, dataset-list YAML, message format
    check.py           check_config: every rule over one config

The names below are this package's interface (``training.load_config``, ``training.CONFIG_MARKERS``...).
"""

from lfgate.validator.training.check import check_config
from lfgate.validator.training.config import (
    BASE,
    COMMA_LIST_KEYS,
    COMMAND_LINE,
    CONFIG_MARKERS,
    INFER_ONLY_KEYS,
    INFER_ONLY_OWNERS,
    TRAINING_MARKERS,
    V1_MARKERS,
    TrainingConfig,
)
from lfgate.validator.training.keys import check_keys
from lfgate.validator.training.parse_checks import PARSE_CHECKS, ParseCheck, check_output_dir
from lfgate.validator.training.reading import known_keys, load_config, without_placeholder_findings
from lfgate.validator.training.values import check_unchecked, check_values

__all__ = [
    "BASE", "COMMA_LIST_KEYS", "COMMAND_LINE", "CONFIG_MARKERS", "INFER_ONLY_KEYS", "INFER_ONLY_OWNERS",
    "PARSE_CHECKS", "TRAINING_MARKERS", "V1_MARKERS", "ParseCheck", "TrainingConfig", "check_config", "check_keys",
    "check_output_dir", "check_unchecked", "check_values", "known_keys", "load_config", "without_placeholder_findings",
]
