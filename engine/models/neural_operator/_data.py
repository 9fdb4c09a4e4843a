"""The systems a neural operator learns, their data, and the solver interval it replaces.

Two systems, each on the engine's own pseudo-spectral solvers (:mod:`._spectral`):

``burgers``
    u_t + u u_x = ν u_xx on the periodic interval [0, 1) (Li et al.'s domain),
    u0 from Li et al.'s Gaussian random field 625(−Δ + 25 I)^−2.
``navier_stokes``
    w_t + u·∇w = ν Δw + a·0.1(sin 2π(x+y) + cos 2π(x+y)) on the periodic unit
    square (Li et al.'s setting; a = the forcing amplitude, 1 theirs, 0 a
    decaying flow), w0 from their random field 7^{3/2}(−Δ + 49 I)^−2.5.

A sample is a trajectory: the initial field and ``steps`` snapshots Δt apart,
from Li et al.'s random field or (a fraction ``structured`` of the samples) a
start like the ones users paint (plateaus, Gaussian vortices: :func:`draw_structured`),
with its own ν (log-uniform over the range) and, for Navier–Stokes, its own a
(uniform over the range). Everything is drawn from one ``torch.Generator``
seeded by the caller, on the device given, in chunks (so memory stays bounded
and a progress bar moves); the same seed gives the same data on the same
device and torch build.

:class:`IntervalSolver` advances a batch by one Δt with the solver's own steps:
the largest step h = Δt/m (m an integer) with CFL number h·k_c·max speed ≤ 1,
re-checked every 32 steps for Navier–Stokes (h halved when the flow has sped up,
as ``navier_stokes_solve`` does); so Δt is always a whole multiple of the solver's
step. Its ETDRK4 coefficients are cached per (h, ν). This is the interval the
operator's one step replaces: the data are made by it, and the live race and the
benchmark time it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from attractor_lab.engine.models.base import SimulationDiverged
from attractor_lab.engine.models.neural_operator import _spectral as sp

#: per system: dimension, domain length (Burgers), and the defaults ``train-operator`` uses
SYSTEMS = {
    "burgers": {"dims": 1, "length": 1.0, "grid": 256, "dt": 2.0**-4, "steps": 16,
                "viscosity_range": (0.01, 0.1), "forcing_range": (0.0, 0.0), "structured": 1 / 3},
    "navier_stokes": {"dims": 2, "length": 1.0, "grid": 64, "dt": 1.0, "steps": 25,
                      "viscosity_range": (3e-4, 3e-3), "forcing_range": (0.0, 1.0), "structured": 1 / 3},
}


def check_system(system: str) -> dict:
    if system not in SYSTEMS:
        raise ValueError(f"system must be one of {', '.join(SYSTEMS)}, not {system!r}")
    return SYSTEMS[system]


def draw_initial(system: str, batch: int, n: int, generator: torch.Generator, device, dtype=torch.float32):
    """Li et al.'s random initial fields: (B, n) for Burgers (length 1), (B, n, n) for Navier–Stokes."""
    if check_system(system)["dims"] == 1:
        return sp.burgers_grf(batch, n, length=1.0, generator=generator, device=device, dtype=dtype)
    return sp.navier_stokes_grf(batch, n, generator=generator, device=device, dtype=dtype)


def resample(u: torch.Tensor, n: int, dims: int) -> torch.Tensor:
    """Fourier interpolation of periodic fields (…, N) (``dims`` 1) or (…, N, N) (``dims`` 2) to n points
    per side: the spectrum zero-padded when refining, truncated when coarsening (the same band-limited
    field on another grid)."""
    big = u.shape[-1]
    if big == n:
        return u
    axes = tuple(range(-dims, 0))
    spec = torch.fft.fftshift(torch.fft.fftn(u, dim=axes), dim=axes)
    m = min(big, n)
    lo_big, lo_new = big // 2 - m // 2, n // 2 - m // 2
    out = torch.zeros(u.shape[:-dims] + (n,) * dims, dtype=spec.dtype, device=u.device)
    if dims == 1:
        out[..., lo_new:lo_new + m] = spec[..., lo_big:lo_big + m]
    else:
        out[..., lo_new:lo_new + m, lo_new:lo_new + m] = spec[..., lo_big:lo_big + m, lo_big:lo_big + m]
    field = torch.fft.ifftn(torch.fft.ifftshift(out, dim=axes), dim=axes).real
    return field * (n / big) ** dims


