"""Writing JSON the way every lfgate output does: indented, UTF-8 as is, fast on millions of findings."""

from __future__ import annotations

import json
from typing import IO, Any

import orjson


def write_json(obj: Any, stream: IO[str]) -> None:
    """Indented JSON, UTF-8 as is. orjson: the standard encoder with indent is ~40x slower on a million findings."""
    try:
        stream.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode("utf-8"))
    except TypeError:  # e.g. a lone surrogate from undecodable data: the standard encoder escapes it
        json.dump(obj, stream, ensure_ascii=True, indent=2)  # escaped, so a UTF-8 stream can hold it
    stream.write("\n")
