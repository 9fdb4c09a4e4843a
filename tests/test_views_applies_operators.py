"""Neural-operator family views (issue 16): kymographs with x/t extents, the race's views per
system, the Navier–Stokes section through the strongest feature, colour floors, roles."""

import math

import numpy as np
import pytest

from attractor_lab import engine
from attractor_lab.engine.models.neural_operator.neural_operator import DIFFERENCE_RANGE, FIELD_RANGE


def _shown(view, params):
    return all(params[name] in allowed for name, allowed in view.get("shown_when", []))


@pytest.mark.parametrize("name, params", [("burgers", {"grid": 64}), ("navier_stokes", {"grid": 32}),
                                          ("neural_operator", {}),
                                          ("neural_operator", {"system": "navier_stokes"})])
def test_roles(name, params):
    sim = engine.create(name, device="cpu", **params)
    views = [v for v in sim.model.views if _shown(v, sim.model.p)]
    assert all(v.get("role") in ("primary", "secondary", "info") for v in views)
    assert 1 <= sum(v["role"] == "primary" for v in views) <= 2
    assert all(v["role"] == "info" for v in views if v["kind"] in ("text", "values"))


def test_burgers_kymograph_extent_follows_the_time_window():
    sim = engine.create("burgers", device="cpu", grid=128, kymograph_span=2.0)
    view = next(v for v in sim.model.views if v.get("array") == "kymograph")
    assert (view["extent"], view["xlabel"], view["ylabel"]) == ("kymograph_extent", "x", "t")
    sim.step(200)
    x0, x1, t0, t1 = sim.state()["kymograph_extent"]
    assert (x0, x1) == (0.0, pytest.approx(2 * math.pi))
    assert sim.time - 2.0 / 256 - 1e-9 <= t1 <= sim.time + 1e-9  # the newest row: now (within a row)
    assert t1 - t0 == pytest.approx(2.0 * 255 / 256)


def test_race_views_per_system_with_axes_and_colour_floors():
    for system, kymograph in (("burgers", True), ("navier_stokes", False)):
        sim = engine.create("neural_operator", device="cpu", system=system)
        sim.step(3)
        state = sim.state()
        views = [v for v in sim.model.views if _shown(v, sim.model.p)]
        images = {v["array"]: v for v in views if v["kind"] == "image"}
        assert set(images) == {"solver", "operator", "difference"}  # one of each for this system
        assert images["solver"]["role"] == images["operator"]["role"] == "primary"
        assert images["solver"]["min_range"] == images["operator"]["min_range"] == FIELD_RANGE
        assert images["difference"]["min_range"] == DIFFERENCE_RANGE
        extent = images["solver"]["extent"]
        if kymograph:
            assert (images["solver"]["xlabel"], images["solver"]["ylabel"]) == ("x", "t")
            x0, x1, t0, t1 = state[extent]
            assert (x0, x1, t1) == (0.0, 1.0, pytest.approx(sim.time))
            assert t1 - t0 == pytest.approx((state["solver"].shape[0] - 1) * sim.model.dt)
        else:
            assert extent == [0.0, 1.0, 0.0, 1.0]
        assert len([v for v in views if v["kind"] == "lines" and v["title"].startswith("section")]) == 1


def test_painted_still_canvas_stays_far_below_the_declared_scale():
    # what the colour floor is for: the operator's drift on a still canvas
    sim = engine.create("neural_operator", device="cpu", system="navier_stokes", initial="rest", forcing=0.0,
                        viscosity=1e-3)
    sim.step(2)
    state = sim.state()
    drift = float(np.abs(state["operator"]).max())
    assert 0 < drift < 0.01 * FIELD_RANGE / 2
    assert float(np.abs(state["difference"]).max()) < 0.1 * DIFFERENCE_RANGE / 2


def test_section_goes_through_the_vortex_not_the_pairs_zero_line():
    sim = engine.create("neural_operator", device="cpu", system="navier_stokes", initial="vortex_pair",
                        amplitude=0.15, viscosity=1e-3, forcing=0.0)
    sim.step(3)
    state, obs = sim.state(), sim.observables()
    solver = np.asarray(state["solver"])
    n = solver.shape[0]
    # at y = 1/2 the pair's section is flat (its zero line): the automatic one is not
    assert np.abs(solver[:, n // 2]).max() < 1e-3 * np.abs(solver).max()
    j = round(obs["section_y"] * n)
    assert np.abs(state["section_solver"]).max() >= 0.9 * np.abs(solver).max()
    assert np.array_equal(state["section_solver"], solver[:, j])
    assert np.array_equal(state["section_operator"], np.asarray(state["operator"])[:, j])
    first = obs["section_y"]
    sim.step(1)
    assert sim.observables()["section_y"] == first  # kept: no flicker between the two vortices
    sim.set(section="fixed", section_y=0.25)
    assert sim.observables()["section_y"] == 0.25
    assert np.array_equal(sim.state()["section_solver"], np.asarray(sim.state()["solver"])[:, n // 4])


def test_still_canvas_section_in_the_middle_and_burgers_has_none():
    sim = engine.create("neural_operator", device="cpu", system="navier_stokes", initial="rest", forcing=0.0)
    assert sim.observables()["section_y"] == 0.5
    assert math.isnan(engine.create("neural_operator", device="cpu").observables()["section_y"])
