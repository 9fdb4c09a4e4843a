"""Attractor Lab engine: models, the simulation server and the scripting API.

The scripting API (``engine.create``, ``engine.list_models``) loads torch on
first use. The protocol and client modules (``engine.transport.protocol``,
``engine.transport.client``) do not, so the GUI process can import them.
"""

from attractor_lab import __version__  # noqa: F401 (written once, in attractor_lab/__init__.py)

_API = ("create", "list_models", "describe", "Simulation")


def __getattr__(name):
    # Lazy: importing ``engine.transport.protocol`` must not pull torch into the GUI process.
    if name in _API:
        from attractor_lab.engine import api

        return getattr(api, name)
    raise AttributeError(f"module 'attractor_lab.engine' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
