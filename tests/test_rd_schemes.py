"""Convergence of the schemes on smooth problems, and the λ–ω plane waves.

The spectral ETDRK4 solution on a fine grid is the reference: the 5-point
finite differences must converge to it at second order in h, and ETDRK4 must
converge at fourth order in dt.
"""

import math

import numpy as np
import pytest

from attractor_lab import engine


@pytest.fixture(autouse=True)
def _eager(monkeypatch):
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "0")


LENGTH = 20.0


def smooth_lambda_omega(grid, scheme, dt, t_end=2.0):
    sim = engine.create("lambda_omega", device="cpu", beta=1.0, Du=1.0, Dv=0.5, grid=grid, length=LENGTH,
                        scheme=scheme, dt=dt, dtype="float64")
    x = np.arange(grid) * LENGTH / grid
    q = 2 * np.pi / LENGTH
    u0 = 0.6 * np.cos(q * x)[None, :] + 0.2 * np.sin(2 * q * x)[:, None]
    v0 = 0.3 * np.sin(q * (x[None, :] + x[:, None]))
    sim.model.set_fields(u=u0, v=v0)
    sim.step(int(round(t_end / dt)))
    return sim.state()


@pytest.fixture(scope="module")
def reference():
    return smooth_lambda_omega(128, "etdrk4", 0.005)


def error_against(reference, state):
    stride = reference["u"].shape[0] // state["u"].shape[0]  # grids share the points x = i h
    return max(np.abs(state[f] - reference[f][::stride, ::stride]).max() for f in ("u", "v"))


def test_finite_differences_converge_to_spectral_at_second_order(reference):
    errors = [error_against(reference, smooth_lambda_omega(n, "rk4", 0.004)) for n in (16, 32, 64)]
    orders = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert errors[-1] < 5e-3
    for order in orders:
        assert order == pytest.approx(2.0, abs=0.25), (errors, orders)


def test_spectral_scheme_converges_spectrally_in_space(reference):
    errors = [error_against(reference, smooth_lambda_omega(n, "etdrk4", 0.01)) for n in (16, 32, 64)]
    assert errors[0] / errors[1] > 100 and errors[1] / errors[2] > 1000, errors
    assert errors[-1] < 1e-8


def test_etdrk4_is_fourth_order_in_time():
    # same grid as the runs, so that only the time error is left
    reference = smooth_lambda_omega(32, "etdrk4", 0.005)
    errors = [error_against(reference, smooth_lambda_omega(32, "etdrk4", dt)) for dt in (0.2, 0.1, 0.05)]
    orders = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    for order in orders:
        assert order == pytest.approx(4.0, abs=0.5), (errors, orders)


def test_spectral_and_finite_difference_agree_on_a_fine_grid(reference):
    fd = smooth_lambda_omega(64, "rk4", 0.004)
    sp = smooth_lambda_omega(64, "etdrk4", 0.05)
    gap = max(np.abs(fd[f] - sp[f]).max() for f in ("u", "v"))
    h = LENGTH / 64
    assert gap < 0.1 * h**2  # second-order FD error, with the constant of this smooth problem


@pytest.mark.parametrize("scheme, dt", [("etdrk4", 0.05), ("rk4", 0.02)])
def test_lambda_omega_plane_wave(scheme, dt):
    """u + i v = R e^{i(kx − Ωt)} with R² = 1 − D μ(k) and Ω = β R²."""
    n, length, m, beta, d = 32, 32.0, 2, 1.5, 1.0
    sim = engine.create("lambda_omega", device="cpu", beta=beta, Du=d, Dv=d, grid=n, length=length,
                        scheme=scheme, dt=dt, dtype="float64")
    h = length / n
    k = 2 * np.pi * m / length
    x = np.arange(n) * h
    wave = np.exp(1j * k * x)[None, :] * np.ones((n, 1))
    r0 = 0.5  # start off the wave's amplitude: it must relax to R
    sim.model.set_fields(u=r0 * wave.real, v=r0 * wave.imag)
    sim.step(int(round(20.0 / dt)))

    def projection():
        s = sim.state()
        return np.mean((s["u"] + 1j * s["v"]) * np.conj(wave))

    # the symbol of the Laplacian the scheme uses: k² (spectral) or (4/h²) sin²(kh/2)
    mu = k * k if scheme == "etdrk4" else (4 / h**2) * math.sin(k * h / 2) ** 2
    r2 = 1 - d * mu
    phases, times = [], []
    for _ in range(10):
        c = projection()
        # the discrete schemes rotate the phase with an O(dt⁵) amplitude error per step
        assert abs(c) ** 2 == pytest.approx(r2, rel=1e-5)
        phases.append(np.angle(c))
        times.append(sim.time)
        sim.step(int(round(1.0 / dt)))
    omega = -np.polyfit(times, np.unwrap(phases), 1)[0]
    tol = 1e-6 if scheme == "etdrk4" else 1e-4  # RK4's phase error at dt = 0.02
    assert omega == pytest.approx(beta * r2, rel=tol)
    if scheme == "etdrk4":
        assert r2 == pytest.approx(1 - d * k * k)
