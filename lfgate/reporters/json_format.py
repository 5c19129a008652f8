"""--format json: exactly one object with every diagnostic and the summary."""

from __future__ import annotations

import json

import orjson

from lfgate import __version__
from lfgate.reporters.safe import clean_report


def to_object(report) -> dict:
    return {
        "tool": "lfgate",
        "version": __version__,
        "diagnostics": [d.to_dict() for d in report.sorted()],
        "summary": report.summary(),
    }


def write_json(obj, stream) -> None:
    """Indented JSON, UTF-8 as is. orjson: the standard encoder with indent is ~40x slower on a million findings."""
    try:
        stream.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode("utf-8"))
    except TypeError:  # e.g. a lone surrogate from undecodable data: the standard encoder escapes it
        json.dump(obj, stream, ensure_ascii=True, indent=2)  # escaped, so a UTF-8 stream can hold it
    stream.write("\n")


def render(report, stream, color: bool = False) -> None:
    write_json(to_object(clean_report(report)), stream)
