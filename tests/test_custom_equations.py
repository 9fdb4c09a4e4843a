"""custom_ode and custom_rd: typed systems reproduce the built-in models' science."""

from __future__ import annotations

import math

import numpy as np
import pytest

import attractor_lab as al
from attractor_lab.engine.equations import EquationError

VDP = """dx/dt = y
dy/dt = mu*(1 - x^2)*y - x
par mu = 1.5 [0, 10]
init x = 2, y = 0
"""
LOTKA = """dx/dt = alpha*x - beta*x*y
dy/dt = delta*x*y - gamma*y
par alpha = 1 [0, 10], beta = 0.5 [0, 10], gamma = 0.75 [0, 10], delta = 0.25 [0, 10]
init x = 4, y = 1
"""


def test_typed_van_der_pol_has_the_built_in_period():
    sim = al.create("custom_ode", device="cpu", equations=VDP, mu=2.0, trajectories=1, lyapunov=False,
                    rtol=1e-10, atol=1e-12, dt=1.0)
    sim.step(60)
    period = sim.observables()["period"]
    assert period == pytest.approx(7.629874, abs=1e-4)
    assert sim.params["mu"] == 2.0


def test_declared_parameters_are_live_sliders_with_their_ranges():
    sim = al.create("custom_ode", device="cpu", equations=VDP)
    params = {p["name"]: p for p in sim.model.declaration()["params"]}
    assert (params["mu"]["min"], params["mu"]["max"], params["mu"]["default"], params["mu"]["live"]) == (0, 10, 1.5, True)
    assert params["equations"]["kind"] == "text" and not params["equations"]["live"]
    assert sim.set(mu=3.0) == []
    with pytest.raises(ValueError, match=r"'mu': 11.0 is not allowed; expected a number in \[0, 10\]"):
        sim.set(mu=11.0)
    with pytest.raises(ValueError, match="unknown parameter 'k'"):
        sim.set(k=1.0)


def test_typed_lotka_volterra_fixed_points_and_stability_are_exact():
    sim = al.create("custom_ode", device="cpu", equations=LOTKA, trajectories=1)
    pts, eig, kinds = sim.model.fixed_points()
    order = np.argsort(pts[:, 0])
    pts, eig, kinds = pts[order], eig[order], kinds[order]
    # (0, 0): a saddle with eigenvalues α and −γ; (γ/δ, α/β) = (3, 2): a centre ±i √(αγ)
    assert pts == pytest.approx(np.array([[0.0, 0.0], [3.0, 2.0]]), abs=1e-10)
    assert sorted(eig[0].real) == pytest.approx([-0.75, 1.0], abs=1e-12)
    assert eig[1].real == pytest.approx([0.0, 0.0], abs=1e-12)
    assert sorted(eig[1].imag) == pytest.approx([-math.sqrt(0.75), math.sqrt(0.75)], abs=1e-12)
    assert list(kinds) == [2, 3]  # saddle, marginal (centre)


def test_equations_change_at_reset_and_the_schema_follows():
    sim = al.create("custom_ode", device="cpu", equations=VDP, mu=2.0)
    assert sim.set(equations=LOTKA) == ["equations"]
    sim.reset()
    names = {p.name for p in sim.model.schema.values()}
    assert {"alpha", "beta", "gamma", "delta"} <= names and "mu" not in names
    assert sim.params["alpha"] == 1.0 and "mu" not in sim.params


def test_bad_equations_refused_and_the_model_keeps_running():
    sim = al.create("custom_ode", device="cpu", equations=VDP)
    sim.set(equations="dx/dt = y\ndy/dt = -k*x")
    with pytest.raises(EquationError, match=r"line 2, col 10: undefined symbol 'k'"):
        sim.reset()
    sim.step(3)  # still the Van der Pol system
    assert sim.params["equations"] == VDP and sim.model.sys.labels == ("x", "y")
    with pytest.raises(EquationError, match="line 1, col 9: attribute access"):
        al.create("custom_ode", device="cpu", equations="dx/dt = x.real\ndy/dt = 0")


