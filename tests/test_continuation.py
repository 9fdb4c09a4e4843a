"""Continuation of equilibria: known bifurcation points of classical systems, typed and built-in."""

import math

import numpy as np
import pytest

import attractor_lab as al
from attractor_lab.engine.analysis.equilibria import continuation, switch_branch

BRUSSELATOR = """dx/dt = a - (b+1)*x + x^2*y
dy/dt = b*x - x^2*y
par a = 1 [0, 5]
par b = 1 [0, 5]
init x = 1, y = 1
"""
FOLD = """dx/dt = r + x^2
dy/dt = -y
par r = -1 [-5, 5]
init x = -1, y = 0
"""
LORENZ = """dx/dt = sigma*(y - x)
dy/dt = x*(rho - z) - y
dz/dt = x*y - beta*z
par sigma = 10 [0, 50]
par rho = 0.5 [0, 100]
par beta = 2.6666666666666665 [0, 10]
init x = 0, y = 0, z = 0
"""
LORENZ_HOPF = 10 * (10 + 8 / 3 + 3) / (10 - 8 / 3 - 1)  # σ(σ + β + 3)/(σ − β − 1) = 24.7368…


def test_brusselator_hopf_at_b_2_typed():
    sim = al.create("custom_ode", equations=BRUSSELATOR)
    branch = continuation(sim, "b", [1.0, 1.0], range=(0.5, 3.0), direction="both")
    hopf = branch.special("hopf")
    assert len(hopf) == 1 and not branch.special("fold") and not branch.special("branch")
    assert abs(hopf[0].param - 2.0) < 1e-5
    assert abs(hopf[0].frequency - 1.0) < 1e-5  # ω = a at onset
    np.testing.assert_allclose(hopf[0].state, [1.0, 2.0], atol=1e-6)
    # the branch is (a, b/a); stable before the Hopf point, unstable after, as the eigenvalues say
    np.testing.assert_allclose(branch.states[:, 1], branch.params, atol=1e-8)
    np.testing.assert_array_equal(branch.stable, branch.params < hopf[0].param)
    assert branch.params.min() < 0.6 and branch.params.max() > 2.9 and np.all(np.diff(branch.params) > 0)


def test_brusselator_hopf_moves_with_a():
    sim = al.create("custom_ode", equations=BRUSSELATOR, a=1.5)
    branch = continuation(sim, "b", [1.5, 1.0], range=(0.5, 4.0))
    (hopf,) = branch.special("hopf")
    assert abs(hopf.param - (1 + 1.5 ** 2)) < 1e-6 and abs(hopf.frequency - 1.5) < 1e-6


def _lorenz_checks(sim):
    trivial = continuation(sim, "rho", [0.0, 0.0, 0.0], range=(0.0, 30.0))
    (bp,) = trivial.special("branch")
    assert abs(bp.param - 1.0) < 1e-4 and not trivial.special("fold") and not trivial.special("hopf")
    np.testing.assert_array_equal(trivial.stable, trivial.params < bp.param)
    for direction in (1, -1):
        side = switch_branch(sim, trivial, bp, direction=direction, range=(0.0, 30.0))
        (hopf,) = side.special("hopf")
        assert abs(hopf.param - LORENZ_HOPF) < 1e-4
        assert abs(hopf.param - 24.7368) < 1e-4
        # C±: x = y = ±√(β(ρ − 1)), z = ρ − 1
        x = np.sqrt(8 / 3 * (side.params - 1.0))
        np.testing.assert_allclose(np.abs(side.states[:, 0]), x, atol=1e-7)
        assert np.sign(side.states[-1, 0]) == np.sign(side.states[5, 0])
        np.testing.assert_allclose(side.states[:, 2], side.params - 1.0, atol=1e-7)
        beyond = side.params > 1.0 + 1e-3
        np.testing.assert_array_equal(side.stable[beyond], side.params[beyond] < hopf.param)
    return side


def test_lorenz_pitchfork_and_hopf_builtin():
    side = _lorenz_checks(al.create("ode_system", system="lorenz", rho=0.5))
    assert side.params.max() > 29


def test_lorenz_pitchfork_and_hopf_typed():
    _lorenz_checks(al.create("custom_ode", equations=LORENZ))


