"""Silencing findings on purpose: inline YAML comments, per-file ignores and a baseline file.

- ``# lfgate: ignore[CODE, CODE]`` at the end of a YAML line, or alone on the line before a key, silences
  those codes on that line and, for a key, in the block under it. ``# lfgate: file-ignore[CODE]`` anywhere
  silences them in the whole file. Codes may be prefixes (``TY``), as in ``--ignore``.
- ``per-file-ignores`` (configuration): glob -> codes, for JSON and JSONL, which have no comments.
- ``--baseline FILE``: findings recorded there (by file, code and sample, with a count) are silenced, so
  adopting lfgate on an old project fails only on new findings. ``--update-baseline`` writes the file.

A suppression that silences nothing is reported as SUP001 (info), so stale ones are found: judged only for
files this run checked, so checking one file does not call the rest of the project's suppressions stale.
YAML files are only read for comments when they hold the marker text; JSON is never re-read.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Optional,
    Set,
    Tuple,
    Union,
)

from lfgate import legacy
from lfgate.diagnostics import Diagnostic, Severity
from lfgate.errors import UsageError
from lfgate.jsonio import write_json
from lfgate.readers import guarded
from lfgate.registry import INFO, rule, selected

if TYPE_CHECKING:
    from lfgate.settings import Settings

UNUSED_SUPPRESSION = rule(
    "SUP001", "unused-suppression", INFO,
    "A suppression silences nothing",
    why="A `# lfgate: ignore[...]` comment or a per-file-ignores entry that matches no finding is stale: the "
        "problem was fixed or the code is misspelt, and it would silently hide the next real finding there.",
    fix="Remove the suppression, or correct the code in it (`lfgate rules` lists the codes).",
    target="train.yaml",
    bad={"train.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct  # lfgate: ignore[LG001]\n"},
    good={".lfgate.toml": 'per-file-ignores = { "train.yaml" = ["LG001"] }\n'},
)

# The former name's `# lfguard: ...` is read too, with an LG002 finding (legacy.py).
MARKER = re.compile(r"(?:^|\s)#\s*(lfgate|" + legacy.OLD_NAME + r"):\s*(ignore|file-ignore)\[([^\]]*)\]")
MARKER_TEXTS = ("lfgate:", legacy.OLD_NAME + ":")  # the cheap test before a file's lines are scanned
LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # PyYAML's line breaks, so line numbers agree
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class Marker:
    """One ``# lfgate: ...`` comment: where it is, what it silences, and which of its codes did."""

    file: str
    line: int
    column: int
    kind: str  # "ignore" or "file-ignore"
    codes: Tuple[str, ...]
    lines: FrozenSet[int] = frozenset()  # the lines an "ignore" covers
    old_name: bool = False  # spelt `# lfguard:`
    used: Set[str] = field(default_factory=set)

    def covers(self, d: Diagnostic) -> Optional[str]:
        if self.kind == "ignore" and d.line not in self.lines:
            return None
        return _matching(d.code, self.codes)


@dataclass
class FileIgnore:
    """One per-file-ignores entry."""

    glob: str
    codes: Tuple[str, ...]
    used: Set[str] = field(default_factory=set)
    matched_a_file: bool = False

    def covers(self, d: Diagnostic) -> Optional[str]:  # only asked about files the glob matches
        return _matching(d.code, self.codes)


def _matching(code: str, codes: Iterable[str]) -> Optional[str]:
    """The entry of ``codes`` that names ``code`` (exactly or as a prefix), if any."""
    return next((c for c in codes if code.startswith(c)), None)


