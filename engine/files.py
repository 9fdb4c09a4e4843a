"""Temporary files for atomic writes: created exclusively, named unpredictably,
cleaned up after runs that were killed.

Every file the engine or the CLI writes goes to a temporary file beside the
target first and is renamed into place. The temporary file is created with
``O_CREAT | O_EXCL`` under a random name (``tempfile.mkstemp``), so a symlink
planted under a predictable name is never followed, and its name carries the
writer's pid: a later write to the same folder removes leftovers whose writer
is gone (a run killed mid-save).

This module imports neither torch nor Qt.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from pathlib import Path

#: temporary files are named ``.tmp-attractor-<pid>-<random><target name>``
TEMP_PREFIX = ".tmp-attractor-"
_TEMP_NAME = re.compile(r"^\.tmp-attractor-(\d+)-")


def exclusive_temp(target: str | os.PathLike) -> tuple[int, Path]:
    """Create an empty temporary file beside ``target``; return its fd and path."""
    target = Path(target)
    fd, name = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".",
                                prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=f"-{target.name}")
    return fd, Path(name)


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove this user's temporary files in ``folder`` left by writers that are gone.

    Only regular files (never symlinks) owned by the current user whose pid no
    longer runs are removed; returns what was removed.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if not match:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or pid_alive(pid):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def check_writable_target(path: str | os.PathLike) -> Path:
    """Check, before computing anything, that ``path`` can be written: its folder
    exists and takes a new file, and ``path`` is not a folder. Raises ``OSError``
    subclasses with one-line messages."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        raise FileNotFoundError(errno.ENOENT, f"the folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{str(folder)!r} is not a folder")
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"{str(path)!r} is a folder")
    try:
        fd, tmp = exclusive_temp(path)
    except OSError as exc:
        raise PermissionError(exc.errno, f"cannot create files in {str(folder)!r}: {exc.strerror}") from None
    os.close(fd)
    os.unlink(tmp)
    if path.exists() and not os.access(path, os.W_OK) and not os.access(folder, os.W_OK):
        raise PermissionError(errno.EACCES, f"{str(path)!r} cannot be replaced")
    return path


def write_atomically(path: str | os.PathLike, writer, mode: int | None = None, commit=None) -> Path:
    """Call ``writer(file)`` on an exclusive temporary file beside ``path``, fsync,
    and rename it into place; on any failure the temporary file is removed and
    ``path`` is untouched. ``commit(rename)``, if given, runs the rename (e.g. under a
    lock that a cancel takes: see engine/storage/recorder.py)."""
    path = Path(path)
    remove_stale_temps(path.parent if str(path.parent) else ".")
    fd, tmp = exclusive_temp(path)
    try:
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        if commit is None:
            os.replace(tmp, path)
        else:
            commit(lambda: os.replace(tmp, path))
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    The temporary file is created exclusively (``O_EXCL``, an unpredictable
    name, never through a planted symlink) beside the target. ``mode`` defaults
    to what ``open`` would give (0666 less the umask). Every room may use it:
    models (checkpoints), storage (presets), transport (connection files), the app."""
    write_atomically(path, lambda f: f.write(data), mode)
