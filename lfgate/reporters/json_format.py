"""--format json: exactly one object with every diagnostic and the summary."""

from __future__ import annotations

from typing import TextIO

from lfgate import __version__
from lfgate.diagnostics import Report
from lfgate.jsonio import write_json  # noqa: F401  (sarif.py imports it from here)
from lfgate.sanitize import clean_report


def to_object(report) -> dict:
    return {
        "tool": "lfgate",
        "version": __version__,
        "diagnostics": [d.to_dict() for d in report.sorted()],
        "summary": report.summary(),
    }


def render(report: Report, stream: TextIO, color: bool = False) -> None:
    write_json(to_object(clean_report(report)), stream)
