"""Science checks of the Hopfield model: the numbers a correct simulator must reproduce."""

from __future__ import annotations

import math
import pathlib
import tomllib

import numpy as np
import pytest
import torch
from scipy import stats

from attractor_lab import engine
from attractor_lab.engine import patterns
from attractor_lab.engine.models.hopfield._dynamics import flip_thresholds, sweep_sequential

PRESETS = sorted(pathlib.Path(__file__).resolve().parent.parent.glob("presets/hopfield_*.toml"))


def make(**params):
    seed = params.pop("seed", 0)
    return engine.create("hopfield", seed=seed, device="cpu", **params)


def mean_overlap(sim, equilibrate, measure):
    sim.step(equilibrate)
    values = []
    for _ in range(measure):
        sim.step(1)
        values.append(abs(sim.observables()["m_cued_mean"]))
    return float(np.mean(values))


# ---- the vectorised sequential sweep is exact single-spin Glauber --------------
def _exact_energy(model, sigma):
    """Energy from scratch in double precision, independent of the backends."""
    b = model.backend
    if hasattr(b, "j"):
        j = b.j.double()
        return -0.5 * float(sigma @ j @ sigma)
    if hasattr(b, "coef"):
        m = b.xt.double().T @ sigma / b.n
        return -(b.w * b.n / b.p) * float((m**b.p).sum())
    j = b.w * b.bt.double() @ b.at.double().T / b.n
    j.fill_diagonal_(0.0)
    return -0.5 * float(sigma @ j @ sigma)


@pytest.mark.parametrize(
    "params",
    [
        dict(neurons=120, load=0.05),  # overlaps
        dict(neurons=120, load=0.05, synaptic_dilution=0.5),  # explicit couplings
        dict(neurons=60, load=0.5, interaction_order=3),  # dense
        dict(neurons=100, load=0.04, learning_rule="projector", pattern_dilution=0.2),
    ],
)
def test_chunked_sweep_equals_one_spin_at_a_time(params):
    sim = make(temperature=0.7, replicas=2, cue_noise=0.3, seed=3, **params)
    model = sim.model
    reference = model.sigma.double().clone()
    gen = torch.Generator().manual_seed(11)
    sweep_sequential(model.backend, model.sigma, 0.7, gen, chunk=16)

    gen = torch.Generator().manual_seed(11)  # the same draws, in the same order
    r, n = reference.shape
    perm = torch.randperm(n, generator=gen)
    theta = flip_thresholds((r, n), 0.7, gen, "cpu").double()
    for rep in range(r):
        s = reference[rep]
        for pos, i in enumerate(perm.tolist()):
            e0 = _exact_energy(model, s)
            s[i] = -s[i]
            if not _exact_energy(model, s) - e0 < theta[rep, pos]:
                s[i] = -s[i]
    assert torch.equal(model.sigma.double(), reference)


# ---- low load: Curie–Weiss -------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("temperature, expected", [(0.5, 0.9575), (0.8, 0.7104)])
def test_curie_weiss_overlap_at_low_load(temperature, expected):
    n = 4000
    sim = make(neurons=n, load=1.0 / n, temperature=temperature, cue_noise=0.0, replicas=4, seed=1)
    m = mean_overlap(sim, equilibrate=20, measure=30)
    assert m == pytest.approx(expected, abs=0.02)
    assert sim.observables()["m_theory"] == pytest.approx(expected, abs=2e-3)


# ---- storage capacity at T = 0 --------------------------------------------------------
def test_retrieval_at_low_load_zero_temperature():
    sim = make(neurons=2000, load=0.05, cue_noise=0.1, update="sequential", seed=2)
    sim.step(15)
    obs = sim.observables()
    assert obs["m_cued"] >= 0.97
    assert obs["best_pattern"] == 1.0
    assert obs["wrong_fraction"] <= 0.015
    assert obs["m_theory"] >= 0.99


@pytest.mark.parametrize("seed", [0, 1])
def test_retrieval_lost_above_capacity(seed):
    sim = make(neurons=2000, load=0.2, cue_noise=0.1, update="sequential", seed=seed)
    sim.step(40)
    assert sim.observables()["m_cued"] < 0.5
    assert sim.observables()["m_theory"] == 0.0


def test_energy_never_increases_at_zero_temperature():
    for params in (dict(neurons=1000, load=0.1), dict(neurons=150, load=5.0, interaction_order=3)):
        sim = make(cue_noise=0.3, seed=4, **params)
        energies = [sim.observables()["energy"]]
        for _ in range(8):
            sim.step(1)
            energies.append(sim.observables()["energy"])
        assert np.all(np.diff(energies) <= 1e-5), (params, energies)
        assert energies[-1] < energies[0]


def test_parallel_and_subset_updates_retrieve():
    for update in ("parallel", "random_subset"):
        sim = make(neurons=2000, load=0.05, cue_noise=0.15, update=update, seed=5)
        sim.step(10)
        assert sim.observables()["m_cued"] >= 0.97, update


# ---- multitasking (diluted patterns) -------------------------------------------------
def test_multitasking_hierarchy_two_patterns():
    n = 4000
    sim = make(neurons=n, load=2.0 / n, pattern_dilution=0.3, cue_noise=0.0, seed=6)
    sim.step(10)
    m = np.sort(np.abs(sim.state()["overlaps"]))[::-1]
    assert m[0] == pytest.approx(0.70, abs=0.03)
    assert m[1] == pytest.approx(0.21, abs=0.03)
    assert sim.state()["hierarchy_theory"][:2] == pytest.approx([0.70, 0.21])


