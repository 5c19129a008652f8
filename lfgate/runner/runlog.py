"""The run's own log: what the runner tells the user, kept for output_dir/running_log.txt.

One ``RunLog`` per `train()` call (the run's state lives on an object, as torchtune's recipes keep theirs): the
messages said before output_dir is known are held, then written when the file is opened, where LLaMA-Factory's
users look for them (its LoggerHandler starts the file afresh each run). Only rank 0 prints and writes.
"""

from __future__ import annotations

import os
import sys
import time
from typing import List, Optional

from lfgate import safe_write

NAME = "running_log.txt"


def is_rank_zero() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


class RunLog:
    def __init__(self, stream=None):
        self.stream = stream  # None: sys.stderr at the time of saying
        self.held: List[str] = []
        self.path: Optional[str] = None

    def say(self, message: str) -> None:
        """Print on rank 0, and log (or hold until the file is opened)."""
        if not is_rank_zero():
            return
        print(message, file=self.stream or sys.stderr, flush=True)
        if self.path is None:
            self.held.append(message)
        else:
            self.write(message)

    def open(self, output_dir: str) -> None:
        """Start running_log.txt afresh with the held messages. atomic_write replaces a committed link itself
        instead of writing through it; the appends after it never follow one (safe_write.append_text)."""
        if not is_rank_zero():
            return
        os.makedirs(output_dir or ".", exist_ok=True)
        self.path = os.path.join(output_dir, NAME)
        safe_write.atomic_write(self.path, "".join(self._stamp(line) for line in self.held), force=True)
        self.held = []

    def write(self, line: str) -> None:
        """One line in the file only (the progress display prints its own)."""
        if self.path is not None and is_rank_zero():
            safe_write.append_text(self.path, self._stamp(line))

    def close(self) -> None:
        self.path = None

    @staticmethod
    def _stamp(line: str) -> str:
        return f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {line}\n"
