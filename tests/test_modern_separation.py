"""Separation functions of the modern Hopfield network (issue 23): sparsemax, α-entmax, Softmax₁;
exact one-step retrieval at β·Δ ≥ 1/(α − 1); Softmax₁ attending to nothing; the model's observables."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attractor_lab import engine
from attractor_lab.engine.models.hopfield import _separation as S
from attractor_lab.engine.theory import modern as theory

DTYPES = [torch.float32, torch.float64]


def t(values, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype)


# ---- known values ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparsemax_known_values(dtype):
    torch.testing.assert_close(S.sparsemax(t([0.5, 0.0, -1.0], dtype)), t([0.75, 0.25, 0.0], dtype))
    torch.testing.assert_close(S.sparsemax(t([0.3, 0.1, 0.0], dtype)), t([0.5, 0.3, 0.2], dtype))
    assert S.sparsemax(t([0.5, 0.0, -1.0], dtype))[2].item() == 0.0  # an exact zero, not a small weight


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax1_known_values(dtype):
    torch.testing.assert_close(S.softmax1(t([0.0, 0.0], dtype)), t([1 / 3, 1 / 3], dtype))
    z = t([1.0, -2.0, 0.5], dtype)
    e = torch.exp(z.double())
    torch.testing.assert_close(S.softmax1(z), (e / (1 + e.sum())).to(dtype))
    # large scores: the stable form, no overflow; the weights are the softmax's less e^{−M}
    big = S.softmax1(t([1000.0, 999.0], dtype))
    assert torch.isfinite(big).all()
    torch.testing.assert_close(big, torch.softmax(t([1000.0, 999.0], dtype), -1))


def test_entmax_approaches_softmax_as_alpha_goes_to_one():
    z = torch.randn(5, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3
    soft = torch.softmax(z, -1)
    # through the bisection (α − 1 above the softmax shortcut), and the shortcut itself
    for alpha in (1 + 1e-7, 1 + 1e-8, 1.0):
        torch.testing.assert_close(S.entmax(z, alpha), soft, atol=1e-6, rtol=0)
    assert S.ENTMAX_SOFTMAX_BELOW < 1e-7  # the first two really went through the bisection
    # and it converges: the gap shrinks like α − 1
    errors = [float((S.entmax(z, 1 + e) - soft).abs().max()) for e in (1e-2, 1e-3, 1e-4)]
    assert errors[0] > errors[1] > errors[2] > 0
    assert errors[2] < 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
def test_entmax_at_two_is_sparsemax(dtype):
    z = torch.randn(6, 11, dtype=dtype, generator=torch.Generator().manual_seed(2)) * 2
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(S.entmax(z, 2.0), S.sparsemax(z), atol=tol, rtol=0)
    assert torch.equal(S.entmax(z, 2.0) > 0, S.sparsemax(z) > 0)


@pytest.mark.parametrize("alpha", [1.2, 1.5, 1.8])
def test_entmax_is_the_tsallis_map(alpha):
    z = torch.randn(4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2
    p = S.entmax(z, alpha)
    torch.testing.assert_close(p.sum(-1), torch.ones(4, dtype=torch.float64))
    # p_i = [(α − 1) z_i − τ]₊^{1/(α−1)} with one τ per row: p^{α−1}/(α−1) − z is constant on the support
    for row_p, row_z in zip(p, z):
        support = row_p > 0
        c = row_p[support] ** (alpha - 1) / (alpha - 1) - row_z[support]
        assert float(c.max() - c.min()) < 1e-9
        # and off the support the score lies below the threshold
        if (~support).any():
            assert float(row_z[~support].max()) <= float(-c[0]) + 1e-9


@pytest.mark.parametrize("kind", S.SEPARATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_shapes_dtypes_and_sums(kind, dtype):
    z = torch.randn(3, 4, 7, dtype=dtype, generator=torch.Generator().manual_seed(4))
    p = S.separate(z, kind, 1.5)
    assert p.shape == z.shape and p.dtype == dtype and p.device == z.device
    row = S.separate(z[1, 2], kind, 1.5)
    torch.testing.assert_close(p[1, 2], row)
    total = p.sum(-1)
    if kind == "softmax1":
        assert bool((total < 1).all())
    else:
        torch.testing.assert_close(total, torch.ones_like(total))


@pytest.mark.parametrize("kind", S.SEPARATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [1e-6, 1.0, 1e4, 1e8])
def test_no_nan_and_finite_gradients_at_extreme_beta(kind, dtype, beta):
    z0 = torch.randn(2, 6, dtype=dtype, generator=torch.Generator().manual_seed(5))
    z = (beta * z0).requires_grad_(True)
    p = S.separate(z, kind, 1.5)
    assert torch.isfinite(p).all(), (kind, beta, p)
    (p * torch.arange(6, dtype=dtype)).sum().backward()
    assert torch.isfinite(z.grad).all(), (kind, beta, z.grad)


@pytest.mark.parametrize("alpha", [1.3, 1.5, 2.0])
def test_entmax_gradient_is_exact(alpha):
    z = torch.randn(2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(6), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: S.entmax(2 * x, alpha), (z,))
    assert torch.autograd.gradcheck(S.sparsemax, (z,))


def test_conjugate_is_the_potential_of_the_separation():
    # ∇Ψ*(z) = p: check by finite differences for every separation
    z = torch.randn(7, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    for kind in S.SEPARATIONS:
        p = S.separate(z, kind, 1.5)
        h = 1e-6
        grad = torch.stack([(S.conjugate(z + h * e, kind, 1.5) - S.conjugate(z - h * e, kind, 1.5)) / (2 * h)
                            for e in torch.eye(7, dtype=torch.float64)])
        torch.testing.assert_close(grad, p, atol=1e-6, rtol=0)


# ---- exact one-step retrieval: β·Δ ≥ 1/(α − 1) ---------------------------------------------
def _patterns_with_gap(gap: float, d: int = 32, count: int = 6):
    """Orthogonal patterns of length 2 and a query whose overlaps with them are known:
    h = (1.0, 1.0 − gap, then lower), so Δ = gap exactly (up to rounding)."""
    basis = torch.linalg.qr(torch.randn(d, count, dtype=torch.float64, generator=torch.Generator().manual_seed(8)))[0]
    x = 2.0 * basis  # (d, P)
    h = torch.tensor([1.0, 1.0 - gap] + [1.0 - gap - 0.3 * k for k in range(1, count - 1)], dtype=torch.float64)
    query = x @ torch.linalg.solve(x.T @ x, h)  # Xᵀq = h
    return x, query


@pytest.mark.parametrize("alpha, kind", [(1.5, "entmax"), (2.0, "sparsemax"), (2.0, "entmax")])
def test_exact_one_step_retrieval_at_the_threshold(alpha, kind):
    gap = 0.37
    x, query = _patterns_with_gap(gap)
    h = x.T @ query
    assert theory.score_gap(h.numpy()) == pytest.approx(gap, abs=1e-12)
    threshold = theory.exact_threshold(alpha) / gap  # β at which β·Δ = 1/(α − 1)
    for factor, exact in ((1 + 1e-4, True), (1 - 1e-4, False), (1.5, True), (0.7, False)):
        beta = factor * threshold
        p = S.separate(beta * h, kind, alpha)
        retrieved = x @ p
        assert theory.retrieves_exactly(beta, gap, alpha) == exact
        assert (int((p > 0).sum()) == 1) == exact, (factor, p)
        if exact:
            assert torch.equal(retrieved, x[:, 0])  # to the last bit
        else:
            assert float((retrieved - x[:, 0]).norm()) > 0


def test_softmax_never_retrieves_exactly():
    x, query = _patterns_with_gap(0.37)
    for beta in (1.0, 10.0, 100.0):
        p = S.softmax(beta * (x.T @ query))
        assert bool((p > 0).all())
        assert float((x @ p - x[:, 0]).norm()) > 0
    assert theory.exact_threshold(1.0) == math.inf


@pytest.mark.parametrize("separation, alpha", [("sparsemax", 2.0), ("entmax", 1.5), ("entmax", 1.25)])
def test_the_network_retrieves_exactly_just_above_its_line(separation, alpha):
    """The model itself: read the cue's gap Δ, put β just above and just below 1/((α − 1)Δ)."""
    params = dict(neurons=256, patterns=10, pattern_source="random", cue_noise=1.0, mask="none",
                  separation=separation, entmax_alpha=min(alpha, 2.0), cue_pattern=3)
    probe = engine.create("modern_hopfield", device="cpu", seed=1, **params)
    gap = probe.observables()["score_gap"]
    assert gap > 0
    assert probe.observables()["beta_exact"] == pytest.approx(1 / ((alpha - 1) * gap))  # the point on the line
    for factor, exact in ((1.001, True), (0.999, False)):
        sim = engine.create("modern_hopfield", device="cpu", seed=1,
                            **{**params, "beta": factor / ((alpha - 1) * gap)})
        assert sim.observables()["score_gap"] == gap
        sim.step(1)
        obs = sim.observables()
        assert obs["exact_retrieval"] == float(exact), (factor, obs)
        assert (obs["support_size"] == 1.0) == exact
        assert (obs["error_nearest"] == 0.0) == exact


