"""Replica-symmetric theory of dense (p-body) Hebbian networks at high storage.

The network (``hopfield`` with ``interaction_order`` p ≥ 3) has N ±1 neurons,
P random ±1 patterns and the energy

    E(σ) = −(N/p) Σ_μ m_μ^p,        m_μ = (1/N) Σ_i ξ_i^μ σ_i,

which keeps the self-interaction terms: expanded, Σ_μ m_μ^p sums over all
index tuples (i_1 … i_p), repeated indices included. The load is counted in
the dense regime's own scaling (Baldi–Venkatesh, Gardner):

    P = α N^{p−1}.

Derivation (Gardner 1987's argument, as made rigorous for the distinct-tuple
model by Albanese, Alemanno, Alessandrelli and Barra, "Replica symmetry
breaking in dense Hebbian neural networks", arXiv:2111.12997, where "for dense
networks solely the free energy of the hard spin glass survives"). Retrieving
pattern 1, every other overlap is m_μ = g_μ/√N with g_μ(σ) asymptotically a
standard Gaussian, and the overlaps g_μ(σ), g_μ(σ') of two configurations are
jointly Gaussian with correlation q = σ·σ'/N. Expand g^p in Hermite
polynomials, g^p = Σ_k c_k He_k(g), c_k = p!/(k! j! 2^j), j = (p − k)/2:
He_p(g) is the sum over distinct tuples, the lower orders are what the
self-interaction terms leave (for p = 3, g³ = He₃ + 3 He₁: a quenched random
field h_i = Σ_μ ξ_i^μ / N of variance α; for p = 4, g⁴ = He₄ + 6 He₂ + 3: an
SK coupling of variance 9α/N). The noise energy −(N^{1−p/2}/p) Σ_{μ>1} g_μ^p
is a sum of P ≫ N independent terms each O(N^{1−p/2}); its cumulants beyond
the second vanish relative to N for p ≥ 3, so it is a Gaussian process with

    Cov(E(σ), E(σ')) = N Φ(q),     Φ(q) = (α/p²) Σ_{k ≥ 1} c_k² k! q^k

(distinct tuples: only k = p, Φ = α (p−1)!/p · q^p). This is a mixed p-spin
glass, and the replica-symmetric free energy per neuron is

    f(m, q) = (p−1)/p · m^p − (β/2)[Φ(1) − Φ(q) − (1 − q) Φ'(q)]
              − (1/β) ⟨ln 2cosh β(m^{p−1} + √Φ'(q) z)⟩_z

with the saddle-point equations

    m = ⟨tanh β(m^{p−1} + √Φ'(q) z)⟩_z,      q = ⟨tanh² β(m^{p−1} + √Φ'(q) z)⟩_z.

There is no reaction term (AGS's r = q/(1 − β(1 − q))²): each non-condensed
pattern's energy is O(N^{1−p/2}) → 0, not O(1) as at p = 2. Φ'(1) = α (2p−3)!!
with the self-interaction terms, α (p−1)! without them. At T = 0 (q → 1):

    m = erf(m^{p−1} / √(2 Φ'(1))),  α_c = max_y erf(y)^{2(p−1)} / (2 κ_p y²),  κ_p = Φ'(1)/α.

At p = 2 the non-condensed overlaps are O(1) each and must be integrated
exactly: the theory is AGS's (:mod:`engine.theory.hopfield`), which the
functions here return for ``order = 2``. At α → 0 the equations reduce to the
Curie–Weiss m = tanh(β m^{p−1}), whose retrieval branch ends at a spinodal
(T ≈ 0.5826 for p = 3).

Everything here depends on α only through Φ ∝ α: in the m = 0 (spin-glass or
paramagnetic) states β and α enter as β√α, so the glass line is T_g = τ_p √α.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
from scipy import optimize, special

from attractor_lab.engine.theory import hopfield as ags

#: the two conventions for the p-body sum: keep the self-interaction terms of Σ_μ m_μ^p
#: (the simulation's energy) or sum over distinct index tuples only (Gardner, Barra's group)
CONVENTIONS = ("self", "distinct")

_Z = ags._Z
_WZ = ags._WZ
T_ZERO = ags.T_ZERO
#: below this temperature the closed T = 0 equation is used (the z grid cannot resolve colder)
T_COLD = 0.01


def _check(order: int, convention: str) -> int:
    p = int(order)
    if p < 2:
        raise ValueError(f"dense theory: interaction order must be >= 2, not {order}")
    if convention not in CONVENTIONS:
        raise ValueError(f"dense theory: convention must be one of {CONVENTIONS}, not {convention!r}")
    return p


@functools.lru_cache(maxsize=64)
def hermite_weights(order: int, convention: str = "self") -> tuple[tuple[int, float], ...]:
    """((k, w_k), ...) with Φ(q) = α Σ_k w_k q^k, w_k = c_k² k!/p² (k ≥ 1; only k = p for ``distinct``)."""
    p = _check(order, convention)
    out = []
    for k in range(p, 0, -2):
        j = (p - k) // 2
        c = math.factorial(p) / (math.factorial(k) * math.factorial(j) * 2**j)
        if convention == "distinct" and k != p:
            continue
        out.append((k, c * c * math.factorial(k) / p**2))
    return tuple(out)


def phi(q, order: int, convention: str = "self", derivative: int = 0):
    """Φ(q)/α (``derivative`` 0) or Φ'(q)/α (1): the noise covariance per unit load."""
    q = np.asarray(q, float)
    out = np.zeros_like(q)
    for k, w in hermite_weights(order, convention):
        out = out + (w * q**k if derivative == 0 else w * k * q ** (k - 1))
    return out


