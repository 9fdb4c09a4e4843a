"""Hopfield sweeps per second: the engine against a plain numpy reference, same run.

    .venv/bin/python benchmarks/bench_hopfield.py [--quick] [--temperature T]

Both implement the same dynamics (random-order heat-bath single-spin updates
through the overlaps, and parallel updates) for N = 10 000, α = 0.05; the
numpy reference loops over spins in Python, which is how one would write it
without the engine. Figures are printed as ratios because the machines are
shared and noisy (each row: the median of ``--repeat`` interleaved
measurements of both). With CUDA, the engine also runs N = 100 000 with batched
replicas (no numpy reference there: it would take minutes per sweep).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import engine
from engine.device import configure_torch


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
    (interleaved, so that a busy spell of the shared machine hits all alike)."""
    runs = [[] for _ in fns]
    for fn in fns:
        fn()  # warm-up
    for _ in range(repeat):
        for out, fn in zip(runs, fns):
            out.append(rate(fn, sweeps, warmup=0))
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
    print(f"Hopfield sweeps/s, N = {n}, α = {alpha}, torch {torch.__version__}, {threads} CPU thread(s)")
    print(f"{'update':<11}{'T':>5}{'engine cpu':>12}{'numpy':>10}{'ratio':>8}{'m engine':>10}{'m numpy':>9}")
    for t in args.temperature:
        for update in ("sequential", "parallel"):
            sweeps = seq_sweeps if update == "sequential" else par_sweeps
            eng, sim = engine_sweeper("cpu", neurons=n, load=alpha, temperature=t, update=update, cue_noise=0.1)
            ref = NumpyHopfield(n, alpha, t)
            ref_sweep = ref.sweep_sequential if update == "sequential" else ref.sweep_parallel
            r_eng, r_np = median_rates([eng, ref_sweep], sweeps, 1 if args.quick else args.repeat)
            m_eng = sim.observables()["m_cued"]
            print(f"{update:<11}{t:>5.2f}{r_eng:>12.1f}{r_np:>10.1f}{r_eng / r_np:>8.2f}{m_eng:>10.3f}{ref.overlap():>9.3f}")

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
