"""Model registry.

Every module in this package is imported on first use; a model class becomes
available by decorating it with :func:`register`. ``engine.models.get(name)``
returns the class, ``engine.models.names()`` the sorted list of names.
"""

from __future__ import annotations

import importlib
import pkgutil

_REGISTRY: dict[str, type] = {}
_discovered = False


def register(cls):
    """Class decorator: make a :class:`~engine.models.base.Model` available by its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"model name {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    for info in pkgutil.walk_packages(__path__, prefix=__name__ + "."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        importlib.import_module(info.name)
    _discovered = True


def names() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def get(name: str):
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(sorted(_REGISTRY))}") from None
