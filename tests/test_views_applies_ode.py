"""Issue 16 for ode_system: views and numbers only where they apply.

A period only for periodic orbits (the Poincaré return-map test), the invariant's
drift in place of the Lyapunov row for conservative systems, the pendulum's angle
wrapped with its separatrix, the stiff Van der Pol cycle in Liénard's plane, the
3D view only for 3D systems, and each view's role.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from attractor_lab import engine
from attractor_lab.engine.models.neural_ode.ode_system import OdeSystem, break_at_wraps, wrap_angle

PRESETS = Path(__file__).resolve().parent.parent / "presets"


def _sim(**params):
    params.setdefault("trajectories", 1)
    return engine.create("ode_system", seed=params.pop("seed", 0), device="cpu", **params)


def _preset(name):
    preset = tomllib.loads((PRESETS / f"{name}.toml").read_text())
    sim = engine.create(preset["model"], seed=preset["seed"], device="cpu", **preset["params"])
    return sim, preset


def _view(**match):
    out = [v for v in OdeSystem.views if all(v.get(k) == val for k, val in match.items())]
    assert len(out) == 1, match
    return out[0]


def _shown(view, sim):
    """The widget's shown_when rule: params first, then observables; numbers as floats."""
    params, obs = sim.model.p, sim.observables()
    for name, allowed in view.get("shown_when", []):
        value = params[name] if name in params else obs[name]
        if isinstance(value, bool) or any(isinstance(a, bool) for a in allowed):
            if value not in allowed:
                return False
        elif isinstance(value, str):
            if value not in allowed:
                return False
        elif not any(float(value) == float(a) for a in allowed):
            return False
    return True


# ---- period only for periodic orbits ------------------------------------------------
def test_van_der_pol_is_periodic_with_the_known_period():
    sim = _sim(mu=1.0, rtol=1e-8, atol=1e-10, dt=2.0, lyapunov=False)
    sim.step(30)
    obs = sim.observables()
    assert obs["period"] == pytest.approx(6.6633, abs=1e-3)
    assert obs["aperiodic"] == 0.0
    assert sim.model.texts()["orbit"].startswith("periodic")


