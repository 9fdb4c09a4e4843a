"""neural_ode: training iterations/s against a plain torchdiffeq script, and the regulariser's effect.

    .venv/bin/python benchmarks/bench_neural_ode.py [--quick] [--repeat R]

1. Engine overhead. The engine's ``neural_ode`` (``sim.step``, headless) against
   the script one would write with torchdiffeq: the same data (taken from the
   engine's model), the same network (weights copied at the start), the same
   solver and tolerances, the same windows (the engine's random stream) and
   Adam, so both train identically and do the same work. Blocks of iterations
   alternate between the two (a busy spell of the shared machine hits both
   alike); medians of ``--repeat`` blocks, and the mean forward NFE of each, so
   that the two are seen to do the same work.

2. The regulariser (Pal et al. 2021). The same run (same seed, data, start)
   without and with ``regularise``: mean forward NFE per iteration over the
   last 100 iterations, the backward NFE, the final training loss (over the
   whole training set), the loss against the noise-free data, the held-out
   forecast error, and the NFE of one prediction over the whole span.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torchdiffeq import odeint

from attractor_lab import engine
from attractor_lab.engine.device import configure_torch

SPIRAL = {}  # the model's defaults: torchdiffeq's ode_demo set-up
NOISY_VDP = dict(target="van_der_pol", inputs="state", depth=2, width=64, trajectories=8, horizon=10.0,
                 samples=500, noise=0.05, window=30)


class PlainMLP(nn.Module):
    """What a script would write for the engine's MLP field: an nn.Sequential of Linear and Tanh layers
    (on the cubes y³ for the spiral, as torchdiffeq's ode_demo)."""

    def __init__(self, dim, width, depth, cubes):
        super().__init__()
        sizes = [dim] + [width] * depth + [dim]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.Tanh()]
        self.net = nn.Sequential(*layers[:-1])
        self.linears = [m for m in self.net if isinstance(m, nn.Linear)]
        self.cubes = cubes
        self.nfe = 0

    def forward(self, t, y):
        self.nfe += 1
        return self.net(y * y * y if self.cubes else y)  # (y**3's backward is slower on the CPU than two products)


