"""Periodic orbits from a Hopf point by shooting: the Brusselator's cycle at onset."""

import math

import numpy as np
import pytest

import attractor_lab as al
from attractor_lab.engine.analysis import continuation
from attractor_lab.engine.analysis.cycles import cycles_from_hopf

BRUSSELATOR = """dx/dt = a - (b+1)*x + x^2*y
dy/dt = b*x - x^2*y
par a = 1 [0, 5]
par b = 1 [0, 5]
init x = 1, y = 1
"""


@pytest.fixture(scope="module")
def brusselator_cycles():
    sim = al.create("custom_ode", equations=BRUSSELATOR)
    (hopf,) = continuation(sim, "b", [1.0, 1.0], range=(0.5, 3.0)).special("hopf")
    return hopf, cycles_from_hopf(sim, "b", hopf, range=(2.0, 2.3), max_points=8, ds=0.05)


def test_period_two_pi_at_onset(brusselator_cycles):
    hopf, cycles = brusselator_cycles
    assert abs(2 * math.pi / hopf.frequency - 2 * math.pi) < 1e-5
    # the smallest cycles: period 2π/a at onset
    assert abs(cycles.periods[0] - 2 * math.pi) < 1e-3
    slope = (cycles.periods[1] - cycles.periods[0]) / (cycles.params[1] - cycles.params[0])
    assert abs(cycles.periods[0] - slope * (cycles.params[0] - 2.0) - 2 * math.pi) < 1e-4
    assert np.all(np.diff(cycles.params) > 0) and np.all(np.diff(cycles.periods) > 0)


def test_amplitude_grows_like_square_root(brusselator_cycles):
    _, cycles = brusselator_cycles
    near = (cycles.params - 2.0) < 0.02
    assert near.sum() >= 3
    ratio = cycles.amplitudes[near, 0] ** 2 / (cycles.params[near] - 2.0)
    assert np.ptp(ratio) / ratio.mean() < 0.03  # amplitude² ∝ (b − b_H)
    # and it is not linear: doubling the amplitude costs four times the parameter
    assert ratio[0] == pytest.approx(ratio[1], rel=1e-3)


def test_floquet_multipliers_stable_supercritical(brusselator_cycles):
    _, cycles = brusselator_cycles
    np.testing.assert_allclose(cycles.multipliers[:, 0], 1.0, atol=1e-6)  # the flow's direction
    assert cycles.stable.all() and not cycles.points
    # the other multiplier leaves 1 as the cycle grows: exp(T·2 Re λ)-like contraction
    assert np.all(np.diff(np.abs(cycles.multipliers[:, 1])) < 0)
    # each cycle returns to its start after its period, by scipy's DOP853 as well
    from scipy.integrate import solve_ivp

    a = 1.0
    for b, x0, period in zip(cycles.params[[0, -1]], cycles.states[[0, -1]], cycles.periods[[0, -1]]):
        rhs = lambda t, s, b=b: [a - (b + 1) * s[0] + s[0] ** 2 * s[1], b * s[0] - s[0] ** 2 * s[1]]  # noqa: E731
        end = solve_ivp(rhs, (0, period), x0, method="DOP853", rtol=1e-11, atol=1e-12).y[:, -1]
        np.testing.assert_allclose(end, x0, atol=1e-6)
    assert cycles.params[-1] > 2.05


def test_needs_a_hopf_point(brusselator_cycles):
    hopf, _ = brusselator_cycles
    from dataclasses import replace

    with pytest.raises(ValueError, match="needs a Hopf point, not a fold"):
        cycles_from_hopf(al.create("custom_ode", equations=BRUSSELATOR), "b", replace(hopf, kind="fold"))


def test_cycle_branch_saves(brusselator_cycles, tmp_path):
    from attractor_lab.engine.analysis import save

    _, cycles = brusselator_cycles
    text = save(cycles, tmp_path / "c.csv").read_text().splitlines()
    assert text[0].startswith("b,period,x,y,amplitude_x")
    assert abs(float(text[1].split(",")[1]) - 2 * math.pi) < 1e-3
    data = np.load(save(cycles, tmp_path / "c.npz"))
    np.testing.assert_allclose(data["periods"], cycles.periods)


from tests.test_orbit_diagram import ROSSLER  # noqa: E402 (one text of the system)


@pytest.fixture(scope="module")
def rossler_branch():
    from attractor_lab.engine.analysis import vector_field
    from attractor_lab.engine.analysis.cycles import cycles_from_orbit

    vf = vector_field("custom_ode", equations=ROSSLER, c=2.78)
    return vf, cycles_from_orbit(vf, "c", range=(2.78, 2.88), ds=0.05, max_points=6, steps=200)


def test_rossler_first_period_doubling_located(rossler_branch):
    vf, branch = rossler_branch
    (pd,) = [p for p in branch.points if p[0] == "period_doubling"]
    # the first period doubling of Rössler (a = b = 0.2) at c ≈ 2.8324 (the orbit diagram's first
    # split, test below); RK4 with 200 steps per period agrees with 400 steps to 2e-6
    assert pd[1] == pytest.approx(2.83245, abs=2e-5)
    # stable period-1 cycle before it, a multiplier below −1 after it
    before, after = branch.params < pd[1], branch.params > pd[1]
    assert branch.stable[before].all() and not branch.stable[after].any()
    assert (branch.multipliers[after, 2].real < -1).all()
    assert np.all(np.abs(branch.periods - 5.76) < 0.05)  # period 1: one turn ≈ 5.76


def test_rossler_period_doubling_multiplier_is_minus_one(rossler_branch):
    from attractor_lab.engine.analysis.cycles import cycles_from_orbit

    vf, branch = rossler_branch
    (pd,) = [p[1] for p in branch.points if p[0] == "period_doubling"]
    at = cycles_from_orbit(vf, "c", c=pd, start=branch.states[0], ds=1e-3, max_points=2, steps=200)
    np.testing.assert_allclose(at.multipliers[0, 2], -1.0, atol=1e-4)


def test_rossler_orbit_diagram_splits_at_the_doubling(rossler_branch):
    from attractor_lab.engine.analysis import orbit_diagram

    vf, _ = rossler_branch
    # near a period doubling the multiplier is near −1 and the orbit settles slowly (critical
    # slowing down): after 600 time units c = 2.80 still alternates by 0.04, after 3000 it has one
    # maximum, while c = 2.82 keeps a 3e-3 split. The orbit diagram brackets the doubling only
    # coarsely; shooting (above) locates it.
    d = orbit_diagram(vf, "c", [2.75, 2.90], variable="x", trajectories=2, transient=1500, record=40, dt=0.05)
    assert [d.distinct(k, tol=1e-2).size for k in range(2)] == [1, 2]
