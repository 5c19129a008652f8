"""Report the training environment: package versions against the known-good table, devices, bf16 support,
the environment variables LLaMA-Factory and torchrun read, and whether a model hub answers (short timeout).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
from typing import Dict, List, Optional

# Known-good versions for Ascend NPUs (LLaMA-Factory's NPU guide); on CUDA any recent torch works.
KNOWN_GOOD = {
    "CANN": "8.0.RC1",
    "torch": "2.1.0",
    "torch-npu": "2.1.0 (recommended 2.1.0.post3)",
    "deepspeed": "0.13.2",
}
PACKAGES = ("torch", "transformers", "peft", "accelerate", "deepspeed", "torch-npu", "llamafactory")
ENV_VARS = ("CUDA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES", "NNODES", "NODE_RANK", "NPROC_PER_NODE",
            "MASTER_ADDR", "MASTER_PORT", "FORCE_TORCHRUN", "USE_MODELSCOPE_HUB", "USE_OPENMIND_HUB", "HF_ENDPOINT",
            "HF_HUB_OFFLINE", "HF_HOME", "ASCEND_HOME_PATH")
HUBS = {"huggingface": "https://huggingface.co", "modelscope": "https://www.modelscope.cn",
        "modelers": "https://modelers.cn"}


def add_arguments(parser) -> None:
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--no-network", action="store_true", help="do not try to reach the model hubs")
    parser.add_argument("--timeout", type=float, default=3.0, metavar="S", help="seconds per hub (default 3)")


def version(package: str) -> Optional[str]:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def cann_version(env=os.environ) -> Optional[str]:
    """CANN's version from its install info (ASCEND_HOME_PATH, else the default install place)."""
    homes = [env.get("ASCEND_HOME_PATH"), env.get("ASCEND_TOOLKIT_HOME"), "/usr/local/Ascend/ascend-toolkit/latest"]
    for home in filter(None, homes):
        for rel in ("version.cfg", "compiler/version.info", "arm64-linux/ascend_toolkit_install.info",
                    "x86_64-linux/ascend_toolkit_install.info"):
            path = os.path.join(home, rel)
            try:
                with open(path, encoding="utf-8") as f:
                    for line in f:
                        key, _, value = line.strip().partition("=")
                        if key.strip().lower() in ("version", "toolkit_version", "package_version"):
                            return value.strip().strip('"')
            except OSError:
                continue
    return None


def versions_table(machine_kind: str) -> List[Dict[str, str]]:
    rows = [{"name": "Python", "version": platform.python_version(), "known_good": "3.9+", "status": "ok"}]
    for package in PACKAGES:
        found = version(package)
        good = KNOWN_GOOD.get(package, "")
        status = "missing" if found is None else "ok"
        if found and good and machine_kind == "npu" and not found.startswith(good.split(" ")[0]):
            status = "differs from the Ascend known-good version"
        if package in ("deepspeed", "torch-npu", "llamafactory") and found is None:
            status = "not installed (optional)"
        rows.append({"name": package, "version": found or "-", "known_good": good, "status": status})
    cann = cann_version()
    rows.append({"name": "CANN", "version": cann or "-", "known_good": KNOWN_GOOD["CANN"],
                 "status": "ok" if cann and cann.startswith(KNOWN_GOOD["CANN"]) else
                 ("differs" if cann else ("missing" if machine_kind == "npu" else "not installed (optional)"))})
    return rows


def hub_reachable(url: str, timeout: float) -> str:
    import urllib.request

    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return f"yes ({response.status})"
    except Exception as err:  # offline, DNS, proxy, TLS: all mean "not from here"
        reason = getattr(err, "reason", None) or err
        return f"no ({type(reason).__name__ if not isinstance(reason, str) else reason})"


def collect(no_network: bool, timeout: float) -> dict:
    from lfgate.runner import devices
    from lfgate.sanitize import redact  # HF_ENDPOINT=https://user:pass@... is pasted into bug reports

    machine = devices.detect()
    info = {
        "platform": platform.platform(),
        "packages": versions_table(machine.kind),
        "devices": {"kind": machine.kind, "count": machine.count, "names": machine.names, "bf16": machine.bf16,
                    "fp16": machine.fp16, "notes": machine.notes},
        "env": {name: redact(os.environ[name]) for name in ENV_VARS if name in os.environ},
    }
    info["llamafactory_pins"] = _pins()
    if not no_network:
        endpoint = os.environ.get("HF_ENDPOINT")
        hubs = dict(HUBS, **({"huggingface": endpoint} if endpoint else {}))
        info["hubs"] = {name: hub_reachable(url, timeout) for name, url in hubs.items()}
    return info


def _pins() -> dict:
    """The installed stack against the ranges the targeted LLaMA-Factory enforces at start-up (lf_pins.py)."""
    from lfgate import lf_pins
    from lfgate.validator import train_schema

    target, source = train_schema.target_version(None)
    return {"target": target, "source": source, "problems": lf_pins.stack_problems(target)}


def run(args) -> int:
    info = collect(args.no_network, args.timeout)
    if args.format == "json":
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)
    table = Table("component", "installed", "known good (Ascend)", "status", title="lfgate doctor", box=None)
    for row in info["packages"]:
        table.add_row(row["name"], row["version"], row["known_good"], row["status"])
    console.print(table)
    d = info["devices"]
    console.print(f"devices: {d['kind']} x{d['count']} ({', '.join(d['names'])}); bf16: {'yes' if d['bf16'] else 'no'}")
    for note in d["notes"]:
        console.print(f"  warning: {note}")
    console.print("environment: " + (", ".join(f"{k}={v}" for k, v in info["env"].items()) or "(none of "
                                     + ", ".join(ENV_VARS[:6]) + ", ... set)"))
    for problem in info["llamafactory_pins"]["problems"]:
        console.print(f"  warning: {problem}")
    for name, state in info.get("hubs", {}).items():
        console.print(f"hub {name}: {state}")
    return 0
