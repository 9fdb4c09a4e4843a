"""A live, resumable torchdiffeq integration with the solver's own statistics.

``torchdiffeq.odeint`` integrates to a list of output times in one call. A live
view needs the same integration one output time after another, for as long
as the user watches, with the step statistics of *one* continuing solve
(restarting at every frame would re-select the first step each time and
count two extra evaluations per frame). :class:`LiveSolver` therefore drives
torchdiffeq's own solver objects (``torchdiffeq._impl.odeint.SOLVERS``,
pinned to torchdiffeq 0.2.5): ``_before_integrate`` once, then
``_adaptive_step`` until the next output time, and the solver's dense-output
polynomial to evaluate the state in between. The numbers it reports are the
method's own: for dopri5, NFE = 2 + 6 × (accepted + rejected) per solve (two
evaluations select the first step; FSAL makes every later step cost six).

Beside the state it carries:

* an optional tangent vector per trajectory (dδ/dt = J(x) δ, a
  ``torch.func.jvp`` in the same evaluation) for Benettin's largest Lyapunov
  exponent; the tangent is inside the error control, so its growth is as
  accurate as the trajectory;
* upward crossings of a Poincaré section, located on the dense-output
  polynomial by bisection (periods to ~1e-10 of a step), with the last
  :data:`CROSSINGS_KEPT` crossing times and points, from which
  :meth:`LiveSolver.periodic` decides whether the orbit is periodic (it
  returns to the same point of the section) and with which period;
* tails sampled on a uniform time grid from the same polynomial, and the
  recent accepted step sizes.
"""

from __future__ import annotations

import math
from collections import deque

import torch
from torchdiffeq._impl.odeint import SOLVERS

ADAPTIVE_METHODS = ("dopri5", "dopri8", "bosh3", "adaptive_heun")
FIXED_METHODS = ("rk4", "euler")
METHODS = ADAPTIVE_METHODS + FIXED_METHODS
#: evaluations per fixed step (torchdiffeq's rk4 is the 3/8 rule: four stages)
FIXED_STAGES = {"rk4": 4, "euler": 1}
#: section crossings (times, points, lap extents) kept per trajectory for the periodicity test
CROSSINGS_KEPT = 8
#: a periodic orbit returns to its section point within this fraction of the orbit's extent
PERIOD_RTOL = 1e-3
#: an output interval that needs more steps than this is refused (stiff or blowing up)
MAX_STEPS_PER_ADVANCE = 200_000


class SolverFailed(RuntimeError):
    """The integration cannot go on (non-finite state, step size underflow, too many steps)."""


class _Field:
    """The vector field as torchdiffeq's solvers call it: ``f(t, y, perturb=...)``
    plus the step callbacks; counts every evaluation."""

    def __init__(self, f, dim: int, tangent: bool, jacobian=None):
        self.f = f
        self.jacobian = jacobian
        self.dim = dim
        self.tangent = tangent
        self.nfe = 0
        self.accepted = 0
        self.rejected = 0
        self.last_step = float("nan")

    def __call__(self, t, y, perturb=None):
        self.nfe += 1
        if not self.tangent:
            return self.f(t, y)
        d = self.dim
        x, v = y[..., :d], y[..., d:]
        if self.jacobian is not None:
            jv = (self.jacobian(t, x) @ v[..., None])[..., 0]
            return torch.cat([self.f(t, x), jv], dim=-1)
        fx, jv = torch.func.jvp(lambda z: self.f(t, z), (x,), (v,))
        return torch.cat([fx, jv], dim=-1)

    def callback_step(self, t0, y0, dt):
        pass

    def callback_accept_step(self, t0, y0, dt):
        self.accepted += 1
        self.last_step = float(dt)

    def callback_reject_step(self, t0, y0, dt):
        self.rejected += 1


def _poly(coeffs, x):
    """Evaluate torchdiffeq's interpolant Σ_k c_k x^k; ``x`` broadcasts against the coefficients."""
    total = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        total = total * x + c
    return total


