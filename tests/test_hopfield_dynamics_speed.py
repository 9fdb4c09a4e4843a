"""Exactness of every code path of the chunked sequential sweep.

Each sweep is compared with the one-spin-at-a-time heat-bath loop on the same
random numbers (the permutation, then the thresholds), with the local fields
recomputed in double precision from the couplings before every update. Paths:
the CPU numba kernel (integer patterns, exact integer overlap counts), the
torch path (forced on the CPU, as it runs on a GPU), float overlaps (projector
rule) and explicit couplings; several temperatures, chunk lengths and replica
counts, several sweeps in a row.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attractor_lab import engine
from attractor_lab.engine.models.hopfield import _dynamics as dyn
from attractor_lab.engine.models.hopfield._dynamics import flip_thresholds, sequential_chunk, sweep_sequential


def _couplings(backend) -> np.ndarray:
    """J (double, zero diagonal) with local fields h = σJ, from the backend's own data."""
    if hasattr(backend, "j"):
        return backend.j.double().numpy()
    j = backend.w * (backend.bt.double() @ backend.at.double().T).numpy() / backend.n
    np.fill_diagonal(j, 0.0)
    return j.T  # h_j = Σ_i σ_i J_ij with J_ij the coupling from i onto j


def _reference_sweep(j: np.ndarray, sigma: np.ndarray, temperature: float, seed: int) -> np.ndarray:
    gen = torch.Generator().manual_seed(seed)
    r, n = sigma.shape
    perm = torch.randperm(n, generator=gen).tolist()
    theta = flip_thresholds((r, n), temperature, gen, "cpu").double().numpy()
    out = sigma.copy()
    for rep in range(r):
        s = out[rep]
        for pos, i in enumerate(perm):
            h = s @ j[:, i]
            if 2.0 * s[i] * h < theta[rep, pos]:
                s[i] = -s[i]
    return out


def _check(params, temperature, chunk, fast, sweeps=3, monkeypatch=None):
    sim = engine.create("hopfield", seed=3, device="cpu", temperature=temperature, cue_noise=0.3, **params)
    model = sim.model
    if monkeypatch is not None:
        monkeypatch.setattr(dyn, "CPU_FAST_PATH", fast)
    backend = model.backend
    j = _couplings(backend)
    for sweep in range(sweeps):
        before = model.sigma.double().numpy().copy()
        expected = _reference_sweep(j, before, temperature, seed=100 + sweep)
        gen = torch.Generator().manual_seed(100 + sweep)
        flips = sweep_sequential(backend, model.sigma, temperature, gen, chunk)
        got = model.sigma.double().numpy()
        assert np.array_equal(got, expected), f"sweep {sweep}: {int((got != expected).sum())} spins differ"
        assert flips == int((before != expected).sum())
    # the incremental state the next sweep starts from is still right
    if hasattr(backend, "m"):
        exact = (model.sigma.double() @ backend.at.double() / backend.n).float()
        assert torch.allclose(backend.m, exact, atol=1e-5)
    else:
        assert torch.allclose(backend.h, model.sigma @ backend.j, atol=1e-4)
    return model


# N even, P odd: every Hebbian local field is an odd multiple of 1/N, so T = 0 has no ties
HEBBIAN = dict(neurons=120, load=5 / 120)


@pytest.mark.parametrize("fast", [True, False], ids=["numba", "torch"])
@pytest.mark.parametrize("temperature", [0.0, 0.3, 0.8, 2.0])
@pytest.mark.parametrize("chunk", [1, 7, 32, 500])
def test_hebbian_paths_equal_one_spin_at_a_time(fast, temperature, chunk, monkeypatch):
    _check(HEBBIAN, temperature, chunk, fast, monkeypatch=monkeypatch)


@pytest.mark.parametrize("fast", [True, False], ids=["numba", "torch"])
@pytest.mark.parametrize("replicas", [2, 3])
def test_replicas_equal_one_spin_at_a_time(fast, replicas, monkeypatch):
    _check(dict(HEBBIAN, replicas=replicas), 0.6, 16, fast, monkeypatch=monkeypatch)