def test_a_diverging_system_is_paused_with_the_usual_message():
    from attractor_lab.engine.models.base import SimulationDiverged

    sim = al.create("custom_ode", device="cpu", equations="dx/dt = x^2\ndy/dt = -y\ninit x = 0.1, y = 1",
                    trajectories=1, dt=5.0)
    with pytest.raises(SimulationDiverged, match="custom_ode: "):
        sim.step(10)


def test_three_dimensional_system_shows_3d_and_lyapunov():
    lorenz = "dx/dt = s*(y - x)\ndy/dt = x*(r - z) - y\ndz/dt = x*y - b*z\npar s = 10, r = 28, b = 2.6666666666666665\ninit x=1, y=1, z=1"
    typed = al.create("custom_ode", device="cpu", equations=lorenz, trajectories=1, dt=0.5)
    ref = al.create("ode_system", device="cpu", system="lorenz", trajectories=1, dt=0.5)
    typed.step(4)
    ref.step(4)
    assert typed.state()["x_now"] == pytest.approx(ref.state()["x_now"], rel=1e-9, abs=1e-9)
    assert typed.observables()["dim3"] == 1.0
    assert typed.observables()["lyapunov"] == pytest.approx(ref.observables()["lyapunov"], rel=1e-6)


GRAY_SCOTT = """du/dt = Du*lap(u) - u*v^2 + F*(1 - u)
dv/dt = Dv*lap(v) + u*v^2 - (F + k)*v
par F = 0.035 [0, 0.1], k = 0.065 [0, 0.1], Du = 0.16 [0, 1000], Dv = 0.08 [0, 1000]
init u = 1, v = 0
seed u = 0.5, v = 0.25
"""
BRUSSELATOR = """du/dt = Du*lap(u) + a - (b + 1)*u + u^2*v
dv/dt = Dv*lap(v) + b*u - u^2*v
par a = 3 [0.01, 20], b = 9 [0, 100], Du = 1 [0, 1000], Dv = 8 [0, 1000]
"""


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("scheme", ["euler", "rk4"])
def test_typed_gray_scott_reproduces_the_built_in_field(dtype, tol, scheme):
    common = dict(device="cpu", seed=3, grid=48, dt=0.5, seeding="centre_square", dtype=dtype, scheme=scheme)
    typed = al.create("custom_rd", equations=GRAY_SCOTT, **common)
    built = al.create("gray_scott", **common)
    typed.step(1000)
    built.step(1000)
    v = built.state()["v"]
    assert v.max() > 0.2  # a pattern grew: the comparison is not of two flat fields
    assert np.abs(typed.state()["v"] - v).max() < tol
    assert np.abs(typed.state()["u"] - built.state()["u"]).max() < tol


def test_typed_gray_scott_spectral_scheme_matches_too():
    common = dict(device="cpu", seed=1, grid=32, dt=0.5, seeding="centre_square", dtype="float64", scheme="etdrk4")
    typed = al.create("custom_rd", equations=GRAY_SCOTT, **common)
    built = al.create("gray_scott", **common)
    typed.step(200)
    built.step(200)
    assert np.abs(typed.state()["v"] - built.state()["v"]).max() < 1e-12


def test_typed_brusselator_has_the_built_in_turing_band_and_wavelength():
    typed = al.create("custom_rd", device="cpu", equations=BRUSSELATOR, grid=64, length=32.0, dt=0.004,
                     noise=0.05)
    built = al.create("brusselator", device="cpu", grid=64, dt=0.004)  # h = 0.5 by default
    a, b = typed.model.analysis, built.model.analysis
    assert typed.model.steady_state() == pytest.approx((3.0, 3.0), abs=1e-12)
    assert a.regime == b.regime == "Turing unstable"
    assert a.band == pytest.approx(b.band, rel=1e-2)
    assert a.k_fastest == pytest.approx(b.k_fastest, rel=1e-2)
    assert typed.observables()["lambda_predicted"] == pytest.approx(built.observables()["lambda_predicted"], rel=1e-2)
    # the stability check sees the same stiffness
    assert typed.observables()["dt_limit"] == pytest.approx(built.observables()["dt_limit"], rel=1e-9)


