"""Peak memory of a training step on the run's device, and what the device has.

CUDA and Ascend: the caching allocator's peaks (max allocated, max reserved) since the last reset, plus what the
device had free for this process when measuring began. CPU: the process's resident set, sampled every few
milliseconds by a thread (the kernel's own high-water mark cannot be reset between attempts), against the
machine's memory or its cgroup limit.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Dict, Optional

GIB = 1024 ** 3


def _accelerator(kind: str):
    import torch

    if kind == "cuda":
        return torch.cuda
    if kind == "npu":
        return getattr(torch, "npu", None)
    return None


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB; a high-water mark


def machine_memory_bytes() -> int:
    """Physical memory, or the cgroup's limit when it is lower (a container)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


class PeakMemory:
    """start() before a step, stop() after it; peak() -> the figures in bytes."""

    def __init__(self, kind: str, index: int = 0):
        self.kind, self.index = kind, index
        self.device = _accelerator(kind)
        self._peak_rss = 0
        self._sampling = False
        self._thread: Optional[threading.Thread] = None
        self.rss_before = 0
        self.free_before = 0

    def start(self) -> None:
        import gc

        gc.collect()
        self.rss_before = rss_bytes()
        if self.device is not None:
            self.device.empty_cache()
            self.device.reset_peak_memory_stats(self.index)
            free, _ = self.device.mem_get_info(self.index)
            self.free_before = free + self.device.memory_reserved(self.index)  # what torch holds is ours to reuse
            return
        self._peak_rss = self.rss_before
        self._sampling = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while self._sampling:
            self._peak_rss = max(self._peak_rss, rss_bytes())
            time.sleep(0.005)

    def stop(self) -> None:
        if self._thread is not None:
            self._sampling = False
            self._thread.join()
            self._thread = None
            self._peak_rss = max(self._peak_rss, rss_bytes())

    def peak(self) -> Dict[str, int]:
        if self.device is not None:
            return {"allocated": int(self.device.max_memory_allocated(self.index)),
                    "reserved": int(self.device.max_memory_reserved(self.index)),
                    "available": int(self.free_before),
                    "total": int(self.device.get_device_properties(self.index).total_memory)}
        return {"rss": self._peak_rss, "rss_before": self.rss_before, "total": machine_memory_bytes()}


def needed(peak: Dict[str, int]) -> int:
    """The bytes the step needs from the device: reserved on an accelerator, the resident set on CPU."""
    return peak.get("reserved", peak.get("rss", 0))


HEADROOM = 0.95  # allocator fragmentation and what other processes start meanwhile


def fits(peak: Dict[str, int], limit_bytes: Optional[int] = None) -> bool:
    """limit_bytes: --memory, instead of what the device had free (accelerator) or the machine's memory (CPU)."""
    budget = limit_bytes if limit_bytes else peak.get("available") or peak.get("total", 0)
    return needed(peak) <= budget * HEADROOM
