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

Layout: this module declares the model (parameters, checks, reset, the network);
its parts are mixins beside it: ``_data`` (the trajectories trained on),
``_training`` (solves, the optimiser step, the evaluation), ``_views`` (state,
observables, the phase portrait) and ``_weights`` (safetensors files).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import replace

import torch

from attractor_lab.engine.models import register
from attractor_lab.engine.models.base import Model
from attractor_lab.engine.models.neural_ode._data import MAX_STEPS, DataMixin
from attractor_lab.engine.models.neural_ode._fields import ACTIVATIONS, ADAPTIVE_SOLVERS, FIELDS, INPUTS, SolverProbe
from attractor_lab.engine.models.neural_ode._systems import SYSTEMS, system_params, system_values
from attractor_lab.engine.models.neural_ode._training import MAX_FIXED_POINTS, TrainingMixin
from attractor_lab.engine.models.neural_ode._views import GRID, LEARNED_COLOR, PROBES, TRUE_COLOR, VIEW_POINTS, ViewsMixin
from attractor_lab.engine.models.neural_ode._weights import (
    ARCHITECTURE,
    WEIGHTS_DTYPES,
    WEIGHTS_FORMAT,
    WEIGHTS_VERSION,
    WeightsMixin,
)
from attractor_lab.engine.params import Param

#: the names that lived here before the model was split (scripts and tests may read them)
__all__ = ["NeuralODE", "MAX_STEPS", "MAX_FIXED_POINTS", "VIEW_POINTS", "GRID", "PROBES", "TRUE_COLOR",
           "LEARNED_COLOR", "WEIGHTS_FORMAT", "WEIGHTS_VERSION", "ARCHITECTURE", "WEIGHTS_DTYPES",
           "NFE_MEAN_ITERATIONS"]

#: training iterations averaged in ``nfe_forward_mean``
NFE_MEAN_ITERATIONS = 100


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
class NeuralODE(DataMixin, TrainingMixin, ViewsMixin, WeightsMixin, Model):
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
         "nullclines": [{"array": "nc_x", "name": "learned x₁-nullcline"},
                        {"array": "nc_y", "name": "learned x₂-nullcline"}],
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
