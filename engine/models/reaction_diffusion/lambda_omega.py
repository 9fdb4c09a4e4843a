"""The λ–ω system: a field of limit-cycle oscillators coupled by diffusion.

    ∂u/∂t = Du ∇²u + λ(A) u − ω(A) v
    ∂v/∂t = Dv ∇²v + ω(A) u + λ(A) v,     A² = u² + v²,
    λ(A) = 1 − A²,  ω(A) = −β A².

With Du = Dv = D, the plane waves u + i v = R e^{i(k x − Ω t)} have
R² = 1 − D k² and Ω = β R² (Kopell & Howard 1973); a phase singularity
winds them into a spiral.
"""

from __future__ import annotations

import math

import numpy as np

from attractor_lab.engine.models import register
from attractor_lab.engine.models.reaction_diffusion._seeding import phase_spiral
from attractor_lab.engine.models.reaction_diffusion.core import ReactionDiffusion, common_params, phase_plane_view, rd_views
from attractor_lab.engine.params import Param


@register
class LambdaOmega(ReactionDiffusion):
    name = "lambda_omega"
    memory_per_cell = 187  # measured (estimate_bytes): its reaction makes more temporaries (peaks 112–192 MiB at 1024²)
    title = "λ–ω spirals"
    description = "Diffusively coupled limit-cycle oscillators: rotating spiral waves and plane waves."
    equations = ("∂u/∂t = Du ∇²u + λ(A) u − ω(A) v\n∂v/∂t = Dv ∇²v + ω(A) u + λ(A) v\n"
                 "A² = u² + v²,  λ(A) = 1 − A²,  ω(A) = −β A²")
    params = (
        Param("beta", "float", 1.0, -10.0, 10.0, help="amplitude dependence β of the frequency ω = −β A²",
              step=0.1),
        Param("Du", "float", 1.0, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of u", step=0.1),
        Param("Dv", "float", 1.0, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of v", step=0.1),
    ) + common_params(dt=0.05, dt_max=10.0, cell=0.5, seeding="spiral", noise=0.0)
    # diverging, not cyclic: u = +1 and u = −1 must not look alike
    # the uniform state A = 0 is unstable at every k < 1/√D (a Hopf instability, fastest at k = 0):
    # its σ(k) selects no wavelength and says nothing about the spiral, so no dispersion relation;
    # the local phase plane shows the oscillators on (or, at the cores, inside) their cycle
    views = rd_views("u", {"u": [-1.0, 1.0], "v": [-1.0, 1.0]}, colormaps=("RdBu", "RdBu"), extra=(
        phase_plane_view("local phase plane: cells (u, v) of the oscillators", "limit cycle A = 1",
                         "plane wave R = √(1 − D k²) at the measured k", aspect="equal"),
    ))
    phase_plane = True
    reaction_names = ("beta",)
    default_cell = 0.5
    pattern_field = "u"

    @staticmethod
    def reaction(u, v, p):
        a2 = u * u + v * v
        lam, omega = 1.0 - a2, -p["beta"] * a2
        return lam * u - omega * v, omega * u + lam * v

    def steady_state(self):
        return (0.0, 0.0)  # unstable: the uniform oscillation bifurcates from it (Hopf)

    def regime_note(self):
        beta = self.p["beta"]
        return (f"The uniform state A = 0 is an unstable node (λ(0) = 1, ω(0) = 0); it grows onto the bulk "
                f"oscillation A = 1 with Ω = β = {beta:g}. Plane waves: R² = 1 − D k², Ω = β R².")

    def phase_curves(self):
        """The uniform oscillation's cycle A = 1 and, with Du = Dv = D and a measured
        wavelength, the circle R = √(1 − D k²) of the plane waves of that wavenumber
        (Kopell & Howard): far from the spiral's core the cells lie on it."""
        theta = np.linspace(0.0, 2.0 * math.pi, 129)
        circle = (np.cos(theta), np.sin(theta))
        k = self._measure()[0]
        d = float(self.p["Du"])
        r2 = 1.0 - d * k * k if math.isfinite(k) and self.p["Du"] == self.p["Dv"] else math.nan
        r = math.sqrt(r2) if r2 > 0 else math.nan
        return {"nc_u": circle, "nc_v": (r * circle[0], r * circle[1])}

    def seed_states(self):
        return {"rest": (0.0, 0.0), "excited": (1.0, 0.0), "refractory": (0.0, 1.0),
                "spiral": phase_spiral(1.0, core=4.0)}
