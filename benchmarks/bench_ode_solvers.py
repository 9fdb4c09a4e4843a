"""Which ODE library drives ode_system: torchdiffeq 0.2.5 against torchode 1.0,
with scipy's solve_ivp (what a practitioner calls for a small system) and the
engine's live, resumable integration beside them.

Problem: Van der Pol μ = 1 from (2, 0) plus B − 1 random starts, t ∈ [0, 20],
401 output times, Dormand–Prince 5(4), rtol 1e-6, atol 1e-8, float64, one
thread. Every contender is timed in the same run, interleaved, median of
``--repeat`` runs; the error is the largest deviation at the output times
from scipy's DOP853 at rtol 1e-12.

Run: ``python benchmarks/bench_ode_solvers.py [--repeat 5]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy.integrate import solve_ivp

RTOL, ATOL, T_END, N_OUT, MU = 1e-6, 1e-8, 20.0, 401, 1.0


EVALS = [0]  # evaluations of the last run, as each library counts them


def field(t, x):
    EVALS[0] += 1
    u, v = x[..., 0], x[..., 1]
    return torch.stack([v, MU * (1 - u * u) * v - u], dim=-1)


def starts(batch):
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.5, 2.5, size=(batch, 2))
    x[0] = (2.0, 0.0)
    return x


def reference(x0, ts):
    out = []
    for x in x0:
        sol = solve_ivp(lambda t, y: [y[1], MU * (1 - y[0] ** 2) * y[1] - y[0]], (0, T_END), x,
                        method="DOP853", rtol=1e-12, atol=1e-12, t_eval=ts)
        out.append(sol.y.T)
    return np.stack(out)  # (B, T, 2)


def run_torchdiffeq(x0, ts):
    from torchdiffeq import odeint

    EVALS[0] = 0
    y = odeint(field, torch.tensor(x0), torch.tensor(ts), rtol=RTOL, atol=ATOL, method="dopri5")
    return y.numpy().transpose(1, 0, 2)


def run_torchode(x0, ts):
    import torchode as to

    term = to.ODETerm(lambda t, x: field(t, x))
    method = to.Dopri5(term=term)
    controller = to.IntegralController(atol=ATOL, rtol=RTOL, term=term)
    solver = to.AutoDiffAdjoint(method, controller)
    b = x0.shape[0]
    t_eval = torch.tensor(ts).repeat(b, 1)
    problem = to.InitialValueProblem(y0=torch.tensor(x0), t_eval=t_eval)
    EVALS[0] = 0
    sol = solver.solve(problem)
    return sol.ys.numpy()


def run_scipy(x0, ts):
    out = []
    EVALS[0] = 0
    for x in x0:
        sol = solve_ivp(lambda t, y: [y[1], MU * (1 - y[0] ** 2) * y[1] - y[0]], (0, T_END), x,
                        method="RK45", rtol=RTOL, atol=ATOL, t_eval=ts)
        EVALS[0] += sol.nfev  # one trajectory per call: evaluations of a single state
        out.append(sol.y.T)
    return np.stack(out)


def run_engine(x0, ts):
    from attractor_lab import engine

    sim = engine.create("ode_system", device="cpu", system="van_der_pol", mu=MU, rtol=RTOL, atol=ATOL,
                        dt=float(ts[1] - ts[0]), trajectories=1, lyapunov=False)
    sim.model.set_state(x0)
    out = [x0]
    for _ in range(len(ts) - 1):
        sim.step(1)
        out.append(sim.model.solver.state.numpy().copy())
    EVALS[0] = int(sim.observables()["nfe_total"])
    return np.stack(out).transpose(1, 0, 2)


CONTENDERS = {
    "torchdiffeq odeint (dopri5)": run_torchdiffeq,
    "torchode solve (Dopri5, per-trajectory steps)": run_torchode,
    "scipy solve_ivp RK45 (loop over trajectories)": run_scipy,
    "engine ode_system (live, one output at a time)": run_engine,
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    ts = np.linspace(0.0, T_END, N_OUT)
    print(f"Van der Pol μ = {MU}, t ∈ [0, {T_END}], {N_OUT} outputs, rtol {RTOL:g}, atol {ATOL:g}, float64, 1 thread")
    for batch in args.batches:
        x0 = starts(batch)
        ref = reference(x0, ts)
        times = {name: [] for name in CONTENDERS}
        errors, evals = {}, {}
        for name, fn in CONTENDERS.items():  # warm-up (imports, first calls)
            errors[name] = float(np.abs(fn(x0, ts) - ref).max())
            evals[name] = EVALS[0]
        for _ in range(args.repeat):
            for name, fn in CONTENDERS.items():
                t0 = time.perf_counter()
                fn(x0, ts)
                times[name].append(time.perf_counter() - t0)
        base = statistics.median(times["torchdiffeq odeint (dopri5)"])
        print(f"\nbatch of {batch} trajectories")
        print(f"{'contender':50s} {'seconds':>9s} {'vs torchdiffeq':>15s} {'max error':>10s} "
              f"{'calls of f':>10s} {'µs/call':>8s}")
        for name in CONTENDERS:
            med = statistics.median(times[name])
            print(f"{name:50s} {med:9.3f} {med / base:14.2f}x {errors[name]:10.2e} {evals[name]:10d} "
                  f"{1e6 * med / max(evals[name], 1):8.0f}")
    print("\ntorchode counts a call per batch; its per-trajectory steps make the batch take the longest "
          "trajectory's steps.\nThe engine's error norm is the worst trajectory's RMS (torchdiffeq's default: "
          "the RMS over the whole batch),\nso with many trajectories it takes more, smaller steps and is "
          "more accurate per trajectory.")


if __name__ == "__main__":
    main()
