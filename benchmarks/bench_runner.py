"""The same tiny LoRA SFT config through `lfgate train` and `llamafactory-cli train`, side by side.

    python benchmarks/bench_runner.py [--config examples/quickstart/train.yaml] [--lf-python /work/lfvenv/bin/python]
                                      [--repeat 1] [key=value ...]

Each run is a fresh process with its own output_dir (under a temporary folder), in the same environment
(same OMP/MKL thread settings). Prints wall time (process start to exit), the Trainer's own train_runtime,
samples per second and the final loss of each, and the loss difference. Skips llamafactory-cli when it is not
installed. Run from the repository root: the config's relative paths resolve against it, as in LLaMA-Factory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="examples/quickstart/train.yaml")
    parser.add_argument("--lf-python", default=os.environ.get("LF_PYTHON", "/work/lfvenv/bin/python"),
                        help="a Python with llamafactory installed (default /work/lfvenv/bin/python)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("overrides", nargs="*", help="key=value for both")
    args = parser.parse_args(argv)

    lf_cli = os.path.join(os.path.dirname(args.lf_python), "llamafactory-cli")
    work = tempfile.mkdtemp(prefix="lfgate-bench-")
    env = dict(os.environ, TQDM_DISABLE="1", DISABLE_VERSION_CHECK="1", HF_HUB_OFFLINE="1",
               HF_DATASETS_CACHE=os.path.join(work, "hf_datasets"))
    rows = {"lfgate": [], "llamafactory": []}
    try:
        for i in range(args.repeat):
            for name in ("llamafactory", "lfgate"):
                out = os.path.join(work, f"{name}-{i}")
                extra = [f"output_dir={out}", "overwrite_output_dir=true", *args.overrides]
                if name == "lfgate":
                    command = [sys.executable, "-m", "lfgate", "train", args.config, *extra]
                elif os.path.exists(lf_cli):
                    command = [lf_cli, "train", args.config, *extra]
                else:
                    continue
                rows[name].append(run_one(command, out, env))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'backend':<14}{'wall s':>9}{'train s':>9}{'samples/s':>11}{'train_loss':>12}{'final_loss':>12}")
    for name, results in rows.items():
        for r in results:
            if "error" in r:
                print(f"{name:<14} failed: {r['error']}\n{r['tail']}")
                continue
            print(f"{name:<14}{r['wall_s']:>9.2f}{r['train_runtime_s']:>9.2f}{r['samples_per_s']:>11.1f}"
                  f"{r['train_loss']:>12.4f}{r['final_loss']:>12.4f}")
    ok = [r for r in rows["lfgate"] if "error" not in r], [r for r in rows["llamafactory"] if "error" not in r]
    if ok[0] and ok[1]:
        ours, theirs = ok[0][-1], ok[1][-1]
        print(f"loss difference: {100 * (ours['train_loss'] - theirs['train_loss']) / theirs['train_loss']:+.2f}%  "
              f"wall time ratio lfgate/llamafactory: {ours['wall_s'] / theirs['wall_s']:.2f}")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
