"""The neural-operator ground-truth solvers against plain reference scripts.

    python benchmarks/bench_pde_solvers.py            # NS 64² and 256², Burgers 1024
    python benchmarks/bench_pde_solvers.py --quick    # fewer repeats, shorter runs

Three questions, all in one process, one thread each, interleaved rounds,
medians:

1. Steps/s of the engine's step (``_spectral.NavierStokesSolver`` /
   ``BurgersSolver``) against a plain script of the same scheme (ETDRK4,
   Kassam–Trefethen coefficients, 2/3 rule) written as a practitioner would:
   torch for Navier–Stokes, in the style of Li et al.'s generator (u, v, w_x,
   w_y by four inverse FFTs, u·∇w, dealias the product); numpy for Burgers
   (Kassam & Trefethen's scripts, in numpy).
2. Time to solution for data generation: Li et al.'s own generator scheme
   (Crank–Nicolson viscosity, explicit nonlinear term, dt = 10⁻⁴; their
   ``navier_stokes_2d`` in torch) against ``navier_stokes_solve`` (CFL-limited
   steps) over the same interval, with each one's error against a fine
   reference (ETDRK4 at CFL 0.1).
3. On CUDA (when present): batched data generation, samples·steps/s.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

NU = 1e-3
BURGERS_NU = 0.01


# ---- references ---------------------------------------------------------------------
def kt_coefficients(lin, h, lib, m=32):
    """Kassam–Trefethen ETDRK4 coefficients for diagonal L (array ``lin``), step h."""
    r = np.exp(1j * np.pi * (np.arange(1, m + 1) - 0.5) / m)
    lr = h * np.asarray(lin)[..., None] + r
    e, e2 = np.exp(h * lin), np.exp(h * lin / 2)
    q = h * np.real(np.mean((np.exp(lr / 2) - 1) / lr, -1))
    f1 = h * np.real(np.mean((-4 - lr + np.exp(lr) * (4 - 3 * lr + lr**2)) / lr**3, -1))
    f2 = h * np.real(np.mean((2 + lr + np.exp(lr) * (lr - 2)) / lr**3, -1))
    f3 = h * np.real(np.mean((-4 - 3 * lr - lr**2 + np.exp(lr) * (4 - lr)) / lr**3, -1))
    return tuple(lib(c) for c in (e, e2, q, f1, f2, f3))


def plain_ns_etdrk4(w0, nu, dt):
    """ETDRK4 for 2D vorticity, plain torch in the style of Li et al.'s generator."""
    import torch

    n = w0.shape[-1]
    k_max = n // 2
    k = torch.cat((torch.arange(0, k_max), torch.arange(-k_max, 0))).to(torch.float64)
    k_x, k_y = k[:, None].repeat(1, k_max + 1), k[None, : k_max + 1].repeat(n, 1)
    lap = 4 * math.pi**2 * (k_x**2 + k_y**2)
    lap[0, 0] = 1.0
    dealias = ((k_x.abs() <= 2.0 / 3.0 * k_max) & (k_y.abs() <= 2.0 / 3.0 * k_max)).to(w0.dtype)
    x = torch.arange(n, dtype=torch.float64) / n
    f = 0.1 * (torch.sin(2 * math.pi * (x[:, None] + x[None, :])) + torch.cos(2 * math.pi * (x[:, None] + x[None, :])))
    f_h = torch.fft.rfft2(f.to(w0.dtype))
    lin = -nu * lap.numpy()
    lin[0, 0] = 0.0
    e, e2, q, f1, f2, f3 = kt_coefficients(lin, dt, lambda a: torch.as_tensor(a, dtype=w0.dtype))
    k_x, k_y, lap = k_x.to(w0.dtype), k_y.to(w0.dtype), lap.to(w0.dtype)

    def nonlinear(w_h):
        psi_h = w_h / lap
        q_ = torch.fft.irfft2(2j * math.pi * k_y * psi_h, s=(n, n))
        v = torch.fft.irfft2(-2j * math.pi * k_x * psi_h, s=(n, n))
        w_x = torch.fft.irfft2(2j * math.pi * k_x * w_h, s=(n, n))
        w_y = torch.fft.irfft2(2j * math.pi * k_y * w_h, s=(n, n))
        return -dealias * torch.fft.rfft2(q_ * w_x + v * w_y) + f_h

    def step(w_h):
        nv = nonlinear(w_h)
        a = e2 * w_h + q * nv
        na = nonlinear(a)
        b = e2 * w_h + q * na
        nb = nonlinear(b)
        c = e2 * a + q * (2 * nb - nv)
        nc = nonlinear(c)
        return e * w_h + f1 * nv + 2 * f2 * (na + nb) + f3 * nc

    return torch.fft.rfft2(w0), step


