"""Many trajectories of one vector field as one batch: fixed-step RK4 with per-trajectory parameters.

The analyses integrate thousands of trajectories that differ in their start
and in a parameter value (an orbit diagram: every parameter value × B starts).
The parameter travels as a tensor (N,) in the field's parameter dict and
broadcasts against the states' components, so the whole diagram is one tensor
program per step — on the GPU when the states live there. A fixed step (not
the adaptive solvers of ``ode_system``) keeps every trajectory in lockstep, so
local maxima and section crossings are found with one comparison per step.
"""

from __future__ import annotations

from typing import Callable

import torch

from attractor_lab.engine.analysis.fields import VectorField


def rk4_step(f: Callable, x: torch.Tensor, p: dict, dt: float) -> torch.Tensor:
    k1 = f(x, p)
    k2 = f(x + (0.5 * dt) * k1, p)
    k3 = f(x + (0.5 * dt) * k2, p)
    k4 = f(x + dt * k3, p)
    return x + (dt / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)


@torch.no_grad()
def integrate(vf: VectorField, x: torch.Tensor, p: dict, dt: float, steps: int,
              on_step: Callable | None = None, bound: float = 1e6, progress: Callable | None = None) -> torch.Tensor:
    """Advance the batch ``x`` (N, d) by ``steps`` RK4 steps of ``dt``.

    ``on_step(x)`` sees every new state; trajectories that leave |x| < ``bound`` or turn
    non-finite are frozen at NaN (a divergent start does not poison the batch's arithmetic).
    ``progress(fraction)`` is called every ~2 % of the steps (it may raise to cancel).
    """
    every = max(1, steps // 50)
    for n in range(steps):
        x = rk4_step(vf.f, x, p, dt)
        if n % 16 == 15 or n == steps - 1:
            bad = ~(x.abs() < bound).all(-1)
            if x.is_cuda or bool(bad.any()):  # (a GPU is never made to wait for the host)
                x = torch.where(bad[:, None], torch.full_like(x, float("nan")), x)
        if on_step is not None:
            on_step(x)
        if progress is not None and (n % every == every - 1 or n == steps - 1):
            progress((n + 1) / steps)
    return x
