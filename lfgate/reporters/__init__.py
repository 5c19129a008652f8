"""One diagnostic model, many renderings. Each reporter module has ``render(report, stream, color) -> None``."""

from __future__ import annotations

import importlib

FORMATS = {
    "text": "lfgate.reporters.text",
    "json": "lfgate.reporters.json_format",
    "concise": "lfgate.reporters.concise",
    "github": "lfgate.reporters.github",
    "sarif": "lfgate.reporters.sarif",
    "junit": "lfgate.reporters.junit",
}


def available_formats():
    """Every format, each module imported: a misspelt one fails loudly instead of vanishing from --format."""
    for module in FORMATS.values():
        importlib.import_module(module)
    return list(FORMATS)


def get(name: str):
    return importlib.import_module(FORMATS[name])
