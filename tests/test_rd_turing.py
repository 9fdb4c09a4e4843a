"""Turing analysis: the dispersion relation against textbook formulas, and the
wavelength of patterns grown from noise against the linear prediction."""

import math

import numpy as np
import pytest

from attractor_lab import engine
from attractor_lab.engine.theory import turing


@pytest.fixture(autouse=True)
def _eager(monkeypatch):
    # science checks run the eager kernels: no torch.compile start-up in the suite
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "0")


def brusselator_threshold(a, du, dv):
    """Murray: b_c = (1 + a√(Du/Dv))², k_c² = a/√(Du Dv)."""
    return (1 + a * math.sqrt(du / dv)) ** 2, math.sqrt(a / math.sqrt(du * dv))


@pytest.mark.parametrize("scheme", ["etdrk4", "euler"])
def test_brusselator_threshold_matches_textbook(scheme):
    a, du, dv = 3.0, 1.0, 8.0
    b_c, k_c = brusselator_threshold(a, du, dv)
    # fine grid: the 5-point symbol tends to k², so thresholds agree within O(h²)
    common = dict(a=a, Du=du, Dv=dv, grid=64, length=64 * 0.05, scheme=scheme, dt=5e-5)
    below = engine.create("brusselator", device="cpu", b=0.99 * b_c, **common).model.analysis
    above = engine.create("brusselator", device="cpu", b=1.01 * b_c, **common).model.analysis
    assert below.regime == "stable"
    assert above.regime == "Turing unstable"
    lo, hi = above.band
    assert lo < k_c < hi
    assert above.k_fastest == pytest.approx(k_c, rel=0.02)
    hopf = engine.create("brusselator", device="cpu", b=1.05 * (1 + a * a), **common).model.analysis
    assert hopf.regime == "Hopf"


def test_discrete_symbol_is_used_for_finite_differences():
    # coarse grid: the FD prediction must follow (4/h²) sin²(kh/2), not k²
    common = dict(a=3.0, b=4.5, Du=1.0, Dv=8.0, grid=64, length=64 * 1.0, dt=0.01)
    fd = engine.create("brusselator", device="cpu", scheme="euler", **common).model.analysis
    sp = engine.create("brusselator", device="cpu", scheme="etdrk4", **common).model.analysis
    jac = np.array([[4.5 - 1, 9.0], [-4.5, -9.0]])
    mu = (4.0 / 1.0) * np.sin(0.5 * fd.k_fastest) ** 2
    sigma = turing.growth_rates(jac, (1.0, 8.0), mu).real
    assert sigma == pytest.approx(fd.sigma_fastest, rel=1e-9)
    assert fd.k_fastest > sp.k_fastest  # sin² < k²/4 ⇒ the grid needs a larger k


def test_complex_step_jacobian_is_exact():
    from attractor_lab.engine.models.reaction_diffusion.schnakenberg import Schnakenberg

    a, b = 0.1, 0.9
    u, v = a + b, b / (a + b) ** 2
    jac = turing.jacobian_complex_step(Schnakenberg.reaction, u, v, {"a": a, "b": b})
    expected = [[-1 + 2 * u * v, u * u], [-2 * u * v, -u * u]]
    np.testing.assert_allclose(jac, expected, rtol=1e-14, atol=1e-14)


def grow_from_noise(name, **params):
    sim = engine.create(name, device="cpu", seed=1, dtype="float64", seeding="uniform_noise", noise=1e-3, **params)
    model = sim.model
    while model.time < 1000 and float(model.fields[0].std()) < 0.05:
        sim.step(50)
    return model


@pytest.mark.parametrize(
    "name, scheme, dt, params",
    [
        # b_c = 4.246 for a = 3, Du = 1, Dv = 8: b = 4.5 is 6 % past the threshold
        ("brusselator", "etdrk4", 0.1, dict(a=3.0, b=4.5, Du=1.0, Dv=8.0)),
        # d_c = Dv/Du = 8.57 for a = 0.1, b = 0.9: Dv = 10 is 17 % past it
        ("schnakenberg", "euler", 0.04, dict(a=0.1, b=0.9, Du=1.0, Dv=10.0)),
    ],
)
def test_wavelength_grown_from_noise_matches_prediction(name, scheme, dt, params):
    probe = engine.create(name, device="cpu", grid=32, scheme="etdrk4", **params).model.analysis
    assert probe.regime == "Turing unstable"
    # 16 predicted wavelengths across the domain, 8 cells each
    length = 16 * probe.lambda_fastest
    model = grow_from_noise(name, grid=128, length=length, scheme=scheme, dt=dt, **params)
    assert float(model.fields[0].std()) >= 0.05, "no pattern grew from the noise"
    predicted = model.analysis.lambda_fastest
    obs = model.observables()
    assert obs["lambda_predicted"] == pytest.approx(predicted)
    assert obs["lambda_measured"] == pytest.approx(predicted, rel=0.10)
    text = model.texts()["turing"]
    assert text.startswith("Turing unstable") and "measured λ" in text


def test_dominant_wavelength_of_a_known_pattern():
    n, length, m = 128, 40.0, 11
    x = np.arange(n) * length / n
    stripes = np.cos(2 * np.pi * m * x / length)[None, :] * np.ones((n, 1))
    k, lam = turing.dominant_wavelength(stripes, length)
    assert lam == pytest.approx(length / m, rel=1e-12)
    assert k == pytest.approx(2 * np.pi * m / length, rel=1e-12)
    assert all(math.isnan(q) for q in turing.dominant_wavelength(np.ones((n, n)), length))
