"""Show dataset statistics: a rich table and histogram in the terminal, JSON for scripts, a PNG on request."""

from __future__ import annotations

import json
import os
from typing import List

from lfgate.errors import UsageError
from lfgate.readers import guarded
from lfgate.tools.stats import PERCENTILES

BAR_WIDTH = 40


def to_json(stats_list, stream) -> None:
    obj = {"datasets": [s.to_dict() for s in stats_list]}
    text = json.dumps(obj, ensure_ascii=False, indent=2)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from the data: escaped, so the document stays valid UTF-8
        text = json.dumps(obj, ensure_ascii=True, indent=2)
    stream.write(text + "\n")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0%"


def to_text(stats_list, stream, color: bool = False) -> None:
    from rich.console import Console
    from rich.markup import escape as markup_escape
    from rich.table import Table

    from lfgate.sanitize import safe

    def escape(text):  # names, roles and placeholders come from the data: control characters escaped first
        return markup_escape(safe(text))

    console = Console(file=stream, force_terminal=color, no_color=not color, highlight=False, soft_wrap=True,
                      emoji=False, width=None if color else 120)
    for stats in stats_list:
        d = stats.to_dict()
        where = f" ({escape(d['file'])})" if d["file"] else ""
        console.print(f"[bold]{escape(d['name'])}[/bold]{where}: {d['formatting']}, stage {d['stage']}, "
                      f"lengths in {d['unit']}" + ("" if d["exact"] else " (estimated)"))
        console.print(f"  samples {d['samples']}, kept {d['kept']}, dropped {d['dropped']}"
                      + (f", converter crashes {d['crashes']}" if d["crashes"] else "")
                      + f", duplicates {d['duplicates']}, empty responses {d['empty_responses']}")
        if d["roles"]:
            console.print("  roles: " + ", ".join(f"{escape(str(k))} {v}" for k, v in d["roles"].items()))
        if d["cutoff_len"]:
            over = d["over_cutoff"]
            low, high = d["over_cutoff_band"]
            shown = f"{over}" if d["exact"] or low == high else f"{low}-{high} (estimate: {over})"
            console.print(f"  over cutoff_len {d['cutoff_len']}: {shown} ({_pct(over, d['kept'])})"
                          f", losing part of the response: {d['response_truncated']} "
                          f"({_pct(d['response_truncated'], d['kept'])}), only part of the prompt: "
                          f"{d['prompt_truncated']}")
            for line in over_lines(d["over_cutoff_samples"]):
                console.print(line)
        if d["placeholders"] or d["media"]:
            parts = [f"{escape(k)} {v}" for k, v in d["placeholders"].items()]
            parts += [f"{k} {v} in {d['media_samples'].get(k, 0)} samples" for k, v in d["media"].items()]
            console.print("  placeholders and media: " + ", ".join(parts))
        table = Table("", "mean", "min", *[f"p{q}" for q in PERCENTILES], "max", box=None, padding=(0, 1))
        rows = [("turns", d["turns"]), (f"prompt {d['unit']}", d["lengths"]["prompt"]),
                (f"response {d['unit']}", d["lengths"]["response"]), (f"total {d['unit']}", d["lengths"]["total"])]
        for label, row in rows:
            table.add_row(label, str(row["mean"]), str(row["min"]), *[str(row[f"p{q}"]) for q in PERCENTILES],
                          str(row["max"]))
        console.print(table)
        for line in histogram_lines(d["histogram"], d["cutoff_len"]):
            console.print(escape(line))
        console.print()


SHOWN = 10  # samples over cutoff_len listed in text; --format json lists them all


def over_lines(samples) -> List[str]:
    """The samples over cutoff_len: index, tokens, how many of them are prompt, the part cut."""
    if not samples:
        return []
    lines = ["  samples over cutoff_len (index: tokens, prompt tokens, cut):"]
    lines += [f"    #{s['index']}: {s['tokens']}, {s['prompt']} prompt, {s['cut']} cut" for s in samples[:SHOWN]]
    if len(samples) > SHOWN:
        lines.append(f"    ... and {len(samples) - SHOWN} more (--format json lists them all)")
    return lines


def histogram_lines(hist: dict, cutoff_len=None) -> List[str]:
    """One line per bin: its range, a bar, the count; a marker line where cutoff_len falls."""
    edges, counts = hist["edges"], hist["counts"]
    peak = max(counts, default=0)
    if not peak:
        return []
    digits = len(str(edges[-1]))
    lines = ["  total length per sample:"]
    for i, count in enumerate(counts):
        low, high = edges[i], edges[i + 1] - 1
        if cutoff_len and low == cutoff_len + 1:
            lines.append(f"  {'-' * (2 * digits + 1)} over cutoff_len {cutoff_len}:")
        bar = "#" * (max(1, round(BAR_WIDTH * count / peak)) if count else 0)
        lines.append(f"  {low:>{digits}}-{high:<{digits}} | {bar} {count}")
    return lines


def plot(stats_list, path: str) -> None:
    """Save the total-length histograms (one panel per dataset) with a line at cutoff_len, as PNG, atomically;
    never through a symlink, never over a file that is not a PNG."""
    import io

    from lfgate import safe_write as output

    output.refuse_special(path)
    if os.path.exists(path) and not _is_png(path):
        raise UsageError(f"{path} exists and is not a PNG image; choose another --plot file")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(stats_list), 1, figsize=(8, 3 * len(stats_list)), squeeze=False)
    for ax, stats in zip(axes[:, 0], stats_list):
        values = list(stats.total)
        ax.hist(values, bins=50, color="#4c72b0")
        if stats.cutoff_len:
            ax.axvline(stats.cutoff_len, color="#c44e52", linestyle="--",
                       label=f"cutoff_len {stats.cutoff_len}: {stats.over_cutoff} over")
            ax.legend()
        ax.set_title(f"{stats.name} ({len(values)} samples)")
        ax.set_xlabel(f"prompt + response length ({stats.unit})")
        ax.set_ylabel("samples")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    output.atomic_write(path, buffer.getvalue(), force=True)


def _is_png(path: str) -> bool:
    try:
        with guarded.open_regular(path) as f:
            head = f.read(8)
    except OSError:
        return False
    return head in (b"", b"\x89PNG\r\n\x1a\n")