# ---- Softmax₁: attention to nothing --------------------------------------------------------
def test_softmax1_total_weight_below_one_and_vanishing_far_away():
    x, _ = _patterns_with_gap(0.5)
    directions = -x.sum(1)  # overlap −4 with every pattern (they are orthogonal, length 2)
    totals = []
    for distance in (0.0, 1.0, 3.0, 10.0, 100.0):
        query = distance * directions / directions.norm()
        p = S.softmax1(4.0 * (x.T @ query))
        totals.append(float(p.sum()))
        assert totals[-1] == pytest.approx(theory.softmax1_total_weight((4.0 * (x.T @ query)).numpy()), rel=1e-12)
    assert all(0 < s < 1 for s in totals[:-1])
    assert totals[0] == pytest.approx(6 / 7)  # all scores 0: P/(P + 1)
    assert all(a > b for a, b in zip(totals, totals[1:]))
    assert totals[-1] < 1e-30


def test_the_network_attends_to_nothing_from_a_query_away_from_every_memory():
    params = dict(neurons=1024, patterns=16, pattern_source="random", cue_kind="away", cue_noise=0.0,
                  mask="none", beta=8.0)
    sim = engine.create("modern_hopfield", device="cpu", seed=0, separation="softmax1", **params)
    assert sim.observables()["total_weight"] < 0.02
    sim.step(1)
    obs = sim.observables()
    assert obs["total_weight"] < 0.02 and obs["state_norm"] < 0.02  # ξ = X p ≈ 0: nothing retrieved
    assert obs["exact_retrieval"] == 0.0
    # softmax must put all its weight somewhere: it leaves the origin and commits to a pattern
    soft = engine.create("modern_hopfield", device="cpu", seed=0, separation="softmax", **params)
    soft.step(1)
    assert soft.observables()["total_weight"] == pytest.approx(1.0) and soft.observables()["state_norm"] > 0.3
    with pytest.raises(ValueError, match="away"):
        engine.create("modern_hopfield", device="cpu", seed=0, cue_kind="away")  # glyphs are stored centred


