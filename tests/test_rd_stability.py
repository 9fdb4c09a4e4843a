"""Stiffness-aware stability of the reaction–diffusion steps, the grid-scale detector, the
measured wavelength of a field without a pattern, and the pacemaker."""

import math

import numpy as np
import pytest
import torch

from attractor_lab import engine
from attractor_lab.engine.analysis.morphology import classify_pattern, nyquist_fraction
from attractor_lab.engine.models.reaction_diffusion import _numerics as num
from attractor_lab.engine.models.reaction_diffusion.core import NumericalInstability
from attractor_lab.engine.theory.turing import jacobian_complex_step

SYSTEMS = ["gray_scott", "fitzhugh_nagumo", "barkley", "brusselator", "schnakenberg", "lambda_omega"]
# the Brusselator of the old 'stripes' preset: a = 3, b = 9, Du = 1, Dv = 8, h = 0.5
STIFF = dict(a=3.0, b=9.0, Du=1.0, Dv=8.0, grid=96, length=48.0, scheme="euler", noise=0.05)


@pytest.fixture(autouse=True)
def _eager(monkeypatch):
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "0")


def test_the_brusselator_artefact_is_paused_with_dt_and_the_limit():
    sim = engine.create("brusselator", device="cpu", seed=0, dt=0.007, **STIFF)
    assert sim.model.explicit_limit() == pytest.approx(0.0078125)  # the diffusion check alone passes
    with pytest.raises(NumericalInstability) as exc:
        sim.step(20_000)
    text = str(exc.value)
    assert "dt = 0.007 exceeds the stability limit" in text and "scheme='etdrk4'" in text
    limit = float(text.split("stability limit ")[1].split()[0])
    assert 0.005 < limit < 0.007
    # restored to the last state that passed: no checkerboard, v never negative, time consistent
    state, model = sim.state(), sim.model
    assert model.steps < 20_000 and model.time == pytest.approx(model.steps * 0.007)
    assert f"restored step {model.steps}" in text
    assert nyquist_fraction(state["v"]) < 1e-6 and state["v"].min() > 0
    assert sim.observables()["stability_ratio"] <= 1.0


def test_a_stable_step_gives_spots_without_grid_scale_power():
    sim = engine.create("brusselator", device="cpu", seed=0, dt=0.004, **STIFF)
    sim.step(4000)
    earlier = sim.state()["u"].copy()
    sim.step(200)
    state = sim.state()
    assert classify_pattern(state["u"], earlier).pattern == "spots"
    assert max(nyquist_fraction(state["u"]), nyquist_fraction(state["v"])) < 1e-4  # sharp peaks: 2e-5
    obs = sim.observables()
    assert 0.5 < obs["stability_ratio"] < 0.9 and 0.004 < obs["dt_limit"] < 0.0065


def test_live_dt_that_the_state_cannot_take_is_refused():
    sim = engine.create("brusselator", device="cpu", seed=0, dt=0.004, **STIFF)
    sim.step(3000)  # grown spots: u ≈ 10 at the peaks
    before = dict(sim.params)
    with pytest.raises(ValueError, match=r"dt = 0.007 refused: dt = 0.007 exceeds the stability limit"):
        sim.set(dt=0.007)  # below the diffusion limit 0.0078, above the state's
    assert sim.params == before
    sim.set(dt=0.0045)  # still stable here: accepted
    sim.step(10)


def test_etdrk4_is_checked_on_the_reaction_alone():
    sim = engine.create("brusselator", device="cpu", seed=0, **{**STIFF, "scheme": "etdrk4", "dt": 0.02})
    sim.step(1500)  # spots; the reaction's own stiffness (|λ| ≈ 100 at the peaks) allows dt ≲ 0.028
    rep = sim.model.stability()
    assert 0.02 < rep.dt_limit < 0.035
    with pytest.raises(ValueError, match="etdrk4's explicit reaction"):
        sim.set(dt=0.05)


def test_pearsons_gray_scott_at_dt_1_runs():
    # diffusion alone takes 1.68 of Euler's 2: a bound with slack would stop this classic
    sim = engine.create("gray_scott", device="cpu", seed=0, F=0.026, k=0.051, Du=2e-5, Dv=1e-5, length=1.25,
                        grid=128, dt=1.0, seeding="random_spots")
    sim.step(1500)
    assert sim.observables()["stability_ratio"] < 1.0


def test_the_nyquist_detector_catches_what_the_bound_misses(monkeypatch):
    # blind the local analysis (a limit of 100 instead of 2): the detector alone must stop the run
    monkeypatch.setitem(num.REAL_AXIS_LIMIT, "euler", 100.0)
    sim = engine.create("brusselator", device="cpu", seed=0, dt=0.007, **STIFF)
    with pytest.raises(NumericalInstability, match="grid-scale oscillation grows in v") as exc:
        sim.step(20_000)
    assert "lower dt (now 0.007)" in str(exc.value)
    assert nyquist_fraction(sim.state()["v"]) < 0.02  # the restored state is clean


