"""Check one dataset: its file(s), then every record, streaming. (Minimal; to extend.)"""

from __future__ import annotations

import json

from lfguard.validator.model import DatasetResult


def check_entry(entry, usage, settings) -> DatasetResult:
    result = DatasetResult(entry=entry, path=entry.local_path)
    path = entry.local_path
    if path and path.endswith(".json"):
        try:
            with open(path, encoding="utf-8") as f:
                result.samples = len(json.load(f))
        except (OSError, ValueError, TypeError):
            pass
    return result


def check_unregistered(path, settings) -> DatasetResult:
    return DatasetResult(entry=None, path=path)
