"""Basins of attraction on a plane of initial conditions, integrated as one batch.

A grid of starts on the plane of two components (the others fixed at
``base``) is integrated for ``time`` (RK4, all starts one tensor), then for
``average`` more time while each trajectory's running minimum and maximum of
every component are kept. That envelope is what identifies the attractor
reached, whatever the phase on it: an equilibrium has min = max, a cycle its
extent. Envelopes are clustered (cells of ``tol`` × the envelopes' spread,
merged greedily from the most populated;
the scale is the larger of the box and the extent of everything reached), each start is labelled by its
cluster, and the clusters are the attractors, largest basin first.
Trajectories that leave ``bound`` are labelled −1 (escape to infinity).

Refinement (``refine`` = k > 0): k times, the grid is doubled in each direction
and only the cells on a boundary (a 4-neighbour with another label) are
integrated again, as their four sub-cells; every other cell passes its label
to its sub-cells. Each new start takes the label of the nearest attractor's
envelope (−1 when it is farther than the clustering's merge distance from all,
or escaped). A boundary is a curve, so this costs ~4 × (boundary cells) starts
per level instead of 3 × (all cells) for the doubled grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attractor_lab.engine.analysis.fields import vector_field
from attractor_lab.engine.analysis.integrate import integrate


@dataclass
class Basins:
    """Which attractor each start on the grid reaches.

    Attributes
    ----------
    xs, ys : (nx,), (ny,) the grid's coordinates on the plane's two components
    labels : (ny, nx) int, the attractor's index (−1: escaped or not finite)
    fractions : (K,) each attractor's share of the grid (escapes not counted in any)
    lower, upper : (K, d) each attractor's envelope (the median of its starts' min and max)
    kinds : list of "equilibrium" or "oscillating"
    refined_cells : list of int, per refinement level the cells (of the grid before it) that were
        on a boundary and integrated again as four sub-cells
    """

    plane: tuple
    xs: np.ndarray
    ys: np.ndarray
    labels: np.ndarray
    fractions: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    kinds: list
    refined_cells: list = None

    @property
    def count(self) -> int:
        return int(self.fractions.size)

    def arrays(self) -> dict:
        return {"xs": self.xs, "ys": self.ys, "labels": self.labels, "fractions": self.fractions,
                "lower": self.lower, "upper": self.upper, "kinds": np.array(self.kinds, dtype="U12"),
                "plane": np.array(self.plane, dtype="U32"),
                "refined_cells": np.array(self.refined_cells or [], dtype=np.int64)}


def basins(source, plane=(0, 1), box: tuple | None = None, resolution=200, *, time: float = 100.0,
           average: float = 20.0, dt: float = 0.05, base=None, tol: float = 1e-2, bound: float = 1e6,
           device: str = "cpu", dtype=torch.float64, refine: int = 0, progress=None, **params) -> Basins:
    """Basins of attraction of ``source`` on a grid over ``box`` in the ``plane``.

    Parameters
    ----------
    source
        Anything :func:`~attractor_lab.engine.analysis.fields.vector_field` takes.
    plane : (variable, variable)
        The two components the grid spans (names or indices).
    box : (x0, x1, y0, y1), optional
        The grid's extent (default: the model's phase window).
    resolution : int or (nx, ny)
        Grid points per axis (cell centres, so a box symmetric about a saddle never starts on it).
    time, average, dt : float
        Time to settle, time over which the envelope is taken, RK4 step.
    base : array (d,), optional
        The other components' values (default: the model's start).
    tol : float
        Envelopes closer than ~``tol`` × the larger of the box and the extent of all
        that was reached are one attractor.
    refine : int
        Levels of boundary refinement (each doubles the grid, re-integrating only the cells
        whose neighbours disagree); the result's grid is ``resolution × 2**refine``.
    """
    vf = vector_field(source, **params)
    i, j = vf.index(plane[0]), vf.index(plane[1])
    if i == j:
        raise ValueError(f"basins: the plane needs two different variables, not {plane[0]!r} twice")
    if box is None:
        if vf.window is None:
            raise ValueError(f"{vf.name}: give the box (x0, x1, y0, y1); the model has no phase window")
        box = vf.window
    x0, x1, y0, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"basins: the box needs x0 < x1 and y0 < y1, not {box}")
    nx, ny = (resolution, resolution) if np.isscalar(resolution) else resolution
    nx, ny = int(nx), int(ny)
    if nx < 2 or ny < 2:
        raise ValueError("basins: at least 2 grid points per axis")
    xs = x0 + (np.arange(nx) + 0.5) * (x1 - x0) / nx
    ys = y0 + (np.arange(ny) + 0.5) * (y1 - y0) / ny
    d = vf.dim
    start = np.zeros(d) if base is None and vf.start is None else np.asarray(
        vf.start if base is None else base, dtype=np.float64).reshape(-1)
    grid = np.repeat(start[None], nx * ny, axis=0)
    gx, gy = np.meshgrid(xs, ys)
    grid[:, i], grid[:, j] = gx.ravel(), gy.ravel()
    levels = max(0, int(refine))
    share = 1.0 / (1 + levels)  # of the progress bar: the coarse grid, then each level
    settle = lambda pts, lo_frac: _settle(vf, pts, time, average, dt, bound, device, dtype,  # noqa: E731
                                          None if progress is None else
                                          (lambda f: progress(lo_frac + share * f)))
    lo, hi, ok = settle(grid, 0.0)
    box_span = max(x1 - x0, y1 - y0)
    labels, lower, upper = _cluster(lo, hi, ok, tol, box_span)
    spread = max(float((hi[ok].max(0) - lo[ok].min(0)).max()) if ok.any() else 1.0, box_span)
    labels = labels.reshape(ny, nx)
    refined = []
    for level in range(levels):
        edge = boundary_cells(labels)
        refined.append(int(edge.sum()))
        labels = np.repeat(np.repeat(labels, 2, axis=0), 2, axis=1)
        nx, ny = 2 * nx, 2 * ny
        xs = x0 + (np.arange(nx) + 0.5) * (x1 - x0) / nx
        ys = y0 + (np.arange(ny) + 0.5) * (y1 - y0) / ny
        rows, cols = np.nonzero(np.repeat(np.repeat(edge, 2, axis=0), 2, axis=1))
        if rows.size == 0:
            continue
        pts = np.repeat(start[None], rows.size, axis=0)
        pts[:, i], pts[:, j] = xs[cols], ys[rows]
        lo_new, hi_new, ok_new = settle(pts, share * (level + 1))
        labels[rows, cols] = _nearest(lo_new, hi_new, ok_new, lower, upper, tol * spread)
    n_all = nx * ny
    fractions = np.array([(labels == k).sum() / n_all for k in range(lower.shape[0])])
    kinds = ["equilibrium" if float((u - l).max()) < tol * spread else "oscillating" for l, u in zip(lower, upper)]
    return Basins((vf.labels[i], vf.labels[j]), xs, ys, labels, fractions, lower, upper, kinds, refined)


def boundary_cells(labels: np.ndarray) -> np.ndarray:
    """(ny, nx) bool: cells with a 4-neighbour of another label (a basin boundary runs by them)."""
    edge = np.zeros(labels.shape, dtype=bool)
    dx = labels[:, 1:] != labels[:, :-1]
    dy = labels[1:, :] != labels[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    return edge


def _settle(vf, grid, time, average, dt, bound, device, dtype, progress):
    """Integrate the starts ``grid`` (N, d): settle for ``time``, then the envelope over ``average``;
    (lo, hi, ok) as numpy arrays."""
    x = torch.as_tensor(grid, dtype=dtype, device=device)
    p = dict(vf.params)
    steps, steps_avg = int(round(time / dt)), max(1, int(round(average / dt)))
    part = steps / (steps + steps_avg)
    x = integrate(vf, x, p, dt, steps, bound=bound,
                  progress=None if progress is None else (lambda f: progress(part * f)))
    env = _Envelope(x)
    x = integrate(vf, x, p, dt, steps_avg, on_step=env, bound=bound,
                  progress=None if progress is None else (lambda f: progress(part + (1 - part) * f)))
    lo, hi = env.lo.cpu().numpy().astype(np.float64), env.hi.cpu().numpy().astype(np.float64)
    ok = np.isfinite(lo).all(-1) & np.isfinite(hi).all(-1) & torch.isfinite(x).all(-1).cpu().numpy()
    return lo, hi, ok


def _nearest(lo, hi, ok, lower, upper, width) -> np.ndarray:
    """Each envelope's attractor: the nearest of (lower, upper) (max-norm), −1 beyond 3 × ``width``
    (the clustering's merge distance) or when escaped."""
    out = np.full(lo.shape[0], -1, dtype=np.int64)
    if lower.shape[0] == 0 or not ok.any():
        return out
    feat = np.concatenate([lo, hi], axis=1)
    centres = np.concatenate([lower, upper], axis=1)
    dist = np.abs(feat[:, None, :] - centres[None]).max(-1)
    best = dist.argmin(1)
    near = dist[np.arange(best.size), best] <= 3 * max(width, 1e-12)
    out[ok & near] = best[ok & near]
    return out


class _Envelope:
    def __init__(self, x: torch.Tensor):
        self.lo, self.hi = x.clone(), x.clone()

    def __call__(self, x: torch.Tensor) -> None:
        torch.minimum(self.lo, x, out=self.lo)
        torch.maximum(self.hi, x, out=self.hi)


def _cluster(lo: np.ndarray, hi: np.ndarray, ok: np.ndarray, tol: float, span: float):
    """Labels (N,) for envelopes [lo, hi] (N, d): cells of tol × scale, merged greedily."""
    labels = np.full(lo.shape[0], -1, dtype=np.int64)
    d = lo.shape[1]
    if not ok.any():
        return labels, np.zeros((0, d)), np.zeros((0, d))
    feat = np.concatenate([lo[ok], hi[ok]], axis=1)
    # the cells' width: tol × the larger of the box and the extent of all that was reached (not the
    # envelopes' spread, which is ~0 when every start reaches one attractor)
    width = max(float((hi[ok].max(0) - lo[ok].min(0)).max()), span, 1e-12) * tol
    cells, inverse, counts = np.unique(np.floor(feat / width).astype(np.int64), axis=0, return_inverse=True,
                                       return_counts=True)
    inverse = inverse.reshape(-1)
    centres = np.zeros((cells.shape[0], feat.shape[1]))
    np.add.at(centres, inverse, feat)
    centres /= counts[:, None]
    cluster_of = np.full(cells.shape[0], -1, dtype=np.int64)
    heads: list[np.ndarray] = []
    for c in np.argsort(-counts, kind="stable"):
        for k, h in enumerate(heads):
            if np.abs(centres[c] - h).max() <= 3 * width:
                cluster_of[c] = k
                break
        else:
            cluster_of[c] = len(heads)
            heads.append(centres[c])
    point_cluster = cluster_of[inverse]
    sizes = np.bincount(point_cluster, minlength=len(heads))
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    labels[ok] = rank[point_cluster]
    lower = np.array([np.median(lo[ok][point_cluster == k], axis=0) for k in order])
    upper = np.array([np.median(hi[ok][point_cluster == k], axis=0) for k in order])
    return labels, lower, upper
