"""Hopfield sweeps per second: the engine against a compiled per-spin loop and numpy, same run.

    .venv/bin/python benchmarks/bench_hopfield.py [--quick] [--temperature T]

All implement the same dynamics (random-order heat-bath single-spin updates
through the overlaps, and parallel updates) for N = 10 000, α = 0.05 (P = 500).
References for the sequential sweep:

* a compiled per-spin loop (numba, one thread): int8 patterns, int32 overlap
  counts N·m, one dot product per spin, the exact heat bath drawn inside the
  loop — what a practitioner writes for per-spin Monte Carlo, and the anchor
  that matters;
* the numpy reference, a Python loop over spins (weak: kept for continuity).

The parallel update is two matrix–vector products, referenced by numpy alone.
Figures are printed as ratios because the machines are shared and noisy (each
row: the median of ``--repeat`` interleaved measurements). With CUDA, the
engine also runs N = 100 000 with batched replicas (no reference there).
"""

from __future__ import annotations

import argparse
import time

import numba as nb
import numpy as np
import torch

from attractor_lab import engine
from attractor_lab.engine.device import configure_torch


class NumpyHopfield:
    """Plain numpy reference: overlaps m = Ξσ/N updated after each flip."""

    def __init__(self, n, alpha, temperature, seed=0):
        rng = np.random.default_rng(seed)
        self.rng = rng
        p = max(1, round(alpha * n))
        self.xt = rng.choice(np.array([-1.0, 1.0], np.float32), size=(n, p))
        self.sigma = self.xt[:, 0].copy()
        flip = rng.random(n) < 0.1
        self.sigma[flip] *= -1
        self.n, self.t = n, temperature
        self.diag = (self.xt * self.xt).sum(1) / n
        self.m = self.sigma @ self.xt / n

    def sweep_sequential(self):
        n, xt, s, m, t = self.n, self.xt, self.sigma, self.m, self.t
        u = np.clip(self.rng.random(n), 1e-12, 1 - 1e-7)
        theta = t * np.log((1 - u) / u) if t > 0 else np.zeros(n)
        for pos, i in enumerate(self.rng.permutation(n)):
            x = xt[i]
            h = float(x @ m) - self.diag[i] * s[i]
            if 2.0 * s[i] * h < theta[pos]:
                s[i] = -s[i]
                m += (2.0 / n) * s[i] * x

    def sweep_parallel(self):
        u = np.clip(self.rng.random(self.n), 1e-12, 1 - 1e-7)
        theta = self.t * np.log((1 - u) / u) if self.t > 0 else 0.0
        h = self.xt @ self.m - self.diag * self.sigma
        self.sigma = np.where(2.0 * self.sigma * h < theta, -self.sigma, self.sigma).astype(np.float32)
        self.m = self.sigma @ self.xt / self.n

    def overlap(self):
        return float(self.m[0])


@nb.njit(cache=True, nogil=True)
def _numba_seed(seed):
    np.random.seed(seed)


@nb.njit(cache=True, nogil=True, fastmath=True, boundscheck=False)
def _numba_sweep(x8, counts, sigma, temperature):
    """One random-order heat-bath sweep; counts = N·m (int32), exact."""
    n, p = x8.shape
    flips = 0
    for i in np.random.permutation(n):
        d = np.int32(0)
        for k in range(p):
            d += np.int32(x8[i, k]) * counts[k]
        s = sigma[i]
        delta = 2.0 * (s * d - p) / n  # ΔE = 2σh, h = (x_i·M − p σ_i)/N (no self-coupling)
        if temperature > 0.0:
            flip = np.random.random() < 1.0 / (1.0 + np.exp(delta / temperature))
        else:
            flip = delta < 0.0
        if flip:
            sigma[i] = -s
            for k in range(p):
                counts[k] -= 2 * s * x8[i, k]
            flips += 1
    return flips


class NumbaHopfield:
    """The compiled reference: a plain per-spin loop over int8 patterns and int32 counts."""

    def __init__(self, n, alpha, temperature, seed=0):
        rng = np.random.default_rng(seed)
        p = max(1, round(alpha * n))
        self.x8 = rng.choice(np.array([-1, 1], np.int8), size=(n, p))
        self.sigma = self.x8[:, 0].copy()
        self.sigma[rng.random(n) < 0.1] *= -1
        self.counts = (self.sigma.astype(np.int32) @ self.x8.astype(np.int32)).astype(np.int32)
        self.n, self.t = n, float(temperature)
        _numba_seed(seed)
        _numba_sweep(self.x8[:2].copy(), np.zeros(p, np.int32), np.ones(2, np.int8), self.t)  # compile first

    def sweep_sequential(self):
        _numba_sweep(self.x8, self.counts, self.sigma, self.t)

    def overlap(self):
        return float(self.counts[0]) / self.n


