"""Where a diagnostic is, in the words every reporter uses: a relative path and its dataset/sample context."""

from __future__ import annotations

import os
from typing import Optional

from lfgate.diagnostics import display_path


def path(d) -> Optional[str]:
    """The file relative to the working directory (where it lies under it), with forward slashes; None for a
    finding about no file, or about a pseudo-file such as ``<command line>`` (an override)."""
    if d.file and d.file.startswith("<") and d.file.endswith(">"):
        return None
    shown = display_path(d.file)
    # only the separator: a backslash is an ordinary file name character on POSIX (and in escaped names)
    return shown.replace(os.sep, "/") if shown else None


def position(d) -> str:
    """``file:line:col`` as far as known; ``<project>`` for a finding about no one file."""
    parts = [path(d) or d.file or "<project>"]
    if d.line is not None:
        parts.append(str(d.line))
        if d.column is not None:
            parts.append(str(d.column))
    return ":".join(parts)


def context(d) -> str:
    """'dataset NAME, sample N' for what a line number alone does not say; '' when neither applies."""
    parts = []
    if d.dataset:
        parts.append(f"dataset {d.dataset}")
    if d.sample is not None:
        parts.append(f"sample {d.sample}")
    return ", ".join(parts)


def message(d) -> str:
    """The message with its context appended, for formats that have no field for dataset and sample."""
    extra = context(d)
    return f"{d.message} ({extra})" if extra else d.message
