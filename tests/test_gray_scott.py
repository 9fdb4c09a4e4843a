"""Gray–Scott: the engine against an independent numpy stencil, its uniform
steady states, the stability check, the NaN guard and painting."""

import math

import numpy as np
import pytest
from scipy import ndimage

from attractor_lab import engine
from attractor_lab.engine.models.base import SimulationDiverged


@pytest.fixture(autouse=True)
def _eager(monkeypatch):
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "0")


def numpy_gray_scott(u, v, F, k, Du, Dv, dt, steps):
    """Independent reference: explicit Euler, np.roll 5-point Laplacian, h = 1."""

    def lap(a):
        return np.roll(a, 1, 0) + np.roll(a, -1, 0) + np.roll(a, 1, 1) + np.roll(a, -1, 1) - 4 * a

    for _ in range(steps):
        uvv = u * v * v
        u, v = u + dt * (Du * lap(u) - uvv + F * (1 - u)), v + dt * (Dv * lap(v) + uvv - (F + k) * v)
    return u, v


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 2e-4)])
def test_euler_matches_numpy_stencil(dtype, tol):
    params = dict(F=0.037, k=0.06, Du=0.16, Dv=0.08, dt=1.0)
    sim = engine.create("gray_scott", seed=3, device="cpu", grid=64, dtype=dtype, **params)
    start = sim.state()
    assert start["u"].dtype == np.dtype(dtype)
    sim.step(300)
    u, v = numpy_gray_scott(start["u"].astype(float), start["v"].astype(float), steps=300, **params)
    assert np.abs(sim.state()["u"] - u).max() < tol
    assert np.abs(sim.state()["v"] - v).max() < tol
    assert np.abs(v - start["v"]).max() > 0.01  # something happened


def test_uniform_steady_states_are_fixed_points():
    F, k = 0.03, 0.055  # F > 4 (F + k)²: three uniform states
    sim = engine.create("gray_scott", device="cpu", F=F, k=k, grid=32, dtype="float64")
    states = sim.model.steady_states()
    assert len(states) == 3
    for u, v in states:
        fu, fv = sim.model.reaction(u, v, {"F": F, "k": k})
        assert abs(fu) < 1e-15 and abs(fv) < 1e-15
        if v > 0:
            assert u * v == pytest.approx(F + k)  # the defining relation of the non-trivial branch
        for scheme in ("euler", "rk4", "etdrk4"):
            sim.set(scheme=scheme)
            sim.model.set_fields(u=np.full((32, 32), u), v=np.full((32, 32), v))
            sim.step(200)
            s = sim.state()
            assert np.abs(s["u"] - u).max() < 1e-11, (scheme, u, v)
            assert np.abs(s["v"] - v).max() < 1e-11, (scheme, u, v)


def test_only_trivial_state_below_the_saddle_node():
    sim = engine.create("gray_scott", device="cpu", F=0.035, k=0.065, grid=16)
    assert sim.model.steady_states() == [(1.0, 0.0)]
    assert sim.model.analysis.regime == "stable"
    assert math.isnan(sim.observables()["lambda_predicted"])


def test_defaults_grow_a_live_pattern_at_256():
    sim = engine.create("gray_scott", seed=0, device="cpu")
    assert sim.state()["v"].shape == (256, 256)
    sim.step(3000)
    v = sim.state()["v"]
    _, spots = ndimage.label(v > 0.1)
    assert spots >= 6  # the seed square split into spots that keep dividing (mitosis)
    assert np.isfinite(v).all() and v.max() > 0.2


def test_explicit_limit_refused_with_numbers():
    with pytest.raises(ValueError, match=r"dt = 2 exceeds the explicit euler limit h²/\(4·max D\) = 1\.562"):
        engine.create("gray_scott", device="cpu", dt=2.0, grid=16)
    sim = engine.create("gray_scott", device="cpu", grid=16)
    with pytest.raises(ValueError, match="lower dt"):
        sim.set(dt=1.7)
    assert sim.params["dt"] == 1.0  # the refused value is not kept
    sim.set(scheme="etdrk4", dt=1.7)  # the spectral scheme has no diffusive limit
    sim.step(5)
    with pytest.raises(ValueError, match="needs boundary='periodic'"):
        sim.set(boundary="neumann")


def test_nan_guard_restores_last_good_state_and_names_dt():
    sim = engine.create("gray_scott", device="cpu", grid=32)
    sim.step(10)
    sim.model.paint("v", 16, 16, 3, 1e30, "set")  # overflows float32 in u v²
    before = sim.state()
    with pytest.raises(SimulationDiverged, match="dt"):
        sim.step(20)
    after = sim.state()
    np.testing.assert_array_equal(after["u"], before["u"])
    np.testing.assert_array_equal(after["v"], before["v"])
    assert sim.steps == 10


def test_paint_set_add_and_wrap():
    sim = engine.create("gray_scott", device="cpu", grid=32, noise=0.0, seeding="uniform_noise")
    sim.model.paint("v", 0, 0, 2.0, 0.7, "set")
    v = sim.state()["v"]
    assert v[0, 0] == pytest.approx(0.7) and v[-1, -1] == pytest.approx(0.7) and v[0, 31] == pytest.approx(0.7)
    assert (v > 0).sum() == 13  # cells within radius 2 of a corner, wrapped: a discrete disc
    sim.model.paint("u", 10.0, 20.0, 1.0, -0.25, "add")
    u = sim.state()["u"]
    assert u[20, 10] == pytest.approx(0.75) and u[10, 20] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="mode"):
        sim.model.paint("u", 1, 1, 1, 0, "xor")
    with pytest.raises(ValueError, match="field"):
        sim.model.paint("w", 1, 1, 1, 0, "set")
