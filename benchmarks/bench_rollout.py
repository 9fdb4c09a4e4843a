"""Rollout curves of the shipped neural operators, and the spectrum of the zero-shot difference.

    python benchmarks/bench_rollout.py                  # shipped checkpoints, 8 held-out seeds, 60 steps
    python benchmarks/bench_rollout.py --checkpoint navier_stokes=/tmp/ns --trajectories 4 --steps 40

For each case of ``_training.ROLLOUT_CASES`` (Navier–Stokes 64², ν = 1e-3, forced a = 1, from a
fresh random start and from a flow developed for 10 Δt; Burgers 256, ν = 0.05) the operator is fed
its own output from the first snapshot of held-out trajectories (seed ``--seed``, neither the
training nor the cards' test seed) and its relative L2 error ‖pred − true‖₂/‖true‖₂ against the
engine's solver is averaged over the trajectories at every step 1 … ``--steps``.

Zero-shot: the same start on a grid 2× (and ½×) the training grid, operator and solver side by side
for ``--zero-steps`` steps (as the race does); the difference's power spectrum (shell-averaged in
2D) is printed per band of the top 10 % of wavenumbers against the median of the band below
(50–90 % of k_max) and against the spectrum's maximum: a ratio ≥ 1 in the top band is a grid-scale
peak or a flat floor of grid-scale noise (stripes, checkerboard). Each is compared with the same
operator with its band projection (``NeuralOperator.project``) turned off.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402

from attractor_lab.engine.models.neural_operator import _data  # noqa: E402
from attractor_lab.engine.models.neural_operator._checkpoint import load_checkpoint, shipped_checkpoints  # noqa: E402
from attractor_lab.engine.models.neural_operator._training import (ROLLOUT_CASES, difference_spectrum,  # noqa: E402
                                                                   rollout_curve, rollout_data)

SEED = 31_337


def summary(curve: list[float]) -> str:
    at = lambda k: curve[k - 1] if len(curve) >= k else float("nan")  # noqa: E731
    mean40 = sum(curve[:40]) / len(curve[:40])
    return (f"step1 {at(1):.4f}  step10 {at(10):.4f}  step20 {at(20):.4f}  step40 {at(40):.4f}  "
            f"step60 {at(60):.4f}  mean1-40 {mean40:.4f}")


def print_rollout_curves(paths: dict | None = None, cases=tuple(ROLLOUT_CASES), trajectories: int = 8,
                         steps: int = 60, seed: int = SEED, full: bool = False) -> dict:
    """Print each case's rollout curve (checkpoints ``paths`` per system, default the shipped ones);
    returns the loaded {system: (op, card)}."""
    paths = dict(shipped_checkpoints()) if paths is None else paths
    ops = {}
    for case in cases:
        system = ROLLOUT_CASES[case][0]
        if system not in ops:
            ops[system] = load_checkpoint(paths[system])
        op, card = ops[system]
        t0 = time.perf_counter()
        data = rollout_data(case, trajectories, steps, seed=seed, grid=card["grid"])
        curve = rollout_curve(op, data)
        print(f"{case:<13} {paths[system]}: {summary(curve)}  ({time.perf_counter() - t0:.0f} s)", flush=True)
        if full:
            print("  " + " ".join(f"{e:.4f}" for e in curve))
    return ops


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", action="append", default=[], metavar="SYSTEM=DIR",
                    help="measure DIR instead of the shipped checkpoint of SYSTEM")
    ap.add_argument("--trajectories", type=int, default=8)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--cases", default=",".join(ROLLOUT_CASES))
    ap.add_argument("--zero-steps", type=int, default=10, help="steps of the zero-shot race (0: skip)")
    ap.add_argument("--full", action="store_true", help="print every step of each curve")
    ap.add_argument("--no-projection", action="store_true",
                    help="skip the comparison with the band projection turned off")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    paths = dict(shipped_checkpoints())
    for item in args.checkpoint:
        system, _, folder = item.partition("=")
        paths[system] = folder
    ops = print_rollout_curves(paths, args.cases.split(","), args.trajectories, args.steps, args.seed, args.full)
    if args.zero_steps:
        for system, factor in (("burgers", 2.0), ("burgers", 0.5), ("navier_stokes", 2.0), ("navier_stokes", 0.5)):
            if system not in ops:
                continue
            op, card = ops[system]
            rep = difference_spectrum(op, card, factor, steps=args.zero_steps, seed=args.seed)
            line = (f"zero-shot {system} {factor:g}x (n={rep['n']}, {args.zero_steps} steps): error {rep['error']:.4f}; "
                    f"top 10 % of k: max/median(50-90 %) {rep['peak_ratio']:.2g}, max/spectrum max "
                    f"{rep['top_share']:.2g}")
            if not args.no_projection:
                op.dt, plain = None, op.dt
                old = difference_spectrum(op, card, factor, steps=args.zero_steps, seed=args.seed)
                op.dt = plain
                line += (f"   [without the band projection: error {old['error']:.4f}, {old['peak_ratio']:.2g}, "
                         f"{old['top_share']:.2g}]")
            print(line, flush=True)
            if args.full:
                print("  spectrum from 50 % of k_max: " + " ".join(f"{v:.2g}" for v in rep["spectrum"][rep["n"] // 4:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
