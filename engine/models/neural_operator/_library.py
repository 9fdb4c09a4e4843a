"""The user's own neural-operator checkpoints: trained in the window, raced at once.

The library is the folder ``operators/`` in the platform's user data folder
(platformdirs' ``user_data_dir("attractor-lab")``, beside the user's presets;
``$XDG_DATA_HOME/attractor-lab/operators`` on Linux). Each checkpoint is a
folder holding ``weights.safetensors`` and ``card.json``, written by
:func:`._checkpoint.save_checkpoint`, named by the user (letters, digits,
``_ . -``). ``neural_operator``'s ``checkpoint`` parameter lists them after the
shipped ones (:func:`checkpoint_choices`), so a saved checkpoint is raced by
name; shipped names win a clash, and :func:`library_path` refuses a name a
shipped checkpoint already uses.
"""

from __future__ import annotations

import re
from pathlib import Path

from attractor_lab.engine.models.neural_operator import _checkpoint as ck

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


def library_dir() -> Path:
    """Where the user's checkpoints are saved (created when the first one is)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("attractor-lab", appauthor=False)) / "operators"


def library_checkpoints() -> dict[str, Path]:
    """Name → folder of every checkpoint in the library (a folder holding a card.json), by name."""
    folder = library_dir()
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir())
            if NAME.match(p.name) and p.is_dir() and (p / ck.CARD).is_file()}


def all_checkpoints() -> dict[str, Path]:
    """The shipped checkpoints, then the library's (a shipped name hides a library folder of that name)."""
    return {**library_checkpoints(), **ck.shipped_checkpoints()}


def checkpoint_choices() -> tuple[str, ...]:
    """``neural_operator``'s checkpoint choices: auto, the shipped names, then the library's."""
    shipped = ck.shipped_checkpoints()
    return ("auto", *shipped, *(n for n in library_checkpoints() if n not in shipped and n != "auto"))


def library_path(name: str) -> Path:
    """The library folder for a checkpoint called ``name``; ``ValueError`` for a name that is not
    allowed (what and why)."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"checkpoint name {name!r} is not allowed: use 1–64 letters, digits, '_', '.' or '-' "
                         "(not starting with '.' or '-')")
    if name == "auto" or name in ck.shipped_checkpoints():
        raise ValueError(f"checkpoint name {name!r} is taken by a shipped checkpoint (or 'auto'); choose another")
    return library_dir() / name
