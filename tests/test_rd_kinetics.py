"""A reaction–diffusion model's kinetics (the local reaction, no diffusion) as the analyses' field."""

import math

import numpy as np
import pytest

from attractor_lab.engine.analysis import continuation, nullclines, vector_field
from attractor_lab.engine.analysis.phase_plane import STABLE, UNSTABLE


@pytest.mark.parametrize("model, extra", [("brusselator", {}), ("custom_rd", {})])
def test_brusselator_kinetics_hopf_at_b_one_plus_a_squared(model, extra):
    vf = vector_field(model, a=1.0, b=1.0, **extra)
    assert vf.labels == ("u", "v") and set(vf.params) == {"a", "b"} and "kinetics" in vf.name
    np.testing.assert_allclose(vf.start, [1.0, 1.0])  # the uniform state (a, b/a)
    branch = continuation(vf, "b", range=(0.5, 3.0))
    (hopf,) = branch.special("hopf")
    assert hopf.param == pytest.approx(2.0, abs=1e-5)  # b_H = 1 + a²
    assert hopf.frequency == pytest.approx(1.0, abs=1e-5)  # ω = a
    np.testing.assert_allclose(hopf.state, [1.0, 2.0], atol=1e-6)


def test_brusselator_kinetics_jacobian_matches_the_closed_form():
    import torch

    vf = vector_field("brusselator", a=2.0, b=3.0)
    x = torch.tensor([[0.7, 1.3], [2.0, 1.5]], dtype=torch.float64)
    jac = vf.jacobian(x, vf.params).numpy()
    u, v = x[:, 0].numpy(), x[:, 1].numpy()
    expected = np.stack([np.stack([-(3.0 + 1) + 2 * u * v, u ** 2], -1), np.stack([3.0 - 2 * u * v, -u ** 2], -1)], 1)
    np.testing.assert_allclose(jac, expected, atol=1e-12)
    # one parameter value per point (a batch), as the orbit diagram and shooting use
    p = {"a": 2.0, "b": torch.tensor([3.0, 4.0], dtype=torch.float64)}
    jac = vf.jacobian(x, p).numpy()
    assert jac[1, 0, 0] == pytest.approx(-(4.0 + 1) + 2 * 2.0 * 1.5)


def test_brusselator_kinetics_nullclines_and_stability_either_side_of_hopf():
    box = (0.2, 3.0, 0.2, 4.0)
    for b, kind in ((1.5, STABLE), (2.5, UNSTABLE)):
        nc = nullclines("brusselator", box=box, resolution=141, a=1.0, b=b)
        f = nc.x_nullcline[np.isfinite(nc.x_nullcline[:, 0])]
        g = nc.y_nullcline[np.isfinite(nc.y_nullcline[:, 0])]
        # f = 0: v = ((b + 1) u − a) / u²;  g = 0: v = b / u
        np.testing.assert_allclose(f[:, 1], ((b + 1) * f[:, 0] - 1.0) / f[:, 0] ** 2, atol=5e-3)
        np.testing.assert_allclose(g[:, 1], b / g[:, 0], atol=5e-3)
        np.testing.assert_allclose(nc.fixed_points, [[1.0, b]], atol=1e-10)
        assert list(nc.kinds) == [kind]


def test_gray_scott_kinetics_three_uniform_states():
    # u' = −u v² + F (1 − u), v' = u v² − (F + k) v: besides (1, 0), u v = F + k and
    # u = 1 − (F + k) v / F, so v± = F [1 ± √(1 − 4 (F + k)² / F)] / (2 (F + k))
    F, k = 0.05, 0.05
    vf = vector_field("gray_scott", F=F, k=k)
    nc = nullclines(vf, box=(0.0, 1.2, -0.05, 0.6), resolution=241)
    root = math.sqrt(1 - 4 * (F + k) ** 2 / F)
    states = [(1.0, 0.0)] + [(1 - (F + k) * v / F, v) for v in (F * (1 + s) / (2 * (F + k)) for s in (root, -root))]
    np.testing.assert_allclose(sorted(map(tuple, nc.fixed_points)), sorted(states), atol=1e-9)
    # the trivial state is stable, the middle one a saddle
    assert nc.kinds[np.argmin(np.abs(nc.fixed_points[:, 1]))] == STABLE
    assert sorted(nc.kinds.tolist()).count(2) == 1


def test_rd_models_without_kinetics_parameters_say_what_they_have():
    with pytest.raises(ValueError, match="no parameter 'Du' to vary; it has F, k"):
        continuation("gray_scott", "Du", [1.0, 0.0])
