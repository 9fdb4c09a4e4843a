"""Attractor Lab: explore live the dynamics between statistical physics and neural computation.

The one importable name of the project::

    import attractor_lab as al
    sim = al.create("gray_scott", F=0.035, k=0.065)
    sim.step(500)

    sim = al.connect()          # or: the engine of the window you are watching

The scripting API (``create``, ``list_models``, ``describe``, ``Simulation``)
and the analyses (``al.analysis.continuation``, ``.orbit_diagram``, ``.basins``,
``.nullclines``) load torch on first use; ``connect`` (engine/transport/remote.py),
``attractor_lab.engine.transport.protocol``, ``.client`` and
the window's modules (``attractor_lab.app``, ``attractor_lab.widgets``) do not.

Layout: the repository keeps its folders ``engine/``, ``app/`` and ``widgets/``
at its top level. A built wheel maps them to ``attractor_lab/engine``,
``attractor_lab/app`` and ``attractor_lab/widgets`` (setup.py), so an
installation holds nothing else at top level. In a source checkout the
subpackages are found beside this folder (below).
"""

from pathlib import Path as _Path

__version__ = "0.1.0"

# A source checkout (editable install, or the repository on sys.path): engine/, app/ and widgets/
# sit beside this folder, not inside it. In a wheel they are inside, and nothing is added.
_here = _Path(__file__).resolve().parent
if not (_here / "engine").is_dir() and (_here.parent / "engine" / "__init__.py").is_file():
    __path__.append(str(_here.parent))  # noqa: F821 (a package's __path__)
del _here, _Path

_API = ("create", "list_models", "describe", "Simulation")
_REMOTE = ("connect", "RemoteSimulation")


def __getattr__(name):
    # Lazy: importing the window's modules must not pull torch into the GUI process.
    if name in _API:
        from attractor_lab.engine import api

        return getattr(api, name)
    if name in _REMOTE:
        from attractor_lab.engine.transport import remote

        return getattr(remote, name)
    if name == "analysis":  # the dynamical-systems toolkit (its functions load torch on first use)
        import importlib

        return importlib.import_module("attractor_lab.engine.analysis")
    raise AttributeError(f"module 'attractor_lab' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API) + list(_REMOTE) + ["analysis"])
