"""The one value every check produces: a Diagnostic, with its rule code, severity and place."""

from __future__ import annotations

import enum
import functools
import os
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Iterable, List, Optional, Tuple, overload


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2

    def __str__(self) -> str:  # "error", "warning", "info" everywhere users see it
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}: use error, warning or info") from None


@dataclass(frozen=True)
class Diagnostic:
    """One finding. ``line``/``column`` are 1-based, ``sample`` is the 0-based record index."""

    code: str
    severity: Severity
    message: str
    file: Optional[str] = None
    line: Optional[int] = None
    column: Optional[int] = None
    sample: Optional[int] = None
    dataset: Optional[str] = None
    end_line: Optional[int] = None
    end_column: Optional[int] = None
    # what a finding names in full for scripts (e.g. every sample cutoff_len cuts): in --format json only
    details: Optional[Dict[str, Any]] = field(default=None, compare=False, hash=False)
    # How many samples one summary finding stands for ("251 of 300 samples exceed cutoff_len"): a baseline that
    # recorded fewer treats the finding as new (suppressions.apply_baseline).
    affected: Optional[int] = None

    def at(self, **where: Any) -> Diagnostic:
        return replace(self, **where)

    def sort_key(self) -> Tuple[str, int, int, int, str]:
        return (self.file or "", self.line or 0, self.column or 0, self.sample or 0, self.code)

    def to_dict(self, cwd: Optional[str] = None) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "file": display_path(self.file, cwd),
            "line": self.line,
            "column": self.column,
            "sample": self.sample,
            "dataset": self.dataset,
        }
        if self.details is not None:
            out["details"] = self.details
        return out


@overload
def display_path(path: str, cwd: Optional[str] = None) -> str: ...
@overload
def display_path(path: None, cwd: Optional[str] = None) -> None: ...
@overload
def display_path(path: Optional[str], cwd: Optional[str] = None) -> Optional[str]: ...
def display_path(path: Optional[str], cwd: Optional[str] = None) -> Optional[str]:
    """A path relative to the current directory when it lies under it, else as given."""
    if path is None:
        return None
    here = os.getcwd()
    return _display_path(path, cwd or here, here)


@functools.lru_cache(maxsize=4096)  # reporters ask once per finding; a million findings share a few files
def _display_path(path: str, cwd: str, here: str) -> str:
    absolute = os.path.abspath(path)  # `here` is in the key because this depends on it
    try:
        if os.path.commonpath([absolute, cwd]) == cwd:
            return os.path.relpath(absolute, cwd)
    except ValueError:  # different drives
        pass
    return path


@dataclass
class Report:
    """Everything one run found, plus the counts the summary shows."""

    diagnostics: List[Diagnostic] = field(default_factory=list)
    files: int = 0
    samples: int = 0
    fail_on: Severity = Severity.ERROR  # the run's failure level (--fail-on): what a report calls a failure
    root: Optional[str] = None  # the project root (settings file's folder, else the working directory)
    absolute_paths: bool = False  # --absolute-paths (text only): this machine's paths left in the messages

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics.extend(diagnostics)

    def count(self, severity: Severity) -> int:
        return sum(1 for d in self.diagnostics if d.severity == severity)

    def summary(self) -> Dict[str, int]:
        return {
            "files": self.files,
            "samples": self.samples,
            "errors": self.count(Severity.ERROR),
            "warnings": self.count(Severity.WARNING),
            "infos": self.count(Severity.INFO),
        }

    def sorted(self) -> List[Diagnostic]:
        return sorted(self.diagnostics, key=Diagnostic.sort_key)
