"""1D viscous Burgers equation, the ground truth of the neural-operator family.

    ∂u/∂t + u ∂u/∂x = ν ∂²u/∂x²,   periodic on [0, length)

Fourier pseudo-spectral with the 2/3 rule and ETDRK4 (see :mod:`._spectral`,
which also holds the batched ``burgers_solve`` for data generation). A smooth
start steepens into a shock whose width is set by ν (about 2ν/Δu for a jump
Δu): ``max_gradient`` grows, then saturates and decays as the shock loses
amplitude; ``spectrum_slope``, the log–log slope of the energy spectrum between
the 4th mode and 0.3/ν, is −2 for the tail of a jump. The mean of u is
conserved exactly (the nonlinear term is a derivative). Each engine step advances ``dt``; ``dt = 0`` chooses it from the
CFL rule (a power of two, so times land exactly).

Initial conditions: ``sine`` (u = amplitude·sin(2πx/length), which breaks at
t = length/(2π·amplitude) without viscosity), ``random`` (Li et al.'s Gaussian
random field, covariance 625(−Δ + 25 I)^{−2}, scaled by ``amplitude``),
``modes`` (four Fourier modes, k = 1..4, random amplitudes ∝ 1/k and phases),
plus ``mean``; or any array through :meth:`Burgers.set_state`, or painting
on the kymograph (a column is a position x).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import torch

from attractor_lab.engine.models import register
from attractor_lab.engine.models.neural_operator import _spectral as sp
from attractor_lab.engine.models.neural_operator._live import SpectralModel
from attractor_lab.engine.params import Param

#: rows of the kymograph (its time span is ``kymograph_span``)
KYMOGRAPH_ROWS = 256
INITIALS = ("sine", "random", "modes")

#: the top third of the retained modes holds less than this share of the energy: resolved (the
#: shock preset's tail is ~1e-8; Gibbs ripples from a too-thin shock show from ~1e-4)
RESOLVED_TAIL = 1e-6


@register
class Burgers(SpectralModel):
    name = "burgers"
    title = "Burgers (1D viscous)"
    description = (
        "1D viscous Burgers equation, pseudo-spectral (2/3 rule) with ETDRK4: a smooth profile steepens into a "
        "shock of width ~ν. u(x), its space–time history and its energy spectrum; the ground truth for neural "
        "operators."
    )
    equations = ("∂u/∂t + u ∂u/∂x = ν ∂²u/∂x²   periodic on [0, L)\n"
                 "Fourier pseudo-spectral, 2/3-rule dealiasing; ETDRK4 (Kassam–Trefethen coefficients)\n"
                 "conserved: mean of u;  d/dt ½⟨u²⟩ = −ν⟨u_x²⟩")
    params = (
        Param("viscosity", "float", 0.02, 1e-4, 10.0, unit="length²/time", log=True,
              help="ν: shock width ~2ν/Δu; below ~3·dx·max|u| the grid no longer resolves the shock"),
        Param("grid", "int", 1024, 16, 65536, unit="points", live=False,
              help="grid points (modes kept by the 2/3 rule: |k| < grid/3)"),
        Param("length", "float", 2 * math.pi, 1e-3, 1e4, unit="length", live=False,
              help="period of the domain (2π by default; Li et al.'s data use 1)"),
        Param("dt", "float", 0.0, 0.0, 1.0, unit="time",
              help="time step; 0 = automatic (CFL number dt·k_c·max|u| ≤ 1, a power of two); "
                   f"a fixed dt with CFL number above {sp.CFL_LIMIT:g} is refused"),
        Param("initial", "choice", "sine", choices=INITIALS, live=False,
              help="sine: amplitude·sin(2πx/L); random: Li et al.'s Gaussian random field 625(−Δ+25)^−2 "
                   "(seeded); modes: four random Fourier modes (seeded)"),
        Param("amplitude", "float", 1.0, 0.0, 100.0, unit="velocity", live=False,
              help="scale of the initial profile"),
        Param("mean", "float", 0.0, -100.0, 100.0, unit="velocity", live=False,
              help="uniform value added at reset (conserved: the shock then travels at this speed)"),
        Param("dtype", "choice", "float64", choices=tuple(sp.DTYPES), live=False, help="floating-point precision"),
        Param("kymograph_span", "float", 4.0, 0.01, 1e4, unit="time",
              help=f"simulated time shown by the kymograph ({KYMOGRAPH_ROWS} rows, newest at the bottom)"),
    )
    views = (
        {"kind": "lines", "title": "u(x)", "xlabel": "x", "ylabel": "u", "zero_line": True, "role": "primary",
         "series": [{"x": "x", "y": "u", "name": "u"}]},
        # x in length units across, t up: row 0 (drawn at the bottom) at kymograph_extent's t0, the newest row at t1
        {"kind": "image", "array": "kymograph", "colormap": "RdBu", "levels": None, "paint": True, "aspect": "auto",
         "extent": "kymograph_extent", "xlabel": "x", "ylabel": "t", "role": "primary",
         "title": "space–time u(x, t): time up (paint: set u near x)"},
        {"kind": "lines", "title": "energy spectrum", "xlabel": "wavenumber k", "ylabel": "E(k)", "role": "secondary",
         "logx": True, "logy": True,
         "series": [{"x": "k", "y": "spectrum", "name": "E(k)"},
                    {"x": "k", "y": "spectrum_shock", "name": "k⁻² (a shock)", "style": "dash"}]},
        {"kind": "timeseries", "observables": ["max_gradient"], "title": "shock steepness max |∂u/∂x|",
         "role": "secondary"},
        {"kind": "timeseries", "observables": ["energy", "mean_u"], "title": "energy ½⟨u²⟩ and mean",
         "role": "secondary"},
        {"kind": "values", "title": "solver", "role": "info",
         "observables": ["mean_u", "energy", "max_gradient", "dt", "cfl", "tail_energy"]},
        {"kind": "text", "array": "equations", "title": "equations", "role": "info"},
        {"kind": "text", "array": "resolution", "title": "resolution", "role": "info"},
    )
    record_fields = ("u",)
    dt_max_auto = 2.0**-6
    cfl_formula = "dt·k_c·max|u|"

    @classmethod
    def estimate_bytes(cls, p) -> int:
        """Peak memory of a reset and its first steps (engine budget): the kymograph
        (KYMOGRAPH_ROWS × grid), its frame copies and the solver's spectra, measured
        about 4.5 kB a grid point in float64 (5.4 kB taken, half in float32), plus 14 MiB."""
        per_point = 5400 if p["dtype"] == "float64" else 2700
        return per_point * p["grid"] + (14 << 20)

    # ---- lifecycle ------------------------------------------------------------------
    def _reset(self) -> None:
        n = self.p["grid"]
        self._dtype = sp.DTYPES[self.p["dtype"]]
        self.solver = sp.BurgersSolver(n, self.p["length"], self.device, self._dtype)
        self._x = torch.arange(n, dtype=torch.float64) * (self.p["length"] / n)
        self._vh = self.solver.to_spectral(self._initial()[None])
        self._start_clock()
        self._kymo = torch.full((KYMOGRAPH_ROWS, n), float("nan"), dtype=self._dtype, device=self.device)
        self._kymo_count = 0
        self._pending_rows: tuple = ((), 0.0)
        self._append_row(self.time)

    def _initial(self) -> torch.Tensor:
        n, length, amp = self.p["grid"], self.p["length"], self.p["amplitude"]
        x = self._x.to(self.device)
        kind = self.p["initial"]
        if kind == "sine":
            u = torch.sin(2 * math.pi * x / length)
        elif kind == "random":
            u = sp.burgers_grf(1, n, length=length, generator=self.generator, device=self.device)[0]
        else:  # modes
            k = torch.arange(1, 5, dtype=torch.float64, device=self.device)
            a = torch.rand(4, generator=self.generator, device=self.device, dtype=torch.float64) / k
            phase = 2 * math.pi * torch.rand(4, generator=self.generator, device=self.device, dtype=torch.float64)
            u = (a[:, None] * torch.sin(2 * math.pi * k[:, None] * x[None] / length + phase[:, None])).sum(0)
            u = u / u.abs().max()
        return (amp * u + self.p["mean"]).to(self._dtype)

    # ---- stepping ---------------------------------------------------------------------------
    def _advance(self, dt: float, count: int) -> torch.Tensor:
        vh = self._vh
        coeffs = self.solver.coefficients(self.p["viscosity"], dt)
        spacing = self.p["kymograph_span"] / KYMOGRAPH_ROWS
        t, next_row = self.time, self._next_row
        rows: deque = deque(maxlen=KYMOGRAPH_ROWS)
        for _ in range(count):
            vh = self.solver.step(vh, coeffs)
            t += dt
            behind = math.floor((t - next_row) / spacing + 1e-9)  # rows due now, minus one
            if behind >= 0:  # a step longer than the spacing repeats its row: time stays linear
                next_row += (behind - min(behind, KYMOGRAPH_ROWS)) * spacing
                for _ in range(min(behind, KYMOGRAPH_ROWS) + 1):
                    rows.append(vh)
                    next_row += spacing
        self._pending_rows = (tuple(rows), next_row)
        return vh

    def _after_chunk(self) -> None:
        rows, self._next_row = self._pending_rows
        self._pending_rows = ((), self._next_row)
        for vh in rows:
            self._append_row(None, vh)

    def _append_row(self, t: float | None, vh: torch.Tensor | None = None) -> None:
        """Write u (now, or of ``vh``) as the newest kymograph row; with ``t``, the next
        row falls one spacing after it."""
        u = self.solver.to_physical(self._vh if vh is None else vh)[0]
        self._kymo[self._kymo_count % KYMOGRAPH_ROWS] = u
        self._kymo_count += 1
        if t is not None:
            self._next_row = t + self.p["kymograph_span"] / KYMOGRAPH_ROWS

    # ---- setting the state ------------------------------------------------------------------
    def set_state(self, u=None) -> None:
        """Start from ``u``: an array of shape (grid,) of finite numbers (any float dtype)."""
        if u is None:
            raise ValueError("set_state: pass u=array of shape (grid,)")
        a = np.asarray(u.detach().cpu() if isinstance(u, torch.Tensor) else u, dtype=np.float64)
        n = self.p["grid"]
        if a.shape != (n,):
            raise ValueError(f"set_state: u must have shape ({n},) (the grid), got {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"set_state: u must be finite; found {int((~np.isfinite(a)).sum())} NaN/inf values")
        self._vh = self.solver.to_spectral(torch.as_tensor(a, device=self.device)[None])
        self._edited()

    def paint(self, field, x, y, radius, value, mode="set"):
        """Set (or add) u = ``value`` within ``radius`` cells of column ``x``, with smooth
        edges (a few cells of tanh taper, periodic); ``y`` (the kymograph's row) is ignored."""
        if field not in ("kymograph", "u"):
            raise ValueError(f"paint: field must be 'kymograph' or 'u', not {field!r}")
        if mode not in ("set", "add"):
            raise ValueError(f"paint: mode must be 'set' or 'add', not {mode!r}")
        if not (math.isfinite(x) and math.isfinite(value)) or not radius >= 0:
            raise ValueError("paint: x and value must be finite and radius >= 0")
        n = self.p["grid"]
        j = torch.arange(n, device=self.device, dtype=torch.float64)
        d = torch.remainder(j - float(x) + n / 2, n) - n / 2
        edge = max(1.0, float(radius) / 8)
        weight = 0.5 * (1.0 - torch.tanh((d.abs() - float(radius)) / edge))
        u = self.solver.to_physical(self._vh)[0].to(torch.float64)
        u = u + weight * (float(value) if mode == "add" else float(value) - u)
        self._vh = self.solver.to_spectral(u[None])
        self._edited()

    def _edited(self) -> None:
        self._state_changed()
        self._append_row(self.time)

    # ---- output -------------------------------------------------------------------------------
    def _spectrum(self) -> tuple[np.ndarray, np.ndarray]:
        kept = (self.p["grid"] - 1) // 3
        e = self.solver.energy_spectrum(self._vh)[0, :kept].to("cpu", torch.float64).numpy()
        k = (2 * math.pi / self.p["length"]) * np.arange(1, kept + 1)
        return k, e

    def state(self):
        u = self.solver.to_physical(self._vh)[0]
        # newest row at the bottom, older ones above (rows not yet written: NaN, at the top)
        rows = torch.roll(self._kymo, -(self._kymo_count % KYMOGRAPH_ROWS), 0)
        k, e = self._spectrum()
        shock = e[0] * (k / k[0]) ** -2.0 if e.size else e
        return {"x": self._x.numpy(), "u": u, "kymograph": rows, "k": k, "spectrum": e, "spectrum_shock": shock,
                "kymograph_extent": self._kymograph_extent()}

    def _kymograph_extent(self) -> np.ndarray:
        """[x0, x1, t0, t1]: x across the domain [0, length), row 0 (top, oldest) at t0 and the
        newest row (bottom) at t1, the time it was written; rows are kymograph_span/rows apart."""
        spacing = self.p["kymograph_span"] / KYMOGRAPH_ROWS
        newest = self._next_row - spacing
        return np.array([0.0, float(self.p["length"]), newest - (KYMOGRAPH_ROWS - 1) * spacing, newest])

    def observables(self):
        vh = self._vh
        u = self.solver.to_physical(vh)[0].to(torch.float64)
        grad = self.solver.gradient(vh)[0]
        _, e = self._spectrum()
        total = float(e.sum())
        tail = float(e[2 * e.size // 3:].sum()) / total if total > 0 else 0.0
        return {
            "mean_u": float(vh[0, 0].real) / self.p["grid"],
            "energy": 0.5 * float((u * u).mean()),
            "max_gradient": float(grad.abs().max()),
            "dt": self._dt_now,
            "cfl": self.solver.cfl(vh, self._dt_now),
            "tail_energy": tail,
            "spectrum_slope": self._spectrum_slope(),
        }

    def _spectrum_slope(self) -> float:
        """Slope of log E(k) against log k between the 4th mode and 0.3/ν (well above the box
        scale, well below the viscous cut-off): −2 for the tail of a jump. NaN when that range
        spans less than a factor 2 or the spectrum has zeros there."""
        k, e = self._spectrum()
        band = (k >= k[min(3, k.size - 1)]) & (k <= 0.3 / self.p["viscosity"]) if k.size else k
        if not band.any() or k[band][-1] < 2 * k[band][0] or not (e[band] > 0).all():
            return float("nan")
        return float(np.polyfit(np.log(k[band]), np.log(e[band]), 1)[0])

    def texts(self):
        tail = self.observables()["tail_energy"]
        if tail < RESOLVED_TAIL:
            verdict = f"resolved: the top third of the retained modes holds {tail:.1e} of the energy"
        else:
            verdict = (f"under-resolved: the top third of the retained modes holds {tail:.1e} of the energy "
                       "(a shock thinner than the grid: Gibbs ripples); raise grid or viscosity")
        return {"equations": self.equations, "resolution": verdict}
