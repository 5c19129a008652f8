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
# (torch-npu, torch, CANN) as Ascend publishes them: Ascend/pytorch COMPATIBILITY.en.md, "TorchNPU version mapping
# table" (the active releases, 2026-08); newest first. A torch-npu release is built for exactly one torch version and
# one CANN release; older or newer CANN fails at `import torch_npu` or at the first kernel.
ASCEND_TABLE = "Ascend/pytorch COMPATIBILITY.en.md"
TORCH_NPU_RELEASES: Tuple[Tuple[str, str, str], ...] = (
    ("2.12.0", "2.12.0", "9.1.0"), ("2.11.0", "2.11.0", "9.1.0"), ("2.10.0.post4", "2.10.0", "9.1.0"),
    ("2.9.0.post6", "2.9.0", "9.1.0"), ("2.7.1.post8", "2.7.1", "9.1.0"),
    ("2.9.0.post2", "2.9.0", "9.0.0"), ("2.8.0.post4", "2.8.0", "9.0.0"), ("2.7.1.post4", "2.7.1", "9.0.0"),
    ("2.9.0", "2.9.0", "8.5.0"), ("2.8.0.post2", "2.8.0", "8.5.0"), ("2.7.1.post2", "2.7.1", "8.5.0"),
    ("2.6.0.post5", "2.6.0", "8.5.0"),
    ("2.8.0", "2.8.0", "8.3.RC1"), ("2.7.1", "2.7.1", "8.3.RC1"), ("2.6.0.post3", "2.6.0", "8.3.RC1"),
    ("2.1.0.post17", "2.1.0", "8.3.RC1"),
    ("2.6.0", "2.6.0", "8.2.RC1"), ("2.5.1.post1", "2.5.1", "8.2.RC1"), ("2.1.0.post13", "2.1.0", "8.2.RC1"),
    ("2.5.1", "2.5.1", "8.1.RC1"), ("2.4.0.post4", "2.4.0", "8.1.RC1"), ("2.3.1.post6", "2.3.1", "8.1.RC1"),
    ("2.1.0.post12", "2.1.0", "8.1.RC1"),
    ("2.4.0.post2", "2.4.0", "8.0.0"), ("2.3.1.post4", "2.3.1", "8.0.0"), ("2.1.0.post10", "2.1.0", "8.0.0"),
)
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


def cann_version(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """CANN's version from its install info (ASCEND_HOME_PATH, else the default install place)."""
    import os

    from lfgate.readers import guarded

    env = os.environ if env is None else env
    homes = [env.get("ASCEND_HOME_PATH"), env.get("ASCEND_TOOLKIT_HOME"), "/usr/local/Ascend/ascend-toolkit/latest"]
    for home in filter(None, homes):
        for rel in ("version.cfg", "compiler/version.info", "arm64-linux/ascend_toolkit_install.info",
                    "x86_64-linux/ascend_toolkit_install.info"):
            path = os.path.join(home, rel)
            try:
                with guarded.open_regular(path, "r", encoding="utf-8") as f:
                    for line in f:
                        key, _, value = line.strip().partition("=")
                        if key.strip().lower() in ("version", "toolkit_version", "package_version"):
                            return value.strip().strip('"')
            except OSError:
                continue
    return None


def torch_without_torch_npu(torch_version: Optional[str]) -> Optional[str]:
    """torch-npu not installed yet: whether any torch-npu release is built for this torch (the one to install)."""
    if not torch_version:
        return None
    torch_base = base_version(torch_version)
    if any(torch == torch_base for _, torch, _ in TORCH_NPU_RELEASES) or \
            any(base_version(row["torch"]) == torch_base for row in KNOWN_GOOD):
        return None
    return (f"torch {torch_version} has no torch-npu release ({ASCEND_TABLE} lists torch up to "
            f"{TORCH_NPU_RELEASES[0][1]}): no torch-npu can be installed beside it. Install the pair LLaMA-Factory's "
            f"NPU image uses: pip install torch=={KNOWN_GOOD[0]['torch']} torch-npu=={KNOWN_GOOD[0]['torch-npu']}")


def _same_cann(found: str, listed: str) -> bool:
    found, listed = found.strip().lower(), listed.lower()
    return found == listed or found.startswith(listed + ".")


def cann_mismatch(npu_version: Optional[str], cann: Optional[str]) -> Optional[str]:
    """torch-npu against the installed CANN, by Ascend's table (and LLaMA-Factory's image, which pairs torch-npu
    2.10.0.post2 with CANN 9.1.0). None when either is unknown or the pair is listed."""
    if not npu_version or not cann:
        return None
    torch_base = base_version(npu_version)
    listed = {c for _, torch, c in TORCH_NPU_RELEASES if torch == torch_base}
    listed |= {row["CANN"] for row in KNOWN_GOOD if base_version(row["torch-npu"]) == torch_base}
    if not listed or any(_same_cann(cann, c) for c in listed):
        return None
    return (f"torch-npu {npu_version} is released for CANN {' or '.join(sorted(listed))} ({ASCEND_TABLE}), but "
            f"this machine has CANN {cann}: import torch_npu or its first kernel fails. Install the matching CANN, "
            "or the torch / torch-npu pair released for this CANN")


def stack_problems(torch_version: Optional[str], npu_version: Optional[str], cann: Optional[str]) -> List[str]:
    """The torch / torch-npu / CANN triple against the published tables."""
    found = [torch_npu_mismatch(torch_version, npu_version) if npu_version else torch_without_torch_npu(torch_version),
             cann_mismatch(npu_version, cann)]
    return [f for f in found if f]


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


# `import torch_npu` can crash the interpreter (a torch it was not built for, CANN libraries of another release) or
# hang (a device held by a stuck process): `doctor` asks a child process, with a deadline, instead of importing it.
_NPU_PROBE = ("import json\n"
              "import torch, torch_npu\n"
              "n = torch.npu.device_count()\n"
              "names = [str(torch.npu.get_device_name(i)) for i in range(n)]\n"
              "memory = int(torch.npu.get_device_properties(0).total_memory) if n else 0\n"
              "print(json.dumps({'count': n, 'names': names, 'memory': memory}))\n")
NPU_PROBE_TIMEOUT = 60.0  # seconds: CANN's first initialisation takes a while


def probe_npu(python: Optional[str] = None, timeout: float = NPU_PROBE_TIMEOUT):
    """({count, names, memory}, None) from a child process, or (None, why not). No child without torch-npu."""
    import json
    import sys

    from lfgate import subprocesses

    if version("torch-npu") is None:
        return None, "torch-npu is not installed"
    argv = subprocesses.probe_argv(python or sys.executable, _NPU_PROBE)
    try:
        with subprocesses.neutral_folder() as folder:
            done = subprocesses.run(argv, capture_output=True, text=True, timeout=timeout, cwd=folder,
                                    env=subprocesses.probe_env())
    except subprocesses.TimeoutExpired:
        return None, f"import torch_npu did not finish within {timeout:g} s (a device held by a stuck process?)"
    except OSError as err:
        return None, f"cannot start the NPU probe ({err})"
    if done.returncode != 0:
        lines = (done.stderr or "").strip().splitlines()
        last = lines[-1][:300] if lines else f"exit status {done.returncode}"
        return None, f"import torch_npu fails: {last}"
    try:
        found = json.loads((done.stdout or "").strip().splitlines()[-1])
        return {"count": int(found["count"]), "names": [str(n) for n in found["names"]],
                "memory": int(found.get("memory") or 0)}, None
    except (ValueError, KeyError, IndexError, TypeError):
        return None, "the NPU probe printed no answer"
