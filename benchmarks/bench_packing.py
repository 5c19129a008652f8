"""Packing's speed-up on CPU: samples/s and non-padding tokens/s with and without packing, both runners.

    python benchmarks/bench_packing.py [--samples 400] [--cutoff 512] [--lf-python ../lfvenv/bin/python]
                                       [--skip-llamafactory] [--out DIR]

A tiny Qwen2 model (scripts/make_tiny_model.py, hidden 128, 2 layers) and sharegpt data with a realistic length
spread (runner_data.py: log-normal, most samples short, a tail to cutoff_len), one epoch per run, batch 4, in
fresh processes. The same figures on a GPU come from cuda_check.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--cutoff", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lf-python", default=os.environ.get("LF_PYTHON", "../lfvenv/bin/python"))
    parser.add_argument("--skip-llamafactory", action="store_true")
    parser.add_argument("--out", help="work folder (default: a temporary one)")
    args = parser.parse_args(argv)

    from make_tiny_model import make
    from runner_compare import compare
    from runner_data import realistic_rows, vocabulary_text, write_dataset

    work = args.out or tempfile.mkdtemp(prefix="lfgate-packing-")
    model = os.path.join(work, "model")
    if not os.path.isdir(model):
        make(model, [vocabulary_text()] * 20, vocab_size=512, hidden=128, layers=2)
    write_dataset(work, realistic_rows(args.samples, median_words=25, longest_words=300))
    config = os.path.join(work, "train.yaml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"model_name_or_path: model\nstage: sft\ndo_train: true\nfinetuning_type: lora\nlora_rank: 8\n"
                f"lora_target: all\ndataset: synth\ndataset_dir: data\ntemplate: qwen\ncutoff_len: {args.cutoff}\n"
                f"per_device_train_batch_size: {args.batch}\nnum_train_epochs: 1\nlearning_rate: 1.0e-3\n"
                "logging_steps: 5\nsave_strategy: 'no'\nreport_to: none\nseed: 42\n")
    lf = None if args.skip_llamafactory or not os.path.exists(args.lf_python) else args.lf_python
    rows = compare(config, work, {"lfgate": sys.executable, "llamafactory": lf})
    print(json.dumps([{k: v for k, v in r.items() if k != "tail"} for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
