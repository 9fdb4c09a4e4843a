"""Zero contours of a function on a plane, as polylines (pure numpy).

Theory lines on a sweep's plane are often boundaries of a region where a
condition holds (the Turing-unstable region of a reaction–diffusion system).
:func:`zero_contour` samples a continuous margin whose sign says which side a
point is on and returns the line where it vanishes (marching squares, linear
interpolation along cell edges), as segments separated by NaN.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def zero_contour(xs: np.ndarray, ys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The level 0 of ``values`` (shape (len(ys), len(xs))) sampled on the grid ``xs`` × ``ys``.

    Returns (x, y): 2-point segments separated by NaN (draw with NaN gaps). Cells with
    a NaN corner are skipped.
    """
    v = np.asarray(values, dtype=float)
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    if v.shape != (len(ys), len(xs)):
        raise ValueError(f"zero_contour: values must have shape {(len(ys), len(xs))}, not {v.shape}")
    out_x: list[float] = []
    out_y: list[float] = []

    def crossing(p0, p1, a, b):
        t = a / (a - b)
        return p0[0] + t * (p1[0] - p0[0]), p0[1] + t * (p1[1] - p0[1])

    for j in range(len(ys) - 1):
        for i in range(len(xs) - 1):
            corners = [(xs[i], ys[j]), (xs[i + 1], ys[j]), (xs[i + 1], ys[j + 1]), (xs[i], ys[j + 1])]
            vals = [v[j, i], v[j, i + 1], v[j + 1, i + 1], v[j + 1, i]]
            if not np.all(np.isfinite(vals)):
                continue
            points = []
            for k in range(4):
                a, b = vals[k], vals[(k + 1) % 4]
                if (a > 0) != (b > 0):
                    points.append(crossing(corners[k], corners[(k + 1) % 4], a, b))
            # 2 crossings: one segment; 4 (a saddle cell): pair them by the centre's sign
            if len(points) == 4 and (np.mean(vals) > 0) != (vals[0] > 0):
                points = [points[0], points[3], points[1], points[2]]
            for s in range(0, len(points) - 1, 2):
                (x0, y0), (x1, y1) = points[s], points[s + 1]
                out_x += [x0, x1, np.nan]
                out_y += [y0, y1, np.nan]
    return np.array(out_x), np.array(out_y)


def sample_plane(margin: Callable[[float, float], float], x_range: tuple[float, float],
                 y_range: tuple[float, float], n: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``margin(x, y)`` on an ``n`` × ``n`` grid over the ranges: (xs, ys, values[y, x])."""
    xs = np.linspace(float(x_range[0]), float(x_range[1]), n)
    ys = np.linspace(float(y_range[0]), float(y_range[1]), n)
    values = np.array([[margin(x, y) for x in xs] for y in ys], dtype=float)
    return xs, ys, values
