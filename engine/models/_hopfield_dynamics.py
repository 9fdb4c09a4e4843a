"""Glauber dynamics for Hopfield networks without the N×N matrix (when possible).

Three backends hold what the local fields need:

``OverlapBackend``  (pairwise, P < N) the overlaps m = Aσ/N, R×P numbers per
                    batch of replicas; h = w(Bᵀm − Dσ) with D the diagonal
                    of Bᵀ A / N removed (J has a zero diagonal). Hebbian: A = B = Ξ;
                    projector rule: B = C⁻¹A with C = AAᵀ/N.
``CouplingBackend`` (pairwise, P ≥ N or synaptic dilution) the explicit
                    couplings J and the local fields h = σJ.
``DenseBackend``    (p ≥ 3) the overlaps; energy E = −(wN/p) Σ_μ m_μ^p and the
                    exact energy change of a flip from the binomial expansion.

Sequential sweeps are exact random-order single-spin heat-bath (Glauber)
updates, vectorised over chunks of K spins: every update draws its uniform u
in advance, so "spin j flips" is a deterministic function of the state just
before j, and the state before j depends only on the decisions at positions
< j in the chunk. Iterating "decide all K from the current guess of the
earlier flips" therefore reaches the exact sequential outcome in at most K
rounds (position t is right after round t), and in practice in 2–3, because a
flip moves the other fields of the chunk by O(1/√N).
"""

from __future__ import annotations

import math

import torch


def flip_thresholds(shape, temperature: float, generator, device) -> torch.Tensor:
    """θ with "flip iff ΔE < θ" equivalent to heat bath: P(flip) = 1/(1 + e^{ΔE/T}).

    θ = T ln((1 − u)/u) with u uniform; at T = 0, θ = 0 and ties (ΔE = 0) keep
    the spin.
    """
    if temperature <= 0.0:
        return torch.zeros(shape, device=device)
    u = torch.rand(shape, generator=generator, device=device).clamp_(1e-12, 1.0 - 1e-7)
    return temperature * (torch.log1p(-u) - torch.log(u))


