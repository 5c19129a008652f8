"""Run one training in this process and print its peak device memory, for the benchmarks.

    python benchmarks/peak_run.py lfgate train CONFIG [key=value ...] [--rehearse ...]
    LF_PYTHON benchmarks/peak_run.py llamafactory CONFIG [key=value ...]

The last stderr line is `PEAK {"allocated": ..., "reserved": ..., "rss": ..., "wall_s": ..., "exit": ...}` (bytes):
CUDA's allocator peaks when a GPU is there, the process's peak resident memory always.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def _llamafactory(argv) -> int:
    import yaml
    from llamafactory.train.tuner import run_exp

    config, overrides = argv[0], argv[1:]
    with open(config, encoding="utf-8") as f:
        args = yaml.safe_load(f)
    for item in overrides:
        key, _, value = item.partition("=")
        args[key] = yaml.safe_load(value)
    run_exp(args)
    return 0


def main() -> int:
    runner, argv = sys.argv[1], sys.argv[2:]
    start = time.time()
    if runner == "lfgate":
        from lfgate.cli import main as lfgate

        code = lfgate(argv)
    elif runner == "llamafactory":
        code = _llamafactory(argv)
    else:
        raise SystemExit(f"unknown runner {runner!r}: lfgate or llamafactory")
    peak = {"exit": code, "wall_s": round(time.time() - start, 2),
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    try:
        import torch

        if torch.cuda.is_available():
            peak.update(allocated=torch.cuda.max_memory_allocated(), reserved=torch.cuda.max_memory_reserved(),
                        device=torch.cuda.get_device_name(0))
    except ImportError:
        pass
    sys.stdout.flush()
    print("PEAK " + json.dumps(peak), file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
