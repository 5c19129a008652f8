"""Issue 5's speed and memory goals, measured as ratios against baselines taken in the same run.

    python benchmarks/bench_scale.py                  # 150 MB: vs orjson, 1 and 2 workers, start-up, LLaMA-Factory
    python benchmarks/bench_scale.py --big-mb 1536    # also peak memory on 1.5 GB (run it last, on a quiet machine)
    python benchmarks/bench_scale.py --size-mb 20 --skip-llamafactory --skip-startup   # a quick look
    python benchmarks/bench_scale.py --rich-text --repeat 7   # texts as real chats have them, and an id field
    python benchmarks/bench_scale.py --lfgate main --lfgate 74646f6 --workers 1,2 --repeat 7 --skip-startup \
        --skip-llamafactory                           # two git refs (or installs: a Python path), interleaved

Goals (issue 5):
  1. `lfgate check` on a 150 MB sharegpt JSONL with a defect every 1000 records takes at most 1.5x the time of
     parsing the same file with orjson alone on one core;
  2. peak memory stays under 300 MB whatever the size (150 MB and 1.5 GB shown);
  3. on a small project (registry, one dataset, one YAML) `lfgate check` finishes faster than `check-jsonschema`
     validating only that YAML against lfgate's own train schema;
  4. the work spreads over the cores: the speed-up from 1 to 2 workers;
  5. LLaMA-Factory's own loading and conversion of the same file (`datasets` + its aligner), where installed.

``--lfgate SPEC`` (repeatable) names what runs as lfgate: ``.`` (this checkout, the default), a git ref of this
repository (its ``lfgate/`` exported to a temporary folder and put first on PYTHONPATH; the dependencies are this
Python's), or the path of a Python executable that has lfgate installed. With two or more, every round runs each of
them in turn beside the same orjson run, and the tables add each one's time over the first one's, per round.

Each lfgate run's ratio is taken against the orjson run of the same round (rounds are interleaved) and the tables
give the median of those ratios: the box's speed drifts between rounds. The dataset comes from
benchmarks/bench_check.py (`build_dataset`). Each command runs in its own process; memory
is sampled every 20 ms over the process and all its descendants, as the sum of PSS (shared pages split between
the processes that map them: forked workers do not count the parent's pages twice) and, for comparison with
bench_check.py, the sum of RSS. CPU time includes worker processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_check import PARSE_ONLY, build_dataset  # noqa: E402  (one generator for both benchmarks)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# LLaMA-Factory's own path for a local file: parser -> load_dataset (json builder, pyarrow) -> align_dataset
LLAMAFACTORY_LOAD = """
import os, sys
os.environ.setdefault("LLAMAFACTORY_VERBOSITY", "ERROR")
from transformers import Seq2SeqTrainingArguments
from llamafactory.data.loader import _get_merged_dataset
from llamafactory.hparams import DataArguments, ModelArguments
folder, cache = sys.argv[1], sys.argv[2]
data_args = DataArguments(dataset="bench", dataset_dir=os.path.join(folder, "data"), template="qwen",
                          overwrite_cache=True)
model_args = ModelArguments(model_name_or_path="unused", cache_dir=cache)
training_args = Seq2SeqTrainingArguments(output_dir=os.path.join(cache, "out"), report_to="none")
dataset = _get_merged_dataset(["bench"], model_args, data_args, training_args, "sft")
print(len(dataset), sum(1 for r in dataset["_response"] if not r))
"""

SMALL_CONFIG = ("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
                "lora_target: all\ndataset: small\ndataset_dir: data\ntemplate: qwen\ncutoff_len: 1024\n"
                "output_dir: saves/small\nper_device_train_batch_size: 1\ngradient_accumulation_steps: 1\n"
                "learning_rate: 1.0e-4\nnum_train_epochs: 1.0\nlogging_steps: 1\nsave_steps: 10\n")


# -- measuring ---------------------------------------------------------------------------------------
def _descendants(pid: int) -> List[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return found


def _memory(pid: int):
    """(sum of PSS, sum of RSS) in bytes over pid and its descendants."""
    pss = rss = 0
    for p in _descendants(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            continue
    return pss, rss


def measure(argv: List[str], cwd: Optional[str] = None, env: Optional[dict] = None) -> Dict:
    """Wall seconds, CPU seconds (children included), peak PSS and RSS sums (MiB), stdout of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = {"pss": 0, "rss": 0}

    def poll():
        while proc.poll() is None:
            pss, rss = _memory(proc.pid)
            peak["pss"], peak["rss"] = max(peak["pss"], pss), max(peak["rss"], rss)
            time.sleep(0.02)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    watcher.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err.decode(errors='replace')[-800:]}")
    return {"seconds": seconds, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "pss_mib": peak["pss"] / (1 << 20), "rss_mib": peak["rss"] / (1 << 20), "stdout": out}