def draw_structured(system: str, batch: int, n: int, generator: torch.Generator, device, dtype=torch.float32):
    """Starts like the ones users paint, on a weaker random field: Burgers, 1–3 plateaus (height
    ±1.5, half-width 0.03–0.15, tanh edges 0.008–0.02) on half of Li et al.'s field; Navier–Stokes,
    1–6 Gaussian vortices (σ 0.03–0.08, peak ±1 … ±6, log-uniform) on 0.3 × their field, mean removed."""
    dims = check_system(system)["dims"]
    u = draw_initial(system, batch, n, generator, device, torch.float64)
    rand = lambda *shape: torch.rand(shape, generator=generator, device=device, dtype=torch.float64)  # noqa: E731
    x = torch.arange(n, device=device, dtype=torch.float64) / n
    if dims == 1:
        k = 3
        active = (torch.arange(k, device=device)[None, :] <= (rand(batch, 1) * k).floor()).to(torch.float64)
        centre, half = rand(batch, k), 0.03 + 0.12 * rand(batch, k)
        edge, height = 0.008 + 0.012 * rand(batch, k), 3.0 * rand(batch, k) - 1.5
        d = torch.remainder(x[None, None, :] - centre[..., None] + 0.5, 1.0) - 0.5
        bumps = 0.5 * (1.0 - torch.tanh((d.abs() - half[..., None]) / edge[..., None]))
        return (0.5 * u + (active * height)[..., None].mul(bumps).sum(1)).to(dtype)
    k = 6
    active = (torch.arange(k, device=device)[None, :] <= (rand(batch, 1) * k).floor()).to(torch.float64)
    cx, cy, core = rand(batch, k), rand(batch, k), 0.03 + 0.05 * rand(batch, k)
    sign = torch.where(rand(batch, k) < 0.5, -1.0, 1.0)
    peak = sign * torch.exp(math.log(6.0) * rand(batch, k))
    dx = torch.remainder(x[None, None, :] - cx[..., None] + 0.5, 1.0) - 0.5
    dy = torch.remainder(x[None, None, :] - cy[..., None] + 0.5, 1.0) - 0.5
    inv = 1.0 / (2 * core**2)
    gx, gy = torch.exp(-dx**2 * inv[..., None]), torch.exp(-dy**2 * inv[..., None])
    w = torch.einsum("bk,bki,bkj->bij", active * peak, gx, gy) + 0.3 * u
    return (w - w.mean((-2, -1), keepdim=True)).to(dtype)


def draw_training_initial(system: str, batch: int, n: int, generator: torch.Generator, device, dtype,
                          structured: float):
    """A fraction ``structured`` of the batch from :func:`draw_structured`, the rest from Li et al.'s field."""
    plain = draw_initial(system, batch, n, generator, device, dtype)
    if structured <= 0:
        return plain
    other = draw_structured(system, batch, n, generator, device, dtype)
    pick = torch.rand(batch, generator=generator, device=device, dtype=torch.float64) < structured
    return torch.where(pick.reshape((batch,) + (1,) * (plain.ndim - 1)), other, plain)


def draw_parameters(batch: int, viscosity_range, forcing_range, generator: torch.Generator, device):
    """ν log-uniform over ``viscosity_range`` and a uniform over ``forcing_range``, each (B,) float64."""
    lo, hi = (float(v) for v in viscosity_range)
    r = torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
    nu = torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * r)
    f_lo, f_hi = (float(v) for v in forcing_range)
    a = f_lo + (f_hi - f_lo) * torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
    return nu, a


