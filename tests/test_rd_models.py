"""Every reaction–diffusion model and preset: declarations that the GUI can
render, the regimes of the defaults, seeding, dtype and the compiled kernel."""

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from attractor_lab import engine
from attractor_lab.engine.models.reaction_diffusion.core import ReactionDiffusion

SYSTEMS = ["gray_scott", "fitzhugh_nagumo", "barkley", "brusselator", "schnakenberg", "lambda_omega"]
PRESETS = sorted(p for name in SYSTEMS for p in (Path(__file__).parent.parent / "presets").glob(f"{name}_*.toml"))


@pytest.fixture(autouse=True)
def _eager(monkeypatch):
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "0")


@pytest.mark.parametrize("name", SYSTEMS)
def test_views_name_what_state_and_observables_provide(name):
    sim = engine.create(name, device="cpu", grid=48)
    assert isinstance(sim.model, ReactionDiffusion)
    sim.step(20)
    state, obs, texts = sim.state(), sim.observables(), sim.model.texts()
    kinds = set()
    for view in sim.model.views:
        kinds.add(view["kind"])
        if view["kind"] in ("image", "surface"):
            assert state[view["array"]].shape == (48, 48)
        elif view["kind"] == "timeseries":
            assert all(o in obs for o in view["observables"])
        elif view["kind"] == "lines":
            for series in view["series"]:
                assert state[series["x"]].shape == state[series["y"]].shape
            assert all(pt["x"] in obs and pt["y"] in obs for pt in view["points"])
        elif view["kind"] == "text":
            assert texts[view["array"]]
    assert kinds == {"image", "surface", "timeseries", "lines", "text"}
    assert any(v.get("paint") for v in sim.model.views)
    assert {"lambda_predicted", "lambda_measured", "mean_u", "mean_v"} <= set(obs)
    assert np.isfinite(state["u"]).all() and np.isfinite(state["v"]).all()
    assert "∂u/∂t" in texts["equations"]


@pytest.mark.parametrize(
    "name, regime",
    [("brusselator", "Turing unstable"), ("schnakenberg", "Turing unstable"), ("lambda_omega", "unstable"),
     ("fitzhugh_nagumo", "stable"), ("barkley", "stable"), ("gray_scott", "stable")],
)
def test_default_regimes(name, regime):
    analysis = engine.create(name, device="cpu", grid=32).model.analysis
    assert analysis.regime == regime
    if regime == "Turing unstable":
        assert analysis.band[0] < analysis.k_fastest < analysis.band[1]


def test_lambda_omega_explains_its_bulk_oscillation():
    # at A = 0: λ = 1, ω = 0, a real double eigenvalue: an unstable node, not a
    # Hopf point; the text must say where the state goes instead
    sim = engine.create("lambda_omega", device="cpu", grid=32, beta=2.0)
    assert sim.model.analysis.sigma[0] == pytest.approx(1.0)
    assert "Ω = β = 2" in sim.model.texts()["turing"]


def test_dispersion_recomputed_only_when_relevant():
    sim = engine.create("brusselator", device="cpu", grid=32)
    first = sim.model.analysis
    sim.set(noise=0.1)  # structural, waits for reset
    sim.set(dt=0.005)
    assert sim.model.analysis is first
    sim.set(b=5.0)
    assert sim.model.analysis is not first and sim.model.analysis.sigma_fastest < first.sigma_fastest


@pytest.mark.parametrize("seeding", ["uniform_noise", "centre_square", "random_spots", "spiral"])
@pytest.mark.parametrize("name", ["gray_scott", "barkley", "lambda_omega"])
def test_seedings(name, seeding):
    a = engine.create(name, device="cpu", grid=32, seeding=seeding, seed=1).state()
    b = engine.create(name, device="cpu", grid=32, seeding=seeding, seed=1).state()
    np.testing.assert_array_equal(a["u"], b["u"])  # reproducible from the seed
    assert np.isfinite(a["u"]).all()
    if seeding != "uniform_noise":  # uniform_noise with the default noise = 0 may well be uniform
        assert a["u"].std() > 0 or a["v"].std() > 0


def test_float64_and_structural_changes():
    sim = engine.create("schnakenberg", device="cpu", grid=32, dtype="float64")
    assert sim.state()["u"].dtype == np.float64
    assert sim.set(grid=40, dtype="float32") == ["grid", "dtype"]
    sim.reset()
    assert sim.state()["u"].shape == (40, 40) and sim.state()["u"].dtype == np.float32


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_shipped_presets_build_and_run(path):
    preset = tomllib.loads(path.read_text(encoding="utf-8"))
    assert preset["format_version"] == 1
    assert preset["title"] and preset["description"]
    params = dict(preset["params"])
    params["grid"] = min(params.get("grid", 256), 64)  # small, but the same cell size and time step
    if "length" in preset["params"]:
        params["length"] = preset["params"]["length"] * params["grid"] / preset["params"].get("grid", 256)
    sim = engine.create(preset["model"], seed=preset.get("seed", 0), device="cpu", **params)
    sim.step(int(preset["run"]["steps_per_frame"]) * 3)
    assert np.isfinite(sim.state()["u"]).all()
    assert preset["view"]["field"] in sim.state()


def test_required_presets_exist():
    names = {p.name for p in PRESETS}
    assert {"gray_scott_spots.toml", "gray_scott_mitosis.toml", "gray_scott_worms.toml"} <= names
    for system in SYSTEMS:
        assert sum(n.startswith(system + "_") for n in names) >= 2, system


def test_compiled_kernel_matches_eager(monkeypatch):
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "1")
    compiled = engine.create("gray_scott", device="cpu", grid=32, seed=2)
    compiled.step(50)
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "0")
    eager = engine.create("gray_scott", device="cpu", grid=32, seed=2)
    eager.step(50)
    stepper = compiled.model._stepper()
    if not stepper.failed:  # no compiler here: the fallback was exercised instead (warned)
        assert stepper.compiled is not None
    np.testing.assert_allclose(compiled.state()["v"], eager.state()["v"], atol=2e-6)
    assert math.isfinite(compiled.observables()["mean_v"])


def test_refused_changes_leave_the_model_as_it_was():
    from attractor_lab import engine

    sim = engine.create("gray_scott", grid=32, device="cpu", scheme="euler")
    sim.step(5)
    before = dict(sim.params)
    with pytest.raises(ValueError, match="dt"):
        sim.set(Du=0.9)  # explicit Euler limit h²/(4 D) < dt = 1
    assert sim.params == before
    sim.set(grid=64, length=16.0)  # h = 0.25: unstable with dt = 1, refused at reset
    with pytest.raises(ValueError):
        sim.reset()
    assert sim.params == before and sim.steps == 5 and sim.state()["u"].shape == (32, 32)
    assert sim.pending == {"grid": 64, "length": 16.0}
    sim.step(1)  # still runs


def test_measured_wavelength_is_exact_outside_display_mode():
    sim = engine.create("brusselator", grid=64, device="cpu", seed=1)
    for _ in range(5):
        sim.step(20)
        fresh = sim.model.observables()["lambda_measured"]
        sim.model._measured_at = None  # force a new measurement of the same state
        assert sim.model.observables()["lambda_measured"] == fresh
    sim.model.display_mode = True  # live frames may reuse a measurement for a moment
    before = sim.model.observables()["lambda_measured"]
    sim.step(200)
    assert sim.model.observables()["lambda_measured"] == before
