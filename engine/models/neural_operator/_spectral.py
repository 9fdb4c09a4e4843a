"""Batched pseudo-spectral solvers: 1D viscous Burgers and 2D Navier–Stokes.

The functional core of the ``burgers`` and ``navier_stokes`` models, written
for data generation as much as for the live view: every function takes a batch
on any device and dtype, and all randomness comes from a ``torch.Generator``.

Public API
----------
``burgers_solve(u0, viscosity, t_end, *, dt=None, length=2π, snapshots=None)``
    ``u0`` (B, n) → u(t_end) (B, n), or (B, snapshots, n) at
    ``t_end·j/snapshots``, j = 1..snapshots.
``navier_stokes_solve(w0, viscosity, t_end, *, forcing=1.0, dt=None, snapshots=None)``
    ``w0`` (B, n, n) → w(t_end) (B, n, n), or (B, snapshots, n, n).
``burgers_grf(batch, n, ...)``, ``navier_stokes_grf(batch, n, ...)``
    seeded Gaussian-random-field initial conditions (Li et al.'s covariances).
``li_forcing(n, ...)``
    0.1·(sin 2π(x+y) + cos 2π(x+y)) on the unit square.
:class:`BurgersSolver`, :class:`NavierStokesSolver`
    the steppers on a spectral state (what the live models hold), with the
    diagnostics (energy, spectra, CFL number).

``viscosity`` (and the forcing amplitude) may be a float or a (B,) tensor, one
value per sample.

Equations and conventions
-------------------------
Burgers: u_t + (u²/2)_x = ν u_xx, periodic on [0, length), x_j = j·length/n.
Navier–Stokes (Li et al. 2021): w_t + u·∇w = ν Δw + f on the periodic unit
square, u = (ψ_y, −ψ_x), −Δψ = w. Arrays are indexed ``w[..., i, j] =
w(x_i, y_j)``, x_i = i/n (Li et al.'s layout: x along the rows).

Scheme
------
Fourier pseudo-spectral in space with the 2/3 rule: modes with 3|m| ≥ n (per
axis) are removed from the fields entering the product and from the product,
so the quadratic term is exact for the retained band and energy (Burgers,
NS) and enstrophy (NS) are conserved by the nonlinear term. The state is kept
in Fourier space. Time: ETDRK4 (Cox & Matthews 2002); the diagonal linear part
L = −ν|k|² is integrated exactly, its φ-function coefficients are computed by
the contour integral of Kassam & Trefethen (2005) (32 points on a unit circle
around each dt·L, in float64, then cast), so there is no viscous step limit.
The nonlinear term, in conservative form (Burgers −½∂ₓ(u²); NS −∂ₓ(uw) −
∂_y(vw), equal to −u·∇w since ∇·u = 0 holds exactly in Fourier space), has
no k = 0 component: the mean of u and of w are conserved to round-off.

Time step rule
--------------
The advective CFL number is C = dt · k_c · max(|u| + |v|), with k_c the largest
retained angular wavenumber (2π/length · ⌊(n−1)/3⌋): it bounds |λ·dt| for the
advection eigenvalues of the retained band. RK4-type schemes are stable on the
imaginary axis up to |λ·dt| = 2√2. With ``dt=None`` the solvers take the
largest step dt = interval/m (m an integer, so every snapshot time is reached
exactly) with C ≤ ``CFL_TARGET`` = 1; Navier–Stokes re-checks C every
``CHECK_EVERY`` steps and halves dt when the flow has sped up past
``CFL_LIMIT`` (Burgers obeys a maximum principle: max|u| never grows, so its
first step holds for the run). A given ``dt`` above ``CFL_LIMIT`` is refused
with a ``ValueError``; a state that stops being finite raises
``SimulationDiverged`` naming dt. (The live models take powers of two
instead, see :mod:`._live`.)

For comparison, Li et al.'s data generator (``navier_stokes_2d``) advances
the viscous term by Crank–Nicolson and the nonlinear term and the forcing by
one explicit Euler evaluation per step, at dt = 10⁻⁴: first order in time.
At their ν = 10⁻³ on 64² the CFL step here is ~1/64, and the result at t = 1
is ~10⁻¹⁰ from a fine reference where theirs is ~10⁻⁶ (``benchmarks/``).

Cost notes: a per-sample viscosity stores the six coefficient arrays per
sample ((B, n, n//2+1) complex each in 2D); group samples by ν for large
batches. Everything runs where the inputs live (``w0.device``): pass CUDA
tensors (and a CUDA generator for the draws) to generate data on a GPU.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch

from attractor_lab.engine.models.base import SimulationDiverged

TWO_PI = 2.0 * math.pi
DTYPES = {"float32": torch.float32, "float64": torch.float64}
COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}
#: points on the Kassam–Trefethen contour (upper half of a unit circle; the
#: lower half is its mirror image for real dt·L)
CONTOUR_POINTS = 32
#: automatic steps keep C = dt·k_c·max speed at or below this
CFL_TARGET = 1.0
#: fixed steps above this are refused; automatic ones are halved above it.
#: Measured: inviscid Burgers (n = 256, a wave riding on a mean flow) runs at
#: C = 2.9 and blows up at 3.0 (RK4's bound 2√2 ≈ 2.83 for the cutoff mode);
#: viscosity damps the cutoff modes and moves the onset higher (C > 3.4 seen
#: at ν k_c² dt ≳ 1), and in 2D |u| + |v| over-counts the speed
CFL_LIMIT = 2.0
#: Navier–Stokes checks the CFL number every this many steps
CHECK_EVERY = 32


# ---- shared numerics ----------------------------------------------------------------
def etdrk4_coefficients(z: torch.Tensor, dt: float, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """ETDRK4 coefficients for the diagonal linear operator with ``z = dt·L`` (real, float64).

    Returns complex tensors (``dtype`` is the real dtype of the state) ``E = e^z``,
    ``E2 = e^{z/2}`` and ``Q, f1, f2, f3`` (already multiplied by dt), averaged
    over ``CONTOUR_POINTS`` points of a unit circle around each z (Kassam &
    Trefethen 2005), which removes the cancellation of the textbook formulas
    near z = 0.
    """
    z = z.to(torch.float64)
    acc = {key: torch.zeros(z.shape, dtype=torch.complex128, device=z.device) for key in ("Q", "f1", "f2", "f3")}
    for j in range(CONTOUR_POINTS):
        theta = math.pi * (j + 0.5) / CONTOUR_POINTS
        r = z + complex(math.cos(theta), math.sin(theta))
        er, er2, r3 = torch.exp(r), torch.exp(r / 2), r**3
        acc["Q"] += (er2 - 1.0) / r
        acc["f1"] += (-4.0 - r + er * (4.0 - 3.0 * r + r * r)) / r3
        acc["f2"] += (2.0 + r + er * (r - 2.0)) / r3
        acc["f3"] += (-4.0 - 3.0 * r - r * r + er * (4.0 - r)) / r3
    cdtype = COMPLEX[dtype]
    out = {key: (dt * (val / CONTOUR_POINTS).real).to(cdtype) for key, val in acc.items()}
    out["E"] = torch.exp(z).to(cdtype)
    out["E2"] = torch.exp(z / 2).to(cdtype)
    return out


def etdrk4_step(vh: torch.Tensor, nonlinear, c: dict[str, torch.Tensor]) -> torch.Tensor:
    """One ETDRK4 step (Cox–Matthews) of v̂' = L v̂ + N(v̂) in Fourier space."""
    nv = nonlinear(vh)
    e2v = c["E2"] * vh
    a = e2v + c["Q"] * nv
    na = nonlinear(a)
    b = e2v + c["Q"] * na
    nb = nonlinear(b)
    cc = c["E2"] * a + c["Q"] * (2.0 * nb - nv)
    nc = nonlinear(cc)
    return c["E"] * vh + c["f1"] * nv + 2.0 * c["f2"] * (na + nb) + c["f3"] * nc