class IntervalSolver:
    """Advance a batch (in Fourier space) by Δt with CFL-limited ETDRK4 steps that divide Δt."""

    def __init__(self, system: str, n: int, device="cpu", dtype=torch.float32):
        spec = check_system(system)
        self.system, self.n, self.dims = system, int(n), spec["dims"]
        self.device, self.dtype = torch.device(device), dtype
        if self.dims == 1:
            self.solver = sp.BurgersSolver(self.n, spec["length"], self.device, dtype)
        else:
            self.solver = sp.NavierStokesSolver(self.n, self.device, dtype)
        self._forcing_key, self._forcing_hat = None, None
        #: solver steps taken by the last call of :meth:`advance`
        self.last_steps = 0

    def to_spectral(self, u: torch.Tensor) -> torch.Tensor:
        return self.solver.to_spectral(u)

    def to_physical(self, vh: torch.Tensor) -> torch.Tensor:
        return self.solver.to_physical(vh)

    def _forcing(self, forcing, batch: int):
        if self.dims == 1:
            return None
        f = torch.as_tensor(forcing, dtype=torch.float64).reshape(-1)
        key = (batch, tuple(f.tolist()) if f.numel() <= 64 else (f.numel(), float(f.sum())))
        if key != self._forcing_key:
            self._forcing_key, self._forcing_hat = key, self.solver.forcing_term(f if f.numel() > 1 else float(f),
                                                                                   batch)
        return self._forcing_hat

    def advance(self, vh: torch.Tensor, interval: float, viscosity, forcing=0.0) -> torch.Tensor:
        """``vh`` (B, …) advanced by ``interval``; ``viscosity``/``forcing`` a number or (B,).

        Raises ``SimulationDiverged`` (naming the step) if the state stops being finite."""
        batch = vh.shape[0]
        fh = self._forcing(forcing, batch)
        auto = self.solver.auto_dt(vh)
        steps = max(1, math.ceil(interval / auto - 1e-9)) if math.isfinite(auto) else 1
        if fh is not None and steps < 4:
            steps = 4  # from rest the forcing sets the pace (as navier_stokes_solve)
        done = taken = 0
        while done < steps:
            h = interval / steps
            chunk = min(sp.CHECK_EVERY, steps - done) if self.dims == 2 else steps - done
            coeffs = self.solver.coefficients(viscosity, h, batch)
            vh = self.solver.step(vh, coeffs, fh, chunk) if self.dims == 2 else self.solver.step(vh, coeffs, chunk)
            done += chunk
            taken += chunk
            if not bool(torch.isfinite(torch.view_as_real(vh).sum())):
                raise SimulationDiverged(f"{self.system} solver: the state stopped being finite with step {h:.4g}")
            if self.dims == 2 and done < steps and self.solver.cfl(vh, h) > sp.CFL_LIMIT:
                steps, done = 2 * steps, 2 * done
        self.last_steps = taken
        return vh


@dataclass
class Trajectories:
    """``fields`` (B, steps + 1, *grid) float32 on the device: t = 0, Δt, …; ``viscosity`` and
    ``forcing`` (B,) float64; ``solver_steps``: the solver's steps per Δt (mean over intervals)."""

    system: str
    fields: torch.Tensor
    viscosity: torch.Tensor
    forcing: torch.Tensor
    dt: float
    seed: int
    solver_steps: float

    @property
    def grid(self) -> int:
        return self.fields.shape[-1]

    def __len__(self) -> int:
        return self.fields.shape[0]


def generate(system: str, trajectories: int, *, steps: int | None = None, grid: int | None = None,
             dt: float | None = None, viscosity_range=None, forcing_range=None, structured: float | None = None,
             seed: int = 0, device="cpu", chunk: int = 128, progress=None) -> Trajectories:
    """Seeded trajectories of ``system`` (defaults from :data:`SYSTEMS`), solved on ``device``.

    ``progress``: an optional callable taking the number of trajectories just finished
    (a tqdm bar's ``update``). Burgers is solved in float64, Navier–Stokes in float32
    (the live models' defaults); the fields are returned as float32.
    """
    spec = check_system(system)
    steps = spec["steps"] if steps is None else int(steps)
    n = spec["grid"] if grid is None else int(grid)
    dt = spec["dt"] if dt is None else float(dt)
    viscosity_range = spec["viscosity_range"] if viscosity_range is None else viscosity_range
    forcing_range = spec["forcing_range"] if forcing_range is None else forcing_range
    structured = spec["structured"] if structured is None else float(structured)
    if trajectories < 1 or steps < 1:
        raise ValueError(f"generate: trajectories and steps must be >= 1, not {trajectories} and {steps}")
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    dtype = torch.float64 if spec["dims"] == 1 else torch.float32
    solver = IntervalSolver(system, n, device, dtype)
    fields, nus, forcings, counts = [], [], [], []
    for start in range(0, trajectories, chunk):
        b = min(chunk, trajectories - start)
        nu, a = draw_parameters(b, viscosity_range, forcing_range, generator, device)
        u = draw_training_initial(system, b, n, generator, device, dtype, structured)
        vh = solver.to_spectral(u)
        out = [u.to(torch.float32)]
        for _ in range(steps):
            vh = solver.advance(vh, dt, nu, a)
            counts.append(solver.last_steps)
            out.append(solver.to_physical(vh).to(torch.float32))
        fields.append(torch.stack(out, 1))
        nus.append(nu)
        forcings.append(a)
        if progress is not None:
            progress(b)
    return Trajectories(system, torch.cat(fields), torch.cat(nus), torch.cat(forcings), dt, int(seed),
                        sum(counts) / len(counts))


def relative_l2(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """‖pred − true‖₂ / ‖true‖₂ per sample over the grid axes: (B, *grid) → (B,)."""
    return (pred - true).flatten(1).norm(dim=1) / true.flatten(1).norm(dim=1).clamp_min(1e-30)
