"""Theory only where it applies: which prediction the Hopfield model offers for which network,
and the zero-load theories it offers beyond AGS (mixtures, unsupervised learning)."""

import math

import numpy as np
import pytest
from scipy import stats

from attractor_lab import engine
from attractor_lab.engine.theory.hopfield import curie_weiss_overlap, mixture_overlap, unsupervised_overlap


def make(**params):
    return engine.create("hopfield", device="cpu", **params)


# ---- the theories themselves ------------------------------------------------------------
def test_mixture_overlap():
    assert mixture_overlap(0.0) == 0.5
    m = mixture_overlap(0.3)
    assert m == pytest.approx(0.25 * (math.tanh(3 * m / 0.3) + math.tanh(m / 0.3)), abs=1e-12)
    assert mixture_overlap(0.0, components=1) == 1.0
    assert mixture_overlap(0.6, components=1) == pytest.approx(curie_weiss_overlap(0.6))
    with pytest.raises(ValueError):
        mixture_overlap(0.1, components=2)


def test_unsupervised_overlap_limits():
    # perfect examples (r = 1): the Curie–Weiss overlap, whatever M
    for t in (0.0, 0.5, 0.9):
        assert unsupervised_overlap(1.0, 5, t) == pytest.approx(curie_weiss_overlap(t), abs=1e-9)
    # T = 0, odd M: P(majority of the M examples right) − P(wrong)
    expected = 2.0 * stats.binom.sf(5, 11, 0.65) - 1.0
    assert unsupervised_overlap(0.3, 11, 0.0) == pytest.approx(expected, abs=1e-12)
    # the self-consistency holds at T > 0
    r, mm, t = 0.3, 20, 0.3
    k = np.arange(mm + 1)
    w = stats.binom.pmf(k, mm, (1 + r) / 2)
    s = 2 * k - mm
    spread = r * r + (1 - r * r) / mm
    m = unsupervised_overlap(r, mm, t)
    # recover n from m by solving the pair of equations numerically
    n = 0.3
    for _ in range(2000):
        n = w @ (s / mm * np.tanh(n * s / (mm * spread * t)))
    assert m == pytest.approx(w @ np.tanh(n * s / (mm * spread * t)), abs=1e-10)
    assert unsupervised_overlap(0.3, 20, 5.0) == 0.0  # hot: only n = 0


def test_unsupervised_theory_matches_the_simulation():
    sim = make(neurons=4096, load=4 / 4096, examples=20, example_quality=0.3, temperature=0.1, cue_noise=0.3,
               seed=0)
    sim.step(100)
    obs = sim.observables()
    assert obs["m_theory"] == pytest.approx(unsupervised_overlap(0.3, 20, 0.1))
    assert obs["m_cued"] == pytest.approx(obs["m_theory"], abs=0.04)


# ---- which theory for which network --------------------------------------------------------
def test_dense_network_gets_no_pairwise_phase_diagram():
    sim = make(neurons=144, load=30.0, interaction_order=4, cue_noise=0.15)
    state, obs = sim.state(), sim.observables()
    for key in ("pd_alpha", "pd_alpha_g", "pd_Tg", "pd_TM", "pd_alpha_Tc", "pd_Tc"):
        assert np.isnan(state[key]).all(), key
    assert math.isnan(obs["pd_load"])  # no "now" dot on an empty diagram
    # its own RS theory at its dense load α = P/N³ = 4320/144³ ≈ 0.0014: m = erf(m³/√(30α)) ≈ 1 at T = 0
    assert obs["m_theory"] == pytest.approx(1.0, abs=1e-9) and obs["dense_theory"] == 1.0
    assert obs["pdd_load"] == pytest.approx(4320 / 144**3)
    np.testing.assert_allclose(state["mT_rs"], state["mT_cw"], atol=0.05)  # the dense network's m(T), not AGS
    assert np.isfinite(state["pdd_TM"]).all()  # its own phase diagram is drawn instead
    assert "dense network" in sim.model.texts()["equations"] and "does not describe it" in sim.model.texts()["equations"]


def test_pairwise_hebbian_gets_ags():
    sim = make(neurons=400, load=0.05, temperature=0.1)
    state, obs = sim.state(), sim.observables()
    assert np.isfinite(state["pd_TM"]).all() and obs["pd_load"] == pytest.approx(0.05)
    assert "AGS replica symmetric" in sim.model.texts()["equations"]


def test_the_spin_glass_line_reaches_past_the_load():
    """T_g = 1 + √α holds at any load: at α = 0.3 (the spin-glass preset) it is drawn to 1.25 α,
    not cut at α_c ≈ 0.14 with the retrieval lines."""
    state = make(neurons=400, load=0.3, temperature=0.5).state()
    assert state["pd_alpha_g"][-1] == pytest.approx(0.375)
    np.testing.assert_allclose(state["pd_Tg"], 1.0 + np.sqrt(state["pd_alpha_g"]))
    assert state["pd_alpha"][-1] < 0.15  # the retrieval line still ends where retrieval ends


@pytest.mark.parametrize(
    "params, kind",
    [
        (dict(neurons=400, load=0.05), "ags"),
        (dict(neurons=400, load=0.01, start="mixture"), "mixture"),
        (dict(neurons=400, load=0.1, start="mixture"), "none"),  # beyond the zero-load theory
        (dict(neurons=400, load=4 / 400, examples=3, example_quality=0.5), "unsupervised"),
        (dict(neurons=400, load=0.02, examples=20, example_quality=0.3), "none"),  # examples load 0.4
        (dict(neurons=400, load=0.01, pattern_dilution=0.3), "multitasking"),
        (dict(neurons=400, load=0.01, pattern_dilution=0.3, temperature=0.1), "none"),
        (dict(neurons=100, load=2.0, interaction_order=3), "dense"),
        (dict(neurons=100, load=0.05, synaptic_dilution=0.5), "none"),
        (dict(neurons=100, load=0.05, learning_rule="projector"), "none"),
    ],
)
def test_theory_kind(params, kind):
    sim = make(**params)
    assert sim.model._theory_kind() == kind
    assert math.isnan(sim.observables()["m_theory"]) == (kind == "none")
    if kind != "ags":
        assert np.isnan(sim.state()["pd_TM"]).all()


def test_ranked_overlaps():
    sim = make(neurons=4096, load=4 / 4096, pattern_dilution=0.3, cue_noise=0.0, seed=0)
    sim.step(10)
    obs = sim.observables()
    ranked = sorted(np.abs(np.asarray(sim.state()["overlaps"])), reverse=True)
    assert obs["m_rank_2"] == pytest.approx(ranked[1]) and obs["m_rank_3"] == pytest.approx(ranked[2])
    assert math.isnan(make(neurons=64, load=1 / 64).observables()["m_rank_2"])  # one pattern
