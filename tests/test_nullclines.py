"""Nullclines by marching squares, and the fixed points where they cross."""

import numpy as np
import pytest

from attractor_lab.engine.analysis.phase_plane import SADDLE, STABLE, UNSTABLE, marching_squares, nullclines

DUFFING = """dx/dt = v
dv/dt = -c*v + x - x^3
par c = 0.25 [0, 2]
init x = 1, v = 0
"""


def test_circle_contour_is_one_closed_polyline():
    xs = ys = np.linspace(-2, 2, 81)
    gx, gy = np.meshgrid(xs, ys)
    line = marching_squares(gx ** 2 + gy ** 2 - 1.0, xs, ys)
    assert not np.isnan(line).any()  # one piece
    np.testing.assert_allclose(np.hypot(line[:, 0], line[:, 1]), 1.0, atol=2e-3)
    np.testing.assert_allclose(line[0], line[-1])  # closed
    assert line.shape[0] > 100


def test_saddle_cells_and_two_pieces():
    xs = ys = np.linspace(-1, 1, 40)  # even count: no grid point on the axes
    gx, gy = np.meshgrid(xs, ys)
    line = marching_squares(gx * gy - 0.01, xs, ys)  # two hyperbola branches
    pieces = np.split(line, np.nonzero(np.isnan(line[:, 0]))[0])
    pieces = [p[np.isfinite(p[:, 0])] for p in pieces]
    assert len(pieces) == 2
    for p in pieces:
        np.testing.assert_allclose(p[:, 0] * p[:, 1], 0.01, atol=2e-3)


def test_duffing_nullclines_and_fixed_points():
    nc = nullclines("custom_ode", box=(-2, 2, -1.5, 1.5), resolution=101, equations=DUFFING)
    # ẋ = v = 0: the line v = 0; v̇ = 0: v = (x − x³)/c
    xn = nc.x_nullcline[np.isfinite(nc.x_nullcline[:, 0])]
    np.testing.assert_allclose(xn[:, 1], 0.0, atol=1e-12)
    yn = nc.y_nullcline[np.isfinite(nc.y_nullcline[:, 0])]
    np.testing.assert_allclose(yn[:, 1], (yn[:, 0] - yn[:, 0] ** 3) / 0.25, atol=0.015)  # half a cell
    order = np.argsort(nc.fixed_points[:, 0])
    np.testing.assert_allclose(nc.fixed_points[order], [[-1, 0], [0, 0], [1, 0]], atol=1e-10)
    assert list(nc.kinds[order]) == [STABLE, SADDLE, STABLE]


def test_builtin_van_der_pol_unstable_focus():
    nc = nullclines("ode_system", resolution=61, system="van_der_pol", mu=1.0)
    assert nc.fixed_points.shape == (1, 2) and nc.kinds[0] == UNSTABLE
    np.testing.assert_allclose(nc.fixed_points[0], 0.0, atol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match=r"shape \(len\(ys\), len\(xs\)\)"):
        marching_squares(np.zeros((3, 4)), np.arange(3), np.arange(4))
    with pytest.raises(ValueError, match="x0 < x1"):
        nullclines("custom_ode", box=(1, 0, 0, 1), equations=DUFFING)
