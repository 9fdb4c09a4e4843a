"""Modern Hopfield network: one-step retrieval, averaging at small β, monotone energy."""

from __future__ import annotations

import pathlib
import tomllib

import numpy as np
import pytest
import torch

from attractor_lab import engine

PRESETS = sorted(pathlib.Path(__file__).resolve().parent.parent.glob("presets/modern_hopfield_*.toml"))


def make(**params):
    seed = params.pop("seed", 0)
    return engine.create("modern_hopfield", seed=seed, device="cpu", **params)


@pytest.mark.parametrize("source, beta", [("random", 8.0), ("glyphs", 30.0)])
def test_large_beta_retrieves_in_one_update(source, beta):
    sim = make(neurons=1024, patterns=20, beta=beta, pattern_source=source, cue_pattern=4, cue_noise=0.5, mask="half")
    before = sim.observables()
    assert before["m_cued"] < 0.8  # the cue is far from the pattern
    sim.step(1)
    obs = sim.observables()
    assert obs["error_cued"] < 0.05 * 2.0  # patterns have length 2
    assert obs["m_cued"] > 0.998
    assert obs["best_pattern"] == 4.0 and obs["max_weight"] > 0.99
    state = sim.state()
    np.testing.assert_allclose(state["retrieved"], state["cued_pattern"], atol=0.05 * np.abs(state["cued_pattern"]).max())


def test_small_beta_converges_to_the_mean_of_all_patterns():
    sim = make(neurons=1024, patterns=20, beta=0.5, pattern_source="random", cue_noise=0.3)
    sim.step(30)
    model = sim.model
    mean = model.x.mean(1)
    assert sim.observables()["distance_to_mean"] < 0.05 * float(mean.norm())
    assert sim.observables()["effective_patterns"] > 19.0
    # and it is a fixed point of the update
    assert torch.allclose(model.x @ model._softmax(model.xi), model.xi, atol=1e-10)


@pytest.mark.parametrize("beta", [0.3, 2.0, 5.0, 8.0, 40.0])
@pytest.mark.parametrize("source", ["random", "glyphs"])
def test_energy_never_increases(beta, source):
    for seed in range(3):
        sim = make(neurons=256, patterns=16, beta=beta, pattern_source=source, cue_noise=1.5, seed=seed, cue_pattern=seed + 1)
        energies = [sim.observables()["energy"]]
        for _ in range(15):
            sim.step(1)
            energies.append(sim.observables()["energy"])
        assert np.all(np.diff(energies) <= 1e-12), energies
        assert min(energies) >= -1e-12  # bounded below by 0 with unit patterns


def test_three_regimes_as_beta_grows():
    # global average (≈ P patterns share the weight), metastable mixtures of a
    # few similar glyphs, then single patterns
    def n_eff(beta):
        sim = make(neurons=1024, patterns=16, beta=beta, pattern_source="glyphs", cue_noise=0.5, mask="half")
        sim.step(50)
        return sim.observables()["effective_patterns"]

    assert n_eff(0.5) > 15.5
    assert any(1.5 < n_eff(beta) < 8.0 for beta in (1.15, 1.2, 1.25, 1.3))
    assert n_eff(8.0) < 1.01


def test_views_and_bad_parameters():
    sim = make(neurons=1024, patterns=8)
    state, obs = sim.state(), sim.observables()
    for view in sim.model.views:
        if view["kind"] in ("image", "bars"):
            assert view["array"] in state
        for name in view.get("observables", []):
            assert name in obs
    assert state["retrieved"].shape == (32, 32) and state["weights"].shape == (8,)
    assert state["weights"].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cue_pattern"):
        make(neurons=256, patterns=4, cue_pattern=5)
    with pytest.raises(ValueError, match="glyphs"):
        make(neurons=1000, patterns=4, pattern_source="glyphs")


def test_user_images(tmp_path):
    from PIL import Image

    from attractor_lab.engine.patterns import load_image_patterns

    rng = np.random.default_rng(0)
    paths = []
    for k in range(5):
        paths.append(tmp_path / f"p{k}.png")
        Image.fromarray(rng.integers(0, 255, (24, 24), dtype=np.uint8)).save(paths[-1])
    grey = load_image_patterns(paths, side=16, binary=False)
    assert grey.shape == (5, 256) and grey.min() >= -1 and grey.max() <= 1
    sim = make(neurons=256, patterns=5)
    sim.model.set_image_patterns(grey)
    sim.reset()
    sim.step(2)
    assert np.corrcoef(sim.state()["cued_pattern"].ravel(), grey[0])[0, 1] > 0.999
    assert sim.observables()["m_cued"] > 0.99


@pytest.mark.parametrize("path", PRESETS, ids=[p.name for p in PRESETS])
def test_shipped_presets_build_and_run(path):
    data = tomllib.loads(path.read_text())
    assert data["format_version"] == 1 and data["model"] == "modern_hopfield"
    sim = engine.create(data["model"], seed=data.get("seed", 0), device="cpu", **data["params"])
    sim.step(2)
    assert all(isinstance(v, float) for v in sim.observables().values())
