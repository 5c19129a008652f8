"""Where `lfgate train`'s whole-process time goes: imports, the check, tokenisation, model build, the loop, saving,
the plot, and the interpreter's exit.

    python benchmarks/runner_phases.py [CONFIG] [key=value ...]      (default: examples/quickstart/train.yaml)

Runs `lfgate train` in a child process whose key functions are wrapped with timers, and times the child from
outside too, so the exit (the interpreter's teardown, skipped by `lfgate.cli.entry` after a run) is counted. For a
finer picture: `python -X importtime -m lfgate train ...` and `python -m cProfile -o prof -m lfgate train ...`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r'''
import functools, os, sys, time
T0 = float(os.environ["PHASES_T0"])
marks = []
def wrap(owner, name, label):
    original = getattr(owner, name)
    @functools.wraps(original)
    def timed(*a, **k):
        start = time.time()
        try:
            return original(*a, **k)
        finally:
            marks.append((label, start - T0, time.time() - start))
    setattr(owner, name, timed)
from lfgate.commands import train as command
from lfgate.validator import engine
from lfgate.runner import devices, recipe
wrap(engine.Checker, "run", "the check (lfgate check's rules)")
wrap(devices, "detect", "device detection")
wrap(command, "_missing_train_extra", "library check")
wrap(command, "_load_data", "reading the samples")
wrap(recipe, "load_tokenizer", "tokenizer")
wrap(recipe, "tokenize", "tokenisation")
wrap(recipe, "load_model", "model build + LoRA")
wrap(recipe, "make_trainer", "Trainer set-up")
wrap(recipe, "plot_loss", "loss plot")
import transformers
wrap(transformers.Trainer, "train", "training loop (Trainer.train)")
wrap(transformers.Trainer, "save_model", "save_model")
from lfgate.cli import main
marks.append(("interpreter start + imports (torch, transformers, peft, lfgate)", 0.0, time.time() - T0))
code = main(["train", *sys.argv[1:]])
for label, at, took in marks:
    print(f"PHASE {at:8.2f} {took:8.2f}  {label}", file=sys.stderr, flush=True)
print(f"PHASE {time.time() - T0:8.2f} {0:8.2f}  main() returned", file=sys.stderr, flush=True)
if "torch" in sys.modules:  # as lfgate.cli.entry ends a run
    os._exit(code)
'''


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or "=" in argv[0]:
        argv.insert(0, "examples/quickstart/train.yaml")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(HF_HUB_OFFLINE="1", TQDM_DISABLE="1", PYTHONPATH=ROOT, PHASES_T0=repr(time.time()))
    start = float(env["PHASES_T0"])
    proc = subprocess.run([sys.executable, "-c", CHILD, *argv, "output_dir=" + os.path.join(
        os.environ.get("TMPDIR", "/tmp"), "lfgate-phases"), "overwrite_output_dir=true"], cwd=ROOT, env=env,
        capture_output=True, text=True)
    end = time.time() - start
    phases = [line[6:] for line in proc.stderr.splitlines() if line.startswith("PHASE ")]
    if proc.returncode != 0 or not phases:
        print(proc.stderr[-3000:])
        return 1
    print(f"{'starts at s':>11} {'takes s':>8}  phase")
    for line in sorted(phases, key=lambda text: float(text.split()[0])):
        print(line)
    print(f"{end:11.2f} {0:8.2f}  process exit (seen from outside)")
    try:
        print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
