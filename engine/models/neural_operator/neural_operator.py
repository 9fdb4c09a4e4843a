"""The race: a trained Fourier neural operator against the solver it learned from.

Both sides start from the same field (a seeded random draw, a named start, an
array through :meth:`NeuralOperatorRace.set_state`, or a painted one) and each
engine step advances both by the checkpoint's Δt: the operator by one
evaluation u ← F_θ(u, ν, a) on its own previous output (a rollout), the solver
(:class:`._data.IntervalSolver`: ETDRK4 with CFL-limited steps that divide Δt)
by the steps that interval needs. Each side is timed on its own (CUDA
synchronised); ``speedup`` = solver_ms / operator_ms, medians over the last
steps. The comparison is like for like, and the ``speed`` text says so: the same
device, float32 on both sides, the same horizon (one Δt: one operator evaluation
against the solver's steps over it), at batch 1 (the race) and at batch
``speed_batch`` (B copies of the current state, each side timed twice after a
reset or a change of B, the faster of the two kept: ``speedup_batch``); where the solver is faster
(Burgers 1D on a CPU) the text says so plainly.

``rel_error`` = ‖u_op − u_solver‖₂ / ‖u_solver‖₂ on the race grid; the error
against the rollout step (steps since the last sync) restarts whenever the
operator is re-synced to the solver: every ``reset_every`` steps (0 = never),
and when the start is painted or set.

``resolution`` evaluates the operator on a grid ``resolution`` × the training
grid (zero-shot: the same weights on another grid), and runs the solver there
too. ``viscosity`` (and ``forcing`` for Navier–Stokes) feed both sides; values
outside the checkpoint's trained range are allowed — the values panel marks
them (``in_trained_range``) and the card's range is in the text panel.

Shared views for both systems: ``solver``, ``operator`` and ``difference``
are the vorticity fields for Navier–Stokes and space–time kymographs (x
across, time up, ``kymograph_extent`` their [x0, x1, t0, t1]) for Burgers;
the section is u(x) (Burgers) or w(x) along one column y (Navier–Stokes):
``section = "auto"`` through the solver's largest |w| (a vortex's core, not
the zero line between a pair), or ``"fixed"`` at ``section_y``; the
``section_y`` observable says where.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch

from attractor_lab.engine.models import register
from attractor_lab.engine.models.base import Model, SimulationDiverged
from attractor_lab.engine.models.neural_operator import _checkpoint as ck
from attractor_lab.engine.models.neural_operator import _library
from attractor_lab.engine.models.neural_operator._data import SYSTEMS, IntervalSolver, draw_initial, resample
from attractor_lab.engine.models.neural_operator.navier_stokes import gaussian_vortex, shaped_vorticity
from attractor_lab.engine.params import Param

#: kymograph rows (Burgers): one per engine step, newest at the bottom
KYMOGRAPH_ROWS = 128
#: steps over which operator_ms and solver_ms take their median
TIMING_WINDOW = 16
#: longest error-against-rollout-step curve kept
HISTORY = 4096
#: the smallest span of the solver's and operator's auto colour levels (±0.25: below the scale of the
#: shipped starts, peaks 0.5 … 3, and of painted vortices, values ±1 … ±4) and of the difference's
#: (±0.005: a 2 % error of that), so a still canvas's drift (1e-4) is drawn near white
FIELD_RANGE = 0.5
DIFFERENCE_RANGE = 0.01
#: the automatic section keeps its column while that column's max |w| is at least this fraction
#: of the field's (no flicker between the two equal vortices of a pair)
SECTION_KEEP = 0.9
INITIALS = {"burgers": ("random", "sine"),
            "navier_stokes": ("random", "vortex_pair", "co_rotating", "taylor_green", "rest")}


def _shipped_summary() -> str:
    parts = []
    for name, folder in ck.shipped_checkpoints().items():
        try:
            card = ck.read_card(folder)
        except ValueError:
            continue
        lo, hi = card["viscosity_range"]
        parts.append(f"{name}: ν ∈ [{lo:g}, {hi:g}]")
    return "; ".join(parts) or "none shipped"


def _field_views(system: str, note: str, axes: dict) -> tuple[dict, ...]:
    """The solver, operator and difference images of ``system`` (shown only for it), with its axes."""
    when = {"shown_when": [["system", [system]]], **axes}
    return (
        {"kind": "image", "array": "solver", "colormap": "RdBu", "levels": None, "aspect": "auto", "paint": True,
         "symmetric": True, "levels_from": ["operator"], "min_range": FIELD_RANGE, "role": "primary", **when,
         "title": f"solver{note} (paint to restart both sides)"},
        {"kind": "image", "array": "operator", "colormap": "RdBu", "levels": None, "aspect": "auto", "paint": True,
         "symmetric": True, "levels_from": ["solver"], "min_range": FIELD_RANGE, "role": "primary", **when,
         "title": f"neural operator{note} (same colour scale as the solver)"},
        {"kind": "image", "array": "difference", "colormap": "RdBu", "levels": None, "aspect": "auto",
         "symmetric": True, "min_range": DIFFERENCE_RANGE, "role": "secondary", **when,
         "title": "operator − solver (white: no error)"},
    )


@register
class NeuralOperatorRace(Model):
    name = "neural_operator"
    title = "Neural operator vs solver (race)"
    description = (
        "A Fourier neural operator trained on the engine's own solver races that solver from the same start: "
        "both fields, their difference, the relative error against the rollout step, and the wall time of one "
        "operator step against the solver's steps over the same Δt. Viscosity inside or outside the trained "
        "range, zero-shot resolution change, periodic re-sync; paint a start on either field."
    )
    equations = ("operator: u(t + Δt) = F_θ(u(t), ν[, a])   (one evaluation, fed its own output)\n"
                 "solver:   ETDRK4 pseudo-spectral, CFL-limited steps dividing Δt\n"
                 "rel_error = ‖u_op − u_solver‖₂ / ‖u_solver‖₂;  speedup = solver_ms / operator_ms")
    params = (
        Param("system", "choice", "burgers", choices=tuple(SYSTEMS), live=False,
              help="burgers: 1D viscous Burgers on [0, 1); navier_stokes: 2D vorticity, Li et al.'s forced flow"),
        Param("checkpoint", "choice", "auto", choices=_library.checkpoint_choices(), live=False,
              help="auto: the shipped checkpoint for the system (presets/operators/<system>); or a shipped one by "
                   "name, or one of yours (saved by operator_training into your library); any other folder "
                   "loads through the weights request (load_weights)"),
        Param("viscosity", "float", 0.02, 1e-5, 1.0, unit="ν", log=True,
              help="ν for operator and solver; trained ranges — " + _shipped_summary()
                   + " — outside them the operator extrapolates (see in_trained_range)"),
        Param("forcing", "float", 1.0, 0.0, 2.0,
              help="Navier–Stokes forcing amplitude a (Li et al.'s 0.1(sin 2π(x+y) + cos 2π(x+y)); 1 theirs, 0 a "
                   "decaying flow); an input of the operator too (trained on [0, 1]); ignored for Burgers"),
        Param("resolution", "float", 1.0, 0.5, 2.0, step=0.5, live=False,
              help="race grid as a multiple of the training grid (0.5, 1, 2: zero-shot resolution change; the solver "
                   "runs on the same grid)"),
        Param("reset_every", "int", 0, 0, 100_000,
              help="re-sync the operator to the solver every K steps (0 = never: a free rollout)"),
        Param("initial", "choice", "random", choices=tuple(dict.fromkeys(sum(INITIALS.values(), ()))), live=False,
              help="random: Li et al.'s random field (seeded) for either system; Burgers: sine; Navier–Stokes: "
                   "vortex_pair, co_rotating, taylor_green, rest (as the navier_stokes model)"),
        Param("amplitude", "float", 1.0, 0.0, 100.0, live=False, help="scale of the initial field"),
        Param("speed_batch", "int", 8, 0, 256,
              help="batch B of the second speed comparison (B copies of the state through both sides, timed "
                   "twice after each reset or change of B; 0: off) — the operator's cost grows more slowly with the batch"),
        Param("section", "choice", "auto", choices=("auto", "fixed"),
              help="Navier–Stokes section w(x) along a column y: auto goes through the solver's largest |w| "
                   "(kept while it stays within 10 % of the largest), fixed at section_y",
              shown_when=(("system", ("navier_stokes",)),)),
        Param("section_y", "float", 0.5, 0.0, 1.0, step=0.05,
              help="y of the Navier–Stokes section when section = fixed",
              shown_when=(("system", ("navier_stokes",)), ("section", ("fixed",)))),
    )
    views = (
        # Burgers: space–time kymographs with x and t axes (x in [0, 1), the last KYMOGRAPH_ROWS steps,
        # kymograph_extent), Navier–Stokes: the vorticity fields (x down, y across). Solver and operator
        # on one colour scale (white = 0), the difference on its own, centred; auto levels never span less
        # than the fields' scale (a still canvas's drift is not stretched to full saturation)
        *_field_views("burgers", ": u(x, t), time up",
                      {"extent": "kymograph_extent", "xlabel": "x", "ylabel": "t"}),
        *_field_views("navier_stokes", ": vorticity w", {"extent": [0.0, 1.0, 0.0, 1.0], "xlabel": "y", "ylabel": "x"}),
        {"kind": "lines", "title": "section: u(x) now", "xlabel": "x", "ylabel": "u", "zero_line": True,
         "role": "secondary", "shown_when": [["system", ["burgers"]]],
         "series": [{"x": "x", "y": "section_solver", "name": "solver"},
                    {"x": "x", "y": "section_operator", "name": "operator", "style": "dash"}]},
        {"kind": "lines", "title": "section: w(x) along the column y = section_y (auto: through the solver's max |w|)",
         "xlabel": "x (y = section_y: see the race table)", "ylabel": "w", "zero_line": True,
         "role": "secondary", "shown_when": [["system", ["navier_stokes"]]],
         "series": [{"x": "x", "y": "section_solver", "name": "solver"},
                    {"x": "x", "y": "section_operator", "name": "operator", "style": "dash"}]},
        {"kind": "lines", "title": "relative L2 error against rollout step (restarts at each sync)",
         "xlabel": "steps since sync", "ylabel": "‖u_op − u‖/‖u‖", "logy": True, "role": "secondary",
         "series": [{"x": "rollout_step", "y": "rollout_error", "name": "this race"},
                    {"x": "card_steps", "y": "card_errors", "name": "test error (card)", "symbol": "o"}]},
        {"kind": "timeseries", "observables": ["speedup", "speedup_batch"], "logy": True, "role": "secondary",
         "title": "speed-up per Δt, same device: solver time / operator time at batch 1 and B (< 1: the solver wins)"},
        {"kind": "timeseries", "observables": ["operator_ms", "solver_ms"], "logy": True, "role": "secondary",
         "title": "wall time per Δt (ms)"},
        {"kind": "values", "title": "race", "role": "info",
         "observables": ["rel_error", "operator_ms", "solver_ms", "speedup", "speedup_batch", "speed_batch",
                         "solver_steps", "steps_since_sync",
                         "trained_nu_min", "trained_nu_max", "in_trained_range", "grid", "section_y"]},
        {"kind": "text", "array": "speed", "title": "speed: like for like", "role": "info"},
        {"kind": "text", "array": "checkpoint", "title": "checkpoint", "role": "info"},
        {"kind": "text", "array": "equations", "title": "equations", "role": "info"},
    )
    record_fields = ("solver_field", "operator_field")
    #: a frame's two fields restore a race (set_state sets each side)
    state_fields = {"solver_field": "solver_field", "operator_field": "operator_field"}

    # ---- lifecycle ------------------------------------------------------------------
    def __init__(self, *args, **kwargs):
        self._custom_checkpoint: tuple[Path, str, str] | None = None  # (path, system, checkpoint param)
        super().__init__(*args, **kwargs)

    @classmethod
    def params_for(cls, values):
        """The class's parameters with the checkpoint list as it is now: a checkpoint saved into the
        library since the engine started is a choice of the next race (and of the window's list)."""
        import dataclasses

        choices = _library.checkpoint_choices()
        return tuple(dataclasses.replace(p, choices=choices) if p.name == "checkpoint" else p for p in cls.params)

    @property
    def dt(self) -> float:
        return float(self.card["dt"])

    def _checkpoint_path(self) -> Path:
        system, name = self.p["system"], self.p["checkpoint"]
        custom = self._custom_checkpoint
        if custom is not None and custom[1:] == (system, name):
            return custom[0]
        self._custom_checkpoint = None
        shipped = _library.all_checkpoints()
        key = system if name == "auto" else name
        if key not in shipped:
            raise ValueError(f"{self.name}: no shipped checkpoint {key!r} in {ck.shipped_dir()} "
                             f"(found: {', '.join(shipped) or 'none'}); make one with "
                             f"`attractor-lab train-operator --system {system} --out {ck.shipped_dir() / key}`")
        return shipped[key]

    @classmethod
    def estimate_bytes(cls, p) -> int:
        """Peak memory of a reset and its first steps (engine budget): the shipped
        checkpoint, its spectral layers on the race grid and the solver racing it,
        measured 21 MiB for Burgers, 29/33/49 MiB for Navier–Stokes at resolution
        0.5/1/2; 24 MiB, and for Navier–Stokes 32 MiB plus 8 MiB × resolution² per raced
        sample, is taken. The like-for-like timing races ``speed_batch`` samples at once (105 MiB
        measured at resolution 2 with the default 8): counted as 1 + 0.4·B samples."""
        two_d = p["system"] == "navier_stokes"
        samples = 1.0 + 0.4 * max(0, int(p.get("speed_batch", 0) or 0))
        return (32 << 20) + int((8 << 20) * p["resolution"] ** 2 * samples) if two_d else 24 << 20

    def _reset(self) -> None:
        system = self.p["system"]
        if self.p["initial"] not in INITIALS[system]:
            raise ValueError(f"{self.name}: initial {self.p['initial']!r} is not a {system} start; choose one of "
                             f"{', '.join(INITIALS[system])}")
        path = self._checkpoint_path()
        op, card = ck.load_checkpoint(path, self.device)
        if card["system"] != system:
            raise ValueError(f"{self.name}: checkpoint {path} is for {card['system']}, not {system}; "
                             f"set system = {card['system']!r} or choose another checkpoint")
        self._install(op, card, path)

    def _install(self, op, card, path) -> None:
        """Use ``op`` (its card, its folder) and start the race on the grid the resolution asks."""
        self.op, self.card, self.checkpoint_path = op, card, Path(path)
        system = card["system"]
        self.dims = SYSTEMS[system]["dims"]
        n = max(8, 2 * round(self.p["resolution"] * card["grid"] / 2))
        self.n = n
        self.solver = IntervalSolver(system, n, self.device, torch.float32)
        self._x = (torch.arange(n, dtype=torch.float64) / n).numpy()
        self._operator_times: deque = deque(maxlen=TIMING_WINDOW)
        self._solver_times: deque = deque(maxlen=TIMING_WINDOW)
        self._solver_steps = 0
        self._batch_times: dict[str, list[float]] = {"operator": [], "solver": []}
        self._batch_solver: IntervalSolver | None = None
        self._sync_to(self._initial())

    def _initial(self) -> torch.Tensor:
        n, kind, amp = self.n, self.p["initial"], self.p["amplitude"]
        if kind == "random":
            # drawn on the training grid and interpolated: every resolution races the same start
            u = draw_initial(self.card["system"], 1, self.card["grid"], self.generator, self.device, torch.float64)
            u = resample(u, n, self.dims)[0]
        elif kind == "sine":
            u = torch.sin(2 * math.pi * torch.arange(n, device=self.device, dtype=torch.float64) / n)
        else:  # the Navier–Stokes model's own named starts
            u = shaped_vorticity(kind, n, self.device)
        if self.dims == 2:
            u = u - u.mean()
        return amp * u

    def _sync_to(self, field: torch.Tensor) -> None:
        """Both sides start from ``field`` (the race grid, any float dtype); the error curve restarts."""
        field = field.to(self.device, torch.float32)[None]
        self._truth = self.solver.to_spectral(field)
        self._pred = self.solver.to_physical(self._truth).clone()
        self._since_sync = 0
        self._history = [0.0]
        self._section_j: int | None = None
        self._start_kymographs()

    # ---- stepping ---------------------------------------------------------------------------
    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def step(self, n: int = 1) -> None:
        """Advance both sides ``n`` times by Δt (the step count and time follow each one, so a
        rollout that stops being finite leaves them at the last good step)."""
        n = int(n)
        if n < 0:
            raise ValueError(f"step: n must be >= 0, not {n}")
        for _ in range(n):
            self._advance_once()
            self.steps += 1
            self.time += self.dt

    def _step(self, n: int) -> None:  # the base class's hook; step() is overridden
        for _ in range(n):
            self._advance_once()

    def _advance_once(self) -> None:
        nu, a = self.p["viscosity"], self._forcing()
        self._sync()
        t0 = time.perf_counter()
        with torch.no_grad():
            pred = self.op(self._pred, nu, a)
        self._sync()
        t1 = time.perf_counter()
        if not bool(torch.isfinite(pred).all()):
            raise SimulationDiverged(
                f"{self.name}: the operator's rollout stopped being finite after {self._since_sync} steps "
                f"(ν = {nu:g}; trained on [{self.card['viscosity_range'][0]:g}, "
                f"{self.card['viscosity_range'][1]:g}]); kept the last state. Re-sync it (reset_every) or reset")
        truth = self.solver.advance(self._truth, self.dt, nu, a)
        self._sync()
        t2 = time.perf_counter()
        self._operator_times.append(t1 - t0)
        self._solver_times.append(t2 - t1)
        self._solver_steps = self.solver.last_steps
        self._pred, self._truth = pred, truth
        self._time_batch(nu, a)
        self._since_sync += 1
        k = self.p["reset_every"]
        if k and self._since_sync >= k:
            self._pred = self.solver.to_physical(self._truth).clone()
            self._since_sync = 0
            self._history = [0.0]
        else:
            self._history.append(self._error())
            if len(self._history) > HISTORY:
                self._history = self._history[-HISTORY:]
        self._add_rows()

    def _time_batch(self, nu: float, a: float) -> None:
        """Time both sides once on ``speed_batch`` copies of the current state over one Δt (twice
        after each reset or change of B; the faster of the two times is kept): the batched comparison."""
        b = self.p["speed_batch"]
        if b < 1 or len(self._batch_times["operator"]) >= 2:
            return
        if self._batch_solver is None or self._batch_solver.n != self.n:
            self._batch_solver = IntervalSolver(self.card["system"], self.n, self.device, torch.float32)
        pred = self._pred.expand(b, *self._pred.shape[1:]).contiguous()
        truth = self._truth.expand(b, *self._truth.shape[1:]).contiguous()
        self._sync()
        t0 = time.perf_counter()
        with torch.no_grad():
            self.op(pred, nu, a)
        self._sync()
        t1 = time.perf_counter()
        self._batch_solver.advance(truth, self.dt, nu, a)
        self._sync()
        t2 = time.perf_counter()
        self._batch_times["operator"].append(t1 - t0)
        self._batch_times["solver"].append(t2 - t1)

    def _on_live_change(self, changed):
        if "speed_batch" in changed:
            self._batch_times = {"operator": [], "solver": []}

    def _forcing(self) -> float:
        return self.p["forcing"] if self.dims == 2 else 0.0

    def _solver_field(self) -> torch.Tensor:
        return self.solver.to_physical(self._truth)[0]

    def _error(self) -> float:
        """‖u_op − u_solver‖₂/‖u_solver‖₂ (NaN while the solver's field is zero: a still canvas)."""
        truth = self._solver_field()
        size = float(truth.norm())
        return float((self._pred[0] - truth).norm()) / size if size > 0 else math.nan

    # ---- kymographs (Burgers) ------------------------------------------------------------------------
    def _start_kymographs(self) -> None:
        if self.dims != 1:
            return
        self._kymo = {k: np.full((KYMOGRAPH_ROWS, self.n), np.nan, dtype=np.float32) for k in ("solver", "operator")}
        self._kymo_count = 0
        self._add_rows()

    def _add_rows(self) -> None:
        if self.dims != 1:
            return
        row = self._kymo_count % KYMOGRAPH_ROWS
        self._kymo["solver"][row] = self._solver_field().cpu().numpy()
        self._kymo["operator"][row] = self._pred[0].cpu().numpy()
        self._kymo_count += 1

    def _kymograph(self, key: str) -> np.ndarray:
        return np.roll(self._kymo[key], -(self._kymo_count % KYMOGRAPH_ROWS), 0)

    def _kymograph_extent(self) -> np.ndarray:
        """[x0, x1, t0, t1]: x across [0, 1), row 0 (top, oldest) at t0, the last row (newest,
        the current field) at t1 = time; one row per Δt."""
        return np.array([0.0, 1.0, self.time - (KYMOGRAPH_ROWS - 1) * self.dt, self.time])

    # ---- the Navier–Stokes section ------------------------------------------------------------------
    def _section_column(self, solver: torch.Tensor) -> int:
        """The column j (y = j/n) of the section: fixed at section_y, or through the solver's largest
        |w|, kept while its own max |w| stays within SECTION_KEEP of the field's (the middle on a
        still canvas)."""
        n = self.n
        if self.p["section"] == "fixed":
            return int(round(self.p["section_y"] * n)) % n
        peak = solver.abs().amax(dim=0).to("cpu", torch.float64).numpy()  # max |w| of each column
        best = int(np.argmax(peak))
        if not peak[best] > 0:
            return n // 2
        keep = self._section_j
        if keep is None or peak[keep] < SECTION_KEEP * peak[best]:
            self._section_j = keep = best
        return keep

    # ---- setting the start -------------------------------------------------------------------------
    def set_state(self, u=None, w=None, solver_field=None, operator_field=None) -> None:
        """Start both sides from one field on the race grid: ``u`` (n,) for Burgers, ``w`` (n, n)
        for Navier–Stokes (its mean removed); or set the sides apart, ``solver_field`` and/or
        ``operator_field`` (as in the frames: a window restoring a race after an engine crash).
        Shapes and finiteness are checked before anything changes; ``ValueError`` names the problem."""
        name, value = ("u", u) if self.dims == 1 else ("w", w)
        wrong = "w" if self.dims == 1 else "u"
        if (w if self.dims == 1 else u) is not None:
            raise ValueError(f"set_state: {self.card['system']} takes {name}=, not {wrong}= (shape {self._shape()})")
        given = {k: v for k, v in ((name, value), ("solver_field", solver_field), ("operator_field", operator_field))
                 if v is not None}
        if not given:
            raise ValueError(f"set_state: pass {name}=array of shape {self._shape()} (or solver_field=, "
                             "operator_field=)")
        if name in given and len(given) > 1:
            raise ValueError(f"set_state: {name}= sets both sides; do not pass solver_field/operator_field with it")
        checked = {}
        for key, v in given.items():
            a = np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64)
            if a.shape != self._shape():
                raise ValueError(f"set_state: {key} must have shape {self._shape()} (the race grid), got {a.shape}")
            if not np.isfinite(a).all():
                raise ValueError(f"set_state: {key} must be finite; found {int((~np.isfinite(a)).sum())} NaN/inf "
                                 "values")
            checked[key] = torch.as_tensor(a - a.mean() if self.dims == 2 else a)
        if name in checked:
            self._sync_to(checked[name])
            return
        if "solver_field" in checked:
            self._truth = self.solver.to_spectral(checked["solver_field"].to(self.device, torch.float32)[None])
        if "operator_field" in checked:
            self._pred = checked["operator_field"].to(self.device, torch.float32)[None]
        self._history = [self._error()]
        self._start_kymographs()

    def _shape(self) -> tuple[int, ...]:
        return (self.n,) * self.dims

    def paint(self, field, x, y, radius, value, mode="set"):
        """Paint on either side's field; both sides restart from the painted field (the solver's field
        with the stroke). Burgers: u near column ``x`` set or raised (the kymograph's row ``y`` is
        ignored); Navier–Stokes: a Gaussian vortex (σ = radius/2 cells) at column ``x``, row ``y``,
        the mean kept at zero (as the burgers and navier_stokes models paint)."""
        if field not in ("solver", "operator"):
            raise ValueError(f"paint: field must be 'solver' or 'operator', not {field!r}")
        if mode not in ("set", "add"):
            raise ValueError(f"paint: mode must be 'set' or 'add', not {mode!r}")
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(value)) or not radius >= 0:
            raise ValueError("paint: x, y and value must be finite and radius >= 0")
        n = self.n
        base = (self._solver_field() if field == "solver" else self._pred[0]).to(torch.float64)
        if self.dims == 1:
            j = torch.arange(n, device=self.device, dtype=torch.float64)
            d = torch.remainder(j - float(x) + n / 2, n) - n / 2
            weight = 0.5 * (1.0 - torch.tanh((d.abs() - float(radius)) / max(1.0, float(radius) / 8)))
        else:
            core = max(float(radius), 0.5) / 2 / n
            weight = gaussian_vortex(n, float(y) / n, float(x) / n, core, self.device)
        new = base + weight * (float(value) if mode == "add" else float(value) - base)
        if self.dims == 2:
            new = new - new.mean()
        self._sync_to(new)

    # ---- checkpoints --------------------------------------------------------------------------------
    def load_weights(self, path) -> None:
        """Race with the checkpoint in folder ``path`` (or its weights file) instead of the shipped one.

        Refused with ``ValueError`` naming the mismatch (card, shapes, system, truncated file); the
        race then goes on unchanged. A loaded checkpoint holds through resets until ``system`` or
        ``checkpoint`` changes."""
        op, card = ck.load_checkpoint(path, self.device)
        if card["system"] != self.p["system"]:
            raise ValueError(f"load_weights: checkpoint {path} is for {card['system']}, this race runs "
                             f"{self.p['system']}; set system = {card['system']!r} and reset first")
        self._install(op, card, path)
        self._custom_checkpoint = (Path(path), self.p["system"], self.p["checkpoint"])

    # ---- output -------------------------------------------------------------------------------
    def state(self):
        solver, pred = self._solver_field(), self._pred[0]
        if self.dims == 1:
            s, o = self._kymograph("solver"), self._kymograph("operator")
            images = {"solver": s, "operator": o, "difference": o - s, "kymograph_extent": self._kymograph_extent()}
            sec_s, sec_o = solver, pred
        else:
            images = {"solver": solver, "operator": pred, "difference": pred - solver}
            j = self._section_column(solver)
            sec_s, sec_o = solver[:, j], pred[:, j]
        errors = self.card["errors"]
        return {
            **images,
            "solver_field": solver, "operator_field": pred,
            "x": self._x, "section_solver": sec_s, "section_operator": sec_o,
            "rollout_step": np.arange(self._since_sync - len(self._history) + 1, self._since_sync + 1,
                                      dtype=np.float64),
            "rollout_error": np.asarray(self._history, dtype=np.float64),
            "card_steps": np.array([1.0, 10.0]),
            "card_errors": np.array([errors["one_step"], errors["ten_step"]], dtype=np.float64),
        }

    def observables(self):
        op_s = statistics.median(self._operator_times) if self._operator_times else math.nan
        so_s = statistics.median(self._solver_times) if self._solver_times else math.nan
        lo, hi = self.card["viscosity_range"]
        nu = self.p["viscosity"]
        inside = lo * (1 - 1e-9) <= nu <= hi * (1 + 1e-9)
        if self.dims == 2:
            f_lo, f_hi = self.card["forcing_range"]
            inside = inside and f_lo - 1e-9 <= self.p["forcing"] <= f_hi + 1e-9
        op_b, so_b = (min(self._batch_times[k]) if len(self._batch_times[k]) >= 2 else math.nan
                      for k in ("operator", "solver"))
        return {
            "rel_error": self._error(),
            "operator_ms": 1e3 * op_s,
            "solver_ms": 1e3 * so_s,
            "speedup": so_s / op_s if op_s > 0 else math.nan,
            # the same at batch speed_batch (NaN until measured, or when speed_batch = 0)
            "speedup_batch": so_b / op_b if op_b > 0 else math.nan,
            "speed_batch": self.p["speed_batch"],
            "solver_steps": self._solver_steps,
            "steps_since_sync": self._since_sync,
            "trained_nu_min": lo,
            "trained_nu_max": hi,
            "in_trained_range": int(inside),
            "grid": self.n,
            # the y of the Navier–Stokes section w(x, y) (NaN for Burgers: its section is u(x) itself)
            "section_y": self._section_column(self._solver_field()) / self.n if self.dims == 2 else math.nan,
        }

    def texts(self):
        c, e, d, t = self.card, self.card["errors"], self.card.get("data", {}), self.card.get("training", {})
        lo, hi = c["viscosity_range"]
        lines = [
            f"checkpoint: {self.checkpoint_path}",
            f"system: {c['system']}, trained on a {c['grid']}{'²' if self.dims == 2 else ''} grid, Δt = {c['dt']:g}",
            f"trained viscosity range: ν ∈ [{lo:g}, {hi:g}]"
            + (f"; forcing a ∈ [{c['forcing_range'][0]:g}, {c['forcing_range'][1]:g}]" if self.dims == 2 else ""),
            f"race grid: {self.n} ({self.n / c['grid']:g}× the training grid)",
            f"test errors (relative L2): one step {100 * e['one_step']:.2f} %, 10 steps {100 * e['ten_step']:.2f} %",
        ]
        if d or t:
            lines.append(f"data: {d.get('train_trajectories', '?')} trajectories × {d.get('steps_per_trajectory', '?')} "
                         f"steps; {t.get('epochs', '?')} epochs in {t.get('seconds', 0) / 60:.0f} min on "
                         f"{t.get('device', '?')}")
        return {"equations": self.equations, "checkpoint": "\n".join(lines), "speed": self._speed_text()}

    def _speed_text(self) -> str:
        """What the speed-up compares, and who wins, in words."""
        from attractor_lab.engine.device import describe

        obs = self.observables()
        lines = [f"Like for like: both sides on {describe(self.device)}, float32, over the same horizon — one "
                 f"Δt = {self.dt:g}: one operator evaluation against the solver's {obs['solver_steps']} steps over "
                 "it — each timed on its own (medians of the last steps)."]

        def verdict(so_ms, op_ms, batch):
            if not (so_ms > 0 and op_ms > 0):
                return f"batch {batch}: not measured yet"
            head = f"batch {batch}: solver {so_ms:.3g} ms, operator {op_ms:.3g} ms per Δt → "
            if so_ms >= op_ms:
                return head + f"the operator is {so_ms / op_ms:.3g}× faster"
            return head + (f"the solver is faster here ({op_ms / so_ms:.3g}× quicker than the operator): "
                           "on this device the operator does not pay")

        lines.append(verdict(obs["solver_ms"], obs["operator_ms"], 1))
        b = self.p["speed_batch"]
        if b >= 1:
            done = len(self._batch_times["operator"]) >= 2
            lines.append(verdict(1e3 * min(self._batch_times["solver"]) if done else math.nan,
                                 1e3 * min(self._batch_times["operator"]) if done else math.nan, b)
                         + (" (the whole batch)" if done else ""))
        lines.append(f"The solver is the reference: the operator's answer is off by rel_error = "
                     f"{100 * obs['rel_error']:.2g} % now; its speed is worth that error.")
        return "\n".join(lines)
