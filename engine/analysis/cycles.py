"""Periodic orbits born at a Hopf point, continued in the parameter by single shooting.

Unknowns z = (x₀, T, λ): a point of the cycle, its period and the parameter.
Equations: φ_T(x₀; λ) − x₀ = 0 (the flow over one period returns), a phase
condition ⟨g, x₀ − x_ref⟩ = 0 (the point lies on a hyperplane through the
previous solution, normal to its velocity), and pseudo-arclength along the
secant of the last two solutions. The flow and its monodromy matrix
Φ = ∂φ_T/∂x₀ are integrated together (RK4, ``steps`` per period, dΦ/dt = J Φ
with the model's exact Jacobian), so Newton's Jacobian is exact in x₀ and T;
its λ column is a central difference (it steers Newton, the solution's
accuracy is the residual's). The Floquet multipliers are Φ's eigenvalues: one
is 1 (the flow's direction), the cycle is stable when the others lie inside
the unit circle; a multiplier through −1 is a period doubling, a second one
through +1 a fold of cycles (both reported, located by linear interpolation
between the two points around them).

The first two points come from the Hopf point's critical eigenvector v
(J v = iω v): x₀ = x* + ε Re v / |Re v| with the amplitude ε fixed instead
of the arclength, T from 2π/ω, λ found by Newton (so a subcritical branch
turns back by itself).

Why shooting and not collocation (AUTO, BifurcationKit): the models already
give a batched, exact-Jacobian vector field and a fixed-step integrator, the
systems are small (d ≲ 10), and the cycles of interest here are not stiff, so
single shooting with d + 2 unknowns is short and accurate (RK4's error
(T/steps)⁴); collocation pays off for stiff or unstable cycles and larger d.
"""

from __future__ import annotations

import builtins
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from attractor_lab.engine.analysis.equilibria import SpecialPoint
from attractor_lab.engine.analysis.fields import vector_field

builtins_range = builtins.range  # cycles_from_* take a 'range' keyword


@dataclass
class CycleBranch:
    """Periodic orbits along a parameter: one row per cycle.

    ``states``: (N, d) a point x₀ of each cycle; ``periods``: (N,); ``amplitudes``: (N, d)
    max − min of each component over the cycle; ``multipliers``: (N, d) Floquet multipliers
    (sorted by distance from 1, the trivial one first); ``points``: period doublings and folds.
    """

    param_name: str
    params: np.ndarray
    states: np.ndarray
    periods: np.ndarray
    amplitudes: np.ndarray
    multipliers: np.ndarray
    labels: tuple
    points: list = field(default_factory=list)

    @property
    def stable(self) -> np.ndarray:
        return (np.abs(self.multipliers[:, 1:]) < 1.0).all(-1)

    def arrays(self) -> dict:
        return {"param": self.params, "states": self.states, "periods": self.periods,
                "amplitudes": self.amplitudes, "multipliers": self.multipliers, "stable": self.stable,
                "point_kind": np.array([p[0] for p in self.points], dtype="U16"),
                "point_param": np.array([p[1] for p in self.points], dtype=np.float64),
                "labels": np.array(self.labels, dtype="U32"), "param_name": np.array(self.param_name)}


