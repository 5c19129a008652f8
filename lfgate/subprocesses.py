"""How lfgate starts another process without running the project's code (issue 21).

Python puts the script's folder first on `sys.path`, and for `python -c` and `python -m` that is the working
directory: a `json.py`, `runpy.py` or `torch/` committed in the project would be imported instead of the real
module, before any check of ours. So:

- a Python child runs `BOOT` with `-c`: it drops that first entry before importing anything (the modules Python
  imports at start-up come from the standard library; `sitecustomize` and `usercustomize` are looked up before the
  working directory is added), then runs the module it is given with `runpy`. `PYTHONSAFEPATH=1` (3.11+) keeps
  the same for the processes those children start (torchrun's workers, data loaders).
- a probe of another interpreter (`lf_pins`) also runs in an empty temporary folder, without `PYTHONPATH` (its
  entries are passed as data and read as package metadata only), and never imports a package to learn its version.
- an executable is looked up on `PATH` without its relative entries (`.`, `bin`, empty): those name the project.

Every `subprocess` call in lfgate goes through this module (tests/test_hostile_faults.py greps for others).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from typing import Iterator, List, Mapping, Optional, Sequence

# Run the module named by argv[1] as __main__, argv[2:] its arguments, with the working directory off sys.path.
BOOT = ("import sys\n"
        "if sys.path and sys.path[0] in ('', '.'):\n"
        "    del sys.path[0]\n"
        "import runpy\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n")
# The same first lines for a probe given as code.
SAFE_PATH = "import sys\nif sys.path and sys.path[0] in ('', '.'):\n    del sys.path[0]\n"


def module_argv(python: str, module: str, args: Sequence[str] = (), unbuffered: bool = False) -> List[str]:
    """`python -m module args` without the working directory on sys.path."""
    return [python, *(["-u"] if unbuffered else []), "-c", BOOT, module, *args]


def shown(argv: Sequence[str]) -> str:
    """The command as a person reads it: `-c BOOT module` shown as `-m module`."""
    words = list(argv)
    out: List[str] = []
    for i, word in enumerate(words):
        if word == BOOT and i > 0 and words[i - 1] == "-c":
            out[-1] = "-m"
            continue
        out.append(word)
    return " ".join(out)


def probe_argv(python: str, code: str, args: Sequence[str] = ()) -> List[str]:
    """`python -c code args`, the working directory dropped from sys.path before code runs."""
    return [python, "-c", SAFE_PATH + code, *args]


def child_env(env: Optional[Mapping[str, str]] = None) -> dict:
    """The environment for a Python child: PYTHONSAFEPATH=1, so its own children keep the working directory off
    sys.path too (Python 3.11+; older ones ignore it)."""
    return {**(os.environ if env is None else env), "PYTHONSAFEPATH": "1"}


def probe_env(env: Optional[Mapping[str, str]] = None) -> dict:
    """A probe's environment: no PYTHONPATH (its folders are read as data), no PYTHONSTARTUP/PYTHONINSPECT."""
    base = dict(os.environ if env is None else env)
    for name in ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONINSPECT"):
        base.pop(name, None)
    base["PYTHONSAFEPATH"] = "1"
    return base


def python_path_entries(env: Optional[Mapping[str, str]] = None) -> List[str]:
    """PYTHONPATH's folders, absolute (relative ones as the launch directory resolves them)."""
    value = (os.environ if env is None else env).get("PYTHONPATH") or ""
    return [os.path.abspath(p) for p in value.split(os.pathsep) if p]


@contextmanager
def neutral_folder() -> Iterator[str]:
    """An empty temporary folder to run a probe in: nothing there to import."""
    with tempfile.TemporaryDirectory(prefix="lfgate-probe-") as folder:
        yield folder


def which(name: str, env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """shutil.which over PATH's absolute folders only: a relative entry (`.`, `bin`, an empty one) names the
    project, and a committed `llamafactory-cli` or `npu-smi` there must not run."""
    path = (os.environ if env is None else env).get("PATH", os.defpath)
    absolute = os.pathsep.join(p for p in path.split(os.pathsep) if p and os.path.isabs(p))
    return shutil.which(name, path=absolute) if absolute else None


def run(argv: Sequence[str], **options) -> subprocess.CompletedProcess:
    """subprocess.run for an argv built here (never a shell)."""
    return subprocess.run(list(argv), **options)


def call(argv: Sequence[str], **options) -> int:
    """subprocess.call for an argv built here (never a shell): the child's exit code."""
    return subprocess.call(list(argv), **options)


Error = subprocess.SubprocessError
TimeoutExpired = subprocess.TimeoutExpired  # a probe past its deadline (an Error too)