@dataclass(frozen=True)
class Install:
    """One lfgate to measure: its label, the Python that runs it and what goes first on PYTHONPATH."""

    label: str
    python: str = sys.executable
    path: Optional[str] = None  # a folder holding an exported `lfgate/` package, or None: the Python's own


THIS = Install("this checkout")


def install(spec: str, scratch: str) -> Install:
    """`.`, a git ref (exported under scratch) or a Python executable (see --lfgate)."""
    if spec == ".":
        return THIS
    if os.path.isfile(spec) and os.access(spec, os.X_OK):
        return Install(spec, python=os.path.abspath(spec))
    commit = subprocess.run(["git", "rev-parse", "--verify", "--short", spec + "^{commit}"], cwd=ROOT,
                            capture_output=True, text=True)
    if commit.returncode != 0:
        raise SystemExit(f"--lfgate {spec}: neither a git ref of {ROOT} nor a Python executable")
    short = commit.stdout.strip()
    folder = os.path.join(scratch, f"ref-{short}")
    os.makedirs(folder, exist_ok=True)
    archive = subprocess.run(["git", "archive", short, "lfgate"], cwd=ROOT, check=True, stdout=subprocess.PIPE).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return Install(spec if short.startswith(spec) else f"{spec} ({short})", path=folder)


def environment(which: Install) -> dict:
    if which.path is None:
        return RUN_ENV
    return dict(RUN_ENV, PYTHONPATH=os.pathsep.join(p for p in (which.path, RUN_ENV.get("PYTHONPATH")) if p))


def lfgate(folder: str, workers: int, fast_path: bool = True, which: Install = THIS) -> List[str]:
    return [which.python, "-m", "lfgate", "check", "--format", "json", "--workers", str(workers), "."] + (
        [] if fast_path else ["--no-fast-path"])


# Measured processes run as an installed tool runs: with Python's bytecode cache (a warm-up run writes it). An
# environment with PYTHONDONTWRITEBYTECODE set would recompile lfgate's sources on every start (~0.1 s).
RUN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def check_report(result: Dict, info: Dict) -> None:
    """The run found every defect and counted every record (a fast wrong answer is no answer)."""
    report = json.loads(result["stdout"])
    found = sum(1 for d in report["diagnostics"] if d["code"] == "DS201")
    if report["summary"]["samples"] != info["records"] or found != info["defects"]:
        raise RuntimeError(f"lfgate saw {report['summary']['samples']} records and {found} defects; "
                           f"expected {info['records']} and {info['defects']}")


