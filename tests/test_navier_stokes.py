"""2D Navier–Stokes (vorticity): exact solutions (Taylor–Green decay, the forced
laminar flow), invariants (zero mean vorticity, monotone energy decay, the
energy balance dE/dt = −2νZ, inviscid conservation of energy and enstrophy),
self-convergence at 4× the resolution, agreement with an independent numpy
implementation of Li et al.'s own scheme, the direction a vortex dipole
travels, the random-field draws, and the model's set_state, painting and
time-step checks.
"""

import math

import numpy as np
import pytest
import torch

from attractor_lab import engine
from attractor_lab.engine.models.base import SimulationDiverged
from attractor_lab.engine.models.neural_operator import _spectral as sp


def run_to(sim, t):
    while sim.time < t - 1e-12:
        sim.step(1)
    assert sim.time == pytest.approx(t, abs=1e-12)


def grid(n):
    return np.arange(n) / n


def test_taylor_green_decays_exactly():
    # w = 2k cos kx cos ky is a Laplacian eigenfunction with u·∇w ≡ 0: w(t) = w(0) e^{−2νk²t}
    nu, k = 2e-3, 4 * math.pi
    sim = engine.create("navier_stokes", device="cpu", grid=32, initial="taylor_green", forcing=0.0,
                        viscosity=nu, dtype="float64")
    w0, e0 = sim.state()["w"], sim.observables()["energy"]
    x = grid(32)
    assert w0 == pytest.approx(2 * k * np.cos(k * x)[:, None] * np.cos(k * x)[None, :], abs=1e-12)
    run_to(sim, 1.0)
    decay = math.exp(-2 * nu * k * k * 1.0)
    assert np.abs(sim.state()["w"] - w0 * decay).max() < 1e-12 * np.abs(w0).max()
    assert sim.observables()["energy"] == pytest.approx(e0 * decay**2, rel=1e-12)


def test_forced_laminar_flow_from_rest_is_exact_for_each_amplitude():
    # Li et al.'s forcing depends on x + y only: the flow it drives has u·∇w ≡ 0, and
    # w(t) = a f (1 − e^{−λt})/λ with λ = 8π²ν (|k|² of the forcing mode)
    n, nu = 32, 0.01
    amps = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
    w = sp.navier_stokes_solve(torch.zeros(3, n, n, dtype=torch.float64), nu, 2.0, forcing=amps, snapshots=2)
    lam = 8 * math.pi**2 * nu
    f = sp.li_forcing(n)
    for j, t in enumerate((1.0, 2.0)):
        exact = amps[:, None, None] * f * (1 - math.exp(-lam * t)) / lam
        assert torch.allclose(w[:, j], exact, atol=1e-13)
    x = grid(n)
    assert f.numpy() == pytest.approx(0.1 * (np.sin(2 * np.pi * (x[:, None] + x[None, :]))
                                             + np.cos(2 * np.pi * (x[:, None] + x[None, :]))), abs=1e-15)


def test_unforced_flow_loses_energy_every_step_and_keeps_zero_mean():
    sim = engine.create("navier_stokes", device="cpu", grid=48, initial="random", forcing=0.0, viscosity=1e-3,
                        dtype="float64", seed=2)
    energies, means = [], []
    w_max = sim.observables()["max_vorticity"]
    for _ in range(150):
        sim.step(1)
        o = sim.observables()
        energies.append(o["energy"])
        means.append(o["mean_vorticity"])
    assert (np.diff(energies) < 0).all()
    assert np.abs(means).max() < 1e-15 * w_max
    assert abs(float(sim.state()["w"].mean())) < 1e-15 * w_max


def test_energy_balance_dE_dt_equals_minus_two_nu_enstrophy():
    # unforced: the nonlinear term of the dealiased system conserves energy, so dE/dt = −2νZ
    sim = engine.create("navier_stokes", device="cpu", grid=32, initial="random", forcing=0.0, viscosity=5e-3,
                        dtype="float64", dt=2.0**-9, seed=4)
    sim.step(64)
    e = []
    for i in range(5):
        e.append(sim.observables()["energy"])
        if i == 2:
            z = sim.observables()["enstrophy"]
        sim.step(1)
    rate = (-e[4] + 8 * e[3] - 8 * e[1] + e[0]) / (12 * sim.model.dt)
    assert rate == pytest.approx(-2 * 5e-3 * z, rel=1e-8)


def test_inviscid_flow_conserves_energy_and_enstrophy():
    # the dealiased nonlinear term conserves both exactly; what is lost is RK4's own damping
    # of the fastest retained modes (∝ C⁶ per step): ~1e-8 of the enstrophy at C = 0.5
    g = torch.Generator().manual_seed(5)
    w0 = sp.navier_stokes_grf(2, 32, generator=g, dtype=torch.float64)
    solver = sp.NavierStokesSolver(32, dtype=torch.float64)
    w = sp.navier_stokes_solve(w0, 0.0, 2.0, forcing=0.0, cfl=0.5)
    before, after = solver.to_spectral(w0), solver.to_spectral(w)
    assert torch.allclose(solver.energy(after), solver.energy(before), rtol=2e-9, atol=0)
    assert torch.allclose(solver.enstrophy(after), solver.enstrophy(before), rtol=1e-7, atol=0)
    assert float((w - w0).abs().max()) > 0.1 * float(w0.abs().max())  # it did move


