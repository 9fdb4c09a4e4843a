"""Linear stability of a uniform steady state of a two-field reaction–diffusion system.

A perturbation ``e^{σt + i k·x}`` of the uniform state grows at the rate σ
given by the eigenvalues of ``J − μ(k) diag(Du, Dv)``, where ``J`` is the
reaction Jacobian and ``μ(k) ≥ 0`` is minus the symbol of the Laplacian the
simulation uses: ``k²`` for the pseudo-spectral scheme, and
``(4/h²) sin²(k h / 2)`` along a grid axis for the 5-point finite differences
(so the prediction matches what the grid actually does, not the continuum).

The classification follows the textbook (Murray, *Mathematical Biology II*,
ch. 2): the uniform state is **Hopf** unstable when σ(0) > 0 with complex
eigenvalues, **unstable** when σ(0) > 0 with real ones, **Turing unstable**
when it is stable to uniform perturbations but a band of k > 0 grows, and
**stable** otherwise. Pure numpy/scipy: no torch here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar


def laplacian_symbol(k: np.ndarray, h: float, scheme: str) -> np.ndarray:
    """μ(k) ≥ 0 such that the scheme's Laplacian multiplies ``e^{ikx}`` by −μ(k).

    ``scheme`` ``"etdrk4"`` (spectral) gives k²; ``"euler"``/``"rk4"`` (the
    5-point stencil) give (4/h²) sin²(kh/2) along an axis.
    """
    k = np.asarray(k, dtype=float)
    if scheme == "etdrk4":
        return k * k
    return (4.0 / h**2) * np.sin(0.5 * k * h) ** 2


def growth_rates(jacobian: np.ndarray, diffusion: tuple[float, float], mu: np.ndarray) -> np.ndarray:
    """Eigenvalue of largest real part of ``J − μ diag(D)``, for each μ (complex array)."""
    (a, b), (c, d) = np.asarray(jacobian, dtype=float)
    du, dv = diffusion
    mu = np.asarray(mu, dtype=float)
    tr = a + d - (du + dv) * mu
    det = (a - du * mu) * (d - dv * mu) - b * c
    root = np.sqrt((tr * tr - 4.0 * det).astype(complex))
    return 0.5 * (tr + root)


@dataclass(frozen=True)
class TuringAnalysis:
    """Dispersion relation and verdict for one set of parameters.

    Lengths are in domain units (the same as ``length``), rates per unit time.
    """

    k: np.ndarray  # wavenumbers from 0 to the grid's Nyquist π/h
    sigma: np.ndarray  # Re σ(k), largest branch
    omega: np.ndarray  # Im σ(k) of that branch
    regime: str  # "Turing unstable", "Hopf", "unstable", "stable"
    band: tuple[float, float] | None  # unstable k band for k > 0 (Turing case)
    k_fastest: float  # fastest-growing k > 0 (nan when none grows)
    sigma_fastest: float
    steady_state: tuple[float, float]

    @property
    def lambda_fastest(self) -> float:
        """Wavelength 2π/k of the fastest-growing mode; nan when none grows, or when the
        fastest is the uniform mode itself (Hopf or plain instability: no wavelength)."""
        if not self.k_fastest > 0.5 * self.k[1]:
            return float("nan")
        return 2.0 * np.pi / self.k_fastest

    def sigma_at(self, k: float) -> float:
        """Re σ interpolated on the tabulated curve (nan outside it)."""
        if not np.isfinite(k):
            return float("nan")
        return float(np.interp(k, self.k, self.sigma, left=np.nan, right=np.nan))

    def summary(self, measured_lambda: float | None = None) -> str:
        """One line for the GUI: verdict, band, fastest wavelength, measurement."""
        if self.regime == "Turing unstable":
            lo, hi = self.band
            text = (f"Turing unstable: band k ∈ [{lo:.3g}, {hi:.3g}], fastest k = {self.k_fastest:.3g}, "
                    f"λ = {self.lambda_fastest:.3g} (σ = {self.sigma_fastest:.3g})")
        elif self.regime == "Hopf":
            text = (f"Hopf: the uniform state oscillates unstably (σ(0) = {self.sigma[0]:.3g}, "
                    f"ω = {abs(self.omega[0]):.3g})")
        elif self.regime == "unstable":
            text = f"unstable: the uniform state grows without oscillating (σ(0) = {self.sigma[0]:.3g})"
        else:
            text = f"stable: no wavenumber grows (max σ = {self.sigma.max():.3g}); patterns need a finite push"
        u, v = self.steady_state
        text += f"\nuniform state (u, v) = ({u:.4g}, {v:.4g})"
        if measured_lambda is not None:
            # NaN: no pattern to measure (a uniform field's "wavelength" would be the domain)
            text += f"; measured λ = {measured_lambda:.3g}" if np.isfinite(measured_lambda) else "; measured λ = —"
        return text


def analyse(jacobian: np.ndarray, diffusion: tuple[float, float], h: float, scheme: str,
            steady_state: tuple[float, float] = (np.nan, np.nan), samples: int = 400) -> TuringAnalysis:
    """Dispersion relation σ(k) for k ∈ [0, π/h] and the classification.

    Parameters
    ----------
    jacobian : (2, 2) array
        Reaction Jacobian at the uniform steady state.
    diffusion : (Du, Dv)
    h : float
        Cell size (domain units).
    scheme : str
        ``"euler"``/``"rk4"`` use the 5-point symbol, ``"etdrk4"`` the exact k².
    """
    k_max = np.pi / h
    k = np.linspace(0.0, k_max, samples)
    lam = growth_rates(jacobian, diffusion, laplacian_symbol(k, h, scheme))
    sigma, omega = lam.real, lam.imag
    tol = 1e-12
    k_fast, s_fast, band = float("nan"), float("nan"), None
    positive = np.nonzero(sigma[1:] > tol)[0] + 1
    if positive.size:
        i = int(positive[np.argmax(sigma[positive])])
        lo, hi = k[max(i - 1, 0)], k[min(i + 1, samples - 1)]

        def neg(q):
            return -growth_rates(jacobian, diffusion, laplacian_symbol(q, h, scheme)).real

        if hi > lo:
            res = minimize_scalar(neg, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10 * k_max})
            k_fast, s_fast = float(res.x), float(-res.fun)
        else:
            k_fast, s_fast = float(k[i]), float(sigma[i])
    if sigma[0] > tol:
        regime = "Hopf" if abs(omega[0]) > tol else "unstable"
    elif positive.size:
        regime = "Turing unstable"
        band = (_crossing(k, sigma, positive[0], left=True), _crossing(k, sigma, positive[-1], left=False))
    else:
        regime = "stable"
    return TuringAnalysis(k, sigma, omega, regime, band, k_fast, s_fast,
                          (float(steady_state[0]), float(steady_state[1])))


def _crossing(k: np.ndarray, sigma: np.ndarray, i: int, left: bool) -> float:
    """k where σ crosses zero next to sample ``i`` (linear interpolation)."""
    j = i - 1 if left else i + 1
    if j < 0 or j >= len(k):
        return float(k[i])
    s0, s1 = sigma[j], sigma[i]
    return float(k[j] + (k[i] - k[j]) * (0.0 - s0) / (s1 - s0))


def jacobian_complex_step(reaction, u: float, v: float, params: dict, eps: float = 1e-20) -> np.ndarray:
    """Exact reaction Jacobian at (u, v) by complex-step differentiation.

    ``reaction(u, v, params)`` must be built from arithmetic only (it is the
    same function the torch kernel runs), so ``Im f(u + iε)/ε`` is the
    derivative to machine precision, with no step-size trade-off.
    """
    ju = reaction(complex(u, eps), complex(v, 0.0), params)
    jv = reaction(complex(u, 0.0), complex(v, eps), params)
    return np.array([[ju[0].imag, jv[0].imag], [ju[1].imag, jv[1].imag]]) / eps


def radial_spectrum(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power of ``field − mean`` summed over rings of integer |m| (m in modes per side).

    Returns ``(m, power)`` for m = 0 … n/2.
    """
    f = np.asarray(field, dtype=float)
    n = f.shape[0]
    power = np.abs(np.fft.rfft2(f - f.mean())) ** 2
    my = np.fft.fftfreq(n, d=1.0 / n)[:, None]
    mx = np.fft.rfftfreq(n, d=1.0 / n)[None, :]
    # rfft2 stores the kx > 0 half once: count those columns twice
    weight = np.where((mx > 0) & (mx < n / 2), 2.0, 1.0)
    ring = np.rint(np.sqrt(my**2 + mx**2)).astype(int)
    m = np.arange(n // 2 + 1)
    spectrum = np.bincount(ring.ravel(), weights=(power * weight).ravel(), minlength=len(m))[: len(m)]
    return m, spectrum


def dominant_wavelength(field: np.ndarray, length: float, min_ring: int = 1) -> tuple[float, float]:
    """Dominant wavenumber and wavelength of a pattern, from its FFT.

    The peak ring of the radial power spectrum is refined by the power-weighted
    mean |m| over the rings within ±25 % of it (harmonics of hexagons and
    stripes sit at √3 and 2 times the peak, outside that window). Rings below
    ``min_ring`` are left out (``min_ring = 3``: the pattern's own wavelength
    inside a colony whose envelope holds the most power at one period across).

    Returns
    -------
    (k, wavelength) : float
        In the units of ``length``; ``(nan, nan)`` for a uniform field.
    """
    m, spectrum = radial_spectrum(field)
    lo = max(1, int(min_ring))
    if spectrum[lo:].max(initial=0.0) <= 0.0:
        return float("nan"), float("nan")
    peak = int(np.argmax(spectrum[lo:]) + lo)
    window = (m >= 0.75 * peak) & (m <= 1.25 * peak) & (m >= lo)
    m_mean = float(np.sum(m[window] * spectrum[window]) / np.sum(spectrum[window]))
    return 2.0 * np.pi * m_mean / length, length / m_mean
