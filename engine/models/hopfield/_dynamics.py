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
rounds (position t is right after round t), and in practice in 1–2, because a
flip moves the other fields of the chunk by O(1/√N).

Cost of a chunk of K spins with F candidate flips: the fields (K×P), the
couplings from the candidates onto the chunk, computed once (F×K×P; the
rounds then cost F×K each), and the overlap update (F×P). Candidates are the
spins that flip on the fields at the chunk start plus those within a few
standard deviations of the in-chunk corrections of flipping; a spin outside
them that still flips extends the block (exactness never depends on the
margin, only the speed). This chunked scheme is the GPU path (launches, not
arithmetic, are what costs there).

On the CPU, Hebbian networks of integer patterns (±1, 0 where diluted) sweep
through the compiled per-spin loop of :mod:`engine.models.hopfield._kernels`
instead: exact integer overlap counts, one dot product per spin, the same
random numbers. It ran 1.5–2.5× faster than a plain compiled loop and 2–5×
faster than the chunked scheme on the build machine (benchmarks/README.md).
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: run the CPU sweeps of integer patterns through the numba kernel (tests switch it off to check the torch path)
CPU_FAST_PATH = True


def _kernels():
    """The numba kernels, or None where numba is missing (the torch path runs instead)."""
    global _KERNELS
    if _KERNELS is False:
        try:
            from attractor_lab.engine.models.hopfield import _kernels as k
        except ImportError:  # pragma: no cover - numba is a dependency
            k = None
        _KERNELS = k
    return _KERNELS


_KERNELS = False


