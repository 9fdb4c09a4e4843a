"""Barkley's model (1991) of an excitable medium: fast, sharp spiral waves.

    ∂u/∂t = Du ∇²u + u (1 − u) (u − (v + b)/a) / ε
    ∂v/∂t = Dv ∇²v + u − v

Small ε makes fronts sharp and the reaction stiff: explicit schemes need
dt of order ε.
"""

from __future__ import annotations

from engine.models import register
from engine.models.reaction_diffusion.core import ReactionDiffusion, common_params, pacing_params, rd_views
from engine.params import Param


@register
class Barkley(ReactionDiffusion):
    name = "barkley"
    title = "Barkley"
    description = "A fast caricature of excitable media: rigidly rotating and meandering spirals."
    equations = "∂u/∂t = Du ∇²u + u (1 − u) (u − (v + b)/a) / ε\n∂v/∂t = Dv ∇²v + u − v"
    params = (
        Param("a", "float", 0.75, 0.01, 2.0, help="excitation threshold scale a", step=0.01),
        Param("b", "float", 0.02, -0.5, 0.5, help="excitation threshold offset b", step=0.005),
        Param("eps", "float", 0.02, 1e-4, 1.0, help="time-scale ratio ε (stiffness of u)", log=True),
        Param("Du", "float", 1.0, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of u", step=0.1),
        Param("Dv", "float", 0.0, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of v", step=0.1),
    ) + common_params(dt=0.01, dt_max=10.0, cell=0.25, seeding="spiral", noise=0.0) + pacing_params()
    views = rd_views("u", {"u": [0.0, 1.0], "v": [0.0, 1.0]}, colormaps=("inferno", "viridis"))
    reaction_names = ("a", "b", "eps")
    default_cell = 0.25
    pattern_field = "u"
    divergence_hint = "The u reaction is stiff: keep dt below about ε (eps)."

    @staticmethod
    def reaction(u, v, p):
        return u * (1.0 - u) * (u - (v + p["b"]) / p["a"]) / p["eps"], u - v

    def steady_state(self):
        return (0.0, 0.0)

    def seed_states(self):
        return {"rest": (0.0, 0.0), "excited": (1.0, 0.0), "refractory": (0.0, 0.9 * self.p["a"])}
