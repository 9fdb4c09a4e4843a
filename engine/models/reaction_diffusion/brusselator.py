"""Brusselator (Prigogine & Lefever 1968): the textbook Turing system.

    ∂u/∂t = Du ∇²u + a − (b + 1) u + u² v
    ∂v/∂t = Dv ∇²v + b u − u² v

Uniform state (a, b/a). With η = √(Du/Dv) it is Turing unstable for
b > (1 + a η)² and Hopf unstable for b > 1 + a²; the critical wavenumber is
k_c² = a / √(Du Dv). On the grid (h = 0.5, Du = 1, Dv = 8) the simulation
shows stripes just past the Turing threshold (b = 4.6) and hexagonal spots far
past it (b = 9). The default explicit step, dt = 0.004, respects the
stiffness of b = 9's peaks (u ≈ 10.5: ∂g/∂v = −u² adds about 110 to
diffusion's 8Dv/h² = 256, so Euler needs dt ≲ 0.0055); the diffusion limit
alone, h²/(4Dv) = 0.0078, would allow a step that grows a checkerboard.
"""

from __future__ import annotations

from attractor_lab.engine.models import register
from attractor_lab.engine.models.reaction_diffusion.core import ReactionDiffusion, common_params, rd_views
from attractor_lab.engine.params import Param


@register
class Brusselator(ReactionDiffusion):
    name = "brusselator"
    title = "Brusselator"
    description = "Prigogine's trimolecular model: Turing spots and stripes, Hopf oscillations at large b."
    equations = "∂u/∂t = Du ∇²u + a − (b + 1) u + u² v\n∂v/∂t = Dv ∇²v + b u − u² v"
    params = (
        Param("a", "float", 3.0, 0.01, 20.0, help="feed concentration a", step=0.1),
        Param("b", "float", 9.0, 0.0, 100.0, help="control concentration b (Turing threshold (1 + a√(Du/Dv))²)",
              step=0.1),
        Param("Du", "float", 1.0, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of u", step=0.1),
        Param("Dv", "float", 8.0, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of v", step=0.1),
    ) + common_params(dt=0.004, dt_max=10.0, cell=0.5, seeding="uniform_noise", noise=0.05)
    views = rd_views("u", {"u": None, "v": None})
    reaction_names = ("a", "b")
    default_cell = 0.5
    pattern_field = "u"
    divergence_hint = "Past the Hopf line b > 1 + a² the oscillations are large: lower b or dt."

    @staticmethod
    def reaction(u, v, p):
        uuv = u * u * v
        return p["a"] - (p["b"] + 1.0) * u + uuv, p["b"] * u - uuv

    def steady_state(self):
        a, b = self.p["a"], self.p["b"]
        return (a, b / a)

    def seed_states(self):
        a, b = self.steady_state()
        return {"rest": (a, b), "excited": (1.5 * a, 0.8 * b), "refractory": (0.5 * a, 1.2 * b)}
