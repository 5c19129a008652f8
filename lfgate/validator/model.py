"""Parsed project data shared by the validators, the linker and the runner."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

# Stage names as LLaMA-Factory's get_dataset sees them: dpo/orpo/simpo load data with stage="rm".
DATA_STAGE = {"pt": "pt", "sft": "sft", "rm": "rm", "dpo": "rm", "orpo": "rm", "simpo": "rm", "ppo": "ppo",
              "kto": "kto"}


@dataclass
class DatasetEntry:
    """One dataset_info.json entry, resolved exactly as LLaMA-Factory's DatasetAttr resolves it."""

    name: str
    registry_path: str
    dataset_dir: str
    raw: Dict[str, Any]
    line: Optional[int] = None
    column: Optional[int] = None
    load_from: Optional[str] = None  # hf_hub, ms_hub, om_hub, script, cloud_file, file; None if no source
    source: Any = None
    formatting: Any = "alpaca"
    ranking: Any = False
    split: Any = "train"
    subset: Any = None
    folder: Any = None
    num_samples: Any = None
    columns: Dict[str, Optional[str]] = field(default_factory=dict)
    tags: Dict[str, Optional[str]] = field(default_factory=dict)
    # (line, column) in dataset_info.json of each attribute's value, by key path: ("file_name",), ("columns", "prompt")
    positions: Dict[tuple, tuple] = field(default_factory=dict)

    def place(self, *path) -> tuple:
        """(line, column) of an attribute's value, else of the entry itself."""
        return self.positions.get(tuple(path)) or (self.line, self.column)

    @property
    def local_path(self) -> Optional[str]:
        """os.path.join(dataset_dir, file_name), as loader.py does; None for hub, script and cloud sources."""
        if self.load_from != "file" or not isinstance(self.source, str):
            return None
        return os.path.join(self.dataset_dir, self.source)

    @property
    def kind(self) -> str:
        """'ranking', 'kto' or 'plain': what a stage needs to know about the data."""
        if self.ranking is True:
            return "ranking"
        if self.columns.get("kto_tag"):
            return "kto"
        return "plain"


@dataclass
class Registry:
    path: str
    dataset_dir: str
    entries: Dict[str, DatasetEntry] = field(default_factory=dict)
    diagnostics: List = field(default_factory=list)
    readable: bool = True


@dataclass(frozen=True)
class DatasetUsage:
    """How a training config uses a dataset; stage=None when no config names it."""

    stage: Optional[str] = None  # a DATA_STAGE value: pt, sft, rm, ppo, kto
    media_dir: Optional[str] = None
    template: Optional[str] = None
    config_path: Optional[str] = None
    cutoff_len: Optional[int] = None  # for the truncation counts
    vision: Optional[tuple] = None  # media.vision_settings: how images become visual tokens, when known
    counting: Optional[Any] = None  # lfgate.tokens.sample.Plan: how the config's samples are counted in tokens


@dataclass
class DatasetResult:
    entry: Optional[DatasetEntry]
    path: Optional[str]
    samples: int = 0
    diagnostics: List = field(default_factory=list)
    facts: Dict[str, Any] = field(default_factory=dict)  # e.g. media counts, placeholders seen, formatting inferred
