"""The one way lfgate opens a file it did not write itself (issue 21): a project's data, configs, model-folder
files, registries, baselines. `safe_write.py` is its twin for writing.

- Regular files only, decided on the open file itself (``fstat``), never by a name check before it: a FIFO
  named ``config.json`` would block the check forever, ``/dev/zero`` would never end. The open never blocks
  (``O_NONBLOCK``), so a FIFO is refused instead of waited on.
- Never a file of the operating system (``/proc``, ``/sys``, ``/dev``), whatever link leads there: a link to
  ``/proc/self/environ`` would put the CI's secrets in a report.
- Size-capped where the caller names a limit: a 10 GB ``config.json`` is refused before it is read, and a file
  that grows while it is read stops at the limit.

Links are followed on reading (datasets and models are often linked in); what a link may reach is the callers'
rule (DF005). Every ``open(`` elsewhere in lfgate is allow-listed, with its reason, in tests/test_hostile_faults.py.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from typing import IO, Any, Dict, Optional

PSEUDO_FILE_SYSTEMS = ("/proc", "/sys", "/dev")
JSON_LIMIT = 64 << 20  # a model folder's config.json, tokenizer_config.json...: a few KB to a few MB in practice


class NotRegular(OSError):
    """A path that is not a regular file (a folder, FIFO, device or socket), or a file of the operating system."""


class TooLarge(OSError):
    """A file over the limit its caller allows."""


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def system_file(path: str) -> bool:
    """Whether path (after every link) lies in /proc, /sys or /dev."""
    real = os.path.realpath(path)
    return any(_under(real, top) for top in PSEUDO_FILE_SYSTEMS)


def _flags() -> int:
    return os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def open_fd(path: str, limit: Optional[int] = None) -> int:
    """A read-only descriptor of a regular file (raises NotRegular, TooLarge or the OSError of the open)."""
    if system_file(path):
        raise NotRegular(errno.EACCES, "a file of the operating system, never read", path)
    fd = os.open(path, _flags())
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(errno.EINVAL, "not a regular file (a folder, pipe, device or socket)", path)
        if limit is not None and st.st_size > limit:
            raise TooLarge(errno.EFBIG, f"{st.st_size:,} bytes, over the {limit:,} lfgate reads", path)
        _blocking(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _blocking(fd: int) -> None:
    """Clear O_NONBLOCK again (it only served the open): a regular file reads the same either way."""
    try:
        import fcntl
    except ImportError:  # Windows: no O_NONBLOCK was set
        return
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)


def open_regular(path: str, mode: str = "rb", limit: Optional[int] = None, encoding: Optional[str] = None,
                 errors: Optional[str] = None, newline: Optional[str] = None) -> IO[Any]:
    """The file object of a regular file, opened for reading ("rb" or "r")."""
    if mode not in ("rb", "r"):
        raise ValueError(f"guarded.open_regular reads only, not {mode!r}")
    fd = open_fd(path, limit)
    try:
        if mode == "rb":
            return open(fd, "rb")  # the caller closes it
        return open(fd, encoding=encoding or "utf-8", errors=errors, newline=newline)
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str, limit: int) -> bytes:
    """The whole file, at most limit bytes (TooLarge beyond, also when it grows while read)."""
    with open_regular(path, "rb", limit) as f:
        data: bytes = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(errno.EFBIG, f"over the {limit:,} bytes lfgate reads", path)
    return data


def read_text(path: str, limit: int, encoding: str = "utf-8", errors: str = "strict") -> str:
    return read_bytes(path, limit).decode(encoding, errors)


def read_json(path: str, limit: int = JSON_LIMIT) -> Any:
    """The JSON value of a small file, or None when it is missing, not a regular file, too large, not UTF-8, not
    JSON or nested past the parser's depth."""
    try:
        return json.loads(read_bytes(path, limit).decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def read_json_object(path: str, limit: int = JSON_LIMIT) -> Optional[Dict[str, Any]]:
    """read_json, when the value is an object."""
    value = read_json(path, limit)
    return value if isinstance(value, dict) else None
