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
                "chunk": 128, "rollout_starts": 32},
    "navier_stokes": {"width": 24, "modes": 12, "layers": 4, "projection": 48, "activation": "gelu",
                      "samples": 500, "test_samples": 60, "epochs": 10, "batch": 16, "lr": 2e-3, "unroll": 1,
                      "chunk": 32, "rollout_starts": 8},
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
        seed: int = 0, weight_decay: float = 1e-4, pushforward: int = 0, noise: float = 0.0, progress=None,
        log=None) -> list[float]:
    """Train ``op`` in place; returns the mean training loss per epoch.

    Each batch is a window of ``pushforward`` + ``unroll`` + 1 snapshots. ``pushforward`` P
    (Brandstetter, Worrall & Welling 2022): the operator is first run j ∈ {0 … P} steps (drawn per
    batch) on its own output without gradient, and trained from where it got to, so it learns to
    correct the errors of its own rollouts. ``unroll``: the loss follows that many steps fed their own
    output (gradient through all of them). ``noise``: Gaussian noise of that standard deviation (in
    units of each sample's RMS) added to the training input (Sanchez-Gonzalez et al. 2020).

    ``progress(n)`` is called after each batch with its size (a tqdm bar);
    ``log(epoch, loss)`` after each epoch."""
    pushforward, unroll = int(pushforward), int(unroll)
    windows, nu, a = pairs(data, unroll + pushforward)
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
            first = int(torch.randint(0, pushforward + 1, (1,), generator=generator)) if pushforward else 0
            u = w[:, 0]
            if first:
                with torch.no_grad():
                    for _ in range(first):
                        u = op(u, v, f)
            if noise > 0:  # relative to each sample's RMS (a decayed field gets proportionally less)
                rms = u.flatten(1).pow(2).mean(1).sqrt().reshape((-1,) + (1,) * (u.ndim - 1))
                u = u + noise * rms * torch.randn(u.shape, generator=generator).to(u.device, u.dtype)
            loss = 0.0
            for j in range(1, unroll + 1):
                u = op(u, v, f)
                loss = loss + _data.relative_l2(u, w[:, first + j]).mean()
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
                   command: str = "", show_progress: bool = True, message=print, pushforward: int = 0,
                   noise: float = 0.0, init=None, rollout_steps: int = 0) -> dict:
    """Generate data, train, measure and write ``out/weights.safetensors`` and ``out/card.json``.

    Returns the card. ``message`` receives one-line reports (stderr in the CLI).

    ``pushforward``, ``noise``: see :func:`fit`. ``init``: a checkpoint folder to start from (fine-tuning:
    its architecture and normalisation are kept; its card's training block is recorded as ``base``).
    ``rollout_steps`` > 0: the card also records the rollout curves of :data:`ROLLOUT_CASES` over that
    many steps on held-out trajectories (seed ``test_seed`` + 1; ``DEFAULTS[system]["rollout_starts"]`` of them)."""
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
    pushforward = int(pushforward)
    if pushforward < 0 or not noise >= 0:
        raise ValueError(f"train-operator: pushforward ({pushforward}) and noise ({noise}) must be >= 0")
    if steps < unroll + pushforward:
        raise ValueError(f"train-operator: trajectories of {steps} steps are shorter than the unroll ({unroll}) "
                         f"plus the pushforward ({pushforward})")
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
    base = None
    if init is not None:
        op, base = _checkpoint.load_checkpoint(init, device)
        if base["system"] != system or base["grid"] != grid:
            raise ValueError(f"train-operator: --init {init} is a {base['system']} checkpoint on grid {base['grid']}, "
                             f"not {system} on {grid}")
        arch = dict(base["architecture"])
        op.train()
    else:
        arch = architecture(system, grid, width=width, modes=modes, layers=layers)
        config = {**arch, "viscosity_range": list(spec["viscosity_range"]), "dt": spec["dt"],
                  "length": spec["length"]}
        op = NeuralOperator(config).to(device)
        set_normalisation(op, train)
    per_epoch = (steps + 1 - unroll - pushforward) * samples
    with tqdm(total=epochs * per_epoch, desc=f"{system}: training", unit="pair", disable=not show_progress,
              mininterval=2.0) as bar:
        def log(epoch, loss):
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.4f}")
        t0 = time.perf_counter()
        history = fit(op, train, epochs=epochs, batch=batch, lr=lr, unroll=unroll, seed=seed,
                      pushforward=pushforward, noise=noise, progress=bar.update, log=log)
        train_seconds = time.perf_counter() - t0
    errors = evaluate(op, test)
    curves = _curves(op, system, grid, rollout_steps, test_seed, device)
    total_seconds = time.perf_counter() - started
    card = _checkpoint.make_card(
        system=system, grid=grid, dt=spec["dt"], viscosity_range=spec["viscosity_range"],
        forcing_range=spec["forcing_range"], architecture=arch,
        data={"train_trajectories": samples, "test_trajectories": test_samples, "steps_per_trajectory": steps,
              "train_pairs": samples * steps, "seed": seed, "test_seed": test_seed,
              "solver_steps_per_dt": round(train.solver_steps, 2), "initial": _checkpoint.INITIAL_TEXT[system],
              "generation_seconds": round(generation_seconds, 1)},
        training={"epochs": epochs, "batch": batch, "lr": lr, "unroll": unroll, "pushforward": pushforward,
                  "noise": noise, "optimizer": "AdamW + one-cycle",
                  "loss_history": [round(x, 5) for x in history], "seconds": round(train_seconds, 1),
                  "total_seconds": round(total_seconds, 1), "device": _device_text(device),
                  "torch": torch.__version__, "command": command,
                  **({"init": str(init), "base": {k: base["training"].get(k) for k in
                                                  ("command", "epochs", "seconds", "total_seconds", "base")
                                                  if k in base.get("training", {})}} if base else {})},
        errors={"one_step": round(errors["one_step"], 5), "ten_step": round(errors[f"{ROLLOUT}_step"], 5),
                "persistence_one_step": round(errors["persistence_one_step"], 5),
                "persistence_ten_step": round(errors[f"persistence_{ROLLOUT}_step"], 5),
                "test_trajectories": test_samples, "test_seed": test_seed,
                **_rollout_block(system, curves, test_seed)},
        weights_dtype=weights_dtype,
    )
    _checkpoint.save_checkpoint(out, op, card)
    message(f"{system}: one-step error {errors['one_step']:.4f} (persistence {errors['persistence_one_step']:.4f}), "
            f"{ROLLOUT}-step {errors[f'{ROLLOUT}_step']:.4f}; {total_seconds:.0f} s on {_device_text(device)}")
    return card


