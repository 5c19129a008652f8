"""Both runners on the same config and data, with and without packing: one epoch each, in fresh processes.

Used by bench_packing.py (CPU) and cuda_check.py (GPU). Each run goes through peak_run.py, which reports the
peak memory; throughput is the data's non-padding tokens over the Trainer's train_runtime (one epoch trains every
token once, packed or not, so the numbers compare directly).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODES = {"no packing": [], "packing": ["packing=true"], "neat packing": ["neat_packing=true"]}


def environment(work: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "LOCAL_RANK", "RANK",
                                                              "WORLD_SIZE")}
    env.update(TQDM_DISABLE="1", DISABLE_VERSION_CHECK="1", HF_HUB_OFFLINE="1",
               HF_DATASETS_CACHE=os.path.join(work, "hf_datasets"), PYTHONPATH=ROOT)
    return env


def run(python: str, runner: str, argv: List[str], work: str, timeout: int = 1800) -> dict:
    command = [python, os.path.join(HERE, "peak_run.py"), runner, *argv]
    proc = subprocess.run(command, cwd=work, env=environment(work), capture_output=True, text=True, timeout=timeout)
    peak = next((json.loads(line[5:]) for line in reversed(proc.stderr.splitlines()) if line.startswith("PEAK ")),
                None)
    if peak is None:
        return {"error": f"exit {proc.returncode}", "tail": proc.stderr[-2500:]}
    return {"peak": peak, "stdout": proc.stdout, "exit": proc.returncode, "tail": proc.stderr[-2500:]}


def train(python: str, runner: str, config: str, work: str, out: str, extra: List[str]) -> dict:
    overrides = [f"output_dir={out}", "overwrite_output_dir=true", *extra]
    argv = ["train", config, *overrides] if runner == "lfgate" else [config, *overrides]
    result = run(python, runner, argv, work)
    if "error" in result or result["exit"] != 0:
        return {"error": result.get("error") or f"exit {result['exit']}", "tail": result["tail"]}
    with open(os.path.join(work, out, "train_results.json"), encoding="utf-8") as f:
        results = json.load(f)
    with open(os.path.join(work, out, "trainer_log.jsonl"), encoding="utf-8") as f:
        losses = [r["loss"] for r in map(json.loads, f) if "loss" in r]
    return {"peak": result["peak"], "train_runtime_s": results["train_runtime"],
            "samples_per_s": results["train_samples_per_second"], "train_loss": results["train_loss"],
            "final_loss": losses[-1] if losses else None}


def compare(config: str, work: str, pythons: Dict[str, Optional[str]], modes=MODES) -> List[dict]:
    """pythons: runner -> interpreter (None: skip). Rows: runner, mode, tokens/s, samples/s, peak, loss."""
    sys.path.insert(0, HERE)
    from runner_data import trained_tokens

    rows = []
    for mode, extra in modes.items():
        counts = trained_tokens_with(config, extra, trained_tokens)
        for runner, python in pythons.items():
            if not python:
                continue
            result = train(python, runner, config, work, f"out-{runner}-{mode.replace(' ', '-')}", extra)
            row = {"runner": runner, "mode": mode, **counts, **result}
            if "train_runtime_s" in result:  # the Trainer's samples/s counts packs: per sample here
                row["tokens_per_s"] = round(counts["tokens"] / result["train_runtime_s"], 1)
                row["sequences_per_s"] = row.pop("samples_per_s")
                row["samples_per_s"] = round(counts["samples"] / result["train_runtime_s"], 2)
                row["sequences"] = counts["features"]
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


def trained_tokens_with(config: str, extra: List[str], count) -> dict:
    """The token counts of config with the mode's overrides (written beside it)."""
    import yaml

    with open(config, encoding="utf-8") as f:
        values = yaml.safe_load(f)
    for item in extra:
        key, _, value = item.partition("=")
        values[key] = yaml.safe_load(value)
    variant = config + ".counted.yaml"
    with open(variant, "w", encoding="utf-8") as f:
        yaml.safe_dump(values, f)
    cwd = os.getcwd()
    os.chdir(os.path.dirname(os.path.abspath(config)))
    try:
        return count(variant)
    finally:
        os.chdir(cwd)


def _gib(n) -> str:
    return f"{n / 1024 ** 3:.2f}" if n else "-"


def format_row(row: dict) -> str:
    if "error" in row:
        return f"{row['runner']:<13}{row['mode']:<14} failed: {row['error']}\n{row.get('tail', '')}"
    peak = row["peak"]
    device = peak.get("reserved") is not None
    return (f"{row['runner']:<13}{row['mode']:<14}{row['sequences']:>7} seq {row['train_runtime_s']:>8.2f} s "
            f"{row['tokens_per_s']:>10.1f} tok/s {row['samples_per_s']:>8.1f} samples/s "
            + (f"peak {_gib(peak.get('allocated'))}/{_gib(peak.get('reserved'))} GiB alloc/reserved "
               if device else f"peak RSS {_gib(peak.get('rss'))} GiB ")
            + f"loss {row['train_loss']:.4f}")
