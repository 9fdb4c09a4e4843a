"""How the window starts Attractor Lab's other processes: the engine and the CLI's commands.

From a source tree, or a pip/pipx/uv install, they run as modules of this
Python (``python -m attractor_lab.engine …``, ``python -m attractor_lab.app.cli CMD …``). In a PyInstaller
bundle (``sys.frozen``) there is no Python to hand them to: the bundle's own
executable serves every command (``attractor-lab engine …``,
``attractor-lab CMD …``), so the window and its engine always come from the
same build.
"""

from __future__ import annotations

import sys


def frozen() -> bool:
    """True inside a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False))


def cli_command(*args: str) -> list[str]:
    """The command line of ``attractor-lab ARGS…`` run by this installation."""
    if frozen():
        return [sys.executable, *args]
    return [sys.executable, "-m", "attractor_lab.app.cli", *args]


def engine_command(*args: str) -> list[str]:
    """The command line of an engine process (``attractor-lab engine ARGS…``).

    Outside a bundle the engine starts as its own module (``python -m attractor_lab.engine``), so
    the child never imports the window's modules (DESIGN.md §8, spawned engine).
    """
    if frozen():
        return [sys.executable, "engine", *args]
    return [sys.executable, "-m", "attractor_lab.engine", *args]
