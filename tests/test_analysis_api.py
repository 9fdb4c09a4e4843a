"""The analysis namespace: lazy names, no torch at import, and the neural ODE's learned field."""

import subprocess
import sys

import numpy as np

import attractor_lab as al


def test_namespace_is_lazy_and_names_functions():
    code = ("import sys, attractor_lab.engine.analysis as a; assert 'torch' not in sys.modules, 'torch'; "
            "assert 'scipy' not in sys.modules, 'scipy'; print(a.PATTERN_CLASSES[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    from attractor_lab.engine.analysis import basins, continuation, nullclines, orbit_diagram

    import attractor_lab.engine.analysis.equilibria  # noqa: F401 - a submodule import must not shadow the names

    from attractor_lab.engine.analysis import continuation as again

    assert again is continuation and callable(continuation) and callable(orbit_diagram)
    assert callable(basins) and callable(nullclines)
    assert al.analysis.continuation is continuation


def test_learned_field_of_a_neural_ode():
    from attractor_lab.engine.analysis import basins, nullclines, vector_field

    sim = al.create("neural_ode", device="cpu", target="van_der_pol", width=16, depth=2)
    vf = vector_field(sim)
    assert vf.params == {} and vf.dim == 2 and vf.jac is None
    x = np.array([[0.3, -0.2]])
    import torch

    jac = vf.jacobian(torch.as_tensor(x), {}).detach().numpy()[0]
    h = 1e-2  # the network computes in float32
    f = lambda v: vf.f(torch.as_tensor(v), {}).detach().numpy()[0]  # noqa: E731
    fd = np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(jac, fd, atol=1e-4)  # autograd Jacobian of the network
    nc = nullclines(sim, box=(-3, 3, -3, 3), resolution=41)
    for p in nc.fixed_points:
        assert np.abs(f(p[None])).max() < 1e-6
    b = basins(sim, box=(-3, 3, -3, 3), resolution=8, time=5.0, average=1.0, dt=0.05)
    assert b.labels.shape == (8, 8) and abs(b.fractions.sum() + (b.labels == -1).mean() - 1) < 1e-12
