"""The same tiny LoRA SFT config through `lfgate train` and `llamafactory-cli train`, interleaved.

    python benchmarks/bench_runner.py [--config examples/quickstart/train.yaml] [--lf-python ../lfvenv/bin/python]
                                      [--repeat 5] [key=value ...]

Each run is a fresh process with its own output_dir (under a temporary folder), in the same environment (same
OMP/MKL settings; Python's bytecode cache on for both, as installed packages have it: this box sets
PYTHONDONTWRITEBYTECODE, which alone recompiles lfgate's modules at every start). Rounds alternate the two
runners; each round's ratio is lfgate's wall time over LLaMA-Factory's in that round, and the summary gives the
median of the rounds' ratios, the load average before and after, and the final losses. Skips llamafactory-cli when
it is not installed. Run from the repository root: the config's relative paths resolve against it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_one(command, out_dir, env):
    start = time.time()
    proc = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.time() - start
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}", "tail": proc.stdout[-2000:]}
    with open(os.path.join(out_dir, "train_results.json")) as f:
        results = json.load(f)
    with open(os.path.join(out_dir, "trainer_log.jsonl")) as f:
        losses = [r["loss"] for r in map(json.loads, f) if "loss" in r]
    return {"wall_s": round(wall, 2), "train_runtime_s": results["train_runtime"],
            "samples_per_s": results["train_samples_per_second"], "train_loss": results["train_loss"],
            "final_loss": losses[-1] if losses else None}


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="examples/quickstart/train.yaml")
    parser.add_argument("--lf-python", default=os.environ.get("LF_PYTHON", "../lfvenv/bin/python"),
                        help="a Python with llamafactory installed (default ../lfvenv/bin/python)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for both runners, e.g. OMP_WAIT_POLICY=PASSIVE")
    parser.add_argument("overrides", nargs="*", help="key=value for both")
    args = parser.parse_args(argv)

    lf_cli = os.path.join(os.path.dirname(args.lf_python), "llamafactory-cli")
    work = tempfile.mkdtemp(prefix="lfgate-bench-")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(TQDM_DISABLE="1", DISABLE_VERSION_CHECK="1", HF_HUB_OFFLINE="1",
               HF_DATASETS_CACHE=os.path.join(work, "hf_datasets"))
    env.update(item.split("=", 1) for item in args.env)
    rows = {"lfgate": [], "llamafactory": []}
    loads = [load()]
    try:
        for i in range(args.repeat):
            for name in ("llamafactory", "lfgate") if i % 2 == 0 else ("lfgate", "llamafactory"):
                out = os.path.join(work, f"{name}-{i}")
                extra = [f"output_dir={out}", "overwrite_output_dir=true", *args.overrides]
                if name == "lfgate":
                    command = [sys.executable, "-m", "lfgate", "train", args.config, *extra]
                elif os.path.exists(lf_cli):
                    command = [lf_cli, "train", args.config, *extra]
                else:
                    continue
                rows[name].append(run_one(command, out, env))
            loads.append(load())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'round':<7}{'backend':<14}{'wall s':>9}{'train s':>9}{'samples/s':>11}{'train_loss':>12}"
          f"{'final_loss':>12}")
    ratios = []
    for i in range(args.repeat):
        pair = {}
        for name in rows:
            if i >= len(rows[name]):
                continue
            r = rows[name][i]
            if "error" in r:
                print(f"{i:<7}{name:<14} failed: {r['error']}\n{r['tail']}")
                continue
            pair[name] = r
            print(f"{i:<7}{name:<14}{r['wall_s']:>9.2f}{r['train_runtime_s']:>9.2f}{r['samples_per_s']:>11.1f}"
                  f"{r['train_loss']:>12.4f}{r['final_loss']:>12.4f}")
        if len(pair) == 2:
            ratios.append(pair["lfgate"]["wall_s"] / pair["llamafactory"]["wall_s"])
    print(f"load average (1, 5, 15 min) before and after each round: {' | '.join(loads)}")
    ours = [r for r in rows["lfgate"] if "error" not in r]
    theirs = [r for r in rows["llamafactory"] if "error" not in r]
    if ratios and ours and theirs:
        diff = 100 * (ours[-1]["final_loss"] - theirs[-1]["final_loss"]) / theirs[-1]["final_loss"]
        print(f"wall time ratio lfgate/llamafactory per round: {', '.join(f'{x:.2f}' for x in ratios)}; "
              f"median {statistics.median(ratios):.2f}")
        print(f"median wall s: lfgate {statistics.median(r['wall_s'] for r in ours):.2f}, llamafactory "
              f"{statistics.median(r['wall_s'] for r in theirs):.2f}; final loss difference {diff:+.2f}%")
    print(json.dumps({"rows": rows, "ratios": ratios, "load": loads}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