# -- reading YAML comments ------------------------------------------------------------------------------------


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _is_content(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("#")


def _block(lines: List[str], start: int) -> FrozenSet[int]:
    """1-based line numbers of the key at index ``start`` and of the block nested under it."""
    covered = {start + 1}
    key_indent = _indent(lines[start])
    opens_block = lines[start].split(" #")[0].rstrip().endswith(":")
    for i in range(start + 1, len(lines)):
        text = lines[i]
        if not _is_content(text):
            continue
        indent = _indent(text)
        # Deeper lines belong to the key; so does a "- item" sequence at the key's own indent (YAML allows it).
        if indent > key_indent or (opens_block and indent == key_indent and text.lstrip().startswith("- ")):
            covered.add(i + 1)
        else:
            break
    return frozenset(covered)


def yaml_comments(text: str) -> List[Tuple[int, int, str]]:
    """(0-based line, 0-based column, text from its `#`) of every real comment in a YAML text, as PyYAML's scanner
    meets them: never a `#` inside a quoted value or a block scalar. Up to the first syntax error (the reader
    reports it; a suppression after it has nothing to silence)."""
    import yaml

    scanner = _comment_scanner()(text)
    try:
        while not isinstance(scanner.get_token(), (yaml.tokens.StreamEndToken, type(None))):
            pass
    except yaml.YAMLError:
        pass
    comments: List[Tuple[int, int, str]] = scanner.comments
    return comments


@functools.lru_cache(maxsize=1)
def _comment_scanner() -> Any:
    import yaml  # only for files that mention lfgate

    class CommentScanner(yaml.reader.Reader, yaml.scanner.Scanner):
        """PyYAML's own scanner, noting each comment where it skips one (between tokens and after a block scalar's
        indicator: the only two places YAML has comments)."""

        def __init__(self, text: str):
            yaml.reader.Reader.__init__(self, text)
            yaml.scanner.Scanner.__init__(self)
            self.comments: List[Tuple[int, int, str]] = []

        def _note_comment(self) -> None:
            start, line, column = self.pointer, self.line, self.column
            while self.peek() not in "\0\r\n\x85\u2028\u2029":
                self.forward()
            self.comments.append((line, column, self.buffer[start:self.pointer]))

        def scan_to_next_token(self) -> None:  # Scanner.scan_to_next_token, with the comment noted
            if self.index == 0 and self.peek() == "\uFEFF":
                self.forward()
            while True:
                while self.peek() == " ":
                    self.forward()
                if self.peek() == "#":
                    self._note_comment()
                if self.scan_line_break():
                    if not self.flow_level:
                        self.allow_simple_key = True
                else:
                    return

        def scan_block_scalar_ignored_line(self, start_mark: Any) -> None:
            while self.peek() == " ":
                self.forward()
            if self.peek() == "#":
                self._note_comment()
            yaml.scanner.Scanner.scan_block_scalar_ignored_line(self, start_mark)

    return CommentScanner


def scan_markers(path: str) -> List[Marker]:
    """Every suppression comment in one YAML file (empty when the file does not mention lfgate). Only real
    comments count: `# lfgate: file-ignore[...]` inside a quoted value or a block scalar is text, not a comment."""
    try:
        with guarded.open_regular(path, "r", encoding="utf-8", errors="replace") as f:  # never a FIFO
            text = f.read()
    except OSError:
        return []
    if not any(marker in text for marker in MARKER_TEXTS):
        return []
    lines = LINE_BREAK.split(text)
    markers = []
    try:
        comments = yaml_comments(text)
    except Exception:  # the reader refuses control characters: the file is unreadable (TY001), nothing to silence
        comments = []
    for index, column0, comment in comments:
        found = MARKER.search(comment)
        if not found or index >= len(lines):
            continue
        line = lines[index]
        old_name, kind = found.group(1) != "lfgate", found.group(2)
        codes = tuple(c.strip().upper() for c in found.group(3).split(",") if c.strip())
        column = column0 + comment.index("#", found.start()) + 1
        covered: FrozenSet[int] = frozenset()
        if kind == "ignore":
            if line[:column0].strip():  # at the end of a line: that line (and its block, for a key)
                covered = _block(lines, index)
            else:  # alone on its line: the next key
                following = next((i for i in range(index + 1, len(lines)) if _is_content(lines[i])), None)
                covered = _block(lines, following) if following is not None else frozenset()
        markers.append(Marker(os.path.abspath(path), index + 1, column, kind, codes, covered, old_name))
    return markers


# -- baselines ------------------------------------------------------------------------------------------------


BaselineKey = Tuple[str, str, Optional[int]]  # (file relative to the baseline's folder, code, sample)


def _baseline_keys(baseline_path: str) -> Callable[[Diagnostic], BaselineKey]:
    """A function: finding -> (file relative to the baseline's folder, code, sample), paths computed per file."""
    folder = os.path.dirname(os.path.abspath(baseline_path))
    relative: Dict[Optional[str], str] = {None: ""}

    def key(d: Diagnostic) -> BaselineKey:
        file = d.file
        if file not in relative:
            relative[file] = _relative(file, folder) if file is not None else ""
        return relative[file], d.code, d.sample
    return key


@dataclass
class BaselineEntry:
    """What one baseline entry allows: how many findings, at most which severity, standing for at most how many
    samples (None: an entry written before severities and sample counts were recorded, or a finding without one)."""

    count: int = 0
    severity: Optional[Severity] = None
    affected: Optional[int] = None

    def covers(self, d: Diagnostic) -> bool:
        """Whether ``d`` is the finding recorded, not one that got worse since (higher severity, more samples)."""
        if self.severity is not None and d.severity > self.severity:
            return False
        return not (self.affected is not None and d.affected is not None and d.affected > self.affected)


def read_baseline(path: str) -> Tuple[Dict[BaselineKey, BaselineEntry], Dict[BaselineKey, int]]:
    """(what each (file, code, sample) entry allows, the line of each entry's "file" key) of a baseline file."""
    try:
        if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block the check forever
            raise UsageError(f"baseline {path} is not a regular file")
        with guarded.open_regular(path, "r", encoding="utf-8") as f:
            text = f.read()
        data = json.loads(text)
    except FileNotFoundError:
        raise UsageError(f"baseline {path} does not exist; create it with --update-baseline") from None
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read baseline {path}: {err}") from None
    except RecursionError:
        raise UsageError(f"cannot read baseline {path}: nested too deeply to be an lfgate baseline") from None
    findings = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(findings, list):
        raise UsageError(f"{path} is not an lfgate baseline (no \"findings\" list); rewrite it with --update-baseline")
    # The n-th '"file":' line is the n-th entry's as written by write_baseline; a hand-reflowed file gets no lines.
    file_lines = [n for n, line in enumerate(text.splitlines(), 1) if line.lstrip().startswith('"file":')]
    entries: Dict[BaselineKey, BaselineEntry] = {}
    lines: Dict[BaselineKey, int] = {}
    for index, item in enumerate(findings):
        try:
            key = (item["file"], item["code"], item.get("sample"))
            hash(key)
            entry = entries.setdefault(key, BaselineEntry())
            entry.count += _count(item.get("count", 1))
            entry.severity = _highest(entry.severity, _severity(item.get("severity")))
            affected = item.get("affected")
            if affected is not None:
                entry.affected = max(entry.affected or 0, _count(affected))
        except (TypeError, KeyError, ValueError, OverflowError, AttributeError):
            shown = repr(item) if len(repr(item)) <= 200 else f"number {index}"
            raise UsageError(f"{path}: malformed baseline entry {shown}; rewrite it with --update-baseline") from None
        if len(file_lines) == len(findings):
            lines.setdefault(key, file_lines[index])
    return entries, lines


def _severity(value: Any) -> Optional[Severity]:
    return None if value is None else Severity.parse(value)


def _highest(a: Optional[Severity], b: Optional[Severity]) -> Optional[Severity]:
    return b if a is None else a if b is None else max(a, b)


MAX_BASELINE_COUNT = 1 << 40  # no run has more findings; 1e309 is infinite


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_BASELINE_COUNT \
            or value != int(value):
        raise ValueError(value)
    return int(value)


def write_baseline(path: str, diagnostics: Iterable[Diagnostic]) -> int:
    """Record every finding in ``path``, with its severity and the samples it stands for; returns how many."""
    key_of = _baseline_keys(path)
    recorded: Dict[BaselineKey, BaselineEntry] = {}
    messages: Dict[BaselineKey, str] = {}
    for d in diagnostics:
        key = key_of(d)
        entry = recorded.setdefault(key, BaselineEntry())
        entry.count += 1
        entry.severity = _highest(entry.severity, d.severity)
        if d.affected is not None:
            entry.affected = max(entry.affected or 0, d.affected)
        messages.setdefault(key, d.message)
    ordered = sorted(recorded.items(), key=lambda kv: (kv[0][0], kv[0][1], -1 if kv[0][2] is None else kv[0][2]))
    findings = []
    for (f, c, s), entry in ordered:
        item: Dict[str, Any] = {"file": f, "code": c, "sample": s, "count": entry.count,
                                "severity": str(entry.severity)}
        if entry.affected is not None:
            item["affected"] = entry.affected
        findings.append(dict(item, message=messages[(f, c, s)]))
    from lfgate.safe_write import atomic_file

    with atomic_file(path, force=True) as out:  # a full disk leaves the previous baseline whole
        write_json({"tool": "lfgate", "baseline": 1, "findings": [_safe_entry(e) for e in findings]}, out)
    return sum(entry.count for entry in recorded.values())


def _safe_entry(entry: Dict[str, Any]) -> Dict[str, Any]:
    """The recorded message, escaped and redacted like every report (the key fields stay as matched)."""
    from lfgate.sanitize import safe

    return dict(entry, message=safe(entry["message"]))


def apply_baseline(diagnostics: Iterable[Diagnostic], path: str,
                   checked: Optional[Set[str]] = None) -> List[Diagnostic]:
    """The findings the baseline does not record (each entry silences up to its count). A finding that got worse
    than its entry records (a higher severity, more samples) is new: "an info about 3 cut samples" in the baseline
    must not hide "a warning about 251".

    With ``checked`` (absolute paths of the files this run read), entries for those files that silenced
    fewer findings than they record are reported as SUP001.
    """
    allowed, lines = read_baseline(path)
    key_of = _baseline_keys(path)
    kept = []
    for d in diagnostics:
        entry = allowed.get(key_of(d))
        if entry is None or entry.count <= 0:
            kept.append(d)
            continue
        entry.count -= 1  # a worse finding uses its entry up too: it is reported, not also the entry as unused
        if not entry.covers(d):
            kept.append(d)
    if checked:
        folder = os.path.dirname(os.path.abspath(path))
        for (file, code, sample), entry in allowed.items():
            left = entry.count
            if left > 0 and file and os.path.normpath(os.path.join(folder, file)) in checked:
                where = f", sample {sample}" if sample is not None else ""
                kept.append(UNUSED_SUPPRESSION.diag(
                    f"baseline entry {file} {code}{where} matches {left} finding(s) fewer than it records: "
                    "run `lfgate check --baseline FILE --update-baseline` to drop what was fixed",
                    file=path, line=lines.get((file, code, sample))))
    return kept


# -- the whole pass -------------------------------------------------------------------------------------------


def _relative(path: str, root: str) -> str:
    return os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")


def _line_of(path: Optional[str], needle: str) -> Optional[int]:
    """The line in the config file that mentions ``needle`` (a per-file-ignores glob), for SUP001's place."""
    if not path:
        return None
    try:
        with guarded.open_regular(path, "r", encoding="utf-8") as f:
            for number, text in enumerate(f, 1):
                if needle in text:
                    return number
    except OSError:
        pass
    return None


def apply(diagnostics: List[Diagnostic], settings: Settings, files: Iterable[str] = ()) -> List[Diagnostic]:
    """Drop what is suppressed; add SUP001 for suppressions that silenced nothing.

    ``files``: every file the run checked, so suppressions in files without findings are judged too.
    """
    from lfgate.config_file import project_root
    from lfgate.validator.project import excluded

    checked = {os.path.abspath(f) for f in {*files, *(d.file for d in diagnostics if d.file)}}
    markers: Dict[str, List[Marker]] = {}
    for path in sorted(checked) if settings.inline_ignores else ():  # false: nothing in the tree silences
        if path.endswith(YAML_SUFFIXES):
            found = scan_markers(path)
            if found:
                markers[path] = found
    root = project_root(settings)
    file_ignores = [FileIgnore(glob, tuple(codes)) for glob, codes in (settings.per_file_ignores or {}).items()]
    for entry in file_ignores:
        entry.matched_a_file = any(excluded(_relative(p, root), [entry.glob]) for p in checked)

    # d.file -> (its markers, the per-file-ignores matching it)
    per_file: Dict[Optional[str], Tuple[Iterable[Marker], Iterable[FileIgnore]]] = {}

    def about(file: Optional[str]) -> Tuple[Iterable[Marker], Iterable[FileIgnore]]:
        if file not in per_file:  # once per file, not once per finding (there may be millions)
            if file is None:
                per_file[file] = ((), ())
            else:
                absolute = os.path.abspath(file)
                relative = _relative(absolute, root)
                per_file[file] = (markers.get(absolute, ()),
                                  [e for e in file_ignores if excluded(relative, [e.glob])])
        return per_file[file]

    def silenced(d: Diagnostic, record: bool) -> bool:
        hit = False
        file_markers, entries = about(d.file)
        holders: List[Union[Marker, FileIgnore]] = [*file_markers, *entries]
        for holder in holders:
            code = holder.covers(d)
            if code:
                hit = True
                if record:
                    holder.used.add(code)
        return hit

    kept = [d for d in diagnostics if not silenced(d, record=True)]

    def enabled(code: str) -> bool:  # a suppression for a code the run does not report is not stale
        return selected(code, settings.select, settings.ignore)

    if enabled(legacy.OLD_SPELLING.code):
        kept += [legacy.marker_finding(m.file, m.line, m.column, m.kind)
                 for path_markers in markers.values() for m in path_markers if m.old_name]
    if enabled(UNUSED_SUPPRESSION.code):
        # SUP001 obeys suppressions too (per-file-ignores = {"*.yaml" = ["SUP001"]}), and that use counts.
        kept += [d for d in _stale_markers(markers, enabled) if not silenced(d, record=True)]
        kept += [d for d in _stale_entries(file_ignores, settings.source, enabled) if not silenced(d, record=False)]
    if settings.baseline:
        kept = apply_baseline(kept, settings.baseline, checked if enabled(UNUSED_SUPPRESSION.code) else None)
    return kept


def _stale_markers(markers: Dict[str, List[Marker]], enabled: Callable[[str], bool]) -> List[Diagnostic]:
    stale = []
    for path_markers in markers.values():
        for m in path_markers:
            unused = [c for c in m.codes if c not in m.used and enabled(c)]
            if unused or not m.codes:
                where = "in this file" if m.kind == "file-ignore" else "here"
                what = "it" if len(unused) == len(m.codes) else ", ".join(unused)
                stale.append(UNUSED_SUPPRESSION.diag(
                    f"`# lfgate: {m.kind}[{', '.join(m.codes)}]`: {', '.join(unused) or 'no code'} reports "
                    f"nothing {where}; remove {what} (or fix the code)", file=m.file, line=m.line, column=m.column))
    return stale


def _stale_entries(file_ignores: List[FileIgnore], source: Optional[str],
                   enabled: Callable[[str], bool]) -> List[Diagnostic]:
    """per-file-ignores codes that silenced nothing, judged only where the glob matched a checked file."""
    stale = []
    for entry in file_ignores:
        unused = [c for c in entry.codes if c not in entry.used and enabled(c)]
        if entry.matched_a_file and unused:
            stale.append(UNUSED_SUPPRESSION.diag(
                f"per-file-ignores \"{entry.glob}\": {', '.join(unused)} reports nothing in the files it "
                f"matches; remove {', '.join(unused)} from that entry", file=source, line=_line_of(source, entry.glob)))
    return stale
