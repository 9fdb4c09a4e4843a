"""Barkley's model (1991) of an excitable medium: fast, sharp spiral waves.

    ∂u/∂t = Du ∇²u + u (1 − u) (u − (v + b)/a) / ε
    ∂v/∂t = Dv ∇²v + u − v

Small ε makes fronts sharp and the reaction stiff: explicit schemes need
dt of order ε.

Spiral tips. A tip is where the u = 1/2 isoline crosses the v = a/2 − b
isoline: the point of the u = 1/2 contour that lies on the middle branch of
the u-nullcline f(u, v) = 0, u = (v + b)/a, where the wave's front meets its
back: u_c = 1/2, v_c = a/2 − b, the contours Barkley's EZ-Spiral code uses
for the tip (the model and its meander: Barkley, Kness & Tuckerman, Phys.
Rev. A 42, 2489 (1990); Barkley, Physica D 49, 61 (1991)).
:func:`locate_tips` finds every crossing with sub-cell accuracy: u and v are
interpolated bilinearly inside each grid square whose four corners straddle
both levels (a vectorised mask over the grid; only those few squares are
solved), and the two bilinear equations give a quadratic in one coordinate,
solved exactly. Positions are in length units, grid node [i, j] at
(x, y) = (j h, i h).

The model samples the tips every ``TIP_SAMPLE_TIME`` time units while it
steps and follows one of them: the tip nearest the last position (the first
found when there is none), on the torus by the minimum image, so the path it
keeps is continuous across a periodic edge. A jump of more than ``TIP_JUMP``
length units between two samples (the tip annihilated, or a new one painted)
starts the path again. ``tip_path_diameter`` is the largest distance between
two positions of the path over the last ``TIP_WINDOW`` = 40 time units, NaN
until the path is that old. At a = 0.8, b = 0.08, ε = 0.02 the meander's
flower closes in about 30–40 time units (its extent over 30 time units still
varies by ±0.2 from window to window, over 40 it is steady): a shorter window
would measure part of a flower.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attractor_lab.engine.models import register
from attractor_lab.engine.models.base import SimulationDiverged
from attractor_lab.engine.models.reaction_diffusion.core import (ReactionDiffusion, common_params, pacing_params, phase_plane_view,
                                                   rd_views)
from attractor_lab.engine.params import Param

#: tips are sampled every this many time units (rounded to whole steps, at least one)
TIP_SAMPLE_TIME = 0.1
#: tip_path_diameter is the extent of the tracked tip's path over this many time units
TIP_WINDOW = 40.0
#: a tracked tip moving more than this (length units) between two samples starts a new path
TIP_JUMP = 2.0


def locate_tips(u, v, u_level: float, v_level: float, periodic: bool = True) -> np.ndarray:
    """Crossings of the isolines ``u = u_level`` and ``v = v_level``, in cell coordinates.

    ``u`` and ``v`` are (n, m) arrays (numpy or torch) with grid node ``[i, j]``
    at ``(x, y) = (j, i)``. In every grid square whose four corners straddle
    both levels (some corner ≤ level ≤ some other, for u and for v), both
    fields are interpolated bilinearly and the crossing solved exactly:
    with U = a0 + a1 s + a2 t + a3 s t and V likewise (s, t ∈ [0, 1] across
    the square), U = 0 gives s = −(a0 + a2 t)/(a1 + a3 t), and V = 0 becomes
    (b2 a3 − b3 a2) t² + (b0 a3 + b2 a1 − b1 a2 − b3 a0) t + (b0 a1 − b1 a0) = 0.
    ``periodic``: squares across the edges (wrapping to row/column 0) count
    too; otherwise only the (n − 1)(m − 1) interior squares (no-flux walls).

    Returns an array of shape (k, 2) of (x, y): x along columns, y along
    rows, in [0, m) × [0, n) on a periodic grid. A crossing on a square's
    edge, found by both squares, is reported once.
    """
    U = torch.as_tensor(u).detach() - u_level
    V = torch.as_tensor(v).detach() - v_level
    if periodic:
        U = torch.cat([U, U[:, :1]], dim=1)
        U = torch.cat([U, U[:1, :]], dim=0)
        V = torch.cat([V, V[:, :1]], dim=1)
        V = torch.cat([V, V[:1, :]], dim=0)
    corners_u = (U[:-1, :-1], U[:-1, 1:], U[1:, :-1], U[1:, 1:])  # (i, j), (i, j+1), (i+1, j), (i+1, j+1)
    corners_v = (V[:-1, :-1], V[:-1, 1:], V[1:, :-1], V[1:, 1:])

    def straddles(c):
        lo = torch.minimum(torch.minimum(c[0], c[1]), torch.minimum(c[2], c[3]))
        hi = torch.maximum(torch.maximum(c[0], c[1]), torch.maximum(c[2], c[3]))
        return (lo <= 0) & (hi >= 0)

    rows, cols = torch.nonzero(straddles(corners_u) & straddles(corners_v), as_tuple=True)
    if rows.numel() == 0:
        return np.zeros((0, 2))
    cu = np.stack([c[rows, cols].to("cpu", torch.float64).numpy() for c in corners_u])
    cv = np.stack([c[rows, cols].to("cpu", torch.float64).numpy() for c in corners_v])
    rows, cols = rows.cpu().numpy(), cols.cpu().numpy()
    a0, a1, a2, a3 = cu[0], cu[1] - cu[0], cu[2] - cu[0], cu[3] - cu[1] - cu[2] + cu[0]
    b0, b1, b2, b3 = cv[0], cv[1] - cv[0], cv[2] - cv[0], cv[3] - cv[1] - cv[2] + cv[0]
    qa = b2 * a3 - b3 * a2
    qb = b0 * a3 + b2 * a1 - b1 * a2 - b3 * a0
    qc = b0 * a1 - b1 * a0
    scale = np.maximum(np.maximum(np.abs(qa), np.abs(qb)), np.abs(qc))
    scale[scale == 0] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = qb * qb - 4 * qa * qc
        sq = np.sqrt(np.maximum(disc, 0.0))
        # the numerically stable pair of roots; the linear case where qa vanishes
        q = -0.5 * (qb + np.where(qb >= 0, sq, -sq))
        linear = np.abs(qa) <= 1e-12 * scale
        t1 = np.where(linear, -qc / qb, q / qa)
        t2 = np.where(linear, np.nan, qc / q)
        t1[disc < 0] = np.nan
        t2[disc < 0] = np.nan
        eps = 1e-9
        found = np.full((rows.size, 2), np.nan)
        for t in (t2, t1):  # t1 last: it wins where both roots fall in the square
            den = a1 + a3 * t
            # where U does not depend on s at this t (den = 0), U = 0 holds along the line: s from V = 0
            s = np.where(np.abs(den) > 1e-12 * (np.abs(a1) + np.abs(a3) + 1e-300),
                         -(a0 + a2 * t) / den, -(b0 + b2 * t) / (b1 + b3 * t))
            ok = np.isfinite(t) & (t >= -eps) & (t <= 1 + eps) & np.isfinite(s) & (s >= -eps) & (s <= 1 + eps)
            found[ok] = np.stack([cols[ok] + np.clip(s[ok], 0, 1), rows[ok] + np.clip(t[ok], 0, 1)], axis=1)
    pts = found[np.isfinite(found).all(axis=1)]
    if periodic:
        n, m = U.shape[0] - 1, U.shape[1] - 1
        pts = np.mod(pts, [m, n])
    # a crossing on a shared edge or corner is found by each square that holds it
    _, first = np.unique(np.round(pts, 6), axis=0, return_index=True)
    return pts[np.sort(first)].reshape(-1, 2)


@register
class Barkley(ReactionDiffusion):
    name = "barkley"
    title = "Barkley"
    description = "A fast caricature of excitable media: rigidly rotating and meandering spirals."
    equations = "∂u/∂t = Du ∇²u + u (1 − u) (u − (v + b)/a) / ε\n∂v/∂t = Dv ∇²v + u − v"
    params = (
        Param("a", "float", 0.75, 0.01, 2.0, help="excitation threshold scale a", step=0.01),
        Param("b", "float", 0.02, -0.5, 0.5, help="excitation threshold offset b", step=0.005),
        Param("eps", "float", 0.02, 1e-4, 1.0, help="time-scale ratio ε (stiffness of u)", log=True),
        Param("Du", "float", 1.0, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of u", step=0.1),
        Param("Dv", "float", 0.0, 0.0, 1e3, unit="length²/time", help="diffusion coefficient of v", step=0.1),
    ) + common_params(dt=0.01, dt_max=10.0, cell=0.25, seeding="spiral", noise=0.0) + pacing_params()
    # an excitable medium: the uniform rest state is stable at every k (σ(k) says nothing about
    # the waves), so the local phase plane takes the dispersion relation's place
    views = rd_views("u", {"u": [0.0, 1.0], "v": [0.0, 1.0]}, colormaps=("inferno", "viridis"), extra=(
        phase_plane_view("local phase plane: cells (u, v) over the nullclines",
                         "u-nullclines: u = 0, 1, (v + b)/a", "v-nullcline: v = u"),
    )) + (
        {"kind": "lines", "title": f"spiral tip path (last {TIP_WINDOW:g} time units)", "xlabel": "x",
         "ylabel": "y", "aspect": "equal", "role": "secondary",
         "series": [{"x": "tip_path_x", "y": "tip_path_y", "name": "tip path"}],
         "points": [{"x": "tip_x", "y": "tip_y", "name": "tip now"}]},
    )
    phase_plane = True
    reaction_names = ("a", "b", "eps")
    default_cell = 0.25
    pattern_field = "u"
    divergence_hint = "The u reaction is stiff: keep dt below about ε (eps)."

    @staticmethod
    def reaction(u, v, p):
        return u * (1.0 - u) * (u - (v + p["b"]) / p["a"]) / p["eps"], u - v

    def steady_state(self):
        return (0.0, 0.0)

    def seed_states(self):
        return {"rest": (0.0, 0.0), "excited": (1.0, 0.0), "refractory": (0.0, 0.9 * self.p["a"])}

    def phase_curves(self):
        """The nullclines: f = 0 is u = 0, u = 1 and the threshold u = (v + b)/a (v = a u − b);
        g = 0 is v = u. Drawn over u ∈ [−0.05, 1.05] and v from below 0 to past the excited
        branch's top, v = a − b."""
        a, b = float(self.p["a"]), float(self.p["b"])
        u_lo, u_hi = -0.05, 1.05
        v_lo, v_hi = min(0.0, -b) - 0.05, max(1.0, a - b) + 0.05
        nan = np.nan
        # u = 0, u = 1 (vertical), the threshold line clipped to the v range; NaN between the pieces
        u_t = np.clip((np.array([v_lo, v_hi]) + b) / a, u_lo, u_hi)
        fx = np.array([0.0, 0.0, nan, 1.0, 1.0, nan, u_t[0], u_t[1]])
        fy = np.array([v_lo, v_hi, nan, v_lo, v_hi, nan, a * u_t[0] - b, a * u_t[1] - b])
        gx = np.array([u_lo, u_hi])
        return {"nc_u": (fx, fy), "nc_v": (gx, gx.copy())}

    # ---- spiral tips ---------------------------------------------------------------
    def tip_levels(self) -> tuple[float, float]:
        """(u_c, v_c) = (1/2, a/2 − b): the isolines whose crossing is a tip."""
        return 0.5, 0.5 * float(self.p["a"]) - float(self.p["b"])

    def find_tips(self) -> np.ndarray:
        """Every tip of the current state, shape (k, 2): (x, y) in length units, grid node
        [i, j] at (j h, i h); on a periodic domain in [0, length)²."""
        uc, vc = self.tip_levels()
        return locate_tips(self._fields[0], self._fields[1], uc, vc, self.periodic) * self.cell_size

    def _reset(self) -> None:
        super()._reset()
        self._clear_tips()

    def _on_state_set(self) -> None:
        super()._on_state_set()
        self._clear_tips()

    def _clear_tips(self) -> None:
        self._tip_path: list[tuple[float, float, float]] = []  # (time, x, y), x and y unwrapped
        self._tip_now: tuple[int, float, float] = (0, math.nan, math.nan)  # (count, x, y) at the last sample
        self._tip_sampled: tuple | None = None  # (step, edits) of the last sample
        self._tip_next: int | None = None  # the step of the next sample; None: at the next step call

    def _tip_interval(self) -> int:
        return max(1, int(round(TIP_SAMPLE_TIME / self.dt)))

    def _step(self, n: int) -> None:
        # the base advances steps and time after _step: each chunk's are set here, for the
        # tip samples' times, and put back at the end
        start = (self.steps, self.time)
        dt = self.dt
        done = 0
        if self._tip_next is None or self._tip_next <= self.steps:
            self._sample_tip()
        while done < n:
            k = min(n - done, max(self._tip_next - self.steps, 1))
            try:
                super()._step(k)
            except SimulationDiverged:
                # steps and time are those of the restored state: samples after it go
                self._tip_path = [p for p in self._tip_path if p[0] <= self.time + 1e-9]
                self._tip_sampled, self._tip_next = None, None
                raise
            self.steps += k
            self.time += k * dt
            done += k
            if self.steps >= self._tip_next:
                self._sample_tip()
        self.steps, self.time = start

    def _nearest(self, tips: np.ndarray) -> tuple[int, np.ndarray | None]:
        """The index of the tip nearest the path's last position (minimum image on a torus) and
        its position continuing the unwrapped path; (0, None) without a path or past a jump."""
        if not self._tip_path:
            return 0, None
        last = np.array(self._tip_path[-1][1:])
        d = tips - last
        if self.periodic:
            d -= self.length * np.round(d / self.length)
        dist = np.hypot(d[:, 0], d[:, 1])
        i = int(np.argmin(dist))
        return (i, last + d[i]) if dist[i] <= TIP_JUMP else (0, None)

    def _sample_tip(self) -> None:
        self._tip_next = self.steps + self._tip_interval()
        self._tip_sampled = (self.steps, self._edits)
        tips = self.find_tips()
        if len(tips) == 0:
            self._tip_now = (0, math.nan, math.nan)
            self._tip_path = []
            return
        i, pos = self._nearest(tips)
        if pos is None:  # no path yet, or the tracked tip is gone: a new path from the first tip
            self._tip_path = []
            pos = tips[0]
        self._tip_path.append((self.time, float(pos[0]), float(pos[1])))
        self._tip_now = (len(tips), float(tips[i][0]), float(tips[i][1]))
        horizon = self.time - TIP_WINDOW - 2 * self._tip_interval() * self.dt
        while self._tip_path and self._tip_path[0][0] < horizon:
            self._tip_path.pop(0)

    def _tip_window(self) -> np.ndarray:
        """The tracked path over the last TIP_WINDOW time units, (k, 3): time, x, y (unwrapped)."""
        path = np.array(self._tip_path).reshape(-1, 3)
        return path[path[:, 0] >= self.time - TIP_WINDOW - 1e-9]

    def tip_path_diameter(self) -> float:
        """Largest distance between two positions of the tracked tip over the last
        TIP_WINDOW time units (length units); NaN until the path is that old."""
        path = np.array(self._tip_path).reshape(-1, 3)
        if len(path) < 2 or path[0, 0] > self.time - TIP_WINDOW + 1e-9:
            return math.nan
        xy = self._tip_window()[:, 1:]
        d = xy[:, None, :] - xy[None, :, :]
        return float(np.sqrt((d * d).sum(-1)).max())

    def state(self):
        s = super().state()
        xy = self._tip_window()[:, 1:]
        if len(xy) and self.periodic:
            # shift the unwrapped path so that its last point is the tip as reported (inside the domain)
            xy = xy + (np.mod(xy[-1], self.length) - xy[-1])
        s["tip_path_x"], s["tip_path_y"] = xy[:, 0].copy(), xy[:, 1].copy()
        return s

    def observables(self):
        obs = super().observables()
        count, x, y = self._tip_now
        if self._tip_sampled != (self.steps, self._edits):  # between samples, or after an edit: the tips of this state
            tips = self.find_tips()
            i = self._nearest(tips)[0] if len(tips) else 0
            count, x, y = (len(tips), float(tips[i][0]), float(tips[i][1])) if len(tips) else (0, math.nan, math.nan)
        obs.update(tips=float(count), tip_x=x, tip_y=y, tip_path_diameter=self.tip_path_diameter())
        return obs
