"""Which device trains, in which dtype, and whether the run needs torchrun.

Everything here reads the machine through a ``Probe`` (torch, torch_npu, the environment), so the CUDA and
Ascend paths are tested on CPU with a fake probe (tests/test_runner_devices.py).
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

from lfgate.lf_facts import env_enabled


@dataclass
class Machine:
    kind: str  # "cuda", "npu" or "cpu"
    count: int  # visible devices of that kind
    names: List[str] = field(default_factory=list)
    bf16: bool = False
    fp16: bool = False
    notes: List[str] = field(default_factory=list)  # warnings for the user
    memory_gib: float = 0.0  # per device, as the device layer reports it; 0 when it does not say


class Probe:
    """The real machine. Tests pass a fake with the same methods."""

    def __init__(self, env: Optional[Mapping[str, str]] = None):
        self.env = os.environ if env is None else env

    def npu(self):
        """(count, names, is 910B-class) for Ascend NPUs, or None when torch_npu is absent or sees none."""
        try:
            import torch
            import torch_npu  # noqa: F401  (registers torch.npu)
        except Exception:
            return None
        try:
            count = torch.npu.device_count()
        except Exception:
            return None
        if count < 1:
            return None
        names = [str(torch.npu.get_device_name(i)) for i in range(count)]
        return count, names, all(is_910b(n) for n in names)

    def npu_processes(self):
        """(device, pid, name) of the processes holding NPUs (npu-smi), or None without npu-smi."""
        from lfgate.runner.ascend import npu_smi_processes

        return npu_smi_processes()

    def memory(self, kind: str) -> Optional[int]:
        """Bytes of the first device of that kind (torch's device properties), or None."""
        try:
            import torch

            backend = torch.cuda if kind == "cuda" else getattr(torch, "npu", None)
            return int(backend.get_device_properties(0).total_memory) if backend is not None else None
        except Exception:
            return None

    def cuda(self):
        """(count, names, compute capabilities) for CUDA devices, or None."""
        try:
            import torch
        except ImportError:
            return None
        if not torch.cuda.is_available():
            return None
        count = torch.cuda.device_count()
        names = [torch.cuda.get_device_name(i) for i in range(count)]
        caps = [torch.cuda.get_device_capability(i) for i in range(count)]
        return count, names, caps


def is_910b(name: str) -> bool:
    """Ascend 910B (and later 910-series parts such as 910_93) compute in bf16; the first 910 (910A) does not."""
    name = name.replace(" ", "").lower()
    return "910b" in name or "910_9" in name or "910c" in name


def detect(probe: Optional[Probe] = None) -> Machine:
    probe = probe or Probe()
    env = probe.env
    npu = probe.npu()
    if npu is not None:
        count, names, bf16 = npu
        machine = Machine("npu", count, names, bf16=bf16, fp16=True, memory_gib=_probed_memory(probe, "npu"))
        if env.get("CUDA_VISIBLE_DEVICES") is not None and env.get("ASCEND_RT_VISIBLE_DEVICES") is None:
            machine.notes.append("CUDA_VISIBLE_DEVICES is set but does not select Ascend NPUs: "
                                 "use ASCEND_RT_VISIBLE_DEVICES")
        return machine
    cuda = probe.cuda()
    if cuda is not None:
        count, names, caps = cuda
        return Machine("cuda", count, names, bf16=all(major >= 8 for major, _ in caps), fp16=True,
                       memory_gib=_probed_memory(probe, "cuda"))
    return Machine("cpu", 1, ["cpu"], notes=["no CUDA or Ascend device found: training on CPU (slow)"])


def _probed_memory(probe, kind: str) -> float:
    found = probe.memory(kind) if hasattr(probe, "memory") else None  # a test's fake may not say
    return found / 1024 ** 3 if found else 0.0


def device_memory(machine: Machine) -> Tuple[float, str]:
    """(GiB per device, where that number came from) for the devices a plan runs on; (0, why) when unknown.
    CPU: the machine's memory (or its cgroup limit); an accelerator: what the device layer reported, else the
    known part table (PARTS) by the device's name."""
    from lfgate.runner.memory import GIB, machine_memory_bytes

    if machine.kind == "cpu":
        return machine_memory_bytes() / GIB, "this machine's memory"
    if machine.memory_gib:
        return machine.memory_gib, f"each {machine.names[0] if machine.names else machine.kind}, as the device reports"
    for _kind, label, memory, _bf16 in PARTS.values():
        if machine.names and label.lower() == machine.names[0].lower() and memory:
            return float(memory), f"each {label} (lfgate's part table)"
    return 0.0, f"the memory of {machine.names[0] if machine.names else 'the device'} is not known"


@dataclass
class Precision:
    dtype: str  # "bf16", "fp16" or "fp32"
    note: Optional[str] = None  # set when the config asked for something else


def choose_precision(machine: Machine, bf16: bool, fp16: bool) -> Precision:
    """The dtype LLaMA-Factory's config asks for where the device has it; else the nearest it has, saying so."""
    if machine.kind == "cpu":
        if bf16 or fp16:
            asked = "bf16" if bf16 else "fp16"
            return Precision("fp32", f"{asked} is not used on CPU: training in fp32")
        return Precision("fp32")
    if bf16:
        if machine.bf16:
            return Precision("bf16")
        what = "this Ascend NPU (910A)" if machine.kind == "npu" else f"{machine.names[0]} (before Ampere)"
        return Precision("fp16", f"bf16 is not supported on {what}: training in fp16")
    if fp16:
        return Precision("fp16")
    return Precision("fp32")


# -- more than one device: torchrun, as llamafactory-cli launches it (cli.py) ------------------------------------
def world(env: Mapping[str, str], machine: Machine, count=None) -> Dict[str, str]:
    """NNODES, NODE_RANK, NPROC_PER_NODE, MASTER_ADDR, MASTER_PORT with LLaMA-Factory's defaults.
    count: the run's devices_env.DeviceCount (all nodes), when known; else the devices of this machine."""
    nnodes = env.get("NNODES", "1")
    if count is not None:
        nodes = int(nnodes) if str(nnodes).isdigit() and int(nnodes) > 0 else 1
        per_node = str(count.per_node or max(count.count // nodes, 1))
    else:
        per_node = str(machine.count if machine.kind != "cpu" else 1)
    return {
        "nnodes": nnodes,
        "node_rank": env.get("NODE_RANK", "0"),
        "nproc_per_node": env.get("NPROC_PER_NODE", per_node),
        "master_addr": env.get("MASTER_ADDR", "127.0.0.1"),
        "master_port": env.get("MASTER_PORT", str(free_port())),
    }


def needs_torchrun(env: Mapping[str, str], machine: Machine, count=None) -> bool:
    if env.get("LOCAL_RANK") is not None or env.get("WORLD_SIZE") is not None:
        return False  # already launched by torchrun (or accelerate / deepspeed)
    if env_enabled("FORCE_TORCHRUN", env):  # LLaMA-Factory's launcher reads it with is_env_enabled
        return True
    w = world(env, machine, count)
    return int(w["nnodes"]) > 1 or int(w["nproc_per_node"]) > 1


def torchrun_command(env: Mapping[str, str], machine: Machine, script_args: List[str],
                     python: str = sys.executable, count=None) -> List[str]:
    """torchrun as `python -m torch.distributed.run` (the same interpreter, whether or not its bin is on PATH), and
    each worker as `python -u -m lfgate.runner.launch`, both with the working directory off sys.path
    (subprocesses.module_argv): a `torch/` or `json.py` committed in the project never runs."""
    from lfgate import subprocesses

    w = world(env, machine, count)
    worker = subprocesses.module_argv(python, "lfgate.runner.launch", script_args, unbuffered=True)
    return subprocesses.module_argv(python, "torch.distributed.run", [
        "--nnodes", w["nnodes"], "--node_rank", w["node_rank"], "--nproc_per_node", w["nproc_per_node"],
        "--master_addr", w["master_addr"], "--master_port", w["master_port"], "--no-python", *worker])


def distributed_backend(kind) -> str:
    """torch.distributed backend for a Machine or a kind: HCCL on Ascend, NCCL on CUDA, gloo on CPU."""
    kind = getattr(kind, "kind", kind)
    return {"npu": "hccl", "cuda": "nccl"}.get(kind, "gloo")


# -- CPU threads --------------------------------------------------------------------------------------------------
SMALL_MODEL_PARAMETERS = 20_000_000


def approximate_parameters(config_json: dict) -> int:
    """Decoder parameters from config.json (attention + MLP per layer, embeddings), 0 when it does not say."""
    nested = config_json.get("text_config")
    text: dict = nested if isinstance(nested, dict) else config_json
    try:
        hidden = int(text.get("hidden_size") or 0)
        layers = int(text.get("num_hidden_layers") or 0)
        inner = int(text.get("intermediate_size") or 4 * hidden)
        vocab = int(text.get("vocab_size") or 0)
    except (TypeError, ValueError):
        return 0
    return layers * (4 * hidden * hidden + 3 * hidden * inner) + vocab * hidden


def cpu_threads(config_json: Optional[dict], env: Mapping[str, str]) -> Optional[int]:
    """Intra-op threads for training on the CPU, or None to keep torch's default (one per core).

    A small model's matrices are too small to split: each of the thousands of parallel regions per step costs more
    in waking and joining threads than it saves, and on a shared CPU a descheduled thread stalls every region
    (benchmarks/README.md, "runner"). One thread then trains faster, to the same numbers. OMP_NUM_THREADS, when
    set, always wins."""
    if env.get("OMP_NUM_THREADS") or not config_json:
        return None
    size = approximate_parameters(config_json)
    return 1 if 0 < size < SMALL_MODEL_PARAMETERS else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


# -- another machine: `train --dry-run --target npu:2,bf16` ------------------------------------------------------
# Per-device memory (GiB) and bf16 support of common training parts, from their vendors' data sheets.
PARTS = {
    "910b": ("npu", "Ascend910B2", 64, True), "910b1": ("npu", "Ascend910B1", 64, True),
    "910b2": ("npu", "Ascend910B2", 64, True), "910b3": ("npu", "Ascend910B3", 64, True),
    "910b4": ("npu", "Ascend910B4", 32, True), "a3": ("npu", "Ascend910_9392", 64, True),
    "910a": ("npu", "Ascend910A", 32, False),
    "a100": ("cuda", "NVIDIA A100-SXM4-80GB", 80, True), "a100-40": ("cuda", "NVIDIA A100-SXM4-40GB", 40, True),
    "h100": ("cuda", "NVIDIA H100 80GB HBM3", 80, True), "h200": ("cuda", "NVIDIA H200", 141, True),
    "l40s": ("cuda", "NVIDIA L40S", 48, True), "a10": ("cuda", "NVIDIA A10", 24, True),
    "4090": ("cuda", "NVIDIA GeForce RTX 4090", 24, True), "v100": ("cuda", "Tesla V100-SXM2-32GB", 32, False),
    "t4": ("cuda", "Tesla T4", 16, False), "cpu": ("cpu", "cpu", 0, False),
}
ALIASES = {"npu": "910b", "ascend": "910b", "cuda": "a100", "gpu": "a100"}


@dataclass
class Target:
    machine: Machine
    memory_gib: int  # per device; 0 when unknown
    dtype: Optional[str]  # "bf16" / "fp16" / "fp32" when the target names one
    implied_by: Optional[str] = None  # the visible-devices variable a dry run plans for, when not --target


def implied_target(count, machine: Machine) -> Optional[Target]:
    """A dry run where a visible-devices variable names NPUs or GPUs this machine does not have: plan for those
    devices (the default part of their kind, as for `--target npu`) instead of for this machine's CPU.
    count: devices_env.DeviceCount."""
    wants = getattr(count, "kind", None)
    if wants not in ("npu", "cuda") or not (count.per_node or 0) > 0 or machine.kind == wants:
        return None
    kind, label, memory, bf16 = PARTS[ALIASES[wants]]
    per_node = int(count.per_node)
    return Target(Machine(kind, per_node, [label] * per_node, bf16=bf16, fp16=True), memory, None,
                  implied_by=count.source)


def parse_target(spec: str) -> Target:
    """KIND[:COUNT][,DTYPE]: npu:2,bf16 - h100:8 - v100:4,fp16 - cpu. ValueError with the accepted forms."""
    head, *rest = [p.strip() for p in spec.lower().split(",")]
    name, _, count_text = head.partition(":")
    part = PARTS.get(ALIASES.get(name, name))
    if part is None:
        known = ", ".join(sorted(set(PARTS) | set(ALIASES)))
        raise ValueError(f"--target {spec}: unknown device {name!r}; one of {known}")
    if count_text and not (count_text.isdigit() and int(count_text) >= 1):
        raise ValueError(f"--target {spec}: the count after ':' must be a whole number of at least 1")
    dtype = None
    for item in rest:
        if item not in ("bf16", "fp16", "fp32"):
            raise ValueError(f"--target {spec}: {item!r} is not bf16, fp16 or fp32")
        dtype = item
    kind, label, memory, bf16 = part
    count = int(count_text) if count_text else 1
    if kind == "cpu":
        return Target(Machine("cpu", 1, ["cpu"]), 0, dtype)
    return Target(Machine(kind, count, [label] * count, bf16=bf16, fp16=True), memory, dtype)
