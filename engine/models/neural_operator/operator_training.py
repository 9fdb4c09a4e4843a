"""Train a Fourier neural operator in the window, and watch it learn (``operator_training``).

The run is ordinary engine steps, each bounded in time (:data:`STEP_SECONDS`), so
Run/Pause, Step and Cancel work as for any model and the window stays responsive:

1. **data**: each step solves one chunk of trajectories with the engine's own
   solver (:func:`._data.generate`: ETDRK4, CFL-limited, on the model's device),
   first the held-out split (its own seed), then the training split;
2. **training**: each step runs optimizer iterations (AdamW; learning rate warmed
   up over 20 iterations, then a cosine decay to 5 % at ``iterations``) on
   random batches of consecutive pairs (or ``unroll`` + 1 snapshots: the loss
   then also scores the operator fed its own output, Brandstetter et al.'s
   pushforward; ``noise`` adds Gaussian noise to the inputs), until the step's
   time is spent;
3. **done** at ``iterations`` (raise it to train on: the schedule follows).

Every ``eval_every`` iterations the held-out one-step error is measured (the
mean over every consecutive pair of the held-out split, relative L2
‖pred − true‖₂/‖true‖₂), and every ``race_every`` the race is re-run on one
held-out start (``race_start``): the operator fed its own output over the whole
trajectory against the solver's, the error against the rollout step beside the
first race's and persistence's (u(t + Δt) = u(t)).

:meth:`save_weights` writes a checkpoint (``weights.safetensors`` + ``card.json``,
the held-out one- and 10-step errors in the card) into the user's library
(:mod:`._library`), where ``neural_operator``'s checkpoint list finds it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from attractor_lab.engine.models import register
from attractor_lab.engine.models.base import Model
from attractor_lab.engine.models.neural_operator import _checkpoint as ck
from attractor_lab.engine.models.neural_operator import _data, _library
from attractor_lab.engine.models.neural_operator import _training as tr
from attractor_lab.engine.models.neural_operator._fno import NeuralOperator
from attractor_lab.engine.params import Param

#: the work of one engine step stops once this much wall time is spent (at least one unit is done)
STEP_SECONDS = 0.12
#: per system: the small defaults (a CPU shows progress within seconds) and the data chunk of one step
SMALL = {"burgers": {"grid": 128, "chunk": 16, "test": 16},
         "navier_stokes": {"grid": 32, "chunk": 2, "test": 8}}
WARMUP = 20
#: longest loss curve kept (older points are thinned by two when it is reached)
CURVE_POINTS = 4000
TEST_SEED_OFFSET = 1_000_003
#: held-out pairs of the error curve (a fixed, evenly spread subset: the measurement stays a small
#: part of a step); the saved card measures every pair
HELD_OUT_PAIRS = 64

#: the race fields per system: kymographs for Burgers, the last vorticity field for Navier–Stokes
_WHEN = {"burgers": {"shown_when": [["system", ["burgers"]]], "extent": "kymograph_extent",
                     "xlabel": "x", "ylabel": "t", "aspect": "auto"},
         "navier_stokes": {"shown_when": [["system", ["navier_stokes"]]], "extent": [0.0, 1.0, 0.0, 1.0],
                           "xlabel": "y", "ylabel": "x"}}


@register
class OperatorTraining(Model):
    name = "operator_training"
    title = "Neural operator: train in the window"
    description = (
        "Generate trajectories with the engine's own solver (Burgers 1D or Navier–Stokes 2D), train a Fourier "
        "neural operator on them step by step on the model's device, and watch it learn: training loss and "
        "held-out error against iteration, and every few iterations the race re-run on a held-out start. "
        "Pause with Run/Pause; save the operator as a checkpoint (Simulation → Save checkpoint) and race it "
        "against the solver at once."
    )
    equations = ("learn F_θ: u(t) → u(t + Δt) from solver pairs (u(t), u(t + Δt)), ν (and forcing a) as inputs\n"
                 "loss = mean over the batch of ‖F_θ(u) − u(t + Δt)‖₂ / ‖u(t + Δt)‖₂ (averaged over the unroll)\n"
                 "held-out error: the same on a split the training never sees; persistence: F(u) = u")
    params = (
        Param("system", "choice", "burgers", choices=tuple(_data.SYSTEMS), live=False,
              help="burgers: 1D viscous Burgers on [0, 1), Δt = 1/16; navier_stokes: 2D vorticity, Li et al.'s "
                   "forced flow, Δt = 1"),
        Param("grid", "int", 0, 0, 256, live=False,
              help="points per side of the training grid (0: 128 for Burgers, 32 for Navier–Stokes — small, "
                   "so a CPU shows progress in seconds; the shipped checkpoints use 256 and 64)"),
        Param("trajectories", "int", 64, 4, 4096, live=False,
              help="training trajectories (each the system's 16 or 25 steps of Δt), solved by the engine"),
        Param("width", "int", 24, 4, 128, live=False, help="channels of the Fourier layers"),
        Param("modes", "int", 12, 2, 64, live=False,
              help="Fourier modes kept per axis (at most half the grid)"),
        Param("layers", "int", 3, 1, 8, live=False, help="Fourier layers"),
        Param("iterations", "int", 1500, 1, 1_000_000,
              help="training stops here (the learning rate decays to 5 % by then); raise it to train on"),
        Param("lr", "float", 3e-3, 1e-5, 1e-1, log=True, help="peak learning rate (AdamW)"),
        Param("batch", "int", 16, 1, 512, help="pairs per optimizer iteration"),
        Param("unroll", "int", 1, 1, 4,
              help="steps the loss follows the operator on its own output (pushforward training; 1: one step)"),
        Param("noise", "float", 0.0, 0.0, 0.2,
              help="Gaussian noise added to the inputs, as a fraction of the field's standard deviation"),
        Param("eval_every", "int", 25, 1, 100_000, help="held-out error measured every this many iterations"),
        Param("race_every", "int", 100, 1, 100_000,
              help="the race on a held-out start re-run every this many iterations"),
        Param("race_start", "int", 0, 0, 4095, help="which held-out trajectory the race starts from"),
    )
    views = (
        *({"kind": "image", "array": key, "colormap": "RdBu", "levels": None, "symmetric": True, "role": "primary",
           "levels_from": ["race_operator" if key == "race_solver" else "race_solver"], "min_range": 0.5,
           "title": f"race on a held-out start: {who}" + (": u(x, t), time up" if s == "burgers"
                                                           else ": vorticity w at the last step"),
           **_WHEN[s]}
          for s in ("burgers", "navier_stokes")
          for key, who in (("race_solver", "solver"), ("race_operator", "neural operator (its own output)"))),
        {"kind": "lines", "title": "training loss and held-out error against iteration",
         "xlabel": "iteration", "ylabel": "relative L2 error", "logy": True, "role": "secondary",
         "empty_note": "the curves start once the data are made (see the table)",
         "series": [{"x": "loss_iteration", "y": "loss_curve", "name": "training loss (batch)"},
                    {"x": "eval_iteration", "y": "eval_curve", "name": "held-out one-step error"},
                    {"x": "eval_iteration", "y": "persistence_curve", "name": "persistence u(t+Δt) = u(t)",
                     "style": "dash"}]},
        {"kind": "lines", "title": "race on a held-out start: error against rollout step",
         "xlabel": "rollout step", "ylabel": "‖u_op − u‖/‖u‖", "logy": True, "role": "secondary",
         "empty_note": "the first race runs when training starts",
         # short names: the key fits one row under the plot, which keeps its height
         "series": [{"x": "race_step", "y": "race_error", "name": "now"},
                    {"x": "race_step", "y": "race_first", "name": "first race", "style": "dash"},
                    {"x": "race_step", "y": "race_persistence", "name": "persistence", "style": "dot"}]},
        {"kind": "values", "title": "training", "role": "info",
         "observables": ["iteration", "loss", "test_error", "persistence_error", "beats_persistence", "race_error_last",
                         "learning_rate", "iterations_per_s", "data_done", "data_total", "parameters"]},
        {"kind": "text", "array": "training", "title": "training run", "role": "info"},
        {"kind": "text", "array": "equations", "title": "equations", "role": "info"},
    )
    record_fields = ("race_solver", "race_operator")

    @classmethod
    def estimate_bytes(cls, p) -> int:
        """Data (float32 fields of both splits), the network with AdamW's two moments, activations of a
        batch (width × grid × unroll, forward and backward ×4), plus 112 MiB for the solver, autograd and
        torch's allocator (measured peak of the defaults: 98 MiB)."""
        system = p["system"]
        spec = _data.SYSTEMS[system]
        n = p["grid"] or SMALL[system]["grid"]
        cells = n ** spec["dims"]
        data = 4 * cells * (spec["steps"] + 1) * (p["trajectories"] + SMALL[system]["test"])
        acts = 4 * 4 * p["width"] * cells * p["batch"] * (p["layers"] + 2)
        return (112 << 20) + 2 * data + 4 * acts

    # ---- lifecycle ------------------------------------------------------------------
    def _reset(self) -> None:
        system = self.p["system"]
        spec, small = _data.SYSTEMS[system], SMALL[system]
        grid = self.p["grid"] or small["grid"]
        if grid < 16 or grid % 2:
            raise ValueError(f"{self.name}: grid {grid} is not allowed; use an even number >= 16 (or 0: automatic)")
        if self.p["modes"] > grid // 2:
            raise ValueError(f"{self.name}: modes {self.p['modes']} exceed what the grid {grid} holds "
                             f"({grid // 2}); lower modes or raise the grid")
        self.system, self.dims, self.grid = system, spec["dims"], grid
        self.traj_steps, self.dt_data = spec["steps"], spec["dt"]
        self.arch = tr.architecture(system, grid, width=self.p["width"], modes=self.p["modes"],
                                    layers=self.p["layers"])
        self.arch["projection"] = max(2 * self.p["width"], 16)
        torch.manual_seed(self.seed)  # the network's initialisation follows the seed
        # dt and length as train_operator gives them: the network's output is projected onto the
        # solver's band (exact viscous decay beyond its modes) in training as after a reload
        self.op = NeuralOperator({**self.arch, "viscosity_range": list(spec["viscosity_range"]), "dt": spec["dt"],
                                  "length": spec["length"]}).to(self.device)
        self.opt = torch.optim.AdamW(self.op.parameters(), lr=self.p["lr"], weight_decay=1e-4)
        self.batch_generator = torch.Generator().manual_seed(self.seed)
        self.noise_generator = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        self.test_total, self.train_total = small["test"], self.p["trajectories"]
        self._chunks: dict[str, list] = {"test": [], "train": []}
        self._made = {"test": 0, "train": 0}
        self.data_seconds, self.train_seconds = 0.0, 0.0
        self.train = self.test = None
        self._windows = None  # (unroll, windows, ν, a)
        self.iteration, self.last_loss = 0, math.nan
        self.loss_iter: list[int] = []
        self.loss_values: list[float] = []
        self.eval_iter: list[int] = []
        self.eval_values: list[float] = []
        self.persistence = math.nan
        self.race: dict | None = None
        self.race_first: np.ndarray | None = None
        self._rate = (time.perf_counter(), 0)
        self.iterations_per_s = math.nan
        self.saved: list[str] = []

    @property
    def phase(self) -> str:
        if self.test is None or self.train is None:
            return "data"
        return "done" if self.iteration >= self.p["iterations"] else "training"

    def step(self, n: int = 1) -> None:
        """``n`` engine steps, each at most about :data:`STEP_SECONDS` of work: a chunk of data, or
        optimizer iterations (with the held-out measurements and races they are due)."""
        n = int(n)
        if n < 0:
            raise ValueError(f"step: n must be >= 0, not {n}")
        for _ in range(n):
            self._step_once()
            self.steps += 1
            self.time += 1.0

    def _step(self, n: int) -> None:  # the base class's hook; step() is overridden
        for _ in range(n):
            self._step_once()

    def _step_once(self) -> None:
        started = time.perf_counter()
        if self.phase == "data":
            self._make_chunk()
            self.data_seconds += time.perf_counter() - started
            return
        if self.phase == "done":
            if self.display_mode:
                time.sleep(STEP_SECONDS / 4)  # nothing to do: a running window's engine must not spin a core
            return
        if self._windows is None or self._windows[0] != self.p["unroll"]:
            self._windows = (self.p["unroll"], *tr.pairs(self.train, self.p["unroll"]))
        while self.phase == "training":
            self._iterate()
            if self.iteration % self.p["eval_every"] == 0:
                self._evaluate()
            if self.iteration % self.p["race_every"] == 0:
                self._race()
            if time.perf_counter() - started >= STEP_SECONDS:
                break
        self.train_seconds += time.perf_counter() - started
        t0, done = self._rate
        if time.perf_counter() - t0 >= 1.0:
            self.iterations_per_s = (self.iteration - done) / (time.perf_counter() - t0)
            self._rate = (time.perf_counter(), self.iteration)

    # ---- data --------------------------------------------------------------------------
    def _make_chunk(self) -> None:
        split = "test" if self._made["test"] < self.test_total else "train"
        total = self.test_total if split == "test" else self.train_total
        count = min(SMALL[self.system]["chunk"], total - self._made[split])
        k = len(self._chunks[split])
        base = self.seed * 10_007 + (TEST_SEED_OFFSET if split == "test" else 0)
        self._chunks[split].append(_data.generate(self.system, count, steps=self.traj_steps, grid=self.grid,
                                                  seed=base + k, device=self.device, chunk=count))
        self._made[split] += count
        if self._made[split] >= total:
            chunks = self._chunks[split]
            data = _data.Trajectories(self.system, torch.cat([c.fields for c in chunks]),
                                      torch.cat([c.viscosity for c in chunks]), torch.cat([c.forcing for c in chunks]),
                                      self.dt_data, self.seed, sum(c.solver_steps for c in chunks) / len(chunks))
            self._chunks[split] = []
            if split == "test":
                self.test = data
                self._held = self._held_out_pairs(data)
                self.persistence = float(_data.relative_l2(self._held[0], self._held[1]).mean())
            else:
                self.train = data
                tr.set_normalisation(self.op, data)
                self._evaluate()
                self._race()

    # ---- training ------------------------------------------------------------------------
    def learning_rate(self) -> float:
        """Linear warm-up over WARMUP iterations, then cosine from ``lr`` to 5 % of it at ``iterations``."""
        lr, total, i = self.p["lr"], max(1, self.p["iterations"]), self.iteration
        if i < WARMUP:
            return lr * (i + 1) / WARMUP
        frac = min(1.0, (i - WARMUP) / max(1, total - WARMUP))
        return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))

    def _iterate(self) -> None:
        _, windows, nu, a = self._windows
        self.op.train()
        idx = torch.randint(windows.shape[0], (self.p["batch"],), generator=self.batch_generator)
        idx = idx.to(windows.device)
        w, v, f = windows[idx], nu[idx], a[idx]
        u = w[:, 0]
        if self.p["noise"] > 0:
            u = u + self.p["noise"] * self.op.field_scale * torch.randn(
                u.shape, generator=self.noise_generator, device=u.device, dtype=u.dtype)
        unroll = w.shape[1] - 1
        loss = 0.0
        for j in range(1, unroll + 1):
            u = self.op(u, v, f)
            loss = loss + _data.relative_l2(u, w[:, j]).mean()
        loss = loss / unroll
        for group in self.opt.param_groups:
            group["lr"] = self.learning_rate()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.op.parameters(), 5.0)
        self.opt.step()
        self.op.eval()
        self.iteration += 1
        self.last_loss = float(loss.detach())
        self.loss_iter.append(self.iteration)
        self.loss_values.append(self.last_loss)
        if len(self.loss_values) > CURVE_POINTS:
            self.loss_iter, self.loss_values = self.loss_iter[1::2], self.loss_values[1::2]

    def _held_out_pairs(self, data: _data.Trajectories):
        """:data:`HELD_OUT_PAIRS` consecutive pairs of the held-out split, spread evenly over its
        trajectories and times (the same pairs every time): inputs, targets, ν, a."""
        f = data.fields
        inputs, targets = f[:, :-1].flatten(0, 1), f[:, 1:].flatten(0, 1)
        k = f.shape[1] - 1
        nu, a = data.viscosity.repeat_interleave(k), data.forcing.repeat_interleave(k)
        pick = torch.linspace(0, inputs.shape[0] - 1, min(HELD_OUT_PAIRS, inputs.shape[0])).round().long()
        pick = pick.to(inputs.device)
        return inputs[pick], targets[pick], nu[pick], a[pick]

    @torch.no_grad()
    def held_out_error(self) -> float:
        """Mean relative L2 error of one step over the held-out pairs (:meth:`_held_out_pairs`)."""
        inputs, targets, nu, a = self._held
        errors = [_data.relative_l2(self.op(inputs[s:s + 64], nu[s:s + 64], a[s:s + 64]), targets[s:s + 64])
                  for s in range(0, inputs.shape[0], 64)]
        return float(torch.cat(errors).mean())

    def _evaluate(self) -> None:
        self.eval_iter.append(self.iteration)
        self.eval_values.append(self.held_out_error())

    @torch.no_grad()
    def _race(self) -> None:
        """The operator fed its own output from a held-out start, against the solver's trajectory."""
        i = self.p["race_start"] % self.test.fields.shape[0]
        truth = self.test.fields[i]
        nu, a = self.test.viscosity[i:i + 1], self.test.forcing[i:i + 1]
        pred = self.op.rollout(truth[:1], nu, truth.shape[0] - 1, a)[0]
        pred = torch.cat([truth[:1], pred])
        errors = _data.relative_l2(pred[1:], truth[1:]).cpu().numpy().astype(np.float64)
        persistence = _data.relative_l2(truth[:1].expand_as(truth[1:]), truth[1:]).cpu().numpy().astype(np.float64)
        self.race = {"iteration": self.iteration, "start": i, "truth": truth, "pred": pred, "errors": errors,
                     "persistence": persistence, "viscosity": float(nu[0]), "forcing": float(a[0])}
        if self.race_first is None or self.race_first.shape != errors.shape:
            self.race_first = errors

    # ---- saving --------------------------------------------------------------------------
    def save_weights(self, path) -> Path:
        """Save the operator as a checkpoint: ``path`` a bare name (letters, digits, ``_ . -``) goes
        into the user's library (``neural_operator`` lists it), any other path is a folder. The card
        carries the held-out one- and 10-step errors measured now. Returns the folder."""
        if self.train is None or self.iteration == 0:
            raise ValueError(f"{self.name}: nothing to save yet: the operator has not trained "
                             f"({self.phase}: {self._made['train']} of {self.train_total} training trajectories "
                             "made); run first")
        text = str(path)
        out = _library.library_path(text) if ("/" not in text and "\\" not in text) else Path(text)
        spec = _data.SYSTEMS[self.system]
        errors = tr.evaluate(self.op, self.test)
        roll = min(tr.ROLLOUT, self.traj_steps)
        card = ck.make_card(
            system=self.system, grid=self.grid, dt=self.dt_data, viscosity_range=spec["viscosity_range"],
            forcing_range=spec["forcing_range"], architecture=self.arch,
            data={"train_trajectories": self.train_total, "test_trajectories": self.test_total,
                  "steps_per_trajectory": self.traj_steps, "train_pairs": self.train_total * self.traj_steps,
                  "seed": self.seed, "test_seed": self.seed * 10_007 + TEST_SEED_OFFSET,
                  "solver_steps_per_dt": round(self.train.solver_steps, 2),
                  "initial": ck.INITIAL_TEXT[self.system], "generation_seconds": round(self.data_seconds, 1)},
            training={"epochs": round(self.iteration * self.p["batch"] / max(1, self._windows[1].shape[0]), 2),
                      "iterations": self.iteration, "batch": self.p["batch"], "lr": self.p["lr"],
                      "unroll": self.p["unroll"], "noise": self.p["noise"],
                      "optimizer": "AdamW, warm-up then cosine to 5 % at the iteration limit",
                      "loss_history": [round(x, 5) for x in self.loss_values[-200:]],
                      "seconds": round(self.train_seconds, 1),
                      "total_seconds": round(self.train_seconds + self.data_seconds, 1),
                      "device": _describe(self.device), "torch": torch.__version__,
                      "command": "made in the window (operator_training)"},
            errors={"one_step": round(errors["one_step"], 5), "ten_step": round(errors[f"{roll}_step"], 5),
                    "persistence_one_step": round(errors["persistence_one_step"], 5),
                    "persistence_ten_step": round(errors[f"persistence_{roll}_step"], 5),
                    "test_trajectories": self.test_total, "test_seed": self.seed * 10_007 + TEST_SEED_OFFSET},
        )
        try:
            ck.save_checkpoint(out, self.op, card)
        except OSError as exc:
            raise ValueError(f"save_weights: cannot write the checkpoint into {out}: {exc.strerror or exc}") from None
        self.saved.append(str(out))
        return out

    # ---- output ----------------------------------------------------------------------------
    def state(self):
        race = self.race
        if race is None:
            shape = (self.traj_steps + 1, self.grid) if self.dims == 1 else (self.grid, self.grid)
            blank = np.zeros(shape, np.float32)
            solver, operator = blank, blank
            errs = first = pers = np.zeros(0)
        else:
            if self.dims == 1:  # kymographs: a row per Δt, time up
                solver, operator = race["truth"].cpu().numpy(), race["pred"].cpu().numpy()
            else:
                solver, operator = race["truth"][-1].cpu().numpy(), race["pred"][-1].cpu().numpy()
            errs, first, pers = race["errors"], self.race_first, race["persistence"]
        return {
            "race_solver": solver, "race_operator": operator,
            "kymograph_extent": np.array([0.0, 1.0, 0.0, self.traj_steps * self.dt_data]),
            "loss_iteration": np.asarray(self.loss_iter, dtype=np.float64),
            "loss_curve": np.asarray(self.loss_values, dtype=np.float64),
            "eval_iteration": np.asarray(self.eval_iter, dtype=np.float64),
            "eval_curve": np.asarray(self.eval_values, dtype=np.float64),
            "persistence_curve": np.full(len(self.eval_iter), self.persistence),
            "race_step": np.arange(1, len(errs) + 1, dtype=np.float64),
            "race_error": np.asarray(errs, dtype=np.float64),
            "race_first": np.asarray(first, dtype=np.float64),
            "race_persistence": np.asarray(pers, dtype=np.float64),
        }

    def observables(self):
        test = self.eval_values[-1] if self.eval_values else math.nan
        return {
            "iteration": self.iteration,
            "loss": self.last_loss,
            "test_error": test,
            "persistence_error": self.persistence,
            # how many times smaller the held-out error is than persistence's (> 1: the operator beats it)
            "beats_persistence": self.persistence / test if test > 0 else math.nan,
            "race_error_last": float(self.race["errors"][-1]) if self.race is not None else math.nan,
            "learning_rate": self.learning_rate(),
            "iterations_per_s": self.iterations_per_s,
            "data_done": self._made["test"] + self._made["train"],
            "data_total": self.test_total + self.train_total,
            "parameters": sum(p.numel() for p in self.op.parameters()),
            "training": int(self.phase == "training"),
        }

    def texts(self):
        dims = "²" if self.dims == 2 else ""
        phase = {"data": f"making data with the solver: {self._made['test'] + self._made['train']} of "
                         f"{self.test_total + self.train_total} trajectories",
                 "training": f"training: iteration {self.iteration} of {self.p['iterations']}",
                 "done": f"done: {self.iteration} iterations (raise 'iterations' to train on)"}[self.phase]
        lines = [
            f"{phase}",
            f"{self.system} on a {self.grid}{dims} grid, Δt = {self.dt_data:g}; device {_describe(self.device)}",
            f"data: {self.train_total} training and {self.test_total} held-out trajectories × {self.traj_steps} steps "
            f"({self.data_seconds:.1f} s)",
            f"network: width {self.arch['width']}, {self.arch['modes']} modes, {self.arch['layers']} layers; "
            f"training {self.train_seconds:.1f} s",
        ]
        if self.race is not None:
            r = self.race
            lines.append(f"race: held-out start {r['start']} (ν = {r['viscosity']:.3g}"
                         + (f", a = {r['forcing']:.2f}" if self.dims == 2 else "")
                         + f"), last run at iteration {r['iteration']}")
        lines.append("save: Simulation → Save checkpoint (into your library; neural_operator lists it)")
        if self.saved:
            lines.append(f"saved: {self.saved[-1]}")
        return {"equations": self.equations, "training": "\n".join(lines)}


def _describe(device: torch.device) -> str:
    from attractor_lab.engine.device import describe

    return describe(device)
