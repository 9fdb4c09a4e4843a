"""Scripting API: run any registered model from Python or a notebook.

>>> import attractor_lab as al
>>> sim = al.create("gray_scott", seed=0, device="cpu", F=0.035, k=0.065)
>>> sim.step(500)
>>> sim.state()["v"].shape
(256, 256)
>>> rec = sim.record(steps=100, every=10, arrays=["v"])   # rec["v"].shape == (11, 256, 256)

In Jupyter a ``Simulation`` shows as a picture of its primary view (``_repr_png_``).
``attractor_lab.connect()`` returns the same interface for the engine of a
running window (``engine/remote.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attractor_lab.engine import models
from attractor_lab.engine.device import choose_device, configure_torch
from attractor_lab.engine.notebook import NotebookMixin


def list_models() -> list[str]:
    """Names of the registered models."""
    return models.names()


def describe(name: str) -> dict:
    """The declaration of model ``name`` (parameters, views, equations)."""
    return models.get(name).describe()


class Simulation(NotebookMixin):
    """A model instance with a numpy-facing interface.

    ``record(steps, every, arrays)`` returns numpy arrays with a leading time axis
    (:meth:`NotebookMixin.record`); in Jupyter the simulation shows as a picture of
    its primary view.

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
        return self.model.name

    @property
    def params(self) -> dict[str, Any]:
        """Current parameter values (structural changes not yet applied are in ``pending``)."""
        return dict(self.model.p)

    @property
    def pending(self) -> dict[str, Any]:
        return self.model.pending

    @property
    def device(self) -> str:
        return str(self.model.device)

    @property
    def steps(self) -> int:
        return self.model.steps

    @property
    def time(self) -> float:
        return self.model.time

    def describe(self) -> dict:
        """The model's declaration (parameters, views, equations), as :func:`describe`."""
        return self.model.describe()

    def step(self, n: int = 1) -> "Simulation":
        self.model.step(n)
        return self

    def state(self) -> dict[str, np.ndarray]:
        return self.model.numpy_state()

    def observables(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.model.observables().items()}

    def set_state(self, **arrays: Any) -> "Simulation":
        """Set the model's state from arrays named as in :meth:`state` (e.g. ``u=``, ``v=``
        for reaction–diffusion, ``x=`` for ``ode_system``, ``w=`` for ``navier_stokes``).
        Shapes, dtypes and finiteness are checked before anything changes; a ``ValueError``
        names what does not fit."""
        self.model.set_state(**arrays)
        return self

    def set(self, **params: Any) -> list[str]:
        """Change parameters; returns the structural ones that wait for :meth:`reset`."""
        return self.model.set(**params)

    def reset(self, seed: int | None = None) -> "Simulation":
        self.model.reset(seed)
        return self

    def __repr__(self) -> str:
        return f"<Simulation {self.name} step={self.steps} device={self.device}>"


def create(name: str, seed: int = 0, device: str = "auto", **params: Any) -> Simulation:
    """Create a simulation of model ``name``.

    Unknown parameter names or out-of-range values raise ``ValueError`` naming
    the parameter and what is allowed.
    """
    return Simulation(name, seed=seed, device=device, **params)