def flip_thresholds(shape, temperature: float, generator, device, tie: float = 0.0) -> torch.Tensor:
    """θ with "flip iff ΔE < θ" equivalent to heat bath: P(flip) = 1/(1 + e^{ΔE/T}).

    θ = T ln((1 − u)/u) with u uniform; at T = 0, θ = −``tie`` and ties
    (ΔE = 0) keep the spin. When ΔE can only take multiples of a quantum q
    (integer patterns), ``tie = q/2`` decides exact ties exactly although the
    incremental float32 fields carry rounding errors far below q.
    """
    if temperature <= 0.0:
        return torch.full(shape, -float(tie), device=device)
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
        # rms of a coupling: sets the margin of the candidate flips in a chunk
        mean_sq = float(torch.linalg.vector_norm(self.at)) ** 2 / max(self.at.numel(), 1)  # no N×P temporary
        self.jrms = abs(self.w) * math.sqrt(mean_sq * self.at.shape[1]) / self.n
        self.x8 = _int8_rows(self.at) if self.bt is self.at else None
        # integer patterns: N·h/w is an integer, so ΔE = 2σh comes in quanta of 2w/N
        integer = bool(torch.equal(self.at, torch.round(self.at))) and (
            self.bt is self.at or bool(torch.equal(self.bt, torch.round(self.bt))))
        self.tie = abs(self.w) / self.n if integer else 0.0  # half a quantum
        self.recompute(sigma)

    def recompute(self, sigma: torch.Tensor) -> None:
        self.m = sigma @ self.a.T / self.n  # (R, P)
        self.mb = self.m if self.bt is self.at else None
        self._counts = None  # exact N·m of the CPU kernel, rebuilt when next needed

    def count_dtype(self):
        """dtype of the CPU kernel's exact counts, or None where the kernel does not apply
        (float patterns, a GPU, counts beyond int32, numba missing)."""
        if not hasattr(self, "_count_dtype"):
            kernels = _kernels() if self.x8 is not None else None
            self._count_dtype = kernels.count_dtype(self.x8.numpy(), self.n) if kernels is not None else None
        return self._count_dtype

    def counts(self, sigma: torch.Tensor, dtype) -> np.ndarray:
        """Exact integer overlaps N·m (R, P) for the CPU kernel (kept across its sweeps)."""
        if self._counts is None or self._counts.dtype != dtype:
            exact = torch.round(sigma.double() @ self.at.double())  # integers < 2^53: exact
            self._counts = np.ascontiguousarray(exact.numpy().astype(dtype))
        return self._counts

    def fields(self, idx: torch.Tensor, sigma_idx: torch.Tensor) -> torch.Tensor:
        return self.w * (self.m @ self.bt[idx].T) - self.diag[idx] * sigma_idx

    def all_fields(self, sigma: torch.Tensor) -> torch.Tensor:
        return self.w * (self.m @ self.b) - self.diag * sigma

    def coupling(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        return self.w * (self.bt[rows] @ self.at[cols].T) / self.n

    def apply(self, cols: torch.Tensor, dsigma: torch.Tensor) -> None:
        self.m += dsigma @ self.at[cols] / self.n
        self._counts = None

    def energy(self, sigma: torch.Tensor) -> torch.Tensor:
        """Energy per neuron −σᵀJσ/(2N) for each replica."""
        mb = sigma @ self.b.T / self.n if self.b is not self.a else self.m
        return -0.5 * self.w * (self.m * mb).sum(1) + 0.5 * self.diag.mean()


class CouplingBackend:
    """Explicit symmetric couplings J (N×N, zero diagonal) and local fields h = σJ."""

    def __init__(self, j: torch.Tensor, sigma: torch.Tensor):
        self.j = j
        self.n = j.shape[0]
        self.jrms = float(torch.linalg.vector_norm(j)) / self.n
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


def _int8_rows(at: torch.Tensor):
    """int8 copy of the (N, P) rows for the CPU kernel, or None.

    Only for CPU tensors whose entries are small integers (±1 patterns, 0 where
    diluted), so that the kernel's integer arithmetic is exact.
    """
    if at.device.type != "cpu" or at.numel() == 0:
        return None
    for block in at.split(4096):  # bounded temporaries
        if not bool((block == block.round()).all()) or float(block.abs().max()) > 127:
            return None
    return at.to(torch.int8).contiguous()


def sequential_chunk(n: int, flips: int, device_type: str) -> int:
    """Chunk length for the next sequential sweep of a pairwise network after
    one that flipped ``flips`` spins (all replicas) out of ``n``.

    CPU: a chunk costs a fixed ~30 small operations plus couplings ∝ K × F
    with F ≈ K·flips/n, so the best K ∝ (n/flips)^½: measured at N = 10⁴,
    P = 500, flip fractions 0.08 → 256–384, 0.36 → 128, none → 256–512.
    GPU: launches dominate, so long chunks of about 8 flips each.
    """
    if device_type == "cuda":
        return int(min(n, 2048, max(128, 8 * n // max(flips, 1))))
    k = 80.0 * math.sqrt(n / max(flips, 1))
    return int(min(n, 512, max(128, 32 * round(k / 32))))


def sweep_sequential(backend, sigma: torch.Tensor, temperature: float, generator, chunk: int) -> int:
    """One random-order sweep of single-spin heat-bath updates, in place. Returns the number of flips."""
    r, n = sigma.shape
    device = sigma.device
    perm = torch.randperm(n, generator=generator, device=device)
    theta = flip_thresholds((r, n), temperature, generator, device, getattr(backend, "tie", 0.0))
    chunk = max(1, int(chunk))
    if isinstance(backend, DenseBackend):
        return _sweep_dense(backend, sigma, perm, theta, chunk)
    if (CPU_FAST_PATH and isinstance(backend, OverlapBackend) and device.type == "cpu"
            and backend.count_dtype() is not None):
        return _sweep_overlap_compiled(_kernels(), backend, sigma, perm, theta)
    flips = _sweep_pairwise(backend, sigma, perm, theta, chunk)
    if isinstance(backend, OverlapBackend):
        backend._counts = None  # the torch path moved m in floats
    return flips


def _sweep_dense(backend, sigma, perm, theta, chunk):
    n = sigma.shape[1]
    flips = 0
    for start in range(0, n, chunk):
        idx = perm[start : start + chunk]
        k = idx.shape[0]
        s = sigma.index_select(1, idx)
        th = theta[:, start : start + k]
        flip = backend.delta_energy_chunk(idx, s, torch.zeros_like(s)) < th
        if not bool(flip.any()):
            continue
        for _ in range(k):
            new = backend.delta_energy_chunk(idx, s, -2.0 * s * flip) < th
            if torch.equal(new, flip):
                break
            flip = new
        cols = flip.any(0).nonzero().squeeze(1)
        dsigma = -2.0 * s[:, cols] * flip[:, cols]
        sigma[:, idx[cols]] += dsigma
        backend.apply(idx[cols], dsigma)
        flips += int(flip.sum())
    return flips


def _margin(backend, flips: int) -> float:
    """How far below its flip threshold a spin of a chunk with ``flips``
    flips is still a candidate: 3 standard deviations of the change of its
    "2σh" from those flips (4 J each)."""
    return 12.0 * backend.jrms * math.sqrt(flips)


class _OverlapChunks:
    """Per-sweep data of the torch path, overlap backend (chunks as views)."""

    def __init__(self, be: OverlapBackend, perm, sp, theta, chunk):
        self.be = be
        self.shared = be.bt is be.at
        # flip iff 2σ_j h_j < θ_j with h_j = w m·b_j − d_j σ_j (σ² = 1): iff base_j = θ_j + 2d_j − 2wσ_j m·b_j > 0
        self.tb = (theta + 2.0 * be.diag.index_select(0, perm)).split(chunk, 1)
        self.hs = ((2.0 * be.w) * sp).split(chunk, 1)
        self.scale = be.w / be.n
        self.alpha = -2.0 / be.n

    def start(self, c, idx):
        be = self.be
        self.rb = be.bt.index_select(0, idx)
        self.ra = self.rb if self.shared else be.at.index_select(0, idx)
        return torch.addcmul(self.tb[c], self.hs[c], be.m @ self.rb.T, value=-1.0)

    def coupling(self, cols, mask):
        """(F, K): the couplings from chunk spins ``cols`` onto the chunk, times ``mask``."""
        return (self.ra.index_select(0, cols) @ self.rb.T).mul_(mask)

    def apply(self, cols, u):
        self.be.m.addmm_(u, self.ra.index_select(0, cols), alpha=self.alpha)


class _CouplingChunks:
    """Per-sweep data of the torch path, explicit couplings."""

    def __init__(self, be: CouplingBackend, perm, sp, theta, chunk):
        self.be = be
        self.tb = theta.split(chunk, 1)
        self.hs = (2.0 * sp).split(chunk, 1)
        self.scale = 1.0

    def start(self, c, idx):
        self.idx = idx
        return torch.addcmul(self.tb[c], self.hs[c], self.be.h.index_select(1, idx), value=-1.0)

    def coupling(self, cols, mask):
        return self.be.j.index_select(0, self.idx.index_select(0, cols)).index_select(1, self.idx).mul_(mask)

    def apply(self, cols, u):
        self.be.h.addmm_(u, self.be.j.index_select(0, self.idx.index_select(0, cols)), alpha=-2.0)


def _sweep_pairwise(backend, sigma, perm, theta, chunk):
    """Pairwise networks, any device. Per chunk: base_j = θ_j − 2σ_j h_j (flip
    iff base > 0 on the fields at the chunk start); with u_i = σ_i·[i flips]
    over the candidates, spin j flips iff −4σ_j Σ_{i<j} u_i J_ij < base_j."""
    r, n = sigma.shape
    device = sigma.device
    sp = sigma.index_select(1, perm)  # spins in update order; each is updated once per sweep
    flipped = torch.zeros((r, n), dtype=torch.bool, device=device)
    chunks = _OverlapChunks if isinstance(backend, OverlapBackend) else _CouplingChunks
    sw = chunks(backend, perm, sp, theta, chunk)
    k0 = min(chunk, n)
    tri = torch.ones((k0, k0), device=device, dtype=sigma.dtype).triu_(1).mul_(sw.scale)  # [i, j]: i before j
    sps, cs, fls = sp.split(chunk, 1), (-4.0 * sp).split(chunk, 1), flipped.split(chunk, 1)
    for c, idx in enumerate(perm.split(chunk)):
        base = sw.start(c, idx)
        flip = base > 0
        nf = flip.any(0).nonzero().shape[0]  # (a host sync, like any test of the flips)
        if nf == 0:
            continue
        k = idx.shape[0]
        mask = tri if k == k0 else tri[:k, :k]
        cand = (base > -_margin(backend, nf)).any(0)
        cols = cand.nonzero().squeeze(1)
        g = sw.coupling(cols, mask.index_select(0, cols))
        s = sps[c]
        for _ in range(k + 1):
            u = (s * flip).index_select(1, cols)
            new = cs[c] * (u @ g) < base
            if torch.equal(new, flip):
                break
            flip = new
            extra = new.any(0) & ~cand
            if bool(extra.any()):  # a flip outside the candidates: extend the block
                more = extra.nonzero().squeeze(1)
                g = torch.cat([g, sw.coupling(more, mask.index_select(0, more))])
                cols = torch.cat([cols, more])
                cand |= extra
        sw.apply(cols, u)
        fls[c].copy_(flip)
    sigma.index_copy_(1, perm, torch.where(flipped, -sp, sp))
    return int(flipped.sum())


def _sweep_overlap_compiled(kernels, be: OverlapBackend, sigma, perm, theta):
    """CPU, Hebbian overlaps of integer patterns: the numba per-spin loop on exact
    integer counts (see :mod:`engine.models.hopfield._kernels`), then m = counts/N."""
    x8 = be.x8.numpy()
    if getattr(be, "_diag8", None) is None:
        be._diag8 = np.ascontiguousarray((x8.astype(np.int32) ** 2).sum(1, dtype=np.int32))
    counts = be.counts(sigma, be.count_dtype())
    flips = kernels.sequential_sweep(x8, be._diag8, perm.numpy(), theta.numpy(), counts, sigma.numpy(),
                                     2.0 * be.w / be.n)
    be.m.copy_(torch.from_numpy(counts)).div_(be.n)
    return int(flips)


def sweep_parallel(backend, sigma: torch.Tensor, temperature: float, generator, fraction: float = 1.0) -> int:
    """Update all spins at once (or a random ``fraction`` of them), heat bath, in place."""
    r, n = sigma.shape
    theta = flip_thresholds((r, n), temperature, generator, sigma.device, getattr(backend, "tie", 0.0))
    if isinstance(backend, DenseBackend):
        flip = backend.delta_energy_all(sigma) < theta
    else:
        flip = 2.0 * sigma * backend.all_fields(sigma) < theta
    if fraction < 1.0:
        flip &= torch.rand((r, n), generator=generator, device=sigma.device) < fraction
    sigma.mul_(1.0 - 2.0 * flip.to(sigma.dtype))
    backend.recompute(sigma)
    return int(flip.sum())
