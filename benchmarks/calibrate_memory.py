"""The `--dry-run` memory estimate against what `--rehearse` measures, on this machine's device.

    python benchmarks/calibrate_memory.py [--grid small|full] [--out DIR]

Builds Qwen2-architecture models locally (scripts/make_tiny_model.py: random weights, no network) and a
synthetic sharegpt dataset whose longest samples reach cutoff_len, then for each setting runs, in fresh processes,
`lfgate train --dry-run` (the static estimate, plan.memory_gib) and `lfgate train --rehearse` (the measured peak).
On CUDA/Ascend the measure is the allocator's peak reserved memory; on CPU it is the growth of the resident set
from before the model was loaded to the peak of the step (the interpreter and libraries are not the run's
estimate). Prints one row per setting and the error of the estimate; `--json` for the raw figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

GRIDS = {
    # (hidden, layers, model vocab, batch, cutoff_len, gradient checkpointing)
    "small": [(256, 4, 8192, 4, 512, False), (256, 4, 8192, 4, 512, True), (512, 4, 16384, 8, 256, False)],
    "full": [(256, 4, 8192, 4, 512, False), (256, 4, 8192, 4, 512, True), (512, 4, 16384, 8, 256, False),
             (512, 4, 16384, 8, 256, True), (768, 6, 32000, 4, 512, False), (768, 6, 32000, 4, 512, True),
             (384, 8, 8192, 16, 256, False)],
}


def dataset(n, words_max, seed=0):
    rng = random.Random(seed)
    words = "alpha beta gamma delta river cloud stone green music paper light tiger bread chair ocean".split()
    return [{"conversations": [{"from": "human", "value": " ".join(rng.choice(words) for _ in range(
        rng.randint(words_max // 4, words_max)))}, {"from": "gpt", "value": " ".join(rng.choice(words) for _ in
                                                                                     range(20))}]} for _ in range(n)]


def lfgate(work, config, *argv):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-m", "lfgate", "train", "--format", "json", config, *argv], cwd=work,
                          env=env, capture_output=True, text=True)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise SystemExit(f"lfgate {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="small")
    parser.add_argument("--out", help="work folder (default: a temporary one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from make_tiny_model import make

    work = args.out or tempfile.mkdtemp(prefix="lfgate-calibrate-")
    rows = []
    for hidden, layers, vocab, batch, cutoff, checkpointing in GRIDS[args.grid]:
        name = f"h{hidden}-l{layers}-v{vocab}"
        model = os.path.join(work, name)
        if not os.path.isdir(model):
            make(model, [" ".join(x["conversations"][0]["value"] for x in dataset(50, 40))], vocab_size=1024,
                 hidden=hidden, layers=layers, model_vocab=vocab)
        os.makedirs(os.path.join(work, "data"), exist_ok=True)
        with open(os.path.join(work, "data", "synth.json"), "w") as f:
            json.dump(dataset(64, cutoff), f)
        with open(os.path.join(work, "data", "dataset_info.json"), "w") as f:
            json.dump({"synth": {"file_name": "synth.json", "formatting": "sharegpt"}}, f)
        config = os.path.join(work, "train.yaml")
        with open(config, "w") as f:
            f.write(f"model_name_or_path: {model}\nstage: sft\ndo_train: true\nfinetuning_type: lora\nlora_rank: 8\n"
                    f"lora_target: all\ndataset: synth\ndataset_dir: data\ntemplate: qwen\ncutoff_len: {cutoff}\n"
                    f"output_dir: out\nper_device_train_batch_size: {batch}\nmax_steps: 10\nreport_to: none\n"
                    f"disable_gradient_checkpointing: {str(not checkpointing).lower()}\n")
        estimate = lfgate(work, config, "--dry-run")["plan"]["memory_gib"]
        rehearsal = lfgate(work, config, "--rehearse")["rehearsal"]
        first = rehearsal["attempts"][0]
        measured = rehearsal.get("training_bytes") if "rss" in first["peak"] else first["peak"]["reserved"]
        row = {"model": name, "batch": batch, "cutoff_len": cutoff, "longest": first["longest"],
               "checkpointing": checkpointing, "device": rehearsal["device"]["name"],
               "estimate_gib": estimate["total"], "measured_gib": round(measured / 1024 ** 3, 4),
               "error_pct": round(100 * (estimate["total"] * 1024 ** 3 - measured) / measured, 1)}
        rows.append(row)
        print(f"{name:<18} batch {batch:>2} x {first['longest']:>4} ckpt {'on ' if checkpointing else 'off'} "
              f"estimate {estimate['total']:.3f} GiB  measured {row['measured_gib']:.3f} GiB  "
              f"error {row['error_pct']:+.1f}%", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
