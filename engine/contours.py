"""Zero contours of a sampled planar field: marching squares (numpy) and the nullclines a
phase portrait draws.

Core room: models draw nullclines in their portraits and the analysis room builds on the
same tracing, so it lives below both (numpy and torch only).

``marching_squares(values, xs, ys)`` returns the zero contour of a grid of
values as polylines: one (P, 2) array with a NaN row between pieces (what a
plot draws with ``connect="finite"``). Each edge's crossing is computed once,
by linear interpolation, so the segments of neighbouring cells meet exactly and
are joined into long polylines; a saddle cell (alternating signs) is resolved
by the value at its centre.
"""

from __future__ import annotations

import numpy as np
import torch

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
