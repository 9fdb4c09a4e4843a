"""Separation functions of modern Hopfield networks: scores z ↦ weights p over the patterns.

All act on the last axis of a tensor of any batch shape, on its device and in its dtype
(float32 or float64), and never produce NaN for finite scores however large (each first
subtracts the largest score, which none of them depends on — except Softmax₁, whose
"nothing" entry is shifted with it):

``softmax``
    p_i = e^{z_i} / Σ_j e^{z_j}: every weight positive, so a stored pattern is never
    retrieved exactly (except where e^{z_i − z_max} underflows, past a gap of about 745
    in float64 or 104 in float32).
``sparsemax`` (Martins & Astudillo 2016; the sparse modern Hopfield model, Hu et al. 2023)
    the Euclidean projection of z on the simplex, p_i = [z_i − τ]₊, by the sort-and-threshold
    formula: with z sorted decreasingly, the support is the largest k with
    1 + k z_(k) > Σ_{j≤k} z_(j), and τ = (Σ_{j≤k} z_(j) − 1)/k.
``entmax`` (α-entmax, Peters, Niculae & Martins 2019; STanHop, Wu et al. 2023)
    p_i = [(α − 1) z_i − τ]₊^{1/(α−1)}, τ found by bisection so that Σ p = 1; α = 2 is
    sparsemax, α → 1 softmax (the power is evaluated as exp(log1p(·)/(α − 1)), which stays
    accurate as α → 1; softmax is used outright for α − 1 < :data:`ENTMAX_SOFTMAX_BELOW`).
``softmax1`` (Softmax₁, OutEffHop, Hu et al. 2024)
    p_i = e^{z_i} / (1 + Σ_j e^{z_j}) in the stable form e^{z_i−M} / (e^{−M} + Σ_j e^{z_j−M}),
    M = max(z_max, 0): the weights sum to less than 1 and to about 0 when every score is
    very negative (attention to nothing).

Each is the gradient of a convex function Ψ*(z) (:func:`conjugate`), which gives the
modern network its energy E(ξ) = −Ψ*(βXᵀξ)/β + ½ξᵀξ (+ constants).
"""

from __future__ import annotations

import math

import torch

SEPARATIONS = ("softmax", "sparsemax", "entmax", "softmax1")
#: below this α − 1, α-entmax is computed as softmax outright: the two differ by O((α − 1) z²),
#: under 1e-6 there for scores spread over less than ~30 (the bisection is accurate down to α − 1 ~ 1e-12)
ENTMAX_SOFTMAX_BELOW = 1e-9
#: bisection halvings of t's bracket (width ≤ ln P at the start): past float64's resolution
BISECTION_STEPS = 64


def softmax(z: torch.Tensor) -> torch.Tensor:
    return torch.softmax(z, dim=-1)


def sparsemax(z: torch.Tensor) -> torch.Tensor:
    """Sparsemax over the last axis by the sort-and-threshold formula."""
    z = z - z.amax(dim=-1, keepdim=True)  # shift-invariant; keeps cumsums small
    zs, _ = torch.sort(z, dim=-1, descending=True)
    cums = zs.cumsum(dim=-1)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    support = (1.0 + k * zs) > cums  # true for k = 1 always (1 + z_max > z_max)
    size = support.sum(dim=-1, keepdim=True)  # the support is a prefix of the sorted scores
    tau = (cums.gather(-1, size - 1) - 1.0) / size.to(z.dtype)
    return torch.clamp(z - tau, min=0.0)


class _EntmaxBisect(torch.autograd.Function):
    """α-entmax forward by bisection; backward by its closed-form Jacobian (Peters et al. 2019):
    with g = p^{2−α} on the support, ∂L/∂z = g ⊙ (v − Σ g v / Σ g), v = ∂L/∂p."""

    @staticmethod
    def forward(ctx, z, alpha):
        p = _entmax_forward(z, alpha)
        ctx.save_for_backward(p)
        ctx.alpha = alpha
        return p

    @staticmethod
    def backward(ctx, grad):
        (p,) = ctx.saved_tensors
        g = torch.where(p > 0, p.pow(2.0 - ctx.alpha), torch.zeros_like(p))
        dz = grad * g
        dz = dz - g * dz.sum(dim=-1, keepdim=True) / g.sum(dim=-1, keepdim=True)
        return dz, None


