"""Views that mean something for the current parameters (issue 16), reaction–diffusion part:
roles, the dispersion relation only where the uniform state's σ(k) speaks about the pattern,
the local phase plane of excitable media and oscillators, the tip path's equal axes."""

import numpy as np
import pytest

from attractor_lab import engine

RD = ["gray_scott", "brusselator", "schnakenberg", "fitzhugh_nagumo", "barkley", "lambda_omega"]


@pytest.fixture(autouse=True)
def _eager(monkeypatch):
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "0")


def _dispersion(views):
    return [v for v in views if v["kind"] == "lines" and any(s["y"] == "turing_sigma" for s in v["series"])]


def _roles(views):
    return [v["role"] for v in views]


@pytest.mark.parametrize("name", RD)
def test_every_view_has_a_role_and_one_primary_field(name):
    sim = engine.create(name, device="cpu", grid=32)
    views = sim.model.views
    assert all(v.get("role") in ("primary", "secondary", "info") for v in views)
    primary = [v for v in views if v["role"] == "primary"]
    assert len(primary) == 1 and primary[0]["kind"] == "image" and primary[0]["paint"]
    assert all(v["role"] == "info" for v in views if v["kind"] == "text")


@pytest.mark.parametrize("name", ["gray_scott", "brusselator", "schnakenberg", "fitzhugh_nagumo"])
def test_dispersion_relation_centred_on_its_band(name):
    (view,) = _dispersion(engine.create(name, device="cpu", grid=32).model.views)
    assert view["band"] == 3


@pytest.mark.parametrize("name", ["barkley", "lambda_omega"])
def test_no_dispersion_relation_where_it_says_nothing(name):
    assert not _dispersion(engine.create(name, device="cpu", grid=32).model.views)


def test_brusselator_stripes_band_is_small_against_the_stable_tail():
    # why the band matters: σ_max ≈ 0.2 on a curve that reaches −35 at large k
    sim = engine.create("brusselator", device="cpu", grid=32, b=4.6)
    sigma = sim.state()["turing_sigma"]
    assert 0 < sigma.max() < 0.5 and sigma.min() < -20 * sigma.max()


def _phase_view(views):
    (view,) = [v for v in views if v["kind"] == "lines" and v["series"][0]["x"] == "phase_u"]
    return view


@pytest.mark.parametrize("name", ["barkley", "fitzhugh_nagumo", "lambda_omega"])
def test_phase_plane_samples_the_field(name):
    sim = engine.create(name, device="cpu", grid=128)
    sim.step(50)
    view = _phase_view(sim.model.views)
    state = sim.state()
    for s in view["series"]:
        assert state[s["x"]].shape == state[s["y"]].shape, s
    assert view["series"][0]["symbol"]
    u, v = state["phase_u"], state["phase_v"]
    assert 1000 <= u.size <= 5000
    field_u, field_v = np.asarray(state["u"]), np.asarray(state["v"])
    # the samples are cells of the field: the same values, the same ranges
    assert set(np.round(u, 6)) <= set(np.round(field_u.ravel().astype(float), 6))
    assert u.min() >= field_u.min() - 1e-6 and v.max() <= field_v.max() + 1e-6


def test_barkley_nullclines_are_the_models():
    sim = engine.create("barkley", device="cpu", grid=32, a=0.8, b=0.05)
    state = sim.state()
    fx, fy = state["nc_u_x"], state["nc_u_y"]
    finite = np.isfinite(fx) & np.isfinite(fy)
    f, g = sim.model.reaction(fx[finite], fy[finite], sim.model.p)
    assert np.allclose(f, 0, atol=1e-9)  # every point of the u-nullcline has f = 0
    assert np.isclose(fx[finite], 0).any() and np.isclose(fx[finite], 1).any()
    gx, gy = state["nc_v_x"], state["nc_v_y"]
    assert np.allclose(sim.model.reaction(gx, gy, sim.model.p)[1], 0)  # g = u − v = 0


def test_fitzhugh_nagumo_nullclines_are_the_models():
    sim = engine.create("fitzhugh_nagumo", device="cpu", grid=32)
    state = sim.state()
    f, _ = sim.model.reaction(state["nc_u_x"], state["nc_u_y"], sim.model.p)
    _, g = sim.model.reaction(state["nc_v_x"], state["nc_v_y"], sim.model.p)
    assert np.allclose(f, 0, atol=1e-12) and np.allclose(g, 0, atol=1e-12)


def test_lambda_omega_cells_lie_on_the_plane_wave_circle():
    sim = engine.create("lambda_omega", device="cpu", grid=128, length=64.0, seeding="spiral")
    sim.step(1000)
    state = sim.state()
    radius = np.hypot(state["phase_u"], state["phase_v"])
    r_wave = np.nanmax(np.hypot(state["nc_v_x"], state["nc_v_y"]))
    assert np.allclose(np.hypot(state["nc_u_x"], state["nc_u_y"]), 1.0)
    assert 0.5 < r_wave < 1.0
    assert abs(np.median(radius) - r_wave) < 0.05
    assert _phase_view(sim.model.views)["aspect"] == "equal"


def test_barkley_tip_path_has_equal_axes():
    views = engine.create("barkley", device="cpu", grid=32).model.views
    (tip,) = [v for v in views if v["kind"] == "lines" and v["series"][0]["x"] == "tip_path_x"]
    assert tip["aspect"] == "equal"
