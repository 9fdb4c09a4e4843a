"""The nullclines every planar phase portrait sends, against closed forms, and the view that draws them."""

import numpy as np
import pytest

import attractor_lab as al
from attractor_lab.engine.models.neural_ode._phase import STABLE, UNSTABLE

LINEAR = """dx/dt = -x + 2*y
dy/dt = -3*x - y
init x = 1, y = 0
@ xlo=-2, xhi=2, ylo=-2, yhi=2
"""
MORRIS_LECAR_LIKE = """dV/dt = V - V^3/3 - w + I
dw/dt = 0.08*(V + 0.7 - 0.8*w)
par I = 0.5 [0, 2]
init V = -1, w = 1
"""


def _finite(line):
    line = np.asarray(line, dtype=np.float64)
    return line[np.isfinite(line[:, 0])]


def test_van_der_pol_nullclines_closed_form():
    # the model's form: dx/dt = y, dy/dt = μ (1 − x²) y − x
    sim = al.create("ode_system", system="van_der_pol", mu=1.5, device="cpu")
    st = sim.state()
    nx, ny = _finite(st["nc_x"]), _finite(st["nc_y"])
    np.testing.assert_allclose(nx[:, 1], 0.0, atol=1e-12)  # ẋ = 0: the x axis
    assert nx[:, 0].min() == pytest.approx(-3.0) and nx[:, 0].max() == pytest.approx(3.0)  # across the window
    # ẏ = 0: y = x / (μ (1 − x²)), poles at x = ±1; linear interpolation along the cells' edges
    # (0.0375 × 0.1 here) is within 2e-3 of it, a fiftieth of a cell's height
    inner = np.abs(ny[:, 0]) < 0.8
    np.testing.assert_allclose(ny[inner, 1], ny[inner, 0] / (1.5 * (1 - ny[inner, 0] ** 2)), atol=2e-3)
    outer = np.abs(ny[:, 0]) > 1.2
    np.testing.assert_allclose(ny[outer, 1], ny[outer, 0] / (1.5 * (1 - ny[outer, 0] ** 2)), atol=2e-3)
    # the fixed point at their crossing: the origin, an unstable focus for μ = 1.5
    np.testing.assert_allclose(np.asarray(st["fp"]), [[0.0, 0.0]], atol=1e-12)
    assert list(np.asarray(st["fp_kind"])) == [UNSTABLE]
    texts = sim.model.texts()
    assert (texts["phase_x"], texts["phase_y"]) == ("x", "y")
    assert texts["nc_x_name"] == "x-nullcline (dx/dt = 0)"


def test_stiff_van_der_pol_in_lienard_plane():
    # μ ≥ 10: the plane (x, w = x − x³/3 − y/μ): ẋ = μ (x − x³/3 − w), ẇ = x / μ
    sim = al.create("ode_system", system="van_der_pol", mu=20.0, device="cpu")
    st = sim.state()
    nx, ny = _finite(st["nc_x"]), _finite(st["nc_y"])
    np.testing.assert_allclose(nx[:, 1], nx[:, 0] - nx[:, 0] ** 3 / 3, atol=1e-3)  # the slow manifold
    # to the window's edges w = ±1, where x − x³/3 = ∓1: x = ±2.1038
    assert nx[:, 0].max() == pytest.approx(2.1038, abs=1e-3) and nx[:, 0].min() == pytest.approx(-2.1038, abs=1e-3)
    np.testing.assert_allclose(ny[:, 0], 0.0, atol=1e-12)  # ẇ = 0: x = 0
    np.testing.assert_allclose(np.asarray(st["fp"]), [[0.0, 0.0]], atol=1e-12)
    assert "slow manifold" in sim.model.texts()["nc_x_name"]


def test_linear_typed_system_nullclines_exact_and_axes_named():
    sim = al.create("custom_ode", equations=LINEAR, device="cpu")
    st = sim.state()
    nx, ny = _finite(st["nc_x"]), _finite(st["nc_y"])
    # linear interpolation on a linear field is exact: y = x/2 and y = −3x
    np.testing.assert_allclose(nx[:, 1], nx[:, 0] / 2, atol=1e-12)
    np.testing.assert_allclose(ny[:, 1], -3 * ny[:, 0], atol=1e-12)
    assert nx[:, 0].min() == pytest.approx(-2.0) and nx[:, 0].max() == pytest.approx(2.0)
    assert ny[:, 1].min() == pytest.approx(-2.0) and ny[:, 1].max() == pytest.approx(2.0)
    # their one crossing, the origin: a stable focus (λ = −1 ± i√6)
    np.testing.assert_allclose(np.asarray(st["fp"]), [[0.0, 0.0]], atol=1e-12)
    assert list(np.asarray(st["fp_kind"])) == [STABLE]


