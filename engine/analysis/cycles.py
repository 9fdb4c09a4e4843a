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

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from attractor_lab.engine.analysis.equilibria import SpecialPoint
from attractor_lab.engine.analysis.fields import vector_field


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
        mu = np.linalg.eigvals(phi)
        mults.append(mu[np.argsort(np.abs(mu - 1.0))])
        _, _, path = shoot.flow(z[:d], z[d], z[d + 1], monodromy=False)
        amps.append(path[:, 0].max(0) - path[:, 0].min(0))
    mults = np.array(mults)
    branch = CycleBranch(param, zs[:, d + 1].copy(), zs[:, :d].copy(), zs[:, d].copy(), np.array(amps), mults,
                         tuple(vf.labels))
    branch.points = _cycle_points(branch)
    return branch


def _cycle_points(b: CycleBranch) -> list:
    """Period doublings (a multiplier through −1) and folds of cycles (one through +1), interpolated."""
    out = []
    if b.multipliers.shape[1] < 2:
        return out
    rest = b.multipliers[:, 1:]
    pd = np.prod(rest + 1.0, axis=1).real
    fold = np.prod(rest - 1.0, axis=1).real
    for kind, test in (("period_doubling", pd), ("cycle_fold", fold)):
        for i in np.nonzero(test[:-1] * test[1:] < 0)[0]:
            s = test[i] / (test[i] - test[i + 1])
            out.append((kind, float(b.params[i] + s * (b.params[i + 1] - b.params[i]))))
    return out