def li_et_al_cn(w0, nu, dt):
    """Li et al.'s ``navier_stokes_2d`` step (CN viscosity, explicit nonlinear term), torch."""
    import torch

    n = w0.shape[-1]
    k_max = n // 2
    k = torch.cat((torch.arange(0, k_max), torch.arange(-k_max, 0))).to(w0.dtype)
    k_y = k.repeat(n, 1)
    k_x = k_y.transpose(0, 1)
    k_x, k_y = k_x[..., : k_max + 1], k_y[..., : k_max + 1]
    lap = 4 * (math.pi**2) * (k_x**2 + k_y**2)
    lap[0, 0] = 1.0
    dealias = torch.logical_and(k_y.abs() <= 2.0 / 3.0 * k_max, k_x.abs() <= 2.0 / 3.0 * k_max).to(w0.dtype)
    x = torch.arange(n, dtype=w0.dtype) / n
    f = 0.1 * (torch.sin(2 * math.pi * (x[:, None] + x[None, :])) + torch.cos(2 * math.pi * (x[:, None] + x[None, :])))
    f_h = torch.fft.rfft2(f)

    def step(w_h):
        psi_h = w_h / lap
        q = torch.fft.irfft2(2.0 * math.pi * k_y * 1j * psi_h, s=(n, n))
        v = torch.fft.irfft2(-2.0 * math.pi * k_x * 1j * psi_h, s=(n, n))
        w_x = torch.fft.irfft2(2.0 * math.pi * k_x * 1j * w_h, s=(n, n))
        w_y = torch.fft.irfft2(2.0 * math.pi * k_y * 1j * w_h, s=(n, n))
        f_nl = dealias * torch.fft.rfft2(q * w_x + v * w_y)
        return (-dt * f_nl + dt * f_h + (1.0 - 0.5 * dt * nu * lap) * w_h) / (1.0 + 0.5 * dt * nu * lap)

    return torch.fft.rfft2(w0), step


