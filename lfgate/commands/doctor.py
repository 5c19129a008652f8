"""Report the training environment: package versions against the known-good table, devices, bf16 support,
the environment variables LLaMA-Factory and torchrun read, and whether a model hub answers (short timeout).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
from typing import Any, Dict, List, Optional

from lfgate.errors import UsageError

# Known-good versions for Ascend NPUs: the newest row of runner/ascend.py (LLaMA-Factory's docker-npu image);
# the older rows are still accepted. On CUDA any recent torch works.
from lfgate.runner.ascend import KNOWN_GOOD as ASCEND_ROWS, cann_version  # noqa: E402
from lfgate.runner.devices import Probe  # noqa: E402  (no torch at import)

KNOWN_GOOD = {name: ASCEND_ROWS[0][name] for name in ("CANN", "torch", "torch-npu", "deepspeed", "Python")}
PACKAGES = ("torch", "transformers", "peft", "accelerate", "deepspeed", "torch-npu", "llamafactory")
ENV_VARS = ("CUDA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES", "NNODES", "NODE_RANK", "NPROC_PER_NODE",
            "MASTER_ADDR", "MASTER_PORT", "FORCE_TORCHRUN", "USE_MODELSCOPE_HUB", "USE_OPENMIND_HUB", "HF_ENDPOINT",
            "HF_HUB_OFFLINE", "HF_HOME", "ASCEND_HOME_PATH")


def add_arguments(parser) -> None:
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--no-network", action="store_true", help="do not try to reach the model hubs")
    parser.add_argument("--timeout", type=float, default=3.0, metavar="S", help="seconds per hub (default 3)")
    parser.add_argument("--target", metavar="KIND",
                        help="the devices training needs here (npu, cuda or a part such as 910b4): exit 1 when this "
                             "machine cannot train on them (no usable device, or a torch / torch-npu / CANN triple "
                             "that does not work together)")


def version(package: str) -> Optional[str]:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _known_good_match(name: str, found: str) -> bool:
    """Whether an installed version matches the known-good row of any LLaMA-Factory release (newest first)."""
    from lfgate.runner.ascend import base_version

    for row in ASCEND_ROWS:
        good = row.get(name, "")
        if good.startswith((">", "<", "=")):  # a range (deepspeed)
            return True
        if name == "Python" and good.endswith("+"):
            return tuple(map(int, found.split(".")[:2])) >= tuple(map(int, good[:-1].split(".")[:2]))
        if found == good or (name != "CANN" and base_version(found) == base_version(good)) \
                or (name in ("CANN", "Python") and found.startswith(good)):
            return True
    return False


def versions_table(machine_kind: str, npu_wanted: bool = False) -> List[Dict[str, str]]:
    """npu_wanted: the machine has NPUs, or the environment, the installed torch-npu or --target asks for them."""
    from lfgate.runner import ascend

    npu_wanted = npu_wanted or machine_kind == "npu"
    python = platform.python_version()
    rows = [{"name": "Python", "version": python, "known_good": KNOWN_GOOD["Python"],
             "status": "ok" if not npu_wanted or _known_good_match("Python", python)
             else "differs from the Ascend known-good versions"}]
    cann = cann_version()
    torch_version, npu_version = version("torch"), version("torch-npu")
    for package in PACKAGES:
        found = version(package)
        good = KNOWN_GOOD.get(package, "")
        status = "missing" if found is None else "ok"
        if found and good and npu_wanted and not _known_good_match(package, found):
            status = "differs from the Ascend known-good versions"
        if package in ("torch", "torch-npu") and found and npu_wanted:
            clash = (ascend.torch_npu_mismatch(torch_version, npu_version) if npu_version
                     else ascend.torch_without_torch_npu(torch_version))
            if clash or (package == "torch-npu" and ascend.cann_mismatch(npu_version, cann)):
                status = ("does not match torch-npu" if package == "torch" and npu_version else
                          "no torch-npu release for it" if package == "torch" else "does not match torch or CANN")
        if package in ("deepspeed", "torch-npu", "llamafactory") and found is None:
            status = "missing" if package == "torch-npu" and npu_wanted else "not installed (optional)"
        rows.append({"name": package, "version": found or "-", "known_good": good, "status": status})
    rows.append({"name": "CANN", "version": cann or "-", "known_good": KNOWN_GOOD["CANN"],
                 "status": "ok" if cann and _known_good_match("CANN", cann) else
                 ("differs" if cann else ("missing" if npu_wanted else "not installed (optional)"))})
    return rows


def ascend_checks(machine, env=os.environ, probe=None, wanted: bool = False) -> List[str]:
    """The Ascend problems `train` also stops on (runner/ascend.py), for a machine that has or asks for NPUs
    (wanted: --target npu)."""
    from lfgate.runner import ascend

    if machine.kind != "npu" and not env.get("ASCEND_RT_VISIBLE_DEVICES") and not wanted:
        return []
    found = [ascend.cann_not_sourced(env), *ascend.stack_problems(version("torch"), version("torch-npu"),
                                                                   cann_version(env))]
    if machine.kind == "npu":
        found += [ascend.chip_problem(name) for name in sorted(set(machine.names))]
    else:
        why = getattr(probe, "npu_problem", None) or ("torch-npu is not installed" if version("torch-npu") is None
                                                      else "torch-npu sees none")
        asked = "ASCEND_RT_VISIBLE_DEVICES is set" if env.get("ASCEND_RT_VISIBLE_DEVICES") else "--target asks for NPUs"
        found.append(f"{asked} but no NPU is usable here ({why})")
    nnodes = env.get("NNODES", "1")
    found.append(ascend.hccl_interface_missing(env, int(nnodes) if str(nnodes).isdigit() else 1))
    if machine.kind == "npu" and probe is not None:
        found += ascend.stale_holders(probe.npu_processes() or [], None, own_pids=(os.getpid(),))
    return [f for f in found if f]


def hub_reachable(url: str, timeout: float) -> str:
    import urllib.request

    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return f"yes ({response.status})"
    except Exception as err:  # offline, DNS, proxy, TLS: all mean "not from here"
        reason = getattr(err, "reason", None) or err
        return f"no ({type(reason).__name__ if not isinstance(reason, str) else reason})"


class _ChildProbe(Probe):
    """The machine as devices.Probe sees it, except that the NPUs are asked in a child process with a deadline
    (ascend.probe_npu): `import torch_npu` can crash or hang, and the doctor must still report."""

    def __init__(self):
        super().__init__()
        self.npu_problem: Optional[str] = None
        self._npu: Optional[dict] = None

    def npu(self):
        from lfgate.runner import ascend, devices

        self._npu, self.npu_problem = ascend.probe_npu()
        if not self._npu or self._npu["count"] < 1:
            self.npu_problem = self.npu_problem or "torch-npu sees no NPU"
            return None
        names = self._npu["names"]
        return self._npu["count"], names, all(devices.is_910b(n) for n in names)

    def memory(self, kind: str) -> Optional[int]:
        if kind == "npu":
            return (self._npu or {}).get("memory") or None
        return super().memory(kind)


def _target_kind(spec: Optional[str]) -> Optional[str]:
    if not spec:
        return None
    from lfgate.runner import devices

    try:
        return devices.parse_target(spec).machine.kind
    except ValueError as err:
        raise UsageError(str(err).replace("--target", "doctor --target", 1)) from None


def collect(no_network: bool, timeout: float, target: Optional[str] = None) -> dict:
    from lfgate.runner import devices
    from lfgate.sanitize import redact  # HF_ENDPOINT=https://user:pass@... is pasted into bug reports

    wants = _target_kind(target)
    probe = _ChildProbe()
    machine = devices.detect(probe)
    npu_wanted = wants == "npu" or machine.kind == "npu" or bool(os.environ.get("ASCEND_RT_VISIBLE_DEVICES")) \
        or version("torch-npu") is not None
    from lfgate.devices_env import device_count

    count = device_count(present=(lambda: (machine.count, machine.kind)) if machine.kind != "cpu" else None)
    info: Dict[str, Any] = {
        "platform": platform.platform(),
        "packages": versions_table(machine.kind, npu_wanted),
        "devices": {"kind": machine.kind, "count": machine.count, "names": machine.names, "bf16": machine.bf16,
                    "fp16": machine.fp16, "notes": machine.notes + count.notes,
                    "run_devices": count.count, "run_devices_source": count.source},
        "ascend": {"known_good": ASCEND_ROWS, "problems": ascend_checks(machine, probe=probe, wanted=wants == "npu")},
        "env": {name: redact(os.environ[name]) for name in ENV_VARS if name in os.environ},
    }
    if wants:
        info["target"] = _verdict(wants, machine, info["ascend"]["problems"], probe)
    info["llamafactory_pins"] = _pins()
    if not no_network:
        from lfgate import hub_cache
        from lfgate.runner.hub import other_endpoint

        # the endpoints the downloads use: HF_ENDPOINT, MODELSCOPE_ENDPOINT/MODELSCOPE_DOMAIN, OPENMIND_HUB_ENDPOINT
        hubs = {"huggingface": os.environ.get("HF_ENDPOINT") or "https://huggingface.co",
                "modelscope": other_endpoint(hub_cache.MODELSCOPE_CACHE),
                "modelers": other_endpoint(hub_cache.OPENMIND_CACHE)}
        info["hubs"] = {name: hub_reachable(url, timeout) for name, url in hubs.items()}
    return info


def _verdict(wants: str, machine, ascend_problems: List[str], probe) -> dict:
    """Whether this machine can train on the --target kind: its devices are here and usable."""
    problems: List[str] = []
    if wants == "npu":
        problems = list(ascend_problems)  # "no NPU is usable here" among them when none is
    elif wants == "cuda" and machine.kind != "cuda":
        problems = ["torch sees no CUDA device (a CPU build of torch, or no driver)"]
    return {"kind": wants, "can_train": not problems, "problems": problems}


def _pins() -> dict:
    """The installed stack against the ranges the targeted LLaMA-Factory enforces at start-up (lf_pins.py)."""
    from lfgate import lf_pins
    from lfgate.validator import train_schema

    target, source = train_schema.target_version(None)
    return {"target": target, "source": source, "problems": lf_pins.stack_problems(target)}


def run(args) -> int:
    from lfgate.sanitize import safe_tree

    info = safe_tree(collect(args.no_network, args.timeout, args.target))  # escaped and redacted, as every report
    verdict = info.get("target")
    code = 1 if verdict and not verdict["can_train"] else 0
    if args.format == "json":
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return code
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True, emoji=False, highlight=False, markup=False)  # versions, paths, env values
    table = Table("component", "installed", "known good (Ascend, newest)", "status", title="lfgate doctor", box=None)
    for row in info["packages"]:
        table.add_row(row["name"], row["version"], row["known_good"], row["status"])
    console.print(table)
    d = info["devices"]
    console.print(f"devices: {d['kind']} x{d['count']} ({', '.join(d['names'])}); bf16: {'yes' if d['bf16'] else 'no'}")
    console.print(f"a run would use {d['run_devices']} device(s) ({d['run_devices_source']})")
    for note in d["notes"]:
        console.print(f"  warning: {note}")
    for problem in info["ascend"]["problems"]:
        console.print(f"  ascend: {problem}")
    if d["kind"] == "npu" or info["ascend"]["problems"]:
        rows = Table("known good for Ascend", "CANN", "Python", "torch", "torch-npu", "deepspeed", box=None)
        for row in info["ascend"]["known_good"]:
            rows.add_row(row["source"], row["CANN"], row["Python"], row["torch"], row["torch-npu"], row["deepspeed"])
        console.print(rows)
    console.print("environment: " + (", ".join(f"{k}={v}" for k, v in info["env"].items()) or "(none of "
                                     + ", ".join(ENV_VARS[:6]) + ", ... set)"))
    for problem in info["llamafactory_pins"]["problems"]:
        console.print(f"  warning: {problem}")
    for name, state in info.get("hubs", {}).items():
        console.print(f"hub {name}: {state}")
    if verdict:
        kind = verdict["kind"].upper()
        console.print(f"target {verdict['kind']}: " + ("this machine can train on it" if verdict["can_train"] else
                                                       f"this machine cannot train on {kind} devices: "
                                                       + "; ".join(verdict["problems"])))
    return code