@pytest.mark.parametrize(
    "params",
    [
        dict(neurons=100, load=0.04, learning_rule="projector", pattern_dilution=0.2),  # float overlaps (torch path)
        dict(neurons=120, load=0.05, synaptic_dilution=0.5, replicas=2),  # explicit couplings
        dict(neurons=90, load=2.0),  # stored vectors >= N: explicit couplings
        dict(neurons=120, load=0.05, pattern_dilution=0.3, replicas=2),  # 0 entries, int8 path
        dict(neurons=120, load=0.03, examples=3, example_quality=0.6),  # unsupervised: weight ≠ 1, int8 path
    ],
)
@pytest.mark.parametrize("chunk", [5, 64])
def test_other_networks_equal_one_spin_at_a_time(params, chunk):
    _check(params, 0.7, chunk, fast=True)


def test_compiled_path_is_taken_only_for_integer_patterns():
    sim = engine.create("hopfield", seed=0, device="cpu", neurons=64, load=0.1, temperature=0.3)
    hebb = sim.model.backend
    proj = engine.create("hopfield", seed=0, device="cpu", neurons=64, load=0.1, learning_rule="projector").model.backend
    assert hebb.x8 is not None and torch.equal(hebb.x8.float(), hebb.at)
    assert proj.x8 is None and proj.count_dtype() is None
    assert hebb.count_dtype() == np.int16
    sim.step(3)
    # the kernel kept exact integer counts; m is exactly counts / N
    assert hebb._counts is not None
    exact = sim.model.sigma.double() @ hebb.at.double()
    np.testing.assert_array_equal(hebb._counts, exact.numpy())
    assert torch.equal(hebb.m, torch.from_numpy(hebb._counts).float() / 64)


def test_count_dtype_is_the_narrowest_exact_one():
    from attractor_lab.engine.models.hopfield._kernels import count_dtype

    ones = np.ones((10, 5), np.int8)
    assert count_dtype(ones, 30_000) == np.int16
    assert count_dtype(ones, 40_000) == np.int32
    assert count_dtype(np.full((10, 100_000), 127, np.int8), 100_000) is None  # dot products beyond int32


def test_int32_counts_give_the_same_sweep():
    from attractor_lab.engine.models.hopfield._kernels import sequential_sweep

    rng = np.random.default_rng(4)
    n, p, reps = 300, 17, 2
    x8 = rng.choice(np.array([-1, 0, 1], np.int8), size=(n, p))
    sigma = rng.choice(np.array([-1.0, 1.0], np.float32), size=(reps, n))
    diag = (x8.astype(np.int32) ** 2).sum(1, dtype=np.int32)
    perm = rng.permutation(n).astype(np.int64)
    theta = (0.5 * np.log(1 / rng.random((reps, n)) - 1)).astype(np.float32)
    out = []
    for dtype in (np.int16, np.int32):
        s = sigma.copy()
        counts = (s.astype(np.int64) @ x8.astype(np.int64)).astype(dtype)
        flips = sequential_sweep(x8, diag, perm, theta, counts, s, 2.0 / n)
        out.append((flips, s, counts.astype(np.int64)))
    assert out[0][0] == out[1][0] > 0
    np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_array_equal(out[0][2], out[1][2])
    np.testing.assert_array_equal(out[1][2], out[1][1].astype(np.int64) @ x8.astype(np.int64))


def test_model_sweeps_match_with_and_without_fast_path(monkeypatch):
    """A few hundred spins, many sweeps through Model.step (chunk adaptation included)."""
    def run(fast):
        monkeypatch.setattr(dyn, "CPU_FAST_PATH", fast)
        sim = engine.create("hopfield", seed=7, device="cpu", neurons=600, load=0.05, temperature=0.5, cue_noise=0.2, replicas=2)
        sim.step(6)
        return sim.model.sigma.clone(), sim.model.chunk

    (a, chunk_a), (b, chunk_b) = run(True), run(False)
    assert chunk_a == chunk_b
    assert torch.equal(a, b)


def test_sequential_chunk_policy():
    assert sequential_chunk(10_000, 0, "cpu") == 512
    assert 128 <= sequential_chunk(10_000, 800, "cpu") <= 384
    assert sequential_chunk(10_000, 10_000, "cpu") == 128
    assert sequential_chunk(100, 50, "cpu") == 100
    assert sequential_chunk(100_000, 10, "cuda") == 2048
