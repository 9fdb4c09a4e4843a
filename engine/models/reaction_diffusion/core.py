"""Shared base of the two-field reaction–diffusion models.

    ∂u/∂t = Du ∇²u + f(u, v)
    ∂v/∂t = Dv ∇²v + g(u, v)

A system subclass declares only its chemistry: the reaction ``(f, g)`` as a
function of plain arithmetic (the same code runs in the torch kernel and, with
complex numbers, gives the exact Jacobian for the Turing analysis), its
uniform steady state, the states used for seeding and its parameters. This
base supplies the grid, the schemes (explicit ``euler``/``rk4`` finite
differences with periodic or zero-flux boundaries, pseudo-spectral
``etdrk4``), the float dtype, the stability checks, the NaN guard,
painting, seeding, an optional pacemaker, the dispersion relation and the
measured wavelength.

Stability. The diffusive limit h²/(4D) of an explicit step is not the whole
story: the reaction's Jacobian at the local state adds to the spectrum of the
linearised step, and a stiff state (the Brusselator's peaks, where ∂g/∂v =
−u² reaches −110) drives the grid-scale modes out of the scheme's stability
region while the diffusion check still passes. So the state itself is checked
while running: at every cell the 2×2 linearisation J(u, v) − μ·diag(Du, Dv)
of the grid-scale mode (μ = 8/h², the 5-point Laplacian's largest
|eigenvalue|; μ = 0 for ``etdrk4``, which integrates diffusion exactly and is
classical RK4 for the reaction), its eigenvalues taken exactly, the largest
|λ| over the field against the scheme's real-axis limit (2 for Euler, 2.785
for RK4 and ETDRK4). Gershgorin's discs of the same matrices bound it but
overstate it where the coupling is strong (Pearson's Gray–Scott at dt = 1:
1.94 against 2.02). Checks run every 16–256 steps depending on how close the
last came (never costing more than a tenth of the stepping) and at the end of
a stepping call. A second detector watches the power on the Nyquist lines of
each field's spectrum, which a grid-scale oscillation fills even where the
local analysis says nothing. A run that fails either check is paused with
:class:`NumericalInstability`, restored to the last state that passed, with a
message naming dt, the limit and the fix; a live change of dt, of a diffusion
coefficient or of the chemistry that the current state would not survive is
refused the same way.

Lengths are in domain units: the cell size is ``h = length / grid``;
``length = 0`` means ``grid × default_cell`` so that the pattern scale in
cells stays the same when the grid changes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from attractor_lab.engine.models.reaction_diffusion import _numerics as num
from attractor_lab.engine.models.reaction_diffusion._seeding import SEEDINGS, paint_disc, seed_fields
from attractor_lab.engine.models.base import Model, SimulationDiverged
from attractor_lab.engine.params import Param
from attractor_lab.engine.theory import turing

DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: a model compiles its kernel (policy ``auto``) once it has run this many steps
#: in one configuration: short scripted runs and tests never pay for compiling.
#: A kernel compiled here before is compiled from the first step (inductor's on-disk
#: cache holds it: seconds), in the background, stepping eagerly meanwhile.
COMPILE_AFTER_STEPS = 2000
COMPILE_MIN_GRID = 64
#: the measured wavelength is refreshed at most this often (s): state(),
#: observables() and texts() are each called once per displayed frame.
MEASURE_INTERVAL_S = 0.2
#: steps between two stability checks, by how close the last one came to the limit (dt·ρ / limit)
CHECK_INTERVALS = ((0.5, 256), (0.8, 128), (0.95, 64), (math.inf, 16))
#: a stability check may cost at most this fraction of the stepping between two checks
CHECK_BUDGET = 0.1
#: the Nyquist detector pauses a run when a field holds more than this fraction of its
#: power on the Nyquist lines (at least 4/n on an n-grid, above white noise's 2/n) and
#: that power grew since the previous check
NYQUIST_ALARM = 0.02
#: a field whose std is below this fraction of max(|mean|, 1) has no pattern (no measured λ)
NO_PATTERN_CONTRAST = 1e-3


class NumericalInstability(SimulationDiverged):
    """The time step cannot follow the state: raised by ``step`` before the run shows
    garbage, with the model restored to the last state that passed the checks."""


@dataclass(frozen=True)
class Stability:
    """One stability check of the state: ``dt·rho ≤ limit`` is stable."""

    rho: float  # how far the linearised step's spectrum reaches into the left half-plane
    limit: float  # the scheme's real-axis stability limit
    dt: float
    at: tuple[float, float]  # (u, v) at the cell that sets rho

    @property
    def dt_limit(self) -> float:
        return self.limit / self.rho if self.rho > 0 else math.inf

    @property
    def ratio(self) -> float:
        return self.dt * self.rho / self.limit


def common_params(*, dt: float, dt_max: float, grid: int = 256, cell: float = 1.0, scheme: str = "euler",
                  boundary: str = "periodic", seeding: str = "centre_square", noise: float = 0.02,
                  dtype: str = "float32") -> tuple[Param, ...]:
    """The grid, scheme and seeding parameters every reaction–diffusion model has."""
    return (
        Param("grid", "int", grid, 16, 4096, unit="cells", help="cells per side", live=False),
        Param("length", "float", 0.0, 0.0, 1e6, help=f"domain side length; 0 means grid × {cell:g} "
              "(cell size h = length / grid)", live=False),
        Param("dt", "float", dt, 1e-5, dt_max, unit="time", help="time step", log=True),
        Param("scheme", "choice", scheme, choices=num.SCHEMES,
              help="euler/rk4: explicit finite differences; etdrk4: exponential pseudo-spectral (periodic)"),
        Param("boundary", "choice", boundary, choices=num.BOUNDARIES,
              help="periodic wrap, or zero-flux (Neumann) walls for the finite-difference schemes"),
        Param("dtype", "choice", dtype, choices=tuple(DTYPES), help="floating-point precision", live=False),
        Param("seeding", "choice", seeding, choices=SEEDINGS, help="initial condition applied at reset",
              live=False),
        Param("noise", "float", noise, 0.0, 1.0, help="amplitude of the uniform noise added at reset",
              live=False),
    )


def pacing_params(period: float = 0.0, radius: float = 4.0) -> tuple[Param, ...]:
    """A pacemaker at the centre: every ``pacing_period`` time units u is set to the
    excited state in a disc of ``pacing_radius`` cells (a stimulus electrode)."""
    return (
        Param("pacing_period", "float", period, 0.0, 1e6, unit="time",
              help="a pacemaker at the centre fires every this many time units (0: none)", step=1.0),
        Param("pacing_radius", "float", radius, 0.5, 1e4, unit="cells", help="radius of the pacemaker's disc",
              step=0.5),
    )


#: the phase plane's samples of the field: every this-many-th cell along each side at most
#: PHASE_SAMPLES_PER_SIDE² points (about 2500, a few thousand at most)
PHASE_SAMPLES_PER_SIDE = 50


def dispersion_view() -> dict:
    """The dispersion relation of the uniform state, centred on its unstable band
    (``band``: y from −3·σ_max to 1.25·σ_max when σ_max > 0)."""
    return {"kind": "lines", "title": "dispersion relation σ(k)", "xlabel": "wavenumber k",
            "ylabel": "growth rate σ", "role": "secondary", "band": 3,
            "series": [{"x": "turing_k", "y": "turing_sigma", "name": "Re σ(k)"},
                       {"x": "turing_k", "y": "turing_zero", "name": "σ = 0"}],
            "points": [{"x": "k_fastest", "y": "sigma_fastest", "name": "fastest (theory)"},
                       {"x": "k_measured", "y": "sigma_measured", "name": "measured"}]}


def phase_plane_view(title: str, u_curve: str, v_curve: str, aspect: str | None = None) -> dict:
    """The local u–v phase plane: (u, v) of a few thousand cells of the field (points) over
    two curves of the model (``nc_u_x``/``nc_u_y`` and ``nc_v_x``/``nc_v_y``: the nullclines,
    or the limit cycle), pieces separated by NaN."""
    view = {"kind": "lines", "title": title, "xlabel": "u", "ylabel": "v", "role": "secondary",
            "series": [{"x": "phase_u", "y": "phase_v", "name": "cells (u, v)", "symbol": "o", "size": 3},
                       {"x": "nc_u_x", "y": "nc_u_y", "name": u_curve},
                       {"x": "nc_v_x", "y": "nc_v_y", "name": v_curve, "style": "dash"}],
            "points": []}
    if aspect:
        view["aspect"] = aspect
    return view


def rd_views(main: str, levels: dict[str, list[float] | None], colormaps=("viridis", "magma"),
             extra: tuple[dict, ...] | None = None) -> tuple[dict, ...]:
    """Views of a reaction–diffusion model: both fields (paintable; ``main`` the primary
    view), the 3D surface of ``main``, spatial means, the dispersion relation (or, with
    ``extra``, those views in its place: excitable media and oscillators, where the uniform
    state's σ(k) says nothing about the pattern), equations and verdict."""
    other = "u" if main == "v" else "v"
    return (
        {"kind": "image", "array": main, "title": main, "colormap": colormaps[0], "levels": levels[main],
         "paint": True, "role": "primary"},
        {"kind": "image", "array": other, "title": other, "colormap": colormaps[1], "levels": levels[other],
         "paint": True, "role": "secondary"},
        {"kind": "surface", "array": main, "title": f"{main} (height)", "zscale": 0.12, "levels": levels[main],
         "role": "secondary"},
        {"kind": "timeseries", "observables": ["mean_u", "mean_v"], "title": "spatial means", "role": "secondary"},
        *((dispersion_view(),) if extra is None else extra),
        {"kind": "text", "array": "equations", "title": "equations", "role": "info"},
        {"kind": "text", "array": "turing", "title": "linear stability", "role": "info"},
    )


class ReactionDiffusion(Model):
    """Base class of the two-field reaction–diffusion systems (not registered itself).

    Subclasses set ``params`` (their own, then :func:`common_params`),
    ``views`` (:func:`rd_views`), ``reaction_names`` and implement
    :meth:`reaction`, :meth:`steady_state` and :meth:`seed_states`.
    """

    #: names of the parameters :meth:`reaction` reads, in kernel order
    reaction_names: ClassVar[tuple[str, ...]] = ()
    #: cell size used when ``length`` is 0
    default_cell: ClassVar[float] = 1.0
    #: field whose FFT gives the measured wavelength
    pattern_field: ClassVar[str] = "u"
    #: extra advice appended to the divergence message
    divergence_hint: ClassVar[str] = ""
    #: ``jacobian(u, v, p)`` → (∂f/∂u, ∂f/∂v, ∂g/∂u, ∂g/∂v), or None: the Jacobian is taken
    #: by evaluating :meth:`reaction` on dual (stability) and complex (Turing) numbers.
    #: A model whose reaction is not plain arithmetic (``custom_rd``: exp, tanh, …) gives it.
    reaction_jacobian: ClassVar = None
    #: True: ``state()`` carries the phase plane's arrays (``phase_u``/``phase_v`` and the
    #: curves of :meth:`phase_curves`) for :func:`phase_plane_view`
    phase_plane: ClassVar[bool] = False

    # ---- the chemistry, per system --------------------------------------------
    @staticmethod
    def reaction(u, v, p):
        """Return ``(f, g)``; arithmetic only (torch tensors, floats or complex)."""
        raise NotImplementedError

    def steady_state(self) -> tuple[float, float] | None:
        """The uniform steady state analysed for Turing/Hopf instability."""
        raise NotImplementedError

    def seed_states(self) -> dict:
        """``rest``, ``excited`` and ``refractory`` (u, v) states for seeding."""
        raise NotImplementedError

    def regime_note(self) -> str:
        """Extra line for the ``turing`` text (system-specific interpretation)."""
        return ""

    def phase_curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The phase plane's two curves, ``{"nc_u": (x, y), "nc_v": (x, y)}`` (u along x, v
        along y; pieces separated by NaN): the nullclines f = 0 and g = 0, or what the
        system draws in their place. Only read when ``phase_plane`` is True."""
        raise NotImplementedError

    # ---- geometry --------------------------------------------------------------
    @property
    def length(self) -> float:
        """Domain side length (domain units)."""
        return float(self.p["length"]) or self.p["grid"] * self.default_cell

    @property
    def cell_size(self) -> float:
        """h = length / grid."""
        return self.length / self.p["grid"]

    @property
    def periodic(self) -> bool:
        return self.p["boundary"] == "periodic"

    @property
    def fields(self) -> torch.Tensor:
        """The state, shape ``(2, grid, grid)``: ``u`` then ``v``."""
        return self._fields

    # ---- checks ----------------------------------------------------------------
    def explicit_limit(self) -> float:
        """Largest stable dt of the explicit scheme for pure diffusion (inf for etdrk4)."""
        scheme = self.p["scheme"]
        d_max = max(self.p["Du"], self.p["Dv"])
        if scheme not in num.EXPLICIT_LIMIT or d_max == 0:
            return float("inf")
        return num.EXPLICIT_LIMIT[scheme] * self.cell_size**2 / d_max

    def check_numerics(self) -> None:
        """Refuse settings that cannot work, with the numbers.

        Raises
        ------
        ValueError
            ``etdrk4`` on a Neumann domain, or an explicit ``dt`` above the
            diffusive stability limit.
        """
        scheme, dt = self.p["scheme"], self.p["dt"]
        if scheme == "etdrk4" and not self.periodic:
            raise ValueError(f"{self.name}: scheme='etdrk4' is pseudo-spectral and needs boundary='periodic'; "
                             "use scheme='euler' or 'rk4' for boundary='neumann'")
        limit = self.explicit_limit()
        if dt > limit:
            h = self.cell_size
            raise ValueError(
                f"{self.name}: dt = {dt:g} exceeds the explicit {scheme} limit {num.LIMIT_FORMULA[scheme]} = "
                f"{limit:.4g} (h = {h:.4g}, max D = {max(self.p['Du'], self.p['Dv']):g}); "
                f"lower dt to at most {limit:.4g}, lower the diffusion coefficients, or use scheme='etdrk4'")

    # ---- stability of the state --------------------------------------------------
    def stability(self, fields: torch.Tensor | None = None, scheme: str | None = None) -> Stability:
        """Stability check of ``fields`` (default: the current state) for ``scheme``
        (default: the current one); see the module docstring."""
        f = self._fields if fields is None else fields
        scheme = scheme or self.p["scheme"]
        p = {name: float(self.p[name]) for name in self.reaction_names}
        mu_max = 0.0 if scheme == "etdrk4" else 8.0 / self.cell_size**2
        rho, at = num.local_reach(self.reaction, f, p, (self.p["Du"], self.p["Dv"]), mu_max,
                                  jacobian=self.reaction_jacobian)
        u, v = (float(x) for x in f.reshape(2, -1)[:, at].tolist())
        return Stability(rho, num.REAL_AXIS_LIMIT[scheme], float(self.p["dt"]), (u, v))

    def _instability_text(self, rep: Stability) -> str:
        scheme, dt = self.p["scheme"], self.p["dt"]
        u, v = rep.at
        safe = 0.8 * rep.dt_limit
        if scheme == "etdrk4":
            return (f"dt = {dt:g} exceeds the stability limit {rep.dt_limit:.3g} of etdrk4's explicit reaction at this "
                    f"state (the reaction Jacobian's eigenvalue |λ| = {rep.rho:.4g} at u = {u:.3g}, v = {v:.3g}, "
                    f"against RK4's real-axis limit {rep.limit:.4g}); lower dt to {safe:.3g} or less")
        etd = self.stability(scheme="etdrk4").dt_limit
        return (f"dt = {dt:g} exceeds the stability limit {rep.dt_limit:.3g} of {scheme} at this state "
                f"(|λ| = {rep.rho:.4g} for J(u, v) − diag(Du, Dv)·8/h² at the stiffest cell, u = {u:.3g}, "
                f"v = {v:.3g}, against {scheme}'s real-axis limit {rep.limit:.4g}; diffusion alone would allow "
                f"{self.explicit_limit():.3g}); lower dt to {safe:.3g} or less, or use scheme='etdrk4' "
                f"(diffusion exact; its reaction limit here is dt = {etd:.3g})")

    def _check_interval(self, ratio: float) -> int:
        return max(next((k for bound, k in CHECK_INTERVALS if ratio < bound), CHECK_INTERVALS[-1][1]), self._cheap_gap())

    def _accept_state(self, step: int, time_now: float) -> None:
        """Check the current state; on success it becomes the restore point."""
        t0 = time.perf_counter()
        rep = self.stability()
        if rep.ratio > 1.0 + 1e-9:
            self._pause(step, f"{self._instability_text(rep)}.")
        line, total = num.nyquist_power(self._fields)
        line, total = line.tolist(), total.tolist()
        alarm = max(NYQUIST_ALARM, 4.0 / self.p["grid"])
        if self._nyquist is not None and self._nyquist[0] == self._edits:
            for name, now, before, tot in zip(("u", "v"), line, self._nyquist[1], total):
                if tot > 0 and now / tot > alarm and now > 1.5 * before:
                    self._pause(step, f"a grid-scale oscillation grows in {name} ({now / tot:.1%} of its power on the "
                                f"Nyquist modes, up from {before / tot:.1%}): the time step cannot follow this "
                                f"state although the local analysis allows dt ≤ {rep.dt_limit:.3g}; lower dt "
                                f"(now {self.p['dt']:g})" + ("" if self.p["scheme"] == "etdrk4"
                                                              else " or use scheme='etdrk4'"))
        self._nyquist = (self._edits, line)
        self._stability = rep
        self._checked = (self._fields, step, time_now)
        self._check_cost = 0.7 * self._check_cost + 0.3 * (time.perf_counter() - t0)
        self._check_due = step + self._check_interval(rep.ratio)

    def _pause(self, reached: int, what: str) -> None:
        fields, step, time_now = self._checked
        self._fields, self.steps, self.time = fields, step, time_now
        self._nyquist = None
        raise NumericalInstability(
            f"{self.name}: paused at step {reached} and restored step {step} (t = {time_now:.4g}), the last state "
            f"that passed the stability checks: {what}")

    state_fields = ("u", "v")
    # the dispersion relation of the uniform state and the phase plane's nullclines
    theory_fields = ("turing_k", "turing_sigma", "turing_zero", "nc_u_x", "nc_u_y", "nc_v_x", "nc_v_y")

    @classmethod
    def theory_lines(cls, x, y, params, x_range, y_range=None) -> list[dict]:
        """Sweep overlay on a plane of two parameters of the linear analysis (the chemistry,
        Du, Dv): the boundary of the Turing-unstable region of the uniform state — where
        min(−σ(0), max_{k>0} σ(k)) changes sign — sampled on a 40 × 40 grid."""
        inputs = set(cls.reaction_names) | {"Du", "Dv"}
        if y is None or x not in inputs or y not in inputs:
            return []
        from attractor_lab.engine.theory.contour import sample_plane, zero_contour

        def margin(xv: float, yv: float) -> float:
            bare = cls.__new__(cls)  # parameters only: steady_state and cell_size read self.p
            bare.p = {**params, x: xv, y: yv}
            state = bare.steady_state()
            if state is None:
                return math.nan
            jac = turing.jacobian_complex_step(cls.reaction, state[0], state[1],
                                               {n: bare.p[n] for n in cls.reaction_names})
            a = turing.analyse(jac, (bare.p["Du"], bare.p["Dv"]), bare.cell_size, bare.p["scheme"],
                               steady_state=state, samples=200)
            return float(min(-a.sigma[0], a.sigma[1:].max()))

        xs, ys, values = sample_plane(margin, x_range, y_range)
        cx, cy = zero_contour(xs, ys, values)
        return [{"name": "Turing boundary", "x": cx, "y": cy}] if cx.size else []

    #: bytes a cell at its measured peak (explicit scheme, float32): see estimate_bytes
    memory_per_cell: ClassVar[int] = 170

    @classmethod
    def estimate_bytes(cls, p) -> int:
        """Peak memory of a reset and its first steps (engine budget), in bytes: per cell
        :attr:`memory_per_cell` for the explicit schemes in float32 (the fields, the
        stages, the reaction's temporaries, the stability check's arrays; measured, with
        the heap's retention of freed mid-size arrays), ×1.3 for RK4, ×2 in float64; ETDRK4
        adds 330 bytes a cell of complex spectra and coefficients; plus 16 MiB.
        Measured against this estimate: tests/test_memory_estimates.py."""
        cells = p["grid"] ** 2
        per_cell = cls.memory_per_cell * (2 if p["dtype"] == "float64" else 1)
        if p["scheme"] == "rk4":
            per_cell *= 1.3
        elif p["scheme"] == "etdrk4":
            per_cell += 330
        return int(per_cell * cells) + (16 << 20)

    def set_state(self, u=None, v=None) -> None:
        """Set ``u`` and/or ``v`` (grid, grid): finite numbers (the scripting API's and a
        restarted window's way to continue a run)."""
        shape = tuple(self._fields.shape[1:])
        for name, value in (("u", u), ("v", v)):
            if value is not None:
                a = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
                if a.shape != shape:  # named here: set_fields' own message would name set_fields
                    raise ValueError(f"{self.name}: set_state: {name!r} must have shape {shape} (the grid), "
                                     f"not {a.shape}")
                if a.dtype.kind not in "fiu" or not np.isfinite(a).all():
                    raise ValueError(f"{self.name}: set_state: {name!r} must hold finite numbers")
        if u is None and v is None:
            raise ValueError(f"{self.name}: set_state needs u and/or v")
        self.set_fields(u=u, v=v)
        self._on_state_set()

    def _on_state_set(self) -> None:
        self._checked = (self._fields, self.steps, self.time)  # the last good state is this one
        self._nyquist = None

    # ---- lifecycle ---------------------------------------------------------------
    def _reset(self) -> None:
        self.check_numerics()
        self._dtype = DTYPES[self.p["dtype"]]
        self._fields = seed_fields(self.p["seeding"], self.p["grid"], self.seed_states(), self.p["noise"],
                                   self.generator, self.device, self._dtype)
        self._steppers: dict[tuple, num.FusedStepper] = {}
        self._etd_cache: tuple | None = None
        self._steps_in_config = 0
        self._refresh_coefficients()
        self._turing_key = None
        self._update_turing()
        self._measured = (float("nan"), float("nan"))
        self._measured_at: tuple | None = None  # (stamp, time, cost) of the last measurement
        self._edits = 0
        self._nyquist: tuple | None = None  # (edits, per-field Nyquist power) at the last check
        self._check_cost = self._step_cost = 0.0
        rep = self.stability()
        if not math.isfinite(rep.ratio):  # the reaction overflows at the initial state (exp(1000), …)
            raise ValueError(f"{self.name}: the reaction or its Jacobian is not finite at the initial state, so "
                             f"no step size is stable; start from smaller values (init, seed) or change the reaction")
        if rep.ratio > 1.0 + 1e-9:
            raise ValueError(f"{self.name}: the initial state is too stiff for this step: {self._instability_text(rep)}")
        self._stability = rep
        self._checked = (self._fields, 0, 0.0)
        self._check_due = self._check_interval(rep.ratio)

    def _on_live_change(self, changed: dict[str, Any]) -> None:
        self.check_numerics()  # a ValueError refuses the change; Model.set restores the old values
        if {"scheme", "boundary"} & set(changed):
            self._steps_in_config = 0
        if {"dt", "Du", "Dv", "scheme"} & set(changed) or set(self.reaction_names) & set(changed):
            rep = self.stability()
            if rep.ratio > 1.0 + 1e-9:
                names = ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in changed.items())
                raise ValueError(f"{self.name}: {names} refused: {self._instability_text(rep)}")
            self._stability = rep
            self._check_due = min(self._check_due, self.steps + self._check_interval(rep.ratio))
        self._refresh_coefficients()
        self._update_turing()

    def _refresh_coefficients(self) -> None:
        h2 = self.cell_size**2
        values = [self.p["dt"], self.p["Du"] / h2, self.p["Dv"] / h2] + [self.p[n] for n in self.reaction_names]
        self._prm_floats = tuple(float(x) for x in values)
        self._prm_tensor = torch.tensor(values, dtype=self._dtype, device=self.device)

    def _stepper(self) -> num.FusedStepper:
        key = (self.p["scheme"], self.p["boundary"])
        if key not in self._steppers:
            if key[0] == "etdrk4":
                eager = num.make_etdrk4_step(self.reaction, self.reaction_names)
                self._steppers[key] = num.FusedStepper(eager)
            else:
                args = (self.reaction, self.reaction_names, key[0], self.periodic)
                block = num.FUSED_BLOCK_STEPS[key[0]]
                self._steppers[key] = num.FusedStepper(
                    num.make_explicit_step(*args), fused=num.make_fused_steps(*args),
                    block=num.make_fused_steps(*args, count=block) if block > 1 else None, block_steps=block,
                    name=f"{type(self).__module__}.{type(self).__name__}:{key[0]}:{key[1]}")
        return self._steppers[key]

    def _etd_coefficients(self) -> dict:
        key = (self.p["grid"], self.cell_size, self.p["dt"], self.p["Du"], self.p["Dv"], self._dtype)
        if self._etd_cache is None or self._etd_cache[0] != key:
            coeffs = num.etdrk4_coefficients(self.p["grid"], self.cell_size, self.p["dt"],
                                             (self.p["Du"], self.p["Dv"]), self.device, self._dtype)
            self._etd_cache = (key, coeffs)
        return self._etd_cache[1]

    def _maybe_compile(self, stepper: num.FusedStepper) -> None:
        if self.p["scheme"] == "etdrk4" or stepper.compiled is not None or stepper.failed or stepper.busy:
            return  # inductor's complex FFT support is partial: the spectral step stays eager
        policy = num.compile_policy()
        if policy == "off" or not num.compiler_available(self.device):
            return
        example = (self._fields, self._prm_tensor)
        if policy == "auto" and (self.p["grid"] < COMPILE_MIN_GRID or (
                self._steps_in_config < COMPILE_AFTER_STEPS and not stepper.warm(example))):
            return
        stepper.request(example, background=(policy == "auto"))

    def _pacing_steps(self) -> int:
        """Steps between two pacemaker stimuli (0: no pacemaker)."""
        period = float(self.p.get("pacing_period", 0.0))
        return max(1, int(round(period / self.p["dt"]))) if period > 0 else 0

    def _pace(self) -> None:
        """A stimulus: u set to the excited state in a disc at the centre."""
        n = self.p["grid"]
        self._fields = self._fields.clone()  # never write into an array a frame may still hold
        paint_disc(self._fields, 0, (n - 1) / 2, (n - 1) / 2, float(self.p["pacing_radius"]),
                   float(self.seed_states()["excited"][0]), "set", self.periodic)
        self._edits += 1

    def _advance(self, stepper: num.FusedStepper, f: torch.Tensor, n: int) -> torch.Tensor:
        if self.p["scheme"] == "etdrk4":
            coeffs = self._etd_coefficients()
            for _ in range(n):
                f = stepper(f, self._prm_floats, coeffs)
            return f
        # compiled kernels take the coefficients as a tensor (no recompile on a slider move)
        return stepper.run(f, self._prm_tensor, n, eager_prm=self._prm_floats)

    def _step(self, n: int) -> None:
        self.check_numerics()
        stepper = self._stepper()
        self._maybe_compile(stepper)
        pace = self._pacing_steps()
        dt = self.dt
        done = 0
        # sub-chunks end at stability checks and pacemaker stimuli; the state is checked
        # at the end of every call too, so a published frame has always passed
        while done < n:
            now = self.steps + done
            k = min(n - done, max(self._check_due - now, 1))
            if pace:
                k = min(k, pace - now % pace)
            t0 = time.perf_counter()
            # steppers are functional (they never write into their input): the state at
            # the start of the sub-chunk survives untouched, no copy needed
            good = self._fields
            f = self._advance(stepper, good, k)
            # one device→host sync per sub-chunk, not per step. A sum is finite exactly when
            # every value is, unless finite values overflow it: only then the exact (~10×
            # slower: 0.4 ms at 256², 2 ms at 512²) element-wise check decides
            if not bool(torch.isfinite(f.sum())) and not bool(torch.isfinite(f).all()):
                self._fields = good
                self.steps, self.time = now, self.time + done * dt
                raise SimulationDiverged(self._divergence_message(k))
            self._fields = f
            self._step_cost = (time.perf_counter() - t0) / k
            done += k
            self._steps_in_config += k
            if pace and (self.steps + done) % pace == 0:
                self._pace()
            now = self.steps + done
            if now >= self._check_due or (done == n and now - self._checked[1] >= self._cheap_gap()):
                self._accept_state(now, self.time + done * dt)

    def _cheap_gap(self) -> int:
        """Fewest steps between checks for a check to cost at most CHECK_BUDGET of them."""
        if self._step_cost <= 0:
            return 1
        return max(1, int(math.ceil(self._check_cost / (CHECK_BUDGET * self._step_cost))))

    def _divergence_message(self, n: int) -> str:
        # called with self.steps already at the restored step
        scheme, dt = self.p["scheme"], self.p["dt"]
        where = (f"{self.name}: the state stopped being finite between step {self.steps} and {self.steps + n}; "
                 f"restored step {self.steps}. ")
        if scheme == "etdrk4":
            advice = (f"Lower dt (now {dt:g}): etdrk4 integrates diffusion exactly but the reaction explicitly.")
        else:
            advice = (f"Lower dt (now {dt:g}; the {scheme} diffusion limit {num.LIMIT_FORMULA[scheme]} is "
                      f"{self.explicit_limit():.4g}, and a stiff reaction needs less), "
                      "or use scheme='etdrk4'.")
        return where + advice + (" " + self.divergence_hint if self.divergence_hint else "")

    def wait_for_compile(self, timeout: float | None = None) -> bool:
        """Block until a background kernel compilation finishes; True when compiled."""
        stepper = self._stepper()
        stepper.wait(timeout)
        return stepper.compiled is not None

    # ---- state and analysis -------------------------------------------------------
    def set_fields(self, u=None, v=None) -> None:
        """Overwrite ``u`` and/or ``v`` (arrays of shape (grid, grid)); for scripts and tests."""
        for index, value in ((0, u), (1, v)):
            if value is None:
                continue
            value = torch.as_tensor(np.asarray(value), dtype=self._dtype, device=self.device)
            if value.shape != self._fields.shape[1:]:
                raise ValueError(f"set_fields: expected shape {tuple(self._fields.shape[1:])}, "
                                 f"got {tuple(value.shape)}")
            self._fields = self._fields.clone()
            self._fields[index] = value
        self._edits += 1

    def paint(self, field, x, y, radius, value, mode="set"):
        """Set or add ``value`` in a disc (cell coordinates: x = column, y = row)."""
        if field not in ("u", "v"):
            raise ValueError(f"paint: field must be 'u' or 'v', not {field!r}")
        self._fields = self._fields.clone()  # never write into an array a frame may still hold
        paint_disc(self._fields, 0 if field == "u" else 1, float(x), float(y), float(radius), float(value),
                   mode, self.periodic)
        self._edits += 1

    def _update_turing(self) -> None:
        key = (self.p["scheme"], self.cell_size) + tuple(self.p[n] for n in self.reaction_names + ("Du", "Dv"))
        if key == self._turing_key:
            return
        self._turing_key = key
        state = self.steady_state()
        if state is None:
            self.analysis = None
            return
        reaction_p = {name: self.p[name] for name in self.reaction_names}
        if self.reaction_jacobian is not None:
            juu, juv, jvu, jvv = (float(x) for x in self.reaction_jacobian(state[0], state[1], reaction_p))
            jac = np.array([[juu, juv], [jvu, jvv]])
        else:
            jac = turing.jacobian_complex_step(type(self).reaction, state[0], state[1], reaction_p)
        self.analysis = turing.analyse(jac, (self.p["Du"], self.p["Dv"]), self.cell_size, self.p["scheme"],
                                       steady_state=state)

    def _measure(self) -> tuple[float, float]:
        """Dominant (k, λ) of the pattern field, from its FFT.

        Exact for the current state, except in ``display_mode`` (the engine
        drawing live frames), where a measurement is reused until
        ``MEASURE_INTERVAL_S`` or four times its own cost has passed, so large
        grids do not spend their time in FFTs.
        """
        stamp = (self.steps, self._edits)
        now = time.monotonic()
        if self._measured_at is not None:
            last_stamp, last_time, cost = self._measured_at
            if last_stamp == stamp or (self.display_mode and now - last_time < max(MEASURE_INTERVAL_S, 4 * cost)):
                return self._measured
        index = 0 if self.pattern_field == "u" else 1
        field = self._fields[index].detach().to("cpu", torch.float64).numpy()
        self._measured = (float("nan"), float("nan"))
        # no pattern (a uniform field): "—". Where the spectrum peaks at one period across the
        # domain (a colony of spots still growing in the middle, a bulk oscillation), the
        # wavelength is the peak above the lowest rings: the spacing of the spots that are there
        if field.std() >= NO_PATTERN_CONTRAST * max(abs(float(field.mean())), 1.0):
            k, lam = turing.dominant_wavelength(field, self.length)
            if not lam < 0.99 * self.length:
                k, lam = turing.dominant_wavelength(field, self.length, min_ring=3)
            if lam < 0.99 * self.length:
                self._measured = (k, lam)
        self._measured_at = (stamp, now, time.monotonic() - now)
        return self._measured

    def state(self):
        a = self.analysis
        k = a.k if a is not None else np.zeros(0)
        sigma = a.sigma if a is not None else np.zeros(0)
        out = {"u": self._fields[0], "v": self._fields[1], "turing_k": k, "turing_sigma": sigma,
               "turing_zero": np.zeros_like(k)}
        if self.phase_plane:
            out.update(self.phase_samples())
            for name, (x, y) in self.phase_curves().items():
                out[f"{name}_x"], out[f"{name}_y"] = np.asarray(x, float), np.asarray(y, float)
        return out

    def phase_samples(self) -> dict[str, np.ndarray]:
        """(u, v) of the cells on a regular lattice, at most PHASE_SAMPLES_PER_SIDE per side:
        ``phase_u`` and ``phase_v``, flat float arrays of equal length."""
        n = self.p["grid"]
        stride = max(1, math.ceil(n / PHASE_SAMPLES_PER_SIDE))
        start = (n - 1 - stride * ((n - 1) // stride)) // 2  # the lattice centred on the grid
        cells = self._fields[:, start::stride, start::stride].reshape(2, -1).to("cpu", torch.float64).numpy()
        return {"phase_u": cells[0].copy(), "phase_v": cells[1].copy()}

    def observables(self):
        means = self._fields.mean(dim=(1, 2)).to("cpu", torch.float64).tolist()
        k_meas, lam_meas = self._measure()
        a = self.analysis
        nan = float("nan")
        return {
            "mean_u": means[0],
            "mean_v": means[1],
            "lambda_predicted": a.lambda_fastest if a is not None else nan,
            "lambda_measured": lam_meas,
            "k_fastest": a.k_fastest if a is not None else nan,
            "sigma_fastest": a.sigma_fastest if a is not None else nan,
            "k_measured": k_meas,
            "sigma_measured": a.sigma_at(k_meas) if a is not None else nan,
            # the last stability check: the largest stable dt for that state, and dt over it
            "dt_limit": self._stability.dt_limit,
            "stability_ratio": self._stability.ratio,
        }

    def texts(self):
        if self.analysis is None:
            verdict = "no uniform steady state to analyse"
        else:
            verdict = self.analysis.summary(self._measure()[1])
        rep = self._stability
        verdict += (f"\nstep: dt = {rep.dt:g}, stable up to {rep.dt_limit:.3g} at the last check "
                    f"({self.p['scheme']}, {rep.ratio:.0%} of the limit)")
        note = self.regime_note()
        if note:
            verdict += "\n" + note
        return {"equations": self.equations, "turing": verdict}