def rate(fn, sweeps, warmup=1):
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(sweeps):
        fn()
    return sweeps / (time.perf_counter() - t0)


def engine_sweeper(device, **params):
    """One engine sweep per call, and the simulation (for its observables)."""
    sim = engine.create("hopfield", seed=0, device=device, **params)

    def one():
        sim.step(1)
        if sim.model.device.type == "cuda":
            torch.cuda.synchronize()

    one()  # first sweep: adapts the chunk length
    return one, sim


def engine_rate(device, sweeps, **params):
    one, sim = engine_sweeper(device, **params)
    r = rate(one, sweeps, warmup=1)
    return r, sim.observables()["m_cued"]


def median_rates(fns, sweeps, repeat):
    """Median sweeps/s of each function, measured in turn ``repeat`` times
    (interleaved, so that a busy spell of the shared machine hits all alike);
    ``sweeps``: one count for all, or one per function."""
    counts = sweeps if isinstance(sweeps, (list, tuple)) else [sweeps] * len(fns)
    runs = [[] for _ in fns]
    for fn in fns:
        fn()  # warm-up
    for _ in range(repeat):
        for out, fn, k in zip(runs, fns, counts):
            out.append(rate(fn, k, warmup=0))
    return [float(np.median(r)) for r in runs]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few sweeps (a smoke run)")
    ap.add_argument("--temperature", type=float, nargs="*", default=[0.0, 0.5])
    ap.add_argument("--neurons", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved measurements per row; medians are shown")
    args = ap.parse_args()
    threads = configure_torch()
    n, alpha = args.neurons, 0.05
    seq_sweeps, par_sweeps = (2, 10) if args.quick else (6, 40)
    print(f"Hopfield sweeps/s, N = {n}, α = {alpha}, torch {torch.__version__}, numba {nb.__version__}, "
          f"{threads} CPU thread(s)")
    print(f"{'update':<11}{'T':>5}{'engine':>9}{'numba loop':>11}{'ratio':>7}{'numpy':>8}{'ratio':>7}"
          f"{'m engine':>10}{'m numba':>9}{'m numpy':>9}")
    for t in args.temperature:
        for update in ("sequential", "parallel"):
            sweeps = seq_sweeps if update == "sequential" else par_sweeps
            eng, sim = engine_sweeper("cpu", neurons=n, load=alpha, temperature=t, update=update, cue_noise=0.1)
            ref = NumpyHopfield(n, alpha, t)
            repeat = 1 if args.quick else args.repeat
            if update == "sequential":
                loop = NumbaHopfield(n, alpha, t)
                # the compiled loop is fast: give it as many sweeps as it takes the engine's time
                r_eng, r_nb, r_np = median_rates([eng, loop.sweep_sequential, ref.sweep_sequential],
                                                 [sweeps * 20, sweeps * 20, sweeps], repeat)
                nb_cols = f"{r_nb:>11.1f}{r_eng / r_nb:>7.2f}"
                m_nb = f"{loop.overlap():>9.3f}"
            else:
                r_eng, r_np = median_rates([eng, ref.sweep_parallel], sweeps, repeat)
                nb_cols, m_nb = f"{'—':>11}{'—':>7}", f"{'—':>9}"
            m_eng = sim.observables()["m_cued"]
            print(f"{update:<11}{t:>5.2f}{r_eng:>9.1f}{nb_cols}{r_np:>8.1f}{r_eng / r_np:>7.2f}"
                  f"{m_eng:>10.3f}{m_nb}{ref.overlap():>9.3f}")

    if torch.cuda.is_available():
        big = 100_000
        reps = 8
        print(f"\nCUDA {torch.cuda.get_device_name(0)}: N = {big}, α = {alpha}, {reps} replicas batched")
        print(f"{'update':<11}{'T':>5}{'sweeps/s':>10}{'replica-sweeps/s':>18}{'spin updates/s':>16}")
        for t in args.temperature:
            for update in ("sequential", "parallel"):
                sweeps = 2 if args.quick else (5 if update == "sequential" else 50)
                r, _ = engine_rate("cuda", sweeps, neurons=big, load=alpha, temperature=t, update=update, replicas=reps, cue_noise=0.1)
                print(f"{update:<11}{t:>5.2f}{r:>10.2f}{r * reps:>18.2f}{r * reps * big:>16.3g}")
        r1, _ = engine_rate("cuda", 2 if args.quick else 5, neurons=big, load=alpha, temperature=0.0, update="sequential", cue_noise=0.1)
        print(f"single replica sequential T=0: {r1:.2f} sweeps/s")
    else:
        print("\n(no CUDA here: the N = 100 000 batched-replica run needs a GPU)")


if __name__ == "__main__":
    main()