def test_fold_of_r_plus_x_squared():
    branch = continuation(al.create("custom_ode", equations=FOLD), "r", [-1.0, 0.0], range=(-2.0, 2.0))
    (fold,) = branch.special("fold")
    assert abs(fold.param) < 1e-6 and abs(fold.state[0]) < 1e-3
    assert not branch.special("hopf") and not branch.special("branch")
    # the branch turns: x = −√(−r) (stable) then x = +√(−r) (unstable), r back below 0
    np.testing.assert_allclose(branch.params, -branch.states[:, 0] ** 2, atol=1e-8)
    assert branch.params.max() <= 1e-9 and branch.states[-1, 0] > 1.0
    np.testing.assert_array_equal(branch.stable, branch.states[:, 0] < 0)
    eig = branch.eigenvalues.real
    np.testing.assert_allclose(eig[:, 0], 2 * branch.states[:, 0], atol=1e-8)  # f_x = 2x


def test_errors_name_what_is_allowed():
    sim = al.create("custom_ode", equations=BRUSSELATOR)
    with pytest.raises(ValueError, match="no parameter 'c'.*a, b"):
        continuation(sim, "c")
    with pytest.raises(ValueError, match="start needs 2 values"):
        continuation(sim, "b", [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"b = 1 is outside the range \[2, 3\]"):
        continuation(sim, "b", range=(2, 3))


def test_branch_arrays_round_trip(tmp_path):
    branch = continuation(al.create("custom_ode", equations=BRUSSELATOR), "b", [1, 1.5], range=(1.5, 2.5), b=1.5)
    arrays = branch.arrays()
    np.savez(tmp_path / "b.npz", **arrays)
    back = np.load(tmp_path / "b.npz")
    assert list(back["point_kind"]) == ["hopf"] and math.isclose(float(back["point_param"][0]), 2.0, abs_tol=1e-6)
    assert back["states"].shape == (back["param"].size, 2)


def test_rate_network_quiet_state_loses_stability_where_theory_says():
    """dx/dt = −x + g J tanh x: x = 0 loses stability at g = 1/Re μ, μ the rightmost eigenvalue of J
    (a Hopf point with frequency g Im μ when μ is complex, a branch point when it is real)."""
    sim = al.create("rate_network", device="cpu", neurons=60, g=0.5, dtype="float64")
    mu = np.linalg.eigvals(sim.model.J.numpy())
    top = mu[np.argmax(mu.real)]
    branch = continuation(sim, "g", np.zeros(60), range=(0.5, 1.5), ds=0.05)
    first = branch.points[0]
    assert abs(first.param - 1.0 / top.real) < 1e-6
    if abs(top.imag) > 1e-9:
        assert first.kind == "hopf" and abs(first.frequency - first.param * abs(top.imag)) < 1e-6
    else:
        assert first.kind == "branch"
    np.testing.assert_array_equal(branch.stable, branch.params < first.param)
    # every later special point is another eigenvalue of g J crossing 1: g = 1/Re μ_k
    for p in branch.points:
        assert np.min(np.abs(1.0 / mu.real[mu.real > 0] - p.param)) < 1e-6


def test_continuous_hopfield_paramagnet_bifurcates_at_the_top_eigenvalue():
    """dx/dt = −x + W tanh(x/T): x = 0 is stable for T > λ_max(W), a pitchfork there, and one more
    at each of W's other eigenvalues (three patterns: three; two of them closer than a step)."""
    sim = al.create("continuous_hopfield", device="cpu", neurons=64, load=0.05, temperature=2.0)
    xi = sim.model.xi.numpy()
    lam = np.sort(np.linalg.eigvalsh(xi.T @ xi / xi.shape[1]))[::-1][:xi.shape[0]]
    top = lam[0]
    branch = continuation(sim, "temperature", np.zeros(64), range=(0.3, 2.0), direction=-1, ds=0.05)
    points = branch.special("branch")
    np.testing.assert_allclose([p.param for p in points], lam, atol=1e-6)
    bp = points[0]
    assert abs(bp.param - top) < 1e-6 and not branch.special("hopf")
    np.testing.assert_array_equal(branch.stable, branch.params > bp.param)
    np.testing.assert_array_equal(branch.unstable_dims, (branch.params[:, None] < lam).sum(1))


def test_progress_reports_and_cancels():
    sim = al.create("custom_ode", equations=BRUSSELATOR)
    seen = []

    class Stop(Exception):
        pass

    def progress(points, b):
        seen.append((points, b))
        if points >= 5:
            raise Stop

    with pytest.raises(Stop):
        continuation(sim, "b", [1.0, 1.0], range=(0.5, 3.0), progress=progress)
    assert [p for p, _ in seen] == [2, 3, 4, 5] and all(b > 1.0 for _, b in seen)