class _Shooting:
    def __init__(self, vf, name: str, steps: int):
        vf.check_param(name)
        self.vf, self.name, self.steps, self.d = vf, name, steps, vf.dim

    def p(self, lam: float) -> dict:
        return {**self.vf.params, self.name: lam}

    @torch.no_grad()
    def flow(self, x0: np.ndarray, period: float, lams, monodromy: bool = True):
        """φ_T(x₀) for each parameter value in ``lams`` (one batch): end states (L, d), monodromy
        matrices (L, d, d) or None, and the paths (steps + 1, L, d)."""
        vf, n = self.vf, self.steps
        lams = torch.as_tensor(np.atleast_1d(np.asarray(lams, dtype=np.float64)))
        p = self.p(lams)
        h = period / n
        x = torch.as_tensor(x0, dtype=torch.float64)[None].repeat(lams.numel(), 1)
        phi = torch.eye(self.d, dtype=torch.float64)[None].repeat(lams.numel(), 1, 1) if monodromy else None
        path = [x.clone()]

        def rates(x, phi):
            fx = vf.f(x, p)
            if phi is None:
                return fx, None
            return fx, vf.jacobian(x, p).detach() @ phi

        for _ in range(n):
            k1, m1 = rates(x, phi)
            k2, m2 = rates(x + 0.5 * h * k1, None if phi is None else phi + 0.5 * h * m1)
            k3, m3 = rates(x + 0.5 * h * k2, None if phi is None else phi + 0.5 * h * m2)
            k4, m4 = rates(x + h * k3, None if phi is None else phi + h * m3)
            x = x + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
            if phi is not None:
                phi = phi + (h / 6.0) * (m1 + 2 * m2 + 2 * m3 + m4)
            path.append(x.clone())
        return x.numpy(), None if phi is None else phi.numpy(), torch.stack(path).numpy()

    def f(self, x: np.ndarray, lam: float) -> np.ndarray:
        with torch.no_grad():
            return self.vf.f(torch.as_tensor(x, dtype=torch.float64)[None], self.p(lam))[0].numpy()

    def residual_and_jacobian(self, z: np.ndarray, g: np.ndarray, ref: np.ndarray):
        """R (d + 1,) and ∂R/∂z (d + 1, d + 2) for the return and the phase condition."""
        d = self.d
        x0, period, lam = z[:d], z[d], z[d + 1]
        hl = 1e-6 * max(1.0, abs(lam))
        # the flow at λ and at λ ± hl as one batch (the λ column by a central difference)
        ends, phis, _ = self.flow(x0, period, [lam, lam + hl, lam - hl])
        xt, phi, up, down = ends[0], phis[0], ends[1], ends[2]
        res = np.append(xt - x0, g @ (x0 - ref))
        jac = np.zeros((d + 1, d + 2))
        jac[:d, :d] = phi - np.eye(d)
        jac[:d, d] = self.f(xt, lam)
        jac[:d, d + 1] = (up - down) / (2 * hl)
        jac[d, :d] = g
        return res, jac, phi

    def newton(self, z, g, ref, extra_row, extra_value, iterations: int = 12, tol: float = 1e-10):
        """Solve R(z) = 0 with ⟨extra_row, z⟩ = extra_value; (z, monodromy) or (None, None)."""
        for _ in range(iterations):
            res, jac, phi = self.residual_and_jacobian(z, g, ref)
            mat = np.vstack([jac, extra_row])
            rhs = np.append(res, extra_row @ z - extra_value)
            if not (np.all(np.isfinite(mat)) and np.all(np.isfinite(rhs))):
                return None, None
            step = np.linalg.lstsq(mat, -rhs, rcond=None)[0]
            z = z + step
            if z[self.d] <= 0:
                return None, None
            if np.linalg.norm(step) < tol * (1 + np.linalg.norm(z)):
                _, _, phi = self.residual_and_jacobian(z, g, ref)
                return z, phi
        return None, None


def cycles_from_hopf(source, param: str, hopf: SpecialPoint, *, range: tuple | None = None,
                     amplitude: float = 1e-2, ds: float = 0.05, max_points: int = 60, steps: int = 300,
                     **params) -> CycleBranch:
    """The branch of periodic orbits born at ``hopf`` (a :class:`SpecialPoint` of kind "hopf").

    ``amplitude``: the first cycle's distance from the equilibrium along Re v; ``ds``: the
    arclength step in (x₀, T, λ); ``steps``: RK4 steps per period; ``range``: stop when the
    parameter leaves it.
    """
    if hopf.kind != "hopf":
        raise ValueError(f"cycles_from_hopf needs a Hopf point, not a {hopf.kind}")
    vf = vector_field(source, **params)
    shoot = _Shooting(vf, param, steps)
    d = vf.dim
    xs = np.asarray(hopf.state, dtype=np.float64)
    jac = vf.jacobian(torch.as_tensor(xs)[None], shoot.p(hopf.param))[0].detach().numpy()
    eig, vecs = np.linalg.eig(jac)
    k = int(np.argmin(np.abs(eig - 1j * hopf.frequency)))
    u = vecs[:, k].real / np.linalg.norm(vecs[:, k].real)
    w = vecs[:, k].imag - (vecs[:, k].imag @ u) * u
    w = w / np.linalg.norm(w)
    period0 = 2 * math.pi / hopf.frequency
    lo, hi = (-math.inf, math.inf) if range is None else (min(range), max(range))
    sols = []
    for eps in (amplitude, 2 * amplitude):
        z0 = np.concatenate([xs + eps * u, [period0, hopf.param]])
        row = np.concatenate([u, [0.0, 0.0]])
        z, phi = shoot.newton(z0 if not sols else sols[-1][0] + (z0 - sols[-1][0]), w, xs, row, u @ xs + eps)
        if z is None:
            raise ValueError(f"{vf.name}: no cycle of amplitude {eps:g} found near the Hopf point at "
                             f"{param} = {hopf.param:g}; try a smaller amplitude or more steps")
        sols.append((z, phi))
    return _continue(shoot, sols, lo, hi, ds, max_points)


