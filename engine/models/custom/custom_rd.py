"""Your own two-species reaction–diffusion system, typed as text.

    du/dt = Du*lap(u) + a - (b + 1)*u + u^2*v
    dv/dt = Dv*lap(v) + b*u - u^2*v
    par a = 3 [0.01, 20], b = 9 [0, 100], Du = 1 [0, 100], Dv = 8 [0, 100]

Everything the built-in reaction–diffusion models have, from the shared base
(:mod:`..reaction_diffusion.core`): the three schemes (euler, rk4, etdrk4)
with the compiled kernels, painting and seeding, the stiffness-aware stability
check, the dispersion relation of the uniform steady state and the measured
wavelength, 2D and 3D views. The reaction is a torch function generated from
the parsed trees and its Jacobian comes from their exact symbolic derivatives
(so exp, tanh, … are allowed, which the built-ins' dual and complex numbers
could not take). The uniform steady state is solved by Newton's method from
the text's ``guess u = …, v = …`` (else its ``init``, else a grid of starts).
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from attractor_lab.engine.equations import EquationError, declared_params, parse_rd
from attractor_lab.engine.equations import torchgen
from attractor_lab.engine.equations.tree import symbols
from attractor_lab.engine.models import register
from attractor_lab.engine.models.reaction_diffusion.core import ReactionDiffusion, common_params, rd_views
from attractor_lab.engine.params import Param

DEFAULT_EQUATIONS = """# Brusselator (Prigogine & Lefever): Turing spots
du/dt = Du*lap(u) + a - (b + 1)*u + u^2*v
dv/dt = Dv*lap(v) + b*u - u^2*v
par a = 3 [0.01, 20], b = 9 [0, 100]
par Du = 1 [0, 100], Dv = 8 [0, 100]
"""
#: the default dt: this fraction of the Euler limit of the fastest diffusion on the default cell
DT_DIFFUSION_FRACTION = 0.2
#: Newton iterations of the steady-state solve, and its tolerance (relative to the state)
NEWTON_ITERATIONS = 60
NEWTON_TOL = 1e-12


def _base_params() -> tuple[Param, ...]:
    return (Param("equations", "text", DEFAULT_EQUATIONS, live=False,
                  help="the reaction–diffusion system as text: du/dt = Du*lap(u) + f(u, v), dv/dt = …, par …"),
            *common_params(dt=0.004, dt_max=10.0, cell=1.0, seeding="uniform_noise", noise=0.02))


@register
class CustomRd(ReactionDiffusion):
    name = "custom_rd"
    title = "Your own reaction–diffusion system"
    description = ("Two species with reaction terms typed as text (du/dt = Du*lap(u) + …): every scheme, "
                   "painting, seeding, the stability check, the Turing analysis and the measured wavelength.")
    equations = DEFAULT_EQUATIONS
    params = _base_params()
    views = rd_views("u", {"u": None, "v": None})
    default_cell = 1.0
    pattern_field = "u"

    @classmethod
    def params_for(cls, values) -> tuple[Param, ...]:
        text = values.get("equations", DEFAULT_EQUATIONS)
        if not isinstance(text, str):
            raise ValueError(f"custom_rd: parameter 'equations' must be text, not {type(text).__name__}")
        spec = parse_rd(text)
        declared = declared_params(spec)
        names = {p.name for p in cls.params}
        for p in spec.params:
            if p.name in names:
                raise EquationError(p.line, 1, f"parameter '{p.name}' clashes with the model's own parameter "
                                               f"'{p.name}'; choose another name")
        d_max = max(p.default for p in declared if p.name in ("Du", "Dv"))
        out = []
        for p in cls.params:
            if p.name == "dt" and d_max > 0:  # a fifth of the Euler diffusion limit on the default cell
                # (the reaction stiffens where patterns grow: the default Brusselator's spots need
                # dt < 0.0096, 31 % of its diffusion limit; the stability check guards the rest)
                dt = float(f"{DT_DIFFUSION_FRACTION * cls.default_cell ** 2 / (4.0 * d_max):.2g}")
                p = replace(p, default=min(max(dt, p.min), p.max))
            out.append(p)
        return tuple(out) + declared

    # ---- the chemistry, from the text ---------------------------------------------------
    def _reset(self) -> None:
        spec = parse_rd(self.p["equations"])
        if spec.text != getattr(self, "_spec_text", None):
            self._adopt(spec)
        super()._reset()

    def _adopt(self, spec) -> None:
        params = type(self).params_for({"equations": self.p["equations"]})
        before = {q.name: q for q in self.spec.params} if getattr(self, "spec", None) is not None else None
        now = {q.name: q for q in spec.params}
        values = {}
        for p in params:
            keep = p.name in self.p and (before is None or p.name not in now or before.get(p.name) == now[p.name])
            try:
                values[p.name] = p.validate(self.p[p.name]) if keep else p.default
            except ValueError:
                values[p.name] = p.default
        self.params, self.schema, self.p = params, {p.name: p for p in params}, values
        self._spec_text, self.spec = spec.text, spec
        used = symbols(spec.reaction[0]) | symbols(spec.reaction[1])
        self.reaction_names = tuple(q.name for q in spec.params if q.name not in ("Du", "Dv") or q.name in used)
        react = torchgen.reaction(spec.species, spec.reaction)

        def reaction(u, v, p):
            f, g = react(u, v, p)
            return _like(f, u), _like(g, u)

        rows = spec.jacobian()
        entries = [torchgen.compile_tree(e) for row in rows for e in row]
        su, sv = spec.species

        def jacobian(u, v, p):
            env = dict(p)
            env[su], env[sv] = u, v
            return tuple(e(env) for e in entries)

        self.reaction = reaction
        self.reaction_jacobian = jacobian
        self._plain = react

    # ---- steady state and seeds -----------------------------------------------------------
    def steady_state(self):
        states = self.steady_states(limit=1)
        return states[0] if states else None

    def steady_states(self, limit: int = 8) -> list[tuple[float, float]]:
        """Uniform steady states f = g = 0 by Newton's method: from the text's guess (or its
        init) first, then from a grid of starts; the guess's state first."""
        p = {name: float(self.p[name]) for name in self.reaction_names}
        guess = self.spec.guess or self.spec.rest
        starts = [guess] if guess is not None else []
        starts += [(a, b) for a in (0.1, 0.5, 1.0, 2.0, 5.0) for b in (0.1, 0.5, 1.0, 2.0, 5.0)]
        found: list[tuple[float, float]] = []
        for start in starts:
            x = _newton(self._plain, self.reaction_jacobian, start, p)
            if x is not None and all(abs(x[0] - a) + abs(x[1] - b) > 1e-7 * (1 + abs(a) + abs(b)) for a, b in found):
                found.append(x)
                if len(found) >= limit:
                    break
        return found

    def seed_states(self):
        rest = self.spec.rest or self.steady_state() or (0.0, 0.0)
        excited = self.spec.excited or (1.5 * rest[0], 0.8 * rest[1])
        return {"rest": rest, "excited": excited, "refractory": (0.5 * rest[0], 1.2 * rest[1])}

    @classmethod
    def theory_lines(cls, x, y, params, x_range, y_range=None) -> list[dict]:
        return []  # the Turing boundary over a sweep needs the instance's chemistry

    def texts(self):
        out = super().texts()
        out["equations"] = "Your own system (custom_rd)\n" + self.spec.equations_text()
        return out


def _like(x, u: torch.Tensor) -> torch.Tensor:
    """A reaction term as a field of u's shape (a term that does not depend on the state)."""
    if isinstance(x, torch.Tensor) and x.shape == u.shape:
        return x
    return torch.zeros_like(u) + x


def _newton(f, jac, start, p) -> tuple[float, float] | None:
    u, v = float(start[0]), float(start[1])
    for _ in range(NEWTON_ITERATIONS):
        try:
            fu, fv = (float(x) for x in f(u, v, p))
            a, b, c, d = (float(x) for x in jac(u, v, p))
        except (ValueError, ArithmeticError, TypeError):
            return None
        det = a * d - b * c
        if not all(math.isfinite(x) for x in (fu, fv, det)) or det == 0:
            return None
        du, dv = (d * fu - b * fv) / det, (a * fv - c * fu) / det
        u, v = u - du, v - dv
        if abs(du) + abs(dv) <= NEWTON_TOL * (1.0 + abs(u) + abs(v)):
            fu, fv = (float(x) for x in f(u, v, p))
            scale = 1.0 + abs(u) + abs(v)
            return (u, v) if abs(fu) + abs(fv) < 1e-9 * scale else None
    return None

