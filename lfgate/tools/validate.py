"""Check a data file with the same rules as `lfgate check`, through the entry it is (or would be) registered with."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import List, Optional

from lfgate.diagnostics import Diagnostic
from lfgate.readers import guarded


def entry_for(name: str, raw: dict, registry_path: str):
    """A DatasetEntry resolved exactly as `lfgate check` resolves registry entries."""
    from lfgate.validator import dataset_info
    from lfgate.validator.model import Registry

    registry = Registry(path=registry_path, dataset_dir=os.path.dirname(registry_path) or ".")
    return dataset_info.resolve_entry(name, raw, registry)


def check_file(path: str, raw_entry: dict, name: str, registry_path: str, *, stage: Optional[str] = "sft",
               shown_as: Optional[str] = None, settings=None) -> List[Diagnostic]:
    """Diagnostics for data file `path` read through `raw_entry` (its file_name is set to path here).

    shown_as: the path to report instead of `path` (the final name of a file checked under a temp name).
    """
    from lfgate.registry import selected
    from lfgate.settings import Settings
    from lfgate.validator import datasets
    from lfgate.validator.model import DatasetUsage

    settings = settings or Settings()
    dataset_dir = os.path.dirname(registry_path) or "."
    raw = dict(raw_entry, file_name=os.path.relpath(path, dataset_dir))
    entry = entry_for(name, raw, registry_path)
    result = datasets.check_entry(entry, DatasetUsage(stage=stage), settings)
    found = [d for d in result.diagnostics if selected(d.code, settings.select, settings.ignore)]
    if shown_as:
        absolute = os.path.abspath(path)
        found = [replace(d, file=shown_as) if d.file and os.path.abspath(d.file) == absolute else d for d in found]
    return found


def print_diagnostics(diagnostics, stream=None, text_of: Optional[tuple] = None, samples: int = 0) -> None:
    """The findings as `lfgate check` prints them (text format).

    text_of=(shown_path, real_path): the code frames of shown_path come from real_path (a file checked under a temp
    name and reported under its final one, which may not exist yet or still hold the old content).
    """
    import linecache
    import sys

    from lfgate.diagnostics import Report
    from lfgate.reporters import text

    if text_of:
        shown, real = text_of
        with guarded.open_regular(real, "r", encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        linecache.cache[shown] = (sum(map(len, lines)), None, lines, shown)  # mtime None: never re-read
    try:
        text.render(Report(diagnostics=list(diagnostics), files=1, samples=samples), stream or sys.stdout,
                    color=False)
    finally:
        if text_of:
            linecache.cache.pop(text_of[0], None)
