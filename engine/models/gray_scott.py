"""Gray–Scott reaction–diffusion on a periodic grid (explicit Euler, 5-point Laplacian).

    ∂u/∂t = Du ∇²u − u v² + F (1 − u)
    ∂v/∂t = Dv ∇²v + u v² − (F + k) v

Lengths are in cells (h = 1), so the explicit Euler limit is dt ≤ 1/(4 max D).
"""

from __future__ import annotations

import torch

from engine.models import register
from engine.models.base import Model
from engine.params import Param


def laplacian_periodic(a: torch.Tensor) -> torch.Tensor:
    """5-point Laplacian with unit spacing and periodic wrap."""
    return (
        torch.roll(a, 1, 0) + torch.roll(a, -1, 0) + torch.roll(a, 1, 1) + torch.roll(a, -1, 1) - 4.0 * a
    )


@register
class GrayScott(Model):
    name = "gray_scott"
    title = "Gray–Scott"
    description = "Autocatalytic reaction u + 2v → 3v with feed F and kill k: spots, stripes, mitosis, worms."
    equations = "∂u/∂t = Du ∇²u − u v² + F (1 − u)\n∂v/∂t = Dv ∇²v + u v² − (F + k) v"
    params = (
        Param("F", "float", 0.035, 0.0, 0.1, help="feed rate of u", step=0.001),
        Param("k", "float", 0.065, 0.0, 0.1, help="kill rate of v", step=0.001),
        Param("Du", "float", 0.16, 0.0, 0.25, unit="cell²/time", help="diffusion coefficient of u", step=0.01),
        Param("Dv", "float", 0.08, 0.0, 0.25, unit="cell²/time", help="diffusion coefficient of v", step=0.01),
        Param("dt", "float", 1.0, 1e-3, 1.0, unit="time", help="Euler time step (stable for dt ≤ 1/(4 max D))", log=True),
        Param("grid", "int", 256, 16, 4096, unit="cells", help="cells per side", live=False),
    )
    views = (
        {"kind": "image", "array": "v", "title": "v", "colormap": "viridis", "levels": [0.0, 0.5], "paint": True},
        {"kind": "image", "array": "u", "title": "u", "colormap": "magma", "levels": [0.0, 1.0], "paint": True},
        {"kind": "timeseries", "observables": ["mean_u", "mean_v"], "title": "spatial means"},
    )

    def _reset(self) -> None:
        n = self.p["grid"]
        u = torch.ones((n, n), dtype=torch.float32, device=self.device)
        v = torch.zeros((n, n), dtype=torch.float32, device=self.device)
        # Pearson's initial condition: a perturbed square in the centre, 1% noise.
        a, b = n // 2 - max(n // 20, 2), n // 2 + max(n // 20, 2)
        u[a:b, a:b] = 0.5
        v[a:b, a:b] = 0.25
        noise = torch.rand((2, n, n), generator=self.generator, device=self.device)
        self.u = u + 0.01 * (noise[0] - 0.5)
        self.v = v + 0.01 * (noise[1] - 0.5)

    def _step(self, n: int) -> None:
        F, k, Du, Dv, dt = (self.p[x] for x in ("F", "k", "Du", "Dv", "dt"))
        u, v = self.u, self.v
        for _ in range(n):
            uvv = u * v * v
            u, v = (
                u + dt * (Du * laplacian_periodic(u) - uvv + F * (1.0 - u)),
                v + dt * (Dv * laplacian_periodic(v) + uvv - (F + k) * v),
            )
        self.u, self.v = u, v

    def state(self):
        return {"u": self.u, "v": self.v}

    def observables(self):
        return {"mean_u": float(self.u.mean()), "mean_v": float(self.v.mean())}

    def paint(self, field, x, y, radius, value, mode="set"):
        if field not in ("u", "v"):
            raise ValueError(f"paint: field must be 'u' or 'v', not {field!r}")
        n = self.p["grid"]
        idx = torch.arange(n, device=self.device, dtype=torch.float32)
        # periodic distance so a brush at the border wraps around
        dy = torch.remainder(idx[:, None] - float(y) + n / 2, n) - n / 2
        dx = torch.remainder(idx[None, :] - float(x) + n / 2, n) - n / 2
        disc = dx * dx + dy * dy <= float(radius) ** 2
        target = getattr(self, field)
        if mode == "add":
            target[disc] += float(value)
        elif mode == "set":
            target[disc] = float(value)
        else:
            raise ValueError(f"paint: mode must be 'set' or 'add', not {mode!r}")