def _curves(op, system, grid, rollout_steps, test_seed, device) -> dict:
    curves = {}
    if rollout_steps:
        for case, (case_system, *_rest) in ROLLOUT_CASES.items():
            if case_system == system:
                held = rollout_data(case, DEFAULTS[system]["rollout_starts"], int(rollout_steps), seed=test_seed + 1,
                                    grid=grid, device=device)
                curves[case] = [round(e, 5) for e in rollout_curve(op, held)]
    return curves


def _rollout_block(system, curves, test_seed) -> dict:
    if not curves:
        return {}
    return {"rollout": {"cases": {k: list(ROLLOUT_CASES[k][1:]) for k in curves},
                        "trajectories": DEFAULTS[system]["rollout_starts"], "seed": test_seed + 1, "curves": curves}}


def remeasure(out, *, rollout_steps: int = 40, device="cpu", command: str = "", message=print) -> dict:
    """Measure the checkpoint in ``out`` again with this program's operator (its card's test split,
    regenerated from the card's seed, and the rollout curves) and rewrite its card's ``errors``;
    the tensors are untouched (the file changes only in its metadata copy of the card). For a checkpoint trained before the operator's
    forward changed (the band projection of issue 21), whose card's figures no longer describe it."""
    from attractor_lab.engine.models.neural_operator import _checkpoint

    op, card = _checkpoint.load_checkpoint(out, device)
    system, grid, data = card["system"], card["grid"], card["data"]
    test_seed, n = card["errors"]["test_seed"], card["errors"]["test_trajectories"]
    test = _data.generate(system, n, steps=data["steps_per_trajectory"], grid=grid, seed=test_seed, device=device,
                          chunk=DEFAULTS[system]["chunk"])
    errors = evaluate(op, test)
    curves = _curves(op, system, grid, rollout_steps, test_seed, device)
    card["errors"] = {"one_step": round(errors["one_step"], 5), "ten_step": round(errors[f"{ROLLOUT}_step"], 5),
                      "persistence_one_step": round(errors["persistence_one_step"], 5),
                      "persistence_ten_step": round(errors[f"persistence_{ROLLOUT}_step"], 5),
                      "test_trajectories": n, "test_seed": test_seed, **_rollout_block(system, curves, test_seed),
                      "remeasured": command or "remeasure()", "definition": card["errors"]["definition"]}
    card.pop("weights_sha256", None)
    card.pop("weights_bytes", None)
    _checkpoint.save_checkpoint(out, op, card)
    message(f"{system}: re-measured one-step {errors['one_step']:.4f}, {ROLLOUT}-step {errors[f'{ROLLOUT}_step']:.4f}")
    return card


def _device_text(device: torch.device) -> str:
    from attractor_lab.engine.device import describe

    return describe(device)


