"""Several Hopfield networks swept as one batch: the sweep points of a GPU worker.

Each member is a whole network of its own — its own patterns (the disorder),
seed, temperature and cue — so fusing never changes a point's statistics (a
batch of replicas would share one pattern set). Members have equal N, number
of stored rows P and replicas R; the stack holds their pattern rows (B, N, P),
spins (B, R, N) and overlap counts M = N·m (B, R, P).

One sweep is exactly what :func:`engine.models.hopfield._dynamics.sweep_sequential`
does for each member alone: its permutation, then its thresholds θ, drawn from
its own generator in that order, then random-order single-spin heat-bath
updates, spin j flipping iff ΔE_j < θ_j with

    ΔE_j = (2w/N) · (σ_j x_j·M − d_j)

evaluated as the CPU kernel does (:mod:`engine.models.hopfield._kernels`): in
integers, then one float64 product. Members share positions in their own
update orders, so a chunk of K positions is (B, R, K) decisions: the overlaps
at the chunk start give x_j·M for each position, and the flips decided at
earlier positions i < j of the chunk change it by −2 σ_i x_i·x_j. Iterating
"decide every position from the current guess of the earlier flips" reaches
the sequential outcome in at most K rounds (position t is right after round t),
in practice 1–2; only the positions that could flip (within a few standard
deviations of their threshold, in any member) get the couplings x_i·x_j, and a
flip outside them extends the block, as in the single-network path.

Every quantity is an integer held in floating point: ±1 and 0 entries, counts
|M| ≤ N and dot products ≤ P·N. float32 holds integers exactly below 2²⁴, so
the tensors are float32 when P·N·max|x|² stays below that (float64 otherwise),
and no sum depends on its order: a member's decisions are the same in any batch,
on the CPU kernel's path and here. (TF32 matrix products would round; where
PyTorch is told to use them, the stack is float64.)
"""

from __future__ import annotations

import math

import torch

from attractor_lab.engine.models.base import FusedRuns
from attractor_lab.engine.models.hopfield._dynamics import OverlapBackend

#: float32 holds every integer below this exactly
FLOAT32_EXACT = 2**24


