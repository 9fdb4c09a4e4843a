"""Shared base of the two-field reaction–diffusion models.

    ∂u/∂t = Du ∇²u + f(u, v)
    ∂v/∂t = Dv ∇²v + g(u, v)

A system subclass declares only its chemistry: the reaction ``(f, g)`` as a
function of plain arithmetic (the same code runs in the torch kernel and, with
complex numbers, gives the exact Jacobian for the Turing analysis), its
uniform steady state, the states used for seeding and its parameters. This
base supplies the grid, the schemes (explicit ``euler``/``rk4`` finite
differences with periodic or zero-flux boundaries, pseudo-spectral
``etdrk4``), the float dtype, the explicit stability check, the NaN guard,
painting, seeding, the dispersion relation and the measured wavelength.

Lengths are in domain units: the cell size is ``h = length / grid``;
``length = 0`` means ``grid × default_cell`` so that the pattern scale in
cells stays the same when the grid changes.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import torch

from engine.models.reaction_diffusion import _numerics as num
from engine.models.reaction_diffusion._seeding import SEEDINGS, paint_disc, seed_fields
from engine.models.base import Model, SimulationDiverged
from engine.params import Param
from engine.theory import turing

DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: a model compiles its kernel (policy ``auto``) once it has run this many steps
#: in one configuration: short scripted runs and tests never pay for compiling.
COMPILE_AFTER_STEPS = 2000
COMPILE_MIN_GRID = 64
#: the measured wavelength is refreshed at most this often (s): state(),
#: observables() and texts() are each called once per displayed frame.
MEASURE_INTERVAL_S = 0.2


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


def rd_views(main: str, levels: dict[str, list[float] | None], colormaps=("viridis", "magma")) -> tuple[dict, ...]:
    """Views of a reaction–diffusion model: both fields (paintable), the 3D surface
    of ``main``, spatial means, the dispersion relation, equations and verdict."""
    other = "u" if main == "v" else "v"
    return (
        {"kind": "image", "array": main, "title": main, "colormap": colormaps[0], "levels": levels[main],
         "paint": True},
        {"kind": "image", "array": other, "title": other, "colormap": colormaps[1], "levels": levels[other],
         "paint": True},
        {"kind": "surface", "array": main, "title": f"{main} (height)", "zscale": 0.12, "levels": levels[main]},
        {"kind": "timeseries", "observables": ["mean_u", "mean_v"], "title": "spatial means"},
        {"kind": "lines", "title": "dispersion relation σ(k)", "xlabel": "wavenumber k", "ylabel": "growth rate σ",
         "series": [{"x": "turing_k", "y": "turing_sigma", "name": "Re σ(k)"},
                    {"x": "turing_k", "y": "turing_zero", "name": "σ = 0"}],
         "points": [{"x": "k_fastest", "y": "sigma_fastest", "name": "fastest (theory)"},
                    {"x": "k_measured", "y": "sigma_measured", "name": "measured"}]},
        {"kind": "text", "array": "equations", "title": "equations"},
        {"kind": "text", "array": "turing", "title": "linear stability"},
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

    def _on_live_change(self, changed: dict[str, Any]) -> None:
        self.check_numerics()  # a ValueError refuses the change; Model.set restores the old values
        if {"scheme", "boundary"} & set(changed):
            self._steps_in_config = 0
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
                eager = num.make_etdrk4_step(type(self).reaction, self.reaction_names)
                self._steppers[key] = num.FusedStepper(eager)
            else:
                args = (type(self).reaction, self.reaction_names, key[0], self.periodic)
                block = num.FUSED_BLOCK_STEPS[key[0]]
                self._steppers[key] = num.FusedStepper(
                    num.make_explicit_step(*args), fused=num.make_fused_steps(*args),
                    block=num.make_fused_steps(*args, count=block) if block > 1 else None, block_steps=block)
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
        if policy == "auto" and (self._steps_in_config < COMPILE_AFTER_STEPS
                                 or self.p["grid"] < COMPILE_MIN_GRID):
            return
        stepper.request((self._fields, self._prm_tensor), background=(policy == "auto"))

    def _step(self, n: int) -> None:
        self.check_numerics()
        stepper = self._stepper()
        self._maybe_compile(stepper)
        # steppers are functional (they never write into their input), so the
        # state at the start of the chunk survives untouched: no copy needed
        good = f = self._fields
        if self.p["scheme"] == "etdrk4":
            coeffs = self._etd_coefficients()
            for _ in range(n):
                f = stepper(f, self._prm_floats, coeffs)
        else:  # compiled kernels take the coefficients as a tensor (no recompile on a slider move)
            f = stepper.run(f, self._prm_tensor, n, eager_prm=self._prm_floats)
        # one device→host sync per chunk, not per step. A sum is finite exactly when every
        # value is, unless finite values overflow it: only then the exact (~10× slower:
        # 0.4 ms at 256², 2 ms at 512²) element-wise check decides
        if not bool(torch.isfinite(f.sum())) and not bool(torch.isfinite(f).all()):
            self._fields = good
            raise SimulationDiverged(self._divergence_message(n))
        self._fields = f
        self._steps_in_config += n

    def _divergence_message(self, n: int) -> str:
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
        self._measured = turing.dominant_wavelength(field, self.length)
        self._measured_at = (stamp, now, time.monotonic() - now)
        return self._measured

    def state(self):
        a = self.analysis
        k = a.k if a is not None else np.zeros(0)
        sigma = a.sigma if a is not None else np.zeros(0)
        return {"u": self._fields[0], "v": self._fields[1], "turing_k": k, "turing_sigma": sigma,
                "turing_zero": np.zeros_like(k)}

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
        }

    def texts(self):
        if self.analysis is None:
            verdict = "no uniform steady state to analyse"
        else:
            verdict = self.analysis.summary(self._measure()[1])
        note = self.regime_note()
        if note:
            verdict += "\n" + note
        return {"equations": self.equations, "turing": verdict}
