"""Nullclines of a planar field on a grid (marching squares, numpy) and the fixed points where they cross.

``marching_squares(values, xs, ys)`` returns the zero contour of a grid of
values as polylines: one (P, 2) array with a NaN row between pieces (what a
plot draws with ``connect="finite"``). Each edge's crossing is computed once,
by linear interpolation, so the segments of neighbouring cells meet exactly and
are joined into long polylines; a saddle cell (alternating signs) is resolved
by the value at its centre.

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


def _edge_points(values, xs, ys):
    """Crossings on horizontal edges (ny, nx-1, 2) and vertical edges (ny-1, nx, 2); NaN where none."""
    pos = values > 0
    h = pos[:, :-1] != pos[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        th = values[:, :-1] / (values[:, :-1] - values[:, 1:])
        tv = values[:-1, :] / (values[:-1, :] - values[1:, :])
    hx = xs[None, :-1] + th * (xs[None, 1:] - xs[None, :-1])
    hy = np.broadcast_to(ys[:, None], hx.shape)
    horizontal = np.where(h[..., None], np.stack([hx, hy], -1), np.nan)
    v = pos[:-1, :] != pos[1:, :]
    vy = ys[:-1, None] + tv * (ys[1:, None] - ys[:-1, None])
    vx = np.broadcast_to(xs[None, :], vy.shape)
    vertical = np.where(v[..., None], np.stack([vx, vy], -1), np.nan)
    return horizontal, vertical


def _segments(values, xs, ys) -> np.ndarray:
    """(S, 2, 2) segments of the zero contour; endpoints are edge crossings shared between cells."""
    hor, ver = _edge_points(values, xs, ys)
    bottom, top = hor[:-1, :], hor[1:, :]  # (ny-1, nx-1, 2)
    left, right = ver[:, :-1], ver[:, 1:]
    edges = np.stack([bottom, right, top, left], axis=2)  # (ny-1, nx-1, 4, 2)
    has = np.isfinite(edges[..., 0])
    count = has.sum(-1)
    out = []
    two = count == 2
    if two.any():
        e = edges[two]
        h = has[two]
        idx = np.argsort(~h, axis=1, kind="stable")[:, :2]
        rows = np.arange(e.shape[0])
        out.append(np.stack([e[rows, idx[:, 0]], e[rows, idx[:, 1]]], axis=1))
    four = count == 4
    if four.any():
        e = edges[four]
        v00, v10 = values[:-1, :-1][four], values[:-1, 1:][four]
        v01, v11 = values[1:, :-1][four], values[1:, 1:][four]
        centre_like_00 = ((v00 + v10 + v01 + v11) / 4 > 0) == (v00 > 0)
        # centre joins 00 and 11: cut off corners 10 (bottom, right) and 01 (left, top); else 00 and 11
        a = np.where(centre_like_00[:, None, None], np.stack([e[:, 0], e[:, 1]], 1), np.stack([e[:, 0], e[:, 3]], 1))
        b = np.where(centre_like_00[:, None, None], np.stack([e[:, 3], e[:, 2]], 1), np.stack([e[:, 1], e[:, 2]], 1))
        out += [a, b]
    return np.concatenate(out) if out else np.zeros((0, 2, 2))


def _join(segments: np.ndarray, h: float) -> np.ndarray:
    """Segments joined end to end into polylines; (P, 2) with NaN rows between them. Endpoints
    within ~1e-7 grid cells (``h``) of each other are one point."""
    quant = np.round(segments / (1e-7 * h)).astype(np.int64)
    # a contour through a grid point exactly gives segments of zero length there: they join nothing
    keep = (quant[:, 0] != quant[:, 1]).any(-1)
    segments, quant = segments[keep], quant[keep]
    if segments.shape[0] == 0:
        return np.zeros((0, 2))
    keys = [tuple(p) for p in quant.reshape(-1, 2)]
    ends: dict = {}
    for k, key in enumerate(keys):
        ends.setdefault(key, []).append(k)
    used = np.zeros(segments.shape[0], dtype=bool)
    pieces = []

    def walk(seg: int, end: int) -> list:
        """From segment ``seg``, leaving by its endpoint ``end`` (0/1): the points visited."""
        path = []
        while True:
            used[seg] = True
            point = 2 * seg + end
            path.append(segments[seg, end])
            nxt = [k for k in ends[keys[point]] if not used[k // 2]]
            if not nxt:
                return path
            seg, end = nxt[0] // 2, 1 - nxt[0] % 2
    for s in range(segments.shape[0]):
        if used[s]:
            continue
        forward = walk(s, 1)
        used[s] = False  # walk back from the start's other end
        backward = walk(s, 0)
        pieces.append(np.array(backward[::-1] + forward))
    out = []
    for p in pieces:
        out += [p, np.full((1, 2), np.nan)]
    return np.concatenate(out[:-1])


def marching_squares(values: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The zero contour of ``values`` (ny, nx) on the grid ``xs`` (nx,), ``ys`` (ny,): (P, 2) polylines
    with NaN rows between pieces."""
    values = np.asarray(values, dtype=np.float64)
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    if values.shape != (ys.size, xs.size):
        raise ValueError(f"marching_squares: values need shape (len(ys), len(xs)) = {(ys.size, xs.size)}, "
                         f"not {values.shape}")
    h = min(np.abs(np.diff(xs)).min(initial=1.0), np.abs(np.diff(ys)).min(initial=1.0))
    return _join(_segments(values, xs, ys), max(h, 1e-300))


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


#: grid points per axis of the nullclines a phase portrait draws (contoured once per parameter change)
PORTRAIT_RESOLUTION = 161


def portrait_nullclines(plane_field, window, resolution: int = PORTRAIT_RESOLUTION) -> tuple[np.ndarray, np.ndarray]:
    """The x- and y-nullcline polylines ((P, 2), NaN rows between pieces) of a planar field over ``window``.

    ``plane_field`` maps plane points (M, 2) (float64 tensor) to their velocities (M, 2);
    ``window`` is (x0, x1, y0, y1). This is what a model's phase portrait sends: the field
    is sampled once on a ``resolution`` × ``resolution`` grid and both zero contours are traced
    by :func:`marching_squares` (linear interpolation along cell edges: the curves are exact
    to second order in the grid spacing). Non-finite samples break the curve there.
    """
    x0, x1, y0, y1 = (float(v) for v in window)
    n = int(resolution)
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    gx, gy = np.meshgrid(xs, ys)
    pts = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], -1))
    with torch.no_grad():
        vel = plane_field(pts)
    vel = vel.detach().to("cpu", torch.float64).numpy().reshape(n, n, 2)
    out = []
    for k in (0, 1):
        values = vel[..., k]
        if not np.isfinite(values).any():
            out.append(np.zeros((0, 2)))
            continue
        out.append(marching_squares(np.where(np.isfinite(values), values, np.nan), xs, ys))
    return out[0], out[1]
