"""`lfgate train --rehearse`: the costliest batch, trained for real on the run's device, before the long run.

The batch: the longest samples as the template encodes them (the fullest packs with packing), at
per_device_train_batch_size. The step: the real model, dtype, LoRA targets and gradient checkpointing, through the
same Trainer the run uses, twice (the first step creates the optimizer's state, the second runs with it, as every
later step does); the time is the second step's. Nothing is saved: the Trainer writes into a temporary folder that
is removed. When the step does not fit, the batch is halved (gradient accumulation doubled, so the run trains the
same), then gradient checkpointing is turned on, then cutoff_len is halved: a few measured steps, not a guess.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from lfgate.runner import memory
from lfgate.runner.config import RunConfig
from lfgate.runner.devices import Machine, Precision

MAX_EXTRA_ATTEMPTS = 4
MIN_CUTOFF = 64


@dataclass
class Attempt:
    batch: int
    cutoff_len: int
    checkpointing: bool
    peak: Dict[str, int] = field(default_factory=dict)
    losses: List[float] = field(default_factory=list)
    grad_norms: List[float] = field(default_factory=list)
    step_s: float = 0.0
    tokens: int = 0  # tokens in the batch, padding excluded
    longest: int = 0  # the longest feature's length (a pack's is cutoff_len)
    trained: int = 0  # of them, tokens with a label
    error: Optional[str] = None
    out_of_memory: bool = False
    fits: bool = False

    @property
    def finite(self) -> bool:
        return bool(self.losses) and all(math.isfinite(x) for x in self.losses + self.grad_norms)

    def settings(self, config: RunConfig) -> Dict[str, object]:
        accumulation = int(config.get("gradient_accumulation_steps", 1))
        batch = int(config.get("per_device_train_batch_size", 8))
        out: Dict[str, object] = {}
        if self.batch != batch:
            out["per_device_train_batch_size"] = self.batch
            out["gradient_accumulation_steps"] = accumulation * batch // self.batch
        if self.checkpointing != config.gradient_checkpointing:
            out["disable_gradient_checkpointing"] = not self.checkpointing
        if self.cutoff_len != int(config.get("cutoff_len", 2048)):
            out["cutoff_len"] = self.cutoff_len
        return out


def worst_batch(features: List[dict], size: int) -> List[dict]:
    """The `size` features that cost the most: the longest (packs are all cutoff_len long: the fullest)."""
    def cost(f):
        real = sum(1 for x in f["attention_mask"] if x) if "position_ids" in f else len(f["input_ids"])
        return len(f["input_ids"]), real

    return sorted(features, key=cost, reverse=True)[:size]


def _with(config: RunConfig, **values) -> RunConfig:
    return RunConfig(config.path, {**config.values, **values}, config.positions, config.base_dir)


def _step_callback(attempt: Attempt):
    from transformers import TrainerCallback

    class Measure(TrainerCallback):
        started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            attempt.step_s = time.perf_counter() - self.started  # the last step's (with the optimizer's state)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                attempt.losses.append(float(logs["loss"]))
                if logs.get("grad_norm") is not None:
                    attempt.grad_norms.append(float(logs["grad_norm"]))

    return Measure()


def run_attempt(config: RunConfig, machine: Machine, precision: Precision, data, model, attempt: Attempt,
                limit_bytes: Optional[int]) -> None:
    """Two optimizer steps on the worst batch; fills attempt."""
    import torch

    from lfgate.runner.recipe import RunData, make_trainer, training_arguments

    batch = worst_batch(data.train_set, attempt.batch)
    attempt.longest = max(len(f["input_ids"]) for f in batch)
    attempt.tokens = sum(sum(1 for x in f["attention_mask"] if x) for f in batch)
    attempt.trained = sum(sum(1 for x in f["labels"] if x != -100) for f in batch)
    scratch = tempfile.mkdtemp(prefix="lfgate-rehearse-")
    values = dict(output_dir=scratch, overwrite_output_dir=True, max_steps=2, per_device_train_batch_size=attempt.batch,
                  gradient_accumulation_steps=1, save_strategy="no", logging_steps=1, logging_first_step=True,
                  report_to="none", load_best_model_at_end=False, warmup_steps=0, warmup_ratio=0.0)
    args = training_arguments(_with(config, **values), precision, has_eval=False, machine_kind=machine.kind)
    meter = memory.PeakMemory(machine.kind)
    rehearsal = RunData(data.tokenizer, data.train_samples, [], batch, None)
    trainer = make_trainer(config, model, args, rehearsal, precision, callbacks=[_step_callback(attempt)])
    meter.start()
    try:
        trainer.train()
    except Exception as err:  # the report says what failed; out of memory leads to smaller settings
        first = (str(err).strip().splitlines() or [""])[0][:300]
        attempt.out_of_memory = isinstance(err, torch.OutOfMemoryError) or "out of memory" in first.lower()
        attempt.error = f"{'out of memory' if attempt.out_of_memory else type(err).__name__}: {first}"
    finally:
        meter.stop()
        attempt.peak = meter.peak()
        del trainer
        model.zero_grad(set_to_none=True)
        shutil.rmtree(scratch, ignore_errors=True)
    attempt.fits = attempt.error is None and memory.fits(attempt.peak, limit_bytes)


def next_attempt(config: RunConfig, last: Attempt) -> Optional[Attempt]:
    """Halve the batch, then turn checkpointing on, then halve cutoff_len; None when nothing is left."""
    if last.batch > 1:
        return Attempt(last.batch // 2, last.cutoff_len, last.checkpointing)
    if not last.checkpointing:
        return Attempt(last.batch, last.cutoff_len, True)
    if last.cutoff_len // 2 >= MIN_CUTOFF:
        return Attempt(last.batch, last.cutoff_len // 2, last.checkpointing)
    return None


def rehearse(config: RunConfig, machine: Machine, precision: Precision, dataset_dir: Optional[str] = None,
             samples=None, limit_gib: Optional[float] = None, world_size: int = 1) -> dict:
    """The rehearsal report (a dict; render_text prints it). report["ok"]: it fits, every figure is finite."""
    import gc

    import transformers

    from lfgate.runner import plan as plan_mod
    from lfgate.runner.recipe import load_model, prepare_data, quiet_transformers, set_cpu_threads
    from lfgate.runner.runlog import RunLog

    log = RunLog()  # prints, never writes a file: a rehearsal saves nothing
    quiet_transformers()
    set_cpu_threads(config, machine, log)  # as the run will train
    limit = int(limit_gib * memory.GIB) if limit_gib else None
    first = Attempt(int(config.get("per_device_train_batch_size", 8)), int(config.get("cutoff_len", 2048)),
                    config.gradient_checkpointing)
    attempts: List[Attempt] = []
    attempt: Optional[Attempt] = first
    data, model, model_checkpointing = None, None, None
    rss_before_model = memory.rss_bytes()
    while attempt is not None and len(attempts) <= MAX_EXTRA_ATTEMPTS:
        current = _with(config, cutoff_len=attempt.cutoff_len)
        transformers.set_seed(int(config.get("seed", 42)))
        if data is None or attempt.cutoff_len != attempts[-1].cutoff_len:
            data = prepare_data(current, log if data is None else RunLog(stream=_Null()), dataset_dir, samples)
        if model is None or model_checkpointing != attempt.checkpointing:
            model = None
            gc.collect()
            if not attempts:
                rss_before_model = memory.rss_bytes()
            model = load_model(current, precision, data.tokenizer, checkpointing=attempt.checkpointing)
            model_checkpointing = attempt.checkpointing
        run_attempt(current, machine, precision, data, model, attempt, limit)
        attempts.append(attempt)
        if attempt.fits or not (attempt.out_of_memory or attempt.error is None and attempt.finite):
            break  # it fits; or it failed or gave NaN, which smaller settings would not mend
        attempt = next_attempt(config, attempt)
    assert data is not None
    steps = plan_mod.steps(len(data.train_set), config, world_size)
    return _report(config, machine, precision, attempts, steps, data, limit, rss_before_model)


class _Null:
    def write(self, text):
        return len(text)

    def flush(self):
        pass


def _report(config, machine, precision, attempts, steps, data, limit, rss_before_model) -> dict:
    first, last = attempts[0], attempts[-1]
    accumulation = int(config.get("gradient_accumulation_steps", 1))
    mean_tokens = sum(sum(1 for x in f["attention_mask"] if x) for f in data.train_set) / max(len(data.train_set), 1)
    worst_tokens = first.tokens / max(first.batch, 1)
    report: Dict[str, object] = {
        "device": {"kind": machine.kind, "name": (machine.names or [machine.kind])[0], "dtype": precision.dtype},
        "attempts": [_attempt_dict(a) for a in attempts],
        "limit_bytes": limit,
        "ok": first.fits and first.finite,
        "fits": first.fits,
        "finite": first.finite if first.error is None else None,
    }
    if machine.kind == "cpu" and first.peak:
        report["training_bytes"] = max(first.peak.get("rss", 0) - rss_before_model, 0)
    if "total" in steps and first.error is None and first.step_s:
        per_step = first.step_s * accumulation
        report["steps"] = steps["total"]
        report["wall_s_at_most"] = round(per_step * steps["total"], 1)
        report["wall_s_typical"] = round(per_step * steps["total"] * min(mean_tokens / max(worst_tokens, 1), 1), 1)
    if not first.fits and last.fits:
        report["suggest"] = last.settings(config)
    return report


def _attempt_dict(a: Attempt) -> dict:
    return {"batch": a.batch, "cutoff_len": a.cutoff_len, "gradient_checkpointing": a.checkpointing,
            "peak": a.peak, "needed_bytes": memory.needed(a.peak), "losses": a.losses, "grad_norms": a.grad_norms,
            "step_s": round(a.step_s, 4), "tokens": a.tokens, "longest": a.longest, "trained_tokens": a.trained,
            "error": a.error, "out_of_memory": a.out_of_memory, "fits": a.fits}


def _size(n: Optional[int]) -> str:
    n = n or 0
    return f"{n / memory.GIB:.2f} GiB" if n >= memory.GIB else f"{n / 2 ** 20:.0f} MiB"


def _hms(seconds: float) -> str:
    from datetime import timedelta

    return str(timedelta(seconds=int(seconds)))


def render_text(report: dict) -> str:
    d = report["device"]
    first = report["attempts"][0]
    lines = [f"rehearsal (the costliest batch, 2 optimizer steps on {d['name']}, {d['dtype']}; nothing saved):"]
    lines.append(f"  batch      {first['batch']} x up to {first['longest']} tokens: {first['tokens']:,} tokens, "
                 f"{first['trained_tokens']:,} with labels"
                 + (", gradient checkpointing" if first["gradient_checkpointing"] else ""))
    lines.append("  memory     " + _memory_line(first, report))
    if first["error"]:
        lines.append(f"  step       failed: {first['error']}")
    else:
        losses = ", ".join(f"{x:.4g}" for x in first["losses"])
        norms = ", ".join(f"{x:.4g}" for x in first["grad_norms"])
        lines.append(f"  loss       {losses} (grad_norm {norms})" + ("" if report["finite"] else
                                                                   "  NOT FINITE: the run would learn nothing"))
        lines.append(f"  speed      {first['step_s']:.3f} s per batch")
    if "wall_s_at_most" in report:
        lines.append(f"  run        {report['steps']} optimizer steps: at most {_hms(report['wall_s_at_most'])} "
                     f"(every batch as costly as this one), about {_hms(report['wall_s_typical'])} by the mean length")
    for extra in report["attempts"][1:]:
        lines.append(f"  tried      batch {extra['batch']}, cutoff_len {extra['cutoff_len']}, gradient checkpointing "
                     f"{'on' if extra['gradient_checkpointing'] else 'off'}: "
                     + (f"failed ({extra['error']})" if extra["error"] else
                        f"needs {_size(extra['needed_bytes'])}, {'fits' if extra['fits'] else 'does not fit'}"))
    if report.get("suggest"):
        lines.append("  fits with  " + ", ".join(f"{k}: {v}" for k, v in report["suggest"].items()))
    elif not report["fits"] and (first["error"] is None or first["out_of_memory"]):
        lines.append(f"  no setting of the {len(report['attempts'])} measured fits: use a device with more memory, "
                     "more devices with DeepSpeed ZeRO-3 (--backend llamafactory), or a smaller model")
    verdict = "ok" if report["ok"] else ("does not fit" if not report["fits"] and not first["error"] or
                                         first["out_of_memory"] else "failed")
    lines.append(f"  verdict    {verdict}")
    return "\n".join(lines) + "\n"


def _memory_line(first: dict, report: dict) -> str:
    peak = first["peak"]
    limit = report.get("limit_bytes")
    if "reserved" in peak:
        budget = limit or peak.get("available") or peak.get("total")
        text = (f"peak {_size(peak['allocated'])} allocated, {_size(peak['reserved'])} reserved, of "
                f"{_size(budget)} {'(--memory)' if limit else 'free on the device'} ({_size(peak['total'])} total)")
    else:
        budget = limit or peak.get("total")
        text = (f"peak {_size(peak.get('rss'))} resident ({_size(report.get('training_bytes'))} for the model and "
                f"the step), of {_size(budget)} {'(--memory)' if limit else 'on this machine'}")
    return text + (": fits" if first["fits"] else ": DOES NOT FIT")
