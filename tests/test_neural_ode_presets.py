"""The neural_ode presets: what their [contract] tables cannot say by themselves.

Each preset's own claims (loss falls, forecast error, learned fixed points, the
regularised run's evaluation counts) are its [contract], checked by
tests/test_preset_contracts.py. Here: that the spiral preset is torchdiffeq's
ode_demo set-up (the model's defaults), and the regulariser's comparison, which
needs a second run with the regulariser off.
"""

import numpy as np
import pytest

from attractor_lab import engine
from attractor_lab.engine.storage.presets import load_preset, shipped_presets_dir


def _sim(name, **override):
    preset = load_preset(shipped_presets_dir() / f"{name}.toml")
    return engine.create(preset.model, seed=preset.seed, device="cpu", **{**preset.params, **override}), preset


def test_spiral_preset_spells_out_the_model_defaults():
    sim, _ = _sim("neural_ode_spiral")
    assert sim.params == engine.create("neural_ode", seed=0, device="cpu").params


@pytest.mark.slow
def test_regulariser_preset_needs_fewer_evaluations_at_the_same_loss():
    """The description's comparison, over the contract's 300 iterations: with the regulariser the
    field needs ≥ 1.2× fewer evaluations per training iteration (mean of the last 100) and ≥ 1.3×
    fewer per prediction, at a training loss within 1.5× of the unregularised one."""
    runs = {}
    for reg in (True, False):
        sim, preset = _sim("neural_ode_regulariser", regularise=reg)
        sim.step(preset.contract.steps)
        runs[reg] = sim.observables()
    on, off = runs[True], runs[False]
    assert off["nfe_forward_mean"] / on["nfe_forward_mean"] > 1.2, (off["nfe_forward_mean"], on["nfe_forward_mean"])
    assert off["nfe_rollout"] / on["nfe_rollout"] > 1.3, (off["nfe_rollout"], on["nfe_rollout"])
    assert on["loss_train"] < 1.5 * off["loss_train"], (on["loss_train"], off["loss_train"])
    assert np.isfinite(on["loss_train"]) and on["nfe_backward"] == off["nfe_backward"] == 0
