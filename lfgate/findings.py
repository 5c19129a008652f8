"""The last step of every run: what the user asked to see, minus what they silenced on purpose.

``finalize`` applies selection (``--select``/``--ignore``), inline and per-file suppressions and the baseline to
the final list of findings, once, after every pass has added its own: `check` calls it after the Checker, `train`
after its RN rules too, so `bf16: true  # lfgate: ignore[RN010]` silences RN010 and is not called stale (SUP001).
"""

from __future__ import annotations

from typing import Iterable, List

from lfgate.diagnostics import Diagnostic
from lfgate.registry import selected
from lfgate.settings import Settings


def finalize(diagnostics: Iterable[Diagnostic], settings: Settings, files: Iterable[str] = ()) -> List[Diagnostic]:
    """The findings to report. ``files``: every file the run read, so suppressions in files without findings
    are judged too (stale ones become SUP001)."""
    from lfgate import suppressions

    kept = [d for d in diagnostics if selected(d.code, settings.select, settings.ignore)]
    return suppressions.apply(kept, settings, files)
