"""Training a Fourier neural operator on data from the engine's own solvers (``train-operator``).

What one run does (:func:`train_operator`):

1. Generate ``samples`` training trajectories with seed ``seed`` and a held-out
   test split (``test_samples`` trajectories, seed ``test_seed``) by
   :func:`._data.generate`, on the device.
2. Fit u(t) → u(t + Δt) on every consecutive pair of the training trajectories
   (Adam, a one-cycle learning-rate schedule, batches shuffled by a seeded
   generator). The loss is the relative L2 error of the step (optionally plus
   the error of ``unroll`` − 1 further steps fed their own output, which keeps
   rollouts stable), averaged over the batch.
3. Measure on the test split: the one-step error over every pair, the 10-step
   rollout error (from every start with 10 snapshots after it, the error of the
   tenth step), and the persistence baseline u(t + Δt) = u(t).
4. Write ``OUT/weights.safetensors`` and ``OUT/card.json`` (see :mod:`._checkpoint`).

Error: ‖pred − true‖₂ / ‖true‖₂ per sample over the grid, averaged over samples.
"""

from __future__ import annotations

import math
import time

import torch

from attractor_lab.engine.models.neural_operator import _data
from attractor_lab.engine.models.neural_operator._fno import NeuralOperator

ROLLOUT = 10
#: ``chunk``: trajectories solved together in data generation. A batch shares the solver's step,
#: set by its fastest flow, so Navier–Stokes (whose vortex starts vary in speed) goes in small chunks.
#: the architecture and optimisation ``train-operator`` uses per system unless told otherwise
DEFAULTS = {
    "burgers": {"width": 48, "modes": 24, "layers": 4, "projection": 64, "activation": "gelu",
                "samples": 600, "test_samples": 100, "epochs": 25, "batch": 32, "lr": 2e-3, "unroll": 1,
                "chunk": 128},
    "navier_stokes": {"width": 24, "modes": 12, "layers": 4, "projection": 48, "activation": "gelu",
                      "samples": 500, "test_samples": 60, "epochs": 10, "batch": 16, "lr": 2e-3, "unroll": 1,
                      "chunk": 32},
}


def architecture(system: str, grid: int, **overrides) -> dict:
    """The card's architecture block for ``system`` (defaults, then ``overrides``)."""
    spec, d = _data.check_system(system), DEFAULTS[system]
    arch = {"dims": spec["dims"], "in_channels": 2 if spec["dims"] == 1 else 3, "width": d["width"],
            "modes": d["modes"], "layers": d["layers"], "projection": d["projection"], "activation": d["activation"]}
    arch.update({k: v for k, v in overrides.items() if v is not None})
    return arch


def pairs(data: _data.Trajectories, span: int = 1, stride: int = 1):
    """Windows of ``span`` + 1 consecutive snapshots starting at every ``stride``-th one:
    (N, span + 1, *grid), with ν and a per window."""
    k = data.fields.shape[1]
    first = torch.arange(0, k - span, stride)
    idx = (first[:, None] + torch.arange(span + 1)[None, :]).to(data.fields.device)
    windows = data.fields[:, idx].flatten(0, 1)
    starts = first.numel()
    return windows, data.viscosity.repeat_interleave(starts), data.forcing.repeat_interleave(starts)