def noise_variance(order: int, convention: str = "self") -> float:
    """κ_p = Φ'(1)/α: (2p−3)!! with self-interactions, (p−1)! over distinct tuples."""
    return float(phi(1.0, order, convention, 1))


# ---- T = 0 -----------------------------------------------------------------------
def zero_temperature_overlap(alpha: float, order: int, convention: str = "self") -> float:
    """Retrieval overlap at T = 0: the largest root of m = erf(m^{p−1}/√(2κα)); 0 if none."""
    p = _check(order, convention)
    if p == 2:
        return ags._zero_temperature(alpha)[0]
    if alpha <= 0:
        return 1.0
    s = math.sqrt(2.0 * noise_variance(p, convention) * alpha)

    def g(m):
        return special.erf(m ** (p - 1) / s) - m

    ms = np.linspace(1.0, 0.02, 500)
    vals = g(ms)
    # from m = 1 downwards: g(1) < 0, the retrieval root is the first sign change
    pos = np.nonzero(vals >= 0)[0]
    if len(pos) == 0:
        return 0.0
    i = pos[0]
    return float(optimize.brentq(g, ms[i], ms[i - 1], xtol=1e-14)) if i > 0 else 1.0


@functools.lru_cache(maxsize=64)
def critical_load(order: int, convention: str = "self") -> tuple[float, float]:
    """(α_c, m at α_c) at T = 0 in the scaling P = α N^{p−1}, replica symmetric.

    p = 2 is AGS (α_c ≈ 0.1379, P = αN)."""
    p = _check(order, convention)
    if p == 2:
        return ags.critical_load()
    kappa = noise_variance(p, convention)

    def neg(y):
        return -special.erf(y) ** (2 * (p - 1)) / (2.0 * kappa * y * y)

    res = optimize.minimize_scalar(neg, bounds=(0.2, 5.0), method="bounded", options={"xatol": 1e-12})
    return float(-res.fun), float(special.erf(res.x))


# ---- finite temperature ---------------------------------------------------------------
def solve_rs(alpha, temperature, order: int, convention: str = "self", m0: float = 1.0, q0: float = 1.0,
             iterations: int = 4000, tol: float = 1e-11):
    """Damped iteration of the RS equations; arrays broadcast. Returns (m, q).

    ``m0 = 1`` follows the retrieval branch, ``m0 = 0`` the m = 0 states (``q0`` near 1:
    the glassy branch where it exists, ``q0 = 0``: the paramagnet / weakly frozen one)."""
    p = _check(order, convention)
    if p == 2:
        m, q, _ = ags.solve_rs(alpha, temperature, m0)
        return m, q
    alpha, temperature = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(temperature, float))
    if np.any(alpha < 0) or np.any(temperature < 0):
        raise ValueError("dense solve_rs: load and temperature must be >= 0")
    beta = 1.0 / np.maximum(temperature, T_ZERO)
    m = np.full(alpha.shape, float(m0))
    q = np.full(alpha.shape, float(q0))
    for _ in range(iterations):
        s = np.sqrt(alpha * phi(q, p, convention, 1))
        th = np.tanh(beta[..., None] * (m[..., None] ** (p - 1) + s[..., None] * _Z))
        m_new = 0.5 * m + 0.5 * (th @ _WZ)
        q_new = 0.5 * q + 0.5 * ((th * th) @ _WZ)
        done = max(np.max(np.abs(m_new - m), initial=0.0), np.max(np.abs(q_new - q), initial=0.0)) < tol
        m, q = m_new, q_new
        if done:
            break
    return m, q