def _continue(shoot: "_Shooting", sols: list, lo: float, hi: float, ds: float, max_points: int) -> CycleBranch:
    """Pseudo-arclength continuation from the two cycles ``sols`` [(z, monodromy)], then the branch
    with its multipliers, amplitudes and special points."""
    d = shoot.d
    while len(sols) < max_points:
        (za, _), (zb, _) = sols[-2], sols[-1]
        tangent = (zb - za) / np.linalg.norm(zb - za)
        h = ds
        z = None
        while h > 1e-5:
            pred = zb + h * tangent
            g = shoot.f(zb[:d], zb[d + 1])
            z, phi = shoot.newton(pred, g / np.linalg.norm(g), zb[:d], tangent, tangent @ pred)
            if z is not None:
                break
            h /= 2
        if z is None:
            break
        sols.append((z, phi))
        if not lo <= z[d + 1] <= hi:
            break
    zs = np.array([s[0] for s in sols])
    mults = []
    amps = []
    for z, phi in sols:
        mults.append(_sorted_multipliers(phi))
        _, _, path = shoot.flow(z[:d], z[d], z[d + 1], monodromy=False)
        amps.append(path[:, 0].max(0) - path[:, 0].min(0))
    mults = np.array(mults)
    branch = CycleBranch(shoot.name, zs[:, d + 1].copy(), zs[:, :d].copy(), zs[:, d].copy(), np.array(amps),
                         mults, tuple(shoot.vf.labels))
    branch.points = _cycle_points(branch, shoot)
    return branch


def _sorted_multipliers(phi: np.ndarray) -> np.ndarray:
    mu = np.linalg.eigvals(phi)
    return mu[np.argsort(np.abs(mu - 1.0))]


