#!/usr/bin/env python3
"""Rebuild the real-world corpus (registries, data, YAMLs of public LLaMA-Factory projects) from git mirrors.

The corpus itself is not committed here: only our SOURCE notes and VERDICTS under tests/realworld/<case>/. Each
SOURCE names the repository, the commit and the files kept, with how each was trimmed. This script reads them and
writes the trimmed files to OUT/<case>/, in the repository's layout:

    python scripts/build_realworld_corpus.py --mirrors DIR --out ../shared/realworld

DIR holds one bare git directory per repository, as DIR/<owner>+<name>/repo (or DIR/<owner>+<name> itself).
tests/test_realworld.py then reads OUT (LFGATE_REALWORLD, else ../shared/realworld beside the checkout).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JUDGED = os.path.join(ROOT, "tests", "realworld")
TRIM = re.compile(r"^\s{2}(\S+)(?:\s+\((?:[^:)]*: )?first (\d+) of \d+ (records|lines))?")


def read_source(path: str) -> dict:
    """repository, commit and [(path, keep, unit)] of one SOURCE note."""
    note = {"files": []}
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
                found = TRIM.match(line)
                if found:
                    keep = int(found.group(2)) if found.group(2) else None
                    note["files"].append((found.group(1), keep, found.group(3)))
    return note


def git_dir(mirrors: str, repository: str) -> str:
    owner, name = repository.rstrip("/").split("/")[-2:]
    base = os.path.join(mirrors, f"{owner}+{name}")
    return os.path.join(base, "repo") if os.path.isdir(os.path.join(base, "repo")) else base


def trimmed(data: bytes, keep, unit) -> bytes:
    if keep is None:
        return data
    if unit == "records":  # a JSON array, re-serialised
        return (json.dumps(json.loads(data)[:keep], ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    lines = data.splitlines(keepends=True)
    return b"".join(lines[:keep])


def build(case: str, mirrors: str, out: str) -> int:
    note = read_source(os.path.join(JUDGED, case, "SOURCE"))
    repo = git_dir(mirrors, note["repository"])
    for relative, keep, unit in note["files"]:
        data = subprocess.run(["git", "--git-dir", repo, "show", f"{note['commit']}:{relative}"],
                              check=True, capture_output=True).stdout
        target = os.path.join(out, case, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(trimmed(data, keep, unit))
    return len(note["files"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", required=True, help="folder of git mirrors, <owner>+<name>[/repo]")
    parser.add_argument("--out", required=True, help="where to write the corpus (one folder per case)")
    args = parser.parse_args()
    cases = sorted(c for c in os.listdir(JUDGED) if os.path.isfile(os.path.join(JUDGED, c, "SOURCE")))
    for case in cases:
        try:
            print(f"{case}: {build(case, args.mirrors, args.out)} files")
        except subprocess.CalledProcessError as err:
            print(f"{case}: git failed: {err.stderr.decode(errors='replace').strip()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
