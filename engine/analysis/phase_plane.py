"""Nullclines of a planar field on a grid (marching squares, numpy) and the fixed points where they cross.

The zero contours are traced by :func:`attractor_lab.engine.contours.marching_squares`
(re-exported here).

:func:`nullclines` evaluates the field on the grid (other components fixed at
``base`` for a slice of a higher system), contours ẋ = 0 and ẏ = 0, and
refines every cell that both contours cross by Newton's method with the exact
Jacobian: the fixed points, classified by their eigenvalues (0 stable, 1
unstable, 2 saddle, 3 marginal — the phase view's codes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attractor_lab.engine.analysis.fields import vector_field
from attractor_lab.engine.contours import PORTRAIT_RESOLUTION, marching_squares, portrait_nullclines  # noqa: F401 (re-exported)

STABLE, UNSTABLE, SADDLE, MARGINAL = 0, 1, 2, 3


@dataclass
class Nullclines:
    """ẋ = 0 and ẏ = 0 on a plane, and the fixed points where they cross.

    ``x_nullcline``, ``y_nullcline``: (P, 2) polylines, NaN rows between pieces;
    ``fixed_points``: (K, d) full states; ``kinds``: (K,) stability codes;
    ``eigenvalues``: (K, d) complex.
    """

    plane: tuple
    x_nullcline: np.ndarray
    y_nullcline: np.ndarray
    fixed_points: np.ndarray
    kinds: np.ndarray
    eigenvalues: np.ndarray

    def arrays(self) -> dict:
        return {"x_nullcline": self.x_nullcline, "y_nullcline": self.y_nullcline,
                "fixed_points": self.fixed_points, "kinds": self.kinds, "eigenvalues": self.eigenvalues,
                "plane": np.array(self.plane, dtype="U32")}


def classify(eig: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Stability codes from eigenvalues (K, d)."""
    re = eig.real
    eps = 1e-9 * max(scale, 1e-12)
    neg, pos = (re < -eps).all(-1), (re > eps).all(-1)
    mixed = (re < -eps).any(-1) & (re > eps).any(-1)
    codes = np.full(re.shape[0], MARGINAL)
    codes[neg], codes[pos], codes[mixed] = STABLE, UNSTABLE, SADDLE
    return codes


def nullclines(source, plane=(0, 1), box: tuple | None = None, resolution: int = 201, *, base=None,
               **params) -> Nullclines:
    """Nullclines ẋ = 0, ẏ = 0 of ``source`` on ``plane`` over ``box``, and the fixed points at their crossings.

    For a system of more than two variables the others are fixed at ``base`` (default the
    model's start): the slice's nullclines, and the fixed points of the field restricted to it
    (fixed points of the whole system only when they lie in the slice).
    """
    vf = vector_field(source, **params)
    i, j = vf.index(plane[0]), vf.index(plane[1])
    if i == j:
        raise ValueError(f"nullclines: the plane needs two different variables, not {plane[0]!r} twice")
    box = box if box is not None else vf.window
    if box is None:
        raise ValueError(f"{vf.name}: give the box (x0, x1, y0, y1); the model has no phase window")
    x0, x1, y0, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"nullclines: the box needs x0 < x1 and y0 < y1, not {box}")
    n = int(resolution)
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    d = vf.dim
    start = np.zeros(d) if base is None and vf.start is None else np.asarray(
        vf.start if base is None else base, dtype=np.float64).reshape(-1)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.repeat(start[None], n * n, axis=0)
    grid[:, i], grid[:, j] = gx.ravel(), gy.ravel()
    with torch.no_grad():
        f = vf.f(torch.as_tensor(grid), vf.params).numpy().reshape(n, n, d)
    fx, fy = f[..., i], f[..., j]
    # cells both contours cross: Newton's starts
    def crossed(v):
        pos = v > 0
        corners = pos[:-1, :-1].astype(int) + pos[:-1, 1:] + pos[1:, :-1] + pos[1:, 1:]
        return (corners > 0) & (corners < 4)
    both = crossed(fx) & crossed(fy)
    cy, cx = np.nonzero(both)
    starts = np.repeat(start[None], cy.size, axis=0)
    starts[:, i] = (xs[cx] + xs[cx + 1]) / 2
    starts[:, j] = (ys[cy] + ys[cy + 1]) / 2
    points, kinds, eig = _refine(vf, starts, (i, j), (x1 - x0, y1 - y0))
    return Nullclines((vf.labels[i], vf.labels[j]), marching_squares(fx, xs, ys), marching_squares(fy, xs, ys),
                      points, kinds, eig)


def _refine(vf, starts: np.ndarray, plane, span):
    """Newton's method in the plane's two components from each start; merged, classified."""
    d = vf.dim
    i, j = plane
    if starts.shape[0] == 0:
        return np.zeros((0, d)), np.zeros(0, dtype=int), np.zeros((0, d), complex)
    x = torch.as_tensor(starts, dtype=torch.float64)
    sel = torch.tensor([i, j])
    for _ in range(30):
        f = vf.f(x, vf.params).detach()
        jac = vf.jacobian(x, vf.params).detach()
        sub = jac[:, sel][:, :, sel]
        rhs = f[:, sel]
        step = -torch.linalg.lstsq(sub, rhs.unsqueeze(-1)).solution.squeeze(-1)
        x = x.clone()
        x[:, sel] = x[:, sel] + step
    with torch.no_grad():
        res = vf.f(x, vf.params)[:, sel].abs().amax(-1).numpy()
    pts = x.numpy()
    scale = max(span)
    ok = np.isfinite(res) & (res < 1e-8 * max(1.0, scale))
    keep: list = []
    for p in pts[ok]:
        if all(np.abs(p[[i, j]] - q[[i, j]]).max() > 1e-6 * scale for q in keep):
            keep.append(p)
    if not keep:
        return np.zeros((0, d)), np.zeros(0, dtype=int), np.zeros((0, d), complex)
    points = np.array(keep)
    jac = vf.jacobian(torch.as_tensor(points), vf.params).detach().numpy()
    eig = np.linalg.eigvals(jac)
    return points, classify(eig, float(np.abs(eig).max()) if eig.size else 1.0), eig
