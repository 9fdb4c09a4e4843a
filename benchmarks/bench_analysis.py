"""Dynamical-systems analysis: the orbit diagram's batched integration, and continuation.

    python benchmarks/bench_analysis.py            # Rössler, 400 values × 64 trajectories
    python benchmarks/bench_analysis.py --quick    # 100 values
    python benchmarks/bench_analysis.py --device cuda

* Orbit diagram of Rössler typed as text (a = b = 0.2, c ∈ [2, 6]): 400 values of c ×
  64 starts = 25 600 trajectories as one batch, RK4 with dt = 0.05, 100 time units of
  transient and 100 recorded (4000 steps), maxima of x; float64 and float32, one CPU
  intra-op thread. Reference in the same run: scipy's ``solve_ivp`` (DOP853, rtol 1e-8)
  on 16 of the trajectories one at a time, scaled to the whole diagram.
* Continuation: the Lorenz branch C+ from ρ = 1.5 to 30 (its Hopf point located), seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

ROSSLER = """dx/dt = -y - z
dy/dt = x + a*y
dz/dt = b + z*(x - c)
par a = 0.2 [0, 0.5], b = 0.2 [0, 2], c = 5.7 [1, 20]
init x = 1, y = 1, z = 1
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    import numpy as np
    import torch
    from scipy.integrate import solve_ivp

    from attractor_lab.engine.analysis.equilibria import continuation
    from attractor_lab.engine.analysis.fields import vector_field
    from attractor_lab.engine.analysis.orbit import orbit_diagram

    torch.set_num_threads(1)
    count = 100 if args.quick else 400
    vf = vector_field("custom_ode", equations=ROSSLER)
    print(f"orbit diagram: Rössler, {count} values of c x 64 trajectories, 4000 RK4 steps, device {args.device}")
    rows = {}
    for dtype in (torch.float64, torch.float32):
        t0 = time.perf_counter()
        d = orbit_diagram(vf, "c", range=(2.0, 6.0), count=count, trajectories=64, transient=100.0, record=100.0,
                          dt=0.05, device=args.device, dtype=dtype)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        rows[str(dtype)] = time.perf_counter() - t0
        print(f"  {str(dtype):14s} {rows[str(dtype)]:7.2f} s   ({d.point_value.size} maxima)")

    def rossler(t, s, c):
        x, y, z = s
        return [-y - z, x + 0.2 * y, 0.2 + z * (x - c)]

    t0 = time.perf_counter()
    for c in np.linspace(2.0, 6.0, 16):
        solve_ivp(rossler, (0.0, 200.0), [1.0, 1.0, 1.0], method="DOP853", rtol=1e-8, atol=1e-10, args=(c,))
    per = (time.perf_counter() - t0) / 16
    ref = per * count * 64
    print(f"  scipy DOP853 one at a time: {per * 1e3:.1f} ms per trajectory -> {ref:.0f} s for the diagram "
          f"(batched float64 is {ref / rows['torch.float64']:.0f}x faster)")

    t0 = time.perf_counter()
    lorenz = vector_field("ode_system", system="lorenz")
    branch = continuation(lorenz, "rho", [0.7071, 0.7071, 0.5], range=(1.2, 30.0), rho=1.5)
    print(f"continuation: Lorenz C+ rho 1.5 -> 30, {branch.params.size} points, "
          f"{[repr(p) for p in branch.points]}, {time.perf_counter() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