def chunk_length(n: int, flips: float | None, device_type: str) -> int:
    """Positions per chunk for the next sweep, from the most flips of one network in the
    last sweep (None before the first). A chunk's couplings cost ~K²P when most positions
    may flip, so busy networks want short chunks; GPUs want few launches (long chunks).
    CPU, measured (16 networks, N = 2000, P = 200, T from 0 to 1.4): K = 32–64 took 0.10 s
    per point, 128 0.13, 256 0.19, 512 0.33. GPU: as the single-network path, about 8
    flips per chunk (not measured: no GPU was lent to these sessions)."""
    if device_type == "cuda":
        return int(min(n, 1024 if flips is None else min(1024, max(128, 8 * n // max(int(flips), 1)))))
    if flips is None:
        return int(min(n, 256))
    k = 40.0 * math.sqrt(n / max(flips, 1.0))
    return int(min(n, 256, max(32, 32 * round(k / 32))))


def fusable(model) -> bool:
    """Whether a Hopfield model can join a fused sweep: pairwise Hebbian overlaps
    (A = B) of integer rows, sequential updates."""
    be = getattr(model, "backend", None)
    return (isinstance(be, OverlapBackend) and be.bt is be.at and be.tie > 0.0
            and model.p["update"] == "sequential" and model.p["interaction_order"] == 2)


class FusedHopfield(FusedRuns):
    """Hopfield networks of equal shape stepped as one batch (see the module docstring)."""

    def __init__(self, members):
        super().__init__(members)
        first = self.members[0]
        if not all(fusable(m) for m in self.members) or len(
                {(m.sigma.shape, m.backend.at.shape, m.device) for m in self.members}) != 1:
            raise ValueError("hopfield: fused members need equal neurons, stored rows, replicas and device, "
                             "sequential updates and pairwise Hebbian integer patterns")
        self.device = first.device
        n, p = first.backend.at.shape
        self.n = n
        top = max(float(m.backend.at.abs().max()) for m in self.members)
        exact32 = p * n * top * top < FLOAT32_EXACT and not (
            self.device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32)
        self.dtype = torch.float32 if exact32 else torch.float64
        self.x = torch.stack([m.backend.at for m in self.members]).to(self.dtype)  # (B, N, P)
        self.rows = self.x.reshape(-1, p)
        self.diag = (self.x * self.x).sum(-1)  # (B, N) integers
        self.offset = (torch.arange(len(self.members), device=self.device) * n)[:, None]
        # ΔE = scale · (σ x·M − d) in float64, as the CPU kernel computes it
        self.scale = torch.tensor([2.0 * m.backend.w / n for m in self.members], dtype=torch.float64,
                                  device=self.device)[:, None, None]
        # rms of a coupling: sets the margin of the candidate flips in a chunk
        self.jrms = max(abs(m.backend.w) for m in self.members) * math.sqrt(p) * top / n
        self._kept: tuple[torch.Tensor, torch.Tensor] | None = None  # (spins, counts) after the last call
        self.chunk = chunk_length(n, None, self.device.type)
        # T = 0 thresholds: "ΔE < −tie" (half a quantum, see flip_thresholds)
        self.cold = torch.tensor([-float(m.backend.tie) for m in self.members], dtype=torch.float32,
                                 device=self.device)[:, None, None]

    def _step(self, n: int) -> None:
        # temperature is live: read at each call (flip_thresholds' T, in float32 like its product)
        temps = [float(m.p["temperature"]) for m in self.members]
        self.temperature = torch.tensor(temps, dtype=torch.float32, device=self.device)[:, None, None]
        self.hot = self.temperature > 0.0
        sigma = torch.stack([m.sigma for m in self.members])  # (B, R, N)
        if self._kept is not None and torch.equal(sigma, self._kept[0]):
            counts = self._kept[1]  # nobody touched the spins since the last call: its counts hold
        else:
            counts = torch.round(sigma.double() @ self.x.double()).to(self.dtype)  # exact N·m
        flips = None
        for _ in range(n):
            flips = self._sweep(sigma, counts)
        for b, m in enumerate(self.members):
            m.sigma.copy_(sigma[b])
            m.backend.m.copy_(counts[b]).div_(self.n)  # as the CPU kernel leaves it
            m.backend._counts = None
            m.last_flips = int(flips[b])
            m._adapt_chunk()
        self._kept = (sigma, counts)

    def _draws(self, r: int):
        """Each member's permutation, then its uniforms u, from its own generator (what
        flip_thresholds draws: none at T = 0); then θ = T ln((1 − u)/u) for all at once."""
        perms, us = [], []
        shape = (r, self.n)
        for m in self.members:
            perms.append(torch.randperm(self.n, generator=m.generator, device=self.device))
            hot = m.p["temperature"] > 0.0
            us.append(torch.rand(shape, generator=m.generator, device=self.device) if hot
                      else torch.full(shape, 0.5, device=self.device))
        u = torch.stack(us).clamp_(1e-12, 1.0 - 1e-7)
        theta = self.temperature * (torch.log1p(-u) - torch.log(u))
        theta = torch.where(self.hot, theta, self.cold)
        return torch.stack(perms), theta.to(torch.float64)

    def _sweep(self, sigma: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """One sweep of every member, in place; returns the flips per member (B,)."""
        b, r, n = sigma.shape
        perm, theta = self._draws(r)
        order = perm[:, None, :].expand(b, r, n)
        sp = sigma.gather(2, order).to(self.dtype)  # spins in update order
        flipped = torch.zeros((b, r, n), dtype=torch.bool, device=self.device)
        rows = perm + self.offset  # (B, N) into the flattened rows
        dflat = self.diag.reshape(-1)
        k0 = self.chunk
        tri = torch.ones((k0, k0), dtype=self.dtype, device=self.device).triu_(1)  # [i, j]: i before j
        for start in range(0, n, k0):
            k = min(k0, n - start)
            ridx = rows[:, start:start + k].reshape(-1)
            xc = self.rows.index_select(0, ridx).view(b, k, -1)  # (B, K, P)
            dg = dflat.index_select(0, ridx).view(b, 1, k)
            s = sp[:, :, start:start + k]
            th = theta[:, :, start:start + k]
            dot0 = torch.bmm(counts, xc.transpose(1, 2))  # (B, R, K): x_j·M at the chunk start
            base = th - self.scale * (s * dot0 - dg).double()  # flip iff base > 0 (no earlier flips)
            flip = base > 0
            nf = int(flip.any(1).sum())
            if nf == 0:
                continue
            mask = tri if k == k0 else tri[:k, :k]
            margin = 12.0 * self.jrms * math.sqrt(nf)
            cand = (base > -margin).any(1).any(0)  # positions that could flip in some member
            cols = cand.nonzero().squeeze(1)
            g = self._couplings(xc, cols, mask)
            for _ in range(k + 1):
                u = (s * flip).index_select(2, cols)  # σ_i of the flips at the candidate positions
                dot = dot0 - 2.0 * torch.bmm(u, g)
                new = self.scale * (s * dot - dg).double() < th
                if torch.equal(new, flip):
                    break
                flip = new
                extra = new.any(1).any(0) & ~cand
                if bool(extra.any()):  # a flip outside the candidates: extend the block
                    more = extra.nonzero().squeeze(1)
                    g = torch.cat([g, self._couplings(xc, more, mask)], dim=1)
                    cols = torch.cat([cols, more])
                    cand |= extra
            u = (s * flip).index_select(2, cols)
            counts.baddbmm_(u, xc.index_select(1, cols), alpha=-2.0)
            flipped[:, :, start:start + k] = flip
        new_sp = torch.where(flipped, -sp, sp).to(sigma.dtype)
        sigma.scatter_(2, order, new_sp)
        flips = flipped.sum((1, 2))
        self.chunk = chunk_length(n, float(flips.max()) / r, self.device.type)
        return flips

    @staticmethod
    def _couplings(xc: torch.Tensor, cols: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, F, K): x_i·x_j from chunk positions ``cols`` onto every position after them."""
        return torch.bmm(xc.index_select(1, cols), xc.transpose(1, 2)).mul_(mask.index_select(0, cols))