# ---- dense network -------------------------------------------------------------
def test_dense_network_stores_more_patterns_than_neurons():
    dense = make(neurons=200, load=10.0, interaction_order=3, cue_noise=0.1, seed=7)
    dense.step(5)
    assert dense.observables()["m_cued"] >= 0.95
    # the same patterns overwhelm the pairwise network
    pairwise = make(neurons=200, load=10.0, interaction_order=2, cue_noise=0.1, seed=7)
    pairwise.step(5)
    assert pairwise.observables()["m_cued"] < 0.5


# ---- unsupervised Hebbian learning -------------------------------------------------------
@pytest.mark.parametrize("quality", [0.15, 0.3])
def test_unsupervised_retrieval_matches_majority_of_examples(quality):
    # At T = 0 and low load the attractor is sign of the example mean, so the
    # overlap with the unseen pattern is P(majority of M examples right) − P(wrong).
    m_examples = 11
    expected = 2.0 * stats.binom.sf(m_examples // 2, m_examples, (1.0 + quality) / 2.0) - 1.0
    sim = make(neurons=3000, load=3 / 3000, examples=m_examples, example_quality=quality, cue_noise=0.0, seed=8)
    sim.step(6)
    assert sim.observables()["m_cued"] == pytest.approx(expected, abs=0.04)


# ---- replicas, views and interface ---------------------------------------------------
def test_replica_overlap():
    single = make(neurons=400, load=0.02)
    assert math.isnan(single.observables()["replica_overlap"])
    pair = make(neurons=2000, load=0.02, replicas=2, temperature=0.3, cue_noise=0.2)
    pair.step(10)
    obs = pair.observables()
    # two replicas in the same retrieval state agree on about m² of their spins more than chance
    assert obs["replica_overlap"] == pytest.approx(obs["m_cued"] * pair.model.overlaps_all()[1, 0].item(), abs=0.05)
    glass = make(neurons=2000, load=0.02, replicas=2, temperature=1.5, start="random")
    glass.step(10)
    assert abs(glass.observables()["replica_overlap"]) < 0.1


def test_views_name_existing_arrays_and_observables():
    sim = make(neurons=1024, load=0.01, replicas=2)
    sim.step(1)
    state, obs = sim.state(), sim.observables()
    assert state["spins"].shape == (32, 32) and state["wrong_bits"].shape == (32, 32)
    assert state["overlaps"].shape == (10,)
    for view in sim.model.views:
        for key in ("array", "mask"):
            if key in view and view["kind"] != "text":
                assert view[key] in state, view
        for name in view.get("observables", []):
            assert name in obs, name
        for series in view.get("series", []):
            assert state[series["x"]].shape == state[series["y"]].shape
        for point in view.get("points", []):
            assert point["x"] in obs and point["y"] in obs
    assert make(neurons=2000, load=0.01).state()["spins"].shape == (40, 50)


def test_bad_parameters_are_refused_with_a_message():
    with pytest.raises(ValueError, match="cue_pattern"):
        make(neurons=100, load=0.02, cue_pattern=5)
    with pytest.raises(ValueError, match="square"):
        make(neurons=1000, load=0.005, pattern_source="glyphs")
    with pytest.raises(ValueError, match="temperature"):
        make(neurons=100, temperature=-1.0)


def test_glyphs_with_the_projector_rule_are_retrieved():
    sim = make(neurons=1024, load=12 / 1024, pattern_source="glyphs", learning_rule="projector", cue_pattern=3, cue_noise=0.15)
    sim.step(5)
    assert sim.observables()["m_cued"] >= 0.95
    assert sim.observables()["best_pattern"] == 3.0


def test_image_patterns_from_files(tmp_path):
    from PIL import Image

    paths = []
    for k in range(3):
        img = np.zeros((40, 40), np.uint8)
        img[:, k * 10 : k * 10 + 20] = 255
        img[k * 5 :, :5] = 128
        paths.append(tmp_path / f"img{k}.png")
        Image.fromarray(img).save(paths[-1])
    xi = patterns.load_image_patterns(paths, side=16)
    assert xi.shape == (3, 256) and set(np.unique(xi)) == {-1.0, 1.0}
    sim = make(neurons=256, load=3 / 256, learning_rule="projector")
    sim.model.set_image_patterns(xi)
    sim.reset()
    sim.step(3)
    assert np.array_equal(sim.state()["cued_pattern"].ravel(), xi[0])
    assert sim.observables()["m_cued"] >= 0.95
    with pytest.raises(ValueError, match="cannot read"):
        patterns.load_image_patterns([tmp_path / "missing.png"], side=16)


def test_same_seed_same_run():
    a = make(neurons=500, load=0.05, temperature=0.4, seed=9).step(3)
    b = make(neurons=500, load=0.05, temperature=0.4, seed=9).step(3)
    assert np.array_equal(a.state()["spins"], b.state()["spins"])


@pytest.mark.parametrize("path", PRESETS, ids=[p.name for p in PRESETS])
def test_shipped_presets_build_and_run(path):
    data = tomllib.loads(path.read_text())
    assert data["format_version"] == 1 and data["model"] == "hopfield"
    assert data["title"] and data["description"]
    sim = engine.create(data["model"], seed=data.get("seed", 0), device="cpu", **data["params"])
    sim.step(2)
    obs = sim.observables()
    assert all(isinstance(v, float) for v in obs.values())