def test_typed_reaction_with_functions_the_dual_numbers_could_not_take():
    # Lengyel–Epstein (CIMA): u v/(1 + u²) terms; and a tanh term whose Jacobian only the tree gives
    text = """du/dt = lap(u) + a - u - 4*u*v/(1 + u^2) + 0*tanh(u)
dv/dt = d*lap(v)*1 + sigma*b*(u - u*v/(1 + u^2))
par a = 12 [0, 50], b = 0.31 [0, 5], sigma = 1 [0, 10], d = 1
"""
    with pytest.raises(EquationError, match="must be the parameter Dv or a number"):
        al.create("custom_rd", device="cpu", equations=text)
    text = text.replace("d*lap(v)*1", "Dv*lap(v)").replace("par a", "par Dv = 20 [0, 100], a")
    sim = al.create("custom_rd", device="cpu", equations=text, grid=32)
    u, v = sim.model.steady_state()
    assert (u, v) == pytest.approx((12 / 5, 1 + (12 / 5) ** 2), rel=1e-10)  # a/5, 1 + (a/5)²
    sim.step(50)
    assert np.isfinite(sim.state()["u"]).all()


def test_rd_paint_and_a_too_large_step_are_refused_as_for_the_built_ins():
    sim = al.create("custom_rd", device="cpu", equations=BRUSSELATOR, grid=32, dt=0.004)
    sim.model.paint("u", 16, 16, 3, 7.0)
    assert sim.state()["u"][16, 16] == pytest.approx(7.0)
    with pytest.raises(ValueError, match="exceeds the explicit euler limit"):
        sim.set(dt=0.5)


ODE_FILES = {
    "lotka_volterra": """dx/dt = a*x - b*x*y
dy/dt = d*x*y - g*y
par a = 1, b = 0.5, g = 0.75, d = 0.25
init x = 4, y = 1
""",
    "fitzhugh_nagumo": """dv/dt = v - v^3/3 - w + I
dw/dt = eps*(v + a - b*w)
par I = 0.5, a = 0.7, b = 0.8, eps = 0.08
init v = -1, w = 1
""",
    "morris_lecar": """minf(v) = 0.5*(1 + tanh((v - v1)/v2))
winf(v) = 0.5*(1 + tanh((v - v3)/v4))
tauw(v) = 1/cosh((v - v3)/(2*v4))
dv/dt = (i - gca*minf(v)*(v - vca) - gk*w*(v - vk) - gl*(v - vl))/c
dw/dt = phi*(winf(v) - w)/tauw(v)
par vk = -84, vl = -60, vca = 120, i = 100, gk = 8, gl = 2, c = 20
par v1 = -1.2, v2 = 18, v3 = 2, v4 = 30, phi = 0.04, gca = 4.4
init v = -60, w = 0.01
""",
}


def _scipy_reference(spec, params, total):
    from scipy.integrate import solve_ivp

    from attractor_lab.engine.equations.torchgen import vector_field
    import torch

    field = vector_field(spec.variables, spec.rhs)

    def f(t, x):
        return field(t, torch.tensor(x, dtype=torch.float64)[None], params)[0].numpy()

    sol = solve_ivp(f, (0.0, total), list(spec.init), method="DOP853", rtol=1e-10, atol=1e-12)
    return sol.y[:, -1]


@pytest.mark.parametrize("name", sorted(ODE_FILES))
def test_shipped_ode_file_and_the_typed_equations_agree_with_scipy(name):
    from attractor_lab.engine.storage.presets import load_preset, shipped_presets_dir

    preset = load_preset(shipped_presets_dir() / "ode" / f"{name}.ode")
    assert preset.model == "custom_ode" and preset.params["equations"].startswith("#")
    run = dict(device="cpu", trajectories=1, lyapunov=False, solver="dopri8", rtol=1e-12, atol=1e-12, dt=1.0)
    from_file = al.create(preset.model, **preset.params, **run)
    typed = al.create("custom_ode", equations=ODE_FILES[name], **run)
    spec = from_file.model.spec
    states_file, states_typed = [], []
    for _ in range(50):
        from_file.step(1)
        typed.step(1)
        states_file.append(from_file.state()["x_now"][0])
        states_typed.append(typed.state()["x_now"][0])
    assert np.array_equal(np.array(states_file), np.array(states_typed))  # identical trajectories
    reference = _scipy_reference(spec, from_file.model.sp, 50.0)
    scale = max(1.0, float(np.abs(reference).max()))
    assert np.abs(states_file[-1] - reference).max() < 1e-6 * scale, (states_file[-1], reference)


