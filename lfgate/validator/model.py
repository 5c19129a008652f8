"""Parsed project data shared by the validators, the linker and the runner."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from lfgate.tokens.report import TruncationFacts  # the one home of the truncation tally

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
    project: Tuple[str, ...] = ()  # real paths of the checked project's folders: data linked inside them is read

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
    project: Tuple[str, ...] = ()  # real paths of the checked project's folders that hold this registry


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


def _media_counts() -> Dict[str, int]:
    return {"images": 0, "videos": 0, "audios": 0}


def _placeholder_counts() -> Dict[str, int]:
    return {"image": 0, "video": 0, "audio": 0}


@dataclass
class SampleFacts:
    """What the sample rules saw of one dataset (SampleChecker.facts), for the link rules. ``samples`` None: the
    samples were not judged (LLaMA-Factory cannot start converting this entry)."""

    samples: Optional[int] = None
    stage: Optional[str] = None
    formatting: Optional[str] = None
    kept: Optional[int] = None
    dropped: int = 0
    crashed: int = 0
    media: Dict[str, int] = field(default_factory=_media_counts)  # media items, per column key
    samples_with_media: int = 0
    placeholders: Dict[str, int] = field(default_factory=_placeholder_counts)  # per kind, in the messages
    has_media: bool = False
    has_placeholders: bool = False
    kto_desirable: Optional[int] = None
    kto_undesirable: Optional[int] = None
    truncation: Optional[TruncationFacts] = None  # with a cutoff_len only (tokens/report.Truncation.facts)
    rows: int = 0  # records read
    effective_samples: int = 0  # what LLaMA-Factory samples: num_samples when set, else the rows


@dataclass
class DatasetResult:
    entry: Optional[DatasetEntry]
    path: Optional[str]
    samples: int = 0
    diagnostics: List = field(default_factory=list)
    facts: SampleFacts = field(default_factory=SampleFacts)