@torch.no_grad()
def evaluate(op: NeuralOperator, data: _data.Trajectories, rollout: int = ROLLOUT, batch: int = 64,
             stride: int = 1) -> dict:
    """Relative L2 errors of ``op`` on ``data``: ``one_step`` over every consecutive pair,
    ``f"{rollout}_step"`` the error of the ``rollout``-th step fed its own output, from every
    ``stride``-th snapshot that has ``rollout`` after it; the same two for persistence
    (u(t + Δt) = u(t)). Each is the mean over samples of ‖pred − true‖₂/‖true‖₂."""
    op.eval()
    rollout = min(rollout, data.fields.shape[1] - 1)

    def mean(xs):
        return float(torch.cat(xs).mean())

    def over(windows, nu, a, fn):
        return [fn(windows[s:s + batch], nu[s:s + batch], a[s:s + batch]) for s in range(0, windows.shape[0], batch)]

    w1, v1, f1 = pairs(data, 1)
    one = over(w1, v1, f1, lambda w, v, f: _data.relative_l2(op(w[:, 0], v, f), w[:, 1]))
    persist = over(w1, v1, f1, lambda w, v, f: _data.relative_l2(w[:, 0], w[:, 1]))
    wk, vk, fk = pairs(data, rollout, stride)
    roll = over(wk, vk, fk, lambda w, v, f: _data.relative_l2(op.rollout(w[:, 0], v, rollout, f)[:, -1], w[:, -1]))
    persist_roll = over(wk, vk, fk, lambda w, v, f: _data.relative_l2(w[:, 0], w[:, -1]))
    return {"one_step": mean(one), f"{rollout}_step": mean(roll), "persistence_one_step": mean(persist),
            f"persistence_{rollout}_step": mean(persist_roll)}


def fit(op: NeuralOperator, data: _data.Trajectories, *, epochs: int, batch: int, lr: float, unroll: int = 1,
        seed: int = 0, weight_decay: float = 1e-4, progress=None, log=None) -> list[float]:
    """Train ``op`` in place; returns the mean training loss per epoch.

    ``progress(n)`` is called after each batch with its size (a tqdm bar);
    ``log(epoch, loss)`` after each epoch."""
    windows, nu, a = pairs(data, unroll)
    n = windows.shape[0]
    generator = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.AdamW(op.parameters(), lr=lr, weight_decay=weight_decay)
    per_epoch = math.ceil(n / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, epochs * per_epoch),
                                                pct_start=0.1)
    history = []
    for epoch in range(epochs):
        op.train()
        order = torch.randperm(n, generator=generator).to(windows.device)
        total = 0.0
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            w, v, f = windows[idx], nu[idx], a[idx]
            u, loss = w[:, 0], 0.0
            for j in range(1, unroll + 1):
                u = op(u, v, f)
                loss = loss + _data.relative_l2(u, w[:, j]).mean()
            loss = loss / unroll
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * idx.numel()
            if progress is not None:
                progress(idx.numel())
        history.append(total / n)
        if log is not None:
            log(epoch, history[-1])
    op.eval()
    return history


def set_normalisation(op: NeuralOperator, data: _data.Trajectories) -> None:
    """The field's and the one-step increment's standard deviations over the training data (buffers)."""
    f = data.fields
    op.field_scale.fill_(float(f.std()))
    op.delta_scale.fill_(float((f[:, 1:] - f[:, :-1]).std()))