def test_a_sweep_over_a_declared_parameter_and_a_recording_preset_round_trip():
    import tomllib

    from attractor_lab.engine.storage.presets import parse_preset
    from attractor_lab.engine.transport.server_requests import preset_for
    from attractor_lab.engine.sweep.execute import store_attrs
    from attractor_lab.engine.sweep.spec import loads_sweep
    from attractor_lab.engine.sweep.worker import run_points

    text = f'''format_version = 1
steps = 40
[base]
model = "custom_ode"
[base.params]
equations = """{VDP}"""
trajectories = 1
dt = 0.5
[x]
param = "mu"
values = [1.0, 2.0]
[[keep]]
observable = "period"
reduce = "final"
'''
    sweep = loads_sweep(text)
    assert store_attrs(sweep, [])["axes"][0]["param"] == "mu"
    results = run_points(text, [0, 1], device="cpu")
    assert all(r["ok"] for r in results), [r["error"] for r in results]
    periods = {r["index"]: r["values"]["period.final"] for r in results}
    assert periods[1] == pytest.approx(7.6299, abs=2e-3) and periods[0] == pytest.approx(6.6633, abs=2e-3)
    with pytest.raises(ValueError, match="'mu'.*not allowed"):
        loads_sweep(text.replace("values = [1.0, 2.0]", "values = [1.0, 20.0]"))
    sim = al.create("custom_ode", device="cpu", equations=VDP, mu=2.5)
    again = parse_preset(tomllib.loads(preset_for(sim.model).dumps()))
    assert again.params["equations"] == VDP and again.params["mu"] == 2.5


def test_float32_runs_like_the_built_in_in_float32():
    typed = al.create("custom_ode", device="cpu", equations=VDP, mu=2.0, dtype="float32", trajectories=3, dt=0.5)
    built = al.create("ode_system", device="cpu", system="van_der_pol", mu=2.0, dtype="float32", trajectories=1,
                      dt=0.5)
    typed.model.set_state(x=built.state()["x_now"])
    built.model.set_state(x=built.state()["x_now"])
    typed.step(10)
    built.step(10)
    assert typed.model.solver.state.dtype.is_floating_point and str(typed.model.solver.state.dtype) == "torch.float32"
    assert typed.state()["x_now"] == pytest.approx(built.state()["x_now"], abs=1e-5)


def test_the_default_typed_reaction_diffusion_system_runs_at_its_default_step():
    """The model box's "Your own reaction–diffusion system" (the typed Brusselator) keeps running
    at its default dt where its spots grow and the reaction stiffens (it was paused at step 250)."""
    import attractor_lab as al

    sim = al.create("custom_rd", grid=64, device="cpu")
    sim.step(3000)  # t ≈ 19: spots have formed; NumericalInstability would be raised
    v = sim.state()["u"]
    assert np.isfinite(v).all() and v.std() > 0.1  # a pattern, not the uniform state


def test_a_reaction_that_overflows_at_the_initial_state_is_refused_with_a_message():
    import attractor_lab as al

    with pytest.raises(ValueError, match="not finite at the initial state"):
        al.create("custom_rd", grid=32, device="cpu",
                  equations="du/dt = lap(u) + exp(u)\ndv/dt = lap(v) - v\ninit u = 1000, v = 0")


def test_a_forced_typed_system_runs_and_claims_no_period():
    """The text uses t (a driven Duffing): the drive's period is not declared, so no period is
    measured from the Poincaré section, and the run does not fail on its observables."""
    import attractor_lab as al

    text = ("x' = y\ny' = -0.25*y + x - x^3 + gamma*cos(omega*t)\n"
            "par gamma = 0.3 [0, 1], omega = 1 [0.1, 3]\ninit x = 1, y = 0\n")
    sim = al.create("custom_ode", equations=text, device="cpu")
    sim.step(30)
    assert math.isnan(sim.observables()["period"])
    assert "forced" in sim.model.texts()["orbit"]