def batch_values(value, batch: int, name: str, device, *, allow_zero: bool = True) -> torch.Tensor:
    """A float or a (B,) tensor/array of per-sample values as a float64 (B or 1, 1) column."""
    t = torch.as_tensor(value, dtype=torch.float64).to(device)
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim != 1 or t.shape[0] not in (1, batch):
        raise ValueError(f"{name}: expected a number or a ({batch},) array, one value per sample; "
                         f"got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: values must be finite")
    if bool((t < 0).any()) or (not allow_zero and bool((t == 0).any())):
        raise ValueError(f"{name}: values must be {'>= 0' if allow_zero else '> 0'}")
    return t[:, None]


def _float_state(x, name: str, ndim: int) -> torch.Tensor:
    """``x`` as a floating tensor with a batch axis: shape (B,) + ``ndim`` spatial axes."""
    t = torch.as_tensor(x)
    if not t.is_floating_point():
        t = t.to(torch.float64)
    if t.dtype not in COMPLEX:
        raise ValueError(f"{name}: dtype must be float32 or float64, not {t.dtype}")
    if t.ndim == ndim:
        t = t[None]
    if t.ndim != ndim + 1:
        raise ValueError(f"{name}: expected shape (B, {', '.join(['n'] * ndim)}) or ({', '.join(['n'] * ndim)}), "
                         f"got {tuple(t.shape)}")
    if ndim == 2 and t.shape[-1] != t.shape[-2]:
        raise ValueError(f"{name}: the grid must be square (n, n), got {tuple(t.shape[-2:])}")
    if t.shape[-1] < 4:
        raise ValueError(f"{name}: need at least 4 points per side, got {t.shape[-1]}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: values must be finite (found NaN or inf)")
    return t


