"""Schnakenberg (1979) activator–substrate model.

    ∂u/∂t = Du ∇²u + a − u + u² v
    ∂v/∂t = Dv ∇²v + b − u² v

Uniform state (a + b, b/(a + b)²). Spots or stripes grow from noise when
Dv/Du is large enough (Murray, *Mathematical Biology II*, §2.3).
"""

from __future__ import annotations

from attractor_lab.engine.models import register
from attractor_lab.engine.models.reaction_diffusion.core import ReactionDiffusion, common_params, rd_views
from attractor_lab.engine.params import Param


@register
class Schnakenberg(ReactionDiffusion):
    name = "schnakenberg"
    title = "Schnakenberg"
    description = "Substrate-depletion model: Turing spots and stripes grown from noise."
    equations = "∂u/∂t = Du ∇²u + a − u + u² v\n∂v/∂t = Dv ∇²v + b − u² v"
    params = (
        Param("a", "float", 0.1, 0.0, 10.0, help="source of u", step=0.01),
        Param("b", "float", 0.9, 0.0, 10.0, help="source of v", step=0.01),
        Param("Du", "float", 1.0, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of u", step=0.1),
        Param("Dv", "float", 40.0, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of v", step=1.0),
    ) + common_params(dt=0.005, dt_max=10.0, cell=1.0, seeding="uniform_noise", noise=0.05)
    views = rd_views("u", {"u": None, "v": None})
    reaction_names = ("a", "b")
    default_cell = 1.0
    pattern_field = "u"

    @staticmethod
    def reaction(u, v, p):
        uuv = u * u * v
        return p["a"] - u + uuv, p["b"] - uuv

    def steady_state(self):
        a, b = self.p["a"], self.p["b"]
        if a + b <= 0:
            return None
        return (a + b, b / (a + b) ** 2)

    def seed_states(self):
        u, v = self.steady_state() or (0.0, 0.0)
        return {"rest": (u, v), "excited": (1.5 * u, 0.8 * v), "refractory": (0.5 * u, 1.2 * v)}
