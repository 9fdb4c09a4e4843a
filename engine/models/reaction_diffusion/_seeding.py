"""Initial conditions and the paint brush of the reaction–diffusion models.

A system describes three uniform states: ``rest`` (the background), ``excited``
(what a seed or a wave front holds) and ``refractory`` (the wake of a front in
excitable media). The seeding presets combine them; all randomness comes from
the model's ``torch.Generator`` so a seed reproduces a run on any device.
"""

from __future__ import annotations

import math

import torch

SEEDINGS = ("uniform_noise", "centre_square", "random_spots", "spiral")


def _fill(n: int, state: tuple[float, float], device, dtype) -> torch.Tensor:
    f = torch.empty((2, n, n), device=device, dtype=dtype)
    f[0].fill_(state[0])
    f[1].fill_(state[1])
    return f


def seed_fields(kind: str, n: int, states: dict, noise: float, generator: torch.Generator,
                device, dtype) -> torch.Tensor:
    """Return a ``(2, n, n)`` initial state.

    Parameters
    ----------
    kind : {"uniform_noise", "centre_square", "random_spots", "spiral"}
        ``uniform_noise``: the rest state plus noise (Turing systems grow their
        pattern from it). ``centre_square``: Pearson's square of the excited
        state in the middle. ``random_spots``: a dozen excited discs.
        ``spiral``: a broken wave front (excited strip with a refractory strip
        behind it, ending in the centre) that curls into a spiral; systems
        with a phase (λ–ω) pass ``states["spiral"]`` to override it.
    states : dict
        ``rest``, ``excited`` and ``refractory`` as ``(u, v)`` pairs.
    noise : float
        Amplitude of uniform noise in [-noise/2, noise/2] added to both fields.
    """
    rest = states["rest"]
    f = _fill(n, rest, device, dtype)
    rows = torch.arange(n, device=device, dtype=dtype)[:, None]
    cols = torch.arange(n, device=device, dtype=dtype)[None, :]
    if kind == "uniform_noise":
        pass
    elif kind == "centre_square":
        half = max(n // 20, 2)
        a, b = n // 2 - half, n // 2 + half
        f[0, a:b, a:b] = states["excited"][0]
        f[1, a:b, a:b] = states["excited"][1]
    elif kind == "random_spots":
        count = 12
        centres = torch.rand((count, 2), generator=generator, device=device, dtype=dtype) * n
        radius = max(n / 40.0, 2.0)
        for cy, cx in centres:
            dy = torch.remainder(rows - cy + n / 2, n) - n / 2
            dx = torch.remainder(cols - cx + n / 2, n) - n / 2
            disc = dx * dx + dy * dy <= radius * radius
            f[0][disc] = states["excited"][0]
            f[1][disc] = states["excited"][1]
    elif kind == "spiral":
        if "spiral" in states:
            f = states["spiral"](rows, cols, n).to(dtype)
        else:
            width = max(n // 16, 3)
            top = slice(0, n // 2)
            f[0, top, n // 2: n // 2 + width] = states["excited"][0]
            f[1, top, n // 2: n // 2 + width] = states["excited"][1]
            f[0, top, n // 2 - width: n // 2] = states["refractory"][0]
            f[1, top, n // 2 - width: n // 2] = states["refractory"][1]
    else:
        raise ValueError(f"seeding {kind!r} is not known; expected one of {', '.join(SEEDINGS)}")
    if noise > 0:
        f += noise * (torch.rand(f.shape, generator=generator, device=device, dtype=dtype) - 0.5)
    return f


def phase_spiral(amplitude: float = 1.0, core: float = 4.0):
    """A one-armed phase spiral ``u + i v = A tanh(r/core) e^{iθ}`` centred in the grid."""

    def build(rows: torch.Tensor, cols: torch.Tensor, n: int) -> torch.Tensor:
        y = rows - (n - 1) / 2
        x = cols - (n - 1) / 2
        r = torch.sqrt(x * x + y * y)
        theta = torch.atan2(y, x)
        a = amplitude * torch.tanh(r / core)
        return torch.stack((a * torch.cos(theta), a * torch.sin(theta)))

    return build


def paint_disc(fields: torch.Tensor, index: int, x: float, y: float, radius: float, value: float,
               mode: str, periodic: bool) -> None:
    """Set or add ``value`` inside a disc of one field, in place on its device.

    ``x`` is the column and ``y`` the row, in cells; on a periodic grid the
    disc wraps around the borders.
    """
    if mode not in ("set", "add"):
        raise ValueError(f"paint: mode must be 'set' or 'add', not {mode!r}")
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(value)):
        raise ValueError("paint: x, y and value must be finite numbers")
    if not radius >= 0:
        raise ValueError(f"paint: radius must be >= 0 cells, not {radius!r}")
    n = fields.shape[-1]
    idx = torch.arange(n, device=fields.device, dtype=torch.float32)
    dy = idx[:, None] - float(y)
    dx = idx[None, :] - float(x)
    if periodic:
        dy = torch.remainder(dy + n / 2, n) - n / 2
        dx = torch.remainder(dx + n / 2, n) - n / 2
    disc = dx * dx + dy * dy <= float(radius) ** 2
    target = fields[index]
    if mode == "add":
        target[disc] += float(value)
    else:
        target[disc] = float(value)
