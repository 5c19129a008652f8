"""How many devices the run will use, and where that number came from: one function for every command.

`check`'s step budget (LK rules), `stats`, `train --dry-run`, `preview` and `train` all call ``device_count``.
The order is LLaMA-Factory's own (cli.py: torchrun gets ``NNODES`` x ``NPROC_PER_NODE``, and NPROC_PER_NODE
defaults to the devices the backend sees, which its runtime limits to the visible-devices variable):

1. ``--devices N`` on the command line;
2. ``devices`` in the project configuration ([tool.lfgate] / .lfgate.toml);
3. ``NNODES`` x ``NPROC_PER_NODE``;
4. the backend's visible-devices variable: ``ASCEND_RT_VISIBLE_DEVICES`` (Ascend), ``CUDA_VISIBLE_DEVICES`` (CUDA);
5. the devices present, only where a probe is given (``train`` imports torch anyway; ``check`` never does).

``NPU_VISIBLE_DEVICES`` is not read by the Ascend runtime inside a process (only the Ascend Docker runtime reads
it, when it starts a container): it is reported, never counted. Nothing here imports torch.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable, List, Mapping, Optional

VISIBLE = (("ASCEND_RT_VISIBLE_DEVICES", "npu"), ("CUDA_VISIBLE_DEVICES", "cuda"))
_ON = ("1", "true", "y", "yes")


@dataclass(frozen=True)
class DeviceCount:
    count: int  # processes the run starts (all nodes together); 1 on CPU
    source: str  # where the number came from, said in every message that uses it
    kind: Optional[str] = None  # "npu" or "cuda" when a visible-devices variable or a probe says so
    per_node: Optional[int] = None  # devices visible on this node, when known
    notes: List[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.count} device{'s' if self.count != 1 else ''} ({self.source})"


def visible_count(value: str, kind: str) -> int:
    """Devices a visible-devices list selects. CUDA stops at the first invalid entry (`-1` hides the rest)."""
    count = 0
    for item in value.split(","):
        item = item.strip()
        if not item:
            break
        if kind == "cuda" and not (re.fullmatch(r"\d+", item) or item.startswith(("GPU-", "MIG-"))):
            break
        if kind == "npu" and not re.fullmatch(r"\d+", item):
            break
        count += 1
    return count


def _positive(env: Mapping[str, str], name: str) -> Optional[int]:
    value = str(env.get(name, "")).strip()
    return int(value) if value.isdigit() and int(value) >= 1 else None


def _visible(env: Mapping[str, str], notes: List[str]):
    """(count, kind, source) from the backend's visible-devices variable, else None."""
    if env.get("NPU_VISIBLE_DEVICES") is not None and env.get("ASCEND_RT_VISIBLE_DEVICES") is None:
        notes.append(f"NPU_VISIBLE_DEVICES={env['NPU_VISIBLE_DEVICES']} is not read by the Ascend runtime in this "
                     "process (only the Ascend Docker runtime reads it): use ASCEND_RT_VISIBLE_DEVICES")
    for name, kind in VISIBLE:
        value = env.get(name)
        if value is None:
            continue
        if name == "ASCEND_RT_VISIBLE_DEVICES" and env.get("CUDA_VISIBLE_DEVICES") is not None:
            notes.append("both ASCEND_RT_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES are set: counted the Ascend one "
                         "(CUDA_VISIBLE_DEVICES does not select NPUs)")
        return visible_count(value, kind), kind, f"{name}={value}"
    return None


def device_count(settings=None, env: Optional[Mapping[str, str]] = None,
                 present: Optional[Callable[[], Optional[tuple]]] = None) -> DeviceCount:
    """The run's device count and its source. present(): (count, kind) of the devices on this machine, or None;
    only callers that already import torch pass it."""
    env = os.environ if env is None else env
    notes: List[str] = []
    if present is None and getattr(settings, "devices_present", None) is not None:
        present = lambda: settings.devices_present  # noqa: E731  (train probed them before its check)
    devices = getattr(settings, "devices", None)
    if devices:
        if getattr(settings, "devices_from", None):  # "--devices", or "--target ..." for train's dry run
            return DeviceCount(devices, settings.devices_from, notes=notes)
        where = os.path.basename(settings.source) if getattr(settings, "source", None) else "the configuration"
        label = "[tool.lfgate] devices" if where == "pyproject.toml" else "devices"
        return DeviceCount(devices, f"{label} in {settings.source or where}", notes=notes)
    nnodes, nproc = _positive(env, "NNODES"), _positive(env, "NPROC_PER_NODE")
    if nproc is not None:
        nodes = nnodes or 1
        launch = f"NNODES={nodes} x NPROC_PER_NODE={nproc}" if nnodes else f"NPROC_PER_NODE={nproc}"
        return DeviceCount(nodes * nproc, launch, per_node=nproc, notes=notes)
    visible = _visible(env, notes)
    per_node: Optional[int] = None
    kind: Optional[str] = None
    source: Optional[str] = None
    if visible is not None:
        per_node, kind, source = visible
        if per_node == 0:
            notes.append(f"{source} selects no device: the run would use the CPU")
    elif present is not None:
        found = present()
        if found is not None:
            per_node, kind = found
            source = f"{per_node} {kind} device{'s' if per_node != 1 else ''} present"
    if per_node is None or source is None:  # source is set whenever per_node is
        per_node, source = 1, ("default: no --devices, `devices` setting, NNODES/NPROC_PER_NODE or "
                               "visible-devices variable")
    per_node = max(per_node, 1)  # no device: one process on the CPU
    if nnodes and nnodes > 1:
        return DeviceCount(nnodes * per_node, f"NNODES={nnodes} x {per_node} per node from {source}", kind=kind,
                           per_node=per_node, notes=notes)
    return DeviceCount(per_node, source, kind=kind, per_node=per_node, notes=notes)


def force_torchrun(env: Optional[Mapping[str, str]] = None) -> bool:
    env = os.environ if env is None else env
    return str(env.get("FORCE_TORCHRUN", "")).lower() in _ON