# -- the parts ---------------------------------------------------------------------------------------
def throughput(folder: str, info: Dict, workers, rows: List[Dict], repeat: int = 1,
               full_pipeline: bool = False, installs: Sequence[Install] = (THIS,)) -> Dict[int, Dict]:
    """orjson alone, then each lfgate (each install) with each worker count, ``repeat`` times interleaved; each
    row is the run with the median wall time, and the ratios are taken against the orjson run of the same round
    (and, with several installs, against the first install's run of the same round and worker count)."""
    path = os.path.join(folder, "data", "bench.jsonl")
    mb = info["bytes"] / (1 << 20)
    several = len(installs) > 1
    for which in installs:  # warm-up: page cache and bytecode cache
        measure(lfgate(folder, 1, which=which), cwd=folder, env=environment(which))
    runs = [("orjson parse only, 1 core", [sys.executable, "-c", PARSE_ONLY, path], None, RUN_ENV, None)]
    for n in workers:
        for k, which in enumerate(installs):
            label = f"lfgate check, {n} worker{'s' if n > 1 else ''}" + (f" [{which.label}]" if several else "")
            runs.append((label, lfgate(folder, n, which=which), n if k == 0 else None, environment(which),
                         (runs[-k][0] if k else None)))
    if full_pipeline:
        runs += [(f"lfgate check --no-fast-path, {n} worker{'s' if n > 1 else ''}", lfgate(folder, n, False), None,
                  RUN_ENV, None) for n in workers]
    results: Dict[str, List[Dict]] = {what: [] for what, *_ in runs}
    for _ in range(repeat):
        base = None
        for what, argv, _, env, against in runs:
            result = measure(argv, cwd=folder, env=env)
            if base is None:
                base = result
            else:
                check_report(result, info)
                result["ratio"], result["cpu_ratio"] = result["seconds"] / base["seconds"], result["cpu"] / base["cpu"]
                if against is not None:  # the first install's run of this round, same workers
                    first = results[against][-1]
                    result["vs_first"], result["cpu_vs_first"] = (result["seconds"] / first["seconds"],
                                                                  result["cpu"] / first["cpu"])
            results[what].append(result)
    by_workers = {}
    for what, _, n, _, against in runs:
        ordered = sorted(results[what], key=lambda r: r["seconds"])
        median = dict(ordered[len(ordered) // 2])
        if what.startswith("lfgate"):
            ratios = [r["ratio"] for r in results[what]]
            # the ratio that counts is each round's own (its orjson run beside it): their median, not the ratio
            # of the round whose wall time is the median
            median["ratio"] = statistics.median(ratios)
            median["cpu_ratio"] = statistics.median(r["cpu_ratio"] for r in results[what])
            print(f"{what}: wall x orjson per round " + ", ".join(f"{x:.2f}" for x in ratios) +
                  f" (median {median['ratio']:.2f}, {sum(x <= 1.5 for x in ratios)} of {len(ratios)} at most 1.5)")
            if against is not None:
                firsts = [r["vs_first"] for r in results[what]]
                median["vs_first"] = statistics.median(firsts)
                median["cpu_vs_first"] = statistics.median(r["cpu_vs_first"] for r in results[what])
                print(f"{what}: wall x [{installs[0].label}] per round " + ", ".join(f"{x:.3f}" for x in firsts)
                      + f" (median {median['vs_first']:.3f}); CPU per round "
                      + ", ".join(f"{r['cpu_vs_first']:.3f}" for r in results[what])
                      + f" (median {median['cpu_vs_first']:.3f})")
        rows.append({"what": what + (f" (median of {repeat})" if repeat > 1 else ""), "mb": mb, **median})
        if n is not None:
            by_workers[n] = median
    return by_workers


def llamafactory_load(folder: str, python: str, info: Dict, rows: List[Dict]) -> None:
    cache = tempfile.mkdtemp(prefix="lf-cache-", dir=folder)
    env = dict(os.environ, HF_DATASETS_CACHE=cache, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    try:
        result = measure([python, "-c", LLAMAFACTORY_LOAD, folder, cache], env=env)
    except (RuntimeError, OSError) as err:
        print(f"LLaMA-Factory not measured: {err}")
        return
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    base = next(r for r in rows if r["what"].startswith("orjson"))
    rows.append({"what": "LLaMA-Factory load + align, 1 proc", "mb": info["bytes"] / (1 << 20),
                 "ratio": result["seconds"] / base["seconds"], "cpu_ratio": result["cpu"] / base["cpu"], **result})


def startup(runs: int, cjs: str, rows: List[Dict], installs: Sequence[Install] = (THIS,)) -> None:
    """Median wall time of `lfgate check` on a small project (each install) and of check-jsonschema on its YAML
    alone, interleaved; each lfgate's ratio to check-jsonschema is the median of the rounds' own ratios."""
    folder = tempfile.mkdtemp(prefix="lfgate-small-")
    try:
        os.makedirs(os.path.join(folder, "data"))
        with open(os.path.join(folder, "data", "dataset_info.json"), "w") as f:
            json.dump({"small": {"file_name": "small.json"}}, f)
        with open(os.path.join(folder, "data", "small.json"), "w") as f:
            json.dump([{"instruction": f"question {i}", "input": "", "output": f"answer {i}"} for i in range(20)], f)
        with open(os.path.join(folder, "train.yaml"), "w") as f:
            f.write(SMALL_CONFIG)
        schema = os.path.join(folder, "train.schema.json")
        with open(schema, "wb") as f:
            f.write(subprocess.run([sys.executable, "-m", "lfgate", "schema", "train"], check=True,
                                   stdout=subprocess.PIPE).stdout)
        alone = os.path.join(folder, "yaml-only")  # the YAML alone, as check-jsonschema gets it: no registry, no data
        os.makedirs(alone)
        shutil.copy(os.path.join(folder, "train.yaml"), alone)
        cjs_name = "check-jsonschema (the YAML only)"
        commands = {cjs_name: ([cjs, "--schemafile", schema, "train.yaml"], RUN_ENV, folder)}
        for which in installs:
            tag = f" [{which.label}]" if len(installs) > 1 else ""
            commands["lfgate check (registry + dataset + YAML)" + tag] = (
                [which.python, "-m", "lfgate", "check", "."], environment(which), folder)
            commands["lfgate check --format json (the YAML only)" + tag] = (
                [which.python, "-m", "lfgate", "check", "--format", "json", "."], environment(which), alone)
        for argv, env, cwd in commands.values():  # warm-up: bytecode caches
            measure(argv, cwd=cwd, env=env)
        times: Dict[str, List[Dict]] = {k: [] for k in commands}
        for _ in range(runs):  # interleaved, so drift in machine load hits both alike
            for name, (argv, env, cwd) in commands.items():
                times[name].append(measure(argv, cwd=cwd, env=env))
        for name, results in times.items():
            median = statistics.median(r["seconds"] for r in results)
            ratios = [r["seconds"] / c["seconds"] for r, c in zip(results, times[cjs_name])]
            cpu_ratios = [r["cpu"] / c["cpu"] for r, c in zip(results, times[cjs_name]) if c["cpu"]]
            if name != cjs_name:
                print(f"{name}: wall x check-jsonschema per round " + ", ".join(f"{x:.2f}" for x in ratios) +
                      f" (median {statistics.median(ratios):.2f}; CPU median "
                      f"{statistics.median(cpu_ratios) if cpu_ratios else float('nan'):.2f})")
            rows.append({"what": f"{name}, median of {runs}", "mb": None,
                         **min(results, key=lambda r: abs(r["seconds"] - median)), "seconds": median,
                         "ratio": statistics.median(ratios) if name != cjs_name else None,
                         "cpu_ratio": statistics.median(cpu_ratios) if name != cjs_name and cpu_ratios else None})
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def print_rows(title: str, rows: List[Dict], against: str = "orjson") -> None:
    several = any("vs_first" in r for r in rows)
    print(f"\n{title}\n")
    print(f"| run | wall s | MB/s | CPU s | wall x {against} | CPU x {against} |" + (" wall x first | CPU x first |"
          if several else "") + " peak PSS MiB | peak RSS-sum MiB |")
    print("|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if several else "") + "---:|---:|")
    for r in rows:
        rate = f"{r['mb'] / r['seconds']:.1f}" if r.get("mb") else ""
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") else ""
        cpu_ratio = f"{r['cpu_ratio']:.2f}" if r.get("cpu_ratio") else ""
        first = (f" {r['vs_first']:.3f} | {r['cpu_vs_first']:.3f} |" if "vs_first" in r else "  |  |") \
            if several else ""
        print(f"| {r['what']} | {r['seconds']:.2f} | {rate} | {r['cpu']:.1f} | {ratio} | {cpu_ratio} |{first}"
              f" {r['pss_mib']:.0f} | {r['rss_mib']:.0f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=150)
    parser.add_argument("--defect-every", type=int, default=1000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--big-mb", type=float, default=0, help="also measure memory on a file this large")
    parser.add_argument("--llamafactory-python", default=os.path.join(os.path.dirname(ROOT), "lfvenv", "bin", "python"),
                        help="a Python with llamafactory installed (skipped when absent)")
    parser.add_argument("--skip-llamafactory", action="store_true")
    parser.add_argument("--check-jsonschema", default=shutil.which("check-jsonschema") or "",
                        help="check-jsonschema executable (install it in a throwaway venv)")
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--startup-only", action="store_true", help="only the small project's start-up")
    parser.add_argument("--startup-runs", type=int, default=7)
    parser.add_argument("--dir", help="build datasets under this folder (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; rows show the median")
    parser.add_argument("--full-pipeline", action="store_true",
                        help="also time --no-fast-path (every record through the full pipeline)")
    parser.add_argument("--rich-text", action="store_true",
                        help="texts as real chats have them (line breaks, quotes, non-ASCII, `<`) and an id field")
    parser.add_argument("--lfgate", action="append", metavar="SPEC",
                        help="what runs as lfgate, repeatable, interleaved: `.` (this checkout, the default), a git "
                             "ref, or a Python executable with lfgate installed; ratios are against the first")
    args = parser.parse_args(argv)
    workers = tuple(int(w) for w in args.workers.split(",") if w.strip())
    base_dir = args.dir or tempfile.mkdtemp(prefix="lfgate-scale-")
    installs = [install(spec, base_dir) for spec in (args.lfgate or ["."])]
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, load average {load:.1f} at the start; python {sys.version.split()[0]}")
    try:
        if args.startup_only:
            args.big_mb = 0
        if not args.startup_only:
            folder = os.path.join(base_dir, "main")
            info = build_dataset(folder, args.size_mb, args.defect_every, rich=args.rich_text)
            print(f"dataset{' (rich text)' if args.rich_text else ''}: {info['bytes'] / (1 << 20):.1f} MiB, "
                  f"{info['records']} records, {info['defects']} defects")
            rows: List[Dict] = []
            by_workers = throughput(folder, info, workers, rows, args.repeat, args.full_pipeline, installs)
            if not args.skip_llamafactory and os.path.exists(args.llamafactory_python):
                llamafactory_load(folder, args.llamafactory_python, info, rows)
            print_rows(f"{args.size_mb:g} MB sharegpt JSONL", rows)
            if 1 in by_workers and len(by_workers) > 1:
                for n, r in sorted(by_workers.items()):
                    if n > 1:
                        print(f"\nspeed-up 1 -> {n} workers: {by_workers[1]['seconds'] / r['seconds']:.2f}x wall")
            shutil.rmtree(folder, ignore_errors=True)
        if not args.skip_startup:
            if args.check_jsonschema:
                small: List[Dict] = []
                startup(args.startup_runs, args.check_jsonschema, small, installs)
                print_rows("small project start-up", small, against="check-jsonschema")
            else:
                print("\nstart-up not measured: pass --check-jsonschema PATH")
        if args.big_mb:
            big = os.path.join(base_dir, "big")
            info = build_dataset(big, args.big_mb, args.defect_every, rich=args.rich_text)
            print(f"\nbig dataset: {info['bytes'] / (1 << 20):.1f} MiB, {info['records']} records")
            big_rows: List[Dict] = []
            throughput(big, info, (max(workers),), big_rows, 1)
            print_rows(f"{args.big_mb:g} MB sharegpt JSONL", big_rows)
            shutil.rmtree(big, ignore_errors=True)
    finally:
        if not args.dir:
            shutil.rmtree(base_dir, ignore_errors=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
