"""Replica-symmetric theory of Hopfield retrieval (pure numpy/scipy).

The Amit–Gutfreund–Sompolinsky (AGS, 1987) replica-symmetric equations for a
Hebbian network of N ±1 neurons storing P = αN random patterns, at
temperature T = 1/β, with the retrieval overlap m, the Edwards–Anderson
order parameter q and the noise r coming from the P − 1 non-condensed
patterns::

    m = ⟨tanh β(m + √(αr) z)⟩_z
    q = ⟨tanh² β(m + √(αr) z)⟩_z
    r = q / (1 − β(1 − q))²

with z a standard Gaussian. At T = 0 they reduce to one equation for
y = m / √(2αr)::

    y (√(2α) + (2/√π) e^{−y²}) = erf(y),    m = erf(y)

whose non-trivial solution disappears at α_c ≈ 0.138 (m ≈ 0.967 there).

Also here: the free energy f(m, q, r) that decides which state is the global
minimum (the line T_c), the phase-diagram lines T_g = 1 + √α, T_M(α) and
T_c(α), the Curie–Weiss overlap at vanishing load, its p-spin
generalisation for dense networks, and the multitasking amplitudes
m_k = (1 − d) d^{k−1} of diluted patterns.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize, special

# ⟨f(z)⟩ for z ~ N(0, 1) on a uniform grid rather than Gauss–Hermite: at low T
# tanh β(m + √(αr) z) is nearly a step, and 1 − q is a peak of width
# T/√(αr) that a few dozen Hermite nodes miss entirely (q comes out exactly 1
# and the free energy is wrong). A 0.016 spacing resolves it down to T ≈ 0.01.
_Z = np.linspace(-8.0, 8.0, 1001)
_WZ = np.exp(-0.5 * _Z**2)
_WZ /= _WZ.sum()

#: β is capped at 1/T_ZERO in the finite-temperature equations
T_ZERO = 1e-3
#: below this temperature ``retrieval_overlap`` uses the closed T = 0 equation
#: (the z grid cannot resolve colder thermal smearing; m changes by < 1e-4)
T_COLD = 0.01


def gaussian_average(values: np.ndarray) -> np.ndarray:
    """⟨values⟩ over the last axis, evaluated at the Gauss–Hermite points ``_Z``."""
    return values @ _WZ


# ---- zero-load limits ------------------------------------------------------
def curie_weiss_overlap(temperature: float, order: int = 2) -> float:
    """Overlap of the retrieval state at vanishing load, α → 0.

    Solves m = tanh(β m^{p−1}) (p = ``order``; p = 2 is the Curie–Weiss
    equation m = tanh(m/T)) starting from m = 1, so for p ≥ 3 it returns the
    retrieval branch (which exists below a first-order spinodal) or 0.
    """
    t = float(temperature)
    if t < 0:
        raise ValueError(f"temperature must be >= 0, not {t}")
    if t <= T_ZERO:
        return 1.0
    beta = 1.0 / t
    if order == 2 and beta <= 1.0:
        return 0.0
    m = 1.0
    for _ in range(10000):
        new = math.tanh(beta * m ** (order - 1))
        if abs(new - m) < 1e-13:
            m = new
            break
        m = new
    return m if m > 1e-6 else 0.0


def multitasking_amplitudes(dilution: float, k: int) -> np.ndarray:
    """Hierarchical overlaps m_k = (1 − d) d^{k−1}, k = 1..k, of diluted patterns at T = 0, low load."""
    if not 0.0 <= dilution < 1.0:
        raise ValueError(f"pattern_dilution must be in [0, 1), not {dilution}")
    return (1.0 - dilution) * dilution ** np.arange(int(k), dtype=float)


# ---- the AGS equations ------------------------------------------------------
def _zero_temperature(alpha: float) -> tuple[float, float, float]:
    """(m, q, r) of the retrieval state at T = 0 (q = 1); m = 0 if none."""
    if alpha <= 0:
        return 1.0, 1.0, 1.0
    s = math.sqrt(2.0 * alpha)

    def g(y):
        return y * (s + 2.0 / math.sqrt(math.pi) * math.exp(-y * y)) - math.erf(y)

    # g < 0 between the trivial root y = 0 and the retrieval root; the
    # retrieval root is the largest, so bracket it from above.
    # at low load the root sits near y = m/√(2αr) ≈ 1/s: search past it
    ys = np.linspace(0.05, max(6.0, 2.0 / s + 1.0), 800)
    gs = np.array([g(y) for y in ys])
    neg = np.nonzero(gs < 0)[0]
    if len(neg) == 0:
        return 0.0, 1.0, _sg_r_zero(alpha)
    i = neg[-1]
    if i + 1 >= len(ys):
        return 0.0, 1.0, _sg_r_zero(alpha)
    y = optimize.brentq(g, ys[i], ys[i + 1], xtol=1e-14)
    m = math.erf(y)
    c = 2.0 / math.sqrt(math.pi) * y * math.exp(-y * y) / m
    r = 1.0 / (1.0 - c) ** 2
    return m, 1.0, r


def _sg_r_zero(alpha: float) -> float:
    # spin-glass state at T = 0: C = √(2/(π α r)), r = 1/(1 − C)²
    c = math.sqrt(2.0 / math.pi) / (math.sqrt(alpha) + math.sqrt(2.0 / math.pi))
    return 1.0 / (1.0 - c) ** 2


def _solve(alpha, temperature, m0=1.0, iterations=3000, tol=1e-10):
    """Damped iteration in (m, C) with C = β(1 − q), finite as T → 0.

    C comes from Gaussian integration by parts, C = ⟨z tanh β(m + s z)⟩ / s
    with s = √(αr), which is smooth in z where β sech² is a spike. Writing
    √r = √q / (1 − C) gives C = K / (√q + K) with K = ⟨z tanh⟩ / √α: solving
    this relation instead of iterating C → K√q/(1 − C) avoids an unstable map.
    """
    alpha, temperature = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(temperature, float))
    if np.any(alpha < 0) or np.any(temperature < 0):
        raise ValueError("solve_rs: load and temperature must be >= 0")
    beta = 1.0 / np.maximum(temperature, T_ZERO)
    sqa = np.sqrt(np.maximum(alpha, 1e-300))
    m = np.full(alpha.shape, float(m0))
    # retrieval states have small C (≈ 0.14 at α_c, T = 0), spin-glass ones large
    c = np.full(alpha.shape, 0.1 if m0 > 0 else 0.5)
    q = np.ones(alpha.shape)
    for _ in range(iterations):
        s = np.sqrt(alpha * q) / (1.0 - c)
        th = np.tanh(beta[..., None] * (m[..., None] + s[..., None] * _Z))
        m_new = gaussian_average(th)
        q = gaussian_average(th * th)
        k = gaussian_average(th * _Z) / sqa
        c_new = np.where(alpha > 0, k / (np.sqrt(q) + k), 0.0)
        m_new = 0.5 * m + 0.5 * m_new
        c_new = 0.5 * c + 0.5 * c_new
        done = np.max(np.abs(m_new - m), initial=0.0) < tol and np.max(np.abs(c_new - c), initial=0.0) < tol
        m, c = m_new, c_new
        if done:
            break
    r = q / (1.0 - c) ** 2
    return m, q, r, c


def solve_rs(alpha, temperature, m0=1.0, iterations: int = 3000, tol: float = 1e-10):
    """Solve the AGS replica-symmetric equations by damped iteration.

    Parameters
    ----------
    alpha, temperature : float or array_like
        Load P/N and temperature; arrays broadcast and are solved together.
    m0 : float
        Starting overlap: 1 follows the retrieval branch, 0 the spin-glass or
        paramagnetic one.
    iterations, tol : int, float
        Iteration cap and convergence threshold.

    Returns
    -------
    m, q, r : ndarray
        The fixed point reached (m ≈ 0 where the retrieval state does not
        exist at these parameters).
    """
    m, q, r, _ = _solve(alpha, temperature, m0, iterations, tol)
    return m, q, r


def retrieval_overlap(alpha: float, temperature: float) -> float:
    """Predicted retrieval overlap m at (α, T); 0 where the retrieval state does not exist.

    Uses the closed T = 0 equation for T < ``T_COLD`` and the iterated
    finite-temperature equations otherwise.
    """
    alpha, temperature = float(alpha), float(temperature)
    if alpha < 0 or temperature < 0:
        raise ValueError(f"retrieval_overlap: load and temperature must be >= 0, not ({alpha}, {temperature})")
    if temperature < T_COLD:
        return _zero_temperature(alpha)[0]
    if alpha == 0.0:
        return curie_weiss_overlap(temperature)
    m, _, _ = solve_rs(alpha, temperature)
    m = float(m)
    return m if m > 1e-4 else 0.0


def critical_load() -> tuple[float, float]:
    """(α_c, m at α_c): the largest load with a retrieval solution at T = 0."""

    def neg_alpha(y):
        # α(y) from y(√(2α) + (2/√π) e^{−y²}) = erf(y)
        s = special.erf(y) / y - 2.0 / np.sqrt(np.pi) * np.exp(-y * y)
        return -(s * s) / 2.0 if s > 0 else 0.0

    res = optimize.minimize_scalar(neg_alpha, bounds=(0.5, 3.0), method="bounded", options={"xatol": 1e-12})
    return float(-res.fun), float(special.erf(res.x))


def free_energy(alpha, temperature, m0=1.0):
    """AGS replica-symmetric free energy per neuron of the state reached from ``m0``.

    f = ½m² + α/(2β)[ln(1 − C) − βq/(1 − C)] + αrC/2 − (1/β)⟨ln 2cosh β(m + √(αr) z)⟩

    with C = β(1 − q), up to an α-dependent constant common to all states.
    Returns (f, m).
    """
    m, q, r, c = _solve(alpha, temperature, m0, iterations=600, tol=1e-8)
    alpha = np.asarray(alpha, float)
    beta = 1.0 / np.maximum(np.asarray(temperature, float), T_ZERO)
    arg = beta[..., None] * (m[..., None] + np.sqrt(alpha * r)[..., None] * _Z)
    lncosh = np.logaddexp(arg, -arg)  # ln 2cosh x
    f = (
        0.5 * m * m
        + alpha / (2.0 * beta) * np.log(1.0 - c)
        - 0.5 * alpha * q / (1.0 - c)
        + 0.5 * alpha * r * c
        - gaussian_average(lncosh) / beta
    )
    return f, m


# ---- phase diagram ------------------------------------------------------------
def _retrieval_exists(alpha, temperature):
    m, _, _ = solve_rs(alpha, temperature, iterations=600, tol=1e-8)
    return m > 0.05


def _bisect(pred, lo, hi, steps):
    """Per-element bisection: pred(x) True at lo, False at hi; returns the boundary."""
    lo, hi = np.array(lo, float), np.array(hi, float)
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        ok = pred(mid)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return 0.5 * (lo + hi)


@functools.lru_cache(maxsize=4)
def phase_diagram(points: int = 24) -> dict[str, np.ndarray]:
    """The T–α phase diagram of the Hebbian network (AGS).

    Returns a dict of curves (NaN where a line does not exist):

    ``alpha``      load grid on [0, α_c] for T_g and T_M
    ``T_g``        spin-glass transition 1 + √α
    ``T_M``        retrieval states exist below it (spinodal); T_M(α_c) = 0
    ``alpha_Tc``   load grid of the T_c line, on [0, ≈0.051]
    ``T_c``        retrieval states are the global minimum below it; T_c(0.051) = 0

    Computed once (about a second) and cached.
    """
    alpha_c, _ = critical_load()
    alpha = np.linspace(0.0, alpha_c, points)
    t_g = 1.0 + np.sqrt(alpha)
    inner = alpha[1:-1]
    t_m = _bisect(lambda t: _retrieval_exists(inner, t), np.full(inner.shape, T_COLD), np.ones(inner.shape), 16)
    T_M = np.concatenate([[1.0], t_m, [0.0]])

    # T_c: where the retrieval free energy crosses the spin-glass one.
    def retrieval_wins(t, a):
        f_ret, m = free_energy(a, t, m0=1.0)
        f_sg, _ = free_energy(a, t, m0=0.0)
        return (m > 0.05) & (f_ret < f_sg)

    # its end on the α axis (≈ 0.051) by bisection at the lowest temperature
    t_low = 0.02
    a_end = float(_bisect(lambda a: retrieval_wins(np.full(np.shape(a), t_low), a), 0.01, alpha_c, 16))
    alpha_tc = np.linspace(0.0, a_end, max(points // 2, 6))
    inner_c = alpha_tc[1:-1]
    t_c = _bisect(lambda t: retrieval_wins(t, inner_c), np.full(inner_c.shape, t_low), np.ones(inner_c.shape), 14)
    T_c = np.concatenate([[1.0], t_c, [0.0]])
    return {"alpha": alpha, "T_g": t_g, "T_M": T_M, "alpha_Tc": alpha_tc, "T_c": T_c}


# ---- states other than pure retrieval, at vanishing load -----------------------------
def mixture_overlap(temperature: float, components: int = 3) -> float:
    """Overlap with each pattern of the symmetric mixture of ``components`` (odd) patterns
    at vanishing load: m = ⟨ξ¹ tanh(β m Σ_k ξ^k)⟩ over the ±1 patterns (AGS 1985).

    For three patterns m = ¼[tanh(3βm) + tanh(βm)]: 1/2 at T = 0. Returns 0 where
    only the paramagnetic solution is left (the mixture's own T_c is 1, but it is
    stable only below T ≈ 0.46).
    """
    s = int(components)
    if s < 1 or s % 2 == 0:
        raise ValueError(f"mixture_overlap: components must be odd and >= 1, not {components}")
    t = float(temperature)
    if t < 0:
        raise ValueError(f"temperature must be >= 0, not {t}")
    # Σ_k ξ^k given ξ¹ = +1: 1 + (sum of s − 1 signs) = 1 + 2j − (s − 1), j ~ Bin(s − 1, 1/2)
    j = np.arange(s)
    weights = np.array([math.comb(s - 1, int(i)) for i in j], float) / 2.0 ** (s - 1)
    sums = 1.0 + 2.0 * j - (s - 1)
    if t <= T_ZERO:
        return float(weights @ np.sign(sums))
    beta = 1.0 / t
    m = 1.0
    for _ in range(20000):
        new = float(weights @ np.tanh(beta * m * sums))
        if abs(new - m) < 1e-13:
            m = new
            break
        m = new
    return m if m > 1e-6 else 0.0


def unsupervised_overlap(quality: float, examples: int, temperature: float) -> float:
    """Overlap with the unseen pattern of unsupervised Hebbian learning from
    ``examples`` (M) noisy examples per pattern, at vanishing load (P finite, N → ∞).

    The couplings J = Σ_{μ,a} η^{μa} η^{μa}ᵀ / (N M 𝓡), 𝓡 = r² + (1 − r²)/M, with
    η^{μa}_i = χ^{μa}_i ξ^μ_i and P(χ = ±1) = (1 ± r)/2 (r: ``quality``). In the
    archetype state of pattern 1 every example has the same overlap n with σ, the
    field on spin i is ξ_i S_i n / (M𝓡) with S_i = Σ_a χ^a_i, and

        n = ⟨(S/M) tanh(β n S / (M𝓡))⟩_S,     m = ⟨tanh(β n S / (M𝓡))⟩_S,

    S = 2K − M with K ~ Binomial(M, (1 + r)/2) (Agliari et al.'s unsupervised
    setting, solved here for finite M at zero load). At T = 0, m = P(S > 0) −
    P(S < 0). Returns 0 where only n = 0 solves the equations.
    """
    r, mm, t = float(quality), int(examples), float(temperature)
    if not 0.0 < r <= 1.0 or mm < 1 or t < 0:
        raise ValueError(f"unsupervised_overlap: need 0 < quality <= 1, examples >= 1, T >= 0; got {r}, {mm}, {t}")
    k = np.arange(mm + 1)
    p = 0.5 * (1.0 + r)
    logw = (np.array([math.lgamma(mm + 1) - math.lgamma(i + 1) - math.lgamma(mm - i + 1) for i in k])
            + k * math.log(p) + (mm - k) * (math.log1p(-p) if p < 1 else 0.0))
    w = np.exp(logw - logw.max())
    if p == 1.0:
        w = (k == mm).astype(float)
    w /= w.sum()
    s = 2.0 * k - mm
    if t <= T_ZERO:
        return float(w @ np.sign(s))
    spread = r * r + (1.0 - r * r) / mm
    beta = 1.0 / t
    n = r
    for _ in range(20000):
        th = np.tanh(beta * n * s / (mm * spread))
        new = float(w @ (s / mm * th))
        if abs(new - n) < 1e-13:
            n = new
            break
        n = new
    if n < 1e-8:
        return 0.0
    return float(w @ np.tanh(beta * n * s / (mm * spread)))