class PlainTraining:
    """The plain script: windows of the engine's data, torchdiffeq's odeint, MSE, Adam."""

    def __init__(self, model):
        p = model.p
        self.f = PlainMLP(model.sys.dim, p["width"], p["depth"], p["inputs"] == "cubes").to(model.device, model.dtype)
        with torch.no_grad():
            for mine, theirs in zip(self.f.linears, model.field.net.layers):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)
        self.opt = torch.optim.Adam(self.f.parameters(), lr=p["lr"])
        self.data, self.t = model.data, model._window_rel
        self.window, self.batch = p["window"], p["batch"]
        self.kw = dict(rtol=p["rtol"], atol=p["atol"], method=p["solver"])
        # the engine's random stream from here on: both draw the same windows in the same order, so with
        # the same start they train identically and do the same work (same NFE) in every block
        self.g = torch.Generator(device=model.device)
        self.g.set_state(model.generator.get_state())
        self.device = model.device
        self.nfe: list[int] = []

    def step(self):
        n, s = self.data.shape[:2]
        traj = torch.randint(0, n, (self.batch,), generator=self.g, device=self.device)
        start = torch.randint(0, s - self.window + 1, (self.batch,), generator=self.g, device=self.device)
        y = self.data[traj[:, None], start[:, None] + torch.arange(self.window, device=self.device)]
        self.f.nfe = 0
        pred = odeint(self.f, y[:, 0], self.t, **self.kw).transpose(0, 1)
        loss = (pred[:, 1:] - y[:, 1:]).pow(2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.nfe.append(self.f.nfe)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def overhead(params, device, iters, repeat, warmup):
    sim = engine.create("neural_ode", seed=0, device=device, **params)
    m = sim.model
    plain = PlainTraining(m)
    eng_nfe: list[int] = []

    def engine_block():
        for _ in range(iters):
            sim.step(1)
            eng_nfe.append(m._stats["nfe_forward"])

    def plain_block():
        for _ in range(iters):
            plain.step()

    for _ in range(warmup):  # both leave the first, cheapest iterations behind
        sim.step(1)
        plain.step()
    rates = {"engine": [], "plain": []}
    for r in range(repeat):
        order = [("engine", engine_block), ("plain", plain_block)]
        for name, block in order[::-1] if r % 2 else order:  # each goes first every other round
            _sync(m.device)
            t0 = time.perf_counter()
            block()
            _sync(m.device)
            rates[name].append(iters / (time.perf_counter() - t0))
    e, p = statistics.median(rates["engine"]), statistics.median(rates["plain"])
    n_e = statistics.mean(eng_nfe)
    n_p = statistics.mean(plain.nfe[warmup:])
    return e, p, n_e, n_p


def regulariser(params, iters, reg_weight):
    rows = {}
    for reg in (False, True):
        sim = engine.create("neural_ode", seed=0, device="cpu", regularise=reg, reg_weight=reg_weight, **params)
        m = sim.model
        nfe_f, nfe_b = [], []
        t0 = time.perf_counter()
        for _ in range(iters):
            sim.step(1)
            nfe_f.append(m._stats["nfe_forward"])
            nfe_b.append(m._stats["nfe_backward"])
        seconds = time.perf_counter() - t0
        o = sim.model.observables()
        last = slice(-min(100, iters), None)
        rows[reg] = dict(nfe=statistics.mean(nfe_f[last]), nfe_b=statistics.mean(nfe_b[last]), loss=o["loss_train"],
                         clean=o["loss_clean"], forecast=o["forecast_error"], rollout=o["nfe_rollout"],
                         seconds=seconds)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short blocks, short runs (a smoke run)")
    ap.add_argument("--repeat", type=int, default=9, help="interleaved blocks per engine/plain pair (medians)")
    args = ap.parse_args()
    threads = configure_torch()
    iters, warmup = (5, 10) if args.quick else (20, 100)
    print(f"neural_ode, torch {torch.__version__}, {threads} CPU thread(s)")
    print("\n1. Training iterations/s: engine (sim.step, headless) against a plain torchdiffeq script")
    print(f"{'case':<38}{'engine it/s':>12}{'plain it/s':>12}{'ratio':>8}{'NFE engine':>12}{'NFE plain':>11}")
    cases = [("spiral, defaults (cpu)", SPIRAL, "cpu"), ("noisy Van der Pol, 64x2 (cpu)", NOISY_VDP, "cpu")]
    if torch.cuda.is_available():
        cases.append(("spiral, defaults (cuda)", SPIRAL, "cuda"))
    for name, params, device in cases:
        e, p, n_e, n_p = overhead(params, device, iters, 1 if args.quick else args.repeat, warmup)
        print(f"{name:<38}{e:>12.2f}{p:>12.2f}{e / p:>8.3f}{n_e:>12.1f}{n_p:>11.1f}")
    if not torch.cuda.is_available():
        print("(no CUDA here: the cuda row needs a GPU)")

    print("\n2. The regulariser: the same run without and with it (seed 0, same data and start)")
    print(f"{'case':<38}{'reg':>5}{'NFE fwd':>9}{'NFE bwd':>9}{'loss train':>12}{'loss clean':>12}"
          f"{'forecast':>10}{'NFE predict':>13}{'s':>7}")
    runs = [("noisy Van der Pol, w = 3e-3 (preset)", NOISY_VDP, 3e-3, 100 if args.quick else 600),
            ("noisy Van der Pol, w = 1e-2", NOISY_VDP, 1e-2, 100 if args.quick else 600),
            ("spiral (clean data), w = 1e-3", SPIRAL, 1e-3, 100 if args.quick else 500)]
    for name, params, weight, n in runs:
        rows = regulariser(params, n, weight)
        for reg, r in rows.items():
            print(f"{name if not reg else '':<38}{'on' if reg else 'off':>5}{r['nfe']:>9.1f}{r['nfe_b']:>9.1f}"
                  f"{r['loss']:>12.3g}{r['clean']:>12.3g}{r['forecast']:>10.3f}{r['rollout']:>13d}{r['seconds']:>7.0f}")
        off, on = rows[False], rows[True]
        print(f"{'':<38}{'':>5}{off['nfe'] / on['nfe']:>8.2f}x fewer NFE per iteration, loss x{on['loss'] / off['loss']:.2f}, "
              f"clean loss x{on['clean'] / off['clean']:.2f}, {off['rollout'] / max(on['rollout'], 1):.2f}x fewer NFE "
              f"per prediction")


if __name__ == "__main__":
    main()
