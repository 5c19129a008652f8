"""--format concise: one line per diagnostic, ``file:line:col: CODE message``, for editors and grep."""

from __future__ import annotations

from typing import TextIO

from lfgate.diagnostics import Report
from lfgate.reporters import where
from lfgate.sanitize import clean_report


def line(d) -> str:
    # Keep one finding on one line, whatever the message holds.
    text = where.message(d).replace("\r", "\\r").replace("\n", "\\n")
    return f"{where.position(d)}: {d.code} {text}"


def render(report: Report, stream: TextIO, color: bool = False) -> None:
    report = clean_report(report)
    for d in report.sorted():
        stream.write(line(d) + "\n")
