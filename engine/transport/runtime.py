"""Where running engines leave their connection files, and how a script finds them.

Jupyter's way: every window's engine writes its connection file (JSON, mode
0600) into one owner-only *runtime folder*; the engine removes it when it
exits. ``attractor_lab.connect()`` with no argument picks the newest file there
whose engine still runs, so a notebook on the same machine attaches to the
window the user is watching.

The folder: ``$ATTRACTOR_LAB_RUNTIME_DIR`` when set, else platformdirs'
``user_runtime_dir("attractor-lab")`` (``$XDG_RUNTIME_DIR/attractor-lab`` on
Linux; ``/tmp/runtime-<uid>/attractor-lab`` when XDG_RUNTIME_DIR is unset).
It is created with mode 0700; an existing folder that other users can write
to, or that belongs to another user, is refused.

No torch, no Qt: the window, the engine and scripts all import this.
"""

from __future__ import annotations

import itertools
import os
import stat
import warnings
from pathlib import Path

from attractor_lab.engine.transport.protocol import ConnectionFileError, read_connection_file
from attractor_lab.engine.transport.security import heartbeat_answers, pid_state

#: connection files of windows' engines: engine-<window pid>-<n>.json
PREFIX = "engine-"
_counter = itertools.count(1)


class NoEngineFound(ConnectionFileError):
    """No running engine left a connection file in the runtime folder."""


def runtime_dir(create: bool = False) -> Path:
    """The runtime folder (created with mode 0700 when ``create``).

    Raises ``OSError`` when it cannot be created, or is not private to this user.
    """
    folder = os.environ.get("ATTRACTOR_LAB_RUNTIME_DIR")
    if not folder:
        import platformdirs

        with warnings.catch_warnings():  # "XDG_RUNTIME_DIR is not set, falling back to /tmp/runtime-<uid>"
            warnings.simplefilter("ignore")
            folder = platformdirs.user_runtime_dir("attractor-lab", appauthor=False)
    path = Path(folder)
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if create and os.name == "posix":
        st = path.stat()
        if st.st_uid != os.getuid():
            raise OSError(f"the runtime folder {str(path)!r} belongs to another user (uid {st.st_uid})")
        if st.st_mode & 0o022:
            raise OSError(f"the runtime folder {str(path)!r} has mode {stat.S_IMODE(st.st_mode):04o}: other users "
                          "can write to it; `chmod 700` it")
    return path


def new_connection_file() -> Path:
    """A fresh connection-file path for a window's engine in the runtime folder (not created:
    the engine writes it). Unique within this process and among processes (the pid)."""
    return runtime_dir(create=True) / f"{PREFIX}{os.getpid()}-{next(_counter)}.json"


def _alive(info: dict) -> bool:
    state = pid_state(info)
    if state == "gone":
        return False
    return state == "alive" or heartbeat_answers(info, timeout=0.5)


def live_connection_files() -> list[Path]:
    """Connection files in the runtime folder whose engine runs, newest first. Files of
    engines that are gone (a window killed with ``kill -9``) are skipped, not removed."""
    folder = runtime_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"{PREFIX}*.json"):
        try:
            info = read_connection_file(path)
            mtime = path.stat().st_mtime
        except (ConnectionFileError, OSError):
            continue  # unreadable, loose permissions, half written: not ours to use
        if _alive(info):
            found.append((mtime, path))
    return [p for _, p in sorted(found, reverse=True)]


def find_connection_file(name: str | os.PathLike | None = None) -> Path:
    """The connection file ``name`` names: a path, or a file name in the runtime folder
    (``engine-1234-1.json``, or ``engine-1234-1`` without the suffix); with no name, the
    newest file whose engine runs. Raises :class:`ConnectionFileError` saying what was
    looked for and where."""
    if name is None:
        live = live_connection_files()
        if not live:
            raise NoEngineFound(f"no running Attractor Lab window or engine found: no live connection file in "
                                f"{str(runtime_dir())!r}. Start the window (attractor-lab), or pass the file its "
                                "Help → Connect from Python shows")
        return live[0]
    path = Path(name).expanduser()
    if path.exists() or path.parent != Path("."):
        return path
    for candidate in (runtime_dir() / path.name, runtime_dir() / f"{path.name}.json"):
        if candidate.exists():
            return candidate
    raise ConnectionFileError(f"connection file {str(name)!r} not found, neither here nor in the runtime folder "
                              f"{str(runtime_dir())!r}")


__all__ = ["NoEngineFound", "find_connection_file", "live_connection_files", "new_connection_file", "runtime_dir"]
