"""Generate lfgate/schemas/stock_files.json: the content hashes of LLaMA-Factory's own `examples/` and `data/` files
and of its registry entries, in each release, so `lfgate check` recognises them unchanged in a fork or a copy.

    python scripts/gen_stock_hashes.py --repo PATH/TO/LLaMA-Factory.git [--since v0.8.0] [--ref HEAD]

PATH is a clone or a bare git directory of hiyouga/LLaMA-Factory with its tags; nothing is fetched. The releases
are the tags `vX.Y.Z` from --since on; --ref adds a branch or commit (recorded as `main@SHORT`). Only hashes, sizes,
paths and the releases holding them are written: never the files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from typing import Dict, Iterator, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(ROOT, "lfgate", "schemas", "stock_files.json")
FOLDERS = ("examples", "data")
REGISTRY = "data/dataset_info.json"
RELEASE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


def git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", repo, *args], check=True, capture_output=True, text=True).stdout


def releases(repo: str, since: str) -> List[str]:
    """The release tags vX.Y.Z at or after ``since``, oldest first."""
    def version(tag: str) -> Tuple[int, ...]:
        match = RELEASE.match(tag)
        return tuple(int(n) for n in match.groups()) if match else ()

    floor = version(since)
    return sorted((t for t in git(repo, "tag").split() if version(t) and version(t) >= floor), key=version)


def blobs(repo: str, ref: str) -> Iterator[Tuple[str, bytes]]:
    """(path, content) of every file under FOLDERS at ``ref``, read in one `git cat-file --batch`."""
    listed = []
    for line in git(repo, "ls-tree", "-r", ref, "--", *FOLDERS).splitlines():
        meta, path = line.split("\t", 1)
        _, kind, sha = meta.split()
        if kind == "blob":
            listed.append((path, sha))
    batch = subprocess.run(["git", "--git-dir", repo, "cat-file", "--batch"], check=True, capture_output=True,
                           input="".join(f"{sha}\n" for _, sha in listed).encode())
    out, at = batch.stdout, 0
    for path, _ in listed:
        header_end = out.index(b"\n", at)
        size = int(out[at:header_end].split()[2])
        yield path, out[header_end + 1:header_end + 1 + size]
        at = header_end + 1 + size + 1


def entry_hash(name: str, value) -> str:
    """The hash lfgate/validator/stock.py recomputes for a registry entry: its name and value, canonical JSON."""
    text = json.dumps([name, value], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build(repo: str, refs: List[Tuple[str, str]]) -> dict:
    files: Dict[str, dict] = {}
    entries: Dict[str, dict] = {}
    for ref, label in refs:
        for path, content in blobs(repo, ref):
            digest = hashlib.sha256(content).hexdigest()
            row = files.setdefault(digest, {"size": len(content), "paths": [], "releases": []})
            for key, value in (("paths", path), ("releases", label)):
                if value not in row[key]:
                    row[key].append(value)
            if path == REGISTRY:
                try:
                    registry = json.loads(content.decode("utf-8"))
                except ValueError:
                    continue
                for name, value in registry.items() if isinstance(registry, dict) else ():
                    seen = entries.setdefault(entry_hash(name, value), {"name": name, "releases": []})
                    if label not in seen["releases"]:
                        seen["releases"].append(label)
    return {"source": "https://github.com/hiyouga/LLaMA-Factory", "generated_by": "scripts/gen_stock_hashes.py",
            "releases": [label for _, label in refs], "hash": "sha256",
            "files": dict(sorted(files.items())), "entries": dict(sorted(entries.items()))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="a LLaMA-Factory git directory (bare or a clone) with tags")
    parser.add_argument("--since", default="v0.8.0", help="the oldest release tag to include (default v0.8.0)")
    parser.add_argument("--ref", action="append", default=[], help="also a branch or commit (e.g. HEAD)")
    parser.add_argument("--output", default=OUTPUT)
    args = parser.parse_args(argv)
    repo = args.repo if os.path.isfile(os.path.join(args.repo, "HEAD")) else os.path.join(args.repo, ".git")
    refs = [(tag, tag) for tag in releases(repo, args.since)]
    for ref in args.ref:
        commit = git(repo, "rev-parse", "--short=7", ref).strip()
        refs.append((commit, f"main@{commit}"))
    if not refs:
        print(f"no release tag from {args.since} on in {args.repo}", file=sys.stderr)
        return 1
    table = build(repo, refs)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(table, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {os.path.relpath(args.output, ROOT)}: {len(table['files'])} files, {len(table['entries'])} "
          f"registry entries from {', '.join(table['releases'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