# ---- rollout curves (the race's horizon) -----------------------------------------------------------
#: held-out rollout settings inside the trained ranges: (system, start, ν, forcing, spin-up Δt)
ROLLOUT_CASES = {
    "ns_fresh": ("navier_stokes", "fresh", 1e-3, 1.0, 0),
    "ns_developed": ("navier_stokes", "developed", 1e-3, 1.0, 10),
    "burgers": ("burgers", "fresh", 0.05, 0.0, 0),
}


def rollout_data(case: str, trajectories: int, steps: int, *, seed: int, grid: int | None = None,
                 device="cpu") -> _data.Trajectories:
    """Held-out trajectories for a :data:`ROLLOUT_CASES` case: Li et al.'s random start at one ν
    (and, for Navier–Stokes, forcing a = 1), ``steps`` Δt after the start; a ``developed`` start is the
    flow after the case's spin-up (the snapshots before it are dropped)."""
    system, _, nu, a, spin = ROLLOUT_CASES[case]
    data = _data.generate(system, trajectories, steps=steps + spin, grid=grid, viscosity_range=(nu, nu),
                          forcing_range=(a, a), structured=0.0, seed=seed, device=device,
                          chunk=max(1, trajectories))
    if spin:
        data.fields = data.fields[:, spin:].contiguous()
    return data


@torch.no_grad()
def rollout_curve(op: NeuralOperator, data: _data.Trajectories, steps: int | None = None) -> list[float]:
    """Mean relative L2 error of the operator fed its own output from each trajectory's first
    snapshot, at steps 1 … ``steps`` (default: the whole trajectory)."""
    op.eval()
    steps = data.fields.shape[1] - 1 if steps is None else min(int(steps), data.fields.shape[1] - 1)
    u, out = data.fields[:, 0], []
    for j in range(1, steps + 1):
        u = op(u, data.viscosity, data.forcing)
        out.append(float(_data.relative_l2(u, data.fields[:, j]).mean()))
    return out


def power_spectrum(field: torch.Tensor, dims: int) -> torch.Tensor:
    """Power of (B, n) or (B, n, n) periodic fields per wavenumber 0 … n/2, averaged over the batch
    (2D: summed over shells of integer |k|, rounded)."""
    n = field.shape[-1]
    if dims == 1:
        return (torch.fft.rfft(field.double()).abs() ** 2).mean(0)
    power = (torch.fft.fft2(field.double()).abs() ** 2).mean(0)
    k = torch.fft.fftfreq(n, 1.0 / n, dtype=torch.float64)
    shell = torch.sqrt(k[:, None] ** 2 + k[None, :] ** 2).round().long()
    keep = shell <= n // 2
    return torch.zeros(n // 2 + 1, dtype=torch.float64).index_add_(0, shell[keep], power[keep])


@torch.no_grad()
def difference_spectrum(op: NeuralOperator, card: dict, factor: float, *, steps: int = 10, batch: int = 4,
                        seed: int = 0, viscosity: float | None = None, forcing: float = 1.0) -> dict:
    """The zero-shot race on a grid ``factor`` × the training grid: Li et al.'s random start drawn on the
    training grid and Fourier-interpolated (as the race does), operator and solver ``steps`` Δt side by
    side; the power spectrum of their difference.

    ``peak_ratio``: the largest power in the top 10 % of wavenumbers over the median of the band below
    it (50–90 % of the Nyquist wavenumber); ≥ 1 is a grid-scale peak or a flat floor of grid-scale noise
    (stripes, checkerboard). ``top_share``: the largest power in the top 10 % over the spectrum's
    largest."""
    system = card["system"]
    dims = _data.SYSTEMS[system]["dims"]
    n = max(8, 2 * round(factor * card["grid"] / 2))
    lo, hi = card["viscosity_range"]
    nu = math.sqrt(lo * hi) if viscosity is None else viscosity
    a = forcing if dims == 2 else 0.0
    g = torch.Generator().manual_seed(int(seed))
    u = _data.resample(_data.draw_initial(system, batch, card["grid"], g, "cpu", torch.float64), n, dims)
    solver = _data.IntervalSolver(system, n, "cpu", torch.float32)
    vh, pred = solver.to_spectral(u.float()), u.float()
    for _ in range(steps):
        pred = op(pred, nu, a)
        vh = solver.advance(vh, card["dt"], nu, a)
    truth = solver.to_physical(vh)
    spec = power_spectrum(pred - truth, dims)
    kmax = n // 2
    top = spec[int(math.ceil(0.9 * kmax)):]
    below = spec[int(0.5 * kmax):int(math.ceil(0.9 * kmax))]
    return {"n": n, "error": float(_data.relative_l2(pred, truth).mean()),
            "peak_ratio": float(top.max() / below.median().clamp_min(1e-300)),
            "top_share": float(top.max() / spec.max().clamp_min(1e-300)),
            "peak_k": int(top.argmax()) + int(math.ceil(0.9 * kmax)),
            "tail": [float(v) for v in spec[int(0.6 * kmax):]], "spectrum": spec}
