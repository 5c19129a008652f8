"""Writing files safely. Every file lfgate writes (--output-file, the baseline, stats --plot, convert's output,
dataset_info.json) goes through ``atomic_write``: a temp file in the same folder, fsync, ``os.replace``. A
failure (a full disk, an encoding error, an interrupt) leaves the old file as it was and no temp file behind.
``os.replace`` replaces a link at the target rather than writing through it, and ``locked`` serialises
read-modify-write edits (the registry) on the file itself. ``readers/guarded.py`` is the reading twin.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from contextlib import contextmanager

from lfgate.errors import UsageError
from lfgate.readers import guarded


def temp_path_for(path: str) -> str:
    """A new empty temp file beside path, keeping its extension (the checker decides by extension)."""
    folder = os.path.dirname(os.path.abspath(path))
    base, ext = os.path.splitext(os.path.basename(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=folder)
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot write in {folder}: {getattr(err, 'strerror', None) or err}") from None
    os.close(fd)
    return temp


def write_temp(temp: str, text: str) -> None:
    """Fill a temp file temp_path_for made (mkstemp created it: nothing else can be there) with UTF-8 text."""
    with open(temp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def refuse_overwrite(path: str, force: bool) -> None:
    if os.path.lexists(path) and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")


def refuse_special(path: str) -> None:
    """Never write through a symlink, nor over a folder, pipe, device or socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(f"{path} is a symlink (to {os.path.realpath(path)}); lfgate does not write through links: "
                         "name the file itself")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path} is not a regular file; name a file to write")


def refuse_read_only(path: str) -> None:
    """A file its owner made read-only stays untouched: replacing it would bypass the protection."""
    # The mode bits as well as access(): root may write anything, but a 444 file still says "do not edit".
    if os.path.exists(path) and (not os.stat(path).st_mode & 0o222 or not os.access(path, os.W_OK)):
        raise UsageError(f"{path} is read-only; make it writable (chmod u+w) if lfgate should edit it")


def _fsync(fd: int) -> None:
    os.fsync(fd)


@contextmanager
def atomic_file(path: str, mode: str = "w", *, force: bool = False):
    """Yield a file object; on a clean exit its content replaces path atomically, keeping path's mode and owner.
    On any exception the temp file is removed and path is untouched."""
    refuse_overwrite(path, force)
    refuse_read_only(path)
    temp = temp_path_for(path)
    try:
        encoding, newline = (None, None) if "b" in mode else ("utf-8", "")  # binary mode takes neither
        with open(temp, mode, encoding=encoding, newline=newline) as f:
            yield f
    except OSError as err:
        _remove(temp)
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        _remove(temp)
        raise
    commit(temp, path)


def atomic_write(path: str, data, *, force: bool = False) -> None:
    """Write text (UTF-8, newlines as given) or bytes to path atomically."""
    with atomic_file(path, "wb" if isinstance(data, bytes) else "w", force=force) as f:
        f.write(data)


