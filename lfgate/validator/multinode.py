"""RN040-RN047: launch variables that make a multi-node run hang, connect nowhere or train alone.

`llamafactory-cli train` starts torchrun from environment variables (launcher.py, 0.9.5): only with
FORCE_TORCHRUN=1 or more than one device; `--nnodes NNODES` (default 1), `--node_rank NODE_RANK` (default 0),
`--nproc_per_node NPROC_PER_NODE` (default: the devices it sees), `--master_addr MASTER_ADDR` (default 127.0.0.1),
`--master_port MASTER_PORT` (default: a free port this node picks, find_available_port); with RDZV_ID an elastic
launch, whose node range is MIN_NNODES:MAX_NNODES only when both are set. lfgate's own runner builds torchrun the
same way (runner/devices.py). `check` reports these when the variables are set (once per run, for the training
configs it checks), `train` always (runner/rules.py machine_checks), with the device count from devices_env.py.
A launch script in the project that starts LLaMA-Factory with the DeepSpeed launcher and a YAML is RN046.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
from typing import Iterator, List, Mapping, Optional

from lfgate.devices_env import VISIBLE, visible_count
from lfgate.lf_facts import env_enabled
from lfgate.readers import guarded
from lfgate.registry import ERROR, WARNING, rule
from lfgate.validator.example_kit import BASE_CONFIG, ONE_ENTRY_REGISTRY

VARIABLES = ("NNODES", "NODE_RANK", "RANK", "MASTER_ADDR", "MASTER_PORT", "MIN_NNODES", "MAX_NNODES", "RDZV_ID",
             "NPROC_PER_NODE")
_PROJECT = {"train.yaml": BASE_CONFIG + "dataset: a\n", "data/dataset_info.json": ONE_ENTRY_REGISTRY,
            "data/a.json": '[{"instruction": "hi", "input": "", "output": "hello"}]\n'}
_TWO = {"NNODES": "2", "NODE_RANK": "0", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500",
        "CUDA_VISIBLE_DEVICES": "0,1"}


def _rule(code, name, severity, title, why, fix, env, good_env, files=None):
    return rule(code, name, severity, title, why=why, fix=fix, bad={**_PROJECT, **(files or {})},
                good={**_PROJECT, **(files or {})}, target=".", env=env, good_env=good_env)


NO_PORT = _rule(
    "RN040", "multinode-no-master-port", ERROR, "Several nodes without `MASTER_PORT`",
    "Without MASTER_PORT, LLaMA-Factory gives torchrun a free port each node picks for itself "
    "(find_available_port, launcher.py): the nodes meet at different ports and the rendezvous never forms; the run "
    "hangs until the timeout.",
    "export MASTER_PORT=29500 (the same on every node).",
    {k: v for k, v in _TWO.items() if k != "MASTER_PORT"}, _TWO)
LOOPBACK = _rule(
    "RN041", "multinode-master-addr", ERROR, "Several nodes with `MASTER_ADDR` unset or a loopback address",
    "MASTER_ADDR defaults to 127.0.0.1 (launcher.py): with NNODES > 1 every node looks for the master on itself, "
    "and the master listens where no other node can reach it; the run hangs until the timeout.",
    "export MASTER_ADDR=<the address of the node with NODE_RANK=0, reachable from the others>.",
    {**_TWO, "MASTER_ADDR": "127.0.0.1"}, _TWO)
RANK_FOR_NODE_RANK = _rule(
    "RN042", "rank-for-node-rank", ERROR, "`RANK` set where `NODE_RANK` was meant",
    "LLaMA-Factory passes NODE_RANK (default 0) to torchrun as --node_rank and never reads RANK, which torchrun "
    "sets itself for each worker: with RANK set per node and NODE_RANK unset, every node starts as node 0 and the "
    "rendezvous fails or hangs. (Schedulers such as Kubeflow's PyTorchJob set RANK to the node's index.)",
    "export NODE_RANK=$RANK (0 on the master, 1..NNODES-1 on the others).",
    {**{k: v for k, v in _TWO.items() if k != "NODE_RANK"}, "RANK": "1"}, {**_TWO, "NODE_RANK": "1"})
NODE_RANK_RANGE = _rule(
    "RN043", "node-rank-out-of-range", ERROR, "`NODE_RANK` is not below `NNODES`",
    "torchrun numbers nodes 0..NNODES-1: a NODE_RANK of NNODES or more never joins the rendezvous, which waits for "
    "a node that does not come.",
    "Give each node a NODE_RANK from 0 to NNODES-1.",
    {**_TWO, "NODE_RANK": "2"}, {**_TWO, "NODE_RANK": "1"})
ELASTIC_HALF = _rule(
    "RN044", "elastic-range-half-set", WARNING, "Only one of `MIN_NNODES` and `MAX_NNODES`, or either without "
    "`RDZV_ID`",
    "LLaMA-Factory launches an elastic run only with RDZV_ID set, and uses the node range MIN_NNODES:MAX_NNODES "
    "only when both are set (launcher.py); otherwise torchrun gets the fixed NNODES and the range is ignored.",
    "Set both MIN_NNODES and MAX_NNODES, and RDZV_ID, for an elastic run; or unset them.",
    {**_TWO, "RDZV_ID": "job1", "MIN_NNODES": "1"}, {**_TWO, "RDZV_ID": "job1", "MIN_NNODES": "1", "MAX_NNODES": "2"})
NPROC_ABOVE = _rule(
    "RN045", "nproc-above-devices", ERROR, "`NPROC_PER_NODE` above the devices the node can use",
    "torchrun starts NPROC_PER_NODE processes per node, and each binds the device of its local rank: the ranks past "
    "the visible devices fail at start-up (`CUDA error: invalid device ordinal`, or an HCCL error on Ascend). The "
    "visible devices are the visible-devices variable's (CUDA_VISIBLE_DEVICES, ASCEND_RT_VISIBLE_DEVICES), or, in "
    "`lfgate train`, the devices present.",
    "Set NPROC_PER_NODE to at most the visible devices (or unset it: LLaMA-Factory then counts them).",
    {"NPROC_PER_NODE": "4", "CUDA_VISIBLE_DEVICES": "0,1"}, {"NPROC_PER_NODE": "2", "CUDA_VISIBLE_DEVICES": "0,1"})
ALONE = _rule(
    "RN047", "multinode-without-torchrun", ERROR, "Several nodes, one device each, without `FORCE_TORCHRUN`",
    "LLaMA-Factory starts torchrun only with FORCE_TORCHRUN=1 or more than one device (launcher.py): on nodes with "
    "one device each, NNODES is never read and every node trains a full copy alone, without a rendezvous.",
    "export FORCE_TORCHRUN=1 on every node.",
    {"NNODES": "2", "NODE_RANK": "0", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "CUDA_VISIBLE_DEVICES": "0"},
    {"NNODES": "2", "NODE_RANK": "0", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "CUDA_VISIBLE_DEVICES": "0",
     "FORCE_TORCHRUN": "1"})
DEEPSPEED_LAUNCHER = rule(
    "RN046", "deepspeed-launcher-yaml", ERROR, "The DeepSpeed launcher with a YAML config, in a launch script",
    why="The `deepspeed` launcher puts `--local_rank=N` before the script's own arguments, so LLaMA-Factory's "
        "read_args sees `--local_rank=0` where it looks for the YAML (hparams/parser.py:90) and parses the command "
        "line instead: the YAML is never read, and every rank stops with `ValueError: Please provide "
        "`model_name_or_path`.` (or `Some specified arguments are not used by the HfArgumentParser: "
        "['train.yaml']`). Confirmed with LLaMA-Factory 0.9.5's get_train_args.",
    fix="Launch with `FORCE_TORCHRUN=1 llamafactory-cli train train.yaml` (the deepspeed key in the YAML still "
        "enables DeepSpeed), or add `--no_local_rank` to the deepspeed command.",
    bad={**_PROJECT, "run.sh": "#!/bin/bash\ndeepspeed --num_gpus 8 src/train.py train.yaml\n"},
    good={**_PROJECT, "run.sh": "#!/bin/bash\nFORCE_TORCHRUN=1 llamafactory-cli train train.yaml\n"},
    target=".",
)


def _int(env: Mapping[str, str], name: str) -> Optional[int]:
    value = str(env.get(name, "")).strip()
    return int(value) if value.isdigit() else None


def is_set(env: Optional[Mapping[str, str]] = None) -> bool:
    env = os.environ if env is None else env
    return any(env.get(name) not in (None, "") for name in VARIABLES)


def _loopback(address: str) -> bool:
    text = address.strip().strip("[]").lower()
    if text in ("localhost", "") or text.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def _visible(env: Mapping[str, str]) -> Optional[tuple]:
    for name, kind in VISIBLE:
        value = env.get(name)
        if value is not None:
            return visible_count(value, kind), f"{name}={value}"
    return None


def check(env: Optional[Mapping[str, str]] = None, present: Optional[tuple] = None) -> List:
    """The launch variables' findings (no file: they are the environment's). present: (count, kind) of the devices
    this node has, when `train` probed them."""
    env = os.environ if env is None else env
    return list(_check(env, present))


def _check(env: Mapping[str, str], present: Optional[tuple]) -> Iterator:
    nnodes = _int(env, "NNODES") or 1
    node_rank = _int(env, "NODE_RANK")
    visible = _visible(env)
    devices = visible if visible is not None else (
        (present[0], f"{present[0]} {present[1]} device(s) present") if present and present[0] else None)
    nproc = _int(env, "NPROC_PER_NODE")
    if nproc is not None and devices is not None and devices[0] >= 1 and nproc > devices[0]:
        yield NPROC_ABOVE.diag(f"NPROC_PER_NODE={nproc} starts {nproc} processes per node, but the node can use "
                               f"{devices[0]} device(s) ({devices[1]}): ranks {devices[0]} and up fail at start-up "
                               f"(`invalid device ordinal`). Set NPROC_PER_NODE={devices[0]}, or unset it")
    if nnodes <= 1:
        return
    if not env.get("MASTER_PORT"):
        yield NO_PORT.diag(f"NNODES={nnodes} without MASTER_PORT: each node gives torchrun a free port of its own "
                           "(llamafactory-cli's find_available_port), so the nodes never meet. export "
                           "MASTER_PORT=29500 on every node")
    address = env.get("MASTER_ADDR")
    if address is None or _loopback(address):
        shown = f"MASTER_ADDR={address}" if address is not None else "MASTER_ADDR unset (default 127.0.0.1)"
        yield LOOPBACK.diag(f"NNODES={nnodes} with {shown}: every node looks for the master on itself and the "
                            "rendezvous hangs. export MASTER_ADDR=<the NODE_RANK=0 node's address>")
    if node_rank is None and env.get("RANK") not in (None, ""):
        yield RANK_FOR_NODE_RANK.diag(f"RANK={env['RANK']} is set but NODE_RANK is not: llamafactory-cli passes "
                                      "NODE_RANK (default 0) to torchrun and never reads RANK, so every node starts "
                                      "as node 0. export NODE_RANK=$RANK")
    if node_rank is not None and node_rank >= nnodes:
        yield NODE_RANK_RANGE.diag(f"NODE_RANK={node_rank} with NNODES={nnodes}: torchrun numbers nodes 0 to "
                                   f"{nnodes - 1}, so this node never joins and the others wait for it")
    low, high = env.get("MIN_NNODES"), env.get("MAX_NNODES")
    if (low is None) != (high is None) or (low is not None and not env.get("RDZV_ID")):
        given = "MIN_NNODES" if low is not None else "MAX_NNODES"
        why = (f"only {given} is set: the elastic range needs both MIN_NNODES and MAX_NNODES"
               if (low is None) != (high is None) else "without RDZV_ID there is no elastic launch")
        yield ELASTIC_HALF.diag(f"{why}, so llamafactory-cli starts torchrun with the fixed NNODES={nnodes} and the "
                                "range is ignored")
    if not env_enabled("FORCE_TORCHRUN", env) and devices is not None and devices[0] <= 1 and nproc in (None, 1):
        yield ALONE.diag(f"NNODES={nnodes} but this node has {devices[0]} device ({devices[1]}) and FORCE_TORCHRUN "
                         "is off: llamafactory-cli starts no torchrun, so every node trains alone. export "
                         "FORCE_TORCHRUN=1")


# -- launch scripts ------------------------------------------------------------------------------------------------
_SCRIPT_SUFFIXES = (".sh", ".bash")
_SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", "site-packages"}
_MAX_SCRIPT = 1 << 20


def launch_scripts(folder: str, depth: int = 3) -> List[str]:
    """Shell scripts under the project folder (a few levels deep), where launch commands live."""
    found = []
    root_depth = os.path.abspath(folder).rstrip(os.sep).count(os.sep)
    for here, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        if os.path.abspath(here).count(os.sep) - root_depth >= depth:
            dirs[:] = []
        found += [os.path.join(here, n) for n in sorted(names) if n.endswith(_SCRIPT_SUFFIXES)]
    return found


def _commands(text: str) -> Iterator[tuple]:
    """(line number, words) of each command in a shell script, continuation lines joined."""
    joined, start = "", None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if start is None:
            start = number
        if stripped.endswith("\\"):
            joined += stripped[:-1] + " "
            continue
        joined += stripped
        if joined and not joined.startswith("#"):
            for part in re.split(r"&&|\|\||;|\|", joined):
                try:
                    words = shlex.split(part, comments=True)
                except ValueError:
                    words = part.split()
                if words:
                    yield start, words
        joined, start = "", None


def deepspeed_yaml_line(words: List[str]) -> bool:
    """A `deepspeed [launcher options] script.py CONFIG.yaml ...` command without --no_local_rank."""
    while words and (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]) or words[0] in ("nohup", "time", "exec",
                                                                                            "env")):
        words = words[1:]
    if not words or os.path.basename(words[0]) != "deepspeed" or "--no_local_rank" in words:
        return False
    script = next((i for i, w in enumerate(words) if w.endswith(".py")), None)
    if script is None or script + 1 >= len(words):
        return False
    return words[script + 1].endswith((".yaml", ".yml"))


def script_findings(folder: str) -> List:
    out = []
    for path in launch_scripts(folder):
        try:
            if os.path.getsize(path) > _MAX_SCRIPT:
                continue
            with guarded.open_regular(path, "r", encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        if "deepspeed" not in text:
            continue
        for line, words in _commands(text):
            if deepspeed_yaml_line(words):
                out.append(DEEPSPEED_LAUNCHER.diag(
                    "the DeepSpeed launcher passes `--local_rank=N` before the YAML, so LLaMA-Factory never reads "
                    "the YAML and stops with `Please provide `model_name_or_path`.` on every rank. Launch with "
                    "`FORCE_TORCHRUN=1 llamafactory-cli train CONFIG.yaml`, or add "
                    "--no_local_rank", file=path, line=line, column=1))
    return out
