"""FitzHugh–Nagumo excitable medium: travelling pulses and spiral waves.

    ∂u/∂t = Du ∇²u + u − u³/3 − v
    ∂v/∂t = Dv ∇²v + ε (u + a − b v)

With a = 0.5, b = 0.8, ε = 0.02 the single rest state is excitable: a supra-threshold
kick fires a pulse, and a broken front curls into a rotating spiral.
"""

from __future__ import annotations

import numpy as np

from attractor_lab.engine.models import register
from attractor_lab.engine.models.reaction_diffusion.core import (ReactionDiffusion, common_params, dispersion_view, pacing_params,
                                                   phase_plane_view, rd_views)
from attractor_lab.engine.params import Param


@register
class FitzHughNagumo(ReactionDiffusion):
    name = "fitzhugh_nagumo"
    memory_per_cell = 150  # measured (estimate_bytes)
    title = "FitzHugh–Nagumo"
    description = "Excitable medium of the nerve-pulse model: target waves and rotating spirals."
    equations = "∂u/∂t = Du ∇²u + u − u³/3 − v\n∂v/∂t = Dv ∇²v + ε (u + a − b v)"
    params = (
        Param("a", "float", 0.5, -2.0, 2.0, help="recovery offset a", step=0.01),
        Param("b", "float", 0.8, 0.0, 2.0, help="recovery self-coupling b", step=0.01),
        Param("eps", "float", 0.02, 1e-4, 1.0, help="time-scale ratio ε of recovery to excitation", log=True),
        Param("Du", "float", 1.0, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of u", step=0.1),
        Param("Dv", "float", 0.0, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of v", step=0.1),
    ) + common_params(dt=0.1, dt_max=10.0, cell=1.0, seeding="spiral", noise=0.0) + pacing_params()
    # excitable: the dispersion relation (the rest state's σ(k)) and the local phase plane, where
    # the pulses' excursions round the cubic nullcline show
    views = rd_views("u", {"u": [-2.2, 2.2], "v": [-1.0, 1.8]}, colormaps=("inferno", "viridis"), extra=(
        dispersion_view(),
        phase_plane_view("local phase plane: cells (u, v) over the nullclines",
                         "u-nullcline: v = u − u³/3", "v-nullcline: v = (u + a)/b"),
    ))
    phase_plane = True
    reaction_names = ("a", "b", "eps")
    default_cell = 1.0
    pattern_field = "u"

    @staticmethod
    def reaction(u, v, p):
        return u - u * u * u / 3.0 - v, p["eps"] * (u + p["a"] - p["b"] * v)

    def steady_state(self):
        a, b = self.p["a"], self.p["b"]
        if b == 0:
            u = -a
            return (u, u - u**3 / 3.0)
        # u − u³/3 − (u + a)/b = 0; for excitable parameters one root is real
        roots = np.roots([-1.0 / 3.0, 0.0, 1.0 - 1.0 / b, -a / b])
        real = sorted(r.real for r in roots if abs(r.imag) < 1e-9)
        u = real[0]
        return (float(u), float((u + a) / b))

    def phase_curves(self):
        """The nullclines over u ∈ [−2.2, 2.2]: the cubic v = u − u³/3 (f = 0) and the line
        v = (u + a)/b (g = 0; u = −a when b = 0)."""
        a, b = float(self.p["a"]), float(self.p["b"])
        u = np.linspace(-2.2, 2.2, 121)
        if b > 0:
            g = (np.array([-2.2, 2.2]), (np.array([-2.2, 2.2]) + a) / b)
        else:
            g = (np.array([-a, -a]), np.array([-1.0, 1.8]))
        return {"nc_u": (u, u - u**3 / 3.0), "nc_v": g}

    def seed_states(self):
        u, v = self.steady_state()
        return {"rest": (u, v), "excited": (2.0, v), "refractory": (u, v + 1.5)}
