"""The neural ODE's training loop: the learned field's solves, one optimiser step, and the evaluation.

A mixin of :class:`~engine.models.neural_ode.neural_ode.NeuralODE`: ``_step`` (one Adam step
per engine step), ``_batch_loss`` (with the optional solver regularisers), ``_evaluate`` (the
losses, rollout, forecast and fixed points that cost a solve over the whole span).
"""

from __future__ import annotations

import math
import time

import torch
from torchdiffeq import odeint, odeint_adjoint

from attractor_lab.engine.models.base import SimulationDiverged
from attractor_lab.engine.models.neural_ode._data import MAX_STEPS
from attractor_lab.engine.models.neural_ode._fixed_points import find_fixed_points, padded

#: rows of the fixed-point arrays (NaN-padded: fixed shapes record cleanly)
MAX_FIXED_POINTS = 16


class TrainingMixin:
    """Solving the learned field, training it, evaluating it."""

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
        learned = lambda x: self.field(x.to(self.dtype)).to(torch.float64)  # noqa: E731
        out["learned_uv"] = self._plane_field(learned)
        out["nc_x"], out["nc_y"] = self._nullclines(learned)
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
