"""Gray–Scott reaction–diffusion (Pearson 1993): spots, stripes, mitosis, worms.

    ∂u/∂t = Du ∇²u − u v² + F (1 − u)
    ∂v/∂t = Dv ∇²v + u v² − (F + k) v

Length convention: with ``length = 0`` (the default) the cell size is 1, so
the defaults Du = 0.16, Dv = 0.08 are in cells²/time (Euler limit
dt ≤ 1/(4·0.16) = 1.5625). Pearson's own scaling (Du = 2·10⁻⁵, Dv = 10⁻⁵ on a
square of side 2.5 with 256 cells, dt = 1) is used by the shipped presets via
``length = 2.5``.
"""

from __future__ import annotations

import math

from attractor_lab.engine.models import register
from attractor_lab.engine.models.reaction_diffusion.core import ReactionDiffusion, common_params, rd_views
from attractor_lab.engine.params import Param


@register
class GrayScott(ReactionDiffusion):
    name = "gray_scott"
    title = "Gray–Scott"
    description = "Autocatalytic reaction u + 2v → 3v with feed F and kill k: spots, stripes, mitosis, worms."
    equations = "∂u/∂t = Du ∇²u − u v² + F (1 − u)\n∂v/∂t = Dv ∇²v + u v² − (F + k) v"
    params = (
        Param("F", "float", 0.035, 0.0, 0.1, help="feed rate of u", step=0.001),
        Param("k", "float", 0.065, 0.0, 0.1, help="kill rate of v", step=0.001),
        Param("Du", "float", 0.16, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of u", step=0.01),
        Param("Dv", "float", 0.08, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of v", step=0.01),
    ) + common_params(dt=1.0, dt_max=10.0, cell=1.0, seeding="centre_square", noise=0.02)
    views = rd_views("v", {"u": [0.0, 1.0], "v": [0.0, 0.5]})
    reaction_names = ("F", "k")
    default_cell = 1.0
    pattern_field = "v"

    @staticmethod
    def reaction(u, v, p):
        uvv = u * v * v
        return -uvv + p["F"] * (1.0 - u), uvv - (p["F"] + p["k"]) * v

    def steady_states(self) -> list[tuple[float, float]]:
        """All uniform steady states: (1, 0), and two more when F ≥ 4 (F + k)²."""
        F, k = self.p["F"], self.p["k"]
        states = [(1.0, 0.0)]
        disc = F * F - 4.0 * F * (F + k) ** 2
        if F > 0 and disc >= 0:
            for sign in (1.0, -1.0):
                v = (F + sign * math.sqrt(disc)) / (2.0 * (F + k))
                states.append(((F + k) / v, v))
        return states

    def steady_state(self):
        # The non-trivial state with the larger v is the one whose Turing
        # instability matters; without it only the trivial (1, 0) remains.
        states = self.steady_states()
        return states[1] if len(states) > 1 else states[0]

    def seed_states(self):
        # Pearson's seed: u = 1/2, v = 1/4 inside a square on the trivial state
        return {"rest": (1.0, 0.0), "excited": (0.5, 0.25), "refractory": (1.0, 0.0)}