def free_energy(alpha, temperature, order: int, convention: str = "self", m0: float = 1.0, q0: float = 1.0):
    """RS free energy per neuron of the state reached from (m0, q0), up to a constant common
    to all states at this (α, T); returns (f, m, q). See the module docstring for f."""
    p = _check(order, convention)
    m, q = solve_rs(alpha, temperature, p, convention, m0, q0, iterations=1500, tol=1e-9)
    alpha = np.asarray(alpha, float)
    beta = 1.0 / np.maximum(np.asarray(temperature, float), T_ZERO)
    d1 = phi(q, p, convention, 1)
    arg = beta[..., None] * (m[..., None] ** (p - 1) + np.sqrt(alpha * d1)[..., None] * _Z)
    lncosh = np.logaddexp(arg, -arg) @ _WZ
    f = ((p - 1) / p * m**p
         - 0.5 * beta * alpha * (phi(1.0, p, convention) - phi(q, p, convention) - (1.0 - q) * d1)
         - lncosh / beta)
    return f, m, q


def retrieval_overlap(alpha: float, temperature: float, order: int, convention: str = "self") -> float:
    """Predicted retrieval overlap at (α, T) (P = α N^{p−1}); 0 where no retrieval state exists."""
    p = _check(order, convention)
    alpha, temperature = float(alpha), float(temperature)
    if alpha < 0 or temperature < 0:
        raise ValueError(f"dense retrieval_overlap: load and temperature must be >= 0, not ({alpha}, {temperature})")
    if p == 2:
        return ags.retrieval_overlap(alpha, temperature)
    if temperature < T_COLD:
        return zero_temperature_overlap(alpha, p, convention)
    if alpha == 0.0:
        return ags.curie_weiss_overlap(temperature, p)
    m, _ = solve_rs(alpha, temperature, p, convention)
    m = float(m)
    return m if m > 1e-4 else 0.0


def curie_weiss_spinodal(order: int) -> float:
    """T where the α → 0 retrieval branch of m = tanh(β m^{p−1}) ends: max_m m^{p−1}/atanh(m)."""
    p = int(order)
    if p == 2:
        return 1.0
    res = optimize.minimize_scalar(lambda m: -m ** (p - 1) / math.atanh(m), bounds=(1e-3, 1 - 1e-9),
                                   method="bounded", options={"xatol": 1e-12})
    return float(-res.fun)


# ---- the m = 0 states: the spin-glass line T_g = τ √α --------------------------------------
@functools.lru_cache(maxsize=64)
def glass_temperature(order: int, convention: str = "self") -> float:
    """τ_g with the spin-glass line T_g = τ_g √α: below it the m = 0 RS equations have a
    glassy branch, q above the paramagnet's (the RS spin-glass spinodal; continuous, SK-like,
    at τ_g = √(Φ''(0)/α) where Φ has a q² term, i.e. even p with self-interactions).
    NaN where the m = 0 states have one branch only at every T: odd p with self-interactions,
    whose quenched random field Σ_μ ξ_i^μ/N makes q > 0 everywhere and rounds the freezing off.

    Not the static transition: in RS the paramagnet's entropy ln 2 − β²Φ(1)/2 turns negative at
    low T, so comparing its free energy with the glass's needs 1RSB (not done here)."""
    p = _check(order, convention)
    if p == 2:
        return 1.0

    def distinct(tau):  # at α = 1, T = τ: do the two starts reach different m = 0 states?
        _, qh = solve_rs(1.0, tau, p, convention, m0=0.0, q0=1.0, iterations=3000, tol=1e-10)
        _, ql = solve_rs(1.0, tau, p, convention, m0=0.0, q0=0.0, iterations=3000, tol=1e-10)
        return float(qh) - float(ql) > 1e-3

    taus = np.linspace(0.1, 6.0, 60)
    have = [distinct(t) for t in taus]
    if not any(have):
        return float("nan")
    i = max(k for k, h in enumerate(have) if h)
    if i + 1 >= len(taus):
        return float("nan")
    return float(ags._bisect(lambda t: np.array(distinct(float(t))), taus[i], taus[i + 1], 18))


# ---- the phase diagram ------------------------------------------------------------------
def _retrieval_exists(alpha, temperature, order, convention):
    m, _ = solve_rs(alpha, temperature, order, convention, iterations=1500, tol=1e-9)
    return m > 0.05


#: phase_diagram(p) for p = 3…8 (self-interactions, 20 points), as computed by
#: ``python -m attractor_lab.engine.theory.dense`` (3–6 s each: a dense network's first frame
#: waited for it); tests/test_hopfield_dense.py recomputes one and compares
TABLE = Path(__file__).with_name("dense_diagrams.json")


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    try:
        return json.loads(TABLE.read_text())
    except (OSError, ValueError):
        return {}


