"""The ode_system presets show what their titles say (run headless, claims checked)."""

import math

import numpy as np
import pytest

import engine
from engine.models.neural_ode._phase import MARGINAL, SADDLE
from engine.presets import load_preset, shipped_presets_dir


def _run(name, time_units=None, **override):
    preset = load_preset(shipped_presets_dir() / f"{name}.toml")
    params = {**preset.params, **override}
    sim = engine.create(preset.model, seed=preset.seed, device="cpu", **params)
    if time_units is not None:
        sim.step(int(round(time_units / sim.params["dt"])))
    return sim


def test_van_der_pol_relaxation():
    sim = _run("ode_van_der_pol_relaxation", 40, dt=1.0)
    obs, st = sim.observables(), sim.state()
    assert obs["period"] == pytest.approx(11.612, abs=0.01)
    assert st["step_h"].max() / st["step_h"].min() > 10
    assert obs["rejected_total"] > 0


def test_lotka_volterra_invariant_conserved_to_1e8():
    sim = _run("ode_lotka_volterra_cycles", 100, dt=1.0)
    assert sim.observables()["invariant_drift"] < 1e-8
    pts, _, kinds = sim.model.fixed_points()
    assert [tuple(np.round(p, 9)) for p, k in zip(pts, kinds) if k == MARGINAL] == [(1.0, 0.375)]


def test_duffing_is_chaotic():
    sim = _run("ode_duffing_chaos", 100, dt=1.0)
    assert 0.1 < sim.observables()["lyapunov"] < 0.35


def test_lorenz_attractor():
    sim = _run("ode_lorenz_butterfly", 20, dt=1.0)
    assert sim.observables()["lyapunov"] > 0.3
    assert sim.state()["fp_kind"].tolist() == [SADDLE] * 3


def test_pendulum_librations_and_rotations_with_energy_conserved():
    sim = _run("ode_pendulum_separatrix")
    x = sim.state()["x_now"]
    energy = 0.5 * x[:, 1] ** 2 - np.cos(x[:, 0])
    assert (energy < 1).any() and (energy > 1).any()  # both sides of the separatrix E = 1
    sim.step(int(50 / sim.params["dt"]))
    assert sim.observables()["invariant_drift"] < 1e-7


def test_spiral_winds_into_a_marginal_centre():
    sim = _run("ode_spiral_demo")
    r0 = np.linalg.norm(sim.state()["x_now"], axis=1)
    sim.step(int(10 / sim.params["dt"]))
    st = sim.state()
    assert (np.linalg.norm(st["x_now"], axis=1) < r0).all()
    assert st["fp_kind"].tolist() == [MARGINAL] and np.abs(st["fp"]).max() < 1e-3


def test_stiff_van_der_pol_costs_many_more_evaluations():
    stiff = _run("ode_van_der_pol_stiff", 20, dt=1.0)
    mild = _run("ode_van_der_pol_stiff", 20, dt=1.0, mu=1.0)
    rate = lambda s: s.observables()["nfe_total"] / s.model.time  # noqa: E731
    assert rate(stiff) > 5 * rate(mild)
    o = stiff.observables()
    assert o["rejected_total"] / (o["accepted_total"] + o["rejected_total"]) > 0.1
    assert math.isfinite(stiff.observables()["x"])
