"""A neural ODE trained live: a vector field f_θ fitted to trajectories of a classical system.

Data: ``trajectories`` solutions of a target system from ``_systems`` (the
same definitions ``ode_system`` integrates), solved by torchdiffeq at tight
tolerance in float64, sampled ``samples`` times over [0, ``horizon``]
(regularly, or at random times with ``irregular``), with Gaussian ``noise``
added. Beyond the horizon the true solution continues for a held-out span
(``extrapolation`` × horizon) that training never sees.

One engine step is one optimiser step (Adam, ``lr``): ``batch`` windows of
``window`` consecutive samples are drawn; each window's first sample is the
initial state, the learned field is integrated through the window's times
(all windows as one batch, one solve) and the loss is the mean squared error
on the others — torchdiffeq's ``ode_demo`` scheme. Gradients come from
backpropagation through the solver, or from the adjoint (``adjoint``; a
second, backward solve with seminorm error control).

With ``regularise`` (non-adjoint), the loss gains ``reg_weight`` × R_E, the
sum over accepted solver steps of the solver's own local error estimate times
the step size, and optionally ``stiffness_weight`` × R_S, the same with
Hairer's stiffness estimate (dopri5) — Pal et al., "Opening the Blackbox",
ICML 2021. Fields with small error estimates let the step-size controller take
longer steps: fewer function evaluations (NFE) for a comparable fit.

NFE accounting: ``nfe_forward`` counts calls of f_θ in the training solve
(dopri5: 2 + 6 × (accepted + rejected) steps); ``nfe_backward`` counts calls
during the backward pass — the adjoint solve's, or 0 with backpropagation
through the solver, which reuses the forward's graph (its cost is about one
vector–Jacobian product per forward call, but f_θ is never called again).
``nfe_rollout`` is the prediction cost: the NFE of one solve over the whole
span (what the regulariser aims to lower); ``nfe_forward_mean`` the mean of
``nfe_forward`` over the last 100 iterations (one iteration's count jumps by a
dopri5 step's 6 calls with the batch drawn).

Fixed points: ``fp_offset`` is the largest distance from a true fixed point to
the nearest learned one, ``fp_kinds_agree`` the fraction of true fixed points
whose nearest learned one has the same stability (NaN when either field has
none in the box searched).

Errors: ``loss`` is this iteration's batch loss; ``loss_train`` the loss over
non-overlapping windows covering all the data, ``loss_clean`` the same against
the noise-free samples; ``loss_val`` the mean squared error of the forecast
from the last sample at H through the held-out span, ``forecast_error`` its
root over the true signal's variance there (0: perfect; ~1 or more: nothing
like it); ``rollout_error`` the same for the learned solution from the true
starts over [0, H] (phase errors accumulate over many turns: a strict measure).

Observables that cost a solve over the whole span (``loss_train``,
``loss_val``, ``nfe_rollout``, the views' trajectories, fields and fixed
points) are computed when asked and kept for that iteration; while a window
displays frames they are refreshed at most every 4× their cost (so the views
take at most ~20 % of the training time; a script or a recording always gets
them for the current iteration).
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torchdiffeq import odeint, odeint_adjoint

from attractor_lab.engine.models import register
from attractor_lab.engine.models.base import Model, SimulationDiverged
from attractor_lab.engine.models.neural_ode._fields import ACTIVATIONS, ADAPTIVE_SOLVERS, FIELDS, INPUTS, SolverProbe, describe_tensor
from attractor_lab.engine.models.neural_ode._fixed_points import find_fixed_points, padded
from attractor_lab.engine.models.neural_ode._systems import SYSTEMS, system_params, system_values
from attractor_lab.engine.params import Param

#: most solver steps between two output times before a solve is abandoned (a field gone stiff)
MAX_STEPS = 20_000
#: rows of the fixed-point arrays (NaN-padded: fixed shapes record cleanly)
MAX_FIXED_POINTS = 16
#: points per trajectory in the views (the evaluation grid is subsampled to this)
VIEW_POINTS = 600
GRID = 21
PROBES = 4
#: training iterations averaged in ``nfe_forward_mean``
NFE_MEAN_ITERATIONS = 100
WEIGHTS_FORMAT = "attractor-lab/neural_ode-weights"
WEIGHTS_VERSION = 1
#: phase-portrait colours: the true system's trajectories (solid) and the learned field's (dashed)
TRUE_COLOR, LEARNED_COLOR = "#4cc9f0", "#f72585"
#: the configuration a weights file must share with the model it is loaded into
ARCHITECTURE = ("field", "width", "depth", "activation", "inputs")
#: the precisions a weights file may declare (the ``dtype`` parameter's choices)
WEIGHTS_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _system_params():
    """The systems' parameters under the same names as ``ode_system``; here they shape the data, so
    they apply at reset, and the Duffing forcing defaults to 0 (a learned field is autonomous)."""
    out = []
    for p in system_params("target"):
        p = replace(p, live=False)
        if p.name == "forcing":
            p = replace(p, default=0.0, help=p.help + "; must be 0 here: the learned field f(x) is autonomous")
        out.append(p)
    return tuple(out)


@register
class NeuralODE(Model):
    name = "neural_ode"
    title = "Neural ODE trained live"
    description = (
        "A neural vector field (MLP or liquid time-constant cell) learns a classical system from sampled "
        "trajectories; one step is one Adam step. Loss, the solver's function evaluations forward and "
        "backward, learned against true trajectories with a held-out extrapolation, and both phase portraits "
        "with their fixed points. Optional regulariser on the solver's own error estimates (Pal et al. 2021)."
    )
    equations = (
        "data: x(t) of the target system, samples over [0, H], + noise\n"
        "mlp:  dx/dt = f_θ(x)          ltc: dx/dt = −[1/τ + f_θ(x)] ⊙ x + f_θ(x) ⊙ A\n"
        "loss = mean over windows ‖x̂(t_k) − x(t_k)‖²  (+ w Σ_j E_j h_j + w_S Σ_j λ_j h_j with regularise)"
    )
    params = (
        Param("target", "choice", "spiral", choices=tuple(SYSTEMS), live=False,
              help="the system to learn: " + ", ".join(SYSTEMS) + " (the cubic spiral of torchdiffeq's ode_demo)"),
        *_system_params(),
        Param("field", "choice", "mlp", choices=tuple(FIELDS), live=False,
              help="mlp: dx/dt = f_θ(x); ltc: liquid time-constant cell −[1/τ + f_θ(x)] ⊙ x + f_θ(x) ⊙ A"),
        Param("width", "int", 50, 2, 1024, live=False, log=True, help="units per hidden layer"),
        Param("depth", "int", 1, 1, 8, live=False, help="hidden layers"),
        Param("activation", "choice", "tanh", choices=tuple(ACTIVATIONS), live=False, help="hidden nonlinearity"),
        Param("inputs", "choice", "cubes", choices=INPUTS, live=False,
              help="what the network reads: the state x, or its component-wise cubes x³ (torchdiffeq's ode_demo; "
                   "the spiral's own nonlinearity — use 'state' for other targets)"),
        Param("trajectories", "int", 1, 1, 64, live=False,
              help="training trajectories (the first from the system's usual start, others spread over the window)"),
        Param("horizon", "float", 25.0, 0.1, 10_000.0, unit="time", live=False, log=True,
              help="training time span [0, H]"),
        Param("samples", "int", 1000, 10, 100_000, live=False, log=True, help="samples per trajectory over [0, H]"),
        Param("noise", "float", 0.0, 0.0, 10.0, live=False, step=0.01,
              help="standard deviation of the Gaussian noise added to every sample"),
        Param("irregular", "bool", False, live=False,
              help="sample at sorted random times (0 and H included) instead of a regular grid"),
        Param("extrapolation", "float", 0.2, 0.05, 4.0, live=False, step=0.05,
              help="held-out span beyond the horizon, as a fraction of H (never trained on)"),
        Param("window", "int", 10, 2, 10_000, help="consecutive samples per training window (the first is the start)"),
        Param("batch", "int", 256, 1, 4096, log=True, help="windows per optimiser step"),
        Param("lr", "float", 1e-2, 1e-6, 1.0, log=True, help="Adam learning rate"),
        Param("adjoint", "bool", False,
              help="gradients from the adjoint backward solve (memory independent of the steps) instead of "
                   "backpropagation through the solver"),
        Param("solver", "choice", "dopri5", choices=ADAPTIVE_SOLVERS,
              help="torchdiffeq's adaptive Runge–Kutta solvers (dopri5 gives the stiffness estimate too)"),
        Param("rtol", "float", 1e-6, 1e-12, 0.1, log=True, help="relative tolerance of the solver"),
        Param("atol", "float", 1e-8, 1e-14, 0.1, log=True, help="absolute tolerance of the solver"),
        Param("regularise", "bool", False,
              help="add the solver's local error estimates Σ E_j h_j to the loss (Pal et al. 2021); "
                   "needs adjoint off"),
        Param("reg_weight", "float", 3e-3, 1e-8, 100.0, log=True, help="weight w of Σ_j E_j h_j in the loss",
              shown_when=(("regularise", (True,)),)),
        Param("stiffness_weight", "float", 0.0, 0.0, 100.0, step=0.001,
              help="weight w_S of the stiffness estimate Σ_j λ_j h_j (dopri5; 0: off)",
              shown_when=(("regularise", (True,)),)),
        Param("dtype", "choice", "float32", choices=("float32", "float64"), live=False,
              help="precision of the network and the training solves"),
    )
    views = (
        {"kind": "timeseries", "observables": ["loss", "loss_train", "loss_val"], "title": "Loss (log scale)",
         "xlabel": "iteration", "ylabel": "mean squared error", "logy": True, "role": "secondary"},
        # the backward pass calls f only through the adjoint: without it nfe_backward is 0 by construction
        {"kind": "timeseries", "observables": ["nfe_forward", "nfe_backward"], "role": "secondary",
         "title": "Function evaluations per iteration (forward, adjoint backward)", "xlabel": "iteration",
         "ylabel": "NFE", "shown_when": [["adjoint", [True]]]},
        {"kind": "timeseries", "observables": ["nfe_forward"], "role": "secondary",
         "title": "Function evaluations per iteration (forward; backpropagation through the solver adds none)",
         "xlabel": "iteration", "ylabel": "NFE", "shown_when": [["adjoint", [False]]]},
        {"kind": "lines", "title": "Trajectory 1: true (solid) and learned (dashed); held out after the horizon",
         "xlabel": "time", "ylabel": "state",
         "series": [{"x": "t_true", "y": "true_1", "name": "x₁ true"},
                    {"x": "t_learned", "y": "learned_1", "name": "x₁ learned", "style": "dash"},
                    {"x": "t_true", "y": "true_2", "name": "x₂ true"},
                    {"x": "t_learned", "y": "learned_2", "name": "x₂ learned", "style": "dash"},
                    {"x": "horizon_t", "y": "horizon_y", "name": "training horizon", "style": "dash",
                     "color": "#9a9a9a"}],
         "role": "secondary"},
        {"kind": "phase", "title": "Phase portrait: true and learned fields, trajectories, fixed points "
                                   "(click to launch both)",
         "xlabel": "x₁", "ylabel": "x₂",
         "fields": [{"x": "grid_x", "y": "grid_y", "u": "true_u", "v": "true_v", "name": "true field"},
                    {"x": "grid_x", "y": "grid_y", "u": "learned_u", "v": "learned_v", "name": "learned field"}],
         # one legend entry per meaning: the launched trajectories share the data's colours and
         # styles (solid true, dashed learned) and add no entries of their own
         "trajectories": [{"array": "traj_true", "name": "true (solid)", "color": TRUE_COLOR},
                          {"array": "traj_learned", "name": "learned (dashed)", "style": "dash", "color": LEARNED_COLOR},
                          {"array": "probe_true", "color": TRUE_COLOR},
                          {"array": "probe_learned", "style": "dash", "color": LEARNED_COLOR}],
         "fixed_points": [{"array": "fp_true", "kinds": "fp_true_kind", "name": "true f.p."},
                          {"array": "fp_learned", "kinds": "fp_learned_kind", "name": "learned f.p."}],
         "click": "launch", "role": "primary"},
        {"kind": "timeseries", "observables": ["nfe_rollout"], "title": "Prediction cost: NFE of one solve over "
                                                                        "[0, H + held-out span]",
         "xlabel": "iteration", "ylabel": "NFE", "role": "secondary"},
        {"kind": "values", "title": "Training", "role": "info",
         "observables": ["iteration", "loss", "loss_train", "loss_clean", "loss_val", "forecast_error", "rollout_error",
                         "nfe_forward", "nfe_backward", "nfe_rollout", "steps_accepted", "steps_rejected",
                         "reg_error", "reg_stiffness", "grad_norm", "lr", "parameters",
                         "fixed_points_true", "fixed_points_learned"]},
        {"kind": "text", "array": "equations", "role": "info"},
    )
    #: what changes while training (the true trajectories, field and fixed points are fixed per reset)
    record_fields = ("t_learned", "learned_1", "learned_2", "traj_learned", "learned_u", "learned_v",
                     "fp_learned", "fp_learned_kind")
    time_per_step = 1.0  # one optimiser step; "time" in the views is the iteration
    steps_per_frame = 0

    # ---- lifecycle --------------------------------------------------------------
    def _check(self, p: dict) -> None:
        """Refuse combinations no single parameter's range can express."""
        if p["regularise"] and p["adjoint"]:
            raise ValueError("neural_ode: 'regularise' needs adjoint = false: the regulariser differentiates the "
                             "solver's error estimates through its steps, which the adjoint's forward solve does "
                             "not keep")
        if p["regularise"] and p["stiffness_weight"] > 0 and p["solver"] != "dopri5":
            raise ValueError(f"neural_ode: 'stiffness_weight' > 0 needs solver = 'dopri5' (the stiffness estimate "
                             f"uses its last two stages), not {p['solver']!r}")
        if p["window"] > p["samples"]:
            raise ValueError(f"neural_ode: parameter 'window' is {p['window']}; allowed 2..{p['samples']} "
                             f"(the samples per trajectory)")

    @classmethod
    def estimate_bytes(cls, p) -> int:
        """Peak memory of a reset and its first training steps (engine budget): the
        autograd graph of a batch of windows through the MLP (46 bytes per batch × window
        × width × depth) and the weights with the optimiser's state (168 bytes per
        width² × depth), the data (128 bytes a sample of a trajectory), plus 96 MiB (the
        solvers, the true portrait, autograd); fitted to measured peaks, 15 % above.
        ``batch`` and ``window`` are live: raising them later grows the graph unchecked
        by the guard."""
        w, d = p["width"], p["depth"]
        graph = 46 * p["batch"] * p["window"] * w * d + 168 * w * w * d
        return graph + 128 * p["trajectories"] * p["samples"] + (96 << 20)

    def _reset(self) -> None:
        self._check(self.p)
        self.sys = SYSTEMS[self.p["target"]]
        self.sp = system_values(self.p)
        if not self.sys.autonomous(self.sp):
            raise ValueError("neural_ode: parameter 'forcing' must be 0: the learned field f(x) is autonomous "
                             "and cannot learn a time-dependent drive")
        self.dtype = torch.float64 if self.p["dtype"] == "float64" else torch.float32
        self._make_data()
        self._make_network()
        self._true_portrait()
        self._stats = dict(loss=math.nan, nfe_forward=0, nfe_backward=0, steps_accepted=0, steps_rejected=0,
                           steps_accepted_backward=0, steps_rejected_backward=0, reg_error=math.nan,
                           reg_stiffness=math.nan, grad_norm=math.nan)
        self._nfe_recent: deque = deque(maxlen=NFE_MEAN_ITERATIONS)
        self._eval: dict | None = None
        self._eval_step = -1
        self._eval_time = 0.0
        self._eval_cost = 0.0
        self._probes = 0
        self._probe_true = torch.full((PROBES, 400, 2), math.nan, dtype=torch.float64, device=self.device)
        self._probe_learned = self._probe_true.clone()

    def _random_starts(self, count: int) -> torch.Tensor:
        """Starts over the middle of the phase window (other components around the usual start)."""
        x0, x1, y0, y1 = self.sys.window(self.sp)
        i, j = self.sys.plane
        u = torch.rand((count, 2), generator=self.generator, device=self.device, dtype=torch.float64)
        start = torch.tensor(self.sys.start(self.sp), dtype=torch.float64, device=self.device)
        out = start.repeat(count, 1)
        out[:, i] = x0 + (0.1 + 0.8 * u[:, 0]) * (x1 - x0)
        out[:, j] = y0 + (0.1 + 0.8 * u[:, 1]) * (y1 - y0)
        for k in (k for k in range(self.sys.dim) if k not in (i, j)):
            noise = torch.randn(count, generator=self.generator, device=self.device, dtype=torch.float64)
            out[:, k] = start[k] + 0.1 * (x1 - x0) * noise
        return out

    def _true_solve(self, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The target system from ``y0`` (N, d) at times ``t`` (float64, tight tolerance) → (T, N, d)."""
        sp, field = self.sp, self.sys.field
        return odeint(lambda s, x: field(s, x, sp), y0, t, rtol=1e-9, atol=1e-11, method="dopri5",
                      options={"max_num_steps": 10 * MAX_STEPS})

    def _make_data(self) -> None:
        dev, f64 = self.device, torch.float64
        n, d, h, s = self.p["trajectories"], self.sys.dim, self.p["horizon"], self.p["samples"]
        y0 = torch.tensor(self.sys.start(self.sp), dtype=f64, device=dev).repeat(n, 1)
        if n > 1:
            y0[1:] = self._random_starts(n - 1)
        self.y0_true = y0
        if self.p["irregular"]:
            inner = torch.rand((n, s - 2), generator=self.generator, device=dev, dtype=f64) * h
            ends = torch.tensor([0.0, h], dtype=f64, device=dev).repeat(n, 1)
            times = torch.sort(torch.cat([ends, inner], dim=1), dim=1).values
        else:
            times = torch.linspace(0.0, h, s, dtype=f64, device=dev).repeat(n, 1)
        # evaluation grid: 1001 points over [0, H], then the held-out span at the same spacing
        self.i_horizon = 1000
        step = h / self.i_horizon
        extra = max(1, round(self.p["extrapolation"] * self.i_horizon))
        self.t_eval = torch.arange(self.i_horizon + extra + 1, dtype=f64, device=dev) * step
        self.t_eval[self.i_horizon] = h
        all_t, inverse = torch.unique(torch.cat([times.reshape(-1), self.t_eval]), sorted=True, return_inverse=True)
        with torch.no_grad():
            sol = self._true_solve(y0, all_t)  # (U, n, d)
        if not bool(torch.isfinite(sol).all()):
            raise ValueError(f"neural_ode: the target {self.sys.name!r} does not stay finite over "
                             f"[0, {h * (1 + self.p['extrapolation']):g}] with these parameters")
        at_samples = inverse[: n * s].reshape(n, s)
        clean = sol[at_samples, torch.arange(n, device=dev)[:, None]]  # (n, s, d)
        self.true_eval = sol[inverse[n * s:]].transpose(0, 1)  # (n, T, d)
        noise = torch.randn(clean.shape, generator=self.generator, device=dev, dtype=f64)
        self.t_samples = times.to(self.dtype)
        self.data = (clean + self.p["noise"] * noise).to(self.dtype)
        self.clean = clean
        self.clean_data = clean.to(self.dtype)
        span = self.true_eval[:, self.i_horizon:]
        self._val_scale = float(span.var(dim=1).mean()) or 1.0
        self._train_scale = float(self.true_eval[:, : self.i_horizon + 1].var(dim=1).mean()) or 1.0
        self._window_rel = (torch.arange(self.p["window"], dtype=f64, device=dev) * (h / (s - 1))).to(self.dtype)

    def _make_network(self) -> None:
        p = self.p
        flat = self.data.reshape(-1, self.sys.dim)
        data_range = (flat.min(0).values, flat.max(0).values)
        self.field = FIELDS[p["field"]](self.sys.dim, p["width"], p["depth"], p["activation"], p["inputs"],
                                        generator=self.generator, device=self.device, dtype=self.dtype,
                                        data_range=data_range)
        self.probe = SolverProbe(self.field)
        self.optimizer = torch.optim.Adam(self.field.parameters(), lr=p["lr"])

    def _on_live_change(self, changed) -> None:
        self._check(self.p)
        if "lr" in changed:
            for group in self.optimizer.param_groups:
                group["lr"] = self.p["lr"]
        if "window" in changed:
            h, s = self.p["horizon"], self.p["samples"]
            self._window_rel = (torch.arange(self.p["window"], dtype=torch.float64, device=self.device)
                                * (h / (s - 1))).to(self.dtype)
        if changed.keys() & {"window", "solver", "rtol", "atol"}:
            self._eval = None  # what the evaluation measures changed: the next frame shows the new one

    # ---- solving ------------------------------------------------------------------------
    def _solve(self, y0, t, *, adjoint=False, record=False):
        """The learned field from ``y0`` (B, d) through times ``t`` → (T, B, d)."""
        options = {"max_num_steps": MAX_STEPS}
        if record:
            options["norm"] = self.probe.norm
        kw = dict(rtol=self.p["rtol"], atol=self.p["atol"], method=self.p["solver"], options=options)
        if adjoint:
            return odeint_adjoint(self.probe, y0, t, adjoint_params=tuple(self.field.parameters()),
                                  adjoint_options={"norm": "seminorm", "max_num_steps": MAX_STEPS}, **kw)
        return odeint(self.probe, y0, t, **kw)

    def _windows(self, traj: torch.Tensor, start: torch.Tensor, clean: bool = False):
        """Samples (B, W, d) and times relative to each window's start (B, W) of the given windows
        (``clean``: the noise-free samples)."""
        idx = start[:, None] + torch.arange(self.p["window"], device=self.device)
        data = self.clean_data if clean else self.data
        return data[traj[:, None], idx], self.t_samples[traj[:, None], idx] - self.t_samples[traj, start][:, None]

    def _predict(self, y0, rel, **kw):
        """Learned solutions (B, W, d) from ``y0`` (B, d) at the relative times ``rel`` (B, W)."""
        if not self.p["irregular"]:  # every window has the same relative times: one output grid
            return self._solve(y0, self._window_rel, **kw).transpose(0, 1)
        # irregular: one solve through the union of all windows' times, each window reads its own
        times, inverse = torch.unique(rel, sorted=True, return_inverse=True)
        sol = self._solve(y0, times, **kw).transpose(0, 1)  # (B, U, d)
        return sol.gather(1, inverse[..., None].expand(-1, -1, y0.shape[-1]))

    # ---- training -----------------------------------------------------------------------------
    def _step(self, n: int) -> None:
        for _ in range(n):
            self._train_step()

    def _train_step(self) -> None:
        p = self.p
        b, w = p["batch"], p["window"]
        n, s = self.data.shape[:2]
        traj = torch.randint(0, n, (b,), generator=self.generator, device=self.device)
        start = torch.randint(0, s - w + 1, (b,), generator=self.generator, device=self.device)
        self.optimizer.zero_grad(set_to_none=True)
        loss, total, r_e, r_s = self._batch_loss(traj, start, backward=True)
        grads = [q.grad for q in self.field.parameters() if q.grad is not None]
        grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        if not bool(torch.isfinite(total)) or not bool(torch.isfinite(grad_norm)):
            # the parameters are still the last good ones: nothing was stepped
            raise SimulationDiverged("neural_ode: the loss or its gradient is not finite; lower 'lr' "
                                     "(or 'reg_weight') and step again")
        self.optimizer.step()
        self._stats["grad_norm"] = float(grad_norm)
        self._nfe_recent.append(self._stats["nfe_forward"])

    def _batch_loss(self, traj: torch.Tensor, start: torch.Tensor, backward: bool = True):
        """Loss of the windows (``traj``, ``start``), and with ``backward`` its gradients in ``.grad``.

        Returns the data loss, the total (with the regulariser when on), R_E and R_S (None when not
        measured). The solver's statistics of this call go to ``self._stats``."""
        p, probe = self.p, self.probe
        y, rel = self._windows(traj, start)
        regularise = p["regularise"]
        stiffness = regularise and p["stiffness_weight"] > 0
        # the error estimates are always measured (without the adjoint), kept differentiable only when used
        probe.begin(recording=not p["adjoint"], differentiable=regularise, stiffness=stiffness)
        try:
            pred = self._predict(y[:, 0], rel, adjoint=p["adjoint"], record=not p["adjoint"])
        except AssertionError as exc:  # torchdiffeq: step underflow, non-finite state, too many steps
            raise SimulationDiverged(f"neural_ode: the training solve failed ({exc}); the learned field became "
                                     f"too stiff or blew up — lower 'lr', loosen 'rtol'/'atol' or turn on "
                                     f"'regularise'") from None
        loss = (pred[:, 1:] - y[:, 1:]).pow(2).mean()
        total = loss
        r_e, r_s = probe.error_sum(), probe.stiffness_sum()
        if regularise and r_e is not None:
            total = total + p["reg_weight"] * r_e
            if stiffness and r_s is not None:
                total = total + p["stiffness_weight"] * r_s
        nfe_forward, accepted, rejected = probe.nfe, probe.accepted, probe.rejected
        if backward:
            try:
                total.backward()
            except AssertionError as exc:
                raise SimulationDiverged(f"neural_ode: the adjoint solve failed ({exc}); lower 'lr' or loosen "
                                         f"'rtol'/'atol'") from None
        self._stats = dict(
            loss=float(loss.detach()), nfe_forward=nfe_forward, nfe_backward=probe.nfe - nfe_forward,
            steps_accepted=accepted, steps_rejected=rejected,
            steps_accepted_backward=probe.accepted_adjoint, steps_rejected_backward=probe.rejected_adjoint,
            reg_error=float(r_e.detach()) if r_e is not None else math.nan,
            reg_stiffness=float(r_s.detach()) if r_s is not None else math.nan, grad_norm=math.nan)
        return loss, total, r_e, r_s

    # ---- evaluation (cached) ----------------------------------------------------------------
    def _evaluation(self) -> dict:
        if self._eval is not None and self._eval_step == self.steps:
            return self._eval
        if self.display_mode and self._eval is not None and \
                time.perf_counter() - self._eval_time < max(0.25, 4.0 * self._eval_cost):
            return self._eval
        t0 = time.perf_counter()
        self._eval = self._evaluate()
        self._eval_step = self.steps
        self._eval_time = time.perf_counter()
        self._eval_cost = self._eval_time - t0
        return self._eval

    @torch.no_grad()
    def _evaluate(self) -> dict:
        out: dict = {}
        n, s, d = *self.data.shape[:2], self.sys.dim
        w = self.p["window"]
        # the training loss over non-overlapping windows covering every trajectory
        starts = torch.arange(0, s - w + 1, w - 1, device=self.device)
        traj = torch.arange(n, device=self.device).repeat_interleave(len(starts))
        start = starts.repeat(n)
        nan_roll = torch.full((n, len(self.t_eval), d), math.nan, dtype=torch.float64, device=self.device)
        for key, clean in (("loss_train", False), ("loss_clean", True)):
            if clean and self.p["noise"] == 0:
                out[key] = out["loss_train"]
                continue
            y, rel = self._windows(traj, start, clean=clean)
            try:
                self.probe.begin()
                out[key] = float((self._predict(y[:, 0], rel)[:, 1:] - y[:, 1:]).pow(2).mean())
            except AssertionError:
                out[key] = math.nan
        t_eval = self.t_eval.to(self.dtype)
        try:  # rollout from the true starts over the whole span: the prediction cost
            self.probe.begin()
            roll = self._solve(self.y0_true.to(self.dtype), t_eval).transpose(0, 1).to(torch.float64)
            out["nfe_rollout"] = self.probe.nfe
        except AssertionError:
            roll, out["nfe_rollout"] = nan_roll, -1
        try:  # forecast from the last observation at the horizon through the held-out span
            fc = self._solve(self.data[:, -1], t_eval[self.i_horizon:]).transpose(0, 1).to(torch.float64)
        except AssertionError:
            fc = nan_roll[:, self.i_horizon:]
        i = self.i_horizon
        err_val = (fc[:, 1:] - self.true_eval[:, i + 1:]).pow(2).mean()
        out["loss_val"] = float(err_val)
        out["forecast_error"] = math.sqrt(float(err_val) / self._val_scale)
        out["rollout_error"] = math.sqrt(float((roll[:, : i + 1] - self.true_eval[:, : i + 1]).pow(2).mean())
                                         / self._train_scale)
        out["roll"], out["forecast"] = roll, fc
        # learned field on the portrait's grid, and its fixed points
        out["learned_uv"] = self._plane_field(lambda x: self.field(x.to(self.dtype)).to(torch.float64))
        lo, hi = self._box
        try:
            pts, kinds, _ = find_fixed_points(lambda x: self.field(x.to(self.dtype)).to(torch.float64), lo, hi,
                                              max_points=MAX_FIXED_POINTS)
        except (RuntimeError, torch.linalg.LinAlgError):
            pts, kinds = torch.zeros((0, d), dtype=torch.float64, device=self.device), \
                torch.zeros(0, dtype=torch.int64, device=self.device)
        out["fixed_points_learned"] = int(pts.shape[0])
        out["fp_learned"], out["fp_learned_kind"] = padded(self._on_plane(pts), kinds, MAX_FIXED_POINTS)
        out["fp_offset"], out["fp_kinds_agree"] = math.nan, math.nan
        if pts.shape[0] and self._fp_true_full.shape[0]:
            # each true fixed point against its nearest learned one (full state, not the plane)
            dist = torch.cdist(self._fp_true_full.to(pts), pts)
            nearest = dist.argmin(1)
            out["fp_offset"] = float(dist.min(1).values.max())
            out["fp_kinds_agree"] = float((kinds[nearest] == self._fp_true_kinds_full.to(kinds)).double().mean())
        return out

    # ---- phase portrait helpers ---------------------------------------------------------------
    def _on_plane(self, x: torch.Tensor) -> torch.Tensor:
        i, j = self.sys.plane
        return x[..., [i, j]]

    def _plane_field(self, field) -> tuple[torch.Tensor, torch.Tensor]:
        """(u, v) of ``field`` on the portrait's grid (other components at the data's mean)."""
        i, j = self.sys.plane
        rows, cols = torch.meshgrid(self.grid_y, self.grid_x, indexing="ij")  # (ny, nx): y by row, x by column
        x = self._slice.repeat(rows.numel(), 1)
        x[:, i], x[:, j] = cols.reshape(-1), rows.reshape(-1)
        f = field(x)
        return f[:, i].reshape(GRID, GRID), f[:, j].reshape(GRID, GRID)

    def _true_portrait(self) -> None:
        f64, dev = torch.float64, self.device
        x0, x1, y0, y1 = self.sys.window(self.sp)
        self.grid_x = torch.linspace(x0, x1, GRID, dtype=f64, device=dev)
        self.grid_y = torch.linspace(y0, y1, GRID, dtype=f64, device=dev)
        self._slice = self.clean.reshape(-1, self.sys.dim).mean(0)
        flat = self.true_eval.reshape(-1, self.sys.dim)
        lo, hi = flat.min(0).values.clone(), flat.max(0).values.clone()
        i, j = self.sys.plane
        lo[i], hi[i], lo[j], hi[j] = min(x0, lo[i]), max(x1, hi[i]), min(y0, lo[j]), max(y1, hi[j])
        self._box = (lo, hi)
        sp, field = self.sp, self.sys.field
        true_field = lambda x: field(0.0, x, sp)  # noqa: E731 (autonomous here)
        self.true_uv = self._plane_field(true_field)
        pts, kinds, _ = find_fixed_points(true_field, lo, hi, max_points=MAX_FIXED_POINTS)
        self._fp_true_full, self._fp_true_kinds_full = pts, kinds
        self.fp_true_count = int(pts.shape[0])
        self.fp_true, self.fp_true_kind = padded(self._on_plane(pts), kinds, MAX_FIXED_POINTS)

    # ---- interaction --------------------------------------------------------------------------
    def click(self, target: str, x: float, y: float) -> None:
        """Launch the true and the learned field from (x, y) of the phase plane for one horizon."""
        if target != "launch":
            super().click(target, x, y)
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"neural_ode: cannot launch a trajectory at ({x}, {y})")
        point = self._slice.clone()
        i, j = self.sys.plane
        point[i], point[j] = x, y
        t = torch.linspace(0.0, self.p["horizon"], self._probe_true.shape[1], dtype=torch.float64, device=self.device)
        row = self._probes % PROBES
        with torch.no_grad():
            true = self._true_solve(point[None], t)[:, 0]
            try:
                self.probe.begin()
                learned = self._solve(point[None].to(self.dtype), t.to(self.dtype))[:, 0].to(torch.float64)
            except AssertionError:
                learned = torch.full_like(true, math.nan)
        self._probe_true[row] = self._on_plane(true)
        self._probe_learned[row] = self._on_plane(learned)
        self._probes += 1

    # ---- display ------------------------------------------------------------------------------------
    def state(self):
        e = self._evaluation()
        i = self.i_horizon
        stride = max(1, len(self.t_eval) // VIEW_POINTS)
        a, b = self.sys.plane
        t = self.t_eval
        true1 = self.true_eval[0]
        nan = torch.full((1,), math.nan, dtype=torch.float64, device=self.device)
        t_learned = torch.cat([t[: i + 1: stride], nan, t[i::stride]])
        learned = [torch.cat([e["roll"][0, : i + 1: stride, k], nan, e["forecast"][0, ::stride, k]]) for k in (a, b)]
        lo, hi = float(true1[:, [a, b]].min()), float(true1[:, [a, b]].max())
        return {
            "t_true": t[::stride], "true_1": true1[::stride, a], "true_2": true1[::stride, b],
            "t_learned": t_learned, "learned_1": learned[0], "learned_2": learned[1],
            "horizon_t": torch.tensor([self.p["horizon"]] * 2, dtype=torch.float64),
            "horizon_y": torch.tensor([lo, hi], dtype=torch.float64),
            "grid_x": self.grid_x, "grid_y": self.grid_y,
            "true_u": self.true_uv[0], "true_v": self.true_uv[1],
            "learned_u": e["learned_uv"][0], "learned_v": e["learned_uv"][1],
            "traj_true": self._on_plane(self.true_eval[:, ::stride]),
            "traj_learned": self._on_plane(e["roll"][:, ::stride]),
            "probe_true": self._probe_true, "probe_learned": self._probe_learned,
            "fp_true": self.fp_true, "fp_true_kind": self.fp_true_kind,
            "fp_learned": e["fp_learned"], "fp_learned_kind": e["fp_learned_kind"],
        }

    def observables(self):
        e = self._evaluation()
        s = self._stats
        return {
            "iteration": self.steps,
            "loss": s["loss"],
            "loss_train": e["loss_train"],
            "loss_clean": e["loss_clean"],
            "loss_val": e["loss_val"],
            "forecast_error": e["forecast_error"],
            "rollout_error": e["rollout_error"],
            "nfe_forward": s["nfe_forward"],
            "nfe_forward_mean": float(np.mean(self._nfe_recent)) if self._nfe_recent else math.nan,
            "nfe_backward": s["nfe_backward"],
            "nfe_rollout": e["nfe_rollout"],
            "steps_accepted": s["steps_accepted"],
            "steps_rejected": s["steps_rejected"],
            "steps_accepted_backward": s["steps_accepted_backward"],
            "steps_rejected_backward": s["steps_rejected_backward"],
            "reg_error": s["reg_error"],
            "reg_stiffness": s["reg_stiffness"],
            "grad_norm": s["grad_norm"],
            "lr": self.p["lr"],
            "parameters": sum(q.numel() for q in self.field.parameters()),
            "fixed_points_true": self.fp_true_count,
            "fixed_points_learned": e["fixed_points_learned"],
            "fp_offset": e["fp_offset"],
            "fp_kinds_agree": e["fp_kinds_agree"],
        }

    def texts(self):
        return {"equations": f"target: {self.sys.title}\n{self.sys.equations}\n{self.equations}"}

    # ---- weights ------------------------------------------------------------------------------------
    def _config(self) -> dict:
        return {"format": WEIGHTS_FORMAT, "version": WEIGHTS_VERSION, "dim": self.sys.dim,
                **{k: self.p[k] for k in ARCHITECTURE}, "target": self.p["target"], "dtype": self.p["dtype"],
                "iteration": self.steps}

    def save_weights(self, path) -> Path:
        """Write the field's weights as safetensors, the configuration as JSON in its metadata.

        Atomic: a temporary file beside ``path``, then a rename. No pickle."""
        from safetensors.torch import save

        from attractor_lab.engine.files import atomic_write_bytes

        path = Path(path)
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.field.state_dict().items()}
        data = save(tensors, metadata={"attractor_lab": json.dumps(self._config())})
        try:
            atomic_write_bytes(path, data)
        except OSError as exc:
            raise ValueError(f"save_weights: cannot write {str(path)!r}: {exc.strerror or exc}") from None
        return path

    def load_weights(self, path) -> None:
        """Load weights written by :meth:`save_weights` into this model's field.

        The file must hold the same field type, sizes and tensors; a mismatch
        is refused with a ``ValueError`` naming it, and the model is left as it
        was. Values are cast to this model's dtype; the optimiser starts afresh."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        where = f"load_weights: {path}"
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                meta = f.metadata() or {}
                shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
                config = self._read_config(meta, where)
                self._compare(config, shapes, where)
                tensors = {k: f.get_tensor(k) for k in shapes}
        except (SafetensorError, OSError) as exc:
            raise ValueError(f"{where}: not a readable safetensors file ({exc})") from None
        declared = WEIGHTS_DTYPES[config["dtype"]]
        for k, t in tensors.items():
            if t.dtype != declared:
                raise ValueError(f"{where}: the file is invalid: {describe_tensor(k)} ({k}) is stored as "
                                 f"{str(t.dtype).removeprefix('torch.')}, its metadata says dtype "
                                 f"{config['dtype']!r}")
        with torch.no_grad():
            for k, v in self.field.state_dict().items():
                v.copy_(tensors[k].to(device=v.device, dtype=v.dtype))
        self.optimizer = torch.optim.Adam(self.field.parameters(), lr=self.p["lr"])
        self._eval = None  # the next frame shows the loaded field

    def _read_config(self, meta: dict, where: str) -> dict:
        try:
            config = json.loads(meta["attractor_lab"])
        except (KeyError, ValueError, TypeError):
            raise ValueError(f"{where}: no neural_ode configuration in the file's metadata "
                             f"(was it written by save_weights?)") from None
        if not isinstance(config, dict):
            raise ValueError(f"{where}: not a neural_ode weights file (its metadata is not a JSON object)")
        if config.get("format") != WEIGHTS_FORMAT:
            raise ValueError(f"{where}: not a neural_ode weights file (format {config.get('format')!r})")
        if config.get("version") != WEIGHTS_VERSION:
            raise ValueError(f"{where}: weights format version {config.get('version')!r}; "
                             f"this program reads version {WEIGHTS_VERSION}")
        # A value no model can have makes the file invalid: say so, rather than a mismatch
        # whose "fix" would be to set that impossible value.
        for key in ("dim", *ARCHITECTURE, "target", "dtype"):
            value = config.get(key)
            if key == "dim":
                ok, allowed = type(value) is int and 1 <= value <= 64, "an integer in [1, 64]"
            elif key == "dtype":
                ok = isinstance(value, str) and value in WEIGHTS_DTYPES
                allowed = "one of " + ", ".join(map(repr, WEIGHTS_DTYPES))
            else:
                param = self.schema[key]
                allowed = param.allowed()
                try:
                    param.validate(value)
                    ok = True
                except ValueError:
                    ok = False
            if key not in config:
                raise ValueError(f"{where}: the file is invalid: its metadata has no {key!r} (expected {allowed})")
            if not ok:
                raise ValueError(f"{where}: the file is invalid: its metadata's {key!r} is {value!r}; "
                                 f"allowed: {allowed}")
        return config

    def _compare(self, config: dict, shapes: dict, where: str) -> None:
        mine = self._config()
        for key in ("dim", *ARCHITECTURE):
            if config.get(key) != mine[key]:
                what = "state dimension" if key == "dim" else f"parameter {key!r}"
                raise ValueError(f"{where}: {what}: file has {config.get(key)!r}, this model has {mine[key]!r}"
                                 + ("" if key == "dim" else f" (set {key}={config.get(key)!r} and reset first)"))
        expected = {k: tuple(v.shape) for k, v in self.field.state_dict().items()}
        for k in sorted(set(expected) | set(shapes)):
            if k not in shapes:
                raise ValueError(f"{where}: {describe_tensor(k)} ({k}) is missing from the file")
            if k not in expected:
                raise ValueError(f"{where}: the file has a tensor {k!r} this model does not")
            if shapes[k] != expected[k]:
                raise ValueError(f"{where}: {describe_tensor(k)}: file has {shapes[k]}, this model has {expected[k]}")
