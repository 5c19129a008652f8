"""Training YAMLs (minimal; to extend)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import yaml

TRAINING_KEYS = {"model_name_or_path", "stage", "finetuning_type", "dataset", "template", "output_dir"}


@dataclass
class TrainingConfig:
    path: str
    base_dir: str
    values: Dict[str, Any]
    positions: Dict[str, tuple] = field(default_factory=dict)
    engine: str = "v0"
    diagnostics: List = field(default_factory=list)


def load_config(path: str, base_dir: str, settings) -> Optional[TrainingConfig]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or not TRAINING_KEYS & set(data):
        return None
    return TrainingConfig(path=path, base_dir=base_dir, values=data)
