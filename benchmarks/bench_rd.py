"""Gray–Scott steps per second: the engine against a numpy stencil and py-pde.

    python benchmarks/bench_rd.py            # 256² and 512², float32 and float64
    python benchmarks/bench_rd.py --quick    # 256² only, fewer steps

All three run the same explicit Euler step of the same equations (5-point
Laplacian, periodic, h = 1, Du = 0.16, Dv = 0.08, F = 0.035, k = 0.065) in one
process, one thread each (torch: ``configure_torch``; numba:
``NUMBA_NUM_THREADS=1``), so the ratios are meaningful on a shared, noisy
machine even when the absolute figures are not. py-pde (the optional
``bench`` extra) computes in float64 whatever the input dtype, so its float64
figure is the reference for both engine dtypes. On CUDA the engine is also
measured at 1024² and 4096².
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before numba is imported, by py-pde
os.environ["ATTRACTOR_LAB_COMPILE"] = "1"  # compile up front, outside the timed loop
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

PARAMS = dict(F=0.035, k=0.065, Du=0.16, Dv=0.08, dt=1.0)


def seeded(n: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    u = np.ones((n, n), dtype=dtype)
    v = np.zeros((n, n), dtype=dtype)
    a, b = n // 2 - n // 20, n // 2 + n // 20
    u[a:b, a:b], v[a:b, a:b] = 0.5, 0.25
    return u + dtype(0.01) * rng.random((n, n), dtype=dtype), v


def timed(run, steps: int, repeats: int = 3) -> float:
    """Best steps/s of a few repeats (the machines are shared: the best is the least disturbed)."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(steps)
        best = max(best, steps / (time.perf_counter() - t0))
    return best


def bench_engine(n: int, dtype: str, steps: int, device: str = "cpu") -> tuple[float, float]:
    """(steps/s, seconds spent compiling: warm when inductor's on-disk cache has the kernels)."""
    import torch

    from attractor_lab import engine

    sim = engine.create("gray_scott", device=device, grid=n, dtype=dtype, **PARAMS)
    t0 = time.perf_counter()
    sim.step(20)  # compiles (policy 1): the single-step and the block kernels, then warms the caches
    compile_s = time.perf_counter() - t0
    compiled = sim.model._stepper().compiled is not None
    if not compiled:
        print(f"  (engine {n}² {dtype}: torch.compile unavailable, eager kernel)", file=sys.stderr)

    def run(k):
        for _ in range(max(k // 100, 1)):
            sim.step(min(100, k))  # chunks of 100, as the server steps between frames
        if device != "cpu":
            torch.cuda.synchronize()

    return timed(run, steps), compile_s


def bench_numpy(n: int, dtype, steps: int) -> float:
    u, v = seeded(n, dtype)
    F, k, Du, Dv, dt = (dtype(PARAMS[x]) for x in ("F", "k", "Du", "Dv", "dt"))

    def lap(a):
        return np.roll(a, 1, 0) + np.roll(a, -1, 0) + np.roll(a, 1, 1) + np.roll(a, -1, 1) - 4 * a

    def run(count):
        nonlocal u, v
        for _ in range(count):
            uvv = u * v * v
            u, v = u + dt * (Du * lap(u) - uvv + F * (1 - u)), v + dt * (Dv * lap(v) + uvv - (F + k) * v)

    return timed(run, steps)


def bench_pypde(n: int, steps: int) -> float | None:
    try:
        import pde
        from pde.solvers import EulerSolver
    except ImportError:
        return None
    grid = pde.CartesianGrid([[0, n], [0, n]], [n, n], periodic=True)
    p = PARAMS
    eq = pde.PDE({"u": f"{p['Du']}*laplace(u) - u*v**2 + {p['F']}*(1-u)",
                  "v": f"{p['Dv']}*laplace(v) + u*v**2 - {p['F'] + p['k']}*v"})
    u0, v0 = seeded(n, np.float64)
    state = pde.FieldCollection([pde.ScalarField(grid, u0), pde.ScalarField(grid, v0)])
    stepper = EulerSolver(eq, backend="numba").make_stepper(state, dt=p["dt"])
    t = stepper(state, 0.0, 5.0)  # numba compiles here

    def run(count):
        nonlocal t
        t = stepper(state, t, t + count * p["dt"])

    return timed(run, steps)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256² only, fewer steps")
    args = parser.parse_args(argv)

    import torch

    from attractor_lab.engine.device import configure_torch

    threads = configure_torch()
    sizes = (256,) if args.quick else (256, 512)
    scale = 0.3 if args.quick else 1.0
    print(f"Gray–Scott explicit Euler, steps/s (torch {torch.__version__}, {threads} torch thread(s), "
          f"NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']})")
    header = (f"{'grid':>6} {'dtype':>8} {'engine':>9} {'numpy':>8} {'py-pde':>8} {'eng/numpy':>10} "
              f"{'eng/py-pde':>11} {'compile s':>10}")
    print(header)
    for n in sizes:
        steps = int(scale * (2000 if n == 256 else 500))
        pypde = bench_pypde(n, max(steps // 2, 50))
        for dtype in ("float32", "float64"):
            eng, compile_s = bench_engine(n, dtype, steps)
            ref = bench_numpy(n, getattr(np, dtype), max(steps // 10, 20))
            ratio_pde = f"{eng / pypde:11.2f}" if pypde else f"{'n/a':>11}"
            pde_txt = f"{pypde:8.0f}" if pypde else f"{'n/a':>8}"
            print(f"{n:>5}² {dtype:>8} {eng:9.0f} {ref:8.0f} {pde_txt} {eng / ref:10.2f} {ratio_pde} {compile_s:10.1f}",
                  flush=True)
    if pypde is None:
        print("py-pde not installed (pip install -e '.[bench]'): no py-pde column")
    print("py-pde computes in float64 for either input dtype; its figure is the reference for both rows.")
    print("compile s: first 20 steps, compiling included (fast when inductor's on-disk cache already has the kernels).")
    if torch.cuda.is_available():
        print(f"\nCUDA ({torch.cuda.get_device_name(0)}), engine steps/s:")
        for n in (1024, 4096):
            for dtype in ("float32", "float64"):
                steps = 2000 if n == 1024 else 300
                eng, compile_s = bench_engine(n, dtype, int(scale * steps), device="cuda")
                print(f"{n:>5}² {dtype:>8} {eng:9.0f}   (compile {compile_s:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