# ---- the model: energy, views, live changes --------------------------------------------------
@pytest.mark.parametrize("separation", S.SEPARATIONS)
@pytest.mark.parametrize("beta", [0.5, 1.3, 8.0])
def test_energy_never_increases_for_every_separation(separation, beta):
    for seed in range(2):
        sim = engine.create("modern_hopfield", device="cpu", seed=seed, neurons=256, patterns=12, beta=beta,
                            separation=separation, cue_noise=1.5, cue_pattern=seed + 1)
        energies = [sim.observables()["energy"]]
        for _ in range(12):
            sim.step(1)
            energies.append(sim.observables()["energy"])
        assert np.all(np.diff(energies) <= 1e-12), energies
        assert min(energies) >= -1e-12


def test_views_texts_and_live_changes():
    sim = engine.create("modern_hopfield", device="cpu", seed=0, neurons=256, patterns=8, beta=1.3)
    assert "never retrieves exactly" in sim.model.texts()["exactness"]
    (line,) = [v for v in sim.model.views if v.get("title", "").startswith("Exact one-step")]
    assert line["shown_when"] == [["separation", ["sparsemax", "entmax"]]]
    state = sim.state()
    assert np.all(np.isinf(state["exact_gap"]))  # softmax: no finite line
    assert math.isnan(sim.observables()["beta_exact"])
    sim.set(separation="entmax", entmax_alpha=1.5)
    state, obs = sim.state(), sim.observables()
    np.testing.assert_allclose(state["exact_gap"] * state["exact_beta"], 2.0)
    assert "1/(α − 1)" in sim.model.texts()["exactness"]
    # the live change recomputed the weights the next update uses
    torch.testing.assert_close(sim.model._weights, S.entmax(1.3 * (sim.model.x.T @ sim.model.xi), 1.5))
    for view in sim.model.views:
        for name in view.get("observables", []):
            assert name in obs, name
    schema = {p.name: p for p in sim.model.params}
    assert schema["entmax_alpha"].shown_when == (("separation", ("entmax",)),)
    with pytest.raises(ValueError, match="entmax_alpha"):
        sim.set(entmax_alpha=1.0)
    with pytest.raises(ValueError, match="separation"):
        sim.set(separation="relu")


@pytest.mark.parametrize("separation", ["softmax1", "softmax", "entmax"])
def test_a_fixed_query_is_one_attention_step_repeated(separation):
    params = dict(neurons=1024, patterns=16, pattern_source="random", cue_kind="away", cue_noise=0.0, mask="none",
                  beta=8.0, separation=separation, query="cue")
    sim = engine.create("modern_hopfield", device="cpu", seed=0, **params)
    model = sim.model
    expected = model.x @ S.separate(8.0 * (model.x.T @ model.cue), separation, 1.5)
    for _ in range(3):
        sim.step(2)
        assert torch.equal(model.xi, expected)
    energies = sim.state()["energy_history"]
    assert energies[1] <= energies[0] and np.all(energies[1:] == energies[1])
    obs = sim.observables()
    if separation == "softmax1":  # attention to nothing persists
        assert obs["total_weight"] < 0.02 and obs["state_norm"] < 0.02
    else:  # softmax and entmax must spend all the weight somewhere
        assert obs["total_weight"] == pytest.approx(1.0) and obs["state_norm"] > 0.3