def test_typed_names_on_axes_and_nullclines_follow_parameters():
    sim = al.create("custom_ode", equations=MORRIS_LECAR_LIKE, device="cpu")
    texts = sim.model.texts()
    assert (texts["phase_x"], texts["phase_y"]) == ("V", "w")
    assert texts["nc_x_name"] == "V-nullcline (dV/dt = 0)" and texts["nc_y_name"] == "w-nullcline (dw/dt = 0)"
    view = next(v for v in type(sim.model).views if v["kind"] == "phase")
    assert (view["xlabel_text"], view["ylabel_text"]) == ("phase_x", "phase_y")

    def v_nullcline_error(current):
        nx = _finite(sim.state()["nc_x"])
        return np.abs(nx[:, 1] - (nx[:, 0] - nx[:, 0] ** 3 / 3 + current)).max()
    assert v_nullcline_error(0.5) < 2e-3
    sim.set(I=1.0)  # a live parameter: the cubic moves up by 0.5, recontoured
    assert v_nullcline_error(1.0) < 2e-3
    w_line = _finite(sim.state()["nc_y"])
    np.testing.assert_allclose(w_line[:, 1], (w_line[:, 0] + 0.7) / 0.8, atol=1e-9)
    # the fixed point lies on both: V − V³/3 + I = (V + 0.7)/0.8, an unstable focus
    (fp,) = np.asarray(sim.state()["fp"])
    assert fp[1] == pytest.approx(fp[0] - fp[0] ** 3 / 3 + 1.0, abs=1e-9)
    assert fp[1] == pytest.approx((fp[0] + 0.7) / 0.8, abs=1e-9)


def test_no_nullclines_for_a_projection_or_a_forced_field():
    lorenz = al.create("ode_system", system="lorenz", device="cpu").state()
    assert np.asarray(lorenz["nc_x"]).size == 0 and np.asarray(lorenz["nc_y"]).size == 0
    forced = al.create("ode_system", system="duffing", forcing=0.5, device="cpu").state()
    assert np.asarray(forced["nc_x"]).size == 0
    free = al.create("ode_system", system="duffing", forcing=0.0, device="cpu").state()
    nx = _finite(free["nc_x"])
    np.testing.assert_allclose(nx[:, 1], 0.0, atol=1e-12)  # ẋ = v = 0


def test_pendulum_nullclines_span_one_turn():
    st = al.create("ode_system", system="pendulum", damping=0.5, gravity=1.0, device="cpu").state()
    ny = _finite(st["nc_y"])  # ω̇ = −sin θ − 0.5 ω = 0: ω = −2 sin θ
    assert ny[:, 0].min() >= -np.pi - 1e-12 and ny[:, 0].max() <= np.pi + 1e-12
    np.testing.assert_allclose(ny[:, 1], -2 * np.sin(ny[:, 0]), atol=2e-3)


def test_neural_ode_portrait_has_the_learned_fields_nullclines():
    import torch

    from attractor_lab.engine.analysis import continuation, orbit_diagram, vector_field

    sim = al.create("neural_ode", device="cpu", target="van_der_pol", width=16, depth=2)
    sim.step(3)
    st = sim.state()
    vf = vector_field(sim)
    f = lambda p: vf.f(torch.as_tensor(p), {}).detach().numpy()  # noqa: E731
    nx, ny = _finite(st["nc_x"]), _finite(st["nc_y"])
    assert len(nx) > 10 and len(ny) > 10
    scale = np.abs(np.stack([np.asarray(st["learned_u"]), np.asarray(st["learned_v"])])).max()
    # on each curve its component of the learned field vanishes (to the contouring's accuracy),
    # while the other does not in general
    assert np.abs(f(nx)[:, 0]).max() < 5e-3 * scale
    assert np.abs(f(ny)[:, 1]).max() < 5e-3 * scale
    assert np.abs(f(nx)[:, 1]).max() > 0.05 * scale
    # the learned field has no parameters: the parameter analyses say so
    with pytest.raises(ValueError, match="no parameter 'mu' to vary; it has no parameters"):
        continuation(sim, "mu", [0.0, 0.0])
    with pytest.raises(ValueError, match="no parameter"):
        orbit_diagram(sim, "mu", [1.0, 2.0])
