"""Basins of attraction: the damped double-well Duffing splits a symmetric box in halves."""

import numpy as np
import pytest

from attractor_lab.engine.analysis.attractors import basins

DUFFING = """dx/dt = v
dv/dt = -c*v + x - x^3
par c = 0.25 [0, 2]
init x = 1, v = 0
"""
VAN_DER_POL = """dx/dt = y
dy/dt = mu*(1 - x^2)*y - x
par mu = 1 [0, 10]
init x = 2, y = 0
"""


def _check_duffing(b):
    assert b.count == 2 and b.kinds == ["equilibrium", "equilibrium"]
    assert np.all(np.abs(b.fractions - 0.5) <= 0.02) and (b.labels >= 0).all()
    wells = sorted(float(lo[0]) for lo in b.lower)
    np.testing.assert_allclose(wells, [-1.0, 1.0], atol=1e-3)
    # the start at a well's bottom belongs to that well's basin
    right = int(np.argmax(b.lower[:, 0]))
    ix, iy = np.argmin(np.abs(b.xs - 1.0)), np.argmin(np.abs(b.ys))
    assert b.labels[iy, ix] == right and b.labels[iy, np.argmin(np.abs(b.xs + 1.0))] != right
    # the basins are symmetric under (x, v) -> (−x, −v)
    assert np.mean(b.labels == b.labels[::-1, ::-1]) == 0.0


def test_duffing_two_basins_typed():
    _check_duffing(basins("custom_ode", box=(-2, 2, -2, 2), resolution=60, equations=DUFFING))


def test_duffing_two_basins_builtin():
    _check_duffing(basins("ode_system", ("x", "v"), box=(-2, 2, -2, 2), resolution=60, system="duffing",
                          damping=0.25, stiffness=-1.0, cubic=1.0, forcing=0.0))


def test_van_der_pol_one_cycle():
    b = basins("custom_ode", box=(-3, 3, -3, 3), resolution=16, time=60.0, equations=VAN_DER_POL)
    assert b.count == 1 and b.kinds == ["oscillating"] and b.fractions[0] == 1.0
    np.testing.assert_allclose(b.upper[0], [2.0086, 2.6784], atol=2e-3)  # the cycle's extent at μ = 1


def test_escapes_are_labelled_minus_one():
    escape = "dx/dt = x^2 - 1\ndy/dt = -y\ninit x = -1, y = 0\n"  # x > 1 blows up in finite time
    b = basins("custom_ode", box=(-1, 3, -1, 1), resolution=10, time=20.0, average=5.0, equations=escape)
    assert (b.labels[:, b.xs > 1] == -1).all() and (b.labels[:, b.xs < 1] == 0).all()
    assert b.count == 1 and b.fractions[0] == 0.5


def test_errors():
    with pytest.raises(ValueError, match="two different variables"):
        basins("custom_ode", ("x", "x"), box=(-1, 1, -1, 1), equations=DUFFING)
    with pytest.raises(ValueError, match="x0 < x1"):
        basins("custom_ode", box=(1, -1, -1, 1), equations=DUFFING)


def test_refinement_integrates_only_boundary_cells_and_keeps_the_halves():
    from attractor_lab.engine.analysis.attractors import boundary_cells

    coarse = basins("custom_ode", box=(-2, 2, -2, 2), resolution=40, equations=DUFFING)
    fine = basins("custom_ode", box=(-2, 2, -2, 2), resolution=40, refine=1, equations=DUFFING)
    _check_duffing(fine)
    assert fine.labels.shape == (80, 80)
    np.testing.assert_allclose(fine.xs[:2], [-2 + 0.025, -2 + 0.075])
    # the cells re-integrated are exactly the coarse grid's boundary cells: 424 of 1600 for this
    # spiral boundary (a quarter of the grid), each as four sub-cells
    edge = boundary_cells(coarse.labels)
    assert fine.refined_cells == [int(edge.sum())] == [424]
    # elsewhere the coarse label is kept
    up = np.repeat(np.repeat(coarse.labels, 2, axis=0), 2, axis=1)
    inner = ~np.repeat(np.repeat(edge, 2, axis=0), 2, axis=1)
    assert (fine.labels[inner] == up[inner]).all()
    # and the result agrees with integrating the whole doubled grid but for thin filaments
    full = basins("custom_ode", box=(-2, 2, -2, 2), resolution=80, equations=DUFFING)
    assert np.mean(fine.labels == full.labels) > 0.998
    assert np.mean(up == full.labels) < 0.97  # what refining fixed
