"""The neural_ode presets show what their descriptions say (run headless, claims checked)."""

import numpy as np
import pytest

import engine
from engine.models.neural_ode._fixed_points import UNSTABLE
from engine.presets import load_preset, shipped_presets_dir


def _sim(name, **override):
    preset = load_preset(shipped_presets_dir() / f"{name}.toml")
    return engine.create(preset.model, seed=preset.seed, device="cpu", **{**preset.params, **override}), preset


@pytest.mark.slow
def test_spiral_preset_is_the_default_and_learns_within_500_iterations():
    sim, preset = _sim("neural_ode_spiral")
    defaults = engine.create("neural_ode", seed=0, device="cpu").params
    assert sim.params == defaults  # the preset spells out the model's defaults (ode_demo's set-up)
    first = sim.observables()
    sim.step(preset.run["steps"])
    o = sim.observables()
    assert o["loss_train"] < first["loss_train"] / 10
    assert o["forecast_error"] < 0.25
    fp = sim.state()["fp_learned"]
    inner = float(np.linalg.norm(sim.model.clean[0, -1].numpy()))
    assert o["fixed_points_learned"] == 1 and 0 < np.linalg.norm(fp[0]) < inner


@pytest.mark.slow
def test_ltc_preset_learns_the_van_der_pol_cycle():
    sim, preset = _sim("neural_ode_ltc_van_der_pol")
    first = sim.observables()
    sim.step(preset.run["steps"])
    o, st = sim.observables(), sim.state()
    assert o["loss_train"] < first["loss_train"] / 100
    assert o["forecast_error"] < 0.2
    kinds = st["fp_learned_kind"][st["fp_learned_kind"] >= 0].tolist()
    assert kinds == [UNSTABLE] and np.linalg.norm(st["fp_learned"][0]) < 0.1


@pytest.mark.slow
def test_regulariser_preset_needs_fewer_evaluations_at_the_same_loss():
    runs = {}
    for reg in (True, False):
        sim, preset = _sim("neural_ode_regulariser", regularise=reg)
        nfe = []
        for _ in range(preset.run["steps"]):
            sim.step(1)
            nfe.append(sim.model._stats["nfe_forward"])
        runs[reg] = (float(np.mean(nfe[-100:])), sim.model.observables())
    (nfe_on, on), (nfe_off, off) = runs[True], runs[False]
    assert nfe_off / nfe_on > 1.2, (nfe_off, nfe_on)
    assert off["nfe_rollout"] / on["nfe_rollout"] > 1.3, (off["nfe_rollout"], on["nfe_rollout"])
    assert on["loss_train"] < 1.5 * off["loss_train"], (on["loss_train"], off["loss_train"])
    assert on["nfe_backward"] == off["nfe_backward"] == 0  # backpropagation through the solver
