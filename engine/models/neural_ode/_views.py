"""The neural ODE's views: the phase portrait (true and learned), the state, observables and texts.

A mixin of :class:`~engine.models.neural_ode.neural_ode.NeuralODE`; the evaluation it shows comes
from :mod:`engine.models.neural_ode._training`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attractor_lab.engine.contours import portrait_nullclines
from attractor_lab.engine.models.neural_ode._fixed_points import find_fixed_points, padded
from attractor_lab.engine.models.neural_ode._training import MAX_FIXED_POINTS

#: points per trajectory in the views (the evaluation grid is subsampled to this)
VIEW_POINTS = 600
GRID = 21
#: grid points per axis of the learned field's nullclines (recontoured at each evaluation)
NULLCLINE_GRID = 81
PROBES = 4
#: phase-portrait colours: the true system's trajectories (solid) and the learned field's (dashed)
TRUE_COLOR, LEARNED_COLOR = "#4cc9f0", "#f72585"


class ViewsMixin:
    """What the window shows: ``state``, ``observables``, ``texts``, and ``click`` on the portrait."""

    # ---- phase portrait helpers ---------------------------------------------------------------
    def _nullclines(self, field) -> tuple[np.ndarray, np.ndarray]:
        """The x- and y-nullclines of ``field`` over the portrait (a planar system only: for more
        variables the portrait is a slice, whose nullclines are not those of the system)."""
        if self.sys.dim != 2:
            return np.zeros((0, 2)), np.zeros((0, 2))
        i, j = self.sys.plane
        window = (float(self.grid_x[0]), float(self.grid_x[-1]), float(self.grid_y[0]), float(self.grid_y[-1]))
        return portrait_nullclines(lambda pts: field(pts[:, [i, j]].to(self.device))[:, [i, j]].cpu(), window,
                                   NULLCLINE_GRID)

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
            "nc_x": e["nc_x"], "nc_y": e["nc_y"],
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