def plain_burgers_numpy(u0, nu, dt, length=2 * math.pi):
    """ETDRK4 for Burgers in numpy, as in Kassam & Trefethen's scripts (rfft, 2/3 rule)."""
    n = u0.shape[-1]
    m = np.arange(n // 2 + 1)
    k = 2 * np.pi / length * m
    g = -0.5j * k * (3 * m < n)
    e, e2, q, f1, f2, f3 = kt_coefficients(-nu * k**2, dt, np.asarray)

    def nonlinear(v):
        return g * np.fft.rfft(np.fft.irfft(v, n=n) ** 2)

    def step(v):
        nv = nonlinear(v)
        a = e2 * v + q * nv
        na = nonlinear(a)
        b = e2 * v + q * na
        nb = nonlinear(b)
        c = e2 * a + q * (2 * nb - nv)
        nc = nonlinear(c)
        return e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nc

    return np.fft.rfft(u0), step


def developed_flow(n: int, dtype):
    """Li et al.'s forced flow at t = 20 from a random start (computed on 64², spectrally
    interpolated to n): the speeds of the data's later snapshots, not of the slow start."""
    import torch

    from attractor_lab.engine.models.neural_operator import _spectral as sp

    w0 = sp.navier_stokes_grf(1, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    w = sp.navier_stokes_solve(w0, NU, 20.0)
    wh = torch.fft.rfft2(w)
    out = torch.zeros((1, n, n // 2 + 1), dtype=wh.dtype)
    out[..., :32, :32], out[..., -32:, :32] = wh[..., :32, :32], wh[..., -32:, :32]
    return (torch.fft.irfft2(out, s=(n, n)) * (n / 64) ** 2).to(dtype)


# ---- timing -------------------------------------------------------------------------------
def interleaved(runners: dict, steps: dict, rounds: int) -> dict:
    """Median steps/s of each runner over ``rounds`` interleaved rounds."""
    rates = {name: [] for name in runners}
    for name, run in runners.items():
        run(2)  # warm caches and plans
    for _ in range(rounds):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run(steps[name])
            rates[name].append(steps[name] / (time.perf_counter() - t0))
    return {name: statistics.median(r) for name, r in rates.items()}


def stepper(state, step, sync=None):
    box = [state]

    def run(count):
        s = box[0]
        for _ in range(count):
            s = step(s)
        box[0] = s
        if sync is not None:
            sync()

    return run


def bench_ns_steps(n: int, dtype, rounds: int, base_steps: int) -> dict:
    import torch

    from attractor_lab.engine.models.neural_operator import _spectral as sp

    w0 = developed_flow(n, dtype)
    solver = sp.NavierStokesSolver(n, dtype=dtype)
    wh = solver.to_spectral(w0)
    dt = 2.0 ** math.floor(math.log2(solver.auto_dt(wh)))
    coeffs, fh = solver.coefficients(NU, dt), solver.forcing_term(1.0)
    p_state, p_step = plain_ns_etdrk4(w0[0], NU, dt)
    l_state, l_step = li_et_al_cn(w0[0], NU, 1e-4)
    runners = {
        "engine": stepper(wh, lambda s: solver.step(s, coeffs, fh)),
        "plain": stepper(p_state, p_step),
        "li": stepper(l_state, l_step),
    }
    rates = interleaved(runners, {"engine": base_steps, "plain": base_steps, "li": 4 * base_steps}, rounds)
    rates["dt"] = dt
    return rates


def bench_burgers_steps(n: int, batch: int, rounds: int, base_steps: int) -> dict:
    import torch

    from attractor_lab.engine.models.neural_operator import _spectral as sp

    u0 = sp.burgers_grf(batch, n, generator=torch.Generator().manual_seed(0))
    solver = sp.BurgersSolver(n)
    vh = solver.to_spectral(u0)
    dt = solver.auto_dt(vh)
    coeffs = solver.coefficients(BURGERS_NU, dt)
    n_state, n_step = plain_burgers_numpy(u0.numpy(), BURGERS_NU, dt)
    runners = {"engine": stepper(vh, lambda s: solver.step(s, coeffs)), "numpy": stepper(n_state, n_step)}
    return interleaved(runners, {"engine": base_steps, "numpy": base_steps}, rounds)


def time_to_solution(n: int, t_end: float) -> dict:
    """Wall time and relative L2 error at t_end: Li et al.'s scheme (dt = 1e-4) and ours (CFL rule)."""
    import torch

    from attractor_lab.engine.models.neural_operator import _spectral as sp

    w0 = developed_flow(n, torch.float64)
    reference = sp.navier_stokes_solve(w0, NU, t_end, cfl=0.1)[0]
    out = {}
    t0 = time.perf_counter()
    ours = sp.navier_stokes_solve(w0, NU, t_end)[0]
    out["engine"] = (time.perf_counter() - t0, float((ours - reference).norm() / reference.norm()))
    state, step = li_et_al_cn(w0[0], NU, 1e-4)
    t0 = time.perf_counter()
    for _ in range(round(t_end / 1e-4)):
        state = step(state)
    li = torch.fft.irfft2(state, s=(n, n))
    out["li"] = (time.perf_counter() - t0, float((li - reference).norm() / reference.norm()))
    return out


def bench_cuda(quick: bool) -> None:
    import torch

    from attractor_lab.engine.models.neural_operator import _spectral as sp

    if not torch.cuda.is_available():
        print("\nCUDA rows skipped: torch.cuda.is_available() is False on this machine "
              f"(torch {torch.__version__}).")
        return
    print(f"\nCUDA ({torch.cuda.get_device_name(0)}): batched data generation, float32")
    print(f"{'grid':>6} {'batch':>6} {'samples·steps/s':>16} {'Li CN samples·steps/s':>22}")
    for n, batch in ((64, 256), (256, 32)):
        g = torch.Generator(device="cuda").manual_seed(0)
        w0 = sp.navier_stokes_grf(batch, n, generator=g, device="cuda", dtype=torch.float32)
        solver = sp.NavierStokesSolver(n, device="cuda", dtype=torch.float32)
        wh = solver.to_spectral(w0)
        coeffs, fh = solver.coefficients(NU, 1e-3, batch), solver.forcing_term(1.0, batch)
        l_state, l_step = li_et_al_cn(w0, NU, 1e-4)
        steps = 50 if quick else 200
        rates = interleaved({"engine": stepper(wh, lambda s: solver.step(s, coeffs, fh), torch.cuda.synchronize),
                             "li": stepper(l_state, l_step, torch.cuda.synchronize)},
                            {"engine": steps, "li": 4 * steps}, 3)
        print(f"{n:>5}² {batch:>6} {batch * rates['engine']:16.0f} {batch * rates['li']:22.0f}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and shorter runs")
    args = parser.parse_args(argv)

    import torch

    from attractor_lab.engine.device import configure_torch

    threads = configure_torch()
    rounds = 3 if args.quick else 7
    print(f"PDE solvers, steps/s, medians of {rounds} interleaved rounds (torch {torch.__version__}, "
          f"numpy {np.__version__}, {threads} torch thread(s), CPU)")
    print("\nNavier–Stokes 2D, ν = 1e-3, Li et al.'s forcing; engine and plain: ETDRK4 at the same CFL step; "
          "Li: CN/explicit at dt = 1e-4")
    print(f"{'grid':>6} {'dtype':>8} {'engine':>9} {'plain':>9} {'eng/plain':>10} {'Li CN':>9} "
          f"{'time/s eng':>11} {'time/s Li':>10}")
    for n in (64, 256):
        for dtype in (torch.float32, torch.float64):
            base = (200 if n == 64 else 20) // (2 if args.quick else 1)
            r = bench_ns_steps(n, dtype, rounds, base)
            dt = r["dt"]
            print(f"{n:>5}² {str(dtype).split('.')[-1]:>8} {r['engine']:9.0f} {r['plain']:9.0f} "
                  f"{r['engine'] / r['plain']:10.2f} {r['li']:9.0f} {r['engine'] * dt:11.3f} {r['li'] * 1e-4:10.3f}",
                  flush=True)
    print("time/s: simulated time per second (engine at dt = 2^⌊log2(dt_CFL)⌋ for the developed flow, "
          "Li at 1e-4). The flow: Li et al.'s setting at t = 20 from a random start.")

    print("\nTime to solution, float64, from the developed flow (reference: ETDRK4 at CFL 0.1)")
    print(f"{'grid':>6} {'t_end':>6} {'engine s':>9} {'engine err':>11} {'Li s':>8} {'Li err':>9} {'speed-up':>9}")
    for n, t_end in ((64, 1.0), (256, 0.25 if args.quick else 1.0)):
        r = time_to_solution(n, t_end)
        print(f"{n:>5}² {t_end:6.2f} {r['engine'][0]:9.2f} {r['engine'][1]:11.1e} {r['li'][0]:8.2f} "
              f"{r['li'][1]:9.1e} {r['li'][0] / r['engine'][0]:9.1f}", flush=True)

    print(f"\nBurgers 1D, n = 1024, ν = {BURGERS_NU}, ETDRK4 at the CFL step; numpy: the same scheme in numpy")
    print(f"{'batch':>6} {'engine':>9} {'numpy':>9} {'eng/numpy':>10}")
    for batch in (1, 64):
        base = (2000 if batch == 1 else 200) // (2 if args.quick else 1)
        r = bench_burgers_steps(1024, batch, rounds, base)
        print(f"{batch:>6} {r['engine']:9.0f} {r['numpy']:9.0f} {r['engine'] / r['numpy']:10.2f}", flush=True)

    bench_cuda(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
