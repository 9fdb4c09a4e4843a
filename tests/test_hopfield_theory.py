"""The replica-symmetric Hopfield theory against the known numbers (AGS 1987)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attractor_lab.engine.theory import hopfield as theory


def test_critical_load_and_overlap_at_zero_temperature():
    alpha_c, m_c = theory.critical_load()
    assert alpha_c == pytest.approx(0.138, abs=0.001)
    assert m_c == pytest.approx(0.967, abs=0.002)
    # the solver on either side of α_c
    assert theory.retrieval_overlap(alpha_c - 0.0005, 0.0) == pytest.approx(0.967, abs=0.01)
    assert theory.retrieval_overlap(alpha_c + 0.0005, 0.0) == 0.0


def test_zero_temperature_equations_are_satisfied():
    for alpha in (0.01, 0.05, 0.1, 0.13):
        m, q, r = theory._zero_temperature(alpha)
        y = m / math.sqrt(2 * alpha * r)
        assert m == pytest.approx(math.erf(y), abs=1e-10)
        c = math.sqrt(2 / (math.pi * alpha * r)) * math.exp(-y * y)
        assert r == pytest.approx(1 / (1 - c) ** 2, rel=1e-8)


def test_curie_weiss_limit():
    assert theory.curie_weiss_overlap(0.5) == pytest.approx(0.9575, abs=1e-4)
    assert theory.curie_weiss_overlap(0.8) == pytest.approx(0.7104, abs=1e-4)
    assert theory.curie_weiss_overlap(1.2) == 0.0
    # the finite-temperature RS equations reduce to it as α → 0
    assert theory.retrieval_overlap(1e-7, 0.5) == pytest.approx(0.9575, abs=1e-3)
    assert theory.retrieval_overlap(1e-7, 0.8) == pytest.approx(0.7104, abs=1e-3)
    # dense p = 3: m = tanh(β m²), a retrieval branch that ends at a spinodal (first order)
    m3 = theory.curie_weiss_overlap(0.5, order=3)
    assert m3 == pytest.approx(math.tanh(m3**2 / 0.5), abs=1e-9) and m3 > 0.9
    assert theory.curie_weiss_overlap(1.0, order=3) == 0.0


def test_finite_temperature_solution_solves_the_equations():
    alpha, t = 0.05, 0.4
    m, q, r = (float(v) for v in theory.solve_rs(alpha, t))
    z = np.linspace(-9, 9, 20001)
    w = np.exp(-z * z / 2)
    w /= w.sum()
    th = np.tanh((m + math.sqrt(alpha * r) * z) / t)
    assert m == pytest.approx(float(th @ w), abs=1e-6)
    assert q == pytest.approx(float((th * th) @ w), abs=1e-6)
    assert r == pytest.approx(q / (1 - (1 - q) / t) ** 2, rel=1e-5)
    assert 0.9 < m < 1.0


def test_paramagnet_and_spin_glass_have_no_retrieval():
    assert theory.retrieval_overlap(0.05, 1.1) == 0.0
    assert theory.retrieval_overlap(0.2, 0.1) == 0.0


def test_phase_diagram_lines():
    pd = theory.phase_diagram()
    alpha = pd["alpha"]
    np.testing.assert_allclose(pd["T_g"], 1 + np.sqrt(alpha))
    assert pd["T_M"][0] == 1.0 and pd["T_M"][-1] == 0.0
    assert alpha[-1] == pytest.approx(0.138, abs=0.001)
    assert np.all(np.diff(pd["T_M"]) < 0)
    # T_M ≈ 1 − 1.95 √α at small load (AGS)
    assert pd["T_M"][1] == pytest.approx(1 - 1.95 * math.sqrt(alpha[1]), abs=0.03)
    # T_c ends at α ≈ 0.051 and lies below T_M
    assert pd["alpha_Tc"][-1] == pytest.approx(0.051, abs=0.003)
    assert pd["T_c"][-1] == 0.0
    assert np.all(np.diff(pd["T_c"]) < 0)
    t_m_there = np.interp(pd["alpha_Tc"][1:-1], alpha, pd["T_M"])
    assert np.all(pd["T_c"][1:-1] < t_m_there)


def test_multitasking_amplitudes():
    np.testing.assert_allclose(theory.multitasking_amplitudes(0.3, 3), [0.7, 0.21, 0.063])
    with pytest.raises(ValueError, match="pattern_dilution"):
        theory.multitasking_amplitudes(1.0, 2)
