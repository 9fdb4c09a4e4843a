"""The shipped neural operators against the solver they replace, at equal resolution and
equal simulated horizon.

    python benchmarks/bench_operator.py            # Navier–Stokes 64², Burgers 256
    python benchmarks/bench_operator.py --quick    # fewer rounds

Then the rollout curve of each shipped checkpoint (error against step 1–60 on held-out starts:
``bench_rollout.py``, which also checks the zero-shot difference's spectrum).

One process, one intra-op thread, interleaved rounds, medians. For each system:
the shipped checkpoint's operator rolls out ``H/Δt`` steps (each step one
evaluation on its own output, batch 1 as in the live race, and a batch of 64
samples as in data work), and the engine's solver (``_data.IntervalSolver``:
ETDRK4, CFL-limited steps dividing Δt, coefficients cached; float32 like the
operator) covers the same horizon H from the same start. Ratio = solver time /
operator time. The relative L2 error of the operator at H against the solver
is printed beside it, so a fast but wrong operator shows as such.

For Navier–Stokes a third column: Li et al.'s own solver scheme
(Crank–Nicolson viscosity, explicit nonlinear term, dt = 10⁻⁴, from
``bench_pde_solvers.py``) over the same horizon — the reference their "~400×"
was measured against — timed over 2000 steps and scaled to H (its cost per
step does not depend on the state).

Navier–Stokes also at 256² (4× the training grid: the same weights zero-shot,
the solver on 256² too) over a horizon of one Δt (the solver's cost per Δt grows
~64× from 64²; one round, so the batch-64 row stays within minutes on a CPU).

The last column says who wins each row, like for like: the same device, float32
on both sides, the same horizon and the same batch.

CUDA rows (batch 1 and 64, synchronised) run where a GPU is present; otherwise
the script says why they are skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from attractor_lab.engine.models.neural_operator import _data  # noqa: E402
from attractor_lab.engine.models.neural_operator._checkpoint import load_checkpoint, shipped_checkpoints  # noqa: E402

#: simulated horizon in operator steps
HORIZON_STEPS = 10
SEED = 424_242
SETTINGS = {"navier_stokes": {"viscosity": 1e-3, "forcing": 1.0, "spin_up": 10},
            "burgers": {"viscosity": 0.02, "forcing": 0.0, "spin_up": 0}}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def start_fields(system: str, card: dict, batch: int, device) -> torch.Tensor:
    """A start from the training distribution, advanced ``spin_up`` Δt (NS: a developed forced flow)."""
    s = SETTINGS[system]
    g = torch.Generator(device=device).manual_seed(SEED)
    u = _data.draw_initial(system, batch, card["grid"], g, device, torch.float32)
    if s["spin_up"]:
        solver = _data.IntervalSolver(system, card["grid"], device, torch.float32)
        vh = solver.to_spectral(u)
        for _ in range(s["spin_up"]):
            vh = solver.advance(vh, card["dt"], s["viscosity"], s["forcing"])
        u = solver.to_physical(vh)
    return u


def runners(system: str, op, card: dict, u0: torch.Tensor, device, horizon: int = HORIZON_STEPS):
    s = SETTINGS[system]
    solver = _data.IntervalSolver(system, u0.shape[-1], device, torch.float32)
    out = {}

    def operator():
        u = u0
        with torch.no_grad():
            for _ in range(horizon):
                u = op(u, s["viscosity"], s["forcing"])
        _sync(device)
        out["operator"] = u

    def engine_solver():
        vh = solver.to_spectral(u0)
        steps = 0
        for _ in range(horizon):
            vh = solver.advance(vh, card["dt"], s["viscosity"], s["forcing"])
            steps += solver.last_steps
        _sync(device)
        out["solver"], out["solver_steps"] = solver.to_physical(vh), steps

    return {"operator": operator, "solver": engine_solver}, out


def interleaved(fns: dict, rounds: int, warm: bool = True) -> dict:
    for fn in fns.values() if warm else ():  # warm-up (coefficients cached, allocator warm)
        fn()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def li_cn_seconds(u0: torch.Tensor, card: dict, steps: int = 2000) -> float:
    """Li et al.'s CN/explicit scheme at dt = 1e-4 over the horizon, timed over ``steps`` steps and scaled."""
    from bench_pde_solvers import li_et_al_cn

    s = SETTINGS["navier_stokes"]
    state, step = li_et_al_cn(u0[0].double().cpu(), s["viscosity"], 1e-4)
    for _ in range(50):
        state = step(state)
    t0 = time.perf_counter()
    for _ in range(steps):
        state = step(state)
    per_step = (time.perf_counter() - t0) / steps
    return per_step * round(HORIZON_STEPS * card["dt"] / 1e-4)