@pytest.mark.parametrize("params, steps", [
    (dict(system="lorenz", rtol=1e-7, atol=1e-9, dt=0.5), 100),          # t = 50, ~70 crossings
    (dict(system="duffing", rtol=1e-7, atol=1e-9, dt=1.0), 200),         # the chaos preset's parameters, t = 200
])
def test_chaotic_orbits_report_no_period(params, steps):
    sim = _sim(**params)
    periods = []
    for _ in range(10):
        sim.step(steps // 10)
        periods.append(sim.observables()["period"])
    obs = sim.observables()
    assert all(math.isnan(p) for p in periods)
    assert obs["aperiodic"] == 1.0
    assert math.isfinite(obs["turn_time"]) and obs["turn_time"] > 0  # crossings happened: the test had data
    assert sim.model.texts()["orbit"].startswith("aperiodic")


def test_a_decaying_spiral_and_a_damped_pendulum_have_no_period():
    for params in (dict(system="spiral", dt=0.5), dict(system="pendulum", damping=0.3, dt=0.5)):
        sim = _sim(**params)
        sim.step(60)
        obs = sim.observables()
        assert math.isnan(obs["period"]) and math.isfinite(obs["turn_time"]), params


def test_a_forced_orbit_must_return_in_phase_with_the_drive():
    # weak forcing in one well: no crossing of x = 0, so no period
    sim = _sim(system="duffing", forcing=0.2, dt=1.0)
    sim.step(100)
    assert math.isnan(sim.observables()["period"])
    # the Van der Pol cycle returns to its section point every 6.6633, but not in phase
    # with a drive of period 1.7: as the cycle of a forced system it would not be periodic
    sim = _sim(mu=1.0, rtol=1e-8, atol=1e-10, dt=2.0, lyapunov=False)
    sim.step(30)
    solver = sim.model.solver
    assert solver.periodic(0) == pytest.approx(6.6633, abs=1e-3)
    assert math.isnan(solver.periodic(0, drive_period=1.7))
    assert solver.periodic(0, drive_period=solver.periodic(0) / 3) == pytest.approx(6.6633, abs=1e-3)


def test_pendulum_rotations_have_a_period():
    sim = _sim(system="pendulum", damping=0.0, rtol=1e-9, atol=1e-11, dt=0.5, lyapunov=False)
    sim.model.set_state([[0.0, 2.5]])  # E = 2.125 > 1: rotates
    sim.step(60)
    obs = sim.observables()
    # T = ∫ dθ / ω over one turn, ω = sqrt(2 (E + cos θ))
    theta = np.linspace(-math.pi, math.pi, 200001)
    expected = np.trapezoid(1 / np.sqrt(2 * (2.125 + np.cos(theta))), theta)
    assert obs["period"] == pytest.approx(expected, rel=1e-4)


# ---- conservative systems: the drift where the Lyapunov row was ---------------------
def test_conservative_systems_show_the_drift_not_the_lyapunov_row():
    lyap = _view(kind="timeseries", observables=["lyapunov"])
    drift = _view(kind="timeseries", observables=["invariant_drift"])
    for name in ("ode_lotka_volterra_cycles", "ode_pendulum_separatrix"):
        sim, _ = _preset(name)
        sim.step(20)
        assert sim.observables()["conservative"] == 1.0
        assert _shown(drift, sim) and not _shown(lyap, sim)
        assert math.isfinite(sim.observables()["invariant_drift"])
    for name in ("ode_lorenz_butterfly", "ode_duffing_chaos"):
        sim, _ = _preset(name)
        assert sim.observables()["conservative"] == 0.0
        assert not _shown(drift, sim) and _shown(lyap, sim)
    damped = _sim(system="pendulum", damping=0.3)
    assert damped.observables()["conservative"] == 0.0


# ---- the pendulum wrapped, with its separatrix --------------------------------------
def test_wrap_angle_and_breaks():
    theta = np.array([-math.pi, -3.0, 0.0, 3.0, math.pi, 3.5, 7.0, -3.5])
    w = wrap_angle(theta)
    assert np.all(w > -math.pi) and np.all(w <= math.pi)
    assert np.allclose(np.cos(w), np.cos(theta)) and np.allclose(np.sin(w), np.sin(theta))
    path = np.stack([wrap_angle(np.linspace(0, 4 * math.pi, 50)), np.ones(50)], -1)[None]
    broken = break_at_wraps(path)
    assert np.isnan(broken[0, :, 0]).sum() == 2  # two wraps, two breaks
    finite = broken[0][np.isfinite(broken[0, :, 0])]
    assert np.abs(np.diff(finite[:, 0])).max() > math.pi  # the jumps are across breaks only ...
    segments = np.split(broken[0], np.nonzero(np.isnan(broken[0, :, 0]))[0])
    for seg in segments:
        seg = seg[np.isfinite(seg[:, 0])]
        assert np.abs(np.diff(seg[:, 0])).max(initial=0) < 1.0  # ... never inside a drawn piece


def test_pendulum_preset_shows_a_rotation_inside_the_view_and_the_separatrix():
    sim, preset = _preset("ode_pendulum_separatrix")
    sim.step(preset["contract"]["steps"])
    st = sim.state()
    tails = st["tails"]
    x0, x1 = st["pp_x"].min(), st["pp_x"].max()
    y0, y1 = st["pp_y"].min(), st["pp_y"].max()
    assert x0 == pytest.approx(-math.pi) and x1 == pytest.approx(math.pi)
    finite = np.isfinite(tails).all(-1)
    assert (np.abs(tails[..., 0][finite]) <= math.pi + 1e-12).all()
    energy = 0.5 * tails[..., 1] ** 2 - np.cos(tails[..., 0])
    rotating = 0
    for k in range(tails.shape[0]):
        pts = tails[k][finite[k]]
        e = energy[k][finite[k]]
        inside = ((pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)).mean()
        if e.min() > 1.0 and np.isnan(tails[k, :, 0]).any() and inside > 0.95:
            # a rotation: a full turn of θ, drawn inside the view, broken at the wraps
            assert np.ptp(pts[:, 0]) > 6.0
            rotating += 1
    assert rotating >= 1
    sep = st["separatrix"]
    assert sep.shape[0] == 2 and np.isfinite(sep).all()
    assert np.allclose(0.5 * sep[..., 1] ** 2 - np.cos(sep[..., 0]), 1.0)  # E = g/L
    assert (sep[0, :, 1] >= 0).all() and (sep[1, :, 1] <= 0).all()
    assert sorted(np.round(st["fp"][:, 0], 6)) == pytest.approx([-math.pi, 0.0, math.pi])
    phase = _view(kind="phase", shown_when=[["lienard", [0]]])
    assert any(t["array"] == "separatrix" and t.get("style") == "dash" for t in phase["trajectories"])
    # and nothing of it for another system
    assert np.isnan(_sim(system="van_der_pol").state()["separatrix"]).all()


# ---- the stiff Van der Pol cycle in Liénard's plane --------------------------------------
def test_stiff_van_der_pol_cycle_fills_its_view():
    sim, preset = _preset("ode_van_der_pol_stiff")
    assert sim.observables()["lienard"] == 1.0  # μ = 100
    sim = _sim(mu=20.0, dt=1.0)  # the same picture, cheaper: a period of about 33
    sim.step(60)
    obs, st = sim.observables(), sim.state()
    assert obs["lienard"] == 1.0
    tails = st["tails"][0]
    tails = tails[np.isfinite(tails).all(-1)]
    xs, ys = st["pp_x"], st["pp_y"]
    # the cycle spans most of the view in both directions (x in ±2, w in ±2/3)
    assert np.ptp(tails[:, 0]) > 0.6 * np.ptp(xs)
    assert np.ptp(tails[:, 1]) > 0.5 * np.ptp(ys)
    assert tails[:, 0].min() >= xs.min() and tails[:, 0].max() <= xs.max()
    assert tails[:, 1].min() >= ys.min() and tails[:, 1].max() <= ys.max()
    # the cycle drifts slowly along the cubic w = x − x³/3 (most samples) and jumps across
    off = np.abs(tails[:, 1] - (tails[:, 0] - tails[:, 0] ** 3 / 3))
    assert (off < 0.05).mean() > 0.8
    assert np.isfinite(st["slow_manifold"]).all()
    views = [v for v in OdeSystem.views if v["kind"] == "phase"]
    assert [_shown(v, sim) for v in views] == [False, True]
    # a click in Liénard's plane launches at the matching (x, y)
    sim.model.click("launch", 1.0, 0.5)
    y = sim.state()["x_now"][-1]
    assert y[0] == pytest.approx(1.0) and y[1] == pytest.approx(20 * (1 - 1 / 3 - 0.5))
    # μ = 1: the ordinary plane
    sim.model.set(mu=1.0)
    assert [_shown(v, sim) for v in views] == [True, False]


# ---- the 3D view and roles ------------------------------------------------------------
def test_3d_view_only_for_3d_systems_and_roles():
    view = _view(kind="trajectory3d")
    assert _shown(view, _sim(system="lorenz"))
    for system in ("van_der_pol", "pendulum", "lotka_volterra", "duffing", "spiral"):
        assert not _shown(view, _sim(system=system))
    roles = {v["kind"]: set() for v in OdeSystem.views}
    for v in OdeSystem.views:
        roles[v["kind"]].add(v.get("role"))
    assert roles["phase"] == {"primary"}
    assert roles["values"] == {"info"} and roles["text"] == {"info"}
    assert roles["timeseries"] == {"secondary"} and roles["lines"] == {"secondary"}
    # planar systems draw no z against time
    assert math.isnan(_sim(system="van_der_pol").observables()["z"])
