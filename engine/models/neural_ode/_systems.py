"""Classical continuous-time systems: vector fields, invariants and sections.

Each :class:`System` is data plus small functions of a state ``x`` of shape
``(..., dim)`` and a dict of parameter values. The same definitions drive
``ode_system`` (integrated live) and ``neural_ode`` (the targets a network
learns), so a system is written once.

Conventions:

* ``field(t, x, p)`` is f in dx/dt = f(t, x); it broadcasts over leading axes
  and works under ``torch.func`` transforms (no in-place writes).
* ``section(x, p)``: a scalar function whose upward zero crossings define the
  Poincaré section used for periods (one crossing per turn of a cycle).
* ``invariant(x, p)``: the conserved quantity (energy, Lotka–Volterra's first
  integral), or ``None`` when the system has none; ``conserved(p)`` says
  whether it is conserved at these parameter values (a damped pendulum's
  energy is shown but decays).
* ``jacobian(t, x, p)``: ∂f/∂x, shape (..., dim, dim), written out by hand:
  the tangent vector of the Lyapunov exponent and Newton's method need it at
  every evaluation, and ``torch.func.jvp`` costs ~30× the field itself on
  these tiny states.
* ``plane``: the two components the phase portrait shows; ``window(p)`` its
  default extent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from attractor_lab.engine.params import Param

#: Parameters of all systems (each system reads its own; see system_params).
SYSTEM_PARAMS = (
    Param("mu", "float", 1.0, 0.0, 1000.0, help="Van der Pol: nonlinear damping μ (limit cycle for μ > 0; stiff for μ ≫ 1)", step=0.1),
    Param("alpha", "float", 1.0, 0.0, 10.0, help="Lotka–Volterra: prey growth rate α", step=0.05),
    Param("beta", "float", 8.0 / 3.0, 0.0, 20.0,
          help="Lotka–Volterra: predation rate β; Lorenz: β (8/3 classic)", step=0.05),
    Param("gamma", "float", 1.0, 0.0, 10.0, help="Lotka–Volterra: predator death rate γ", step=0.05),
    Param("delta", "float", 1.0, 0.0, 10.0, help="Lotka–Volterra: predator growth per prey δ", step=0.05),
    Param("damping", "float", 0.3, 0.0, 5.0, help="Duffing and pendulum: linear damping (0: conservative)", step=0.05),
    Param("stiffness", "float", -1.0, -10.0, 10.0, help="Duffing: linear stiffness (−1: double well)", step=0.1),
    Param("cubic", "float", 1.0, -10.0, 10.0, help="Duffing: cubic stiffness", step=0.1),
    Param("forcing", "float", 0.5, 0.0, 10.0, help="Duffing: forcing amplitude (0: autonomous)", step=0.05),
    Param("frequency", "float", 1.2, 0.01, 10.0, unit="rad/time", help="Duffing: forcing angular frequency", step=0.05),
    Param("gravity", "float", 1.0, 0.01, 100.0, unit="1/time²", help="pendulum: g/L, the small-angle ω₀²", log=True),
    Param("sigma", "float", 10.0, 0.0, 50.0, help="Lorenz: σ (Prandtl number)", step=0.5),
    Param("rho", "float", 28.0, 0.0, 200.0, help="Lorenz: ρ (Rayleigh number; chaos near 28)", step=0.5),
)

#: The cubic spiral of torchdiffeq's ode_demo: dy/dt = y³ A (cubes taken component-wise).
SPIRAL_A = ((-0.1, 2.0), (-2.0, -0.1))


@dataclass(frozen=True)
class System:
    name: str
    title: str
    labels: tuple[str, ...]
    equations: str
    uses: tuple[str, ...]
    field: Callable
    start: Callable[[dict], list[float]]
    window: Callable[[dict], tuple[float, float, float, float]]
    section: Callable
    invariant: Callable | None = None
    jacobian: Callable | None = None
    conserved: Callable[[dict], bool] = field(default=lambda p: False)
    plane: tuple[int, int] = (0, 1)
    autonomous: Callable[[dict], bool] = field(default=lambda p: True)

    @property
    def dim(self) -> int:
        return len(self.labels)


def _stack(*parts):
    return torch.stack(parts, dim=-1)


def _van_der_pol(t, x, p):
    u, v = x[..., 0], x[..., 1]
    return _stack(v, p["mu"] * (1.0 - u * u) * v - u)


def _rows(*rows):
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def _van_der_pol_jac(t, x, p):
    u, v = x[..., 0], x[..., 1]
    zero = torch.zeros_like(u)
    return _rows((zero, zero + 1.0), (-2.0 * p["mu"] * u * v - 1.0, p["mu"] * (1.0 - u * u)))


def _lotka_volterra(t, x, p):
    prey, pred = x[..., 0], x[..., 1]
    return _stack(p["alpha"] * prey - p["beta"] * prey * pred, p["delta"] * prey * pred - p["gamma"] * pred)


def _lotka_volterra_jac(t, x, p):
    prey, pred = x[..., 0], x[..., 1]
    return _rows((p["alpha"] - p["beta"] * pred, -p["beta"] * prey),
                 (p["delta"] * pred, p["delta"] * prey - p["gamma"]))


def _lv_invariant(x, p):
    prey, pred = x[..., 0], x[..., 1]
    return p["delta"] * prey - p["gamma"] * torch.log(prey) + p["beta"] * pred - p["alpha"] * torch.log(pred)


def _duffing(t, x, p):
    u, v = x[..., 0], x[..., 1]
    drive = p["forcing"] * math.cos(p["frequency"] * float(t))
    return _stack(v, -p["damping"] * v - p["stiffness"] * u - p["cubic"] * u * u * u + drive)


def _duffing_jac(t, x, p):
    u = x[..., 0]
    zero = torch.zeros_like(u)
    return _rows((zero, zero + 1.0), (-p["stiffness"] - 3.0 * p["cubic"] * u * u, zero - p["damping"]))


def _duffing_energy(x, p):
    u, v = x[..., 0], x[..., 1]
    return 0.5 * v * v + 0.5 * p["stiffness"] * u * u + 0.25 * p["cubic"] * u ** 4


def _lorenz(t, x, p):
    a, b, c = x[..., 0], x[..., 1], x[..., 2]
    return _stack(p["sigma"] * (b - a), a * (p["rho"] - c) - b, a * b - p["beta"] * c)


def _lorenz_jac(t, x, p):
    a, b, c = x[..., 0], x[..., 1], x[..., 2]
    zero = torch.zeros_like(a)
    return _rows((zero - p["sigma"], zero + p["sigma"], zero),
                 (p["rho"] - c, zero - 1.0, -a),
                 (b, a, zero - p["beta"]))


def _pendulum(t, x, p):
    theta, omega = x[..., 0], x[..., 1]
    return _stack(omega, -p["gravity"] * torch.sin(theta) - p["damping"] * omega)


def _pendulum_jac(t, x, p):
    theta = x[..., 0]
    zero = torch.zeros_like(theta)
    return _rows((zero, zero + 1.0), (-p["gravity"] * torch.cos(theta), zero - p["damping"]))


def _pendulum_energy(x, p):
    theta, omega = x[..., 0], x[..., 1]
    return 0.5 * omega * omega - p["gravity"] * torch.cos(theta)


def _spiral(t, x, p):
    c = x ** 3
    (a, b), (c2, d) = SPIRAL_A
    return _stack(c[..., 0] * a + c[..., 1] * c2, c[..., 0] * b + c[..., 1] * d)


def _spiral_jac(t, x, p):
    s0, s1 = 3.0 * x[..., 0] ** 2, 3.0 * x[..., 1] ** 2
    (a, b), (c, d) = SPIRAL_A
    return _rows((s0 * a, s1 * c), (s0 * b, s1 * d))


def _vdp_window(p):
    # the cycle reaches |x| ≈ 2 and |dx/dt| ≈ 2.7 (μ = 1) growing to ≈ 1.5 μ for large μ
    h = max(3.0, 0.5 + 1.6 * p["mu"])
    return (-3.0, 3.0, -h, h)


def _lv_window(p):
    xs = p["gamma"] / max(p["delta"], 1e-9)
    ys = p["alpha"] / max(p["beta"], 1e-9)
    return (0.0, 3.5 * max(xs, 1e-3), 0.0, 3.5 * max(ys, 1e-3))


SYSTEMS: dict[str, System] = {
    s.name: s
    for s in (
        System(
            "van_der_pol", "Van der Pol oscillator", ("x", "y"),
            "dx/dt = y,   dy/dt = μ (1 − x²) y − x",
            ("mu",), _van_der_pol, jacobian=_van_der_pol_jac,
            start=lambda p: [2.0, 0.0], window=_vdp_window,
            section=lambda x, p: x[..., 0],
        ),
        System(
            "lotka_volterra", "Lotka–Volterra predator–prey", ("prey", "predator"),
            "dx/dt = α x − β x y,   dy/dt = δ x y − γ y\n"
            "invariant V = δ x − γ ln x + β y − α ln y",
            ("alpha", "beta", "gamma", "delta"), _lotka_volterra, jacobian=_lotka_volterra_jac,
            start=lambda p: [2.0 * p["gamma"] / max(p["delta"], 1e-9), p["alpha"] / max(p["beta"], 1e-9)],
            window=_lv_window,
            section=lambda x, p: x[..., 0] - p["gamma"] / max(p["delta"], 1e-9),
            invariant=_lv_invariant, conserved=lambda p: True,
        ),
        System(
            "duffing", "Forced Duffing oscillator", ("x", "v"),
            "dx/dt = v,   dv/dt = −c v − k x − k₃ x³ + F cos(ω t)",
            ("damping", "stiffness", "cubic", "forcing", "frequency"), _duffing, jacobian=_duffing_jac,
            start=lambda p: [1.0, 0.0], window=lambda p: (-2.5, 2.5, -2.5, 2.5),
            section=lambda x, p: x[..., 0],
            invariant=_duffing_energy, conserved=lambda p: p["damping"] == 0 and p["forcing"] == 0,
            autonomous=lambda p: p["forcing"] == 0,
        ),
        System(
            "lorenz", "Lorenz system", ("x", "y", "z"),
            "dx/dt = σ (y − x),   dy/dt = x (ρ − z) − y,   dz/dt = x y − β z",
            ("sigma", "rho", "beta"), _lorenz, jacobian=_lorenz_jac,
            start=lambda p: [1.0, 1.0, 1.0],
            window=lambda p: (-25.0, 25.0, -2.0, max(10.0, 1.9 * p["rho"])),
            section=lambda x, p: x[..., 2] - (p["rho"] - 1.0),
            plane=(0, 2),
        ),
        System(
            "pendulum", "Pendulum", ("θ", "ω"),
            "dθ/dt = ω,   dω/dt = −(g/L) sin θ − c ω\nenergy E = ½ ω² − (g/L) cos θ",
            ("gravity", "damping"), _pendulum, jacobian=_pendulum_jac,
            start=lambda p: [2.0, 0.0],
            window=lambda p: (-1.2 * math.pi, 1.2 * math.pi, -2.5 * math.sqrt(p["gravity"]), 2.5 * math.sqrt(p["gravity"])),
            # sin θ: upward through θ = 0 once per libration, through θ = 2πk once per rotation
            section=lambda x, p: torch.sin(x[..., 0]),
            invariant=_pendulum_energy, conserved=lambda p: p["damping"] == 0,
        ),
        System(
            "spiral", "Cubic spiral (neural-ODE demo)", ("x", "y"),
            "dy/dt = y³ A,   A = [[−0.1, 2], [−2, −0.1]]   (cubes component-wise)",
            (), _spiral, jacobian=_spiral_jac,
            start=lambda p: [2.0, 0.0], window=lambda p: (-2.2, 2.2, -2.2, 2.2),
            section=lambda x, p: x[..., 0],
        ),
    )
}


def system_params(choice: str) -> tuple[Param, ...]:
    """SYSTEM_PARAMS for a model whose choice parameter ``choice`` names the system: each is
    shown in the parameter panel only for the systems that read it."""
    from dataclasses import replace

    return tuple(replace(p, shown_when=((choice, tuple(s.name for s in SYSTEMS.values() if p.name in s.uses)),))
                 for p in SYSTEM_PARAMS)


def system_values(params: dict) -> dict:
    """The system parameters out of a model's parameter dict (plain floats)."""
    return {p.name: float(params[p.name]) for p in SYSTEM_PARAMS if p.name in params}
