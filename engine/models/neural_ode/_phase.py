"""Phase-plane helpers: fixed points by Newton's method, their stability, and
the vector field sampled on a grid.

Stability codes (shared with the ``phase`` view): 0 stable (every eigenvalue
of the Jacobian has Re λ < 0), 1 unstable (every Re λ > 0), 2 saddle (both
signs), 3 marginal (some Re λ ≈ 0: a centre, or a degenerate point whose
linearisation decides nothing).
"""

from __future__ import annotations

import torch

STABLE, UNSTABLE, SADDLE, MARGINAL = 0, 1, 2, 3
KIND_NAMES = {STABLE: "stable", UNSTABLE: "unstable", SADDLE: "saddle", MARGINAL: "marginal"}


def fixed_points(field, jacobian, lo, hi, starts_per_axis=9, iterations=40, tol=1e-9, generator=None):
    """Zeros of ``field`` found by damped Newton from a grid of starts in the box [lo, hi].

    Parameters
    ----------
    field, jacobian : callable
        ``field(x)`` → (M, d) and ``jacobian(x)`` → (M, d, d) for x of shape (M, d), float64.
    lo, hi : sequence of float
        The box (one bound per dimension) the starts fill; points found outside
        twice its size are dropped.

    Returns
    -------
    points : torch.Tensor (K, d)
    eigenvalues : torch.Tensor (K, d), complex
    kinds : torch.Tensor (K,), int64 stability codes
    """
    lo = torch.as_tensor(lo, dtype=torch.float64)
    hi = torch.as_tensor(hi, dtype=torch.float64)
    d = lo.shape[0]
    axes = [torch.linspace(float(lo[i]), float(hi[i]), starts_per_axis, dtype=torch.float64) for i in range(d)]
    x = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, d)
    with torch.no_grad():
        for _ in range(iterations):
            f = field(x)
            j = jacobian(x)
            step = torch.linalg.lstsq(j, -f[..., None]).solution[..., 0]
            step = torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)
            # damping: no step longer than the box, so Newton cannot jump to infinity
            span = float((hi - lo).norm())
            length = step.norm(dim=-1, keepdim=True)
            x = x + step * torch.clamp(span / torch.clamp(length, min=1e-300), max=1.0)
        f = field(x)
        scale = 1.0 + x.abs().amax(-1)
        ok = torch.isfinite(x).all(-1) & (f.norm(dim=-1) < tol * scale)
        centre, half = 0.5 * (lo + hi), (hi - lo)
        ok &= ((x - centre).abs() <= half).all(-1)
        x = x[ok]
        points = _unique(x, 1e-6 * float((hi - lo).norm()))
        if points.shape[0] == 0:
            return points, torch.zeros((0, d), dtype=torch.complex128), torch.zeros(0, dtype=torch.int64)
        eig = torch.linalg.eigvals(jacobian(points))
    return points, eig, classify(eig)


def classify(eigenvalues: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Stability codes from the eigenvalues (K, d) of each fixed point."""
    re = eigenvalues.real
    scale = torch.clamp(eigenvalues.abs().amax(-1, keepdim=True), min=1.0)
    neg = re < -eps * scale
    pos = re > eps * scale
    kinds = torch.full(re.shape[:1], MARGINAL, dtype=torch.int64)
    kinds[neg.all(-1)] = STABLE
    kinds[pos.all(-1)] = UNSTABLE
    kinds[(neg.any(-1) & pos.any(-1))] = SADDLE
    return kinds


def _unique(x: torch.Tensor, tol: float) -> torch.Tensor:
    kept: list[torch.Tensor] = []
    for row in x:
        if all(float((row - k).norm()) > tol for k in kept):
            kept.append(row)
    return torch.stack(kept) if kept else x[:0]


def field_grid(field, window, size=21):
    """The field sampled on a size × size grid of the window (xmin, xmax, ymin, ymax).

    ``field`` maps (M, 2) plane points to (M, 2) plane velocities. Returns
    x (size,), y (size,), u (size, size) and v (size, size), rows along y.
    """
    x0, x1, y0, y1 = window
    xs = torch.linspace(x0, x1, size, dtype=torch.float64)
    ys = torch.linspace(y0, y1, size, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)
    with torch.no_grad():
        vel = field(pts)
    return xs, ys, vel[:, 0].reshape(size, size), vel[:, 1].reshape(size, size)
