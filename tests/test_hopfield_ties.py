"""T = 0 ties (ΔE = 0 exactly) keep the spin, on every path, against integer arithmetic."""

import numpy as np
import pytest
import torch

from attractor_lab import engine
from attractor_lab.engine.models.hopfield import _dynamics as dyn
from attractor_lab.engine.models.hopfield._dynamics import flip_thresholds, sweep_parallel, sweep_sequential


def _integer_reference(xi: np.ndarray, sigma: np.ndarray, seed: int) -> tuple[np.ndarray, int]:
    """One T = 0 random-order sweep in exact integers: N·h_i = Σ_{j≠i} Σ_μ ξ_i ξ_j σ_j."""
    gen = torch.Generator().manual_seed(seed)
    r, n = sigma.shape
    perm = torch.randperm(n, generator=gen).tolist()
    flip_thresholds((r, n), 0.0, gen, "cpu")  # the same draws as the sweep (none at T = 0)
    j = xi.T @ xi
    np.fill_diagonal(j, 0)
    out = sigma.copy()
    ties = 0
    for rep in range(r):
        s = out[rep]
        for i in perm:
            nh = int(s @ j[:, i])
            ties += nh == 0
            if s[i] * nh < 0:
                s[i] = -s[i]
    return out, ties


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("neurons, load, dilution", [(120, 4 / 120, 0.0), (200, 6 / 200, 0.0), (130, 0.05, 0.3)])
def test_zero_temperature_ties_keep_the_spin(monkeypatch, fast, neurons, load, dilution):
    monkeypatch.setattr(dyn, "CPU_FAST_PATH", fast)
    sim = engine.create("hopfield", seed=5, device="cpu", neurons=neurons, load=load, pattern_dilution=dilution,
                        temperature=0.0, cue_noise=0.4, replicas=2)
    m = sim.model
    xi = m.xi.numpy().astype(np.int64)
    total_ties = 0
    for sweep in range(3):
        before = m.sigma.numpy().astype(np.int64)
        expected, ties = _integer_reference(xi, before, seed=50 + sweep)
        total_ties += ties
        sweep_sequential(m.backend, m.sigma, 0.0, torch.Generator().manual_seed(50 + sweep), 32)
        np.testing.assert_array_equal(m.sigma.numpy().astype(np.int64), expected)
    assert total_ties > 0  # the case is really exercised


def test_parallel_ties_keep_the_spin():
    sim = engine.create("hopfield", seed=2, device="cpu", neurons=120, load=4 / 120, temperature=0.0,
                        update="parallel", cue_noise=0.4)
    m = sim.model
    xi = m.xi.numpy().astype(np.int64)
    j = xi.T @ xi
    np.fill_diagonal(j, 0)
    s = m.sigma.numpy().astype(np.int64)[0]
    nh = s @ j
    expected = np.where(s * nh < 0, -s, s)
    sweep_parallel(m.backend, m.sigma, 0.0, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(m.sigma.numpy()[0].astype(np.int64), expected)
