"""ode_system: torchdiffeq integrations against scipy, periods, invariants,
the solver's own counts, Lyapunov exponents and fixed points."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from attractor_lab import engine
from attractor_lab.engine.models.neural_ode._phase import MARGINAL, SADDLE, STABLE, UNSTABLE


def _sim(**params):
    params.setdefault("trajectories", 1)
    return engine.create("ode_system", seed=0, device="cpu", **params)


def _vdp(mu):
    return lambda t, y: [y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]]


def _trajectory(sim, steps):
    out = []
    for _ in range(steps):
        sim.step(1)
        out.append(sim.state()["x_now"][0].copy())
    return np.array(out)


def _vdp_error(rtol, method="dopri5", **extra):
    sim = _sim(rtol=rtol, atol=rtol * 1e-2, dt=0.1, lyapunov=False, solver=method, **extra)
    got = _trajectory(sim, 200)
    ref = solve_ivp(_vdp(1.0), (0, 20), [2.0, 0.0], method="DOP853", rtol=1e-12, atol=1e-12, dense_output=True)
    return np.abs(got - ref.sol(0.1 * np.arange(1, 201)).T).max()


def test_van_der_pol_agrees_with_scipy_dop853_and_error_falls_with_tolerance():
    errors = [_vdp_error(r) for r in (1e-5, 1e-7, 1e-9)]
    assert errors[1] < 1e-5, errors
    assert errors[0] > errors[1] > errors[2], errors


# global errors, not tolerances: low orders accumulate more, and torchdiffeq's dopri8
# (error estimate of its embedded 5th-order solution) is looser than dopri5 at equal rtol
@pytest.mark.parametrize("method, rtol, bound", [("dopri8", 1e-9, 1e-5), ("bosh3", 1e-7, 2e-4),
                                                 ("adaptive_heun", 1e-4, 2e-2)])
def test_other_adaptive_methods_agree_with_scipy(method, rtol, bound):
    assert _vdp_error(rtol, method) < bound


def test_fixed_step_methods_converge_at_their_order():
    e1 = _vdp_error(1e-6, "euler", fixed_step=0.004)
    e2 = _vdp_error(1e-6, "euler", fixed_step=0.002)
    assert 1.7 < e1 / e2 < 2.3  # first order
    r1 = _vdp_error(1e-6, "rk4", fixed_step=0.02)
    r2 = _vdp_error(1e-6, "rk4", fixed_step=0.01)
    assert 12 < r1 / r2 < 20  # fourth order
    assert r2 < 1e-5


@pytest.mark.parametrize("mu, period", [(1.0, 6.6633), (2.0, 7.6299)])
def test_van_der_pol_period_from_the_poincare_section(mu, period):
    sim = _sim(mu=mu, rtol=1e-8, atol=1e-10, dt=2.0, lyapunov=False)
    sim.step(30)
    assert abs(sim.observables()["period"] - period) < 1e-3


def test_lotka_volterra_invariant_drift_below_1e6_over_100_time_units():
    sim = _sim(system="lotka_volterra", rtol=1e-9, atol=1e-11, dt=1.0, trajectories=3, lyapunov=False)
    v0 = sim.observables()["invariant"]
    sim.step(100)
    obs = sim.observables()
    assert obs["invariant_drift"] < 1e-6
    assert abs(obs["invariant"] - v0) < 1e-6
    # and the trajectory really moved around the cycle (the invariant is not trivially constant)
    assert not math.isnan(obs["period"])


def test_dopri5_counts_are_the_methods_own():
    sim = _sim(trajectories=3, rtol=1e-6, dt=0.3)
    sim.step(25)
    o = sim.observables()
    assert o["rejected"] > 0  # the check means something only if steps were rejected
    assert o["nfe"] == 2 + 6 * (o["accepted"] + o["rejected"])
    sim.model.click("launch", 0.5, -0.5)  # a new trajectory: a new solve, same identity
    sim.step(5)
    o2 = sim.observables()
    assert o2["trajectories"] == 4
    assert o2["nfe"] == 2 + 6 * (o2["accepted"] + o2["rejected"])
    assert o2["nfe_total"] == o["nfe"] + o2["nfe"]


def test_lyapunov_of_a_stable_focus_is_its_eigenvalues_real_part():
    # damped pendulum near the bottom: λ = −c/2 ± i √(g − c²/4)
    sim = _sim(system="pendulum", damping=0.3, gravity=1.0, dt=2.0)
    sim.model.set_state([[0.05, 0.0]])
    sim.step(100)
    assert sim.observables()["lyapunov"] == pytest.approx(-0.15, rel=0.05)


@pytest.mark.slow
def test_lyapunov_of_the_van_der_pol_limit_cycle_is_zero():
    sim = _sim(mu=1.0, rtol=1e-5, atol=1e-8, dt=5.0)
    sim.step(100)  # 500 time units
    assert abs(sim.observables()["lyapunov"]) < 0.02


@pytest.mark.slow
def test_lyapunov_of_the_lorenz_attractor():
    # the classic value at σ = 10, ρ = 28, β = 8/3 is 0.9056
    sim = _sim(system="lorenz", rtol=1e-6, atol=1e-8, dt=5.0)
    sim.step(2)  # onto the attractor
    sim.model.solver.restart_lyapunov()
    sim.step(20)
    assert sim.observables()["lyapunov"] == pytest.approx(0.906, abs=0.12)


def test_fixed_points_and_their_stability():
    sim = _sim(system="pendulum", damping=0.3)
    pts, eig, kinds = sim.model.fixed_points()
    found = {round(float(p[0]), 6): int(k) for p, k in zip(pts, kinds)}
    assert found == {round(-math.pi, 6): SADDLE, 0.0: STABLE, round(math.pi, 6): SADDLE}
    lv = _sim(system="lotka_volterra", alpha=1.0, beta=0.5, gamma=2.0, delta=1.0)
    pts, eig, kinds = lv.model.fixed_points()
    centre = [tuple(np.round(p, 9)) for p, k in zip(pts, kinds) if k == MARGINAL]
    assert centre == [(2.0, 2.0)]  # (γ/δ, α/β), eigenvalues ±i√(αγ)
    assert np.allclose(sorted(eig[kinds == MARGINAL][0].imag), [-math.sqrt(2.0), math.sqrt(2.0)])
    vdp = _sim(mu=1.0)
    pts, _, kinds = vdp.model.fixed_points()
    assert np.allclose(pts, [[0.0, 0.0]]) and kinds.tolist() == [UNSTABLE]
    lorenz = _sim(system="lorenz", rho=0.5)
    pts, _, kinds = lorenz.model.fixed_points()
    assert np.allclose(pts, [[0.0, 0.0, 0.0]]) and kinds.tolist() == [STABLE]
    lorenz.set(rho=28.0)
    pts, _, kinds = lorenz.model.fixed_points()
    c = math.sqrt(8.0 / 3.0 * 27.0)
    assert sorted(map(tuple, np.round(pts, 6))) == sorted(
        [(-round(c, 6), -round(c, 6), 27.0), (0.0, 0.0, 0.0), (round(c, 6), round(c, 6), 27.0)])
    assert kinds.tolist() == [SADDLE] * 3


def test_phase_portrait_arrays_follow_the_field():
    sim = _sim(system="van_der_pol", mu=1.0)
    st = sim.state()
    x, y, u, v = st["pp_x"], st["pp_y"], st["pp_u"], st["pp_v"]
    assert u.shape == (y.size, x.size)
    gx, gy = np.meshgrid(x, y)
    assert np.allclose(u, gy) and np.allclose(v, (1 - gx ** 2) * gy - gx)
    assert st["fp"].tolist() == [[0.0, 0.0]] and st["fp_kind"].tolist() == [UNSTABLE]


def test_click_launches_a_trajectory_from_that_point():
    sim = _sim(system="van_der_pol", trajectories=2, dt=0.01)
    sim.step(3)
    sim.model.click("launch", 1.25, -0.75)
    assert sim.state()["x_now"].shape == (3, 2)
    assert np.allclose(sim.state()["x_now"][2], [1.25, -0.75])
    sim.step(1)
    assert not np.allclose(sim.state()["x_now"][2], [1.25, -0.75])
    tails = sim.state()["tails"]
    assert np.isfinite(tails[2]).all(-1).sum() >= 2  # its tail starts at the click
    with pytest.raises(ValueError, match="positive"):
        _sim(system="lotka_volterra").model.click("launch", -1.0, 1.0)
    with pytest.raises(ValueError, match="clicks"):
        sim.model.click("paint", 0.0, 0.0)


def test_live_parameters_and_refusals():
    sim = _sim(dt=0.2)
    sim.step(2)
    sim.set(rtol=1e-9, solver="dopri8", mu=2.0)
    sim.step(2)
    assert sim.params["solver"] == "dopri8" and sim.observables()["nfe"] > 0
    with pytest.raises(ValueError, match="'solver'"):
        sim.set(solver="rk45")
    with pytest.raises(ValueError, match="set_state"):
        sim.model.set_state(np.zeros((2, 3)))


def test_float32_runs_and_agrees_with_float64_to_its_precision():
    a = _trajectory(_sim(dtype="float32", rtol=1e-5, atol=1e-6, dt=0.1), 50)
    b = _trajectory(_sim(dtype="float64", rtol=1e-9, atol=1e-11, dt=0.1), 50)
    assert np.abs(a - b).max() < 1e-3


def test_divergence_pauses_with_a_message_and_keeps_the_last_good_state():
    from attractor_lab.engine.models.base import SimulationDiverged

    sim = _sim(system="spiral", solver="euler", fixed_step=0.5, dt=1.0)
    with pytest.raises(SimulationDiverged, match="fixed_step"):
        sim.step(50)
    assert np.isfinite(sim.state()["x_now"]).all()


def test_cli_run_records_the_states_not_the_display_buffers(tmp_path):
    from attractor_lab.app.cli import main
    from attractor_lab.engine.storage.presets import shipped_presets_dir
    from attractor_lab.engine.storage.recorder import load_trajectory

    out = tmp_path / "lorenz.npz"
    assert main(["run", str(shipped_presets_dir() / "ode_lorenz_butterfly.toml"), "--steps", "40", "--every", "10",
                 "--out", str(out)]) == 0
    t = load_trajectory(out)
    assert t["state/x_now"].shape == (5, 3, 3)
    assert "state/tails" not in t and "state/pp_u" not in t
    assert np.all(np.diff(t["obs/nfe_total"]) > 0)
    # the recorded states are the run's: the embedded preset run again by hand ends where the file ends
    import tomllib

    preset = tomllib.loads(str(t["preset_toml"]))
    sim = engine.create("ode_system", seed=preset["seed"], device="cpu", **preset["params"])
    sim.step(40)
    assert np.allclose(sim.state()["x_now"], t["state/x_now"][-1])


def test_step_range_rejected_fraction_invariant_range_and_radius():
    # the observables the ode presets' contracts read, against the arrays they summarise
    sim = _sim(mu=5.0, dt=1.0, trajectories=1)
    assert math.isnan(sim.observables()["step_range"])  # no period yet
    sim.step(25)
    o, s = sim.observables(), sim.model.solver
    t, h = np.array(s.steps).T
    end = float(s.last_crossing[0])
    last = h[(t > end - o["period"]) & (t <= end)]
    assert o["step_range"] == pytest.approx(math.log10(last.max() / last.min()), abs=1e-12)
    assert o["rejected_fraction"] == o["rejected_total"] / (o["accepted_total"] + o["rejected_total"])
    assert o["radius_max"] == pytest.approx(float(np.linalg.norm(sim.state()["x_now"], axis=1).max()))
    pend = _sim(system="pendulum", damping=0.0, trajectories=3)
    pend.model.set_state([[0.5, 0.0], [0.0, 2.5], [3.0, 0.0]])
    o = pend.observables()
    assert o["invariant_min"] == pytest.approx(-math.cos(0.5)) and o["invariant_max"] == pytest.approx(3.125 - 1.0)
    assert math.isnan(_sim(system="lorenz").observables()["invariant_min"])  # nothing conserved


def _preset_sim(name, **override):
    from attractor_lab.engine.storage.presets import load_preset, shipped_presets_dir

    preset = load_preset(shipped_presets_dir() / f"{name}.toml")
    return engine.create(preset.model, seed=preset.seed, device="cpu", **{**preset.params, **override})


def test_the_fixed_points_the_ode_presets_name():
    # what their contracts cannot say: the centre of the Lotka–Volterra cycles, the spiral's degenerate origin
    pts, _, kinds = _preset_sim("ode_lotka_volterra_cycles").model.fixed_points()
    assert [tuple(np.round(p, 9)) for p, k in zip(pts, kinds) if k == MARGINAL] == [(1.0, 0.375)]
    st = _preset_sim("ode_spiral_demo").state()
    assert st["fp_kind"].tolist() == [MARGINAL] and np.abs(st["fp"]).max() < 1e-3


def test_the_non_stiff_cycle_the_stiff_preset_compares_with():
    # ode_van_der_pol_stiff's contract: ≥ 500 evaluations per unit time at μ = 100; its description
    # quotes μ = 1 at the same tolerances as about 75, less than a fifth of that
    sim = _preset_sim("ode_van_der_pol_stiff", mu=1.0, dt=1.0)
    sim.step(20)
    assert 60 < sim.observables()["nfe_total"] / sim.model.time < 100