def _entmax_forward(z: torch.Tensor, alpha: float) -> torch.Tensor:
    # p_i = [1 + ε (z_i − t)]₊^{1/ε}, ε = α − 1 (the same map as [(α−1) z_i − τ]₊^{1/(α−1)} with
    # τ = ε t − 1), evaluated as exp(log1p(ε (z_i − t)) / ε): accurate for every ε in (0, 1], and
    # → e^{z_i − t} as ε → 0, so α near 1 needs no special power. t by bisection so that Σ p = 1.
    eps = alpha - 1.0
    z = z - z.amax(dim=-1, keepdim=True)  # max 0
    n = z.shape[-1]

    def weights(t):
        arg = eps * (z - t)
        inside = arg > -1.0
        safe = torch.where(inside, arg, torch.zeros_like(arg))
        return torch.where(inside, torch.exp(torch.log1p(safe) / eps), torch.zeros_like(arg))

    # p_max = (1 − ε t)^{1/ε} lies in [1/n, 1]: t in [0, (1 − n^{−ε})/ε] (≤ ln n)
    lo = torch.zeros_like(z[..., :1])
    hi = torch.full_like(lo, -math.expm1(-eps * math.log(n)) / eps if n > 1 else 0.0)
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = weights(mid).sum(dim=-1, keepdim=True) >= 1.0  # t too low (or exact): root at or above mid
        lo = torch.where(above, mid, lo)
        hi = torch.where(above, hi, mid)
    p = weights(lo)  # Σ ≥ 1 at lo (the one-hot root t = 0 is kept exactly): normalise the rounding away
    return p / p.sum(dim=-1, keepdim=True)


def entmax(z: torch.Tensor, alpha: float) -> torch.Tensor:
    """α-entmax over the last axis, α in [1, 2], by bisection on the threshold.

    α = 1 (and α − 1 < :data:`ENTMAX_SOFTMAX_BELOW`) is softmax outright; α = 2 gives sparsemax
    (to rounding: :func:`sparsemax` is the exact sort formula)."""
    alpha = float(alpha)
    if not 1.0 <= alpha <= 2.0:
        raise ValueError(f"entmax: alpha must be in (1, 2], not {alpha}")
    if alpha - 1.0 < ENTMAX_SOFTMAX_BELOW:
        return softmax(z)
    return _EntmaxBisect.apply(z, alpha)


def softmax1(z: torch.Tensor) -> torch.Tensor:
    """Softmax₁ over the last axis: e^{z_i} / (1 + Σ_j e^{z_j}), stably."""
    m = torch.clamp(z.amax(dim=-1, keepdim=True), min=0.0)
    e = torch.exp(z - m)
    return e / (torch.exp(-m) + e.sum(dim=-1, keepdim=True))


def separate(z: torch.Tensor, kind: str, alpha: float = 1.5) -> torch.Tensor:
    """The weights of separation ``kind`` (one of :data:`SEPARATIONS`) for scores ``z``."""
    if kind == "softmax":
        return softmax(z)
    if kind == "sparsemax":
        return sparsemax(z)
    if kind == "entmax":
        return entmax(z, alpha)
    if kind == "softmax1":
        return softmax1(z)
    raise ValueError(f"separation must be one of {', '.join(SEPARATIONS)}, not {kind!r}")


def effective_alpha(kind: str, alpha: float = 1.5) -> float:
    """The α of the Tsallis family each separation belongs to (1: softmax, 2: sparsemax)."""
    return {"softmax": 1.0, "softmax1": 1.0, "sparsemax": 2.0}.get(kind, float(alpha))


def conjugate(z: torch.Tensor, kind: str, alpha: float = 1.5, p: torch.Tensor | None = None) -> torch.Tensor:
    """Ψ*(z) = max_p ⟨p, z⟩ + H(p) over the last axis, whose gradient is the separation.

    H is the Tsallis entropy H_α(p) = Σ (p_j − p_j^α) / (α(α − 1)) (Shannon at α = 1), so
    Ψ* = logsumexp for softmax; for Softmax₁ Ψ*(z) = ln(1 + Σ e^{z_j}) (softmax over [0, z]).
    ``p``: the separation's weights for ``z`` when already computed.
    """
    if kind == "softmax1":
        zero = torch.zeros_like(z[..., :1])
        return torch.logsumexp(torch.cat([zero, z], dim=-1), dim=-1)
    a = effective_alpha(kind, alpha)
    if a - 1.0 < ENTMAX_SOFTMAX_BELOW:
        return torch.logsumexp(z, dim=-1)
    p = separate(z, kind, alpha) if p is None else p
    shift = z.amax(dim=-1, keepdim=True)
    entropy = (p - p.pow(a)).sum(dim=-1) / (a * (a - 1.0))
    return (p * (z - shift)).sum(dim=-1) + shift.squeeze(-1) + entropy


def max_entropy(kind: str, count: int, alpha: float = 1.5) -> float:
    """Largest entropy term of Ψ* for ``count`` patterns (uniform p; for Softmax₁ ln(P + 1)):
    the constant that makes the energy E ≥ ½(‖ξ‖ − M)² ≥ 0."""
    if kind == "softmax1":
        return math.log(count + 1.0)
    a = effective_alpha(kind, alpha)
    if a - 1.0 < ENTMAX_SOFTMAX_BELOW:
        return math.log(count)
    return (1.0 - count ** (1.0 - a)) / (a * (a - 1.0))
