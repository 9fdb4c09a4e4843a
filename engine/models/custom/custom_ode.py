"""Your own ODE system, typed as text: everything ``ode_system`` offers.

    dx/dt = y
    dy/dt = mu*(1 - x^2)*y - x
    par mu = 1.5 [0, 10]
    init x = 2, y = 0

The ``equations`` text (structural) is parsed by the whitelist parser of
:mod:`attractor_lab.engine.equations`; each ``par`` becomes a live parameter
(a slider over its declared range). The vector field and its exact Jacobian
(symbolic derivatives of the parsed tree) are torch functions generated from
the trees, batched on the model's device; the rest is ``ode_system``'s
machinery: every solver with its live statistics and tolerances, the largest
Lyapunov exponent (the tangent vector driven by the exact Jacobian), periods
from a Poincaré section, fixed points with their stability, click to launch,
2D and 3D views, recording and batches of trajectories.

The phase window and the Poincaré section come from a short integration of
the first trajectory at reset (its box, and the mean of the first plotted
variable over its second half), unless the text's ``@ xlo=…`` options set
the window; ``@ xp=…, yp=…`` choose the plotted variables.
"""

from __future__ import annotations

import math

import torch

from attractor_lab.engine.equations import EquationError, declared_params, parse_ode
from attractor_lab.engine.equations import torchgen
from attractor_lab.engine.models import register
from attractor_lab.engine.models.neural_ode._solver import METHODS
from attractor_lab.engine.models.neural_ode._systems import SYSTEM_PARAMS, System
from attractor_lab.engine.models.neural_ode.ode_system import OdeSystem
from attractor_lab.engine.params import Param

DEFAULT_EQUATIONS = """# Van der Pol oscillator
dx/dt = y
dy/dt = mu*(1 - x^2)*y - x
par mu = 1.5 [0, 10]
init x = 2, y = 0
"""
#: simulated time of the integration at reset that finds the window and the section
PROBE_TIME = 30.0
_BASE_NAMES = {"system"} | {p.name for p in SYSTEM_PARAMS}


def _base_params() -> tuple[Param, ...]:
    return (Param("equations", "text", DEFAULT_EQUATIONS, live=False,
                  help="the system as text: dx/dt = …, par name = value [min, max], init x = …"),
            *(p for p in OdeSystem.params if p.name not in _BASE_NAMES))


def _with_options(params: tuple[Param, ...], options: dict) -> tuple[Param, ...]:
    """An .ode file's @ method and dt become the solver's defaults."""
    from dataclasses import replace

    out = []
    for p in params:
        if p.name == "solver" and options.get("method") in METHODS:
            p = replace(p, default=options["method"])
        elif p.name == "fixed_step" and "dt" in options:
            p = replace(p, default=min(max(float(options["dt"]), p.min), p.max))
        out.append(p)
    return tuple(out)


