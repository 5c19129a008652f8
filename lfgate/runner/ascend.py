"""Ascend NPUs as LLaMA-Factory documents them today: the known-good stack, and what `doctor` and `train` check.

Nothing here imports torch: versions come from package metadata, chips and processes through the ``Probe``
(runner/devices.py), so tests fake them (tests/test_runner_ascend.py; a real NPU run is `-m npu`).
"""

from __future__ import annotations

import importlib.metadata
import re
from typing import Dict, List, Mapping, Optional, Tuple

# Newest first. Row 1: LLaMA-Factory's docker/docker-npu (OVERVIEW.md "core components", Dockerfile base image
# cann:9.1.0-910b-ubuntu22.04-py3.12, requirements/npu.txt, requirements/deepspeed.txt). Older rows: the
# "Requirement / Recommend" table of LLaMA-Factory's README over time (2025-12, 2025-05, 2024-06).
KNOWN_GOOD: List[Dict[str, str]] = [
    {"source": "LLaMA-Factory docker-npu image (A2/A3)", "CANN": "9.1.0", "Python": "3.12", "torch": "2.10.0",
     "torch-npu": "2.10.0.post2", "deepspeed": ">=0.10.0,<=0.18.4"},
    {"source": "LLaMA-Factory README, 2025-12", "CANN": "8.0.0.alpha002", "Python": "3.10+", "torch": "2.7.1",
     "torch-npu": "2.7.1", "deepspeed": "0.13.2"},
    {"source": "LLaMA-Factory README, 2025-05", "CANN": "8.0.0.alpha002", "Python": "3.10+", "torch": "2.4.0",
     "torch-npu": "2.4.0.post2", "deepspeed": "0.13.2"},
    {"source": "LLaMA-Factory README, 2024-06", "CANN": "8.0.RC1", "Python": "3.8+", "torch": "2.1.0",
     "torch-npu": "2.1.0.post3", "deepspeed": "0.13.2"},
]
CANN_ENV = ("ASCEND_HOME_PATH", "ASCEND_TOOLKIT_HOME")  # exported by CANN's set_env.sh
SET_ENV = "source /usr/local/Ascend/ascend-toolkit/set_env.sh"


def version(package: str) -> Optional[str]:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def base_version(text: str) -> str:
    """2.10.0+cpu, 2.10.0.post2, 2.10.0rc1 -> 2.10.0: torch-npu's releases are torch's version plus a post tag."""
    match = re.match(r"\d+(\.\d+)*", text.strip())
    if not match:
        return text
    parts = match.group(0).split(".")[:3]
    return ".".join(parts)


def torch_npu_mismatch(torch_version: Optional[str], npu_version: Optional[str]) -> Optional[str]:
    if not torch_version or not npu_version or base_version(torch_version) == base_version(npu_version):
        return None
    return (f"torch {torch_version} does not match torch-npu {npu_version} (built for torch "
            f"{base_version(npu_version)}): import torch_npu fails or crashes. Install the pair, e.g. "
            f"pip install torch=={KNOWN_GOOD[0]['torch']} torch-npu=={KNOWN_GOOD[0]['torch-npu']}")


def cann_not_sourced(env: Mapping[str, str]) -> Optional[str]:
    if any(env.get(name) for name in CANN_ENV):
        return None
    return (f"CANN's set_env.sh was not sourced ({' and '.join(CANN_ENV)} are unset): torch-npu cannot find the "
            f"CANN libraries. Run `{SET_ENV}` (and the nnal set_env.sh if installed) in this shell")


def chip_problem(name: str) -> Optional[str]:
    """LLaMA-Factory trains on Atlas A2 (Ascend 910B1-B4) and A3 (910_93xx) parts; it documents neither the
    inference-only 310 series nor the first 910 series (910A, 910 Pro A/B: no bf16)."""
    key = name.replace(" ", "").lower()
    if re.search(r"910b\d", key) or "910_9" in key or "910c" in key:
        return None
    if "310" in key:
        return (f"{name} is an inference part (Atlas 300I / 310 series): LLaMA-Factory documents training on "
                "Atlas A2 (910B) and A3 (910_93) parts only")
    if "910" in key:
        return (f"{name} is a first-series Ascend 910 (no bf16): LLaMA-Factory documents training on Atlas A2 "
                "(910B1-B4) and A3 (910_93) parts only; use fp16 at best")
    return f"{name} is not an Ascend part LLaMA-Factory documents for training (Atlas A2 910B, A3 910_93)"


def hccl_interface_missing(env: Mapping[str, str], nnodes: int) -> Optional[str]:
    if nnodes < 2 or env.get("HCCL_SOCKET_IFNAME"):
        return None
    return (f"NNODES={nnodes} without HCCL_SOCKET_IFNAME: HCCL may pick an interface the other nodes cannot "
            "reach and hang at the first collective. Set HCCL_SOCKET_IFNAME to the cluster network's interface "
            "(e.g. eth0), as for NCCL_SOCKET_IFNAME on CUDA")


def npu_smi_processes() -> Optional[List[Tuple[int, int, str]]]:
    """(device, pid, name) of the processes `npu-smi info` lists, or None where npu-smi is absent."""
    from lfgate import subprocesses

    exe = subprocesses.which("npu-smi")  # never one in the project (a relative PATH entry)
    if exe is None:
        return None
    try:
        out = subprocesses.run([exe, "info"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocesses.Error):
        return None
    return parse_npu_smi(out)


def parse_npu_smi(text: str) -> List[Tuple[int, int, str]]:
    """The process table of `npu-smi info`: `| 0       0      | 12345     | python3     | 3276  |` rows."""
    found, in_table = [], False
    for line in text.splitlines():
        if "Process id" in line:
            in_table = True
            continue
        match = re.match(r"\|\s*(\d+)\s+\d+\s*\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|", line)
        if in_table and match:
            found.append((int(match.group(1)), int(match.group(2)), match.group(3)))
    return found


def stale_holders(processes: List[Tuple[int, int, str]], visible: Optional[List[int]], own_pids=()) -> List[str]:
    """Processes other than ours holding the devices this run will use."""
    out = []
    for device, pid, name in processes:
        if pid in own_pids or (visible is not None and device not in visible):
            continue
        out.append(f"NPU {device} is held by process {pid} ({name}): a run left behind takes its memory (HCCL "
                   f"then fails or runs out of memory). Stop it (kill {pid}) if it is stale")
    return out
