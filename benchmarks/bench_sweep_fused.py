"""Fused sweep points: Hopfield networks stepped as one batch against one network at a time.

A point is the shipped phase diagram's (presets/sweeps/hopfield_phase_diagram.toml): N = 2000,
α = 0.1 (P = 200), a cue with 10 % wrong bits, 100 sequential sweeps, at a temperature of the
preset's grid (0 to 1.4) and a seed of its own — a new network each time, as a sweep makes it.
Every row computes the same points (the fused rows give bit-identical spins; checked here).

Rows, points per second on one device:

* alone, the model's own step: on the CPU the compiled per-spin loop (numba), on a GPU the
  chunked float path — what a sweep without fusing runs;
* alone, the chunked torch path (CPU only: the GPU's single-network path, measured on the CPU);
* fused, B networks per batch (engine/models/hopfield/_fused.py).

Usage: ``python benchmarks/bench_sweep_fused.py [--quick] [--device cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

BASE = dict(neurons=2000, load=0.1, cue_noise=0.1)


def temperatures(count: int) -> list[float]:
    return [round(1.4 * i / max(count - 1, 1), 4) for i in range(count)]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def make(points, device, first=0):
    """Point i: its own seed (100 + i) and temperature."""
    from attractor_lab import engine

    return [engine.create("hopfield", seed=100 + first + i, device=device, temperature=t, **BASE).model
            for i, t in enumerate(points)]


def alone(points, steps, device, fast=True):
    """Seconds per point, each network made and stepped by itself; and the final spins."""
    from attractor_lab.engine.models.hopfield import _dynamics

    before = _dynamics.CPU_FAST_PATH
    _dynamics.CPU_FAST_PATH = fast
    try:
        sync(device)
        t0 = time.perf_counter()
        spins = []
        for m in make(points, device):
            m.step(steps)
            spins.append(m.sigma.cpu())
        sync(device)
        return (time.perf_counter() - t0) / len(points), spins
    finally:
        _dynamics.CPU_FAST_PATH = before


def fused(points, steps, device, width):
    """Seconds per point in batches of ``width``; and the final spins."""
    from attractor_lab.engine.models import get
    from attractor_lab.engine.models.hopfield._fused import FusedHopfield

    cls = get("hopfield")
    sync(device)
    t0 = time.perf_counter()
    spins = []
    for start in range(0, len(points), width):
        members = make(points[start:start + width], device, start)
        batch = cls.fused(members)
        assert isinstance(batch, FusedHopfield) or len(members) == 1
        batch.step(steps)
        spins.extend(m.sigma.cpu() for m in members)
    sync(device)
    return (time.perf_counter() - t0) / len(points), spins


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer points and sweeps")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from attractor_lab.engine.device import configure_torch

    configure_torch(1 if args.device == "cpu" else None)
    steps = 20 if args.quick else 100
    count = 16 if args.quick else 64
    widths = [8, count] if args.quick else [8, 32, 64]
    points = temperatures(count)
    make(points[:2], args.device)[0].step(2)  # imports, compiled kernel from its cache
    rows: dict[str, list[float]] = {}
    reference = None
    for _ in range(args.repeats):  # interleaved: the machine's load drifts
        runs = [("alone, model's own step", lambda: alone(points, steps, args.device))]
        if args.device == "cpu":
            runs.append(("alone, chunked torch path", lambda: alone(points, steps, args.device, fast=False)))
        runs += [(f"fused, B = {w}", lambda w=w: fused(points, steps, args.device, w)) for w in widths]
        for name, run in runs:
            seconds, spins = run()
            rows.setdefault(name, []).append(seconds)
            if "fused" in name or name.startswith("alone, model") and args.device == "cpu":
                if reference is None:
                    reference = spins
                same = all(torch.equal(a, b) for a, b in zip(reference, spins))
                assert same, f"{name}: spins differ from the first exact row"
    first = float(np.median(rows["alone, model's own step"]))
    where = (torch.cuda.get_device_name() if args.device.startswith("cuda")
             else f"cpu, {torch.get_num_threads()} thread(s), {len(os.sched_getaffinity(0))} cores")
    print(f"{count} points of N = {BASE['neurons']}, α = {BASE['load']}, {steps} sequential sweeps each, "
          f"T from 0 to 1.4; {where}; medians of {args.repeats}")
    print("\n| run | s/point | points/s | × alone (own step) |")
    print("|---|---|---|---|")
    for name, values in rows.items():
        s = float(np.median(values))
        print(f"| {name} | {s:.4f} | {1 / s:.1f} | {first / s:.2f} |")


if __name__ == "__main__":
    main()
