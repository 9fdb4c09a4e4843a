"""The neural ODE's data: trajectories of the target system, solved at tight tolerance, sampled, noised.

A mixin of :class:`~engine.models.neural_ode.neural_ode.NeuralODE` (it uses the model's
``p``, ``sys``, ``sp``, ``generator``, ``device`` and ``dtype``); see that module's
docstring for what the data are.
"""

from __future__ import annotations

import torch
from torchdiffeq import odeint

#: most solver steps between two output times before a solve is abandoned (a field gone stiff)
MAX_STEPS = 20_000


class DataMixin:
    """The training data: ``_make_data`` at reset (the true solutions, samples, evaluation grid)."""

    def _random_starts(self, count: int) -> torch.Tensor:
        """Starts over the middle of the phase window (other components around the usual start)."""
        x0, x1, y0, y1 = self.sys.window(self.sp)
        i, j = self.sys.plane
        u = torch.rand((count, 2), generator=self.generator, device=self.device, dtype=torch.float64)
        start = torch.tensor(self.sys.start(self.sp), dtype=torch.float64, device=self.device)
        out = start.repeat(count, 1)
        out[:, i] = x0 + (0.1 + 0.8 * u[:, 0]) * (x1 - x0)
        out[:, j] = y0 + (0.1 + 0.8 * u[:, 1]) * (y1 - y0)
        for k in (k for k in range(self.sys.dim) if k not in (i, j)):
            noise = torch.randn(count, generator=self.generator, device=self.device, dtype=torch.float64)
            out[:, k] = start[k] + 0.1 * (x1 - x0) * noise
        return out

    def _true_solve(self, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The target system from ``y0`` (N, d) at times ``t`` (float64, tight tolerance) → (T, N, d)."""
        sp, field = self.sp, self.sys.field
        return odeint(lambda s, x: field(s, x, sp), y0, t, rtol=1e-9, atol=1e-11, method="dopri5",
                      options={"max_num_steps": 10 * MAX_STEPS})

    def _make_data(self) -> None:
        dev, f64 = self.device, torch.float64
        n, d, h, s = self.p["trajectories"], self.sys.dim, self.p["horizon"], self.p["samples"]
        y0 = torch.tensor(self.sys.start(self.sp), dtype=f64, device=dev).repeat(n, 1)
        if n > 1:
            y0[1:] = self._random_starts(n - 1)
        self.y0_true = y0
        if self.p["irregular"]:
            inner = torch.rand((n, s - 2), generator=self.generator, device=dev, dtype=f64) * h
            ends = torch.tensor([0.0, h], dtype=f64, device=dev).repeat(n, 1)
            times = torch.sort(torch.cat([ends, inner], dim=1), dim=1).values
        else:
            times = torch.linspace(0.0, h, s, dtype=f64, device=dev).repeat(n, 1)
        # evaluation grid: 1001 points over [0, H], then the held-out span at the same spacing
        self.i_horizon = 1000
        step = h / self.i_horizon
        extra = max(1, round(self.p["extrapolation"] * self.i_horizon))
        self.t_eval = torch.arange(self.i_horizon + extra + 1, dtype=f64, device=dev) * step
        self.t_eval[self.i_horizon] = h
        all_t, inverse = torch.unique(torch.cat([times.reshape(-1), self.t_eval]), sorted=True, return_inverse=True)
        with torch.no_grad():
            sol = self._true_solve(y0, all_t)  # (U, n, d)
        if not bool(torch.isfinite(sol).all()):
            raise ValueError(f"neural_ode: the target {self.sys.name!r} does not stay finite over "
                             f"[0, {h * (1 + self.p['extrapolation']):g}] with these parameters")
        at_samples = inverse[: n * s].reshape(n, s)
        clean = sol[at_samples, torch.arange(n, device=dev)[:, None]]  # (n, s, d)
        self.true_eval = sol[inverse[n * s:]].transpose(0, 1)  # (n, T, d)
        noise = torch.randn(clean.shape, generator=self.generator, device=dev, dtype=f64)
        self.t_samples = times.to(self.dtype)
        self.data = (clean + self.p["noise"] * noise).to(self.dtype)
        self.clean = clean
        self.clean_data = clean.to(self.dtype)
        span = self.true_eval[:, self.i_horizon:]
        self._val_scale = float(span.var(dim=1).mean()) or 1.0
        self._train_scale = float(self.true_eval[:, : self.i_horizon + 1].var(dim=1).mean()) or 1.0
        self._window_rel = (torch.arange(self.p["window"], dtype=f64, device=dev) * (h / (s - 1))).to(self.dtype)
