"""One diagnostic model, many renderings. Each reporter module is a ``Reporter``: it has
``render(report, stream, color=False) -> None`` (mypy checks each module against the Protocol below)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Dict, List, Protocol, TextIO, cast

if TYPE_CHECKING:
    from lfgate.diagnostics import Report

FORMATS = {
    "text": "lfgate.reporters.text",
    "json": "lfgate.reporters.json_format",
    "concise": "lfgate.reporters.concise",
    "github": "lfgate.reporters.github",
    "sarif": "lfgate.reporters.sarif",
    "junit": "lfgate.reporters.junit",
}


class Reporter(Protocol):
    """What `lfgate check --format NAME` calls: write the whole report to the stream (``color``: the stream is a
    terminal that takes colour)."""

    def render(self, report: Report, stream: TextIO, color: bool = False) -> None: ...


if TYPE_CHECKING:  # every format's module is a Reporter: mypy says so when one drifts (imported for mypy only)
    from lfgate.reporters import concise, github, json_format, junit, sarif, text

    CHECKED: Dict[str, Reporter] = {"text": text, "json": json_format, "concise": concise, "github": github,
                                    "sarif": sarif, "junit": junit}


def available_formats() -> List[str]:
    """Every format, each module imported: a misspelt one fails loudly instead of vanishing from --format."""
    for module in FORMATS.values():
        importlib.import_module(module)
    return list(FORMATS)


def get(name: str) -> Reporter:
    """The reporter of a format, imported on demand (only the one used is loaded)."""
    return cast("Reporter", importlib.import_module(FORMATS[name]))
