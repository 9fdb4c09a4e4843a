"""Exact one-step retrieval in sparse modern Hopfield networks (pure numpy).

The update ξ' = X p with p = α-entmax(β h), h = Xᵀq the overlaps of the query q with the
stored patterns (the scores *before* β). α-entmax gives p_i = [(α − 1) β h_i − τ]₊^{1/(α−1)}
with τ fixed by Σ p = 1. All the weight sits on the top pattern μ exactly when

    p_μ = 1  ⇔  τ = (α − 1) β h_μ − 1,   and every other p_ν = 0  ⇔  (α − 1) β h_ν ≤ τ,

i.e. when the gap Δ = h_(1) − h_(2) between the query's two largest overlaps satisfies

    β Δ ≥ 1 / (α − 1)        (sparsemax, α = 2:  β Δ ≥ 1).

It is an if-and-only-if for one update from q: then ξ' = ξ_μ exactly. (At equality the
second weight is exactly 0.) In scores z = β h the condition is z_(1) − z_(2) ≥ 1/(α − 1),
independent of β. Softmax (α → 1) needs an infinite gap: every weight is positive, so it
never retrieves exactly (in floating point only when e^{−βΔ} underflows); Softmax₁'s weights
are all positive and sum to less than 1, so it never does either.

This is the query-side form of the retrieval results of Hu et al. 2023 (sparse modern
Hopfield) and Wu et al. 2023 (STanHop), which bound the same threshold with the separation of
the *patterns* (Δ_μ = ξ_μᵀξ_μ − max_ν ξ_μᵀξ_ν) and the query's distance from ξ_μ.
"""

from __future__ import annotations

import math

import numpy as np


def exact_threshold(alpha: float) -> float:
    """β·Δ needed for exact one-step retrieval by α-entmax: 1/(α − 1) (inf at α = 1)."""
    alpha = float(alpha)
    if not 1.0 <= alpha <= 2.0:
        raise ValueError(f"alpha must be in [1, 2], not {alpha}")
    return math.inf if alpha == 1.0 else 1.0 / (alpha - 1.0)


def score_gap(overlaps: np.ndarray) -> float:
    """Δ = h_(1) − h_(2), the gap between the two largest overlaps (NaN with one pattern)."""
    h = np.asarray(overlaps, dtype=float).ravel()
    if h.size < 2:
        return math.nan
    top2 = np.partition(h, h.size - 2)[-2:]
    return float(top2[1] - top2[0])


def retrieves_exactly(beta: float, gap: float, alpha: float) -> bool:
    """Whether one α-entmax update with inverse temperature β from a query whose top two
    overlaps differ by ``gap`` lands exactly on the top pattern."""
    return bool(beta * gap >= exact_threshold(alpha))


def exact_line(alpha: float, betas: np.ndarray) -> np.ndarray:
    """Δ(β) = 1/((α − 1) β): above it one update retrieves exactly, below it blurs."""
    return exact_threshold(alpha) / np.asarray(betas, dtype=float)


def softmax1_total_weight(scores: np.ndarray) -> float:
    """Σ p of Softmax₁ for scores z: Σ e^{z} / (1 + Σ e^{z}) < 1; → 0 when every z → −∞."""
    z = np.asarray(scores, dtype=float).ravel()
    m = max(float(z.max()), 0.0)
    s = float(np.exp(z - m).sum())
    return s / (math.exp(-m) + s)
