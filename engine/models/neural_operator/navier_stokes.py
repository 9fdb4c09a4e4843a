"""2D incompressible Navier–Stokes in vorticity form on the periodic unit square.

    ∂w/∂t + u·∇w = ν Δw + a·f,   u = (ψ_y, −ψ_x),  −Δψ = w,
    f(x, y) = 0.1 (sin 2π(x + y) + cos 2π(x + y))

The setting of Li et al.'s Fourier-neural-operator paper (their ν = 10⁻³,
10⁻⁴, 10⁻⁵ at 64², forcing amplitude a = 1); a = 0 gives a decaying flow.
Fourier pseudo-spectral with the 2/3 rule and ETDRK4 (see :mod:`._spectral`,
which also holds the batched ``navier_stokes_solve`` for data generation).

Layout: ``w[i, j] = w(x = i/n, y = j/n)`` (Li et al.'s: x along the rows). On
screen x runs down and y across: a rotation of the usual axes, so a positive
(counter-clockwise) vortex turns counter-clockwise on screen.

Initial vorticity: ``random`` (Li et al.'s Gaussian random field,
7^{3/2}(−Δ + 49 I)^{−2.5} in their notation, seeded), ``vortex_pair`` (a
counter-rotating dipole that travels), ``co_rotating`` (two like-signed
vortices that orbit and merge), ``taylor_green`` (2k cos kx cos ky, k = 4π:
an exact steady state of the nonlinear term that decays as e^{−2νk²t}),
``rest``; each scaled by ``amplitude``. Or any array through
:meth:`NavierStokes.set_state`, or painting: a Gaussian vortex set or added.
The mean vorticity is zero (the curl of a periodic velocity field has none):
set_state and painting remove the mean. ``forced_share`` is the fraction of
the enstrophy in the forcing's Fourier mode k = 2π(1, 1) (NaN unforced).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attractor_lab.engine.models import register
from attractor_lab.engine.models.neural_operator import _spectral as sp
from attractor_lab.engine.models.neural_operator._live import SpectralModel
from attractor_lab.engine.params import Param

INITIALS = ("random", "vortex_pair", "co_rotating", "taylor_green", "rest")
#: Gaussian vortices of the pair initial conditions: core radius, peak vorticity, separation
VORTEX_CORE = 0.04
VORTEX_PEAK = 20.0
PAIR_SEPARATION = {"vortex_pair": 0.15, "co_rotating": 0.12}


def gaussian_vortex(n: int, x0: float, y0: float, core: float, device, dtype=torch.float64) -> torch.Tensor:
    """exp(−r²/(2·core²)) around (x0, y0) on the periodic unit square (nearest image), shape (n, n)."""
    c = torch.arange(n, device=device, dtype=torch.float64) / n
    dx = torch.remainder(c - x0 + 0.5, 1.0) - 0.5
    dy = torch.remainder(c - y0 + 0.5, 1.0) - 0.5
    return torch.exp(-(dx[:, None] ** 2 + dy[None, :] ** 2) / (2 * core**2)).to(dtype)


def shaped_vorticity(kind: str, n: int, device) -> torch.Tensor:
    """A named start on an n × n grid, float64, before the amplitude: ``vortex_pair`` (opposite
    signs, a travelling dipole), ``co_rotating`` (same signs), ``taylor_green`` (an exact steady
    state of the nonlinear term), anything else ``rest`` (zeros)."""
    if kind in PAIR_SEPARATION:
        half = PAIR_SEPARATION[kind] / 2
        sign = -1.0 if kind == "vortex_pair" else 1.0
        return VORTEX_PEAK * (gaussian_vortex(n, 0.5, 0.5 - half, VORTEX_CORE, device)
                              + sign * gaussian_vortex(n, 0.5, 0.5 + half, VORTEX_CORE, device))
    if kind == "taylor_green":
        k = 4 * math.pi
        x = torch.arange(n, device=device, dtype=torch.float64) / n
        return 2 * k * torch.cos(k * x)[:, None] * torch.cos(k * x)[None, :]
    return torch.zeros((n, n), device=device, dtype=torch.float64)


@register
class NavierStokes(SpectralModel):
    name = "navier_stokes"
    title = "Navier–Stokes (2D vorticity)"
    description = (
        "2D incompressible flow in vorticity form on the periodic unit square, pseudo-spectral (2/3 rule) with "
        "ETDRK4: Li et al.'s forced turbulence (ν = 10⁻³, forcing 0.1(sin 2π(x+y) + cos 2π(x+y))), decaying "
        "vortices; paint vortices. The ground truth for neural operators."
    )
    equations = ("∂w/∂t + u·∇w = ν Δw + a·0.1(sin 2π(x+y) + cos 2π(x+y))\n"
                 "u = (∂ψ/∂y, −∂ψ/∂x),  −Δψ = w,  periodic unit square\n"
                 "Fourier pseudo-spectral, 2/3 rule; ETDRK4 (Kassam–Trefethen coefficients)\n"
                 "unforced: dE/dt = −2νZ ≤ 0, E = ½⟨|u|²⟩, Z = ½⟨w²⟩")
    params = (
        Param("viscosity", "float", 1e-3, 1e-6, 1.0, unit="1/Re", log=True,
              help="ν (Li et al.: 1e-3, 1e-4, 1e-5); small ν needs a finer grid to resolve the enstrophy cascade"),
        Param("forcing", "float", 1.0, 0.0, 10.0,
              help="amplitude a of Li et al.'s forcing 0.1(sin 2π(x+y) + cos 2π(x+y)); 1 = their setting, "
                   "0 = decaying flow"),
        Param("grid", "int", 64, 16, 2048, unit="cells", live=False,
              help="cells per side (modes kept by the 2/3 rule: |k| < grid/3 per axis)"),
        Param("dt", "float", 0.0, 0.0, 0.5, unit="time",
              help="time step; 0 = automatic (CFL number dt·k_c·max(|u|+|v|) ≤ 1, a power of two); "
                   f"a fixed dt with CFL number above {sp.CFL_LIMIT:g} is refused"),
        Param("initial", "choice", "random", choices=INITIALS, live=False,
              help="random: Li et al.'s Gaussian random field (seeded); vortex_pair: a travelling dipole; "
                   "co_rotating: two vortices that merge; taylor_green: 2k cos kx cos ky (k = 4π); rest: w = 0"),
        Param("amplitude", "float", 1.0, 0.0, 100.0, live=False, help="scale of the initial vorticity"),
        Param("dtype", "choice", "float32", choices=tuple(sp.DTYPES), live=False, help="floating-point precision"),
    )
    views = (
        {"kind": "image", "array": "w", "title": "vorticity w (x down, y across; paint a Gaussian vortex)",
         "colormap": "RdBu", "levels": None, "paint": True, "role": "primary"},
        {"kind": "timeseries", "observables": ["energy", "enstrophy"], "logy": True, "role": "secondary",
         "title": "energy ½⟨|u|²⟩ and enstrophy ½⟨w²⟩"},
        {"kind": "lines", "title": "kinetic-energy spectrum (shell-averaged)", "xlabel": "|k|/2π", "role": "secondary",
         "ylabel": "E(k)", "logx": True, "logy": True,
         "series": [{"x": "k_shell", "y": "spectrum", "name": "E(k)"},
                    {"x": "k_shell", "y": "spectrum_k3", "name": "k⁻³ (enstrophy cascade)", "style": "dash"}]},
        {"kind": "values", "title": "flow and solver", "role": "info",
         "observables": ["energy", "enstrophy", "mean_vorticity", "max_vorticity", "dt", "cfl", "tail_enstrophy"]},
        {"kind": "timeseries", "observables": ["max_vorticity"], "title": "max |w|", "role": "secondary"},
        {"kind": "text", "array": "equations", "title": "equations", "role": "info"},
    )
    record_fields = ("w",)
    dt_max_auto = 2.0**-5
    cfl_formula = "dt·k_c·max(|u|+|v|)"

    @classmethod
    def estimate_bytes(cls, p) -> int:
        """Peak memory of a reset (engine budget): some 40 complex spectral arrays of the
        grid (operators, ETDRK4 coefficients, stages), measured 260–280 bytes a cell in
        float32 (320 taken; 640 in float64), plus 16 MiB."""
        return (640 if p["dtype"] == "float64" else 320) * p["grid"] ** 2 + (16 << 20)

    # ---- lifecycle ------------------------------------------------------------------
    def _reset(self) -> None:
        n = self.p["grid"]
        self._dtype = sp.DTYPES[self.p["dtype"]]
        self.solver = sp.NavierStokesSolver(n, self.device, self._dtype)
        self._vh = self.solver.to_spectral(self._initial()[None])
        self._fh = self.solver.forcing_term(self.p["forcing"])
        self._physical = None
        self._start_clock()

    def _initial(self) -> torch.Tensor:
        n, kind = self.p["grid"], self.p["initial"]
        if kind == "random":
            w = sp.navier_stokes_grf(1, n, generator=self.generator, device=self.device,
                                     dtype=torch.float64)[0]
        else:
            w = shaped_vorticity(kind, n, self.device)
        w = self.p["amplitude"] * (w - w.mean())
        return w.to(self._dtype)

    def _on_live_change(self, changed):
        if "forcing" in changed:
            self._fh = self.solver.forcing_term(self.p["forcing"])
        super()._on_live_change(changed)

    def _advance(self, dt: float, count: int) -> torch.Tensor:
        coeffs = self.solver.coefficients(self.p["viscosity"], dt)
        return self.solver.step(self._vh, coeffs, self._fh, count)

    def _after_chunk(self) -> None:
        self._physical = None

    # ---- setting the state ------------------------------------------------------------------
    def set_state(self, w=None) -> None:
        """Start from vorticity ``w``: an array (grid, grid) of finite numbers, indexed
        ``w[i, j] = w(i/n, j/n)``. Its mean is removed."""
        if w is None:
            raise ValueError("set_state: pass w=array of shape (grid, grid)")
        a = np.asarray(w.detach().cpu() if isinstance(w, torch.Tensor) else w, dtype=np.float64)
        n = self.p["grid"]
        if a.shape != (n, n):
            raise ValueError(f"set_state: w must have shape ({n}, {n}) (the grid), got {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"set_state: w must be finite; found {int((~np.isfinite(a)).sum())} NaN/inf values")
        self._set_physical(torch.as_tensor(a - a.mean(), device=self.device))

    def paint(self, field, x, y, radius, value, mode="set"):
        """A Gaussian vortex (σ = radius/2 cells) centred on the image's column ``x`` and row
        ``y`` (physical y = x/n and x = y/n: rows are x): ``add`` adds ``value`` at its
        centre, ``set`` blends w towards ``value`` with the Gaussian as weight. The mean
        is removed afterwards (a uniform background of opposite vorticity)."""
        if field != "w":
            raise ValueError(f"paint: field must be 'w', not {field!r}")
        if mode not in ("set", "add"):
            raise ValueError(f"paint: mode must be 'set' or 'add', not {mode!r}")
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(value)) or not radius >= 0:
            raise ValueError("paint: x, y and value must be finite and radius >= 0")
        n = self.p["grid"]
        core = max(float(radius), 0.5) / 2 / n
        g = gaussian_vortex(n, float(y) / n, float(x) / n, core, self.device)
        w = self.solver.to_physical(self._vh)[0].to(torch.float64)
        w = w + g * (float(value) if mode == "add" else float(value) - w)
        self._set_physical(w - w.mean())

    def _set_physical(self, w: torch.Tensor) -> None:
        self._vh = self.solver.to_spectral(w[None])
        self._physical = None
        self._state_changed()

    # ---- output -------------------------------------------------------------------------------
    def _w(self) -> torch.Tensor:
        if self._physical is None:
            self._physical = self.solver.to_physical(self._vh)[0]
        return self._physical

    def state(self):
        e = self.solver.energy_spectrum(self._vh)[0].to("cpu").numpy()
        kept = (self.p["grid"] - 1) // 3
        e = e[1:kept + 1]
        k = np.arange(1, e.size + 1, dtype=np.float64)
        # the reference slope is drawn through the spectrum at the end of the forcing/energy range
        anchor = min(4, e.size) - 1
        ref = e[anchor] * (k / k[anchor]) ** -3.0 if e.size else e
        return {"w": self._w(), "k_shell": k, "spectrum": e, "spectrum_k3": ref}

    def observables(self):
        wh = self._vh
        z = self.solver._power(wh)
        kept = (self.p["grid"] - 1) // 3
        shells = self.solver.shells
        total = float(z.sum() - z[..., 0, 0].sum())
        tail = float(z[0][shells > 2 * kept // 3].sum()) / total if total > 0 else 0.0
        # the forcing's Fourier mode k = 2π(1, 1) (with its conjugate): its share of the enstrophy
        forced = float(z[0, 1, 1]) / total if self.p["forcing"] != 0 and total > 0 else math.nan
        return {
            "energy": float(self.solver.energy(wh)[0]),
            "enstrophy": float(self.solver.enstrophy(wh)[0]),
            "mean_vorticity": float(self.solver.mean(wh)[0]),
            "max_vorticity": float(self._w().abs().max()),
            "dt": self._dt_now,
            "cfl": self.solver.cfl(wh, self._dt_now),
            "tail_enstrophy": tail,
            "forced_share": forced,
        }
