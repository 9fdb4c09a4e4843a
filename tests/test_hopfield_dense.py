"""The dense (p-body) network at high storage (issue 23): its load P = α N^(p−1), the
replica-symmetric theory of engine.theory.dense in the simulation's convention (the
self-interaction terms of Σ_μ m_μ^p kept), and the simulation against it."""

import math

import numpy as np
import pytest

from attractor_lab import engine
from attractor_lab.engine.theory import dense, hopfield as ags

_Z = np.linspace(-9, 9, 20001)
_W = np.exp(-_Z * _Z / 2)
_W /= _W.sum()


# ---- the theory ------------------------------------------------------------------------
def test_p2_reduces_to_ags():
    assert dense.critical_load(2)[0] == pytest.approx(0.1379, abs=1e-3)
    assert dense.critical_load(2, "distinct")[0] == pytest.approx(0.1379, abs=1e-3)
    assert dense.retrieval_overlap(0.05, 0.3, 2) == pytest.approx(ags.retrieval_overlap(0.05, 0.3))


def test_noise_variance_of_both_conventions():
    # Φ'(1)/α = E[g^{2(p−1)}] = (2p − 3)!! with self-interactions, (p − 1)! over distinct tuples
    for p in range(3, 9):
        assert dense.noise_variance(p, "self") == pytest.approx(math.prod(range(2 * p - 3, 0, -2)))
        assert dense.noise_variance(p, "distinct") == pytest.approx(math.factorial(p - 1))
    # p = 3: g³ = He₃ + 3He₁: Φ(q)/α = (6q³ + 9q)/9
    np.testing.assert_allclose(dense.phi(np.array([0.3, 1.0]), 3), (6 * np.array([0.3, 1.0]) ** 3 + 9 * np.array([0.3, 1.0])) / 9)


def test_capacity_table():
    # α_c(p) = max_y erf(y)^{2(p−1)} / (2 κ_p y²): the T = 0 RS equation at its fold
    table = {p: a for p, a, _, _ in dense.capacity_table(range(3, 9))}
    assert table[3] == pytest.approx(0.08406, abs=1e-4)
    assert table[4] == pytest.approx(0.01319, abs=1e-4)
    assert all(table[p + 1] < table[p] for p in range(3, 8))
    a, m = dense.critical_load(3, "distinct")
    assert a == pytest.approx(0.1261, abs=1e-4) and m == pytest.approx(0.8385, abs=1e-3)
    # just below α_c a retrieval root exists, just above none
    ac = dense.critical_load(3)[0]
    assert dense.zero_temperature_overlap(0.999 * ac, 3) > 0.8
    assert dense.zero_temperature_overlap(1.001 * ac, 3) == 0.0


@pytest.mark.parametrize("p, alpha, t", [(3, 0.05, 0.3), (4, 0.008, 0.3), (5, 0.001, 0.2)])
def test_finite_temperature_solution_solves_the_equations(p, alpha, t):
    m, q = (float(v) for v in dense.solve_rs(alpha, t, p))
    assert m > 0.5
    s = math.sqrt(alpha * float(dense.phi(q, p, derivative=1)))
    th = np.tanh((m ** (p - 1) + s * _Z) / t)
    assert m == pytest.approx(float(th @ _W), abs=1e-6)
    assert q == pytest.approx(float((th * th) @ _W), abs=1e-6)


def test_zero_load_limit_is_the_curie_weiss_spinodal():
    # p = 3 in the E = −(N/p) Σ m^p normalisation: m = tanh(β m²) ends at T ≈ 0.583
    assert dense.curie_weiss_spinodal(3) == pytest.approx(0.5826, abs=1e-3)
    pd = dense.phase_diagram(3, "self", 16)
    assert pd["T_M"][-1] == pytest.approx(0.5826, abs=1e-3) and pd["alpha"][-1] == 0.0
    # the RS line at a tiny load meets it
    assert dense.retrieval_overlap(1e-6, 0.575, 3) > 0.7
    assert dense.retrieval_overlap(1e-6, 0.59, 3) == 0.0
    # the line starts at (α_c, 0), and retrieval wins (T_c) below the spinodal
    assert pd["alpha"][0] == pytest.approx(dense.critical_load(3)[0])
    assert np.all(pd["T_c"] <= 0.5826)