@register
class CustomOde(OdeSystem):
    name = "custom_ode"
    title = "Your own ODE system"
    description = ("Any system of ODEs typed as text (dx/dt = …, par, init; XPPAUT .ode files too), with "
                   "everything ode_system has: every solver and its statistics, the Lyapunov exponent, "
                   "periods, fixed points and their stability from the exact Jacobian. Click to launch.")
    equations = DEFAULT_EQUATIONS
    params = _base_params()
    views = tuple(
        ({**v, "xlabel": "first plotted variable", "ylabel": "second plotted variable",
          "xlabel_text": "phase_x", "ylabel_text": "phase_y",  # the typed names replace these
          "shown_when": [["lienard", [0]]]} if v["kind"] == "phase" and "Liénard" not in v["title"]
         else {**v, "shown_when": [["dim3", [1]]]} if v["kind"] == "trajectory3d"
         else {**v, "title": "Trajectory 1 against time (first three variables)"} if v["kind"] == "timeseries"
         and v["observables"] == ["x", "y", "z"] else v)
        for v in OdeSystem.views if not (v["kind"] == "phase" and "Liénard" in v["title"]))

    @classmethod
    def params_for(cls, values) -> tuple[Param, ...]:
        text = values.get("equations", DEFAULT_EQUATIONS)
        if not isinstance(text, str):
            raise ValueError(f"custom_ode: parameter 'equations' must be text, not {type(text).__name__}")
        spec = parse_ode(text)
        base = _with_options(cls.params, spec.options)
        names = {p.name for p in base}
        for p in spec.params:
            if p.name in names:
                raise EquationError(p.line, 1, f"parameter '{p.name}' clashes with the model's own parameter "
                                               f"'{p.name}'; choose another name")
        return base + declared_params(spec)

    # ---- the system --------------------------------------------------------------
    def _system(self):
        spec = parse_ode(self.p["equations"])
        if spec.text != getattr(self, "_spec_text", None):
            self._adopt(spec)
        sp = {p.name: float(self.p[p.name]) for p in spec.params}
        return self._build(spec, sp), sp

    def _adopt(self, spec) -> None:
        """New equations: the schema follows their ``par`` lines (values of parameters still
        declared are kept where the new range allows them)."""
        if spec.dim < 2:
            raise EquationError(1, 1, "custom_ode needs at least two variables (a phase plane); "
                                      "add a second equation")
        params = type(self).params_for({"equations": self.p["equations"]})
        schema = {p.name: p for p in params}
        before = {q.name: q for q in self.spec.params} if getattr(self, "spec", None) is not None else None
        values = {}
        for p in params:
            keep = p.name in self.p and (before is None or p.name not in {q.name for q in spec.params}
                                         or before.get(p.name) == next(q for q in spec.params if q.name == p.name))
            try:
                values[p.name] = p.validate(self.p[p.name]) if keep else p.default
            except ValueError:
                values[p.name] = p.default
        self.params, self.schema, self.p = params, schema, values
        self._spec_text = spec.text
        self.spec = spec

    def _build(self, spec, sp) -> System:
        field = torchgen.vector_field(spec.variables, spec.rhs)
        jac = torchgen.matrix_field(spec.variables, spec.jacobian())
        names = spec.variables
        i = names.index(spec.options["xp"]) if "xp" in spec.options else 0
        j = names.index(spec.options["yp"]) if "yp" in spec.options else (1 if i != 1 else 0)
        window, level = self._probe(field, spec, sp, (i, j))
        start = [float(v) for v in spec.init]
        return System(
            "custom", "Your own system", names, spec.equations_text(), tuple(sp), field,
            start=lambda p: start, window=lambda p: window,
            section=lambda x, p: x[..., i] - level, invariant=None, jacobian=jac,
            plane=(i, j), autonomous=lambda p, forced=spec.uses_time: not forced)

    def _probe(self, field, spec, sp, plane) -> tuple[tuple[float, float, float, float], float]:
        """The phase window and the section level from a short integration of the start."""
        from torchdiffeq import odeint

        i, j = plane
        x0 = torch.tensor([list(spec.init)], dtype=torch.float64)
        t = torch.linspace(0.0, PROBE_TIME, 301, dtype=torch.float64)
        try:
            with torch.no_grad():
                path = odeint(lambda tt, x: field(tt, x, sp), x0, t, rtol=1e-6, atol=1e-8,
                              options={"max_num_steps": 20_000})[:, 0]
            ok = bool(torch.isfinite(path).all()) and float(path.abs().max()) < 1e6
        except (AssertionError, RuntimeError, ValueError, OverflowError):
            ok = False
        if not ok:
            path = x0
        xs, ys = path[:, i], path[:, j]
        level = float(xs[len(xs) // 2:].mean())

        def span(v: torch.Tensor, lo_key: str, hi_key: str) -> tuple[float, float]:
            if lo_key in spec.options and hi_key in spec.options:
                return float(spec.options[lo_key]), float(spec.options[hi_key])
            lo, hi = float(v.min()), float(v.max())
            pad = max(0.15 * (hi - lo), 0.5 * max(abs(lo), abs(hi)) * 0.1, 1e-3)
            return lo - pad, hi + pad

        x_lo, x_hi = span(xs, "xlo", "xhi")
        y_lo, y_hi = span(ys, "ylo", "yhi")
        if not all(math.isfinite(v) for v in (x_lo, x_hi, y_lo, y_hi, level)):
            x_lo, x_hi, y_lo, y_hi, level = -2.0, 2.0, -2.0, 2.0, 0.0
        return (x_lo, x_hi, y_lo, y_hi), level

    def _system_values(self, changed: dict) -> dict:
        declared = {p.name for p in self.spec.params}
        return {k: float(v) for k, v in changed.items() if k in declared}

    def _lienard(self) -> bool:
        return False

    # ---- a forced system (the text uses t): its drive's period is not known -----------
    def _drive_period(self) -> float | None:
        return None

    def _period(self) -> float:
        """A forced system returns to a Poincaré-section point without being periodic unless
        it is in phase with its drive, whose period a typed text does not declare: no period."""
        if self.spec.uses_time:
            return float("nan")
        return super()._period()

    def _orbit_text(self) -> str:
        if self.spec.uses_time:
            return ("forced (the equations use t): periods from the Poincaré section are not measured, "
                    "as the drive's period is not declared")
        return super()._orbit_text()

    # ---- what the built-in model shows, for any dimension ---------------------------
    def observables(self):
        out = super().observables()
        x = self.solver.state[0].to(torch.float64)
        out["dim3"] = float(self.sys.dim >= 3)
        for k, name in enumerate(self.sys.labels):
            out[f"var_{name}"] = float(x[k])
        if self.spec.aux:
            t = torch.tensor(self._t, dtype=torch.float64)
            for name, tree in self.spec.aux:
                g = torchgen.scalar_field(self.sys.labels, tree)
                out[f"aux_{name}"] = float(g(t, x[None], self.sp)[0])
        return out

    def state(self):
        out = super().state()
        if self.sys.dim > 3:  # the 3D view shows the first three variables
            out["traj3d"] = out["traj3d"][..., :3]
        return out

    def texts(self):
        head = "Your own system (custom_ode)"
        return {"equations": f"{head}\n{self.sys.equations}", "orbit": self._orbit_text(), **self._plane_names()}