class OverlapBackend:
    """Pairwise couplings J = w BᵀA/N (zero diagonal) held through overlaps."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, weight: float, sigma: torch.Tensor):
        self.n = a.shape[1]
        # (P, N) for whole-network products (row-major gemv: ~2x faster with MKL
        # than the transposed copy) and (N, P) for the rows gathered per chunk
        self.a = a.contiguous()
        self.b = self.a if b is a else b.contiguous()
        self.at = a.T.contiguous()
        self.bt = self.at if b is a else b.T.contiguous()
        self.w = float(weight)
        self.diag = self.w * (self.at * self.bt).sum(1) / self.n  # (N,)
        self.recompute(sigma)

    def recompute(self, sigma: torch.Tensor) -> None:
        self.m = sigma @ self.a.T / self.n  # (R, P)
        self.mb = self.m if self.bt is self.at else None

    def fields(self, idx: torch.Tensor, sigma_idx: torch.Tensor) -> torch.Tensor:
        return self.w * (self.m @ self.bt[idx].T) - self.diag[idx] * sigma_idx

    def all_fields(self, sigma: torch.Tensor) -> torch.Tensor:
        return self.w * (self.m @ self.b) - self.diag * sigma

    def coupling(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        return self.w * (self.bt[rows] @ self.at[cols].T) / self.n

    def apply(self, cols: torch.Tensor, dsigma: torch.Tensor) -> None:
        self.m += dsigma @ self.at[cols] / self.n

    def energy(self, sigma: torch.Tensor) -> torch.Tensor:
        """Energy per neuron −σᵀJσ/(2N) for each replica."""
        mb = sigma @ self.b.T / self.n if self.b is not self.a else self.m
        return -0.5 * self.w * (self.m * mb).sum(1) + 0.5 * self.diag.mean()


class CouplingBackend:
    """Explicit symmetric couplings J (N×N, zero diagonal) and local fields h = σJ."""

    def __init__(self, j: torch.Tensor, sigma: torch.Tensor):
        self.j = j
        self.n = j.shape[0]
        self.recompute(sigma)

    def recompute(self, sigma: torch.Tensor) -> None:
        self.h = sigma @ self.j

    def fields(self, idx, sigma_idx):
        return self.h[:, idx]

    def all_fields(self, sigma):
        return self.h

    def coupling(self, rows, cols):
        return self.j[rows][:, cols]

    def apply(self, cols, dsigma):
        self.h += dsigma @ self.j[cols]

    def energy(self, sigma):
        return -0.5 * (sigma * self.h).sum(1) / self.n


class DenseBackend:
    """Dense associative memory of order p: E = −(wN/p) Σ_μ m_μ^p over memory rows."""

    def __init__(self, x: torch.Tensor, weight: float, order: int, sigma: torch.Tensor):
        self.n = x.shape[1]
        self.p = int(order)
        self.w = float(weight)
        self.xt = x.T.contiguous()
        self.xt2 = self.xt * self.xt
        # ΔE = Σ_k coef_k σ^{k mod 2} Σ_μ (X^k)_μj m_μ^{p−k}, (m − 2Xσ/N)^p expanded
        self.coef = [
            -(self.w * self.n / self.p) * math.comb(self.p, k) * (-2.0 / self.n) ** k for k in range(1, self.p + 1)
        ]
        self.recompute(sigma)

    def recompute(self, sigma):
        self.m = sigma @ self.xt / self.n

    def _delta(self, m_pow, xt_odd, xt_even, s):
        """ΔE from powers of m: m_pow[k] = m^{p−k}; reduces over the last axis."""
        out = 0.0
        for k in range(1, self.p + 1):
            xk = xt_odd if k % 2 else xt_even
            term = self.coef[k - 1] * m_pow(k, xk)
            out = out + (term * s if k % 2 else term)
        return out

    def delta_energy_all(self, sigma):
        """Exact ΔE of flipping each spin alone, (R, N)."""
        return self._delta(lambda k, xk: (self.m ** (self.p - k)) @ xk.T, self.xt, self.xt2, sigma)

    def delta_energy_chunk(self, idx, s, dsigma):
        """ΔE at chunk positions given the flips ``dsigma`` (R, K) decided before each one."""
        xc = self.xt[idx]  # (K, P)
        inc = dsigma[:, :, None] * xc[None] / self.n
        mj = self.m[:, None, :] + torch.cumsum(inc, dim=1) - inc  # overlaps just before each position
        xc2 = xc * xc
        return self._delta(lambda k, xk: ((mj ** (self.p - k)) * xk[None]).sum(-1), xc, xc2, s)

    def apply(self, cols, dsigma):
        self.m += dsigma @ self.xt[cols] / self.n

    def energy(self, sigma):
        return -(self.w / self.p) * (self.m**self.p).sum(1)


def sweep_sequential(backend, sigma: torch.Tensor, temperature: float, generator, chunk: int) -> int:
    """One random-order sweep of single-spin heat-bath updates, in place. Returns the number of flips."""
    r, n = sigma.shape
    device = sigma.device
    perm = torch.randperm(n, generator=generator, device=device)
    theta = flip_thresholds((r, n), temperature, generator, device)
    dense = isinstance(backend, DenseBackend)
    pos = torch.arange(chunk, device=device)
    flips = 0
    for start in range(0, n, chunk):
        idx = perm[start : start + chunk]
        k = idx.shape[0]
        s = sigma[:, idx]
        th = theta[:, start : start + k]
        if dense:
            zero = torch.zeros_like(s)
            flip = backend.delta_energy_chunk(idx, s, zero) < th
        else:
            h0 = backend.fields(idx, s)
            flip = 2.0 * s * h0 < th
        if not bool(flip.any()):
            continue
        lower = pos[:k, None]
        for _ in range(k):
            if dense:
                new = backend.delta_energy_chunk(idx, s, -2.0 * s * flip) < th
            else:
                cols = flip.any(0).nonzero().squeeze(1)
                g = backend.coupling(idx, idx[cols]) * (cols[None, :] < lower)
                correction = (-2.0 * s[:, cols] * flip[:, cols]) @ g.T
                new = 2.0 * s * (h0 + correction) < th
            if torch.equal(new, flip):
                break
            flip = new
        cols = flip.any(0).nonzero().squeeze(1)
        dsigma = -2.0 * s[:, cols] * flip[:, cols]
        sigma[:, idx[cols]] += dsigma
        backend.apply(idx[cols], dsigma)
        flips += int(flip.sum())
    return flips


def sweep_parallel(backend, sigma: torch.Tensor, temperature: float, generator, fraction: float = 1.0) -> int:
    """Update all spins at once (or a random ``fraction`` of them), heat bath, in place."""
    r, n = sigma.shape
    theta = flip_thresholds((r, n), temperature, generator, sigma.device)
    if isinstance(backend, DenseBackend):
        flip = backend.delta_energy_all(sigma) < theta
    else:
        flip = 2.0 * sigma * backend.all_fields(sigma) < theta
    if fraction < 1.0:
        flip &= torch.rand((r, n), generator=generator, device=sigma.device) < fraction
    sigma.mul_(1.0 - 2.0 * flip.to(sigma.dtype))
    backend.recompute(sigma)
    return int(flip.sum())