def test_glass_line():
    # p = 4 with self-interactions: the q² (SK) part freezes continuously at T = √(Φ''(0)) = 3√α
    assert dense.glass_temperature(4) == pytest.approx(3.0, abs=0.02)
    # p = 3 with self-interactions: the random field Σ_μ ξ_i^μ / N leaves no sharp line
    assert math.isnan(dense.glass_temperature(3))


# ---- the simulation in the dense load ----------------------------------------------------
def _dense(**params):
    return engine.create("hopfield", device="cpu", interaction_order=3, load_scaling="dense", **params)


def test_dense_load_counts_patterns_as_n_to_the_p_minus_1():
    sim = _dense(neurons=50, load=0.04, seed=0)
    assert sim.model.count == 100  # 0.04 · 50²
    obs = sim.observables()
    assert obs["dense_load"] == pytest.approx(0.04) and obs["pdd_load"] == pytest.approx(0.04)
    assert obs["dense_theory"] == 1.0 and math.isnan(obs["pd_load"])
    # the linear scaling is unchanged: P = αN
    assert engine.create("hopfield", device="cpu", neurons=50, load=2.0, interaction_order=3).model.count == 100


def _final_overlap(load_factor, seed, neurons=300, sweeps=20):
    ac = dense.critical_load(3)[0]
    sim = _dense(neurons=neurons, load=load_factor * ac, cue_noise=0.1, seed=seed)
    sim.step(sweeps)
    return sim.observables()["m_cued"]


@pytest.mark.slow
def test_retrieval_holds_below_capacity_and_fails_above():
    # N = 300 at T = 0 (P = 6053 at 0.8 α_c, 9835 at 1.3 α_c), two seeds. Finite size: the
    # zero-temperature descent from a cue with 10 % wrong bits stops in metastable states near the
    # pattern above α_c (m ≈ 0.43 here, 0.66–0.84 at N = 600), not at m < 0.3: the margin above
    # α_c is therefore m < 0.5, well below the RS overlap at α_c (0.838).
    below = [_final_overlap(0.8, s) for s in (0, 1)]
    above = [_final_overlap(1.3, s) for s in (0, 1)]
    assert min(below) > 0.9, below
    assert max(above) < 0.5, above


@pytest.mark.slow
def test_retrieval_temperature_at_vanishing_load_is_the_curie_weiss_spinodal():
    # one pattern (α = P/N² → 0): retrieval holds just below T = 0.583 and is lost just above
    t_s = dense.curie_weiss_spinodal(3)
    held = _dense(neurons=2000, load=1e-9, temperature=0.95 * t_s, cue_noise=0.1, seed=1)
    lost = _dense(neurons=2000, load=1e-9, temperature=1.08 * t_s, cue_noise=0.1, seed=1)
    held.step(200)
    lost.step(200)
    assert held.model.count == 1
    assert held.observables()["m_cued"] > 0.7
    assert abs(lost.observables()["m_cued"]) < 0.3
    assert held.observables()["m_theory"] > 0.7 and lost.observables()["m_theory"] == 0.0


def test_shipped_phase_diagrams_are_what_the_theory_computes():
    """The table a dense network's first frame reads (3–6 s of solving each) equals a fresh
    computation (p = 3 here; the others are written by the same function)."""
    from attractor_lab.engine.theory import dense

    stored = dense.phase_diagram(3)
    fresh = dense.compute_phase_diagram(3)
    assert set(stored) == set(fresh)
    for key in fresh:
        np.testing.assert_allclose(stored[key], fresh[key], rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=key)
    assert sorted(int(k) for k in dense._table()) == [3, 4, 5, 6, 7, 8]
