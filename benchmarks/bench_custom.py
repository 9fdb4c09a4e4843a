"""Typed equations against the built-in kernels they reproduce.

    python benchmarks/bench_custom.py            # Gray–Scott 256² float32, Lorenz batch 1024
    python benchmarks/bench_custom.py --quick    # fewer steps

* Gray–Scott typed as text (``custom_rd``) against the built-in ``gray_scott``:
  explicit Euler, 256², float32, both kernels compiled by ``torch.compile`` before
  timing (``ATTRACTOR_LAB_COMPILE=1``), steps/s.
* Lorenz typed as text against ``ode_system``'s hand-written Lorenz field and
  Jacobian: ``ode_system``'s live solver (dopri5, rtol 1e-6, with the Lyapunov
  tangent, which calls the Jacobian at every stage) on a batch of 1024
  trajectories, simulated time per second. The window's model caps a batch at 64
  trajectories; the solver underneath takes any batch, so it is measured directly.

Both pairs run in one process, alternately, best of a few repeats each; read the
ratios (the machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ["ATTRACTOR_LAB_COMPILE"] = "1"  # compile up front, outside the timed loop
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

GRAY_SCOTT = """du/dt = Du*lap(u) - u*v^2 + F*(1 - u)
dv/dt = Dv*lap(v) + u*v^2 - (F + k)*v
par F = 0.035 [0, 0.1], k = 0.065 [0, 0.1], Du = 0.16 [0, 1000], Dv = 0.08 [0, 1000]
init u = 1, v = 0
seed u = 0.5, v = 0.25
"""
LORENZ = """dx/dt = sigma*(y - x)
dy/dt = x*(rho - z) - y
dz/dt = x*y - beta*z
par sigma = 10, rho = 28, beta = 2.6666666666666665
init x = 1, y = 1, z = 1
"""


def best_rate(run, amount: float, repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = max(best, amount / (time.perf_counter() - t0))
    return best


def bench_gray_scott(steps: int, repeats: int, device: str) -> tuple[float, float]:
    import torch

    from attractor_lab import engine

    common = dict(device=device, grid=256, dtype="float32", dt=1.0, seeding="centre_square", seed=0)
    typed = engine.create("custom_rd", equations=GRAY_SCOTT, **common)
    built = engine.create("gray_scott", **common)
    for sim in (typed, built):
        sim.step(20)  # compiles (policy 1)
        if sim.model._stepper().compiled is None:
            print(f"  ({sim.name}: torch.compile unavailable, eager kernel)", file=sys.stderr)

    def runner(sim):
        def run():
            for _ in range(max(steps // 100, 1)):
                sim.step(100)
            if device != "cpu":
                torch.cuda.synchronize()
        return run

    rates = {"typed": 0.0, "built": 0.0}
    for _ in range(repeats):  # alternate: both see the same machine load
        rates["typed"] = max(rates["typed"], best_rate(runner(typed), steps, 1))
        rates["built"] = max(rates["built"], best_rate(runner(built), steps, 1))
    return rates["typed"], rates["built"]


def bench_lorenz(total_time: float, batch: int, repeats: int, device: str) -> tuple[float, float]:
    import torch

    from attractor_lab.engine.equations import parse_ode, torchgen
    from attractor_lab.engine.models.neural_ode._solver import LiveSolver
    from attractor_lab.engine.models.neural_ode._systems import SYSTEMS

    spec = parse_ode(LORENZ)
    p = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}
    typed = (torchgen.vector_field(spec.variables, spec.rhs), torchgen.matrix_field(spec.variables, spec.jacobian()))
    lorenz = SYSTEMS["lorenz"]
    built = (lorenz.field, lorenz.jacobian)
    gen = torch.Generator().manual_seed(0)
    x0 = (torch.randn((batch, 3), generator=gen, dtype=torch.float64) * 5 + torch.tensor([0.0, 0.0, 25.0],
                                                                                        dtype=torch.float64)).to(device)
    tangent = torch.randn((batch, 3), generator=gen, dtype=torch.float64).to(device)

    def runner(pair):
        field, jac = pair

        def run():
            s = LiveSolver(lambda t, x: field(t, x, p), x0, 0.0, "dopri5", rtol=1e-6, atol=1e-8,
                           tangent=tangent.clone(), jacobian=lambda t, x: jac(t, x, p),
                           section=lambda x: x[..., 2] - 27.0, sample_dt=0.0125)
            t = 0.0
            while t < total_time - 1e-12:
                t += 0.05
                s.advance(t)
            if device != "cpu":
                torch.cuda.synchronize()
        return run

    rates = {"typed": 0.0, "built": 0.0}
    for _ in range(repeats):
        rates["typed"] = max(rates["typed"], best_rate(runner(typed), total_time, 1))
        rates["built"] = max(rates["built"], best_rate(runner(built), total_time, 1))
    return rates["typed"], rates["built"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    from attractor_lab.engine.device import configure_torch

    configure_torch()
    steps, repeats, total = (400, 2, 2.0) if args.quick else (2000, 3, 5.0)
    typed, built = bench_gray_scott(steps, repeats, args.device)
    print(f"Gray–Scott 256² float32 euler ({args.device}): typed {typed:.0f} steps/s, built-in {built:.0f} "
          f"steps/s, typed/built-in {typed / built:.2f}")
    typed, built = bench_lorenz(total, 1024, repeats, args.device)
    print(f"Lorenz batch 1024 dopri5 + Lyapunov tangent ({args.device}): typed {typed:.3g} time units/s, "
          f"built-in {built:.3g}, typed/built-in {typed / built:.2f}")


if __name__ == "__main__":
    main()
