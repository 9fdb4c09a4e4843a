"""Classical continuous-time systems, integrated live by torchdiffeq, with the
solver's own work on show.

One engine step advances simulated time by ``dt``; inside it the solver takes
its own adaptive steps (or fixed steps of ``fixed_step`` for rk4/euler). A
batch of trajectories advances as one tensor. What the solver does is
reported as it happens: function evaluations, accepted and rejected steps,
the step size over time and its histogram. Beside it the dynamics: periods
from a Poincaré section, conserved quantities, the largest Lyapunov exponent
(Benettin's method on a tangent vector carried through the same solver) and
the fixed points with their stability. Clicking the phase portrait launches a
trajectory from the point clicked.

What the views show follows the system: the period only for a periodic orbit
(the Poincaré return map's test, :meth:`LiveSolver.periodic`; a chaotic or
still converging orbit reports NaN and the "orbit" text says why); the
invariant's drift where the Lyapunov exponent would be for a conservative
system; the pendulum's angle wrapped to (−π, π] (tails broken at the wrap)
with its separatrix; the stiff Van der Pol cycle (μ ≥ :data:`LIENARD_MU`) in
Liénard's plane (x, w = x − x³/3 − y/μ), where the relaxation cycle is the
cubic's two branches joined by horizontal jumps instead of a flat line on an
axis of ±1.5 μ; the 3D view only for 3D systems.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import torch

from attractor_lab.engine.models import register
from attractor_lab.engine.models.base import Model, SimulationDiverged
from attractor_lab.engine.contours import portrait_nullclines
from attractor_lab.engine.models.neural_ode._phase import field_grid, fixed_points
from attractor_lab.engine.models.neural_ode._solver import CROSSINGS_KEPT, METHODS, PERIOD_RTOL, LiveSolver, SolverFailed
from attractor_lab.engine.models.neural_ode._systems import SYSTEMS, system_params, system_values
from attractor_lab.engine.params import Param

#: most trajectories at once (clicks beyond this replace the oldest launched one)
MAX_TRAJECTORIES = 64
TAIL = 2000
GRID = 21
#: from this μ the Van der Pol portrait is drawn in Liénard's plane (x, x − x³/3 − y/μ)
LIENARD_MU = 10.0
#: the Liénard plane's window: the cycle spans x ∈ [−2, 2], w ∈ [−2/3, 2/3]
LIENARD_WINDOW = (-2.5, 2.5, -1.0, 1.0)
#: crossings without a return before an orbit is called aperiodic
APERIODIC_AFTER = 5
#: systems whose state is 3D (the 3D view is shown only for them)
SYSTEMS_3D = tuple(s.name for s in SYSTEMS.values() if s.dim == 3)
PHASE_LEGEND = {"fields": [{"x": "pp_x", "y": "pp_y", "u": "pp_u", "v": "pp_v", "name": "vector field"}],
                "nullclines": [{"array": "nc_x", "name": "x-nullcline", "name_text": "nc_x_name"},
                               {"array": "nc_y", "name": "y-nullcline", "name_text": "nc_y_name"}],
                "fixed_points": [{"array": "fp", "kinds": "fp_kind", "name": "fixed points"}],
                "click": "launch", "role": "primary"}


@register
class OdeSystem(Model):
    name = "ode_system"
    title = "ODE system and its solver"
    description = (
        "A classical dynamical system integrated live by an adaptive solver (torchdiffeq): trajectories in the "
        "phase plane with the vector field and fixed points, and the solver's own work — evaluations, accepted "
        "and rejected steps, step sizes. Click the phase portrait to launch a trajectory."
    )
    equations = SYSTEMS["van_der_pol"].equations
    params = (
        Param("system", "choice", "van_der_pol", choices=tuple(SYSTEMS), live=False,
              help="van_der_pol, lotka_volterra, duffing, lorenz, pendulum, or the cubic spiral of the neural-ODE demo"),
        *system_params("system"),
        Param("solver", "choice", "dopri5", choices=METHODS,
              help="dopri5/dopri8 (Dormand–Prince 5(4), 8(5,3)), bosh3 (3(2)), adaptive_heun (2(1)): adaptive; "
                   "rk4 (3/8 rule), euler: fixed steps of 'fixed_step'"),
        Param("rtol", "float", 1e-6, 1e-13, 0.1, help="relative tolerance of the adaptive solvers", log=True),
        Param("atol", "float", 1e-8, 1e-15, 0.1, help="absolute tolerance of the adaptive solvers", log=True),
        Param("fixed_step", "float", 0.01, 1e-5, 1.0, unit="time", help="step of rk4 and euler (shortened to divide dt)", log=True),
        Param("dt", "float", 0.05, 1e-4, 10.0, unit="time", help="simulated time per engine step (the solver takes its own steps inside)", log=True),
        Param("trajectories", "int", 4, 1, MAX_TRAJECTORIES, live=False,
              help="trajectories integrated together as one batch (the first from the system's usual start)"),
        Param("dtype", "choice", "float64", choices=("float64", "float32"), live=False, help="precision of the state"),
        Param("lyapunov", "bool", True,
              help="carry a tangent vector for the largest Lyapunov exponent (inside the error control; "
                   "off shows the solver's statistics for the system alone)"),
    )
    views = (
        {"kind": "phase", "title": "Phase portrait (click to launch a trajectory)",
         "xlabel": "x  (θ wrapped to (−π, π], prey)", "ylabel": "y  (v, ω, predator; z for Lorenz)",
         "xlabel_text": "phase_x", "ylabel_text": "phase_y",  # the system's own variable names
         **PHASE_LEGEND,
         "trajectories": [{"array": "tails", "name": "trajectories"},
                          {"array": "separatrix", "name": "separatrix", "style": "dash", "color": "#c0c0c0"}],
         "shown_when": [["lienard", [0]]]},
        {"kind": "phase", "title": "Phase portrait in Liénard's plane (click to launch a trajectory)",
         "xlabel": "x", "ylabel": "w = x − x³/3 − y/μ  (Liénard)",
         **PHASE_LEGEND,
         # the slow manifold w = x − x³/3 is the x-nullcline here, drawn (and named) as such
         "trajectories": [{"array": "tails", "name": "trajectories"}],
         "shown_when": [["lienard", [1]]]},
        {"kind": "timeseries", "observables": ["x", "y", "z"], "title": "Trajectory 1 against time", "role": "secondary"},
        {"kind": "lines", "title": "Step size against time", "xlabel": "time", "ylabel": "accepted step h",
         "logy": True, "series": [{"x": "step_t", "y": "step_h", "name": "accepted steps", "symbol": "o"}],
         "role": "secondary"},
        {"kind": "lines", "title": "Step-size histogram (recent steps)", "xlabel": "step h", "ylabel": "steps",
         "logx": True, "series": [{"x": "hist_edges", "y": "hist_counts", "name": "steps", "step": True}],
         "role": "secondary"},
        {"kind": "timeseries", "observables": ["nfe_rate"], "title": "Function evaluations per unit time",
         "role": "secondary"},
        {"kind": "values", "title": "Solver and dynamics", "role": "info",
         "observables": ["nfe", "accepted", "rejected", "step_size", "nfe_total", "rejected_fraction", "step_range",
                         "period", "turn_time", "lyapunov", "invariant", "invariant_drift", "energy", "trajectories"]},
        {"kind": "timeseries", "observables": ["lyapunov"], "title": "Largest Lyapunov exponent (running)",
         "role": "secondary", "shown_when": [["lyapunov", [True]]],
         "empty_note": "No value yet: the run has only just started (the exponent follows a tangent vector "
                       "beside trajectory 1, Benettin's method)."},
        {"kind": "timeseries", "observables": ["invariant_drift"], "role": "secondary",
         "title": "Drift of the conserved quantity: max |V − V(0)| over the trajectories",
         "shown_when": [["conservative", [1]]]},
        {"kind": "trajectory3d", "array": "traj3d", "title": "Trajectories in 3D", "role": "primary",
         "shown_when": [["system", list(SYSTEMS_3D)]]},
        {"kind": "text", "array": "orbit", "title": "Orbit of trajectory 1", "role": "info"},
        {"kind": "text", "array": "equations", "role": "info"},
    )
    steps_per_frame = 1
    #: a recording keeps the states (B, d) and fixed points, not the display's trails and grids
    record_fields = ("x_now", "fp", "fp_kind")
    state_fields = {"x_now": "x"}  # a frame's x_now restores the batch through set_state(x=...)

    @classmethod
    def estimate_bytes(cls, p) -> int:
        """Peak memory of a reset and its first steps (engine budget): the solver, the
        vector-field grid, the nullclines' 161² sampling and contouring, and fixed points
        (20 MiB) and the trails, some 0.22 MiB per trajectory (measured 17–18 MiB for 4 with
        the nullclines, 15 MiB before them)."""
        return (20 << 20) + p["trajectories"] * (228 << 10)

    # ---- lifecycle ------------------------------------------------------------
    def _system(self):
        """The system and its parameter values (a subclass gives its own: ``custom_ode``)."""
        return SYSTEMS[self.p["system"]], system_values(self.p)

    def _system_values(self, changed: dict) -> dict:
        """The system's parameter values among ``changed`` (plain floats)."""
        return system_values(changed)

    def _reset(self) -> None:
        self.sys, self.sp = self._system()
        self.dtype = torch.float64 if self.p["dtype"] == "float64" else torch.float32
        d, b = self.sys.dim, self.p["trajectories"]
        x0 = torch.empty((b, d), dtype=torch.float64)
        x0[0] = torch.tensor(self.sys.start(self.sp), dtype=torch.float64)
        if b > 1:
            x0[1:] = self._random_starts(b - 1)
        self._t = 0.0
        self._nfe_done = 0
        self._accepted_done = 0
        self._rejected_done = 0
        self._nfe_history: deque = deque(maxlen=400)
        self._cache_key = None
        self._inv0 = None
        self.solver = None
        self._start_solver(x0.to(self.device, self.dtype))

    def _random_starts(self, count: int) -> torch.Tensor:
        """Starts spread over the phase window (other components around the usual start)."""
        x0, x1, y0, y1 = self.sys.window(self.sp)
        i, j = self.sys.plane
        u = torch.rand((count, 2), generator=self.generator, device=self.device, dtype=torch.float64).cpu()
        start = torch.tensor(self.sys.start(self.sp), dtype=torch.float64)
        out = start.repeat(count, 1)
        # keep clear of the window's edges (Lotka–Volterra's axes are invariant lines)
        out[:, i] = x0 + (0.1 + 0.8 * u[:, 0]) * (x1 - x0)
        out[:, j] = y0 + (0.1 + 0.8 * u[:, 1]) * (y1 - y0)
        others = [k for k in range(self.sys.dim) if k not in (i, j)]
        for k in others:
            noise = torch.randn(count, generator=self.generator, device=self.device, dtype=torch.float64).cpu()
            out[:, k] = start[k] + 0.5 * (x1 - x0) * 0.2 * noise
        return out

    def _start_solver(self, x0: torch.Tensor, old: LiveSolver | None = None, rows=None) -> None:
        """A new solve from ``x0`` at the current time; ``old``'s histories carry over for ``rows``."""
        if old is not None:
            self._nfe_done += old.func.nfe
            self._accepted_done += old.func.accepted
            self._rejected_done += old.func.rejected
        tangent = None
        if self.p["lyapunov"]:
            tangent = torch.randn(x0.shape, generator=self.generator, device=self.device, dtype=torch.float64)
            tangent = (tangent / tangent.norm(dim=-1, keepdim=True)).to(x0.dtype)
            if old is not None and old.tangent is not None:
                tangent[: len(rows)] = old.tangent[rows]
        sp = self.sp
        self.solver = LiveSolver(
            lambda t, x: self.sys.field(t, x, sp), x0, self._t, self.p["solver"],
            rtol=self.p["rtol"], atol=self.p["atol"], fixed_step=self.p["fixed_step"], tangent=tangent,
            jacobian=lambda t, x: self.sys.jacobian(t, x, sp), section=lambda x: self.sys.section(x, sp),
            sample_dt=self.p["dt"] / 4.0, tail=TAIL,
        )
        if old is not None:
            self.solver.carry_over(old, rows)
        if self._inv0 is None or old is None:
            self._inv0 = self._invariant(x0)
        else:
            self._inv0 = torch.cat([self._inv0[rows], self._invariant(x0[len(rows):])])

    def _restart(self, extra: torch.Tensor | None = None, drop: int | None = None) -> None:
        old = self.solver
        rows = [r for r in range(old.batch) if r != drop]
        x = old.state[rows]
        if extra is not None:
            x = torch.cat([x, extra.to(x.dtype)])
        self._start_solver(x, old, rows)

    def _step(self, n: int) -> None:
        for _ in range(n):
            target = self._t + self.p["dt"]
            try:
                self.solver.advance(target)
            except SolverFailed as exc:
                self._restart()  # from the last good state
                raise SimulationDiverged(
                    f"{self.name}: {exc} at t = {self._t:.6g} with solver {self.p['solver']}, "
                    f"rtol {self.p['rtol']:g}; try a tighter rtol, a smaller fixed_step, or other parameters"
                ) from None
            self._t = target
            self._nfe_history.append((self._t, self._nfe_done + self.solver.func.nfe))

    def _on_live_change(self, changed) -> None:
        values = self._system_values(changed)
        if values:
            self.sp.update(values)
            self.solver.restart_lyapunov()  # a new regime: start the average again
            self._cache_key = None
            if self.sys.invariant is not None:
                self._inv0 = self._invariant(self.solver.state)
        if "solver" in changed or "lyapunov" in changed or "fixed_step" in changed:
            self._restart()
        if "rtol" in changed or "atol" in changed:
            self.solver.set_tolerances(self.p["rtol"], self.p["atol"])
        if "dt" in changed:
            self.solver.sample_dt = self.p["dt"] / 4.0

    # ---- interaction -------------------------------------------------------------
    def click(self, target: str, x: float, y: float) -> None:
        """Launch a trajectory at (x, y) of the phase plane (other components from trajectory 1)."""
        if target != "launch":
            super().click(target, x, y)
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"ode_system: cannot launch a trajectory at ({x}, {y})")
        if self._lienard():
            y = self.sp["mu"] * (x - x ** 3 / 3.0 - y)  # the clicked w back to y = dx/dt
        point = self.solver.state[0].detach().clone().to(torch.float64)
        i, j = self.sys.plane
        point[i], point[j] = x, y
        if self.p.get("system") == "lotka_volterra" and (x <= 0 or y <= 0):
            raise ValueError("ode_system: Lotka–Volterra populations must be positive; click inside the quadrant")
        drop = 1 if self.solver.batch >= MAX_TRAJECTORIES else None
        self._restart(point[None].to(self.device), drop)

    def set_state(self, x) -> None:
        """Replace the trajectories by the states ``x`` (B, d): the scripting API's way to start anywhere."""
        arr = torch.as_tensor(np.asarray(x, dtype=np.float64))
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != self.sys.dim or not 1 <= arr.shape[0] <= MAX_TRAJECTORIES:
            raise ValueError(f"ode_system: set_state needs an array (B, {self.sys.dim}) with 1 <= B <= "
                             f"{MAX_TRAJECTORIES}, not shape {tuple(arr.shape)}")
        if not bool(torch.isfinite(arr).all()):
            raise ValueError("ode_system: set_state needs finite values")
        self._nfe_done = self._accepted_done = self._rejected_done = 0
        self._inv0 = None
        self._start_solver(arr.to(self.device, self.dtype))

    def _on_state_set(self) -> None:
        """After a restore that set the simulated time: the solve continues from that time
        (a forced system's field depends on it)."""
        if self._t != self.time:
            self._t = float(self.time)
            self._start_solver(self.solver.state.detach().clone())

    # ---- measurements ------------------------------------------------------------
    def _invariant(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.sys.invariant is None:
            return None
        return self.sys.invariant(x.to(torch.float64), self.sp)

    def _phase_cache(self) -> dict:
        """Vector-field grid and fixed points: recomputed when the parameters change
        (every frame for a forced, time-dependent field)."""
        forced = not self.sys.autonomous(self.sp)
        key = (tuple(sorted(self.sp.items())), self._t if forced else None)
        if key == self._cache_key:
            return self._cache
        sp, sys = self.sp, self.sys
        i, j = sys.plane
        window = sys.window(sp)
        t = torch.tensor(self._t, dtype=torch.float64)
        plane_field, grid_window = self._plane_field(t)
        if plane_field is not None:
            xs, ys, u, v = field_grid(plane_field, grid_window, GRID)
        else:  # a 3D field has no honest picture in a plane: no arrows
            xs = ys = torch.zeros(0)
            u = v = torch.zeros((0, 0))
        if plane_field is not None and not forced:  # a forced field's nullclines move every instant: none
            nc_x, nc_y = portrait_nullclines(plane_field, grid_window)
        else:
            nc_x = nc_y = np.zeros((0, 2))
        cache = {"pp_x": xs, "pp_y": ys, "pp_u": u, "pp_v": v, "nc_x": nc_x, "nc_y": nc_y}
        if forced:
            pts, kinds = torch.zeros((0, 2)), torch.zeros(0, dtype=torch.int64)
        else:
            lo, hi = self._box(window)
            full, _, kinds = fixed_points(lambda x: sys.field(t, x, sp), lambda x: sys.jacobian(t, x, sp), lo, hi,
                                          starts_per_axis=9 if sys.dim == 2 else 5)
            pts = full[:, [i, j]] if full.shape[0] else torch.zeros((0, 2))
            if sys.name == "pendulum" and pts.shape[0]:  # one turn: θ = 0 and the saddles at ±π
                keep = pts[:, 0].abs() <= math.pi * (1 + 1e-9)
                pts, kinds = pts[keep], kinds[keep]
            if self._lienard() and pts.shape[0]:
                pts = torch.stack([pts[:, 0], pts[:, 0] - pts[:, 0] ** 3 / 3.0 - pts[:, 1] / sp["mu"]], dim=-1)
            self._fixed_full = full
        cache.update(fp=pts, fp_kind=kinds)
        self._cache, self._cache_key = cache, key
        return cache

    def _plane_field(self, t):
        """(plane_field, window): the field on the portrait's plane (points (M, 2) → velocities (M, 2))
        and the window its arrows and nullclines span; (None, None) for a system of more than two
        variables (no slice declared: its plane shows a projection, where nullclines mean nothing)."""
        sp, sys = self.sp, self.sys
        if self._lienard():
            mu = sp["mu"]
            return (lambda pts: torch.stack([mu * (pts[:, 0] - pts[:, 0] ** 3 / 3.0 - pts[:, 1]), pts[:, 0] / mu],
                                            dim=-1)), LIENARD_WINDOW
        if sys.dim != 2:
            return None, None
        i, j = sys.plane
        window = sys.window(sp)
        if sys.name == "pendulum":  # the grid spans one turn, θ ∈ [−π, π]
            window = (-math.pi, math.pi, window[2], window[3])

        def plane_field(pts):
            # a permutation of two: the state is pts[:, [i, j]] and its velocity's plane part the same
            return sys.field(t, pts[:, [i, j]], sp)[:, [i, j]]
        return plane_field, window

    def _box(self, window):
        """The box Newton's starts fill: the window in the plane, the other components around the start."""
        x0, x1, y0, y1 = window
        lo = [0.0] * self.sys.dim
        hi = [0.0] * self.sys.dim
        i, j = self.sys.plane
        lo[i], hi[i], lo[j], hi[j] = x0, x1, y0, y1
        for k in range(self.sys.dim):
            if k not in (i, j):
                lo[k], hi[k] = x0, x1
        return lo, hi

    def fixed_points(self):
        """Fixed points (K, d), their Jacobian eigenvalues (K, d) and stability codes (K,) as numpy arrays."""
        sys, sp = self.sys, self.sp
        t = torch.tensor(self._t, dtype=torch.float64)
        if not sys.autonomous(sp):
            return np.zeros((0, sys.dim)), np.zeros((0, sys.dim), complex), np.zeros(0, int)
        pts, eig, kinds = fixed_points(lambda x: sys.field(t, x, sp), lambda x: sys.jacobian(t, x, sp),
                                       *self._box(sys.window(sp)), starts_per_axis=9 if sys.dim == 2 else 5)
        return pts.numpy(), eig.numpy(), kinds.numpy()

    def _lienard(self) -> bool:
        """Whether the portrait is drawn in Liénard's plane (a stiff Van der Pol oscillator)."""
        return self.sys.name == "van_der_pol" and self.sp["mu"] >= LIENARD_MU

    def _plane_tails(self, tails: torch.Tensor) -> np.ndarray:
        """(B, T', 2) what the phase portrait draws of the tails (B, T, d): the plane's two
        components; the pendulum's θ wrapped to (−π, π] with a NaN where it wraps (so a rotation
        leaves one edge and comes back at the other instead of a line across the view); the
        stiff Van der Pol oscillator's in Liénard's plane."""
        i, j = self.sys.plane
        plane = tails[..., [i, j]].numpy().copy()
        if self._lienard():
            x = plane[..., 0]
            plane[..., 1] = x - x ** 3 / 3.0 - plane[..., 1] / self.sp["mu"]
        if self.sys.name == "pendulum":
            plane[..., 0] = wrap_angle(plane[..., 0])
            plane = break_at_wraps(plane)
        return plane

    def separatrix(self, points: int = 201) -> np.ndarray:
        """(2, points, 2): the undamped pendulum's separatrix E = g/L through the saddles at ±π,
        ω = ±2 √(g/L) cos(θ/2) for θ ∈ [−π, π]; NaN for another system or with damping (then
        no orbit follows it)."""
        if self.sys.name != "pendulum" or not self.sys.conserved(self.sp):
            return np.full((2, 1, 2), np.nan)
        theta = np.linspace(-math.pi, math.pi, points)
        omega = 2.0 * math.sqrt(self.sp["gravity"]) * np.cos(theta / 2.0)
        return np.stack([np.stack([theta, omega], -1), np.stack([theta, -omega], -1)])

    def slow_manifold(self, points: int = 201) -> np.ndarray:
        """(points, 2): the cubic w = x − x³/3 of Liénard's plane, along whose outer branches the
        relaxation cycle drifts (NaN outside Liénard's plane)."""
        if not self._lienard():
            return np.full((1, 2), np.nan)
        x = np.linspace(LIENARD_WINDOW[0], LIENARD_WINDOW[1], points)
        return np.stack([x, x - x ** 3 / 3.0], -1)

    def state(self):
        s = self.solver
        tails = s.tails().to(torch.float64)
        if self.sys.dim == 3:
            traj3d = tails
        else:
            traj3d = torch.cat([tails, torch.zeros_like(tails[..., :1])], dim=-1)
        steps = np.array(s.steps, dtype=np.float64).reshape(-1, 2)
        edges, counts = _log_histogram(steps[:, 1])
        return {
            **self._phase_cache(),
            "tails": self._plane_tails(tails.cpu()),
            "separatrix": self.separatrix(),
            "slow_manifold": self.slow_manifold(),
            "traj3d": traj3d,
            "step_t": steps[:, 0],
            "step_h": steps[:, 1],
            "hist_edges": edges,
            "hist_counts": counts,
            "x_now": s.state.to(torch.float64),
        }

    def texts(self):
        return {"equations": f"{self.sys.title}\n{self.sys.equations}", "orbit": self._orbit_text(),
                **self._plane_names()}

    def _plane_names(self) -> dict:
        """The phase portrait's axis names (texts ``phase_x``, ``phase_y``): the plane's variables."""
        if self._lienard():
            return {"phase_x": "x", "phase_y": "w = x − x³/3 − y/μ  (Liénard)",
                    "nc_x_name": "x-nullcline w = x − x³/3 (slow manifold)", "nc_y_name": "w-nullcline x = 0"}
        i, j = self.sys.plane
        x, y = self.sys.labels[i], self.sys.labels[j]
        names = {"nc_x_name": nullcline_name(x), "nc_y_name": nullcline_name(y)}
        if self.sys.name == "pendulum":
            x = f"{x}  (wrapped to (−π, π])"
        return {"phase_x": x, "phase_y": y, **names}

    def _drive_period(self) -> float | None:
        """The forcing's period for a forced system (a periodic orbit must return in phase with it)."""
        if self.sys.autonomous(self.sp):
            return None
        return 2.0 * math.pi / self.sp["frequency"]

    def _period(self) -> float:
        angles = (0,) if self.sys.name == "pendulum" else ()
        return self.solver.periodic(0, drive_period=self._drive_period(), angles=angles)

    def _orbit_text(self) -> str:
        s = self.solver
        n = int(s.crossings[0])
        period = self._period()
        if math.isfinite(period):
            return (f"periodic: period T = {period:.6g} (trajectory 1 returns to its Poincaré-section point "
                    f"within {PERIOD_RTOL:g} of the orbit's size)")
        if n >= APERIODIC_AFTER:
            return (f"aperiodic: over the last {min(n, CROSSINGS_KEPT)} section crossings trajectory 1 never "
                    f"returned to an earlier crossing point (chaotic, quasi-periodic, or still converging); "
                    f"latest turn {float(s.period[0]):.4g}")
        return f"no period yet: {n} section crossing(s) so far"

    def observables(self):
        s = self.solver
        x = s.state[0].to(torch.float64)
        nfe_total = self._nfe_done + s.func.nfe
        rate = float("nan")
        if len(self._nfe_history) >= 2:
            (t0, n0), (t1, n1) = self._nfe_history[0], self._nfe_history[-1]
            rate = (n1 - n0) / (t1 - t0) if t1 > t0 else float("nan")
        inv = self._invariant(s.state) if self.sys.conserved(self.sp) else None
        accepted, rejected = self._accepted_done + s.func.accepted, self._rejected_done + s.func.rejected
        period = self._period()
        energy = float("nan")
        if self.sys.invariant is not None and self.p.get("system") in ("pendulum", "duffing"):
            energy = float(self.sys.invariant(x, self.sp))
        return {
            "nfe": float(s.func.nfe),
            "accepted": float(s.func.accepted),
            "rejected": float(s.func.rejected),
            "step_size": float(s.func.last_step),
            "nfe_total": float(nfe_total),
            "accepted_total": float(accepted),
            "rejected_total": float(rejected),
            "rejected_fraction": rejected / (accepted + rejected) if accepted + rejected else float("nan"),
            "nfe_rate": rate,
            "period": period,
            "turn_time": float(s.period[0]),
            "aperiodic": float(not math.isfinite(period) and int(s.crossings[0]) >= APERIODIC_AFTER),
            "conservative": float(self.sys.conserved(self.sp)),
            "lienard": float(self._lienard()),
            "step_range": self._step_range(),
            "invariant": float(inv[0]) if inv is not None else float("nan"),
            "invariant_drift": float((inv - self._inv0).abs().max()) if inv is not None else float("nan"),
            "invariant_min": float(inv.min()) if inv is not None else float("nan"),
            "invariant_max": float(inv.max()) if inv is not None else float("nan"),
            "radius_max": float(s.state.to(torch.float64).norm(dim=-1).max()),
            "energy": energy,
            "lyapunov": float(s.lyapunov()[0]),
            "x": float(x[0]),
            "y": float(x[1]),
            "z": float(x[2]) if self.sys.dim > 2 else float("nan"),
            "trajectories": float(s.batch),
        }

    def _step_range(self) -> float:
        """log10(largest / smallest accepted step) over trajectory 1's last turn (between its
        last two section crossings): how far the step falls within one cycle. NaN before a
        period is measured, or when the steps of that period are no longer all in the history."""
        s = self.solver
        period, end = float(s.period[0]), float(s.last_crossing[0])
        if not (math.isfinite(period) and period > 0) or not s.steps:
            return float("nan")
        steps = np.array(s.steps, dtype=np.float64)
        if steps[0, 0] - steps[0, 1] > end - period:
            return float("nan")
        h = steps[(steps[:, 0] > end - period) & (steps[:, 0] <= end), 1]
        return float(np.log10(h.max() / h.min())) if h.size and h.min() > 0 else float("nan")


def nullcline_name(variable: str) -> str:
    """A nullcline's name in the key: 'x-nullcline (dx/dt = 0)' (the rate only for short names)."""
    return f"{variable}-nullcline (d{variable}/dt = 0)" if len(variable) <= 3 else f"{variable}-nullcline"


def wrap_angle(theta: np.ndarray) -> np.ndarray:
    """Angles wrapped to (−π, π]."""
    return math.pi - np.mod(math.pi - theta, 2.0 * math.pi)


def break_at_wraps(plane: np.ndarray) -> np.ndarray:
    """(B, T', 2) the wrapped paths (B, T, 2) with a NaN row inserted wherever the angle jumps by
    more than π between samples (a wrap), rows NaN-padded at the start to one length."""
    rows = []
    for path in plane:
        jumps = np.nonzero(np.abs(np.diff(path[:, 0])) > math.pi)[0] + 1
        rows.append(np.insert(path, jumps, np.nan, axis=0) if jumps.size else path)
    length = max(r.shape[0] for r in rows)
    out = np.full((len(rows), length, 2), np.nan)
    for k, r in enumerate(rows):
        out[k, length - r.shape[0]:] = r
    return out


def _log_histogram(h: np.ndarray, bins: int = 30):
    """Counts of step sizes in log-spaced bins; edges (bins + 1,) and counts (bins,)."""
    h = h[np.isfinite(h) & (h > 0)]
    if h.size == 0:
        return np.array([1e-3, 1e-2]), np.zeros(1)
    lo, hi = h.min(), h.max()
    if hi <= lo * 1.0001:
        lo, hi = lo / 1.25, hi * 1.25
    edges = np.geomspace(lo, hi, bins + 1)
    counts, _ = np.histogram(h, edges)
    return edges, counts.astype(np.float64)
