"""Pure diffusion has exact answers: mass, the variance of a Gaussian and the
per-step amplification factor of each scheme for a single Fourier mode.

Gray–Scott with F = k = 0 and v ≡ 0 reduces to ∂u/∂t = Du ∇²u (v stays 0
because every term of its equation carries a factor v), so these checks run
the real model kernels, not a test double.
"""

import math

import numpy as np
import pytest

from attractor_lab import engine


@pytest.fixture(autouse=True)
def _eager(monkeypatch):
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "0")


def diffusion(grid, length, Du, dt, scheme, boundary="periodic"):
    sim = engine.create("gray_scott", device="cpu", F=0.0, k=0.0, Du=Du, Dv=0.0, grid=grid, length=length,
                        dt=dt, scheme=scheme, boundary=boundary, dtype="float64")
    sim.model.set_fields(v=np.zeros((grid, grid)))
    return sim


def moments(u, h, centre):
    x = (np.arange(u.shape[0]) - centre) * h
    mass = u.sum() * h * h
    var_x = (u.sum(axis=0) * x**2).sum() * h * h / mass
    var_y = (u.sum(axis=1) * x**2).sum() * h * h / mass
    return mass, var_x, var_y


@pytest.mark.parametrize("scheme", ["euler", "rk4", "etdrk4"])
def test_gaussian_keeps_mass_and_variance_grows_as_2Dt(scheme):
    n, h, du, sigma0 = 128, 0.5, 0.3, 2.5
    dt = {"euler": 0.2, "rk4": 0.2, "etdrk4": 1.0}[scheme]
    sim = diffusion(n, n * h, du, dt, scheme)
    c = n // 2
    x = (np.arange(n) - c) * h
    u0 = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma0**2))
    sim.model.set_fields(u=u0)
    mass0, vx0, vy0 = moments(sim.state()["u"], h, c)
    assert vx0 == pytest.approx(sigma0**2, rel=1e-6)  # sampled Gaussian: the lattice moment is exact too
    t_end = 40.0
    sim.step(int(round(t_end / dt)))
    assert sim.time == pytest.approx(t_end)
    u = sim.state()["u"]
    assert np.abs(sim.state()["v"]).max() == 0.0
    mass, vx, vy = moments(u, h, c)
    assert mass == pytest.approx(mass0, rel=1e-12)
    # σ² = σ₀² + 2 D t holds exactly on the lattice (Δ_h x² = 2) and for the
    # spectral symbol; what is left is the Gaussian's tail across the border
    expected = vx0 + 2 * du * t_end
    assert vx == pytest.approx(expected, rel=1e-6)
    assert vy == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("scheme", ["euler", "rk4"])
def test_neumann_walls_keep_mass(scheme):
    n = 48
    sim = diffusion(n, float(n), 0.2, 0.5, scheme, boundary="neumann")
    rng = np.random.default_rng(0)
    u0 = rng.random((n, n))
    u0[:, :5] += 3.0  # mass piled against a wall
    sim.model.set_fields(u=u0)
    sim.step(400)
    u = sim.state()["u"]
    assert u.sum() == pytest.approx(u0.sum(), rel=1e-12)
    assert u.std() < 0.5 * u0.std() and u.max() < u0.max()  # it did diffuse


def amplification(scheme, dt, du, mu, k2):
    z = -dt * du * mu
    if scheme == "euler":
        return 1 + z
    if scheme == "rk4":
        return 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24
    return math.exp(-dt * du * k2)  # etdrk4 integrates the linear part exactly


@pytest.mark.parametrize("scheme", ["euler", "rk4", "etdrk4"])
@pytest.mark.parametrize("mode", [(1, 0), (3, 2), (7, 5)])
def test_fourier_mode_decays_by_the_exact_factor_of_the_scheme(scheme, mode):
    n, length, du, dt, steps = 32, 8.0, 0.1, 0.1, 60
    h = length / n
    sim = diffusion(n, length, du, dt, scheme)
    my, mx = mode
    j = np.arange(n)
    phase = 2 * np.pi * (my * j[:, None] + mx * j[None, :]) / n
    sim.model.set_fields(u=np.cos(phase))
    sim.step(steps)
    amp = 2 * np.mean(sim.state()["u"] * np.cos(phase))
    ky, kx = 2 * np.pi * my / length, 2 * np.pi * mx / length
    mu = (4 / h**2) * (math.sin(ky * h / 2) ** 2 + math.sin(kx * h / 2) ** 2)
    expected = amplification(scheme, dt, du, mu, kx**2 + ky**2) ** steps
    assert amp == pytest.approx(expected, rel=1e-10, abs=1e-14)
    residual = sim.state()["u"] - amp * np.cos(phase)
    assert np.abs(residual).max() < 1e-12  # the mode stays a single mode


def test_neumann_cosine_mode_decays_by_the_euler_factor():
    n, du, dt, steps, m = 40, 0.2, 1.0, 50, 3
    sim = diffusion(n, float(n), du, dt, "euler", boundary="neumann")
    j = np.arange(n)
    # cos(π m (j + ½)/n) is the eigenvector of the cell-centred zero-flux Laplacian
    mode = np.cos(np.pi * m * (j + 0.5) / n)[None, :] * np.ones((n, 1))
    sim.model.set_fields(u=mode)
    sim.step(steps)
    mu = 4 * math.sin(np.pi * m / (2 * n)) ** 2
    np.testing.assert_allclose(sim.state()["u"], mode * (1 - dt * du * mu) ** steps, rtol=0, atol=1e-13)