def cycles_from_orbit(source, param: str, *, start=None, variable=0, transient: float = 200.0,
                      range: tuple | None = None, direction: int = 1, ds: float = 0.05, max_points: int = 60,
                      steps: int = 300, dt: float = 0.01, **params) -> CycleBranch:
    """The branch of periodic orbits through the attracting cycle the orbit from ``start`` reaches.

    The orbit is integrated for ``transient`` (RK4, step ``dt``) at the current parameter values;
    the cycle's period is the time between the last two upward crossings of ``variable``
    through its mean (a Poincaré section), and shooting at fixed ``param`` corrects it. The
    branch is then continued like :func:`cycles_from_hopf`, towards larger ``param`` for
    ``direction`` = +1 (smaller for −1), until it leaves ``range``. This is how a period
    doubling (Rössler's first at c ≈ 2.83 for a = b = 0.2) or a fold of cycles is reached
    without a Hopf point on the way.
    """
    vf = vector_field(source, **params)
    shoot = _Shooting(vf, param, steps)
    d = vf.dim
    k = vf.index(variable)
    lam = float(vf.params[param])
    x = torch.as_tensor(vf.start if start is None else np.asarray(start, np.float64), dtype=torch.float64)[None]
    n = int(math.ceil(transient / dt))
    path = np.empty((n + 1, d))
    path[0] = x[0].numpy()
    p = shoot.p(lam)
    with torch.no_grad():
        for s in builtins_range(n):
            k1 = vf.f(x, p)
            k2 = vf.f(x + 0.5 * dt * k1, p)
            k3 = vf.f(x + 0.5 * dt * k2, p)
            k4 = vf.f(x + dt * k3, p)
            x = x + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
            path[s + 1] = x[0].numpy()
    if not np.isfinite(path).all():
        raise ValueError(f"{vf.name}: the orbit diverged at {param} = {lam:g}; give another start")
    tail = path[n // 2:]
    level = tail[:, k].mean()
    v = tail[:, k] - level
    up = np.nonzero((v[:-1] < 0) & (v[1:] >= 0))[0]
    if up.size < 3:
        raise ValueError(f"{vf.name}: the orbit from the start does not cycle in {vf.labels[k]} at {param} = "
                         f"{lam:g} (fewer than 3 section crossings after the transient); no cycle to continue")
    # crossing times by linear interpolation; the last one is the cycle's point
    times = (up + v[up] / (v[up] - v[up + 1])) * dt
    period = float(times[-1] - times[-2])
    x0 = tail[up[-1] + 1]
    g = shoot.f(x0, lam)
    g = g / np.linalg.norm(g)
    fix = np.zeros(d + 2)
    fix[d + 1] = 1.0
    z, phi = shoot.newton(np.concatenate([x0, [period, lam]]), g, x0, fix, lam, iterations=20)
    if z is None:
        raise ValueError(f"{vf.name}: shooting did not converge on the cycle at {param} = {lam:g} (period "
                         f"≈ {period:.4g}); a longer transient or more steps may help")
    # the second point: a small step in the parameter, in the chosen direction
    step = float(np.sign(direction) or 1.0) * ds
    g2 = shoot.f(z[:d], lam)
    z2, phi2 = shoot.newton(z + step * fix, g2 / np.linalg.norm(g2), z[:d], fix, lam + step)
    if z2 is None:
        raise ValueError(f"{vf.name}: the cycle at {param} = {lam:g} could not be followed to {lam + step:g}; "
                         f"try a smaller ds")
    lo, hi = (-math.inf, math.inf) if range is None else (min(range), max(range))
    return _continue(shoot, [(z, phi), (z2, phi2)], lo, hi, ds, max_points)


def _tests(mults: np.ndarray) -> dict:
    """Test functions that change sign at a period doubling (a multiplier through −1) and at a fold
    of cycles (a second one through +1): products over the non-trivial multipliers."""
    rest = mults[..., 1:]
    return {"period_doubling": np.prod(rest + 1.0, axis=-1).real, "cycle_fold": np.prod(rest - 1.0, axis=-1).real}


def _cycle_points(b: CycleBranch, shoot: "_Shooting | None" = None) -> list:
    """Period doublings and folds of cycles: sign changes of the test functions between neighbouring
    cycles, located by the secant method on cycles solved at fixed parameter (when ``shoot`` is given;
    to the shooting's accuracy), else by linear interpolation."""
    out = []
    if b.multipliers.shape[1] < 2:
        return out
    for kind, test in _tests(b.multipliers).items():
        for i in np.nonzero(test[:-1] * test[1:] < 0)[0]:
            s = test[i] / (test[i] - test[i + 1])
            where = float(b.params[i] + s * (b.params[i + 1] - b.params[i]))
            if shoot is not None and kind == "period_doubling":  # a fold turns the branch: not at fixed λ
                where = _locate(shoot, kind, b, i, where)
            out.append((kind, where))
    return out


def _locate(shoot: "_Shooting", kind: str, b: CycleBranch, i: int, guess: float, iterations: int = 12) -> float:
    """The parameter where ``kind``'s test function vanishes between cycles i and i + 1: secant
    iterations, each on the cycle solved at that parameter (Newton at fixed λ from the nearer cycle)."""
    d = shoot.d
    fix = np.zeros(d + 2)
    fix[d + 1] = 1.0

    def at(lam: float):
        near = i if abs(lam - b.params[i]) <= abs(lam - b.params[i + 1]) else i + 1
        z0 = np.concatenate([b.states[near], [b.periods[near], lam]])
        g = shoot.f(b.states[near], b.params[near])
        z, phi = shoot.newton(z0, g / np.linalg.norm(g), b.states[near], fix, lam)
        return None if z is None else float(_tests(_sorted_multipliers(phi))[kind])

    la, lb = float(b.params[i]), float(b.params[i + 1])
    fa, fb = at(la), at(lb)
    if fa is None or fb is None or fa * fb > 0:
        return guess
    for _ in range(iterations):  # regula falsi (Illinois): stays bracketed
        lam = lb - fb * (lb - la) / (fb - fa)
        fl = at(lam)
        if fl is None:
            return guess
        if abs(lb - la) < 1e-9 * max(1.0, abs(lam)) or fl == 0:
            return lam
        if fl * fb < 0:
            la, fa = lb, fb
        else:
            fa *= 0.5
        lb, fb = lam, fl
    return float(lb)
