"""The burgers and navier_stokes presets show what their titles and descriptions
say (run headless at the preset's own settings, claims checked)."""

import math

import numpy as np
import pytest

from attractor_lab import engine
from attractor_lab.engine.storage.presets import load_preset, shipped_presets_dir


def _create(name):
    preset = load_preset(shipped_presets_dir() / f"{name}.toml")
    return engine.create(preset.model, seed=preset.seed, device="cpu", **preset.params)


def _run_to(sim, t, each=None):
    while sim.time < t - 1e-12:
        sim.step(1)
        if each is not None:
            each(sim)
    assert sim.time == pytest.approx(t, abs=1e-12)


def test_burgers_shock_steepens_then_saturates():
    sim = _create("burgers_shock")
    assert sim.observables()["max_gradient"] == pytest.approx(1.0, abs=1e-9)
    history = []
    for t in np.arange(0.25, 4.01, 0.25):
        _run_to(sim, float(t))
        history.append((float(t), sim.observables()["max_gradient"]))
        if t == 2.0:  # the k⁻² tail of a jump in the spectrum
            st = sim.state()
            slope = np.polyfit(np.log(st["k"][3:30]), np.log(st["spectrum"][3:30]), 1)[0]
            assert -2.4 < slope < -1.9
    times, grads = np.array(history).T
    peak = grads.argmax()
    assert 1.25 <= times[peak] <= 2.0
    assert 40.0 < grads[peak] <= 50.0  # U²/(2ν) with U ≤ 1
    assert (np.diff(grads[: peak + 1]) > 0).all()  # steepening …
    assert 0.3 * grads[peak] < grads[-1] < 0.6 * grads[peak]  # … then a slow decline
    obs = sim.observables()
    assert abs(obs["mean_u"]) < 1e-15 and obs["tail_energy"] < 1e-6  # resolved
    assert np.isfinite(sim.state()["kymograph"]).all()  # 4 time units fill the kymograph


def test_vortex_pair_travels_and_decays():
    sim = _create("navier_stokes_vortex_pair")

    def core_x(w):
        weight = np.clip(w - 0.5 * w.max(), 0, None).sum(1)
        angle = 2 * np.pi * np.arange(w.shape[0]) / w.shape[0]
        return (np.angle((weight * np.exp(1j * angle)).sum()) / (2 * np.pi)) % 1.0

    energies = [sim.observables()["energy"]]
    x0 = core_x(sim.state()["w"])
    _run_to(sim, 0.25, lambda s: energies.append(s.observables()["energy"]))
    x1 = core_x(sim.state()["w"])
    _run_to(sim, 1.0, lambda s: energies.append(s.observables()["energy"]))
    x2 = core_x(sim.state()["w"])
    assert (x1 - x0) / 0.25 == pytest.approx(-0.185, abs=0.01)  # up the screen, ≈ 0.19
    assert (x2 - x1) / 0.75 == pytest.approx(-0.155, abs=0.01)  # slower once deformed
    assert (np.diff(energies) < 0).all()
    obs = sim.observables()
    assert abs(obs["mean_vorticity"]) < 1e-6 * obs["max_vorticity"]


def test_forced_flow_winds_up_bands_that_break_into_vortices():
    sim = _create("navier_stokes_forced")
    solver = sim.model.solver

    def forced_share():  # enstrophy in the forced mode (1, 1) (and its mirror) over the total
        p = solver._power(sim.model._vh)[0]
        return float(p[1, 1] / (p.sum() - p[0, 0]))

    e0 = sim.observables()["energy"]
    _run_to(sim, 10.0)
    assert forced_share() > 0.9
    assert sim.observables()["energy"] > 10 * e0
    _run_to(sim, 50.0)
    assert forced_share() < 0.6
    # the laminar flow w = f/λ (λ = 8π²ν): Z = ½⟨w²⟩ = 0.005/λ², E = Z/|k|² with |k|² = 8π²
    lam = 8 * math.pi**2 * 1e-3
    laminar = 0.005 / lam**2 / (8 * math.pi**2)
    assert laminar == pytest.approx(0.0101, abs=1e-4)
    obs = sim.observables()
    assert 25 * e0 < obs["energy"] < laminar
    assert abs(obs["mean_vorticity"]) < 1e-6 * obs["max_vorticity"]
