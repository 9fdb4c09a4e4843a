"""The theory curves the Hopfield views draw beside the simulation."""

import numpy as np

from attractor_lab import engine


def test_overlap_against_temperature_curves():
    sim = engine.create("hopfield", neurons=400, load=0.0025, device="cpu")
    st = sim.state()
    t, cw, rs = st["mT_T"], st["mT_cw"], st["mT_rs"]
    # Curie–Weiss m = tanh(m/T): the values quoted in the literature
    assert np.interp(0.5, t, cw) == pytest_approx(0.9575, 0.003)
    assert np.interp(0.8, t, cw) == pytest_approx(0.7104, 0.01)
    assert np.all(cw[t > 1.0] == 0.0)
    # at a tiny load the AGS branch sits on the Curie–Weiss curve
    low = t < 0.85
    np.testing.assert_allclose(rs[low], cw[low], atol=0.03)
    # at α = 0.1 retrieval ends well below T = 1 (T_M(0.1) ≈ 0.4)
    rs_high = engine.create("hopfield", neurons=400, load=0.1, device="cpu").state()["mT_rs"]
    t_end = t[np.argmax(rs_high == 0.0)]
    assert 0.3 < t_end < 0.6


def pytest_approx(value, tol):
    import pytest

    return pytest.approx(value, abs=tol)


def test_zero_temperature_theory_at_low_load():
    from attractor_lab.engine.theory.hopfield import retrieval_overlap

    # m(α → 0, T = 0) = 1; the T = 0 branch must join the T > 0 one at low load
    for alpha in (1e-5, 0.0025, 0.01):
        assert retrieval_overlap(alpha, 0.0) > 0.999
        assert abs(retrieval_overlap(alpha, 0.0) - retrieval_overlap(alpha, 0.03)) < 1e-3