def phase_diagram(order: int, convention: str = "self", points: int = 20) -> dict[str, np.ndarray]:
    """:func:`compute_phase_diagram`, read from the shipped table where it holds it."""
    stored = _table().get(str(order)) if convention == "self" and points == 20 else None
    if stored is not None:
        return {k: np.array(v, dtype=float) for k, v in stored.items()}
    return compute_phase_diagram(order, convention, points)


@functools.lru_cache(maxsize=16)
def compute_phase_diagram(order: int, convention: str = "self", points: int = 20) -> dict[str, np.ndarray]:
    """The (α, T) phase diagram in the scaling P = α N^{p−1} (p ≥ 3; p = 2 returns AGS's).

    ``alpha``, ``T_M``: retrieval states exist left of / below this line (spinodal;
    T_M = Curie–Weiss spinodal at α = 0, α = α_c at T = 0). ``alpha_Tc``, ``T_c``: retrieval
    has a lower RS free energy than the m = 0 glassy state inside this line. ``alpha_g``,
    ``T_g``: the RS spin-glass line T_g = τ_g √α (NaN where none, see glass_temperature).

    Both retrieval lines are computed as α(T) on a temperature grid (bisection in α), since in
    RS they lean slightly past α_c at small T (re-entrance, as AGS's T_M does)."""
    p = _check(order, convention)
    if p == 2:
        pd = dict(ags.phase_diagram())
        pd["alpha_g"] = pd["alpha"]
        return pd
    alpha_c, _ = critical_load(p, convention)
    t0 = curie_weiss_spinodal(p)
    temps = np.linspace(T_COLD, t0 * (1.0 - 1e-3), points)
    hi = np.full(temps.shape, 1.4 * alpha_c)
    a_m = ags._bisect(lambda a: _retrieval_exists(a, temps, p, convention), np.zeros(temps.shape), hi, 14)

    def retrieval_wins(a, t):
        f_ret, m, _ = free_energy(a, t, p, convention, 1.0, 1.0)
        # the m = 0 competitor: the glassy branch where it exists (else the one m = 0 state),
        # as AGS's T_c; the RS paramagnet below T_g has negative entropy and is not compared
        f_sg, _, _ = free_energy(a, t, p, convention, 0.0, 1.0)
        return (m > 0.05) & (f_ret < f_sg)

    t_cw = _curie_weiss_tc(p)
    temps_c = np.linspace(T_COLD, t_cw * (1.0 - 1e-3), max(points // 2, 6))
    a_c = ags._bisect(lambda a: retrieval_wins(a, temps_c), np.full(temps_c.shape, 1e-9),
                      np.full(temps_c.shape, 1.4 * alpha_c), 14)
    tau_g = glass_temperature(p, convention)
    alpha_g = np.linspace(0.0, 1.5 * alpha_c, points)
    T_g = tau_g * np.sqrt(alpha_g) if np.isfinite(tau_g) else np.full(points, np.nan)
    return {"alpha": np.concatenate([[alpha_c], a_m, [0.0]]), "T_M": np.concatenate([[0.0], temps, [t0]]),
            "alpha_Tc": np.concatenate([a_c, [0.0]]), "T_c": np.concatenate([temps_c, [t_cw]]),
            "alpha_g": alpha_g, "T_g": T_g}


def _curie_weiss_tc(order: int) -> float:
    """α = 0: the T below which the retrieval state's f = (p−1)m^p/p − T ln 2cosh(βm^{p−1})
    is below the paramagnet's −T ln 2 (first-order transition of the p-spin Curie–Weiss)."""
    p = int(order)

    def gap(t):
        m = ags.curie_weiss_overlap(t, p)
        if m == 0.0:
            return 1.0
        b = 1.0 / t
        return (p - 1) / p * m**p - t * (np.logaddexp(b * m ** (p - 1), -b * m ** (p - 1))) + t * math.log(2.0)

    t_s = curie_weiss_spinodal(p)
    return float(optimize.brentq(gap, 0.05, t_s * (1 - 1e-6), xtol=1e-10))


def capacity_table(orders=range(2, 9)) -> list[tuple[int, float, float, float]]:
    """[(p, α_c self, α_c distinct, m at α_c), ...] at T = 0, RS."""
    return [(p, critical_load(p, "self")[0], critical_load(p, "distinct")[0], critical_load(p, "self")[1])
            for p in orders]


def write_table(orders=range(3, 9)) -> None:
    """Recompute the shipped table of phase diagrams (atomic write)."""
    from attractor_lab.engine.files import atomic_write_bytes

    data = {str(p): {k: [None if not np.isfinite(x) else float(x) for x in np.asarray(v, float)]
                     for k, v in compute_phase_diagram(p).items()} for p in orders}
    atomic_write_bytes(TABLE, (json.dumps(data, indent=1) + "\n").encode())


if __name__ == "__main__":
    write_table()
    print(f"wrote {TABLE}")
