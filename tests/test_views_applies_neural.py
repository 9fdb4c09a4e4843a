"""Issue 16 for neural_ode, rate_network and continuous_hopfield: views that apply.

nfe_backward only with the adjoint, one legend entry per meaning in the neural-ODE
portrait, the rate network's raster on the activity's own scale, the continuous
Hopfield network's wrong bits only when there is a target, and each view's role.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from attractor_lab import engine
from attractor_lab.engine.models.neural_ode.continuous_hopfield import ContinuousHopfield
from attractor_lab.engine.models.neural_ode.neural_ode import NeuralODE
from attractor_lab.engine.models.neural_ode.rate_network import RateNetwork

PRESETS = Path(__file__).resolve().parent.parent / "presets"


def _preset(name, **override):
    preset = tomllib.loads((PRESETS / f"{name}.toml").read_text())
    params = {**preset["params"], **override}
    return engine.create(preset["model"], seed=preset["seed"], device="cpu", **params), preset


def _shown(view, params, obs):
    for name, allowed in view.get("shown_when", []):
        value = params[name] if name in params else obs[name]
        if isinstance(value, (bool, str)):
            if value not in allowed:
                return False
        elif not any(float(value) == float(a) for a in allowed):
            return False
    return True


def _roles(views):
    return {(v["kind"], v.get("role")) for v in views}


# ---- neural_ode --------------------------------------------------------------------
def test_nfe_backward_is_plotted_only_with_the_adjoint():
    nfe = [v for v in NeuralODE.views if v["kind"] == "timeseries" and "nfe_forward" in v["observables"]]
    assert len(nfe) == 2
    for adjoint in (False, True):
        shown = [v for v in nfe if _shown(v, {"adjoint": adjoint}, {})]
        assert len(shown) == 1
        assert ("nfe_backward" in shown[0]["observables"]) == adjoint


def test_neural_ode_portrait_has_one_legend_entry_per_meaning():
    (phase,) = [v for v in NeuralODE.views if v["kind"] == "phase"]
    named = [t for t in phase["trajectories"] if t.get("name")]
    assert len(named) == 2  # true (solid) and learned (dashed); the launched ones share their styles
    by_array = {t["array"]: t for t in phase["trajectories"]}
    assert by_array["probe_true"]["color"] == by_array["traj_true"]["color"]
    assert by_array["probe_learned"]["color"] == by_array["traj_learned"]["color"]
    assert by_array["probe_learned"].get("style") == by_array["traj_learned"].get("style") == "dash"
    entries = len(phase["fields"]) + len(named) + len(phase["fixed_points"]) + 4  # + the 4 stability colours
    assert entries <= 10
    assert phase["role"] == "primary"
    assert ("values", "info") in _roles(NeuralODE.views) and ("text", "info") in _roles(NeuralODE.views)
    assert all(v.get("role") == "secondary" for v in NeuralODE.views if v["kind"] in ("timeseries", "lines"))


# ---- rate_network --------------------------------------------------------------------
def _robust_symmetric_fill(a, min_range):
    """The fraction of the colour range the raster's 1–99 % span uses under the declared levels."""
    a = np.asarray(a, dtype=np.float64)
    lo, hi = np.percentile(a, [1, 99])
    top = max(abs(lo), abs(hi), 0.5 * min_range)
    return (hi - lo) / (2 * top)


def test_rate_network_raster_follows_the_activity_scale():
    (raster,) = [v for v in RateNetwork.views if v.get("array") == "rates"]
    assert raster.get("levels") is None and raster["symmetric"] and raster["role"] == "primary"
    sim, preset = _preset("rate_network_edge")
    sim.step(preset["contract"]["steps"])
    rates = sim.state()["rates"]
    active = np.abs(np.asarray(rates)).max()
    assert 1e-4 < active < 0.2  # what fixed ±1 levels drew (nearly) blank
    assert _robust_symmetric_fill(rates, raster["min_range"]) >= 0.5


def test_quiet_rate_network_raster_fades_below_the_floor():
    (raster,) = [v for v in RateNetwork.views if v.get("array") == "rates"]
    sim, preset = _preset("rate_network_quiet")
    sim.step(200)  # t = 10: still active, drawn on its own scale
    assert _robust_symmetric_fill(sim.state()["rates"], raster["min_range"]) >= 0.5
    sim.step(2000)  # t = 110: decayed far below the floor, drawn faint, not magnified
    assert _robust_symmetric_fill(sim.state()["rates"], raster["min_range"]) < 0.01


# ---- continuous_hopfield --------------------------------------------------------------------
def test_wrong_bits_only_with_a_target():
    sim, preset = _preset("continuous_hopfield_paramagnet")
    sim.step(preset["contract"]["steps"])
    assert sim.observables()["has_target"] == 0.0
    assert not np.asarray(sim.state()["wrong_bits"]).any()
    retrieval, _ = _preset("continuous_hopfield_retrieval")
    retrieval.step(5)
    assert retrieval.observables()["has_target"] == 1.0
    cued = engine.create("continuous_hopfield", seed=0, device="cpu", neurons=256, temperature=0.1, cue_noise=0.3)
    assert np.asarray(cued.state()["wrong_bits"]).mean() == pytest.approx(0.3, abs=0.08)  # the flipped cue bits
    mixture = engine.create("continuous_hopfield", seed=0, device="cpu", neurons=256, temperature=0.1,
                            start="random")
    mixture.step(2)
    if mixture.observables()["m_cued"] < 0.5:
        assert not np.asarray(mixture.state()["wrong_bits"]).any()
    (image,) = [v for v in ContinuousHopfield.views if v.get("mask")]
    assert image["role"] == "primary"
