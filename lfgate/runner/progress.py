"""Trainer callbacks: LLaMA-Factory's trainer_log.jsonl, and what the user sees while it trains.

On a terminal, a rich progress bar with loss, throughput and ETA; otherwise one plain line per logging step.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta
from typing import Optional

from transformers import TrainerCallback

from lfgate import safe_write


def _hms(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds)))


class TrainerLog(TrainerCallback):
    """Appends LLaMA-Factory's LogCallback records to output_dir/trainer_log.jsonl (same fields and names)."""

    def __init__(self, output_dir: str):
        self.path = os.path.join(output_dir, "trainer_log.jsonl")
        self.start = time.time()
        self.start_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.time()
        self.start_step = state.global_step
        if args.should_save and state.global_step == 0 and os.path.lexists(self.path):
            os.remove(self.path)  # a fresh run: LLaMA-Factory starts the log again (a link is removed, not followed)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not args.should_save or not logs:
            return
        elapsed = time.time() - self.start
        done = state.global_step - self.start_step
        remaining = elapsed / done * (state.max_steps - state.global_step) if done else 0.0
        record = {
            "current_steps": state.global_step,
            "total_steps": state.max_steps,
            "loss": logs.get("loss"),
            "eval_loss": logs.get("eval_loss"),
            "predict_loss": logs.get("predict_loss"),
            "reward": logs.get("reward"),
            "accuracy": logs.get("rewards/accuracies"),
            "lr": logs.get("learning_rate"),
            "epoch": logs.get("epoch"),
            "percentage": round(state.global_step / state.max_steps * 100, 2) if state.max_steps else 100,
            "elapsed_time": _hms(elapsed),
            "remaining_time": _hms(remaining),
        }
        if state.num_input_tokens_seen:
            record["throughput"] = round(state.num_input_tokens_seen / max(elapsed, 1e-6), 2)
            record["total_tokens"] = state.num_input_tokens_seen
        record = {k: v for k, v in record.items() if v is not None}
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        safe_write.append_text(self.path, json.dumps(record) + "\n")


class RunningLog(TrainerCallback):
    """One line per logging step in output_dir/running_log.txt, through the run's RunLog (runlog.py)."""

    def __init__(self, log):
        self.log = log

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or args.process_index != 0:
            return
        parts = [f"step {state.global_step}/{state.max_steps}"]
        parts += [f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items()]
        self.log.write("  ".join(parts))


class Progress(TrainerCallback):
    """A rich progress bar on a terminal; plain lines ("step 10/120 loss 5.93 ...") otherwise."""

    def __init__(self, batch_samples: int, stream=None, live: Optional[bool] = None):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.batch_samples = batch_samples  # samples per optimizer step, all devices together
        self.loss: Optional[float] = None
        self.bar = None
        self.task = None
        self.start = time.time()
        self.start_step = 0

    def _rate(self, state) -> float:
        return (state.global_step - self.start_step) * self.batch_samples / max(time.time() - self.start, 1e-6)

    def on_train_begin(self, args, state, control, **kwargs):
        self.start, self.start_step = time.time(), state.global_step
        if args.process_index != 0:  # the main process only
            return
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

            self.bar = Bar(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("loss {task.fields[loss]}  {task.fields[rate]} samples/s  ETA"),
                           TimeRemainingColumn(), transient=False,
                           console=Console(file=self.stream, force_terminal=True))
            self.bar.start()
            self.task = self.bar.add_task("train", total=state.max_steps, completed=state.global_step,
                                          loss="-", rate="-")

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step,
                            loss=f"{self.loss:.4f}" if self.loss is not None else "-", rate=f"{self._rate(state):.1f}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if args.process_index != 0 or not logs or "train_runtime" in logs:  # the summary is printed at the end
            return
        if "loss" in logs:
            self.loss = float(logs["loss"])
        if self.bar is not None:
            if "eval_loss" in logs:
                self.bar.console.print(f"step {state.global_step}: eval_loss {logs['eval_loss']:.4f}")
            return
        elapsed = time.time() - self.start
        done = state.global_step - self.start_step
        eta = elapsed / done * (state.max_steps - state.global_step) if done else 0.0
        parts = [f"step {state.global_step}/{state.max_steps}"]
        for key in ("loss", "eval_loss", "grad_norm", "learning_rate"):
            if key in logs:
                parts.append(f"{key} {logs[key]:.4g}")
        if "epoch" in logs:
            parts.append(f"epoch {logs['epoch']:.2f}")
        parts.append(f"{self._rate(state):.1f} samples/s")
        parts.append(f"eta {_hms(eta)}")
        print("  ".join(parts), file=self.stream, flush=True)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)
            self.bar.stop()
            self.bar = None
