"""Continuation of equilibria in one parameter: branches, their stability, folds, Hopf and branch points.

Pseudo-arclength continuation (Keller) on y = (x, λ) ∈ R^(d+1): a predictor
step ``ds`` along the unit tangent τ (the null vector of the d × (d+1)
Jacobian [f_x | f_λ]), then Newton's method on f(y) = 0 and
τ·(y − y_pred) = 0. The Jacobian is exact: ``f_x`` is the model's own
(written out for ``ode_system``, the symbolic derivative of the typed
equations for ``custom_ode``, autograd for a learned field) and ``f_λ`` is
one forward-mode autograd pass through the field. The step grows after easy
corrections and halves after failed ones.

Along the branch, three test functions change sign between two points at a
special point, which is then located by Brent's method on the arclength from
the point before it (each trial is corrected back onto the branch), to the
Newton tolerance (|Δλ| ≲ 1e-9 in practice, far inside the 1e-6 asked):

fold (saddle-node)
    τ_λ, the parameter component of the tangent (oriented along the branch).
branch point (pitchfork, transcritical)
    det [[f_x, f_λ], [τᵀ]], the augmented Jacobian: it changes sign at a
    simple branch point and not at a fold.
Hopf
    the number of complex pairs of f_x with Re μ > 0: where it changes, the
    crossing is located by bisection on the arclength (a count needs no
    continuity, so it works for networks of hundreds of units whatever order
    the eigenvalues come in) and kept when a pair sits on the imaginary axis
    there (a pair that turns real instead, near a Bogdanov–Takens point, is not
    a Hopf point).

:func:`switch_branch` continues the other branch through a branch point (the
second null vector of [f_x | f_λ] there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import brentq

from attractor_lab.engine.analysis.fields import VectorField, vector_field

#: Newton's tolerance on the correction (relative to 1 + |y|) and on |f|
NEWTON_TOL = 1e-11
NEWTON_ITERATIONS = 12
#: bisection steps that locate a Hopf point (the arclength bracket halves each time)
HOPF_BISECTIONS = 60


@dataclass
class SpecialPoint:
    """A fold, Hopf or branch point on a branch.

    ``index``: the branch point (row of :attr:`Branch.params`) just before it;
    ``frequency``: the critical pair's |Im μ| at a Hopf point (its cycle's period
    at onset is 2π / frequency), NaN otherwise; ``tangent``: the branch's unit
    tangent (d + 1,) there.
    """

    kind: str
    param: float
    state: np.ndarray
    eigenvalues: np.ndarray
    index: int
    frequency: float = math.nan
    tangent: np.ndarray | None = None

    def __repr__(self) -> str:
        extra = f", ω={self.frequency:.6g}" if self.kind == "hopf" else ""
        return f"SpecialPoint({self.kind} at {self.param:.9g}, x={np.array2string(self.state, precision=6)}{extra})"


@dataclass
class Branch:
    """A branch of equilibria: one row per point, and its special points."""

    param_name: str
    params: np.ndarray
    states: np.ndarray
    eigenvalues: np.ndarray
    labels: tuple
    points: list = field(default_factory=list)

    @property
    def stable(self) -> np.ndarray:
        """(N,) bool: every eigenvalue has Re μ < 0."""
        return (self.eigenvalues.real < 0).all(-1)

    @property
    def unstable_dims(self) -> np.ndarray:
        """(N,) int: how many eigenvalues have Re μ > 0."""
        return (self.eigenvalues.real > 0).sum(-1)

    def special(self, kind: str) -> list:
        return [p for p in self.points if p.kind == kind]

    def arrays(self) -> dict:
        """Everything as named numpy arrays (for NPZ/CSV)."""
        kinds = np.array([p.kind for p in self.points], dtype="U8")
        return {
            "param": self.params, "states": self.states, "eigenvalues": self.eigenvalues,
            "stable": self.stable, "unstable_dims": self.unstable_dims,
            "point_kind": kinds, "point_param": np.array([p.param for p in self.points], dtype=np.float64),
            "point_state": np.array([p.state for p in self.points], dtype=np.float64).reshape(-1, self.states.shape[1]),
            "point_frequency": np.array([p.frequency for p in self.points], dtype=np.float64),
            "labels": np.array(self.labels, dtype="U32"), "param_name": np.array(self.param_name),
        }


class _Problem:
    """f(x, λ) = 0 for one parameter of a vector field, in numpy float64."""

    def __init__(self, vf: VectorField, name: str):
        vf.check_param(name)
        self.vf, self.name, self.d = vf, name, vf.dim
        self.base = {k: v for k, v in vf.params.items() if k != name}

    def _p(self, lam):
        return {**self.base, self.name: lam}

    def f(self, y: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(y[None, :self.d], dtype=torch.float64)
        with torch.no_grad():
            return self.vf.f(x, self._p(float(y[self.d])))[0].numpy().astype(np.float64)

    def jacobian(self, y: np.ndarray) -> np.ndarray:
        """[f_x | f_λ] (d, d + 1)."""
        x = torch.as_tensor(y[None, :self.d], dtype=torch.float64)
        lam = float(y[self.d])
        jx = self.vf.jacobian(x, self._p(lam))[0].detach().numpy()
        return np.concatenate([jx, self._f_lambda(x, lam)[:, None]], axis=1)

    def _f_lambda(self, x: torch.Tensor, lam: float) -> np.ndarray:
        lam_t = torch.tensor(lam, dtype=torch.float64)
        try:
            _, d = torch.func.jvp(lambda v: self.vf.f(x, self._p(v))[0], (lam_t,), (torch.ones_like(lam_t),))
            return d.detach().numpy().astype(np.float64)
        except (RuntimeError, TypeError):
            # a field that turns its parameter into a Python float (math.*) cannot carry a dual number:
            # a central difference then (error ~1e-10 relative)
            h = 1e-6 * max(1.0, abs(lam))
            with torch.no_grad():
                up = self.vf.f(x, self._p(lam + h))[0]
                down = self.vf.f(x, self._p(lam - h))[0]
            return ((up - down) / (2 * h)).numpy().astype(np.float64)


def _newton(problem: _Problem, y: np.ndarray, tangent: np.ndarray | None, anchor: np.ndarray | None, s: float):
    """Correct ``y`` onto f = 0 (with τ·(y − anchor) = s when ``tangent`` is given; else at fixed λ).
    Returns (y, iterations) or (None, iterations) when it does not converge."""
    d = problem.d
    for it in range(1, NEWTON_ITERATIONS + 1):
        fy = problem.f(y)
        jac = problem.jacobian(y)
        if tangent is None:
            rhs, mat = fy, jac[:, :d]
        else:
            rhs = np.append(fy, tangent @ (y - anchor) - s)
            mat = np.vstack([jac, tangent])
        if not np.all(np.isfinite(mat)) or not np.all(np.isfinite(rhs)):
            return None, it
        try:
            step = np.linalg.solve(mat, -rhs)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(mat, -rhs, rcond=None)[0]
        if tangent is None:
            y = y.copy()
            y[:d] += step
        else:
            y = y + step
        if np.linalg.norm(step) <= NEWTON_TOL * (1.0 + np.linalg.norm(y)):
            return y, it
    fy = problem.f(y)
    return (y, NEWTON_ITERATIONS) if np.linalg.norm(fy) < 1e-8 * (1 + np.linalg.norm(y)) else (None, NEWTON_ITERATIONS)


def _tangent(jac: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """The unit null vector of ``jac`` (d, d+1), oriented along ``previous``."""
    mat = np.vstack([jac, previous])
    rhs = np.zeros(mat.shape[0])
    rhs[-1] = 1.0
    try:
        t = np.linalg.solve(mat, rhs)
    except np.linalg.LinAlgError:
        t = np.linalg.svd(jac)[2][-1]
    t = t / np.linalg.norm(t)
    return t if t @ previous >= 0 else -t


def _unstable_pairs(eig: np.ndarray) -> int:
    """How many complex pairs have Re μ > 0 (each pair counted once, by its Im μ > 0 member)."""
    scale = max(1.0, float(np.abs(eig).max()))
    return int(((eig.imag > 1e-8 * scale) & (eig.real > 0)).sum())


class _Point:
    """One computed point: y, τ, the eigenvalues and the test functions."""

    def __init__(self, problem: _Problem, y: np.ndarray, tangent_hint: np.ndarray):
        d = problem.d
        self.y = y
        jac = problem.jacobian(y)
        self.tangent = _tangent(jac, tangent_hint)
        self.eig = np.linalg.eigvals(jac[:, :d])
        self.tests = {
            "fold": float(self.tangent[d]),
            "branch": float(np.linalg.det(np.vstack([jac, self.tangent]))),
            "hopf": _unstable_pairs(self.eig),
        }


def continuation(source, param: str, start=None, *, range: tuple | None = None, ds: float = 0.01,
                 ds_max: float = 0.2, ds_min: float = 1e-7, max_points: int = 2000, direction: int = 1,
                 tangent=None, progress=None, **params) -> Branch:
    """Continue a branch of equilibria of ``source`` in parameter ``param``.

    Parameters
    ----------
    source
        Anything :func:`~attractor_lab.engine.analysis.fields.vector_field` takes (a Simulation,
        a model name, a preset, a VectorField).
    param : str
        The parameter to vary; its starting value is the field's (or ``params[param]``).
    start : array (d,), optional
        A guess of the starting equilibrium (default: the model's usual start); Newton's
        method at the starting parameter value finds it.
    range : (lo, hi), optional
        Stop when the parameter leaves it (the branch may fold back inside it).
    ds, ds_max, ds_min : float
        First, largest and smallest arclength step in (x, λ).
    max_points : int
        Most points on the branch.
    direction : +1, −1 or "both"
        Whether the parameter first increases or decreases; "both" joins the two halves
        (the rows then run from the decreasing end to the increasing one).
    tangent : array (d + 1,), optional
        The first direction in (x, λ) instead of ``direction`` (branch switching).
    progress : callable, optional
        ``progress(points, param)`` after each new point (raise inside it to cancel).
    **params
        Other parameter values of the field.

    Returns
    -------
    Branch
        The points (parameter, state, eigenvalues, stability) and the special points found.
    """
    vf = vector_field(source, **params)
    if direction == "both":
        kw = dict(range=range, ds=ds, ds_max=ds_max, ds_min=ds_min, max_points=max_points, progress=progress)
        down = continuation(vf, param, start, direction=-1, **kw)
        up = continuation(vf, param, start, direction=1, **kw)
        m = down.params.size
        for p in down.points:
            p.index = m - 2 - p.index
        for p in up.points:
            p.index += m - 1
        return Branch(param, np.concatenate([down.params[::-1], up.params[1:]]),
                      np.concatenate([down.states[::-1], up.states[1:]]),
                      np.concatenate([down.eigenvalues[::-1], up.eigenvalues[1:]]), down.labels,
                      down.points[::-1] + up.points)
    if direction not in (1, -1):
        raise ValueError(f"continuation: direction must be 1, -1 or 'both', not {direction!r}")
    problem = _Problem(vf, param)
    d = vf.dim
    lam0 = float(vf.params[param])
    x0 = np.asarray(vf.start if start is None else start, dtype=np.float64).reshape(-1)
    if x0.size != d:
        raise ValueError(f"{vf.name}: start needs {d} values ({', '.join(vf.labels)}), not {x0.size}")
    y, _ = _newton(problem, np.append(x0, lam0), None, None, 0.0)
    if y is None:
        raise ValueError(f"{vf.name}: Newton's method found no equilibrium near {x0.tolist()} at {param} = {lam0:g}; "
                         f"give a better start")
    jac = problem.jacobian(y)
    if tangent is None:
        hint = np.zeros(d + 1)
        hint[d] = 1.0 if direction >= 0 else -1.0
        null = np.linalg.svd(jac)[2][-1]
        hint = null if null @ hint > 0 else -null
        if abs(hint[d]) < 1e-12:  # vertical at the start: go along +x instead
            hint = null
    else:
        hint = np.asarray(tangent, dtype=np.float64)
    lo, hi = (-math.inf, math.inf) if range is None else (min(range), max(range))
    if not lo <= lam0 <= hi:
        raise ValueError(f"{vf.name}: the start {param} = {lam0:g} is outside the range [{lo:g}, {hi:g}]; "
                         f"start inside it (pass {param}=… )")
    points = [_Point(problem, y, hint)]
    specials: list[SpecialPoint] = []
    h = ds
    while len(points) < max_points:
        prev = points[-1]
        y_new = None
        while h >= ds_min:
            y_new, its = _newton(problem, prev.y + h * prev.tangent, prev.tangent, prev.y, h)
            if y_new is not None and np.linalg.norm(y_new - prev.y) < 3 * h:
                break
            y_new = None
            h /= 2.0
        if y_new is None:
            break
        point = _Point(problem, y_new, prev.tangent)
        # a turn too sharp to trust, or two eigenvalue crossings in one step: a smaller step
        if (point.tangent @ prev.tangent < 0.5 or _several_crossings(prev, point)) and h / 2 >= ds_min:
            h /= 2.0
            continue
        points.append(point)
        specials += _locate(problem, prev, point, h, len(points) - 2)
        if progress is not None:
            progress(len(points), float(point.y[d]))
        if its <= 3:
            h = min(h * 1.5, ds_max)
        lam = y_new[d]
        if not (lo <= lam <= hi) or not np.all(np.isfinite(y_new)) or np.abs(y_new[:d]).max() > 1e8:
            break
    ys = np.array([p.y for p in points])
    return Branch(param, ys[:, d].copy(), ys[:, :d].copy(), np.array([p.eig for p in points]), tuple(vf.labels),
                  specials)


def _locate(problem: _Problem, a: _Point, b: _Point, h: float, index: int) -> list:
    """Special points between ``a`` and ``b`` (a step ``h`` apart along ``a``'s tangent)."""
    found = []
    cache = {}

    def on_branch(s):
        if s not in cache:
            y, _ = _newton(problem, a.y + s * a.tangent, a.tangent, a.y, s)
            cache[s] = None if y is None else _Point(problem, y, a.tangent)
        return cache[s]

    if a.tests["hopf"] != b.tests["hopf"]:
        p = _bisect_hopf(on_branch, a, h)
        special = None if p is None else _classify("hopf", p, index)
        if special is not None:
            found.append(special)
    for kind in ("fold", "branch"):
        ta, tb = a.tests[kind], b.tests[kind]
        if not (ta * tb < 0):
            continue

        def test(s):
            if s == 0.0:
                return ta
            if s == h:
                return tb
            p = on_branch(s)
            return math.nan if p is None else p.tests[kind]

        try:
            s = brentq(test, 0.0, h, xtol=1e-14, rtol=1e-13, maxiter=200)
        except (ValueError, RuntimeError):
            continue
        p = on_branch(s) if 0 < s < h else (a if s == 0 else b)
        if p is None:
            continue
        special = _classify(kind, p, index)
        if special is not None:
            found.append(special)
    found.sort(key=lambda sp: abs(sp.param - a.y[-1]))
    return found


def _several_crossings(a: _Point, b: _Point) -> bool:
    """Whether more than one eigenvalue (or pair) crossed the imaginary axis between ``a`` and ``b``
    (two crossings in one step would cancel in the test functions' signs)."""
    total = int((b.eig.real > 0).sum()) - int((a.eig.real > 0).sum())
    pairs = b.tests["hopf"] - a.tests["hopf"]
    return abs(total) > 2 or (abs(total) == 2 and pairs == 0)


def _bisect_hopf(on_branch, a: _Point, h: float):
    """The point where the number of unstable complex pairs changes, by bisection on the arclength
    from ``a`` (a count needs no continuity: any system size, any eigenvalue order)."""
    lo, hi, best = 0.0, h, None
    for _ in range(HOPF_BISECTIONS):
        mid = 0.5 * (lo + hi)
        p = on_branch(mid)
        if p is None:
            return None
        if p.tests["hopf"] == a.tests["hopf"]:
            lo = mid
        else:
            hi = mid
        best = p
        if hi - lo <= 1e-13 * max(1.0, h):
            break
    return best


def _classify(kind: str, p: _Point, index: int) -> SpecialPoint | None:
    d = p.eig.size
    state, lam = p.y[:d].copy(), float(p.y[d])
    if kind == "hopf":
        scale = max(1.0, float(np.abs(p.eig).max()))
        near = np.abs(p.eig.real) < 1e-7 * scale
        imag = np.abs(p.eig.imag) > 1e-8 * scale
        if not (near & imag).any():
            return None  # no pair on the imaginary axis (a pair turned real): not a Hopf point
        freq = float(np.abs(p.eig[near & imag].imag).min())
        return SpecialPoint("hopf", lam, state, p.eig, index, freq, p.tangent)
    return SpecialPoint(kind, lam, state, p.eig, index, math.nan, p.tangent)


def switch_branch(source, branch: Branch, point: SpecialPoint, *, ds: float = 0.01, direction: int = 1,
                  **kwargs) -> Branch:
    """Continue the other branch through the branch point ``point`` of ``branch``.

    The second null vector of [f_x | f_λ] at the point, orthogonal to the branch's tangent,
    is the new branch's direction (``direction`` picks its sign: a pitchfork's two halves).
    """
    if point.kind != "branch":
        raise ValueError(f"switch_branch needs a branch point, not a {point.kind}")
    vf = vector_field(source)
    problem = _Problem(vector_field(vf, **{branch.param_name: point.param}), branch.param_name)
    y = np.append(point.state, point.param)
    null = np.linalg.svd(problem.jacobian(y))[2][-2:]
    t = point.tangent
    # the combination of the two null vectors orthogonal to the old tangent
    other = null[0] - (null[0] @ t) * t
    if np.linalg.norm(other) < 1e-6:
        other = null[1] - (null[1] @ t) * t
    other = direction * other / np.linalg.norm(other)
    # step off the branch point (Newton would fall back onto it at the same parameter otherwise)
    guess, _ = _newton(problem, y + ds * other, other, y, ds)
    if guess is None:
        raise ValueError(f"switch_branch: no second branch found at {branch.param_name} = {point.param:g}")
    d = problem.d
    return continuation(vf, branch.param_name, guess[:d], tangent=other,
                        ds=ds, **kwargs, **{branch.param_name: float(guess[d])})
