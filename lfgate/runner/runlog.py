"""The run's own log: what the runner tells the user, kept for output_dir/running_log.txt.

One ``RunLog`` per `train()` call (the run's state lives on an object, as torchtune's recipes keep theirs): the
messages said before output_dir is known are held, then written when the file is opened, where LLaMA-Factory's
users look for them (its LoggerHandler starts the file afresh each run). Only rank 0 prints and writes.
``until_stopped`` makes the file end with what stopped a run: the exception, Ctrl-C, or SIGTERM / SIGHUP (torchrun
and schedulers stop a run with SIGTERM, which would otherwise end the process without a word).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional

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

    def stopped(self, why: str) -> None:
        """The last line of the file: what stopped the run (file only: the caller reports it on the screen). Never
        raises: what stopped the run stays the error the user sees."""
        if self.path is not None and is_rank_zero():
            try:
                self.write(why)
            except Exception:  # a full disk, a file replaced by a link (safe_write refuses it)
                pass

    @contextmanager
    def until_stopped(self) -> Iterator[None]:
        """Run the body; if an exception, Ctrl-C or a stopping signal ends it, the log says so before exiting."""
        said: List[int] = []
        restore = self._catch_signals(said)
        try:
            yield
        except BaseException as err:
            if not said:  # a signal's handler has said it already
                self.stopped(stop_reason(err))
            raise
        finally:
            restore()

    def _catch_signals(self, said: List[int]):
        """SIGTERM/SIGHUP: write the reason, then hand the signal on to the handler there was (by default it ends
        the process as before). Only the main thread may set handlers; an ignored signal stays ignored."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous: Dict[int, Any] = {}
        pid = os.getpid()

        def handler(signum, frame):
            if os.getpid() == pid:  # not in a forked worker (a Pool's terminate() sends its workers SIGTERM)
                said.append(signum)
                self.stopped(f"stopped by signal {signal.Signals(signum).name}")
            before = previous.get(signum, signal.SIG_DFL)
            signal.signal(signum, before)
            if callable(before):
                before(signum, frame)
            else:
                os.kill(os.getpid(), signum)

        for signum in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)):
            if signum is None or signal.getsignal(signum) in (signal.SIG_IGN, None):
                continue
            previous[signum] = signal.signal(signum, handler)

        def restore() -> None:
            for signum, before in previous.items():
                if signal.getsignal(signum) is handler:
                    signal.signal(signum, before)
        return restore

    @staticmethod
    def _stamp(line: str) -> str:
        return f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {line}\n"


def stop_reason(err: BaseException) -> str:
    if isinstance(err, KeyboardInterrupt):
        return "stopped: interrupted (KeyboardInterrupt)"
    if isinstance(err, SystemExit):
        return f"stopped: exit {err.code}"
    message = str(err).strip()
    return f"failed: {type(err).__name__}" + (f": {message}" if message else "")
