"""Continuous (graded-response) Hopfield network: Curie–Weiss fixed point, a Lyapunov energy
that never increases, live load and parameter messages. What the shipped presets show is
their [contract] (tests/test_preset_contracts.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attractor_lab import engine
from attractor_lab.engine.theory.hopfield import curie_weiss_overlap


def make(**params):
    seed = params.pop("seed", 0)
    return engine.create("continuous_hopfield", seed=seed, device="cpu", **params)


def test_one_pattern_follows_curie_weiss():
    # with the self-coupling kept, one pattern's fixed point is m = tanh(βm) exactly
    sim = make(neurons=1024, load=0.0, temperature=0.7, cue_noise=0.2)
    assert sim.observables()["patterns"] == 1.0
    sim.step(150)  # 30 time units
    obs = sim.observables()
    assert obs["m_cued"] == pytest.approx(0.8286, abs=0.01)
    assert obs["m_cued"] == pytest.approx(curie_weiss_overlap(0.7), abs=1e-6)
    assert obs["m_curie_weiss"] == pytest.approx(0.828635, abs=1e-6)
    assert obs["speed"] < 1e-6  # at the fixed point
    # every output sits at ξ_i tanh(βm)
    v = torch.tanh(sim.model.beta * sim.model.x)
    xi = sim.model.xi[0]
    assert torch.allclose(v * xi, torch.full_like(v, math.tanh(obs["m_cued"] / 0.7)), atol=1e-6)


@pytest.mark.parametrize("temperature, expected", [(0.5, 0.9575), (0.9, 0.5254), (1.2, 0.0)])
def test_overlap_against_temperature_one_pattern(temperature, expected):
    sim = make(neurons=256, load=0.0, temperature=temperature, cue_noise=0.0)
    sim.step(400 if temperature > 1 else 150)  # slower relaxation near T = 1
    assert sim.observables()["m_cued"] == pytest.approx(expected, abs=2e-3)


def _energies(sim, steps):
    out = [sim.observables()["energy"]]
    for _ in range(steps):
        sim.step(1)
        out.append(sim.observables()["energy"])
    return np.array(out)


@pytest.mark.parametrize(
    "source, load, temperature",
    [("random", 0.02, 0.05), ("random", 0.05, 0.3), ("random", 0.15, 0.1), ("random", 0.3, 0.6),
     ("random", 0.05, 1.0), ("random", 0.05, 2.5), ("glyphs", 0.005, 0.1), ("glyphs", 0.02, 0.5)],
)
def test_energy_never_increases(source, load, temperature):
    # many trajectories: several seeds, cues near and far, random starts; retrieval,
    # spin-glass-like and paramagnetic regimes; correlated glyphs (large ‖W‖, many substeps)
    for seed, start, noise in ((0, "cue", 0.1), (1, "cue", 0.45), (2, "random", 0.0), (3, "mixture", 0.0)):
        sim = make(neurons=256, load=load, temperature=temperature, pattern_source=source, start=start,
                   cue_noise=noise, seed=seed, dt=0.2)
        energies = _energies(sim, 40)
        # float64 rounding of a sum of N terms of order 1: increases below 1e-13 per neuron are noise
        assert np.diff(energies).max() <= 1e-13, (seed, start, np.diff(energies).max())
        assert energies[-1] < energies[0]


def test_energy_is_the_flows_lyapunov_function():
    # not only decreasing: its rate of change is −β Σ (1 − v²) ẋ² (per neuron)
    h = 1e-3
    sim = make(neurons=400, load=0.1, temperature=0.4, cue_noise=0.3, dt=h)
    model = sim.model
    for _ in range(4):
        r0, e0 = model.energy_rate(), model.energy()
        sim.step(1)
        r1, e1 = model.energy_rate(), model.energy()
        assert r0 < 0 and r1 < 0
        assert (e1 - e0) / h == pytest.approx(0.5 * (r0 + r1), rel=1e-4)  # trapezoid: O(h²)
        sim.set(dt=0.3)
        sim.step(1)  # further along the trajectory
        sim.set(dt=h)


def test_retrieval_and_energy_values():
    sim = make(neurons=1024, load=0.05, temperature=0.1, cue_noise=0.2)
    assert sim.observables()["m_cued"] == pytest.approx(0.6, abs=0.05)  # 20% of the signs flipped
    sim.step(50)  # 10 time units
    obs = sim.observables()
    assert obs["m_cued"] > 0.999 and obs["best_pattern"] == 1.0
    state = sim.state()
    assert state["wrong_bits"].sum() == 0
    # the energy per neuron from its definition in v, where atanh is still accurate
    model = sim.model
    w = model.xi.T @ model.xi / 1024
    sim.set(temperature=0.7)  # |v| ≈ 0.9, not saturated
    v = torch.tanh(model.beta * model.x)
    entropy = (v * torch.atanh(v) + 0.5 * torch.log1p(-v * v)).sum() / model.beta
    direct = float((-0.5 * v @ w @ v + entropy) / 1024)
    assert model.energy() == pytest.approx(direct, abs=1e-12)


def test_paramagnet_decays_to_zero_when_beta_norm_below_one():
    sim = make(neurons=1024, load=0.05, temperature=2.0, cue_noise=0.0)
    obs = sim.observables()
    assert obs["beta"] * obs["w_norm"] < 1.0
    # ‖W‖₂ of 51 random patterns: the Marchenko–Pastur edge (1 + √α)² ≈ 1.5
    assert obs["w_norm"] == pytest.approx((1 + math.sqrt(0.05)) ** 2, abs=0.1)
    top = torch.linalg.eigvalsh(sim.model.xi @ sim.model.xi.T / 1024)[-1]
    assert obs["w_norm"] == pytest.approx(float(top), rel=1e-3)
    sim.step(150)
    obs = sim.observables()
    assert abs(obs["m_cued"]) < 1e-3 and abs(obs["energy"]) < 1e-6


def test_load_changes_live_within_the_pool():
    sim = make(neurons=400, load=0.05, temperature=0.1)
    assert sim.observables()["patterns"] == 20.0
    first = sim.model.xi.clone()
    sim.set(load=0.25)
    assert sim.observables()["patterns"] == 100.0 and sim.state()["overlaps"].shape == (100,)
    assert torch.equal(sim.model.xi[:20], first)  # the pool's prefix: same patterns as before
    sim.step(5)
    assert sim.observables()["max_load"] == 0.5
    with pytest.raises(ValueError, match=r"parameter 'load': 0.6 is not allowed; expected a number in \[0, 0.5\]"):
        sim.set(load=0.6)
    big = make(neurons=20_000, load=0.0)  # pool limited by POOL_ENTRIES
    with pytest.raises(ValueError) as exc:
        big.set(load=0.2)
    assert "parameter 'load' = 0.2 needs 4000 patterns" in str(exc.value)
    assert "holds 3355 random patterns" in str(exc.value) and "the maximum load here is 0.16775" in str(exc.value)
    assert big.params["load"] == 0.0 and big.observables()["patterns"] == 1.0  # refused: nothing kept
    assert big.observables()["max_load"] == pytest.approx(3355 / 20_000)


def test_glyphs_show_as_images():
    sim = make(neurons=1024, load=0.004, temperature=0.1, pattern_source="glyphs", cue_pattern=2)
    sim.step(50)
    state, obs = sim.state(), sim.observables()
    assert state["state"].shape == (32, 32) and state["cued_pattern"].shape == (32, 32)
    assert obs["patterns"] == 4.0 and obs["best_pattern"] == 2.0 and obs["m_cued"] > 0.85
    with pytest.raises(ValueError, match="the maximum load here is 0.0546875"):
        sim.set(load=0.1)  # 102 patterns; there are 56 glyphs


def test_user_images():
    rng = np.random.default_rng(0)
    images = np.where(rng.random((6, 256)) < 0.5, -1.0, 1.0)
    sim = make(neurons=256, load=0.02)
    sim.model.set_image_patterns(images)
    sim.reset()
    assert sim.observables()["patterns"] == 6.0
    np.testing.assert_array_equal(sim.state()["cued_pattern"].ravel(), images[0])
    sim.step(50)
    assert sim.observables()["m_cued"] > 0.99


@pytest.mark.parametrize(
    "params, needle",
    [
        ({"temperature": 0.0}, "parameter 'temperature': 0.0 is not allowed; expected a number in [0.02, 3]"),
        ({"load": -0.1}, "parameter 'load': -0.1 is not allowed; expected a number in [0, 0.5]"),
        ({"neurons": 256, "load": 0.02, "cue_pattern": 9}, "'load' = 0.02 stores 5 pattern(s) but 'cue_pattern' is 9; allowed cue_pattern 1..5"),
        ({"neurons": 1000, "pattern_source": "glyphs"}, "pattern_source 'glyphs' needs a square number of neurons, not 1000"),
        ({"pattern_source": "images"}, "needs images first (set_image_patterns)"),
        ({"start": "zero"}, "parameter 'start': 'zero' is not allowed; expected one of 'cue', 'random', 'mixture'"),
    ],
)
def test_bad_parameters_are_refused_by_name(params, needle):
    with pytest.raises(ValueError) as exc:
        make(**params)
    assert needle in str(exc.value)


def test_views_name_existing_arrays():
    sim = make(neurons=256, load=0.03)
    sim.step(2)
    state, obs = sim.state(), sim.observables()
    for view in sim.model.views:
        if view["kind"] in ("image", "bars"):
            assert view["array"] in state
        for name in view.get("observables", []):
            assert name in obs
        for s in view.get("series", []):
            assert s["x"] in state and s["y"] in state
        for p in view.get("points", []):
            assert p["x"] in obs and p["y"] in obs
    assert state["cw_m"][0] == pytest.approx(1.0) and state["cw_m"][-1] == 0.0

