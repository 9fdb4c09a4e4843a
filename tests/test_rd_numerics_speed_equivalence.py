"""The fused explicit kernels (written for torch.compile) give the eager reference's result.

``make_fused_steps`` lays the same arithmetic out differently (separate u and v,
column blocks, several steps per call); these tests hold it to the eager
``make_explicit_step`` for both boundaries, both explicit schemes, both dtypes
and two systems: run eagerly (cheap) for every combination, and compiled
through the model for a few (each compile costs seconds).
"""

from __future__ import annotations

import pytest
import torch

from attractor_lab import engine
from attractor_lab.engine.models.reaction_diffusion import _numerics as num
from attractor_lab.engine.models.reaction_diffusion.brusselator import Brusselator
from attractor_lab.engine.models.reaction_diffusion.gray_scott import GrayScott

SYSTEMS = {"gray_scott": GrayScott, "brusselator": Brusselator}
#: absolute tolerance per unit of field magnitude (Brusselator fields reach ~4): the
#: eager reference takes its coefficients as Python floats (dt/6 rounded once),
#: the compiled kernels as a tensor of the field dtype
TOL = {torch.float64: 1e-12, torch.float32: 1e-5}


def tol(dtype, ref: torch.Tensor) -> float:
    return TOL[dtype] * max(1.0, float(ref.abs().max()))
STEPS = 200


def start_state(name: str, n: int, dtype) -> tuple[torch.Tensor, list[float]]:
    """A patterned (2, n, n) state and the model's default coefficients (dt, cu, cv, reaction...)."""
    sim = engine.create(name, device="cpu", grid=n, seed=3, dtype="float64")
    model = sim.model
    f = model.fields.clone()
    g = torch.Generator().manual_seed(1)
    f = f + 0.05 * torch.rand(f.shape, generator=g, dtype=f.dtype)  # structure at every scale
    return f.to(dtype), list(model._prm_floats)


@pytest.mark.parametrize("name", SYSTEMS)
@pytest.mark.parametrize("scheme", ["euler", "rk4"])
@pytest.mark.parametrize("boundary", ["periodic", "neumann"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_steps_match_eager_reference(name, scheme, boundary, dtype):
    cls = SYSTEMS[name]
    periodic = boundary == "periodic"
    f0, prm = start_state(name, 24, dtype)
    ref = num.make_explicit_step(cls.reaction, cls.reaction_names, scheme, periodic)
    one = num.make_fused_steps(cls.reaction, cls.reaction_names, scheme, periodic)
    block = num.make_fused_steps(cls.reaction, cls.reaction_names, scheme, periodic, count=8)
    prm_t = torch.tensor(prm, dtype=dtype)
    expected = f0
    for _ in range(STEPS):
        expected = ref(expected, prm)
    got_one, got_block = f0, f0
    for _ in range(STEPS):
        got_one = one(got_one, prm_t)
    for _ in range(STEPS // 8):
        got_block = block(got_block, prm_t)
    assert float((expected - f0).abs().max()) > 1e-3  # the state moved: the comparison means something
    for got in (got_one, got_block):
        assert got.shape == f0.shape and got.dtype == dtype
        torch.testing.assert_close(got, expected, atol=tol(dtype, expected), rtol=0)


def test_boundaries_act_at_the_edge_columns_only():
    # a ramp along the columns: periodic and zero-flux steps differ in the edge columns
    # (the wrap sees the far edge, the mirror sees the edge itself) and nowhere else
    f = torch.zeros(2, 16, 16, dtype=torch.float64)
    f[:, :, :] = torch.linspace(0.0, 1.0, 16, dtype=torch.float64)
    prm = torch.tensor([0.1, 1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    rx, names = GrayScott.reaction, GrayScott.reaction_names
    per = num.make_fused_steps(rx, names, "euler", True)(f, prm)
    neu = num.make_fused_steps(rx, names, "euler", False)(f, prm)
    ref_per = num.make_explicit_step(rx, names, "euler", True)(f, prm.tolist())
    ref_neu = num.make_explicit_step(rx, names, "euler", False)(f, prm.tolist())
    torch.testing.assert_close(per, ref_per, atol=1e-15, rtol=0)
    torch.testing.assert_close(neu, ref_neu, atol=1e-15, rtol=0)
    assert not torch.allclose(per[..., 0], neu[..., 0])
    torch.testing.assert_close(per[..., 1:-1], neu[..., 1:-1], atol=1e-15, rtol=0)


@pytest.mark.parametrize("name,scheme,boundary,dtype", [
    ("gray_scott", "euler", "periodic", "float64"),
    ("brusselator", "euler", "neumann", "float32"),
    ("gray_scott", "rk4", "neumann", "float64"),
])
def test_compiled_model_matches_eager_model(monkeypatch, name, scheme, boundary, dtype):
    kwargs = dict(device="cpu", grid=32, seed=2, scheme=scheme, boundary=boundary, dtype=dtype)
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "0")
    eager = engine.create(name, **kwargs)
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "1")
    compiled = engine.create(name, **kwargs)
    # chunks that are not multiples of the block: blocks plus single compiled steps
    for n in (1, 7, 45, 150):
        eager.step(n)
        compiled.step(n)
    stepper = compiled.model._stepper()
    if stepper.failed:
        pytest.skip("torch.compile unavailable here (the eager fallback was exercised, with a warning)")
    assert stepper.compiled is not None
    assert (stepper.compiled_block is not None) == (num.FUSED_BLOCK_STEPS[scheme] > 1)
    for field in ("u", "v"):
        want = torch.as_tensor(eager.state()[field])
        torch.testing.assert_close(torch.as_tensor(compiled.state()[field]), want,
                                   atol=tol(want.dtype, want), rtol=0)


def test_parameter_changes_do_not_recompile(monkeypatch):
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "1")
    sim = engine.create("gray_scott", device="cpu", grid=32, seed=2)
    sim.step(9)  # compiles the block and the single step
    stepper = sim.model._stepper()
    if stepper.failed:
        pytest.skip("torch.compile unavailable here")
    import torch._dynamo

    with torch._dynamo.config.patch(error_on_recompile=True):
        for F in (0.03, 0.04, 0.05):
            sim.set(F=F, dt=0.9)
            sim.step(9)
    assert not stepper.failed and stepper.compiled is not None
