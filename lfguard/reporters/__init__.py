"""One diagnostic model, many renderings. Each reporter module has ``render(report, stream, color) -> None``."""

from __future__ import annotations

import importlib

FORMATS = {
    "text": "lfguard.reporters.text",
    "json": "lfguard.reporters.json_format",
    "concise": "lfguard.reporters.concise",
    "github": "lfguard.reporters.github",
    "sarif": "lfguard.reporters.sarif",
    "junit": "lfguard.reporters.junit",
}


def available_formats():
    out = []
    for name, module in FORMATS.items():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            continue
        out.append(name)
    return out


def get(name: str):
    return importlib.import_module(FORMATS[name])
