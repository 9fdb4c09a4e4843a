"""Scripting API: run any registered model from Python or a notebook.

>>> import attractor_lab as al
>>> sim = al.create("gray_scott", seed=0, device="cpu", F=0.035, k=0.065)
>>> sim.step(500)
>>> sim.state()["v"].shape
(256, 256)
>>> rec = sim.record(steps=100, every=10, arrays=["v"])   # rec["v"].shape == (11, 256, 256)

In Jupyter a ``Simulation`` shows as a picture of its primary view (``_repr_png_``).
``attractor_lab.connect()`` returns the same interface for the engine of a
running window (``engine/transport/remote.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attractor_lab.engine import models
from attractor_lab.engine.device import choose_device, configure_torch
from attractor_lab.engine.notebook import NotebookMixin


def list_models() -> list[str]:
    """Names of the registered models, sorted (``['barkley', 'brusselator', …]``).

    Each is a name :func:`create` and :func:`describe` take; ``attractor-lab models`` prints
    the same list with parameters, ranges and units.
    """
    return models.names()


def describe(name: str) -> dict:
    """The declaration of model ``name``: what the window's panels are built from.

    Returns
    -------
    dict
        ``name``, ``title``, ``description``, ``equations`` (text), ``params`` (one dict per
        parameter: name, kind, default, range, unit, help, whether it applies live),
        ``views``, ``record_fields``, ``family`` and ``steps_per_frame``.

    Raises
    ------
    ValueError
        When no model has that name, listing the models there are.
    """
    return models.get(name).describe()


class Simulation(NotebookMixin):
    """A model instance with a numpy-facing interface: made by :func:`create`.

    Methods that change the run return the simulation, so calls chain
    (``sim.step(100).observables()``). ``record(steps, every, arrays)`` returns numpy
    arrays with a leading time axis; in Jupyter the simulation shows as a picture of its
    primary view (``picture()`` gives it as a ``PIL.Image``).

    Attributes
    ----------
    model : engine.models.base.Model
        The underlying model (torch tensors on ``device``).
    """

    def __init__(self, name: str, seed: int = 0, device: str = "auto", **params: Any):
        configure_torch()
        self.model = models.get(name)(device=choose_device(device), seed=seed, **params)

    @property
    def name(self) -> str:
        """The model's registered name (``"gray_scott"``)."""
        return self.model.name

    @property
    def params(self) -> dict[str, Any]:
        """Current parameter values (structural changes not yet applied are in ``pending``)."""
        return dict(self.model.p)

    @property
    def pending(self) -> dict[str, Any]:
        """Structural parameters set but not yet applied: they take effect at :meth:`reset`."""
        return self.model.pending

    @property
    def device(self) -> str:
        """The torch device the model runs on (``"cpu"``, ``"cuda:0"``)."""
        return str(self.model.device)

    @property
    def steps(self) -> int:
        """Engine steps taken since the last reset."""
        return self.model.steps

    @property
    def time(self) -> float:
        """Simulated time since the last reset, in the model's units."""
        return self.model.time

    def describe(self) -> dict:
        """The model's declaration (parameters, views, equations), as :func:`describe`."""
        return self.model.describe()

    def step(self, n: int = 1) -> "Simulation":
        """Advance ``n`` engine steps (what one step is depends on the model: a time step
        ``dt``, a sweep of N spin updates, an Adam step). Raises ``SimulationDiverged`` when
        the state stops being finite or a step is unstable; the model keeps its last good state."""
        self.model.step(n)
        return self

    def state(self) -> dict[str, np.ndarray]:
        """The model's arrays as numpy copies, by name (``u``, ``v`` for reaction–diffusion,
        ``spins`` for ``hopfield``, ``x`` for ``ode_system``, …): what the views draw."""
        return self.model.numpy_state()

    def observables(self) -> dict[str, float]:
        """The model's scalar measurements now, by name (overlaps, energies, Lyapunov
        exponents, solver counts, …; NaN where one is not defined yet)."""
        return {k: float(v) for k, v in self.model.observables().items()}

    def set_state(self, **arrays: Any) -> "Simulation":
        """Set the model's state from arrays named as in :meth:`state` (e.g. ``u=``, ``v=``
        for reaction–diffusion, ``x=`` for ``ode_system``, ``w=`` for ``navier_stokes``).
        Shapes, dtypes and finiteness are checked before anything changes; a ``ValueError``
        names what does not fit."""
        self.model.set_state(**arrays)
        return self

    def set(self, **params: Any) -> list[str]:
        """Change parameters by name. Live ones apply at once; structural ones (grid sizes,
        network sizes, …) wait for :meth:`reset` and are returned.

        Raises ``ValueError`` naming the parameter and what is allowed, changing nothing."""
        return self.model.set(**params)

    def reset(self, seed: int | None = None) -> "Simulation":
        """Start again from the initial state, applying waiting structural parameters;
        with ``seed``, from that seed (0 … 2³¹ − 1) instead of the current one."""
        self.model.reset(seed)
        return self

    def __repr__(self) -> str:
        return f"<Simulation {self.name} step={self.steps} device={self.device}>"


def create(name: str, seed: int = 0, device: str = "auto", **params: Any) -> Simulation:
    """Create a simulation of model ``name``.

    Parameters
    ----------
    name : str
        A registered model (:func:`list_models`).
    seed : int
        Seed of everything random in the model (patterns, initial state, noise).
    device : str
        ``"auto"`` (CUDA when torch has it and a GPU answers, else the CPU), ``"cpu"``,
        ``"cuda"``, ``"cuda:1"``, …
    **params
        Parameter values by name; the rest keep their defaults (:func:`describe`).

    Returns
    -------
    Simulation

    Raises
    ------
    ValueError
        For an unknown parameter name or a value outside its allowed range, naming the
        parameter and what is allowed.

    Examples
    --------
    >>> import attractor_lab as al
    >>> sim = al.create("gray_scott", seed=0, grid=64, F=0.035, k=0.065)
    >>> sim.step(100).state()["v"].shape
    (64, 64)
    """
    return Simulation(name, seed=seed, device=device, **params)
