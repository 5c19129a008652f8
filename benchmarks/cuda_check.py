"""One-shot CUDA check of the built-in runner: bf16 LoRA SFT of a ~100M-parameter Qwen2 model, no network.

    python benchmarks/cuda_check.py [--steps 60] [--out DIR]

Builds a Qwen2-architecture model locally (hidden 768, 12 layers, 32k vocabulary, random weights) and a
synthetic sharegpt dataset, runs `lfgate train` on it (bf16, batch 8, cutoff_len 512, lora_target all), and
prints throughput, loss and peak memory as one JSON object (also written to $OUT/cuda_check.json when OUT is set).
Meant to finish in well under 5 minutes on one recent GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def dataset(n: int, seed: int = 0):
    rng = random.Random(seed)
    words = ("alpha beta gamma delta epsilon river cloud stone green music paper light tiger bread chair ocean "
             "one two three four five six seven eight nine ten plus minus is the of and to a").split()
    rows = []
    for _ in range(n):
        turns = []
        for _ in range(rng.randint(1, 3)):
            question = " ".join(rng.choice(words) for _ in range(rng.randint(8, 60)))
            answer = " ".join(sorted(question.split()))  # a learnable mapping: sort the words
            turns += [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]
        rows.append({"conversations": turns})
    return rows, words


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--cpu-smoke", action="store_true", help="run on CPU (to test this script, not the GPU)")
    args = parser.parse_args(argv)

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.cpu_smoke:
        print(json.dumps({"error": "no CUDA device"}))
        return 1
    from make_tiny_model import make

    work = args.out or tempfile.mkdtemp(prefix="lfgate-cuda-")
    rows, words = dataset(1024)
    os.makedirs(os.path.join(work, "data"), exist_ok=True)
    with open(os.path.join(work, "data", "synth.json"), "w") as f:
        json.dump(rows, f)
    with open(os.path.join(work, "data", "dataset_info.json"), "w") as f:
        json.dump({"synth": {"file_name": "synth.json", "formatting": "sharegpt"}}, f)
    t0 = time.time()
    model_dir = make(os.path.join(work, "model"), [" ".join(words)] * 50, vocab_size=2048, hidden=args.hidden,
                     layers=args.layers, model_vocab=32000)
    build_s = time.time() - t0
    config = os.path.join(work, "train.yaml")
    with open(config, "w") as f:
        f.write(f"model_name_or_path: {model_dir}\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
                f"lora_rank: 16\nlora_target: all\ndataset: synth\ndataset_dir: {work}/data\ntemplate: qwen\n"
                f"cutoff_len: 512\noutput_dir: {work}/out\noverwrite_output_dir: true\n"
                f"per_device_train_batch_size: 8\ngradient_accumulation_steps: 1\nlearning_rate: 2.0e-4\n"
                f"max_steps: {args.steps}\nlogging_steps: 10\nsave_steps: 1000\nbf16: true\nwarmup_steps: 5\n"
                f"report_to: none\nseed: 42\n")

    from lfgate.cli import main as lfgate

    plan_start = time.time()
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = lfgate(["train", "--format", "json", config, "--dry-run"])
    plan = json.loads(buf.getvalue()).get("plan", {}) if code == 0 else {}
    plan_s = time.time() - plan_start

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.time()
    code = lfgate(["train", config])
    wall = time.time() - start
    if code != 0:
        print(json.dumps({"error": f"lfgate train exited {code}"}))
        return code
    with open(os.path.join(work, "out", "train_results.json")) as f:
        results = json.load(f)
    with open(os.path.join(work, "out", "trainer_log.jsonl")) as f:
        losses = [r["loss"] for r in map(json.loads, f) if "loss" in r]
    summary = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "torch": torch.__version__,
        "bf16_supported": torch.cuda.is_bf16_supported() if cuda else False,
        "dtype": plan.get("device", {}).get("dtype"),
        "params_total": plan.get("lora", {}).get("total"),
        "params_trainable": plan.get("lora", {}).get("trainable"),
        "memory_estimate_gib": plan.get("memory_gib", {}).get("total"),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 1024 ** 3, 3) if cuda else None,
        "steps": args.steps,
        "train_runtime_s": results.get("train_runtime"),
        "samples_per_s": results.get("train_samples_per_second"),
        "tokens_per_step_mean": plan.get("tokens", {}).get("mean", 0) * 8,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "train_loss": results.get("train_loss"),
        "wall_s": round(wall, 1),
        "model_build_s": round(build_s, 1),
        "dry_run_s": round(plan_s, 1),
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "cuda_check.json"), "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
