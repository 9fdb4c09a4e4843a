"""Sweeps on Dask: points per minute against workers, and the overhead per point against a plain
loop over the scripting API doing the same work in one process.

A point is a Gray–Scott run (128², Euler, Pearson's scaling) of about 1 s (``--quick``: about
0.3 s); the sweep keeps its final mean v. The plain loop is what a user would write without
the sweep machinery::

    for F in values:
        sim = engine.create("gray_scott", seed=0, device="cpu", **base, F=F)
        sim.step(steps)
        sim.observables()["mean_v"]

Overhead per point = (1 / the sweep's points per second on one worker, start-up excluded) ÷
(the loop's seconds per point) − 1. Start-up (the cluster, the workers importing torch) is
reported separately: it is paid once per run, not per point.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("ATTRACTOR_LAB_COMPILE", "0")  # as on the sweep's workers: no background compile

BASE = {"Du": 2e-5, "Dv": 1e-5, "length": 1.25, "grid": 128, "dt": 1.0, "scheme": "euler", "seeding": "centre_square"}


def sweep_text(steps: int, values: list[float]) -> str:
    import tomli_w

    return tomli_w.dumps({
        "format_version": 1, "title": "bench", "seeds": 1, "steps": steps, "burn_in": steps - 1,
        "base": {"model": "gray_scott", "seed": 0, "params": {**BASE, "k": 0.062}},
        "x": {"param": "F", "values": values}, "keep": [{"observable": "mean_v", "reduce": "final"}]})


def plain_loop(steps: int, values: list[float]) -> float:
    """Seconds per point of the plain loop (in this process, one torch thread)."""
    from attractor_lab import engine
    from attractor_lab.engine.device import configure_torch

    configure_torch(1)
    t0 = time.perf_counter()
    for f in values:
        sim = engine.create("gray_scott", seed=0, device="cpu", **BASE, k=0.062, F=f)
        sim.step(steps)
        sim.observables()["mean_v"]
    return (time.perf_counter() - t0) / len(values)


def timed_sweep(steps: int, values: list[float], scheduler: str | None = None, workers: int | None = None):
    """(points per second from the first submitted task, wall seconds of the whole call)."""
    from attractor_lab.engine.sweep.execute import run_sweep
    from attractor_lab.engine.sweep.spec import loads_sweep

    sweep = loads_sweep(sweep_text(steps, values), "bench")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        final = run_sweep(sweep, Path(tmp) / "r.zarr", scheduler=scheduler, workers=workers)
        wall = time.perf_counter() - t0
    assert final.done == len(values), final
    return final.rate, wall


def warm_cluster(workers: int):
    """A LocalCluster whose workers have imported torch and the models and run one point each."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           env={"ATTRACTOR_LAB_THREADS": "1", "ATTRACTOR_LAB_COMPILE": "0"})
    client = Client(cluster, set_as_default=False)
    timed_sweep(50, [0.03 + 0.001 * i for i in range(2 * workers)], scheduler=cluster.scheduler_address)
    return cluster, client


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter points (~0.3 s) and fewer of them")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs of the loop and the sweep")
    args = ap.parse_args()
    steps = 800 if args.quick else 3000
    cores = len(os.sched_getaffinity(0))
    n = 6 if args.quick else 12
    values = [round(0.02 + 0.04 * i / (2 * n), 6) for i in range(2 * n)]
    import numpy as np

    from attractor_lab import engine

    engine.create("gray_scott", device="cpu", **BASE).step(10)  # imports and first-call costs out of the loop
    cluster, client = warm_cluster(1)
    loops, sweeps = [], []
    try:
        for _ in range(args.repeats):  # interleaved: the machine's load drifts
            loops.append(plain_loop(steps, values[:n]))
            sweeps.append(1 / timed_sweep(steps, values[:n], scheduler=cluster.scheduler_address)[0])
    finally:
        client.close()
        cluster.close()
    loop, per_point = float(np.median(loops)), float(np.median(sweeps))
    print(f"one point: Gray–Scott 128², {steps} steps, {cores} cores")
    print(f"plain loop over the scripting API: {loop:.3f} s/point (runs {', '.join(f'{x:.3f}' for x in loops)})")
    print(f"sweep on one warm worker:          {per_point:.3f} s/point (runs {', '.join(f'{x:.3f}' for x in sweeps)})")
    print(f"overhead per point: {per_point / loop - 1:+.1%} (medians of {args.repeats} interleaved runs of {n} points)")
    _, wall = timed_sweep(steps, values[:n], workers=1)
    print(f"a cold `sweep run` (embedded cluster, 1 worker): start-up and close ≈ {wall - n * per_point:.1f} s "
          "on top of the points")
    print(f"\n| workers | points/min | × one worker | wall for {2 * n} points, warm cluster (s) |")
    print("|---|---|---|---|")
    base_rate = None
    for w in range(1, cores + 2):
        cluster, client = warm_cluster(w)
        try:
            rate, wall = timed_sweep(steps, values, scheduler=cluster.scheduler_address)
        finally:
            client.close()
            cluster.close()
        base_rate = base_rate or rate
        print(f"| {w} | {60 * rate:.1f} | {rate / base_rate:.2f} | {wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
