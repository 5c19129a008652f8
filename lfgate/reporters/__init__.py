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