def _refine(w, factor):
    n, big = w.shape[-1], factor * w.shape[-1]
    wh = torch.fft.rfft2(w)
    out = torch.zeros(w.shape[:-2] + (big, big // 2 + 1), dtype=wh.dtype)
    h = n // 2
    out[..., :h, :h], out[..., -h:, :h] = wh[..., :h, :h], wh[..., -h:, :h]
    return torch.fft.irfft2(out, s=(big, big)) * factor**2


@pytest.mark.parametrize("nu, tol", [(1e-3, 2e-5), (1e-2, 5e-6)])
def test_self_convergence_at_four_times_the_resolution(nu, tol):
    # Li et al.'s forced setting from the same band-limited random start on 32² and 128²
    # (the fine run's CFL step is 4× smaller), compared at the coarse points after t = 2
    n = 32
    solver = sp.NavierStokesSolver(n, dtype=torch.float64)
    w0 = sp.navier_stokes_grf(2, n, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    w0 = solver.to_physical(solver.to_spectral(w0) * solver.keep)
    coarse = sp.navier_stokes_solve(w0, nu, 2.0)
    fine = sp.navier_stokes_solve(_refine(w0, 4), nu, 2.0)
    err = float((coarse - fine[:, ::4, ::4]).abs().max() / fine.abs().max())
    assert err < tol


def li_et_al_step_numpy(w_h, f_h, nu, dt, n):
    """One step of Li et al.'s data generator (Crank–Nicolson viscosity, explicit
    nonlinear term and forcing), re-written in numpy: an independent implementation."""
    k = np.fft.fftfreq(n, 1.0 / n)
    k_x, k_y = k[:, None], np.arange(n // 2 + 1)[None, :]
    lap = 4 * np.pi**2 * (k_x**2 + k_y**2)
    lap[0, 0] = 1.0
    dealias = (np.abs(k_x) <= 2.0 / 3.0 * (n // 2)) & (np.abs(k_y) <= 2.0 / 3.0 * (n // 2))
    psi_h = w_h / lap
    q = np.fft.irfft2(2j * np.pi * k_y * psi_h, s=(n, n))
    v = np.fft.irfft2(-2j * np.pi * k_x * psi_h, s=(n, n))
    w_x = np.fft.irfft2(2j * np.pi * k_x * w_h, s=(n, n))
    w_y = np.fft.irfft2(2j * np.pi * k_y * w_h, s=(n, n))
    f_nl = dealias * np.fft.rfft2(q * w_x + v * w_y)
    return (-dt * f_nl + dt * f_h + (1.0 - 0.5 * dt * nu * lap) * w_h) / (1.0 + 0.5 * dt * nu * lap)


def test_agrees_with_li_et_al_scheme_in_numpy():
    # their first-order scheme at dt and dt/2, Richardson-extrapolated, against ours
    n, nu, t_end = 32, 1e-3, 0.25
    w0 = sp.navier_stokes_grf(1, n, generator=torch.Generator().manual_seed(9), dtype=torch.float64)[0]
    solver = sp.NavierStokesSolver(n, dtype=torch.float64)
    w0 = solver.to_physical(solver.to_spectral(w0) * solver.keep)  # the band both schemes keep
    f_h = np.fft.rfft2(sp.li_forcing(n).numpy())
    ends = []
    for dt in (2.5e-3, 1.25e-3):
        w_h = np.fft.rfft2(w0.numpy())
        for _ in range(round(t_end / dt)):
            w_h = li_et_al_step_numpy(w_h, f_h, nu, dt, n)
        ends.append(np.fft.irfft2(w_h, s=(n, n)))
    reference = 2 * ends[1] - ends[0]
    ours = sp.navier_stokes_solve(w0, nu, t_end).numpy()
    scale = np.abs(reference).max()
    assert np.abs(ends[1] - ours).max() > 1e-5 * scale  # first order: visibly off at dt/2 …
    assert np.abs(reference - ours).max() < 2e-6 * scale  # … second order after extrapolation


def test_vortex_dipole_travels_the_way_its_vortices_push_each_other():
    # + vortex at y = 0.425, − at y = 0.575 (same x): each is carried along −x by the other;
    # with the periodic images (a column of dipoles, period 1) the point-vortex speed is
    # Γ cot(πd)/2, Γ = 2π a² w_peak for a Gaussian of core a. The cores (where w > ½ max)
    # start at that speed; later the pair deforms and slows
    sim = engine.create("navier_stokes", device="cpu", grid=64, initial="vortex_pair", forcing=0.0,
                        viscosity=1e-4, dtype="float64")

    def core_x(w):
        weight = np.clip(w - 0.5 * w.max(), 0, None).sum(1)  # the + core, by row (x)
        angle = 2 * np.pi * grid(w.shape[0])
        return (np.angle((weight * np.exp(1j * angle)).sum()) / (2 * np.pi)) % 1.0

    x0 = core_x(sim.state()["w"])
    assert x0 == pytest.approx(0.5, abs=1e-9)
    run_to(sim, 0.125)
    gamma = 2 * math.pi * 0.04**2 * 20.0
    speed = (core_x(sim.state()["w"]) - x0) / 0.125
    assert speed == pytest.approx(-gamma / (2 * math.tan(0.15 * math.pi)), rel=0.06)


def test_grf_draws_have_li_et_al_spectrum():
    # E|ŵ_k|²/n⁴ = σ²(4π²|k|² + τ²)^(−α), σ = τ^(α−1): GaussianRF(2, n, alpha=2.5, tau=7)
    n, batch = 32, 1500
    w = sp.navier_stokes_grf(batch, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    power = (torch.fft.fft2(w).abs() ** 2).mean(0) / n**4
    for kx, ky in ((1, 0), (0, 2), (1, 1), (3, 2)):
        expected = 7.0**3 * (4 * math.pi**2 * (kx**2 + ky**2) + 49.0) ** -2.5
        assert float(power[kx, ky]) == pytest.approx(expected, rel=0.12)
    assert float(w.mean((-2, -1)).abs().max()) < 1e-12
    w32 = sp.navier_stokes_grf(2, n, generator=torch.Generator().manual_seed(0))
    assert w32.dtype == torch.float32 and torch.allclose(w32.double(), w[:2], atol=1e-5)


def test_set_state_checks_shape_and_finiteness_and_removes_the_mean():
    sim = engine.create("navier_stokes", device="cpu", grid=32, dtype="float64")
    with pytest.raises(ValueError, match=r"shape \(32, 32\)"):
        sim.model.set_state(w=np.zeros((32, 16)))
    bad = np.zeros((32, 32))
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="finite"):
        sim.model.set_state(w=bad)
    x = grid(32)
    w = np.sin(2 * np.pi * x)[:, None] * np.cos(4 * np.pi * x)[None, :] + 0.3
    sim.model.set_state(w=w)
    assert np.abs(sim.state()["w"] - (w - 0.3)).max() < 1e-14
    assert abs(sim.observables()["mean_vorticity"]) < 1e-16


def test_painting_adds_a_gaussian_vortex_where_clicked_with_zero_mean():
    sim = engine.create("navier_stokes", device="cpu", grid=64, initial="rest", dtype="float64")
    sim.model.paint("w", 40.0, 10.0, 6.0, 5.0, "add")  # image column 40 (y), row 10 (x)
    w = sim.state()["w"]
    assert np.unravel_index(np.argmax(w), w.shape) == (10, 40)
    assert w[10, 40] == pytest.approx(5.0, rel=0.05)
    assert abs(sim.observables()["mean_vorticity"]) < 1e-15
    sim.model.paint("w", 40.0, 10.0, 6.0, -2.0, "set")
    assert sim.state()["w"][10, 40] == pytest.approx(-2.0, rel=0.05)
    sim.step(10)
    assert sim.observables()["energy"] > 0  # the painted vortex now drives the flow


def test_viscosity_and_forcing_are_live_and_dt_is_checked():
    sim = engine.create("navier_stokes", device="cpu", grid=32, initial="random", amplitude=5.0, dtype="float64")
    sim.step(20)
    sim.set(forcing=0.0, viscosity=0.02)  # decaying now, at the new viscosity
    sim.step(3)
    e0, z0 = sim.observables()["energy"], sim.observables()["enstrophy"]
    sim.step(1)
    assert sim.observables()["energy"] < e0
    assert (sim.observables()["energy"] - e0) / sim.model.dt == pytest.approx(-2 * 0.02 * z0, rel=0.05)
    bad = 3.0 / (sim.model.solver.k_cut * sim.model.solver.max_speed(sim.model._vh))  # CFL number 3
    with pytest.raises(ValueError, match=r"dt = .*CFL number"):
        sim.set(dt=bad, forcing=0.0)
    assert sim.params["dt"] == 0.0 and sim.params["forcing"] == 0.0
    sim.model.set_state(w=np.zeros((32, 32)))
    sim.set(dt=0.1, forcing=5.0, viscosity=1e-3)  # at rest any dt passes; then the forcing speeds it up
    with pytest.raises(SimulationDiverged, match=r"dt = 0\.1 gives CFL number"):
        sim.step(2000)
    assert 1.0 < sim.time < 20.0
    assert math.isfinite(sim.observables()["energy"])


def test_grid_is_structural_and_the_spectrum_sums_to_the_energy():
    sim = engine.create("navier_stokes", device="cpu", grid=32, dtype="float64")
    assert sim.set(grid=48) == ["grid"]
    sim.reset(seed=3)
    st, obs = sim.state(), sim.observables()
    assert st["w"].shape == (48, 48) and st["spectrum"].shape == st["k_shell"].shape
    full = sim.model.solver.energy_spectrum(sim.model._vh)[0]
    assert float(full.sum()) == pytest.approx(obs["energy"], rel=1e-12)