class LiveSolver:
    """Integrate a batch ``x`` of shape (B, d) of dx/dt = f(t, x) one output time after another.

    Parameters
    ----------
    f : callable
        ``f(t, x)`` for x of shape (B, d); differentiable by ``torch.func.jvp`` when ``tangent``.
    x0 : torch.Tensor
        (B, d) initial states; their dtype and device are the integration's.
    t0 : float
        Initial time.
    method : str
        One of :data:`METHODS`.
    rtol, atol : float
        Tolerances of the adaptive methods (changeable while running).
    fixed_step : float
        Step size of the fixed-step methods (shortened to divide each output interval).
    tangent : torch.Tensor or None
        (B, d) initial tangent vectors for the Lyapunov exponent, or None.
    jacobian : callable or None
        ``jacobian(t, x)`` → (B, d, d) for the tangent; ``torch.func.jvp`` of ``f`` when None.
    section : callable or None
        ``section(x)`` → (B,); its upward zero crossings are recorded.
    sample_dt : float
        Spacing of the tail samples.
    tail : int
        Tail samples kept per trajectory.
    """

    def __init__(self, f, x0, t0, method="dopri5", rtol=1e-6, atol=1e-8, fixed_step=0.01, tangent=None,
                 jacobian=None, section=None, sample_dt=0.01, tail=2000, step_history=4000):
        if method not in METHODS:
            raise ValueError(f"solver {method!r} is not available; choose one of {', '.join(METHODS)}")
        self.method = method
        self.dim = x0.shape[-1]
        self.batch = x0.shape[0]
        self.section = section
        self.fixed_step = float(fixed_step)
        self.sample_dt = float(sample_dt)
        self.func = _Field(f, self.dim, tangent is not None, jacobian)
        y0 = x0 if tangent is None else torch.cat([x0, tangent], dim=-1)
        self.t = float(t0)
        self.y = y0.clone()
        self.log_growth = torch.zeros(self.batch, dtype=torch.float64, device=x0.device)
        self.lyap_t0 = torch.full((self.batch,), float(t0), dtype=torch.float64, device=x0.device)
        self._lyap_t = float(t0)  # time of the last renormalisation
        self.last_crossing = torch.full((self.batch,), float("nan"), dtype=torch.float64, device=x0.device)
        #: the latest interval between two crossings (one turn; a period only if the orbit is periodic)
        self.period = torch.full((self.batch,), float("nan"), dtype=torch.float64, device=x0.device)
        k, dev = CROSSINGS_KEPT, x0.device
        # the last crossings, oldest first (NaN where none yet), and each lap's extent (the norm of
        # the per-component range of the tail samples between the crossing before and this one)
        self.cross_t = torch.full((self.batch, k), float("nan"), dtype=torch.float64, device=dev)
        self.cross_p = torch.full((self.batch, k, self.dim), float("nan"), dtype=torch.float64, device=dev)
        self.cross_extent = torch.full((self.batch, k), float("nan"), dtype=torch.float64, device=dev)
        self.crossings = torch.zeros(self.batch, dtype=torch.int64, device=dev)
        self._lap_lo = x0.detach().to(torch.float64).clone()
        self._lap_hi = x0.detach().to(torch.float64).clone()
        self.steps = deque(maxlen=step_history)  # (t, h) of accepted steps
        self._tail = torch.full((tail, self.batch, self.dim), float("nan"), dtype=x0.dtype, device=x0.device)
        self._tail_n = 0
        self._next_sample = float(t0)
        self._record_sample(torch.tensor([float(t0)], dtype=torch.float64), x0[None])
        if method in ADAPTIVE_METHODS:
            self.solver = SOLVERS[method](func=self.func, y0=y0, rtol=rtol, atol=atol, norm=self._norm)
            self.solver._before_integrate(torch.tensor([float(t0)], dtype=torch.float64, device=x0.device))
            self._check(self.solver.rk_state.y1)
        else:
            self.solver = SOLVERS[method](func=self.func, y0=y0, step_size=self.fixed_step, atol=atol)

    # ---- settings --------------------------------------------------------------
    def set_tolerances(self, rtol: float, atol: float) -> None:
        if self.method in ADAPTIVE_METHODS:
            self.solver.rtol = torch.as_tensor(rtol, dtype=self.solver.dtype, device=self.y.device)
            self.solver.atol = torch.as_tensor(atol, dtype=self.solver.dtype, device=self.y.device)

    def _norm(self, ratio):
        """Error norm: the RMS over each trajectory's components (state, and the
        tangent as a separate group), the worst trajectory deciding — adding
        trajectories never loosens any one's accuracy."""
        d = self.dim
        rms = ratio[..., :d].pow(2).mean(-1).sqrt()
        if ratio.shape[-1] > d:
            rms = torch.maximum(rms, ratio[..., d:].pow(2).mean(-1).sqrt())
        return rms.amax()

    # ---- stepping --------------------------------------------------------------
    @property
    def state(self) -> torch.Tensor:
        """(B, d) states at the current output time."""
        return self.y[..., : self.dim]

    @property
    def tangent(self) -> torch.Tensor | None:
        return self.y[..., self.dim:] if self.func.tangent else None

    def advance(self, t_next: float) -> torch.Tensor:
        """Integrate to ``t_next`` (> current time); returns the (B, d) states there."""
        if t_next <= self.t:
            return self.state
        if self.method in ADAPTIVE_METHODS:
            self._advance_adaptive(t_next)
        else:
            self._advance_fixed(t_next)
        self.t = float(t_next)
        if self.func.tangent:
            self._renormalise()
        return self.state

    def _advance_adaptive(self, t_next: float) -> None:
        s = self.solver
        target = torch.tensor(t_next, dtype=s.dtype, device=self.y.device)
        self._sample_step(s.rk_state, t_next)  # what is left of the last step before this output time
        n = 0
        while target > s.rk_state.t1:
            before = s.rk_state.t1
            try:
                s.rk_state = s._adaptive_step(s.rk_state)
            except AssertionError as exc:  # torchdiffeq asserts finite states and dt > 0
                raise SolverFailed(str(exc).split(":")[0]) from None
            if s.rk_state.t1 > before:
                self._check(s.rk_state.y1)
                self._accepted(s.rk_state, t_next)
            n += 1
            if n > MAX_STEPS_PER_ADVANCE:
                raise SolverFailed(f"more than {MAX_STEPS_PER_ADVANCE} steps for one output interval "
                                   f"(step size {float(s.rk_state.dt):.3g}): the system is stiff or blowing up")
        r = s.rk_state
        x = ((target - r.t0) / (r.t1 - r.t0)).to(self.y.dtype)
        self.y = _poly(r.interp_coeff, x)

    def _accepted(self, r, t_next: float) -> None:
        t0, t1 = float(r.t0), float(r.t1)
        self.steps.append((t1, t1 - t0))
        self._sample_step(r, t_next)
        if self.section is not None:
            coeffs = [c[..., : self.dim] for c in r.interp_coeff]
            at_rows = lambda rows, th: _poly([c[rows] for c in coeffs], th[:, None].to(coeffs[0].dtype))  # noqa: E731
            self._crossings(t0, t1, coeffs[0], r.y1[..., : self.dim], at_rows)

    def _sample_step(self, r, t_next: float) -> None:
        """Tail samples from the step ``r``'s interpolant, up to the output time (never ahead of it)."""
        t0, t1 = float(r.t0), float(r.t1)
        if t1 <= t0:
            return
        coeffs = [c[..., : self.dim] for c in r.interp_coeff]
        self._sample(t0, t1, lambda xs: _poly(coeffs, xs[:, None, None].to(coeffs[0].dtype)), min(t1, t_next))

    def _advance_fixed(self, t_next: float) -> None:
        span = t_next - self.t
        n = max(1, math.ceil(span / self.fixed_step - 1e-9))
        if n > MAX_STEPS_PER_ADVANCE:
            raise SolverFailed(f"{n} fixed steps of {self.fixed_step:g} for one output interval; raise the step")
        h = span / n
        hh = torch.tensor(h, dtype=self.y.dtype, device=self.y.device)
        for k in range(n):
            t0, t1 = self.t + k * h, self.t + (k + 1) * h
            tt0 = torch.tensor(t0, dtype=self.y.dtype, device=self.y.device)
            tt1 = torch.tensor(t1, dtype=self.y.dtype, device=self.y.device)
            dy, _ = self.solver._step_func(self.func, tt0, hh, tt1, self.y)
            y0, self.y = self.y, self.y + dy
            self._check(self.y)
            self.func.accepted += 1
            self.func.last_step = h
            self.steps.append((t1, h))
            a, b = y0[..., : self.dim], self.y[..., : self.dim]
            # between fixed steps the path is known only at the ends: linear interpolation
            self._sample(t0, t1, lambda xs, a=a, b=b: a + (b - a) * xs[:, None, None].to(a.dtype))
            if self.section is not None:
                self._crossings(t0, t1, a, b,
                                lambda rows, th, a=a, b=b: a[rows] + (b - a)[rows] * th[:, None].to(a.dtype))

    def _check(self, y) -> None:
        if not bool(torch.isfinite(y.sum())):
            raise SolverFailed("the state is no longer finite")

    # ---- what is measured along the way --------------------------------------------
    def _sample(self, t0: float, t1: float, at, until: float | None = None) -> None:
        """Tail samples at the grid times in (t0, until], ``until`` ≤ t1 (default t1),
        evaluated by ``at(x)`` with x = (t − t0)/(t1 − t0)."""
        until = t1 if until is None else until
        if self._next_sample > until:
            return
        count = int((until - self._next_sample) // self.sample_dt) + 1
        times = self._next_sample + self.sample_dt * torch.arange(count, dtype=torch.float64)
        self._next_sample = float(times[-1]) + self.sample_dt
        xs = ((times - t0) / (t1 - t0)).to(self.y.device)
        self._record_sample(times, at(xs))

    def _record_sample(self, times, values) -> None:
        cap = self._tail.shape[0]
        values = values[-cap:]
        idx = (self._tail_n + torch.arange(values.shape[0])) % cap
        self._tail[idx.to(self._tail.device)] = values.to(self._tail.dtype)
        self._tail_n += values.shape[0]
        v = values.to(torch.float64)
        self._lap_lo = torch.minimum(self._lap_lo, v.amin(0))
        self._lap_hi = torch.maximum(self._lap_hi, v.amax(0))

    def tails(self) -> torch.Tensor:
        """(B, T, d) recent samples, oldest first, NaN where none yet."""
        cap = self._tail.shape[0]
        if self._tail_n < cap:
            ordered = self._tail
        else:
            start = self._tail_n % cap
            ordered = torch.cat([self._tail[start:], self._tail[:start]])
        return ordered.transpose(0, 1)

    def _crossings(self, t0, t1, x0, x1, at_rows) -> None:
        """Upward zero crossings of the section within the step, located on the
        interpolant ``at_rows(rows, θ)`` (θ ∈ [0, 1] per row) by the Illinois
        method (regula falsi that halves a stale end's value: superlinear)."""
        s0, s1 = self.section(x0), self.section(x1)
        hit = (s0 < 0) & (s1 >= 0)
        if not bool(hit.any()):
            return
        rows = hit.nonzero().squeeze(-1)
        f = lambda th: self.section(at_rows(rows, th)).to(torch.float64)  # noqa: E731
        a = torch.zeros(rows.shape[0], dtype=torch.float64, device=x0.device)
        b = torch.ones_like(a)
        fa, fb = s0[rows].to(torch.float64), s1[rows].to(torch.float64)
        last = torch.zeros_like(a)  # +1: the last step moved a, -1: it moved b
        for _ in range(14):
            width = fb - fa
            c = torch.where(width > 0, (a * fb - b * fa) / width.clamp(min=1e-300), 0.5 * (a + b)).clamp(0.0, 1.0)
            fc = f(c)
            left = fc < 0  # the root lies in (c, b]
            fb = torch.where(left & (last > 0), 0.5 * fb, fb)  # b kept twice in a row: halve its value
            fa = torch.where(~left & (last < 0), 0.5 * fa, fa)
            a, fa = torch.where(left, c, a), torch.where(left, fc, fa)
            b, fb = torch.where(left, b, c), torch.where(left, fb, fc)
            last = torch.where(left, torch.ones_like(last), -torch.ones_like(last))
            if float((b - a).max()) < 1e-12 or bool((fc == 0).all()):
                break
        theta = torch.where(fa.abs() < fb.abs(), a, b)
        tc = t0 + theta * (t1 - t0)
        prev = self.last_crossing[rows]
        self.period[rows] = torch.where(torch.isnan(prev), self.period[rows], tc - prev)
        self.last_crossing[rows] = tc
        point = at_rows(rows, theta).to(torch.float64)
        extent = (self._lap_hi[rows] - self._lap_lo[rows]).norm(dim=-1)
        self.cross_t[rows] = torch.cat([self.cross_t[rows, 1:], tc[:, None]], dim=1)
        self.cross_p[rows] = torch.cat([self.cross_p[rows, 1:], point[:, None]], dim=1)
        self.cross_extent[rows] = torch.cat([self.cross_extent[rows, 1:], extent[:, None]], dim=1)
        self.crossings[rows] += 1
        self._lap_lo[rows] = point
        self._lap_hi[rows] = point

    def periodic(self, row: int = 0, rtol: float = PERIOD_RTOL, drive_period: float | None = None,
                 max_lag: int = 4, angles: tuple[int, ...] = ()) -> float:
        """The period of trajectory ``row`` if its orbit is periodic, else NaN.

        The test is the Poincaré return map's: a periodic orbit comes back to the
        point of the section it crossed k crossings before (k = 1 for a simple
        cycle, k > 1 after period doublings). For the smallest lag k ≤ ``max_lag``
        at which the latest crossing point and (when recorded) the one before it
        each lie within ``rtol`` × the orbit's extent over those laps of the point
        k crossings earlier, the period is the time between them. A forced system
        (``drive_period``) must also come back at the same phase of the drive;
        components listed in ``angles`` are compared modulo 2π (a pendulum's rotation).
        Chaotic orbits, quasi-periodic ones and transients still converging (a
        decaying spiral) never pass; the lap before the first crossing (from the
        start) never sets the scale.
        """
        n = int(self.crossings[row])
        kept = self.cross_t.shape[1]
        t, p, ext = self.cross_t[row], self.cross_p[row], self.cross_extent[row]
        for k in range(1, max_lag + 1):
            pairs = [(kept - 1 - j, kept - 1 - j - k) for j in (0, 1) if kept - 1 - j - k >= max(0, kept - n)]
            if not pairs:
                break
            ok = True
            for a, b in pairs:
                scale = float(ext[b + 1: a + 1].max())
                diff = p[a] - p[b]
                if angles:
                    idx = list(angles)
                    diff[idx] = torch.remainder(diff[idx] + math.pi, 2.0 * math.pi) - math.pi
                dist = float(diff.norm())
                if not (math.isfinite(scale) and scale > 0 and dist <= rtol * scale):
                    ok = False
                    break
                if drive_period:
                    turns = float(t[a] - t[b]) / drive_period
                    if round(turns) < 1 or abs(turns - round(turns)) > rtol * max(1.0, turns):
                        ok = False
                        break
            if ok:
                return float(t[kept - 1] - t[kept - 1 - k])
        return float("nan")

    def _renormalise(self) -> None:
        """Benettin: rescale each tangent to unit length at the solver's internal
        time and add the log of the growth. The tangent equation is linear, so
        scaling the tangent part of the solver's state, slope and interpolant
        is exact."""
        d = self.dim
        if self.method in ADAPTIVE_METHODS:
            r = self.solver.rk_state
            norm = r.y1[..., d:].norm(dim=-1)
            scale = self._scale(norm)
            self.solver.rk_state = r._replace(
                y1=_scaled(r.y1, d, scale), f1=_scaled(r.f1, d, scale),
                interp_coeff=[_scaled(c, d, scale) for c in r.interp_coeff])
            self.y = _scaled(self.y, d, scale)
            self._lyap_t = float(r.t1)
        else:
            norm = self.y[..., d:].norm(dim=-1)
            self.y = _scaled(self.y, d, self._scale(norm))
            self._lyap_t = self.t

    def _scale(self, norm):
        if not bool(torch.isfinite(norm).all()) or bool((norm <= 0).any()):
            raise SolverFailed("the tangent vector for the Lyapunov exponent stopped being finite")
        self.log_growth += norm.to(torch.float64).log()
        return 1.0 / norm

    def lyapunov(self) -> torch.Tensor:
        """(B,) running largest Lyapunov exponents (NaN without a tangent or before any time)."""
        span = self._lyap_t - self.lyap_t0
        if not self.func.tangent:
            return torch.full((self.batch,), float("nan"), dtype=torch.float64)
        return torch.where(span > 0, self.log_growth / span.clamp(min=1e-300), torch.nan)

    def restart_lyapunov(self) -> None:
        """Start the running averages again from now (after a parameter change)."""
        self.log_growth.zero_()
        self.lyap_t0.fill_(self._lyap_t)

    def carry_over(self, old: "LiveSolver", rows) -> None:
        """Take ``old``'s histories (tails, step sizes, sections, Lyapunov sums) for its
        trajectories ``rows``, which are this solver's first ``len(rows)`` ones; the
        rest (newly launched) start their histories now."""
        n = len(rows)
        idx = torch.as_tensor(rows, dtype=torch.long, device=self.y.device)
        self.steps.extend(old.steps)
        self.log_growth[:n] = old.log_growth[idx]
        self.lyap_t0[:n] = old.lyap_t0[idx]
        self._lyap_t = old._lyap_t
        self.last_crossing[:n] = old.last_crossing[idx]
        self.period[:n] = old.period[idx]
        self.cross_t[:n] = old.cross_t[idx]
        self.cross_p[:n] = old.cross_p[idx]
        self.cross_extent[:n] = old.cross_extent[idx]
        self.crossings[:n] = old.crossings[idx]
        self._lap_lo[:n] = old._lap_lo[idx]
        self._lap_hi[:n] = old._lap_hi[idx]
        cap = self._tail.shape[0]
        m = min(old._tail_n, cap)
        tail = torch.full_like(self._tail, float("nan"))
        tail[:m, :n] = old.tails()[idx, :m].transpose(0, 1).to(tail.dtype)
        tail[max(m - 1, 0), n:] = self.state[n:].to(tail.dtype)
        self._tail, self._tail_n = tail, m
        self._next_sample = old._next_sample


def _scaled(y, d, scale):
    return torch.cat([y[..., :d], y[..., d:] * scale[..., None].to(y.dtype)], dim=-1)