def test_checks_are_not_run_every_step(monkeypatch):
    sim = engine.create("gray_scott", device="cpu", grid=32)
    calls = []
    original = type(sim.model).stability
    monkeypatch.setattr(type(sim.model), "stability", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    sim.step(2000)
    assert 2000 / 256 - 1 <= len(calls) <= 2000 / 16
    calls.clear()
    for _ in range(200):
        sim.step(1)  # many short calls: the cost cap keeps checks rare
    assert len(calls) < 100


@pytest.mark.parametrize("name", SYSTEMS)
def test_dual_number_jacobian_is_exact(name):
    model = engine.create(name, device="cpu", grid=16, seed=3, dtype="float64", noise=0.3,
                          seeding="uniform_noise").model
    f = model.fields
    p = {n: float(model.p[n]) for n in model.reaction_names}
    jac = [torch.as_tensor(x, dtype=torch.float64).expand(16, 16)
           for x in num.reaction_jacobian(type(model).reaction, f[0], f[1], p)]
    for i, j in ((0, 0), (3, 7), (15, 2)):
        exact = jacobian_complex_step(type(model).reaction, float(f[0, i, j]), float(f[1, i, j]), p)
        got = np.array([[jac[0][i, j], jac[1][i, j]], [jac[2][i, j], jac[3][i, j]]])
        np.testing.assert_allclose(got, exact, rtol=1e-12, atol=1e-12)


def test_local_reach_is_the_largest_left_eigenvalue():
    model = engine.create("brusselator", device="cpu", grid=16, seed=1, dtype="float64", noise=1.0).model
    f = model.fields
    p = {n: float(model.p[n]) for n in model.reaction_names}
    mu = 8.0 / model.cell_size**2
    rho, at = num.local_reach(type(model).reaction, f, p, (1.0, 8.0), mu)
    best = 0.0
    for i in range(16):
        for j in range(16):
            jac = jacobian_complex_step(type(model).reaction, float(f[0, i, j]), float(f[1, i, j]), p)
            lam = np.linalg.eigvals(jac - mu * np.diag([1.0, 8.0]))
            best = max(best, max(abs(x) for x in lam if x.real < 0))
    assert rho == pytest.approx(best, rel=1e-10)
    assert f.reshape(2, -1)[:, at].tolist() == pytest.approx(model.stability().at)


# ---- measured wavelength without a pattern -------------------------------------------------
def test_measured_wavelength_is_a_dash_without_a_pattern():
    sim = engine.create("gray_scott", device="cpu", grid=32, seeding="uniform_noise", noise=0.0)
    sim.step(10)
    obs = sim.observables()
    assert math.isnan(obs["lambda_measured"]) and math.isnan(obs["k_measured"])
    assert "measured λ = —" in sim.model.texts()["turing"]
    # a Turing pattern still gets its wavelength
    sim = engine.create("brusselator", device="cpu", grid=64, length=32.0, seed=0)
    sim.step(4000)
    assert 4.0 < sim.observables()["lambda_measured"] < 5.0


def test_a_growing_colony_of_spots_gets_the_spacing_of_its_spots():
    """Gray–Scott spots at step 3000 fill only the middle of the domain: the spectrum's strongest
    ring is the colony's envelope (one period across), and the panel said "measured λ = —" beside
    visible spots. The measured λ is now the peak above the lowest rings: the spot spacing."""
    from attractor_lab.engine.storage.presets import load_preset, shipped_presets_dir
    from attractor_lab.engine.theory import turing

    p = load_preset(shipped_presets_dir() / "gray_scott_spots.toml")
    sim = engine.create(p.model, seed=p.seed, device="cpu", **p.params)
    sim.step(3000)
    v, length = sim.state()["v"], sim.model.length
    assert not turing.dominant_wavelength(v, length)[1] < 0.99 * length  # the envelope dominates
    lam = sim.observables()["lambda_measured"]
    assert 0.1 < lam < 0.2  # Pearson's spots, about 15 cells of 2.5/256 apart
    assert "measured λ = —" not in sim.model.texts()["turing"]


def test_no_predicted_wavelength_where_the_uniform_mode_is_fastest():
    obs = engine.create("lambda_omega", device="cpu", grid=32).observables()
    assert math.isnan(obs["lambda_predicted"])  # Hopf-like bulk instability: no wavelength


# ---- pacemaker -------------------------------------------------------------------------------
def test_pacemaker_sustains_target_waves():
    common = dict(device="cpu", grid=64, length=64.0, dt=0.1, eps=0.1, boundary="neumann",
                  seeding="uniform_noise", noise=0.0, pacing_radius=3.0)
    paced = engine.create("fitzhugh_nagumo", pacing_period=12.0, **common)
    quiet = engine.create("fitzhugh_nagumo", **common)
    for sim in (paced, quiet):
        sim.step(1500)
    assert quiet.state()["u"].std() < 1e-6  # at rest, nothing fires
    u = paced.state()["u"]
    assert u.std() > 0.5 and (u > 0).mean() > 0.1  # rings fired long after the start
    earlier = u.copy()
    paced.step(30)
    assert classify_pattern(paced.state()["u"], earlier).pattern == "waves"
