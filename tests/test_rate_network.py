"""Random rate network (Sompolinsky–Crisanti–Sommers): Lyapunov exponent on both sides of
the transition, noise, dimension, the CPU kernels against torch and parameters. What the
shipped presets show is their [contract] (tests/test_preset_contracts.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attractor_lab import engine

#: transient (20 time units) + 200 time units of averaging at dt = 0.05
STEPS = 4400


def make(**params):
    seed = params.pop("seed", 0)
    return engine.create("rate_network", seed=seed, device="cpu", **params)


def rightmost_eigenvalue(sim) -> float:
    return float(np.linalg.eigvals(sim.model.J.double().numpy()).real.max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lyapunov_below_the_transition_is_g_minus_one(dtype):
    sim = make(neurons=500, g=0.5, dtype=dtype)
    assert math.isnan(sim.observables()["lyapunov"])  # nothing averaged during the transient
    sim.step(STEPS)
    obs = sim.observables()
    assert obs["lyapunov_time"] == pytest.approx(200.0, abs=0.1)
    assert obs["lyapunov"] == pytest.approx(-0.5, abs=0.1)  # N → ∞ theory
    assert obs["lyapunov_theory"] == -0.5
    # this J: the quiet state's slowest mode decays at 1 − g Re μ_max. The running
    # average approaches it as ln(overlap of δ(0) with the top mode)/t: within 0.016
    # after 200 time units over 8 networks tried (N = 500, both dtypes)
    assert obs["lyapunov"] == pytest.approx(0.5 * rightmost_eigenvalue(sim) - 1.0, abs=0.02)
    assert obs["mean_abs_x"] < 1e-6  # the activity died out


def test_lyapunov_above_the_transition_is_positive():
    sim = make(neurons=500, g=2.0, seed=1)
    sim.step(STEPS)
    obs = sim.observables()
    assert 0.03 < obs["lyapunov"] < 0.3
    assert math.isnan(obs["lyapunov_theory"])
    assert obs["mean_abs_x"] > 0.5  # self-sustained activity
    assert obs["dimension"] > 2.0


def test_numba_kernels_match_the_torch_path():
    pytest.importorskip("numba")
    for dtype, tol in (("float64", 1e-11), ("float32", 1e-4)):
        for track in (True, False):
            fused = make(neurons=203, g=2.0, dtype=dtype, track_lyapunov=track)  # 203: rows left after the blocks
            plain = make(neurons=203, g=2.0, dtype=dtype, track_lyapunov=track)
            assert fused.model._fused is not None
            plain.model._fused = None  # the torch path (the GPU's)
            fused.step(420)  # past the transient: λ is compared too
            plain.step(420)
            assert torch.allclose(fused.model.y, plain.model.y, atol=tol, rtol=0)
            if track:
                assert fused.observables()["lyapunov"] == pytest.approx(plain.observables()["lyapunov"], abs=1e-5)


def test_parallel_kernel_matches_the_serial_one():
    kernels = pytest.importorskip("attractor_lab.engine.models.neural_ode._rate_kernels")
    rng = np.random.default_rng(0)
    n = 37
    j = rng.standard_normal((n, n)) / math.sqrt(n)
    y = rng.standard_normal((2, n))
    th = np.tanh(y[0])
    for rows in (1, 2):
        out_s, out_p = np.zeros((2, n)), np.zeros((2, n))
        kernels.field(j, y, th, np.empty(n), 1.7, out_s, rows)
        kernels.field_parallel(j, y, th, np.empty(n), 1.7, out_p, rows)
        expect = np.stack([-y[0] + 1.7 * j @ th, -y[1] + 1.7 * j @ ((1 - th**2) * y[1])])
        np.testing.assert_allclose(out_s[:rows], expect[:rows], atol=1e-12)
        np.testing.assert_allclose(out_p[:rows], expect[:rows], atol=1e-12)


def test_noise_amplitude_and_tangent():
    # g = 0: independent Ornstein–Uhlenbeck units dx = −x dt + σ dW. The step is
    # x → a x + σ√h ζ with a the RK4 factor of e^{−h}: stationary variance
    # σ²h/(1 − a²) (→ σ²/2 as h → 0) and ⟨|x|⟩ = √(2 var/π). λ = −1 up to RK4's
    # O(h⁴), noise or not: the same noise on both copies cancels from the tangent.
    sigma, h = 0.2, 0.05
    sim = make(neurons=500, g=0.0, noise=sigma, dt=h, dtype="float64")
    sim.step(400)
    values = []
    for _ in range(100):
        sim.step(40)
        values.append(sim.observables()["mean_abs_x"])
    a = 1 - h + h**2 / 2 - h**3 / 6 + h**4 / 24
    expected = math.sqrt(2.0 / math.pi * sigma**2 * h / (1 - a * a))
    assert np.mean(values) == pytest.approx(expected, rel=0.01)
    assert sim.observables()["lyapunov"] == pytest.approx(-1.0, abs=1e-6)


def test_dimension_and_pca_agree_with_numpy():
    from attractor_lab.engine.models.neural_ode.rate_network import PCA_SAMPLES

    sim = make(neurons=300, g=2.5, dtype="float64")
    sim.step(PCA_SAMPLES * 10 + 37)  # the window full and wrapped round
    model = sim.model
    order = model._ordered(model._window_count, PCA_SAMPLES)
    window = model._window.numpy()[order]
    cov = np.cov(window.T)
    ev = np.linalg.eigvalsh(cov)[::-1]
    assert sim.observables()["dimension"] == pytest.approx(ev.sum() ** 2 / (ev**2).sum(), rel=1e-8)
    traj = sim.state()["pca_trajectory"]
    assert traj.shape == (PCA_SAMPLES, 3) and np.isfinite(traj).all()
    # projections on the top principal axes: variances are the top covariance eigenvalues
    np.testing.assert_allclose(traj.var(0, ddof=1), ev[:3], rtol=1e-6)
    # and the newest point is the newest sample, projected
    np.testing.assert_allclose(traj[-1], (window[-1] - window.mean(0)) @ model._basis.numpy(), atol=1e-9)


def test_changing_g_restarts_the_average_and_keeps_the_measured_point():
    sim = make(neurons=300, g=0.5)
    sim.step(1400)  # 70 time units: 50 averaged
    before = sim.observables()["lyapunov"]
    sim.set(g=1.5)
    assert math.isnan(sim.observables()["lyapunov"]) and sim.observables()["lyapunov_time"] == 0.0
    state = sim.state()
    assert state["measured_g"].tolist() == [0.5]
    assert state["measured_lambda"][0] == pytest.approx(before)
    sim.step(500)  # 25 time units: past the transient again
    assert sim.observables()["lyapunov_time"] == pytest.approx(5.0, abs=0.06)
    sim.set(noise=0.1)  # another noise level: the measured curve starts again
    assert sim.state()["measured_g"].size == 0


def test_state_arrays_and_views():
    sim = make(neurons=1000)
    sim.step(300)
    state, obs = sim.state(), sim.observables()
    assert state["rates"].shape == (128, 256) and np.abs(state["rates"]).max() <= 1.0
    # the raster's newest column is tanh of the current state
    np.testing.assert_allclose(state["rates"][:, 150], np.tanh(sim.model.y[0, :128].numpy()), atol=1e-6)
    assert np.isnan(state["rates"][:, 151:]).sum() == 0 and (state["rates"][:, 151:] == 0).all()
    t = state["trace_t"]
    assert np.nanmax(t) == pytest.approx(sim.time) and np.all(np.diff(t[:151]) > 0)
    # the traces' axis: time before now, inside the view's fixed window
    age = state["trace_age"]
    assert np.nanmax(age) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(age[:151], t[:151] - sim.time)
    (xlim,) = [v["xlim"] for v in sim.model.views if v.get("title") == "Unit traces x_i(t)"]
    assert xlim[0] <= np.nanmin(age) and xlim[1] == 0.0
    for view in sim.model.views:
        for key in ("array",):
            if key in view and view["kind"] != "text":
                assert view[key] in state
        for name in view.get("observables", []):
            assert name in obs
        for s in view.get("series", []):
            assert s["x"] in state and s["y"] in state
        for p in view.get("points", []):
            assert p["x"] in obs and p["y"] in obs
    small = make(neurons=10)
    small.step(5)
    assert small.state()["rates"].shape == (10, 256)


def test_same_seed_same_run():
    a, b, c = make(neurons=200, seed=4), make(neurons=200, seed=4), make(neurons=200, seed=5)
    for sim in (a, b, c):
        sim.step(50)
    assert torch.equal(a.model.y, b.model.y)
    assert not torch.equal(a.model.y, c.model.y)


@pytest.mark.parametrize(
    "params, needle",
    [
        ({"neurons": 20_000}, "'neurons' = 20000 needs a 20000×20000 coupling matrix (1.60 GB in float32); on the CPU the limit is 10000"),
        ({"g": 6.0}, "parameter 'g': 6.0 is not allowed; expected a number in [0, 5]"),
        ({"dt": 0.5}, "parameter 'dt': 0.5 is not allowed; expected a number in [0.001, 0.1]"),
        ({"dtype": "float16"}, "parameter 'dtype': 'float16' is not allowed; expected one of 'float32', 'float64'"),
        ({"noise": -1.0}, "parameter 'noise'"),
        ({"neurons": 5}, "parameter 'neurons': 5 is not allowed; expected an integer in [10, 100000]"),
    ],
)
def test_bad_parameters_are_refused_by_name(params, needle):
    with pytest.raises(ValueError) as exc:
        make(**params)
    assert needle in str(exc.value)


def test_a_refused_size_keeps_the_running_network():
    sim = make(neurons=100)
    sim.set(neurons=20_000)
    with pytest.raises(ValueError, match="neurons"):
        sim.reset()
    assert sim.model.J.shape == (100, 100)
    sim.step(3)



def test_pca_basis_refreshed_by_subspace_iteration_matches_a_full_eigh():
    """The 3D view's principal axes are refreshed from the last ones (subspace iteration, ~1 ms)
    instead of a full eigh of the 400 × 400 Gram matrix (~14 ms, one frame in 20 late): the
    leading eigenvalues agree with the full decomposition and the top-3 subspaces coincide."""
    import torch

    from attractor_lab.engine.models.neural_ode import rate_network as rn

    sim = make(neurons=300)
    m = sim.model
    calls = {"full": 0}
    real = torch.linalg.eigh

    def counting(a, *args, **kwargs):
        if a.shape[0] > rn.RITZ_BLOCK:
            calls["full"] += 1
        return real(a, *args, **kwargs)

    sim.step(int(rn.PCA_SAMPLES * rn.PCA_INTERVAL / m.dt) + 50)  # the window full
    m.state()
    torch.linalg.eigh = counting
    try:
        for _ in range(5):
            sim.step(int(rn.PCA_REFRESH * rn.PCA_INTERVAL / m.dt) + 1)
            m.state()
    finally:
        torch.linalg.eigh = real
    assert calls["full"] == 0, "the refresh fell back to a full eigh every time"
    gc = m._centred_gram()
    top, u = m._top_eigen(gc)
    evals, evecs = torch.linalg.eigh(gc)
    exact = evals.flip(0)[:3]
    np.testing.assert_allclose(top.numpy(), exact.numpy(), rtol=1e-3)
    # principal angles between the two top-3 subspaces: cosines ≈ 1
    cosines = torch.linalg.svdvals(u.T @ evecs.flip(1)[:, :3])
    assert float(cosines.min()) > 0.99