def _steps_for(interval: float, dt: float | None, auto_dt: float) -> int:
    """Steps per interval: ceil(interval/dt) for a given dt, else for the CFL-limited one."""
    target = auto_dt if dt is None else dt
    return max(1, math.ceil(interval / target - 1e-9))


class _CoefficientCache:
    """The last few coefficient sets, keyed by (dt, viscosities): a slider move or an
    automatic dt flipping between two levels does not recompute them."""

    def __init__(self, size: int = 6):
        self.size = size
        self._items: OrderedDict = OrderedDict()

    def get(self, key, build):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = build()
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


def _viscosity_key(nu: torch.Tensor) -> tuple:
    return tuple(nu.flatten().tolist()) if nu.numel() <= 64 else (nu.numel(), float(nu.sum()), float((nu**2).sum()))


# ---- Burgers ------------------------------------------------------------------------
class BurgersSolver:
    """ETDRK4 pseudo-spectral stepper for u_t + (u²/2)_x = ν u_xx on a periodic interval.

    The state is the rfft of u, shape (B, n//2 + 1). One instance serves any batch
    size; coefficients are cached per (dt, viscosity).
    """

    def __init__(self, n: int, length: float = TWO_PI, device="cpu", dtype=torch.float64):
        if n < 4:
            raise ValueError(f"grid: need at least 4 points, got {n}")
        if not length > 0:
            raise ValueError(f"length: must be > 0, not {length}")
        self.n, self.length = int(n), float(length)
        self.device, self.dtype, self.cdtype = torch.device(device), dtype, COMPLEX[dtype]
        m = torch.arange(n // 2 + 1, device=self.device, dtype=torch.float64)
        self.k = TWO_PI / self.length * m
        keep = 3 * m < n
        self.k_cut = TWO_PI / self.length * ((n - 1) // 3)
        self.mask = keep.to(self.cdtype)
        self.nl_op = (-0.5j * self.k * keep).to(self.cdtype)
        self.ik = (1j * self.k).to(self.cdtype)
        self._coeffs = _CoefficientCache()

    def coefficients(self, viscosity, dt: float, batch: int = 1) -> dict:
        nu = batch_values(viscosity, batch, "viscosity", self.device)
        key = (float(dt), _viscosity_key(nu))
        return self._coeffs.get(key, lambda: etdrk4_coefficients(-dt * nu * self.k**2, dt, self.dtype))

    def nonlinear(self, vh: torch.Tensor) -> torch.Tensor:
        u = torch.fft.irfft(vh * self.mask, n=self.n)
        return self.nl_op * torch.fft.rfft(u * u)

    def step(self, vh: torch.Tensor, coeffs: dict, count: int = 1) -> torch.Tensor:
        for _ in range(count):
            vh = etdrk4_step(vh, self.nonlinear, coeffs)
        return vh

    def to_spectral(self, u: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft(u.to(self.device, self.dtype))

    def to_physical(self, vh: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(vh, n=self.n)

    def max_speed(self, vh: torch.Tensor) -> float:
        return float(self.to_physical(vh).abs().max())

    def cfl(self, vh: torch.Tensor, dt: float) -> float:
        """C = dt·k_c·max|u| over the batch."""
        return dt * self.k_cut * self.max_speed(vh)

    def auto_dt(self, vh: torch.Tensor, cfl: float = CFL_TARGET) -> float:
        """dt with C = ``cfl`` (inf for a state at rest)."""
        speed = self.max_speed(vh)
        return cfl / (self.k_cut * speed) if speed > 0 else math.inf

    # diagnostics
    def gradient(self, vh: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(self.ik * vh, n=self.n)

    def energy_spectrum(self, vh: torch.Tensor) -> torch.Tensor:
        """E(k) for m = 1..n//2 with Σ_m E(k_m) + ½ mean² = ½⟨u²⟩ (per sample)."""
        e = vh[..., 1:].abs() ** 2 / self.n**2
        if self.n % 2 == 0:
            e[..., :-1] *= 2.0  # ±m pairs; the Nyquist mode is its own pair
        else:
            e *= 2.0
        return 0.5 * e


def burgers_solve(u0, viscosity, t_end: float, *, dt: float | None = None, length: float = TWO_PI,
                  snapshots: int | None = None, cfl: float = CFL_TARGET) -> torch.Tensor:
    """Solve u_t + (u²/2)_x = ν u_xx from ``u0`` to ``t_end``.

    Parameters
    ----------
    u0 : tensor (B, n) or (n,)
        Initial condition on x_j = j·length/n (float32 or float64; its device is used).
    viscosity : float or (B,) tensor
        ν ≥ 0, one per sample or shared.
    t_end : float
        Final time (> 0).
    dt : float, optional
        Time step; shortened so that each snapshot interval is a whole number
        of steps. Default: CFL-limited (C = ``cfl``, see the module docstring).
    length : float
        Period of the domain (default 2π).
    snapshots : int, optional
        Also return the states at t_end·j/snapshots, j = 1..snapshots.

    Returns
    -------
    tensor (B, n), or (B, snapshots, n); (n,) / (snapshots, n) for an unbatched ``u0``.
    """
    unbatched = torch.as_tensor(u0).ndim == 1
    u0 = _float_state(u0, "u0", 1)
    solver = BurgersSolver(u0.shape[-1], length, u0.device, u0.dtype)
    vh = solver.to_spectral(u0)
    count, interval = _intervals(t_end, snapshots)
    if dt is not None:
        _check_fixed_dt(dt, solver.cfl(vh, dt), "burgers_solve")
    steps = _steps_for(interval, dt, solver.auto_dt(vh, cfl))
    coeffs = solver.coefficients(viscosity, interval / steps, u0.shape[0])
    out = []
    for _ in range(count):
        vh = solver.step(vh, coeffs, steps)
        _check_finite(vh, "burgers_solve", interval / steps)
        out.append(solver.to_physical(vh))
    result = torch.stack(out, 1) if snapshots is not None else out[-1]
    return result[0] if unbatched else result


def burgers_grf(batch: int, n: int, *, length: float = TWO_PI, generator: torch.Generator | None = None,
                device=None, dtype=torch.float64, sigma: float = 25.0, tau: float = 5.0,
                alpha: float = 2.0) -> torch.Tensor:
    """Draws u0 ~ N(0, σ²(−Δ + τ² I)^{−α}) on the periodic interval [0, length), shape (B, n).

    The defaults give Li et al.'s Burgers data covariance 625 (−Δ + 25 I)^{−2}
    (on their domain, length = 1). The mean (k = 0) mode is left out, as in
    their generator; the field is band-limited to the grid.
    """
    device = torch.device(device) if device is not None else (generator.device if generator else torch.device("cpu"))
    m = torch.fft.fftfreq(n, 1.0 / n, device=device, dtype=torch.float64)
    eig = sigma**2 * ((TWO_PI * m / length) ** 2 + tau**2) ** (-alpha)
    sqrt_eig = n * math.sqrt(2.0) * torch.sqrt(eig / length)
    sqrt_eig[0] = 0.0
    z = torch.randn((batch, n), generator=generator, device=device, dtype=torch.complex128)
    return torch.fft.ifft(sqrt_eig * z).real.to(dtype)


# ---- Navier–Stokes ------------------------------------------------------------------
class NavierStokesSolver:
    """ETDRK4 pseudo-spectral stepper for 2D vorticity on the periodic unit square.

    The state is ``rfft2(w)``, shape (B, n, n//2 + 1); axis −2 is x, axis −1 is y.
    """

    def __init__(self, n: int, device="cpu", dtype=torch.float32):
        if n < 4:
            raise ValueError(f"grid: need at least 4 points per side, got {n}")
        self.n = int(n)
        self.device, self.dtype, self.cdtype = torch.device(device), dtype, COMPLEX[dtype]
        mx = torch.fft.fftfreq(n, 1.0 / n, device=self.device, dtype=torch.float64)[:, None]
        my = torch.arange(n // 2 + 1, device=self.device, dtype=torch.float64)[None, :]
        kx, ky = TWO_PI * mx, TWO_PI * my
        self.k2 = kx**2 + ky**2
        inv_k2 = torch.where(self.k2 > 0, 1.0 / self.k2.clamp(min=1e-300), torch.zeros_like(self.k2))
        keep = ((3 * mx.abs() < n) & (3 * my < n)).to(torch.float64)
        self.keep = keep
        self.k_cut = TWO_PI * ((n - 1) // 3)
        c = self.cdtype
        # u = ψ_y, v = −ψ_x with ψ̂ = ŵ/|k|²; the band kept by the 2/3 rule, and w itself
        self.to_uvw = torch.stack(((1j * ky * inv_k2) * keep, (-1j * kx * inv_k2) * keep,
                                   keep.to(torch.complex128))).to(c)
        self.to_uv = self.to_uvw[:2]
        self.div = torch.stack(((-1j * kx) * keep, (-1j * ky) * keep)).to(c)
        self.inv_k2 = inv_k2
        self.forcing_hat = torch.fft.rfft2(li_forcing(n, device=self.device, dtype=torch.float64)).to(c)
        self.shells = torch.round(torch.sqrt(mx**2 + my**2)).to(torch.long).expand(n, n // 2 + 1)
        weight = torch.full((n // 2 + 1,), 2.0, dtype=torch.float64, device=self.device)
        weight[0] = 1.0
        if n % 2 == 0:
            weight[-1] = 1.0
        self.pair_weight = weight[None, :]  # the rfft half-plane counts ±k pairs once
        self._coeffs = _CoefficientCache()

    def coefficients(self, viscosity, dt: float, batch: int = 1) -> dict:
        nu = batch_values(viscosity, batch, "viscosity", self.device)[:, :, None]
        key = (float(dt), _viscosity_key(nu))
        return self._coeffs.get(key, lambda: etdrk4_coefficients(-dt * nu * self.k2, dt, self.dtype))

    def forcing_term(self, forcing, batch: int = 1) -> torch.Tensor | None:
        """Fourier forcing: amplitude(s) times Li et al.'s forcing, or a field (n, n) / (B, n, n)."""
        f = torch.as_tensor(forcing)
        if f.ndim >= 2:
            if f.shape[-2:] != (self.n, self.n) or f.ndim > 3 or (f.ndim == 3 and f.shape[0] not in (1, batch)):
                raise ValueError(f"forcing: a field must be ({self.n}, {self.n}) or ({batch}, {self.n}, {self.n}), "
                                 f"got {tuple(f.shape)}")
            if not bool(torch.isfinite(f).all()):
                raise ValueError("forcing: values must be finite")
            fh = torch.fft.rfft2(f.to(self.device, torch.float64))
            fh[..., 0, 0] = 0.0  # a uniform part would drive the mean vorticity, which no velocity carries
            return (fh * self.keep).to(self.cdtype)
        amp = torch.as_tensor(forcing, dtype=torch.float64).to(self.device).reshape(-1)
        if amp.numel() not in (1, batch) or not bool(torch.isfinite(amp).all()):
            raise ValueError(f"forcing: expected a finite number, a ({batch},) array of amplitudes or a field; "
                             f"got shape {tuple(torch.as_tensor(forcing).shape)}")
        if amp.numel() == 1 and float(amp) == 0.0:
            return None
        return amp[:, None, None].to(self.cdtype) * self.forcing_hat

    def nonlinear(self, wh: torch.Tensor, fh: torch.Tensor | None = None) -> torch.Tensor:
        uvw = torch.fft.irfft2(wh[..., None, :, :] * self.to_uvw, s=(self.n, self.n))
        flux = torch.fft.rfft2(uvw[..., :2, :, :] * uvw[..., 2:, :, :])
        out = (self.div * flux).sum(-3)
        return out if fh is None else out + fh

    def step(self, wh: torch.Tensor, coeffs: dict, forcing_hat: torch.Tensor | None = None,
             count: int = 1) -> torch.Tensor:
        nl = (lambda v: self.nonlinear(v, forcing_hat))
        for _ in range(count):
            wh = etdrk4_step(wh, nl, coeffs)
        return wh

    def to_spectral(self, w: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft2(w.to(self.device, self.dtype))

    def to_physical(self, wh: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft2(wh, s=(self.n, self.n))

    def velocity(self, wh: torch.Tensor) -> torch.Tensor:
        """(…, 2, n, n): u = ψ_y and v = −ψ_x of the retained band."""
        return torch.fft.irfft2(wh[..., None, :, :] * self.to_uv, s=(self.n, self.n))

    def max_speed(self, wh: torch.Tensor) -> float:
        return float(self.velocity(wh).abs().sum(-3).max())

    def cfl(self, wh: torch.Tensor, dt: float) -> float:
        """C = dt·k_c·max(|u| + |v|) over the batch."""
        return dt * self.k_cut * self.max_speed(wh)

    def auto_dt(self, wh: torch.Tensor, cfl: float = CFL_TARGET) -> float:
        speed = self.max_speed(wh)
        return cfl / (self.k_cut * speed) if speed > 0 else math.inf

    # diagnostics (per sample, float64)
    def _power(self, wh: torch.Tensor) -> torch.Tensor:
        return (wh.abs().to(torch.float64) ** 2) * self.pair_weight / self.n**4

    def energy(self, wh: torch.Tensor) -> torch.Tensor:
        """½⟨|u|²⟩ = ½ Σ |ŵ|²/|k|² (Parseval)."""
        return 0.5 * (self._power(wh) * self.inv_k2).sum((-2, -1))

    def enstrophy(self, wh: torch.Tensor) -> torch.Tensor:
        """½⟨w²⟩ without the mean."""
        p = self._power(wh)
        return 0.5 * (p.sum((-2, -1)) - p[..., 0, 0])

    def mean(self, wh: torch.Tensor) -> torch.Tensor:
        return wh[..., 0, 0].real.to(torch.float64) / self.n**2

    def energy_spectrum(self, wh: torch.Tensor) -> torch.Tensor:
        """Shell-averaged kinetic-energy spectrum E(m), m = 0..⌈n/√2⌉ (integer |k|/2π shells),
        shape (…, shells); Σ_m E(m) = energy."""
        e = (0.5 * self._power(wh) * self.inv_k2).reshape(-1, self.shells.numel())
        count = int(self.shells.max()) + 1
        out = torch.zeros((e.shape[0], count), dtype=torch.float64, device=self.device)
        out.index_add_(1, self.shells.reshape(-1), e)
        return out.reshape(wh.shape[:-2] + (count,))


def li_forcing(n: int, *, device=None, dtype=torch.float64) -> torch.Tensor:
    """Li et al.'s forcing 0.1·(sin 2π(x+y) + cos 2π(x+y)) on the n×n grid x_i = i/n."""
    x = torch.arange(n, device=device, dtype=torch.float64) / n
    s = TWO_PI * (x[:, None] + x[None, :])
    return (0.1 * (torch.sin(s) + torch.cos(s))).to(dtype)


def navier_stokes_solve(w0, viscosity, t_end: float, *, forcing=1.0, dt: float | None = None,
                        snapshots: int | None = None, cfl: float = CFL_TARGET) -> torch.Tensor:
    """Solve w_t + u·∇w = ν Δw + f on the periodic unit square from ``w0`` to ``t_end``.

    Parameters
    ----------
    w0 : tensor (B, n, n) or (n, n)
        Initial vorticity, ``w0[..., i, j] = w(i/n, j/n)`` (float32 or float64; its
        device is used). Its mean is carried along unchanged (no velocity sees it).
    viscosity : float or (B,) tensor
        ν ≥ 0.
    forcing : float, (B,) tensor, or field (n, n) / (B, n, n)
        Amplitude(s) multiplying Li et al.'s forcing 0.1·(sin 2π(x+y) + cos 2π(x+y))
        (1.0: their setting; 0: decaying flow), or a forcing field of your own.
    dt : float, optional
        Fixed step (shortened to divide each snapshot interval). Default:
        CFL-limited and adaptive (see the module docstring).
    snapshots : int, optional
        Also return the states at t_end·j/snapshots, j = 1..snapshots
        (Li et al.'s data: t_end = 50, snapshots = 50).

    Returns
    -------
    tensor (B, n, n), or (B, snapshots, n, n); unbatched in, unbatched out.
    """
    unbatched = torch.as_tensor(w0).ndim == 2
    w0 = _float_state(w0, "w0", 2)
    solver = NavierStokesSolver(w0.shape[-1], w0.device, w0.dtype)
    batch = w0.shape[0]
    wh = solver.to_spectral(w0)
    fh = solver.forcing_term(forcing, batch)
    count, interval = _intervals(t_end, snapshots)
    if dt is not None:
        _check_fixed_dt(dt, solver.cfl(wh, dt), "navier_stokes_solve")
    steps = _steps_for(interval, dt, solver.auto_dt(wh, cfl))
    if dt is None and fh is not None and steps < 4:
        steps = 4  # from rest the forcing sets the pace: a step of at most a quarter interval
    out = []
    for _ in range(count):
        done = 0
        while done < steps:
            h = interval / steps
            chunk = min(CHECK_EVERY, steps - done)
            wh = solver.step(wh, solver.coefficients(viscosity, h, batch), fh, chunk)
            done += chunk
            _check_finite(wh, "navier_stokes_solve", h)
            if dt is None and done < steps and solver.cfl(wh, h) > CFL_LIMIT:
                steps, done = 2 * steps, 2 * done  # halve dt: the rest of the interval in twice the steps
        out.append(solver.to_physical(wh))
    result = torch.stack(out, 1) if snapshots is not None else out[-1]
    return result[0] if unbatched else result


def navier_stokes_grf(batch: int, n: int, *, generator: torch.Generator | None = None, device=None,
                      dtype=torch.float32, alpha: float = 2.5, tau: float = 7.0,
                      sigma: float | None = None) -> torch.Tensor:
    """Initial vorticity as in Li et al.: ``GaussianRF(2, n, alpha=2.5, tau=7)``, shape (B, n, n).

    Fourier coefficients ŵ_k = n²·√2·σ·(4π²|k|² + τ²)^{−α/2}·ζ_k with ζ_k
    standard complex normal, w = Re ifft2(ŵ), σ = τ^{α − 1} (= 7^{3/2}) and
    ŵ_0 = 0: a zero-mean Gaussian field with covariance σ²(−Δ + τ² I)^{−α}
    = 7³(−Δ + 49 I)^{−2.5} on the unit square. (The paper writes this
    measure as N(0, 7^{3/2}(−Δ + 49 I)^{−2.5}); the factor 7^{3/2} is what
    their generator applies to the square root of the eigenvalues, and these
    draws have the statistics of their datasets.)
    """
    device = torch.device(device) if device is not None else (generator.device if generator else torch.device("cpu"))
    sigma = tau ** (alpha - 1.0) if sigma is None else sigma
    m = torch.fft.fftfreq(n, 1.0 / n, device=device, dtype=torch.float64)
    k2 = m[:, None] ** 2 + m[None, :] ** 2
    sqrt_eig = n**2 * math.sqrt(2.0) * sigma * (4 * math.pi**2 * k2 + tau**2) ** (-alpha / 2.0)
    sqrt_eig[0, 0] = 0.0
    z = torch.randn((batch, n, n), generator=generator, device=device, dtype=torch.complex128)
    return torch.fft.ifft2(sqrt_eig * z).real.to(dtype)


# ---- helpers ----------------------------------------------------------------------------
def _intervals(t_end: float, snapshots: int | None) -> tuple[int, float]:
    if not (isinstance(t_end, (int, float)) and math.isfinite(t_end) and t_end > 0):
        raise ValueError(f"t_end: must be a finite number > 0, not {t_end!r}")
    if snapshots is None:
        return 1, float(t_end)
    if int(snapshots) != snapshots or snapshots < 1:
        raise ValueError(f"snapshots: must be an integer >= 1, not {snapshots!r}")
    return int(snapshots), float(t_end) / int(snapshots)


def _check_fixed_dt(dt: float, courant: float, where: str) -> None:
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"{where}: dt must be a finite number > 0 (or None for the CFL rule), not {dt!r}")
    if courant > CFL_LIMIT:
        raise ValueError(f"{where}: dt = {dt:g} gives CFL number dt·k_c·max speed = {courant:.3g} > {CFL_LIMIT:g}; "
                         f"lower dt to at most {dt * CFL_LIMIT / courant:.3g}, or pass dt=None for the CFL rule")


def _check_finite(vh: torch.Tensor, where: str, dt: float) -> None:
    if not bool(torch.isfinite(torch.view_as_real(vh).sum())) and not bool(torch.isfinite(vh).all()):
        raise SimulationDiverged(f"{where}: the state stopped being finite with dt = {dt:.4g}; "
                                 f"lower dt (CFL number ≤ {CFL_TARGET:g}) or pass dt=None")