def _keep_mode(path: str, temp: str) -> None:
    # mkstemp creates 0600 files; keep the existing file's mode and owner, else the usual 0666 & ~umask.
    if os.path.exists(path):
        st = os.stat(path)
        os.chmod(temp, st.st_mode & 0o7777)
        if hasattr(os, "chown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(temp, st.st_uid, st.st_gid)
            except OSError:  # only root may give a file away; the group may still be kept
                try:
                    os.chown(temp, -1, st.st_gid)
                except OSError:
                    pass
    else:
        os.chmod(temp, umask_mode())


def umask_mode() -> int:
    """The mode a plain open() gives a new file: 0666 & ~umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


TEMP_FILE_MODE = 0o600  # what a temp-file-then-rename writer (mkstemp, Rust's tempfile) leaves


def give_umask_mode(path: str, since: float = 0.0) -> bool:
    """Give a regular file that a temp-file writer left 0600 (and modified since `since`) the umask mode, never
    through a link (O_NOFOLLOW, then fchmod on what was opened). Whether it changed."""
    if not hasattr(os, "fchmod"):  # Windows has no such mode bits
        return False
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:  # a link (ELOOP), or gone
        return False
    try:
        st = os.fstat(fd)
        wanted = umask_mode()
        if (not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != TEMP_FILE_MODE or wanted == TEMP_FILE_MODE
                or st.st_mtime < since):
            return False
        os.fchmod(fd, wanted)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _sync_folder(path: str) -> None:
    """Make the rename itself durable (best effort: not every file system lets a folder be opened)."""
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(temp: str, path: str) -> None:
    """Move a finished temp file into place (atomic on one file system), flushed to disk first."""
    try:
        refuse_read_only(path)
    except UsageError:
        _remove(temp)
        raise
    try:
        with open(temp, "rb+") as f:
            _fsync(f.fileno())
        _keep_mode(path, temp)
        os.replace(temp, path)
    except OSError as err:
        _remove(temp)
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from None
    _sync_folder(path)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


remove = _remove


# -- one edit at a time ---------------------------------------------------------------------------------------
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@contextmanager
def locked(path: str):
    """Hold an exclusive lock on the file path itself (not through a link) for a read-modify-write that ends in
    atomic_write. No lock file is left for `git add -A` to commit. The lock is taken on the open file, then the
    file is checked to still be the one at path (the run before replaced it, so waiting there locked the old
    one): otherwise it is taken again. A missing file is created empty with O_EXCL (an empty registry reads as
    `{}`) and removed again when the edit wrote nothing. On NFS, flock is emulated with fcntl byte-range locks,
    which need the file open for writing: it is."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; each edit stays atomic, parallel runs are not serialised
        yield
        return
    created = None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | _NOFOLLOW)
        except FileNotFoundError:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666)
            except FileExistsError:  # a parallel run created it first: lock that one
                continue
            except OSError as err:
                raise UsageError(f"cannot create {path}: {err.strerror}") from None
            created = os.fstat(fd)
        except OSError as err:
            why = "it is a symlink" if os.path.islink(path) else err.strerror
            raise UsageError(f"cannot lock {path} for editing: {why}") from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        mine = os.fstat(fd)
        try:
            now = os.lstat(path)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
            break
        os.close(fd)  # replaced (or removed) while we waited: lock the file that is there now
        created = None
    try:
        yield
    finally:
        if created is not None:
            _remove_if_untouched(path, created)
        os.close(fd)


def _remove_if_untouched(path: str, created) -> None:
    """Remove the empty file locked() created when the edit never replaced it."""
    try:
        now = os.lstat(path)
    except OSError:
        return
    if (now.st_dev, now.st_ino) == (created.st_dev, created.st_ino) and now.st_size == 0:
        _remove(path)

# -- is this file lfgate's own output? ------------------------------------------------------------------------
_HEAD = 1 << 16
_OWN_MARKERS = ('"tool": "lfgate"', '"tool":"lfgate"', '"name": "lfgate"', '<testsuites name="lfgate"')
_OWN_LINE = re.compile(r"^(::(error|warning|notice) .*title=lfgate |.*: [A-Z]{2,4}\d{3} |(ok|failed): \d+ errors, )")


def is_own_output(path: str) -> bool:
    """Whether an existing file looks like a report or baseline lfgate wrote (so rewriting it is expected).
    An empty file counts as one; anything lfgate cannot read does not."""
    try:
        with guarded.open_regular(path) as f:
            head = f.read(_HEAD)
            size = os.fstat(f.fileno()).st_size
            tail = head if size <= _HEAD else (f.seek(size - 4096), f.read())[1]
    except OSError:
        return False
    if not head.strip():
        return True
    text, last = head.decode("utf-8", "replace"), tail.decode("utf-8", "replace")
    if any(marker in text for marker in _OWN_MARKERS):
        return True
    lines = [line for line in last.splitlines() if line.strip()]
    return bool(lines) and bool(_OWN_LINE.match(lines[-1]))


# -- appending to a log file that lfgate itself started -----------------------------------------------------------
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def append_text(path: str, text: str) -> None:
    """Append UTF-8 text to a regular file, creating it, never through a symlink (O_NOFOLLOW: a committed link
    fails with ELOOP instead of sending the text wherever it points). For logs a run writes line by line; a whole
    file is written with atomic_write."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o666)
    except OSError as err:
        if os.path.islink(path):
            raise UsageError(f"{path} is a symlink (to {os.path.realpath(path)}); lfgate does not write through "
                             "links") from None
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"{path} is not a regular file; lfgate only appends to files it writes")
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)
