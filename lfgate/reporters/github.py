"""--format github: GitHub Actions workflow commands, shown as annotations on the pull request.

``::error file=data/x.json,line=12,col=5,title=lfgate DS102::message``. The message escapes ``%``, CR and
LF; property values also escape ``:`` and ``,`` (as @actions/core does), or GitHub cuts them short.
"""

from __future__ import annotations

from typing import TextIO

from lfgate.diagnostics import Report, Severity
from lfgate.reporters import where
from lfgate.sanitize import clean_report

COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(d) -> str:
    props = []
    path = where.path(d)
    if path:
        props.append(("file", path))
        if d.line is not None:
            props.append(("line", d.line))
            if d.end_line is not None and d.end_line != d.line:
                props.append(("endLine", d.end_line))
            elif d.column is not None:  # columns only when the range stays on one line
                props.append(("col", d.column))
                if d.end_column is not None:
                    props.append(("endColumn", d.end_column))
    props.append(("title", f"lfgate {d.code}"))
    joined = ",".join(f"{key}={escape_property(str(value))}" for key, value in props)
    return f"::{COMMAND[d.severity]} {joined}::{escape_data(where.message(d))}"


def render(report: Report, stream: TextIO, color: bool = False) -> None:
    report = clean_report(report)
    for d in report.sorted():
        stream.write(command(d) + "\n")