def train_operator(system: str, out, *, samples: int | None = None, test_samples: int | None = None,
                   epochs: int | None = None, device="cpu", seed: int = 0, test_seed: int = 1_000_003,
                   grid: int | None = None, steps: int | None = None, batch: int | None = None,
                   lr: float | None = None, unroll: int | None = None, width: int | None = None,
                   modes: int | None = None, layers: int | None = None, weights_dtype: str = "float32",
                   command: str = "", show_progress: bool = True, message=print) -> dict:
    """Generate data, train, measure and write ``out/weights.safetensors`` and ``out/card.json``.

    Returns the card. ``message`` receives one-line reports (stderr in the CLI)."""
    from tqdm import tqdm

    from attractor_lab.engine.models.neural_operator import _checkpoint

    spec, d = _data.check_system(system), DEFAULTS[system]
    samples = d["samples"] if samples is None else int(samples)
    test_samples = d["test_samples"] if test_samples is None else int(test_samples)
    epochs = d["epochs"] if epochs is None else int(epochs)
    batch = d["batch"] if batch is None else int(batch)
    lr = d["lr"] if lr is None else float(lr)
    unroll = d["unroll"] if unroll is None else int(unroll)
    grid = spec["grid"] if grid is None else int(grid)
    steps = spec["steps"] if steps is None else int(steps)
    if min(samples, test_samples, epochs, batch, unroll, grid, steps) < 1:
        raise ValueError("train-operator: samples, test samples, epochs, batch, unroll, grid and steps must be >= 1")
    if steps < min(ROLLOUT, steps) or steps < unroll:
        raise ValueError(f"train-operator: trajectories of {steps} steps are shorter than the unroll ({unroll})")
    if seed == test_seed:
        raise ValueError(f"train-operator: the test seed must differ from the training seed ({seed})")
    device = torch.device(device)
    torch.manual_seed(seed)  # the network's initialisation
    started = time.perf_counter()

    def make(n, s, what):
        with tqdm(total=n, desc=f"{system}: {what} data", unit="traj", disable=not show_progress,
                  mininterval=2.0) as bar:
            return _data.generate(system, n, steps=steps, grid=grid, seed=s, device=device, chunk=d["chunk"],
                                  progress=bar.update)

    train = make(samples, seed, "training")
    test = make(test_samples, test_seed, "test")
    generation_seconds = time.perf_counter() - started
    arch = architecture(system, grid, width=width, modes=modes, layers=layers)
    config = {**arch, "viscosity_range": list(spec["viscosity_range"])}
    op = NeuralOperator(config).to(device)
    set_normalisation(op, train)
    per_epoch = (steps + 1 - unroll) * samples
    with tqdm(total=epochs * per_epoch, desc=f"{system}: training", unit="pair", disable=not show_progress,
              mininterval=2.0) as bar:
        def log(epoch, loss):
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.4f}")
        t0 = time.perf_counter()
        history = fit(op, train, epochs=epochs, batch=batch, lr=lr, unroll=unroll, seed=seed,
                      progress=bar.update, log=log)
        train_seconds = time.perf_counter() - t0
    errors = evaluate(op, test)
    total_seconds = time.perf_counter() - started
    card = _checkpoint.make_card(
        system=system, grid=grid, dt=spec["dt"], viscosity_range=spec["viscosity_range"],
        forcing_range=spec["forcing_range"], architecture=arch,
        data={"train_trajectories": samples, "test_trajectories": test_samples, "steps_per_trajectory": steps,
              "train_pairs": samples * steps, "seed": seed, "test_seed": test_seed,
              "solver_steps_per_dt": round(train.solver_steps, 2), "initial": _checkpoint.INITIAL_TEXT[system],
              "generation_seconds": round(generation_seconds, 1)},
        training={"epochs": epochs, "batch": batch, "lr": lr, "unroll": unroll, "optimizer": "AdamW + one-cycle",
                  "loss_history": [round(x, 5) for x in history], "seconds": round(train_seconds, 1),
                  "total_seconds": round(total_seconds, 1), "device": _device_text(device),
                  "torch": torch.__version__, "command": command},
        errors={"one_step": round(errors["one_step"], 5), "ten_step": round(errors[f"{ROLLOUT}_step"], 5),
                "persistence_one_step": round(errors["persistence_one_step"], 5),
                "persistence_ten_step": round(errors[f"persistence_{ROLLOUT}_step"], 5),
                "test_trajectories": test_samples, "test_seed": test_seed},
        weights_dtype=weights_dtype,
    )
    _checkpoint.save_checkpoint(out, op, card)
    message(f"{system}: one-step error {errors['one_step']:.4f} (persistence {errors['persistence_one_step']:.4f}), "
            f"{ROLLOUT}-step {errors[f'{ROLLOUT}_step']:.4f}; {total_seconds:.0f} s on {_device_text(device)}")
    return card


def _device_text(device: torch.device) -> str:
    from attractor_lab.engine.device import describe

    return describe(device)
