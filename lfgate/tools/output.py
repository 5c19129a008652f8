"""Writing files safely: never over an existing file without --force, never half-written (temp file + replace)."""

from __future__ import annotations

import os
import tempfile

from lfgate.errors import UsageError


def temp_path_for(path: str) -> str:
    """A new empty temp file beside path, keeping its extension (the checker decides by extension)."""
    folder = os.path.dirname(os.path.abspath(path))
    base, ext = os.path.splitext(os.path.basename(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=folder)
    except OSError as err:
        raise UsageError(f"cannot write in {folder}: {err.strerror}") from None
    os.close(fd)
    return temp


def refuse_overwrite(path: str, force: bool) -> None:
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")


def atomic_write(path: str, text: str, *, force: bool = False) -> None:
    """Write text (UTF-8, newlines as given) to path through a temp file and os.replace."""
    refuse_overwrite(path, force)
    temp = temp_path_for(path)
    try:
        with open(temp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        _keep_mode(path, temp)
        os.replace(temp, path)
    except OSError as err:
        _remove(temp)
        raise UsageError(f"cannot write {path}: {err.strerror}") from None


def _keep_mode(path: str, temp: str) -> None:
    # mkstemp creates 0600 files; keep the existing file's mode, else the usual 0666 & ~umask.
    if os.path.exists(path):
        os.chmod(temp, os.stat(path).st_mode & 0o7777)
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)


def commit(temp: str, path: str) -> None:
    """Move a finished temp file into place (atomic on one file system)."""
    try:
        _keep_mode(path, temp)
        os.replace(temp, path)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}") from None


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


remove = _remove
