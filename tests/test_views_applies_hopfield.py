"""Hopfield views that mean something for the current parameters (issue 16): the wrong-bits
overlay only when the network has a target, the multitasking hierarchy only for diluted
patterns and only to rank P, the modern network's energy from the cue on, roles."""

import numpy as np
import pytest

from attractor_lab import engine
from attractor_lab.engine.models.hopfield.modern import ENERGY_HISTORY


def hopfield(steps=10, **params):
    sim = engine.create("hopfield", device="cpu", seed=params.pop("seed", 0), **params)
    sim.step(steps)
    return sim


def _view(views, title):
    (view,) = [v for v in views if v.get("title", "").startswith(title)]
    return view


@pytest.mark.parametrize("name", ["hopfield", "modern_hopfield"])
def test_roles_one_primary_image(name):
    views = engine.create(name, device="cpu", neurons=256).model.views
    assert all(v.get("role") in ("primary", "secondary", "info") for v in views)
    primary = [v for v in views if v["role"] == "primary"]
    assert len(primary) == 1 and primary[0]["kind"] == "image"
    assert primary[0]["array"] in ("spins", "retrieved")


def test_retrieval_has_a_target_and_marks_exactly_the_wrong_bits():
    sim = hopfield(steps=2, neurons=1024, load=0.05, temperature=0.1, cue_noise=0.3)
    obs, state = sim.observables(), sim.state()
    assert obs["has_target"] == 1.0
    wrong = np.asarray(state["wrong_bits"])
    assert wrong.shape == (32, 32)
    assert wrong.sum() == round(obs["wrong_fraction"] * 1024)
    spins, cue = np.asarray(state["spins"]), np.asarray(state["cued_pattern"])
    assert np.array_equal(wrong.astype(bool), spins != cue)
    assert _view(sim.model.views, "Spins")["mask"] == "wrong_bits"


@pytest.mark.parametrize("params", [
    dict(load=0.05, temperature=1.5, cue_noise=0.0),  # paramagnet: T above T_M
    dict(load=0.3, temperature=0.3, cue_noise=0.0),  # spin glass: α above α_c
    dict(load=0.01, temperature=0.1, start="mixture", cue_noise=0.0),  # the three-pattern mixture
    dict(load=0.05, temperature=0.0, start="random"),  # nothing cued
    dict(load=4 / 1024, pattern_dilution=0.8, temperature=0.05, cue_noise=0.0),  # parallel retrieval (no theory)
], ids=["paramagnet", "spin_glass", "mixture", "random", "parallel"])
def test_no_target_no_wrong_bits(params):
    sim = hopfield(steps=30, neurons=1024, **params)
    obs, state = sim.observables(), sim.state()
    assert obs["has_target"] == 0.0
    assert obs["wrong_fraction"] > 0.05  # there would have been a flood of them
    assert np.asarray(state["wrong_bits"]).shape == (32, 32) and not np.asarray(state["wrong_bits"]).any()


@pytest.mark.parametrize("params", [
    dict(load=4 / 1024, pattern_dilution=0.3, temperature=0.0, cue_noise=0.0),  # hierarchical: 1 − d
    dict(neurons=144, load=30.0, interaction_order=4, cue_noise=0.15),  # dense, P ≫ N
    dict(load=0.05, temperature=0.0, cue_noise=0.1, pattern_source="glyphs", learning_rule="projector"),  # no theory
], ids=["multitasking", "dense", "projector"])
def test_cued_retrieval_has_a_target(params):
    params = {"neurons": 1024, **params}
    sim = hopfield(steps=5, **params)
    assert sim.observables()["has_target"] == 1.0


def test_multitasking_hierarchy_only_for_diluted_networks_and_only_to_rank_p():
    view = _view(engine.create("hopfield", device="cpu", neurons=256).model.views, "Multitasking")
    assert view["shown_when"] == [["diluted", [1]]]
    diluted = hopfield(steps=10, neurons=1024, load=4 / 1024, pattern_dilution=0.3)
    state = diluted.state()
    assert diluted.observables()["diluted"] == 1.0
    for key in ("hierarchy_k", "hierarchy_theory", "hierarchy_sim"):
        assert np.asarray(state[key]).shape == (4,), key
    assert np.asarray(state["hierarchy_sim"]) == pytest.approx([0.70, 0.21, 0.063, 0.02], abs=0.04)
    plain = hopfield(steps=1, neurons=1024, load=0.05)
    assert plain.observables()["diluted"] == 0.0
    assert np.asarray(plain.state()["hierarchy_k"]).shape == (6,)  # 51 patterns: the first six ranks


def test_modern_energy_history_starts_at_the_cue():
    sim = engine.create("modern_hopfield", device="cpu", seed=0, neurons=1024, patterns=16, beta=8.0)
    start = sim.state()
    assert list(start["energy_updates"]) == [0.0]
    assert start["energy_history"][0] == pytest.approx(sim.observables()["energy"])
    sim.step(1)
    sim.step(4)
    state = sim.state()
    assert list(state["energy_updates"]) == [0, 1, 2, 3, 4, 5]
    e = state["energy_history"]
    assert e[0] == start["energy_history"][0] and e[-1] == pytest.approx(sim.observables()["energy"])
    assert e[0] - e[1] > 0.5  # the drop from the cue: retrieval in one update
    assert np.all(np.diff(e) <= 1e-12)  # never increases
    view = _view(sim.model.views, "Energy")
    assert view["kind"] == "lines" and view["series"][0]["y"] == "energy_history"


def test_modern_energy_history_keeps_the_cue_and_restarts_on_beta():
    sim = engine.create("modern_hopfield", device="cpu", seed=0, neurons=256, patterns=8, beta=0.5)
    cue_energy = sim.observables()["energy"]
    sim.step(ENERGY_HISTORY + 40)
    state = sim.state()
    assert state["energy_updates"].size == ENERGY_HISTORY
    assert state["energy_updates"][0] == 0 and state["energy_history"][0] == cue_energy
    assert state["energy_updates"][-1] == ENERGY_HISTORY + 40
    sim.set(beta=4.0)
    state = sim.state()
    assert list(state["energy_updates"]) == [ENERGY_HISTORY + 40]
