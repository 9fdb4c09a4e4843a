"""The Fourier neural operator's building blocks: exact properties a correct FNO has.

The spectral convolution is a Fourier multiplier on the retained modes (checked
against an analytic single-mode answer and a direct einsum), it is exactly
resolution-invariant on band-limited fields, modes beyond the grid are clipped;
the Burgers operator (no coordinate channel) commutes with shifts, the
Navier–Stokes one with the shifts its forcing allows; tensor names and shapes
are what the checkpoint checker expects.
"""

import math

import pytest
import torch

from attractor_lab.engine.models.neural_operator._fno import (FNO, NeuralOperator, SpectralConv, expected_shapes, mix_modes,
                                                 parameter_count)

torch.set_num_threads(1)


def _config(dims, **kw):
    c = {"dims": dims, "in_channels": 2 if dims == 1 else 3, "width": 8, "modes": 6, "layers": 2,
         "projection": 16, "activation": "gelu", "viscosity_range": [0.01, 0.1] if dims == 1 else [5e-4, 2e-3]}
    c.update(kw)
    return c


@pytest.mark.parametrize("batch", [1, 2, 3, 8])
@pytest.mark.parametrize("modes", [(7,), (5, 4)])
def test_mode_mixing_matches_einsum_and_its_gradient(batch, modes):
    g = torch.Generator().manual_seed(batch)
    xf = torch.randn((batch, 4, *modes), dtype=torch.complex128, generator=g)
    w = torch.randn((4, 6, *modes, 2), dtype=torch.float64, generator=g, requires_grad=True)
    ref = torch.einsum("bi...,io...->bo...", xf, torch.view_as_complex(w))
    out = mix_modes(xf, w)
    assert torch.allclose(out, ref, atol=1e-12)
    (g1,) = torch.autograd.grad(out.abs().pow(2).sum(), w)
    (g2,) = torch.autograd.grad(ref.abs().pow(2).sum(), w)
    assert torch.allclose(g1, g2, atol=1e-10)


def test_spectral_conv_is_a_fourier_multiplier_1d():
    n, k = 64, 3
    layer = SpectralConv(1, 5, 1).double()
    c = complex(0.7, -1.3)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, 0, k] = torch.tensor([c.real, c.imag])
    x = torch.arange(n, dtype=torch.float64) / n
    u = torch.cos(2 * math.pi * k * x)[None, None]
    # cos = (e^{ikx} + e^{-ikx})/2; the real transform keeps k ≥ 0, so the output is Re(c e^{ikx})
    expected = (c * torch.exp(2j * math.pi * k * x)).real
    assert torch.allclose(layer(u)[0, 0], expected, atol=1e-12)
    # a mode beyond the retained ones is removed
    v = torch.cos(2 * math.pi * 7 * x)[None, None]
    assert layer(v).abs().max() < 1e-12


def test_spectral_conv_2d_keeps_both_signs_of_kx():
    n = 32
    layer = SpectralConv(1, 4, 2).double()
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, 0, 0, 2, 1, 0] = 1.0   # k = (2, 1): identity
        layer.weight[1, 0, 0, 4 - 2, 1, 0] = 2.0  # k = (−2, 1): doubled
    x = torch.arange(n, dtype=torch.float64) / n
    plus = torch.cos(2 * math.pi * (2 * x[:, None] + x[None, :]))
    minus = torch.cos(2 * math.pi * (-2 * x[:, None] + x[None, :]))
    out = layer((plus + minus)[None, None])[0, 0]
    assert torch.allclose(out, plus + 2 * minus, atol=1e-12)


@pytest.mark.parametrize("dims", [1, 2])
def test_spectral_conv_is_resolution_invariant_on_band_limited_fields(dims):
    torch.manual_seed(0)
    layer = SpectralConv(3, 5, dims).double()
    n = 24
    # a field with modes |k| ≤ 4 per axis, sampled on n and on 2n points
    coeff = torch.randn((3,) + (9,) * dims, dtype=torch.float64)

    def sample(m):
        x = torch.arange(m, dtype=torch.float64) / m
        ks = torch.arange(-4, 5, dtype=torch.float64)
        basis = torch.cos(2 * math.pi * ks[:, None] * x[None, :] + ks[:, None])  # (9, m)
        if dims == 1:
            return torch.einsum("ck,kx->cx", coeff, basis)[None]
        return torch.einsum("ckl,kx,ly->cxy", coeff, basis, basis)[None]

    coarse, fine = layer(sample(n)), layer(sample(2 * n))
    sub = fine[..., ::2] if dims == 1 else fine[..., ::2, ::2]
    assert torch.allclose(coarse, sub, atol=1e-10)


def test_modes_are_clipped_on_a_coarse_grid():
    op = NeuralOperator(_config(2, modes=12)).eval()
    with torch.no_grad():
        out = op(torch.randn(2, 16, 16), 1e-3, 1.0)  # 16 points hold |k_x| ≤ 8
    assert out.shape == (2, 16, 16) and torch.isfinite(out).all()


def test_burgers_operator_commutes_with_shifts():
    torch.manual_seed(1)
    op = NeuralOperator(_config(1)).double().eval()
    u = torch.randn(3, 64, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(op(torch.roll(u, 5, -1), 0.03), torch.roll(op(u, 0.03), 5, -1), atol=1e-12)


def test_navier_stokes_operator_commutes_with_the_shifts_its_forcing_allows():
    torch.manual_seed(2)
    op = NeuralOperator(_config(2)).double().eval()
    w = torch.randn(2, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        # the forcing depends on x + y: a shift by (s, −s) leaves it unchanged
        shifted = op(torch.roll(w, (3, -3), (-2, -1)), 1e-3, 1.0)
        assert torch.allclose(shifted, torch.roll(op(w, 1e-3, 1.0), (3, -3), (-2, -1)), atol=1e-12)
        # unforced, any shift
        shifted = op(torch.roll(w, (3, 7), (-2, -1)), 1e-3, 0.0)
        assert torch.allclose(shifted, torch.roll(op(w, 1e-3, 0.0), (3, 7), (-2, -1)), atol=1e-12)
        # forced, a shift along x alone moves the forcing: the answer changes
        moved = op(torch.roll(w, (3, 0), (-2, -1)), 1e-3, 1.0)
        assert not torch.allclose(moved, torch.roll(op(w, 1e-3, 1.0), (3, 0), (-2, -1)), atol=1e-6)


@pytest.mark.parametrize("dims", [1, 2])
def test_expected_shapes_name_every_tensor(dims):
    config = _config(dims, layers=3)
    op = NeuralOperator(config)
    assert {k: tuple(v.shape) for k, v in op.state_dict().items()} == expected_shapes(config)
    assert parameter_count(config) == sum(p.numel() for p in op.parameters())


def test_viscosity_input_spans_minus_one_to_one_over_the_range():
    op = NeuralOperator(_config(1))
    u = torch.zeros(3, 16)
    code = op.inputs(u, torch.tensor([0.01, math.sqrt(0.01 * 0.1), 0.1]))[:, 1, 0]
    assert torch.allclose(code, torch.tensor([-1.0, 0.0, 1.0]), atol=1e-6)


def test_residual_form_and_normalisation():
    op = NeuralOperator(_config(1)).eval()
    with torch.no_grad():
        op.delta_scale.fill_(0.0)
        u = torch.randn(2, 32)
        assert torch.equal(op(u, 0.05), u)  # a zero increment scale leaves the field as it was


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="activation must be one of"):
        FNO(1, 2, 4, 3, 1, 4, activation="tanh")
