"""Throughput and peak memory of `lfgate check` on a large sharegpt JSONL, next to parsing the file alone.

    python benchmarks/bench_check.py                 # ~150 MB, a defect every 1000 records, 1 and 2 workers
    python benchmarks/bench_check.py --size-mb 20 --workers 1,2,4 --defect-every 500

Each measurement runs in its own process; peak memory is the largest sum of RSS over that process and all its
children (worker processes included), sampled every 20 ms from /proc (Linux; elsewhere the largest single
process's peak from getrusage). Importable: ``build_dataset``, ``measure``, ``run_benchmark``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

PARSE_ONLY = """
import sys, orjson
n = 0
with open(sys.argv[1], "rb") as f:
    if sys.argv[1].endswith(".json"):  # an array: the whole file at once (the fastest way, if memory allows)
        n = len(orjson.loads(f.read()))
    else:
        for line in f:
            if line.strip():
                orjson.loads(line)
                n += 1
print(n)
"""

_WORDS = ("the model answers questions about data quality and training schedules while keeping every reply short "
          "clear and useful for people who fine tune language models on their own hardware").split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _rich(rng: random.Random, text: str) -> str:
    """What real chat text holds and the plain words do not: paragraphs, quotes, other scripts, code with `<`."""
    roll = rng.random()
    if roll < 0.4:
        return text.replace(" ", "\n\n", 1)
    if roll < 0.6:
        return text + ' and then "fine tune" it again'
    if roll < 0.8:
        return text + " 数据质量很重要, café"
    if roll < 0.85:
        return text + " if a < b: return b"
    return text


def build_dataset(folder: str, size_mb: float = 150, defect_every: int = 1000, seed: int = 0,
                  layout: str = "jsonl", rich: bool = False) -> Dict[str, int]:
    """Write folder/data/{dataset_info.json, bench.jsonl}: sharegpt records of ~1 KB; every defect_every-th record
    has an assistant turn with an undeclared role (DS201, so the sample is dropped). layout "array" writes the
    same records as one JSON array, one element per line (bench.json). ``rich``: texts as real chats have them
    (line breaks, quotes, non-ASCII, code with `<`; see _rich) and an "id" field in every record."""
    name = "bench.json" if layout == "array" else "bench.jsonl"
    rng = random.Random(seed)
    data = os.path.join(folder, "data")
    os.makedirs(data, exist_ok=True)
    with open(os.path.join(data, "dataset_info.json"), "w", encoding="utf-8") as f:
        json.dump({"bench": {"file_name": name, "formatting": "sharegpt",
                             "columns": {"messages": "conversations", "system": "system"}}}, f)
    target = int(size_mb * (1 << 20))
    written = records = defects = 0
    with open(os.path.join(data, name), "w", encoding="utf-8") as f:
        if layout == "array":
            f.write("[\n")
        while written < target:
            turns = []
            for _ in range(rng.randint(1, 3)):
                turns.append({"from": "human", "value": _text(rng, rng.randint(8, 40))})
                turns.append({"from": "gpt", "value": _text(rng, rng.randint(20, 120))})
            if defect_every and records % defect_every == defect_every - 1:
                turns[-1]["from"] = "bot"
                defects += 1
            record = {"system": "You are a helpful assistant.", "conversations": turns}
            if rich:
                for turn in turns:
                    turn["value"] = _rich(rng, turn["value"])
                record = {"id": f"chat-{records}", **record}
            line = json.dumps(record, ensure_ascii=False) + "\n"
            if layout == "array":
                line = ("  " if not records else ", ") + line
            f.write(line)
            written += len(line.encode("utf-8"))
            records += 1
        if layout == "array":
            f.write("]\n")
    return {"bytes": written, "records": records, "defects": defects}


def _tree_rss(pid: int) -> int:
    """Sum of RSS (bytes) of pid and its descendants, from /proc."""
    children: Dict[int, List[int]] = {}
    rss: Dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * page
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def measure(argv: List[str], cwd: Optional[str] = None) -> Dict[str, float]:
    """Wall time, CPU time (user + system, worker processes included) and peak memory (MiB) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0]
    polling = os.path.isdir("/proc")

    def poll():
        while proc.poll() is None:
            try:
                peak[0] = max(peak[0], _tree_rss(proc.pid))
            except OSError:
                pass
            time.sleep(0.02)

    watcher = threading.Thread(target=poll, daemon=True)
    if polling:
        watcher.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    if polling:
        watcher.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if not peak[0]:
        peak[0] = after.ru_maxrss * 1024
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err.decode(errors='replace')[-500:]}")
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_mib": peak[0] / (1 << 20), "stdout": out}


def run_benchmark(size_mb: float = 150, defect_every: int = 1000, workers=(1, 2), folder: Optional[str] = None,
                  keep: bool = False, layout: str = "jsonl") -> List[Dict]:
    own = folder is None
    folder = folder or tempfile.mkdtemp(prefix="lfgate-bench-")
    try:
        info = build_dataset(folder, size_mb, defect_every, layout=layout)
        path = os.path.join(folder, "data", "bench.json" if layout == "array" else "bench.jsonl")
        mb = info["bytes"] / (1 << 20)
        print(f"dataset: {mb:.1f} MiB, {info['records']} records, {info['defects']} defects ({path})")
        rows = []
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        base = measure([sys.executable, "-c", PARSE_ONLY, path])
        rows.append({"what": f"orjson parse only, 1 core{' (whole file)' if layout == 'array' else ''}", **base})
        for n in workers:
            result = measure([sys.executable, "-m", "lfgate", "check", "--format", "json", "--workers", str(n),
                              "."], cwd=folder)
            report = json.loads(result["stdout"])
            found = sum(1 for d in report["diagnostics"] if d["code"] == "DS201")
            assert report["summary"]["samples"] == info["records"], report["summary"]
            assert found == info["defects"], (found, info["defects"])
            rows.append({"what": f"lfgate check, {n} worker{'s' if n > 1 else ''}", **result})
        print(f"{os.cpu_count()} cores, load average {load:.1f} before the runs")
        print(f"{'':42} {'wall s':>7} {'MB/s':>7} {'CPU s':>7} {'MB/CPU-s':>9} {'peak MiB':>9}")
        for row in rows:
            print(f"{row['what']:42} {row['seconds']:7.1f} {mb / row['seconds']:7.1f} {row['cpu_seconds']:7.1f} "
                  f"{mb / max(row['cpu_seconds'], 1e-9):9.1f} {row['peak_mib']:9.0f}")
        return rows
    finally:
        if own and not keep:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=150, help="dataset size (default 150)")
    parser.add_argument("--defect-every", type=int, default=1000, help="a defective record every N (default 1000)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--dir", help="build the dataset here (kept) instead of a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--layout", choices=["jsonl", "array"], default="jsonl",
                        help="JSON Lines (default) or one JSON array, one element per line")
    args = parser.parse_args(argv)
    workers = tuple(int(w) for w in args.workers.split(",") if w.strip())
    run_benchmark(args.size_mb, args.defect_every, workers, args.dir, args.keep, args.layout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
