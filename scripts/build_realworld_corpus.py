#!/usr/bin/env python3
"""Rebuild the real-world corpus (registries, data, YAMLs of public LLaMA-Factory projects) from git mirrors.

The corpus itself is not committed here: only our SOURCE notes and VERDICTS under tests/realworld/<case>/. Each
SOURCE names the repository, the commit and the files kept, with how each was trimmed. This script reads them and
writes the trimmed files to OUT/<case>/, in the repository's layout:

    python scripts/build_realworld_corpus.py --mirrors DIR --out ../shared/realworld [--case NAME ...]

DIR holds one bare git directory per repository, as DIR/<owner>+<name>/repo (or DIR/<owner>+<name> itself, or a
clone's .git inside either). Each case's folder is written afresh, so a rebuild is byte for byte the same.
tests/test_realworld.py then reads OUT (LFGATE_REALWORLD, else ../shared/realworld beside the checkout).

A `kept:` line is `  PATH` (verbatim) or `  PATH  (NOTE)`, where NOTE says how the file was cut:
  - `first N of M records ...`: a JSON array cut to its first N records, re-serialised with indent 2;
  - `first N of M lines ...`: JSON Lines or text cut to its first N lines;
  - `fenced code blocks only ...`: a Markdown file cut to its ``` / ~~~ fenced blocks (what lfgate reads of a
    README to learn where a project launches `llamafactory-cli`), the rest dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JUDGED = os.path.join(ROOT, "tests", "realworld")
KEPT = re.compile(r"^\s{2}(\S+)(?:\s+\((.*)\))?\s*$")
FIRST = re.compile(r"(?:^|: )first (\d+) of \d+ (records|lines)")
FENCE = re.compile(r"^\s*(```|~~~)")


def trim_of(note: str | None) -> tuple[int | None, str | None]:
    """(keep, unit) of a kept line's note: unit is records, lines, code or None (verbatim)."""
    if not note:
        return None, None
    if note.startswith("fenced code blocks only"):
        return None, "code"
    found = FIRST.search(note)
    return (int(found.group(1)), found.group(2)) if found else (None, None)


def read_source(path: str) -> dict:
    """repository, commit and [(path, keep, unit)] of one SOURCE note."""
    note: dict = {"files": []}
    section = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("repository:"):
                note["repository"] = line.split(":", 1)[1].strip()
            elif line.startswith("commit:"):
                note["commit"] = line.split(":", 1)[1].strip()
            elif not line.startswith(" "):
                section = line.split(":", 1)[0]
            elif section == "kept":
                found = KEPT.match(line)
                if found:
                    note["files"].append((found.group(1), *trim_of(found.group(2))))
    return note


def git_dir(mirrors: str, repository: str) -> str:
    owner, name = repository.rstrip("/").split("/")[-2:]
    base = os.path.join(mirrors, f"{owner}+{name}")
    for candidate in (os.path.join(base, "repo", ".git"), os.path.join(base, "repo"), os.path.join(base, ".git")):
        if os.path.isdir(candidate):
            return candidate
    return base


def code_blocks(data: bytes) -> bytes:
    """The fenced blocks of a Markdown file, fences included, in order; everything between them dropped."""
    out, fence = [], None
    for line in data.splitlines(keepends=True):
        opened = FENCE.match(line.decode("utf-8", errors="replace"))
        if fence is None and opened:
            fence = opened.group(1)
            out.append(line)
        elif fence is not None:
            out.append(line)
            if line.strip().startswith(fence.encode()):
                fence = None
    return b"".join(out)


def trimmed(data: bytes, keep, unit) -> bytes:
    if unit == "code":
        return code_blocks(data)
    if keep is None:
        return data
    if unit == "records":  # a JSON array, re-serialised
        return (json.dumps(json.loads(data)[:keep], ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    lines = data.splitlines(keepends=True)
    return b"".join(lines[:keep])


def build(case: str, mirrors: str, out: str) -> int:
    note = read_source(os.path.join(JUDGED, case, "SOURCE"))
    repo = git_dir(mirrors, note["repository"])
    folder = os.path.join(out, case)
    if os.path.isdir(folder) and not os.path.islink(folder):
        shutil.rmtree(folder)  # afresh: a file dropped from SOURCE must not linger
    for relative, keep, unit in note["files"]:
        if os.path.isabs(relative) or ".." in relative.split("/"):
            raise ValueError(f"{case}: kept path {relative!r} leaves the case folder")
        data = subprocess.run(["git", "--git-dir", repo, "show", f"{note['commit']}:{relative}"],
                              check=True, capture_output=True).stdout
        target = os.path.join(folder, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(trimmed(data, keep, unit))
    return len(note["files"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", required=True, help="folder of git mirrors, <owner>+<name>[/repo]")
    parser.add_argument("--out", required=True, help="where to write the corpus (one folder per case)")
    parser.add_argument("--case", action="append", help="build only this case (repeatable; default: all)")
    args = parser.parse_args()
    cases = sorted(c for c in os.listdir(JUDGED) if os.path.isfile(os.path.join(JUDGED, c, "SOURCE")))
    unknown = sorted(set(args.case or ()) - set(cases))
    if unknown:
        print(f"no such case: {', '.join(unknown)}", file=sys.stderr)
        return 2
    for case in args.case or cases:
        try:
            print(f"{case}: {build(case, args.mirrors, args.out)} files")
        except subprocess.CalledProcessError as err:
            print(f"{case}: git failed: {err.stderr.decode(errors='replace').strip()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
