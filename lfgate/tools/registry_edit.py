"""Add or update one entry of dataset_info.json by editing its text, so everything else stays byte-for-byte.

Re-dumping the whole file would reorder nothing but still rewrite every other entry's whitespace, escapes and
number spelling, which turns a one-entry change into a noisy diff. So the file is scanned for the spans of its
top-level members (json's own raw_decode gives exact value ends) and only the touched entry's text is replaced or
appended, in the indentation style the file already uses.
"""

from __future__ import annotations

import json
import os
import re
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from typing import List, Optional, Tuple

from lfgate.errors import UsageError
from lfgate.readers import guarded
from lfgate.readers.jsonpos import after_blanks

_DECODER = json.JSONDecoder()


@dataclass
class Member:
    name: str
    key_start: int  # offset of the key's opening quote
    value_start: int
    value_end: int  # offset just past the value
    value: object


@dataclass
class Layout:
    """Where the top-level object's members are, and how the file is indented."""

    text: str
    open_brace: int
    close_brace: int
    members: List[Member]


def scan(text: str) -> Layout:
    """The top-level members of a JSON object text, with their spans. Raises ValueError if it is not one."""
    i = after_blanks(text, 0)
    if text.startswith("\ufeff", i):
        i = after_blanks(text, i + 1)
    if i >= len(text) or text[i] != "{":
        raise ValueError("the top level is not a JSON object")
    open_brace = i
    members: List[Member] = []
    i = after_blanks(text, i + 1)
    if i < len(text) and text[i] == "}":
        return _finish(text, open_brace, i, members)
    while True:
        if i >= len(text) or text[i] != '"':
            raise ValueError(f"expected a key at offset {i}")
        key_start = i
        name, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]  # the C scanner
        i = after_blanks(text, i)
        if i >= len(text) or text[i] != ":":
            raise ValueError(f"expected ':' at offset {i}")
        i = after_blanks(text, i + 1)
        value, end = _DECODER.raw_decode(text, i)
        members.append(Member(name, key_start, i, end, value))
        i = after_blanks(text, end)
        if i < len(text) and text[i] == ",":
            i = after_blanks(text, i + 1)
            continue
        if i < len(text) and text[i] == "}":
            return _finish(text, open_brace, i, members)
        raise ValueError(f"expected ',' or '}}' at offset {i}")


def _finish(text, open_brace, close_brace, members) -> Layout:
    if text[close_brace + 1:].strip():
        raise ValueError("extra data after the top-level object")
    return Layout(text, open_brace, close_brace, members)


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _indent_of(text: str, offset: int) -> Optional[str]:
    """The whitespace before offset on its line, or None when something else precedes it on that line."""
    prefix = text[_line_start(text, offset):offset]
    return prefix if prefix.strip() == "" else None


def _style(layout: Layout) -> Tuple[Optional[str], str, str]:
    """(indent unit or None for one-line files, indent of a top-level key, newline)."""
    text = layout.text
    newline = "\r\n" if "\r\n" in text else "\n"
    if not layout.members:
        return "  ", "  ", newline
    member_indent = _indent_of(text, layout.members[0].key_start)
    if member_indent is None:  # {"a": {...}, "b": {...}} on one line
        return None, "", newline
    unit = member_indent or "  "
    # The unit inside entries: the first nested key's indent minus the member indent, if there is one.
    for member in layout.members:
        inner = text[member.value_start:member.value_end]
        match = re.search(r"\n([ \t]*)\"", inner)
        if match and match.group(1).startswith(member_indent) and len(match.group(1)) > len(member_indent):
            unit = match.group(1)[len(member_indent):]
            break
    return unit, member_indent, newline


def _dump(value, unit: Optional[str], member_indent: str, newline: str) -> str:
    if unit is None:
        return json.dumps(value, ensure_ascii=False)
    text = json.dumps(value, ensure_ascii=False, indent=unit)  # indent may be a string, e.g. a tab
    return text.replace("\n", newline + member_indent)