def bench(system: str, device, batch: int, rounds: int, li: bool, scale: int = 1, horizon: int = HORIZON_STEPS,
          warm: bool = True) -> dict:
    """One row: ``scale`` × the training grid (zero-shot above 1), ``horizon`` operator steps."""
    op, card = load_checkpoint(shipped_checkpoints()[system], device)
    u0 = start_fields(system, card, batch, device)
    if scale != 1:
        u0 = _data.resample(u0, card["grid"] * scale, _data.SYSTEMS[system]["dims"])
    fns, out = runners(system, op, card, u0, device, horizon)
    t = interleaved(fns, rounds, warm)
    error = float(_data.relative_l2(out["operator"], out["solver"]).mean())
    row = {"system": system, "grid": u0.shape[-1], "device": device.type, "batch": batch,
           "horizon": horizon * card["dt"], "operator_s": t["operator"], "solver_s": t["solver"],
           "solver_steps": out["solver_steps"], "ratio": t["solver"] / t["operator"], "error": error}
    if li:
        row["li_s"] = li_cn_seconds(u0, card)
        row["li_ratio"] = row["li_s"] / t["operator"]
    return row


def winner(ratio: float) -> str:
    """Who is faster in a row (same device, batch and horizon), in words."""
    if ratio >= 1:
        return f"operator ({ratio:.3g}× faster)"
    return f"SOLVER ({1 / ratio:.3g}× faster)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    rounds = 3 if args.quick else 9
    cpu = torch.device("cpu")
    rows = []
    for system in ("navier_stokes", "burgers"):
        rows.append(bench(system, cpu, 1, rounds, li=system == "navier_stokes"))
        rows.append(bench(system, cpu, 64, max(2, rounds // 3), li=False))
    rows.append(bench("navier_stokes", cpu, 1, max(2, rounds // 3), li=False, scale=4, horizon=1))
    rows.append(bench("navier_stokes", cpu, 64, 1, li=False, scale=4, horizon=1, warm=False))
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        for system in ("navier_stokes", "burgers"):
            for batch in (1, 64):
                rows.append(bench(system, gpu, batch, rounds, li=False))
        for batch in (1, 64):
            rows.append(bench("navier_stokes", gpu, batch, rounds, li=False, scale=4, horizon=1))
    print(f"horizon {HORIZON_STEPS} operator steps (256² rows: 1, one round); medians of {rounds} interleaved rounds "
          "(batch 64: a third); 1 CPU thread; solver/op > 1: the operator is faster")
    print(f"{'system':<14} {'grid':>5} {'dev':>4} {'batch':>5} {'horizon':>7} {'operator s':>11} {'solver s':>10} "
          f"{'steps':>6} {'solver/op':>9} {'op error':>9} {'Li CN s':>9} {'Li CN/op':>9}  who wins")
    for r in rows:
        li = f"{r['li_s']:9.2f} {r['li_ratio']:9.0f}" if "li_s" in r else f"{'—':>9} {'—':>9}"
        print(f"{r['system']:<14} {r['grid']:>5} {r['device']:>4} {r['batch']:>5} {r['horizon']:>7g} "
              f"{r['operator_s']:11.4f} {r['solver_s']:10.4f} {r['solver_steps']:>6} {r['ratio']:9.3g} "
              f"{r['error']:9.4f} {li}  {winner(r['ratio'])}")
    if not torch.cuda.is_available():
        print("CUDA rows skipped: torch.cuda.is_available() is False on this machine (no GPU)")
    # rollout curves of the shipped checkpoints on held-out starts (bench_rollout.py has the options)
    from bench_rollout import print_rollout_curves

    print("rollout: relative L2 error against the solver, operator fed its own output, mean of "
          f"{2 if args.quick else 8} held-out starts")
    print_rollout_curves(trajectories=2 if args.quick else 8, steps=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
