"""--format text: findings grouped per rule, with counts, the first few places and a code frame."""

from __future__ import annotations

import itertools
import linecache
import os
import stat
from collections import defaultdict
from typing import TextIO

from lfgate.diagnostics import Report, Severity
from lfgate.reporters import where
from lfgate.sanitize import clean, environment_secrets, machine_paths, safe

PLACES_PER_RULE = 5  # a million bad records must not print a million lines
STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _place(d) -> str:
    extra = where.context(d)
    return where.position(d) + (f" ({extra})" if extra else "")


PSEUDO_FILE_SYSTEMS = ("/proc", "/sys", "/dev")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def may_quote(file: str) -> bool:
    """Whether a line of file may be shown: a regular file inside the project (the working directory), or
    reached with no symlink at all. A symlink out of the project (to /proc/self/environ, ~/.netrc) never is.
    Lines lfgate put in linecache itself (convert's output, shown under its final name) are its own."""
    cached = linecache.cache.get(file)
    if cached is not None and len(cached) == 4 and cached[1] is None:
        return True
    try:
        if not stat.S_ISREG(os.stat(file).st_mode):
            return False
    except (OSError, ValueError):
        return False
    real = os.path.realpath(file)
    if any(_inside(real, top) for top in PSEUDO_FILE_SYSTEMS):
        return False
    return _inside(real, os.path.realpath(os.getcwd())) or real == os.path.abspath(file)


def _frame(d, width: int = 160):
    """The offending line and a caret under the column, when the file has lines."""
    if not d.file or d.line is None or not may_quote(d.file):
        return None
    text = linecache.getline(d.file, d.line).rstrip("\n")
    if not text:
        return None
    col = d.column or 1
    if len(text) > width:  # long JSONL lines: show a window around the column
        start = max(0, col - 1 - width // 2)
        text, col = ("…" + text[start:start + width] + "…"), col - start + 1
    return f"{d.line:>6} | {safe(text)}\n       | {_under(safe(text[:col - 1]))}^"


def _under(shown: str) -> str:
    """Blank space as wide on screen as ``shown``: a CJK character takes two terminal cells, a combining mark none,
    and a tab stays a tab, so the caret lands under the column's character, not beside it."""
    from rich.cells import cell_len

    return "".join(ch if ch == "\t" else " " * cell_len(ch) for ch in shown)


def render(report: Report, stream: TextIO, color: bool = False) -> None:
    if not report.diagnostics:  # nothing found: the verdict alone, without importing rich (a start-up cost)
        stream.write(("\x1b[1;32mok\x1b[0m" if color else "ok") + _counts(report) + "\n")
        return
    from rich.console import Console
    from rich.markup import escape

    # emoji=False: rich turns ":100:" (a file's line 100, column 1) into an emoji; input text is escaped for markup
    console = Console(file=stream, force_terminal=color, no_color=not color, highlight=False, soft_wrap=True,
                      emoji=False, width=200 if not color else None)
    groups = defaultdict(list)
    secrets = environment_secrets()
    paths = machine_paths(report)
    for d in report.sorted():
        groups[(d.code, d.severity)].append(d)
    order = sorted(groups, key=lambda k: (-k[1], k[0]))
    for code, severity in order:
        items = groups[(code, severity)]
        shown = [clean(d, secrets, paths) for d in itertools.islice(items, PLACES_PER_RULE)]  # only what is printed
        first = shown[0]
        style = STYLE[severity]
        console.print(f"[{style}]{severity}[/] [bold]{code}[/] {escape(first.message)}"
                      + (f"  [dim]({len(items)} occurrences)[/]" if len(items) > 1 else ""))
        for d in shown:
            console.print(f"  --> {escape(_place(d))}")
            if d is not first and d.message != first.message:
                console.print(f"      {escape(d.message)}")
        frame = _frame(items[0])  # the original path: the file as it is named on disk
        if frame:
            console.print(escape(frame), style="dim")
        if len(items) > PLACES_PER_RULE:
            console.print(f"  … and {len(items) - PLACES_PER_RULE} more (see --format json for all)")
        console.print()
    # the verdict is the exit code's: with fail-on = warning one warning fails the run, and the line says so
    failing = sum(1 for d in report.diagnostics if d.severity >= report.fail_on)
    console.print(("[bold red]failed[/]" if failing else "[bold green]ok[/]") + escape(_counts(report)))


def _counts(report: Report) -> str:
    """The verdict line after "ok"/"failed": what was found, in how much."""
    s = report.summary()
    failing = sum(1 for d in report.diagnostics if d.severity >= report.fail_on)
    level = f" (fail-on {report.fail_on}: {failing} at or above it)" if report.fail_on != Severity.ERROR else ""
    return (f": {s['errors']} errors, {s['warnings']} warnings, {s['infos']} infos "
            f"in {s['files']} files, {s['samples']} samples{level}")
