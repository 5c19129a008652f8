"""One prepared GPU check: both runners, with and without packing, a rehearsal and the estimate, no network.

    python benchmarks/cuda_check.py [--samples 2000] [--lf-python PYTHON] [--skip-llamafactory] [--out DIR]
    python benchmarks/cuda_check.py --cpu-smoke          # the same script on CPU with a tiny model (tests it)

Builds a Qwen2-architecture model locally (hidden 768, 12 layers, 32k vocabulary, ~105M parameters, random
weights) and sharegpt data with a realistic length spread (runner_data.py), then, each in a fresh process:

1. `lfgate train --dry-run`: the static memory estimate;
2. `lfgate train --rehearse`: the costliest batch for two steps, its measured peak;
3. one epoch with the built-in runner and with LLaMA-Factory (`--lf-python`, else this Python when it has
   llamafactory, else skipped), each without packing, with packing and with neat packing: non-padding tokens/s,
   samples/s, peak allocated/reserved memory, loss.

bf16, LoRA rank 16 on all linear layers, batch 8, cutoff_len 1024, gradient checkpointing on (LLaMA-Factory's
default). Prints a table and one JSON object, also written to $OUT/cuda_check.json when OUT is set. Meant to take
4-6 minutes on one recent GPU (give it a 10-minute limit, leaving time to rerun).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, ROOT)


def _json_of(result: dict) -> dict:
    text = result.get("stdout", "")
    if "error" in result or "{" not in text:
        return {"error": result.get("error") or f"exit {result.get('exit')}", "tail": result.get("tail")}
    return {**json.loads(text[text.index("{"):]), "peak": result["peak"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--cutoff", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lf-python", default=None)
    parser.add_argument("--skip-llamafactory", action="store_true")
    parser.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--cpu-smoke", action="store_true", help="run on CPU with a tiny model (tests this script)")
    args = parser.parse_args(argv)

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.cpu_smoke:
        print(json.dumps({"error": "no CUDA device"}))
        return 1
    if args.cpu_smoke:
        args.samples, args.hidden, args.layers, args.cutoff, args.batch = min(args.samples, 120), 64, 2, 256, 4
    from make_tiny_model import make
    from runner_compare import compare, run
    from runner_data import realistic_rows, vocabulary_text, write_dataset

    started = time.time()
    work = args.out or tempfile.mkdtemp(prefix="lfgate-cuda-")
    model = os.path.join(work, "model")
    if not os.path.isdir(model):
        make(model, [vocabulary_text()] * 50, vocab_size=2048, hidden=args.hidden, layers=args.layers,
             model_vocab=None if args.cpu_smoke else 32000)
    write_dataset(work, realistic_rows(args.samples, median_words=60 if not args.cpu_smoke else 20,
                                       longest_words=900 if not args.cpu_smoke else 200))
    config = os.path.join(work, "train.yaml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"model_name_or_path: model\nstage: sft\ndo_train: true\nfinetuning_type: lora\nlora_rank: 16\n"
                f"lora_target: all\ndataset: synth\ndataset_dir: data\ntemplate: qwen\ncutoff_len: {args.cutoff}\n"
                f"per_device_train_batch_size: {args.batch}\ngradient_accumulation_steps: 1\nlearning_rate: 2.0e-4\n"
                f"num_train_epochs: 1\nlogging_steps: 10\nsave_strategy: 'no'\nwarmup_steps: 5\nreport_to: none\n"
                f"seed: 42\n" + ("bf16: true\n" if cuda else ""))
    build_s = time.time() - started

    plan = _json_of(run(sys.executable, "lfgate", ["train", "--format", "json", config, "--dry-run"], work))
    rehearsal = _json_of(run(sys.executable, "lfgate", ["train", "--format", "json", config, "--rehearse"], work))
    lf = args.lf_python
    if lf is None and importlib.util.find_spec("llamafactory") is not None:
        lf = sys.executable
    if args.skip_llamafactory:
        lf = None
    rows = compare(config, work, {"lfgate": sys.executable, "llamafactory": lf})

    real = next((r for r in rows if r["runner"] == "lfgate" and r["mode"] == "no packing" and "peak" in r), None)
    attempt = (rehearsal.get("rehearsal") or {}).get("attempts", [{}])[0]
    summary = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "torch": torch.__version__,
        "versions": {name: _version(name) for name in ("transformers", "peft", "accelerate", "llamafactory")},
        "llamafactory_python": lf,
        "estimate_gib": (plan.get("plan") or {}).get("memory_gib"),
        "params": (plan.get("plan") or {}).get("lora"),
        "rehearsal": {"peak": attempt.get("peak"), "step_s": attempt.get("step_s"),
                      "losses": attempt.get("losses"), "ok": (rehearsal.get("rehearsal") or {}).get("ok"),
                      "wall_s_at_most": (rehearsal.get("rehearsal") or {}).get("wall_s_at_most"),
                      "wall_s_typical": (rehearsal.get("rehearsal") or {}).get("wall_s_typical"),
                      "error": rehearsal.get("error")},
        "real_run_peak": real["peak"] if real else None,
        "real_run_s": real["train_runtime_s"] if real else None,
        "runs": [{k: v for k, v in r.items() if k not in ("tail",)} for r in rows],
        "failures": [{"runner": r["runner"], "mode": r["mode"], "tail": r["tail"]} for r in rows if "error" in r],
        "model_build_s": round(build_s, 1),
        "total_s": round(time.time() - started, 1),
    }
    if real and attempt.get("peak") and cuda:
        summary["rehearsal_vs_real_reserved"] = round(attempt["peak"]["reserved"] / real["peak"]["reserved"], 3)
        summary["estimate_vs_real_reserved"] = round(
            summary["estimate_gib"]["total"] * 1024 ** 3 / real["peak"]["reserved"], 3) if summary["estimate_gib"] \
            else None
    text = json.dumps(summary, indent=2)
    print(text)
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "cuda_check.json"), "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0 if not summary["failures"] and summary["rehearsal"]["ok"] else 1


def _version(name: str):
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