def upsert(text: str, name: str, entry: dict) -> Tuple[str, str]:
    """The registry text with entry `name` added or replaced; and 'added' or 'updated'."""
    layout = scan(text)
    unit, member_indent, newline = _style(layout)
    value_text = _dump(entry, unit, member_indent, newline)
    existing = [m for m in layout.members if m.name == name]
    if existing:  # json keeps the last of duplicate keys, so that is the one LLaMA-Factory reads
        member = existing[-1]
        return text[:member.value_start] + value_text + text[member.value_end:], "updated"
    key_text = json.dumps(name, ensure_ascii=False)
    if layout.members:
        last = layout.members[-1]
        sep = "," + (newline + member_indent if unit is not None else " ")
        insert = f"{sep}{key_text}: {value_text}"
        return text[:last.value_end] + insert + text[last.value_end:], "added"
    # An empty object: lay it out as json.dump(indent=2) would.
    body = f"{newline}  {key_text}: {value_text}{newline}"
    return text[:layout.open_brace + 1] + body + text[layout.close_brace:], "added"


def target_of(registry_path: str) -> str:
    """The file an edit must change: a symlinked registry (a shared one) is edited where it lies, through the
    link; a pipe, device or folder is refused (reading a FIFO would block forever); so is a read-only file."""
    from lfgate.safe_write import refuse_read_only

    target = os.path.realpath(registry_path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        if os.path.islink(registry_path):
            raise UsageError(f"{registry_path} is a symlink to {target}, which does not exist") from None
        return target
    except OSError as err:
        raise UsageError(f"cannot read {registry_path}: {err.strerror}") from None
    if not stat.S_ISREG(mode):
        raise UsageError(f"{registry_path} is not a regular file (a folder, pipe, device or socket)")
    refuse_read_only(target)
    return target


def read_text(registry_path: str) -> str:
    """The registry's text ('{}' when it does not exist yet or is blank)."""
    target = target_of(registry_path)
    if not os.path.exists(target):
        return "{}\n"
    try:
        with guarded.open_regular(target, "r", encoding="utf-8", newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read {registry_path}: {err}") from None
    if text.startswith("\ufeff"):  # kept by an edit, it would stay a registry LLaMA-Factory cannot open
        raise UsageError(f"{registry_path} starts with a UTF-8 byte order mark (BOM): LLaMA-Factory's json.load "
                         "refuses it (`Unexpected UTF-8 BOM`, DI001 in `lfgate check`). Save the file as UTF-8 "
                         "without a BOM, then register again; nothing was changed")
    return text if text.strip() else "{}\n"


def check_editable(registry_path: str) -> None:
    """Raise UsageError now if write_entry would fail on this registry (so nothing else is written first)."""
    write_entry(registry_path, "", {}, dry_run=True)


@contextmanager
def locked(registry_path: str):
    """Hold an exclusive lock on the (real) registry for a whole read-modify-write, so parallel `register` runs
    each see the others' entries (10 parallel runs lost 3 to 7 entries without it): safe_write.locked, on the
    registry file itself, never through a link and with no sidecar lock file."""
    from lfgate.safe_write import locked as locked_file

    with locked_file(target_of(registry_path)):
        yield


def write_entry(registry_path: str, name: str, entry: dict, dry_run: bool = False) -> str:
    """Add or update `name` in registry_path (created when absent), atomically. Returns 'added'/'updated'."""
    text = read_text(registry_path)
    try:
        new_text, action = upsert(text, name, entry)
    except ValueError as err:
        raise UsageError(f"{registry_path} is not a JSON object ({err}); `lfgate check {registry_path}` "
                         "shows where, fix it first") from None
    except RecursionError:
        raise UsageError(f"{registry_path} is nested too deeply to edit; `lfgate check {registry_path}` shows "
                         "where") from None
    if dry_run:
        return action
    from lfgate.safe_write import atomic_write

    atomic_write(target_of(registry_path), new_text, force=True)
    return action
