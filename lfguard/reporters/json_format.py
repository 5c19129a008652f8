"""--format json: exactly one object with every diagnostic and the summary."""

from __future__ import annotations

import json

from lfguard import __version__


def to_object(report) -> dict:
    return {
        "tool": "lfguard",
        "version": __version__,
        "diagnostics": [d.to_dict() for d in report.sorted()],
        "summary": report.summary(),
    }


def render(report, stream, color: bool = False) -> None:
    json.dump(to_object(report), stream, ensure_ascii=False, indent=2)
    stream.write("\n")
