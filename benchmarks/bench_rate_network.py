"""Rate-network steps per second: the engine against plain numpy, same run, equal threads.

    .venv/bin/python benchmarks/bench_rate_network.py [--quick] [--repeat 5] [--neurons 1000 10000]

Model: dx/dt = −x + g J tanh(x), J_ij ~ N(0, 1/N), g = 2 (chaotic), classical
RK4 at dt = 0.05. Rows, each the median of ``--repeat`` interleaved
measurements:

* engine plain: ``track_lyapunov = False`` (four GEMVs per step);
* engine + λ: the tangent vector advanced in the same pass over J (Benettin);
* numpy: the same RK4 written the way one would (``J @ np.tanh(y)``), on the
  engine's own J, BLAS limited to the engine's thread count;
* numpy + λ: numpy with the state and tangent as two rows of one GEMM
  (``Y @ J.T``), the textbook way to carry a tangent.

``--torch-path`` runs the engine without its numba kernels (torch.addmv and
torch.addmm, i.e. MKL: what runs where numba is missing, and the code the GPU
runs).

"λ cost" is the engine's step time with the tangent over its plain step time.
With CUDA, GPU rows follow (engine only; numpy has no GPU).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# equal threads: the engine's default (1 on <= 4 cores, see engine.device) for BLAS too,
# set before numpy or torch load their thread pools
_THREADS = int(os.environ.get("ATTRACTOR_LAB_THREADS") or (1 if (os.cpu_count() or 1) <= 4 else os.cpu_count()))
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, str(_THREADS))

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from attractor_lab import engine  # noqa: E402
from attractor_lab.engine.device import configure_torch  # noqa: E402

G, DT = 2.0, 0.05


class NumpyRK4:
    """The same integrator in plain numpy; ``tangent`` carries δ as a second GEMM row."""

    def __init__(self, j: np.ndarray, x0: np.ndarray, tangent: bool):
        self.j, self.tangent = j, tangent
        start = np.stack([x0, np.full_like(x0, 1.0 / np.sqrt(x0.size))]) if tangent else x0.copy()
        self.y = start.astype(j.dtype)  # one dtype throughout: a float64 row would make numpy cast J every product
        self.log_sum = 0.0

    def rhs(self, y):
        if not self.tangent:
            return -y + G * (self.j @ np.tanh(y))
        th = np.tanh(y[0])
        phi = np.stack([th, (1.0 - th * th) * y[1]])
        return -y + G * (phi @ self.j.T)

    def step(self):
        y, h = self.y, DT
        k1 = self.rhs(y)
        k2 = self.rhs(y + 0.5 * h * k1)
        k3 = self.rhs(y + 0.5 * h * k2)
        k4 = self.rhs(y + h * k3)
        y = y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        if self.tangent:
            norm = np.linalg.norm(y[1])
            self.log_sum += np.log(norm)
            y[1] /= norm
        self.y = y


def medians(runners: dict, steps: int, repeat: int) -> dict:
    """Steps/s of each ``runner(steps)``, measured in turn ``repeat`` times (interleaved, so
    a busy spell of the shared machine hits all alike), medians."""
    runs = {k: [] for k in runners}
    for run in runners.values():
        run(2)  # warm-up (numba loads or compiles its kernel here)
    for _ in range(repeat):
        for k, run in runners.items():
            t0 = time.perf_counter()
            run(steps)
            runs[k].append(steps / (time.perf_counter() - t0))
    return {k: float(np.median(v)) for k, v in runs.items()}


def engine_runner(sim, track: bool):
    """``steps`` engine steps in one call, as the engine's server runs them (a chunk per frame)."""

    def run(steps):
        if sim.params["track_lyapunov"] != track:
            sim.set(track_lyapunov=track)
        sim.step(steps)
        if sim.model.device.type == "cuda":
            torch.cuda.synchronize()

    return run


def numpy_runner(ref):
    def run(steps):
        for _ in range(steps):
            ref.step()

    return run


def cpu_rows(sizes, dtype, quick, repeat, torch_path=False):
    for n in sizes:
        steps = (20 if n <= 2000 else 2) if quick else (60 if n <= 2000 else 3)
        sim = engine.create("rate_network", seed=0, device="cpu", neurons=n, g=G, dt=DT, dtype=dtype)
        if torch_path:
            sim.model._fused = None  # what runs without numba: torch.addmv / addmm (MKL)
        j = sim.model.J.numpy()  # the same couplings, no copy
        x0 = sim.model.y[0].numpy().copy()
        ref, ref_t = NumpyRK4(j, x0, False), NumpyRK4(j, x0, True)
        r = medians({
            "plain": engine_runner(sim, False),
            "lyap": engine_runner(sim, True),
            "np": numpy_runner(ref),
            "np_lyap": numpy_runner(ref_t),
        }, steps, 1 if quick else repeat)
        kernel = "numba" if sim.model._fused is not None else "torch"
        print(f"{n:>7}{dtype:>9}{r['plain']:>12.1f}{r['lyap']:>12.1f}{r['np']:>10.1f}{r['np_lyap']:>11.1f}"
              f"{r['plain'] / r['np']:>12.2f}{r['plain'] / r['lyap']:>9.2f}{r['np'] / r['np_lyap']:>11.2f}   {kernel}")
        del sim, j, ref, ref_t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few steps (a smoke run)")
    ap.add_argument("--repeat", type=int, default=15, help="interleaved measurements per row; medians are shown")
    ap.add_argument("--neurons", type=int, nargs="*", default=[1000, 10_000])
    ap.add_argument("--dtype", nargs="*", default=["float32", "float64"], choices=["float32", "float64"])
    ap.add_argument("--torch-path", action="store_true",
                    help="engine rows on its torch path (what runs without numba, and on GPUs) instead of the numba kernels")
    args = ap.parse_args()
    threads = configure_torch(_THREADS)
    print(f"Rate network steps/s, g = {G}, RK4 dt = {DT}, torch {torch.__version__}, numpy {np.__version__}, "
          f"{threads} thread(s) for torch, BLAS and numba")
    print(f"{'N':>7}{'dtype':>9}{'engine':>12}{'engine+λ':>12}{'numpy':>10}{'numpy+λ':>11}"
          f"{'eng/numpy':>12}{'λ cost':>9}{'numpy λ':>11}   CPU kernel")
    for dtype in args.dtype:
        cpu_rows(args.neurons, dtype, args.quick, args.repeat, args.torch_path)

    if torch.cuda.is_available():
        print(f"\nCUDA {torch.cuda.get_device_name(0)} (engine only; numpy has no GPU)")
        print(f"{'N':>7}{'dtype':>9}{'engine':>12}{'engine+λ':>12}{'λ cost':>9}")
        for n in (10_000, 30_000):
            sim = engine.create("rate_network", seed=0, device="cuda", neurons=n, g=G, dt=DT, dtype="float32")
            steps = 20 if args.quick else 200
            r = medians({"plain": engine_runner(sim, False), "lyap": engine_runner(sim, True)}, steps,
                        1 if args.quick else args.repeat)
            print(f"{n:>7}{'float32':>9}{r['plain']:>12.1f}{r['lyap']:>12.1f}{r['plain'] / r['lyap']:>9.2f}")
            del sim
    else:
        print("\n(no CUDA here: the GPU rows were skipped)")


if __name__ == "__main__":
    main()
