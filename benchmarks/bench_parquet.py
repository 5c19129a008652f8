"""Every row of a large Parquet file is checked in flat memory (issue 20 §3).

    python benchmarks/bench_parquet.py                          # 250k, 1M and 4M rows (about 0.1, 0.4, 1.6 GB)
    python benchmarks/bench_parquet.py --rows 100000,400000     # a quick look
    python benchmarks/bench_parquet.py --row-group 100000       # smaller row groups
    python benchmarks/bench_parquet.py --compare ../main        # also another checkout's lfgate, same files

Builds alpaca Parquet files of N rows (~400 bytes of distinct text per row, snappy; the rows of one row group are
written as pyarrow's default row group size or ``--row-group``), and one dictionary-encoded file of one sample
repeated 5 million times (43 KB: issue 17's hostile file), the last row of each holding a defect (a null output),
then runs `lfgate check --format json --workers 1 .` on each in its own process and reports wall and CPU time and
peak memory (sum of PSS and of RSS over the process tree, sampled every 20 ms; bench_scale.py's `measure`). It
asserts that every row was counted and that the last row's defect was found: a fast answer that skipped rows is
no answer. The memory column should stay flat as the row count grows; time grows with the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_scale import RUN_ENV, measure  # noqa: E402  (one way of measuring for every benchmark)

WORDS = ("the model answers every question about data, configs and training runs with care while the "
         "reviewer reads each sample twice before it is merged into the corpus").split()


def build(path: str, rows: int, row_group: int, chunk: int = 200_000) -> int:
    """An alpaca Parquet file of ``rows`` rows written in chunks (flat memory here too); the last output null."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(5)
    words = np.array(WORDS)
    schema = pa.schema([("instruction", pa.string()), ("input", pa.string()), ("output", pa.string())])
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            picks = rng.integers(0, len(words), size=(n, 60))
            texts = [" ".join(row) for row in words[picks]]
            outputs = [f"{start + i}: {texts[i][:180]}" for i in range(n)]
            if start + n == rows:
                outputs[-1] = None
            table = pa.table({"instruction": [t[:200] for t in texts], "input": [""] * n, "output": outputs},
                             schema=schema)
            writer.write_table(table, row_group_size=row_group)
    return os.path.getsize(path)


def build_dictionary(path: str, rows: int) -> int:
    """A dictionary-encoded file of one sample repeated ``rows`` times (5M rows are 43 KB), the last output null:
    issue 17's hostile file, which issue 20 wants checked to its last row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    zeros = pa.array([0] * rows, type=pa.int8())
    last = pa.array([0] * (rows - 1) + [None], type=pa.int8())
    pq.write_table(pa.table({"instruction": pa.DictionaryArray.from_arrays(zeros, pa.array(["hi"])),
                             "input": pa.DictionaryArray.from_arrays(zeros, pa.array([""])),
                             "output": pa.DictionaryArray.from_arrays(last, pa.array(["x"]))}), path,
                   compression="zstd")
    return os.path.getsize(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="250000,1000000,4000000", help="row counts, comma-separated")
    parser.add_argument("--row-group", type=int, default=1 << 20, help="rows per row group (pyarrow's default)")
    parser.add_argument("--dir", help="keep the files in DIR (default: a temporary folder, removed)")
    parser.add_argument("--compare", metavar="CHECKOUT", help="also run the lfgate of another checkout (PYTHONPATH)")
    parser.add_argument("--dictionary-rows", type=int, default=5_000_000,
                        help="rows of the dictionary-encoded file (0: none)")
    args = parser.parse_args(argv)
    folder = args.dir or tempfile.mkdtemp(prefix="lfgate-parquet-")
    rows_out = []
    try:
        cases = [(int(x), "distinct") for x in args.rows.split(",") if int(x)]
        cases += [(args.dictionary_rows, "dictionary")] if args.dictionary_rows else []
        for rows, kind in cases:
            project = os.path.join(folder, f"{kind}{rows}")
            os.makedirs(os.path.join(project, "data"), exist_ok=True)
            with open(os.path.join(project, "data", "dataset_info.json"), "w", encoding="utf-8") as f:
                f.write('{"big": {"file_name": "big.parquet"}}\n')
            path = os.path.join(project, "data", "big.parquet")
            if os.path.exists(path):
                size = os.path.getsize(path)
            else:
                size = build(path, rows, args.row_group) if kind == "distinct" else build_dictionary(path, rows)
            argv_ = [sys.executable, "-m", "lfgate", "check", "--format", "json", "--workers", "1", "."]
            runs = [("this checkout", RUN_ENV)]
            if args.compare:
                runs.append((args.compare, dict(RUN_ENV, PYTHONPATH=os.path.abspath(args.compare))))
            for who, env in runs:  # interleaved: the box's speed drifts
                result = measure(argv_, cwd=project, env=env)
                report = json.loads(result["stdout"])
                last = [d for d in report["diagnostics"] if d["code"] == "DS104" and d["sample"] == rows - 1]
                complete = report["summary"]["samples"] == rows and bool(last)
                if who == "this checkout" and not complete:
                    raise RuntimeError(f"{rows} rows: lfgate counted {report['summary']['samples']}, last row "
                                       f"found: {bool(last)}")
                rows_out.append((who, kind, rows, size, result, complete))
                print(f"{who}: {rows} {kind} rows, {size / (1 << 20):.1f} MiB: {result['seconds']:.1f} s wall, "
                      f"{result['cpu']:.1f} s CPU, peak PSS {result['pss_mib']:.0f} MiB, RSS "
                      f"{result['rss_mib']:.0f} MiB, every row checked: {complete}", flush=True)
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)
    print("\n| lfgate | rows | file MiB | wall s | CPU s | rows per CPU-s | peak PSS MiB | peak RSS MiB | last row |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for who, kind, rows, size, r, complete in rows_out:
        print(f"| {who} | {rows:,} {kind} | {size / (1 << 20):.1f} | {r['seconds']:.1f} | {r['cpu']:.1f} | "
              f"{rows / max(r['cpu'], 1e-9):,.0f} | {r['pss_mib']:.0f} | {r['rss_mib']:.0f} | "
              f"{'checked' if complete else 'missed'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
