"""Orbit diagrams: the attractor's local maxima (or Poincaré crossings) against a parameter.

All parameter values × ``trajectories`` starts are one batch (see
:mod:`attractor_lab.engine.analysis.integrate`): a transient is integrated and
dropped, then for ``record`` time every local maximum of the chosen variable
(the vertex of the parabola through three samples, so the value is accurate to
O(dt³) beyond the integration's own O(dt⁴)) or every upward crossing of a
section (linear interpolation) is kept.

    from attractor_lab.engine.analysis import orbit_diagram
    d = orbit_diagram("custom_rossler", "c", range=(2.0, 6.0), count=400, variable="x")
    plt.plot(d.point_param, d.point_value, ",k")
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from attractor_lab.engine.analysis.fields import vector_field
from attractor_lab.engine.analysis.integrate import integrate

#: most maxima kept per trajectory (later ones are dropped)
MAX_POINTS = 64


@dataclass
class OrbitDiagram:
    """Points (parameter, value) of an orbit diagram.

    Attributes
    ----------
    param_name : str
    values : (M,) the parameter values
    point_param, point_value : (K,) every maximum or crossing recorded, flat (draw as points)
    point_trajectory : (K,) which trajectory (0 … M·B − 1; trajectory t has value index t // B)
    trajectories : int, B per value
    diverged : (M,) how many of each value's B trajectories left the bound (or became NaN)
    """

    param_name: str
    variable: str
    values: np.ndarray
    point_param: np.ndarray
    point_value: np.ndarray
    point_trajectory: np.ndarray
    trajectories: int
    diverged: np.ndarray

    def at(self, k: int) -> np.ndarray:
        """Every recorded value at the k-th parameter value."""
        return self.point_value[self.point_trajectory // self.trajectories == k]

    def distinct(self, k: int, tol: float = 1e-2) -> np.ndarray:
        """The distinct values at the k-th parameter value (values closer than ``tol`` merged, means)."""
        return distinct_values(self.at(k), tol)

    def arrays(self) -> dict:
        return {"values": self.values, "point_param": self.point_param, "point_value": self.point_value,
                "point_trajectory": self.point_trajectory, "diverged": self.diverged,
                "param_name": np.array(self.param_name), "variable": np.array(self.variable),
                "trajectories": np.array(self.trajectories)}


def distinct_values(v: np.ndarray, tol: float = 1e-2) -> np.ndarray:
    """Sorted ``v`` split where consecutive values differ by more than ``tol``; the groups' means."""
    v = np.sort(np.asarray(v, dtype=np.float64)[np.isfinite(v)])
    if v.size == 0:
        return v
    cuts = np.nonzero(np.diff(v) > tol)[0] + 1
    return np.array([g.mean() for g in np.split(v, cuts)])


def orbit_diagram(source, param: str, values=None, *, range: tuple | None = None, count: int = 200,
                  variable=0, trajectories: int = 8, transient: float = 200.0, record: float = 100.0,
                  dt: float = 0.02, section: tuple | None = None, start=None, spread: float = 0.1,
                  seed: int = 0, device: str = "cpu", dtype=torch.float64, bound: float = 1e6,
                  progress=None, **params) -> OrbitDiagram:
    """The orbit diagram of ``source`` over parameter ``param``.

    Parameters
    ----------
    source
        Anything :func:`~attractor_lab.engine.analysis.fields.vector_field` takes.
    param : str
        The parameter on the horizontal axis.
    values : array, optional
        The parameter values; else ``count`` values evenly over ``range``.
    variable : str or int
        Whose local maxima are recorded (or which is recorded at the section).
    trajectories : int
        Starts per parameter value (B): the model's start plus a uniform jitter of
        ``spread`` × (1 + |start|) per component (``start`` replaces the model's).
    transient, record, dt : float
        Time dropped, time recorded, and the RK4 step.
    section : (variable, level), optional
        Record ``variable`` where the section variable crosses ``level`` upwards, instead of maxima.
    device, dtype
        Where and in what precision the batch runs ("cuda" on a GPU).
    progress : callable, optional
        ``progress(fraction)`` during the integration (raise inside it to cancel).
    """
    vf = vector_field(source, **params)
    vf.check_param(param)
    if values is None:
        if range is None:
            raise ValueError("orbit_diagram: give the parameter values or a range=(lo, hi) with count")
        values = np.linspace(float(range[0]), float(range[1]), int(count))
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("orbit_diagram: the parameter values must be finite and at least one")
    if trajectories < 1 or dt <= 0 or transient < 0 or record <= 0:
        raise ValueError("orbit_diagram: trajectories >= 1, dt > 0, transient >= 0 and record > 0 are needed")
    k = vf.index(variable)
    cross = None if section is None else (vf.index(section[0]), float(section[1]))
    m, b, d = values.size, int(trajectories), vf.dim
    n = m * b
    base = np.asarray(vf.start if start is None else start, dtype=np.float64).reshape(-1)
    if base.size != d:
        raise ValueError(f"{vf.name}: start needs {d} values, not {base.size}")
    gen = torch.Generator().manual_seed(int(seed))
    jitter = (torch.rand((n, d), generator=gen, dtype=torch.float64) * 2 - 1) * spread
    x = (torch.as_tensor(base) + jitter * (1 + torch.as_tensor(base).abs())).to(device, dtype)
    x[::b] = torch.as_tensor(base, dtype=dtype, device=device)  # each value's first start: the model's own
    p = {**vf.params, param: torch.as_tensor(values, dtype=dtype, device=device).repeat_interleave(b)}
    steps_t, steps_r = int(round(transient / dt)), max(3, int(round(record / dt)))
    part = steps_t / (steps_t + steps_r)

    def stage(lo, span):
        return None if progress is None else (lambda f: progress(lo + span * f))

    x = integrate(vf, x, p, dt, steps_t, bound=bound, progress=stage(0.0, part))
    recorder = _Recorder(x, k, cross)
    x = integrate(vf, x, p, dt, steps_r, on_step=recorder, bound=bound, progress=stage(part, 1 - part))
    traj, val = recorder.points()
    diverged = (~torch.isfinite(x).all(-1)).reshape(m, b).sum(-1).cpu().numpy()
    return OrbitDiagram(param, vf.labels[k], values, values[traj // b], val, traj, b, diverged)


class _Recorder:
    """Local maxima of component k (or upward crossings of a section) as the batch advances."""

    def __init__(self, x: torch.Tensor, k: int, cross, sync_free: bool | None = None):
        self.k, self.cross = k, cross
        self.sync_free = x.is_cuda if sync_free is None else sync_free
        n = x.shape[0]
        self.buf = torch.full((n, MAX_POINTS), math.nan, dtype=x.dtype, device=x.device)
        self.count = torch.zeros(n, dtype=torch.int64, device=x.device)
        self.rows = torch.arange(n, device=x.device)
        self.y0 = self.y1 = None
        self.prev = x

    def __call__(self, x: torch.Tensor) -> None:
        if self.cross is None:
            y2 = x[:, self.k]
            if self.y0 is not None:
                y0, y1 = self.y0, self.y1
                hit = (y1 > y0) & (y1 >= y2)
                curv = y2 - 2.0 * y1 + y0
                # (a maximum has curv <= 0; a flat top, curv = 0, is its middle sample)
                vertex = y1 - (y2 - y0) ** 2 / (8.0 * curv.clamp(max=-torch.finfo(curv.dtype).tiny))
                self._store(hit, vertex)
            self.y0, self.y1 = self.y1, y2
        else:
            j, level = self.cross
            a, c = self.prev[:, j] - level, x[:, j] - level
            hit = (a < 0) & (c >= 0)
            w = a / torch.where(hit, a - c, torch.ones_like(a))
            value = self.prev[:, self.k] + w * (x[:, self.k] - self.prev[:, self.k])
            self._store(hit, value)
            self.prev = x

    def _store(self, hit: torch.Tensor, value: torch.Tensor) -> None:
        hit = hit & (self.count < MAX_POINTS)
        if not self.sync_free:  # on the CPU: only the rows with a new point (fewer operations)
            idx = torch.nonzero(hit).squeeze(1)
            if idx.numel():
                self.buf[idx, self.count[idx]] = value[idx]
                self.count[idx] += 1
            return
        # on a GPU, no host sync: every row writes its slot, those without a new point what was there
        slot = self.count.clamp(max=MAX_POINTS - 1)
        old = self.buf[self.rows, slot]
        self.buf[self.rows, slot] = torch.where(hit, value, old)
        self.count += hit.to(self.count.dtype)

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        buf = self.buf.cpu().numpy()
        ok = np.isfinite(buf)
        traj = np.nonzero(ok)[0]
        return traj.astype(np.int64), buf[ok].astype(np.float64)
