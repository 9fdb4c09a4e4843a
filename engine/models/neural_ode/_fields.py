"""Learned vector fields and what the solver does with them.

* :class:`MLPField` — f_θ(x): an MLP from the state (or its component-wise
  cubes, the input of torchdiffeq's ``ode_demo``) to dx/dt.
* :class:`LTCField` — a liquid time-constant cell on the state (Hasani et al.
  2021): dx/dt = −[1/τ + f(x; θ)] ⊙ x + f(x; θ) ⊙ A, with f an MLP, τ > 0
  (softplus) and A learned per component.
* :class:`SolverProbe` — the function torchdiffeq integrates: counts calls of
  the field (split into the forward solve and the backward pass), accepted and
  rejected steps (torchdiffeq's step callbacks), and, for the solver-heuristic
  regulariser of Pal et al. (ICML 2021), the embedded local error estimate of
  every accepted step, differentiably.

How the error estimate is caught: torchdiffeq computes it inside each step as
``error_ratio = norm(y_err / (atol + rtol · max(|y0|, |y1|)))`` and accepts the
step when it is ≤ 1. We pass our own ``norm`` (the same RMS norm) through
``options``; ``callback_step`` arms it, so the first norm evaluated in a step
— the error ratio, still attached to the autograd graph through the stages —
is kept, and ``callback_accept_step`` books it with that step's size. The
initial-step heuristic also calls ``norm``, but before any ``callback_step``,
so it is never mistaken for an error estimate. Step sizes come out of
torchdiffeq's controller without gradient; the error estimate carries it.

The stiffness estimate (dopri5 only) is Hairer's: the last two stages of a
Dormand–Prince step are both evaluated at t + h (stage 6 at the stage state
g₆, stage 7 at the new state y₁), so λ ≈ ‖k₇ − k₆‖ / ‖y₁ − g₆‖ estimates the
largest eigenvalue along the step, and h·λ is what limits an explicit step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {
    "tanh": torch.tanh,
    "softplus": nn.functional.softplus,
    "silu": nn.functional.silu,
    "gelu": nn.functional.gelu,
    "relu": torch.relu,
    "elu": nn.functional.elu,
}
INPUTS = ("state", "cubes")
#: Solvers with an embedded error estimate (the regulariser needs one); dopri5 also gives the stiffness estimate.
ADAPTIVE_SOLVERS = ("dopri5", "bosh3", "adaptive_heun", "dopri8", "fehlberg2")


def _uniform(shape, bound, generator, device, dtype):
    return (2.0 * torch.rand(shape, generator=generator, device=device, dtype=dtype) - 1.0) * bound


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units, then a linear read-out.

    Initialised like ``nn.Linear`` (uniform in ±1/√fan_in) but from the
    model's own generator, so a seed fixes the network; the read-out is
    scaled by ``out_scale`` so that training starts from a gentle field.
    """

    def __init__(self, dim_in, dim_out, width, depth, activation, inputs, *, generator, device, dtype,
                 out_scale=0.1):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}")
        if inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {', '.join(INPUTS)}, not {inputs!r}")
        self.activation_name, self.inputs = activation, inputs
        self.act = ACTIVATIONS[activation]
        sizes = [dim_in] + [width] * depth + [dim_out]
        self.layers = nn.ModuleList()
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layer = nn.Linear(a, b, device=device, dtype=dtype)
            bound = 1.0 / math.sqrt(a)
            scale = out_scale if i == len(sizes) - 2 else 1.0
            with torch.no_grad():
                layer.weight.copy_(scale * _uniform((b, a), bound, generator, device, dtype))
                layer.bias.copy_(scale * _uniform((b,), bound, generator, device, dtype))
            self.layers.append(layer)
        # a plain tuple for the hot path (slicing a ModuleList builds a new module on every call);
        # a tuple is not registered as a submodule, so the state dict keeps one name per tensor
        self._plan = (tuple(self.layers[:-1]), self.layers[-1])
        self._cubes = inputs == "cubes"

    def forward(self, x):
        h = x * x * x if self._cubes else x
        hidden, readout = self._plan
        act = self.act
        for layer in hidden:
            h = act(layer(h))
        return readout(h)


class MLPField(nn.Module):
    """dx/dt = MLP(x)."""

    kind = "mlp"

    def __init__(self, dim, width, depth, activation, inputs, *, generator, device, dtype, data_range=None):
        super().__init__()
        self.net = MLP(dim, dim, width, depth, activation, inputs, generator=generator, device=device, dtype=dtype)

    def forward(self, x):
        return self.net(x)


class LTCField(nn.Module):
    """Liquid time-constant cell: dx/dt = −[1/τ + f(x)] ⊙ x + f(x) ⊙ A.

    τ = softplus(τ_raw) > 0 starts at 1; A starts just above the data
    (max + span per component): the gate f then never has to vanish inside
    the data, which it would where x_i = A_i.
    """

    kind = "ltc"

    def __init__(self, dim, width, depth, activation, inputs, *, generator, device, dtype, data_range=None):
        super().__init__()
        self.f = MLP(dim, dim, width, depth, activation, inputs, generator=generator, device=device, dtype=dtype)
        self.tau_raw = nn.Parameter(torch.full((dim,), math.log(math.e - 1.0), device=device, dtype=dtype))
        if data_range is None:
            a0 = torch.full((dim,), 2.0, device=device, dtype=dtype)
        else:
            lo, hi = (torch.as_tensor(v, device=device, dtype=dtype) for v in data_range)
            a0 = hi + (hi - lo).clamp_min(1e-3)
        self.A = nn.Parameter(a0)

    @property
    def tau(self):
        return nn.functional.softplus(self.tau_raw)

    def forward(self, x):
        gate = self.f(x)
        return -(1.0 / self.tau + gate) * x + gate * self.A


FIELDS = {"mlp": MLPField, "ltc": LTCField}


def describe_tensor(name: str) -> str:
    """A state-dict key in words: ``net.layers.0.weight`` → ``layer 0 weight``."""
    parts = name.split(".")
    if "layers" in parts:
        i = parts.index("layers")
        return f"layer {parts[i + 1]} {parts[-1]}"
    return {"tau_raw": "time constants τ (raw)", "A": "reversal potentials A"}.get(name, name)


def _rms(x: torch.Tensor) -> torch.Tensor:
    return x.abs().pow(2).mean().sqrt()


class SolverProbe(nn.Module):
    """The function torchdiffeq integrates: ``f(t, y) = field(y)``, with accounting.

    Counters (reset by :meth:`begin`): ``nfe`` calls of the field, ``accepted``
    and ``rejected`` steps of the forward solve, ``accepted_adjoint`` and
    ``rejected_adjoint`` of an adjoint backward solve. While ``recording``,
    ``error_terms`` collects E_j · h_j for each accepted step (E_j the
    solver's error ratio, differentiable) and, with ``stiffness``,
    ``stiffness_terms`` collects λ_j · h_j.
    """

    def __init__(self, field: nn.Module):
        super().__init__()
        self.field = field
        self.begin()

    def begin(self, recording: bool = False, differentiable: bool = False, stiffness: bool = False) -> None:
        """Reset the counters for a new solve. ``recording``: collect the error terms (attached to
        the graph when ``differentiable``); ``stiffness``: also the stiffness terms (dopri5)."""
        self.nfe = 0
        self.accepted = self.rejected = 0
        self.accepted_adjoint = self.rejected_adjoint = 0
        self.recording = recording
        self.differentiable = differentiable
        self.stiffness = stiffness
        self.error_terms: list[torch.Tensor] = []
        self.stiffness_terms: list[torch.Tensor] = []
        self._armed = False
        self._error: torch.Tensor | None = None
        self._stages: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, t, y):
        self.nfe += 1
        out = self.field(y)
        if self.stiffness:
            self._stages = [*self._stages[-1:], (y, out)]
        return out

    # torchdiffeq's `norm` option: the solver's own RMS norm, remembering the step's error ratio
    def norm(self, x: torch.Tensor) -> torch.Tensor:
        value = _rms(x)
        if self._armed:
            self._error, self._armed = value, False
        return value

    # torchdiffeq step callbacks (t0, y0, dt)
    def callback_step(self, t0, y0, dt):
        self._armed = self.recording

    def callback_accept_step(self, t0, y0, dt):
        self.accepted += 1
        if not self.recording or self._error is None:
            return
        h = abs(float(dt.detach()))
        error = self._error if self.differentiable else self._error.detach()
        self.error_terms.append(error * h)
        self._error = None
        if self.stiffness and len(self._stages) == 2:
            (g6, k6), (y7, k7) = self._stages
            self.stiffness_terms.append(_rms(k7 - k6) / (_rms(y7 - g6) + 1e-12) * h)

    def callback_reject_step(self, t0, y0, dt):
        self.rejected += 1
        self._error = None

    def callback_accept_step_adjoint(self, t0, y0, dt):
        self.accepted_adjoint += 1

    def callback_reject_step_adjoint(self, t0, y0, dt):
        self.rejected_adjoint += 1

    def error_sum(self) -> torch.Tensor | None:
        """R_E = Σ_j E_j · h_j over accepted steps since :meth:`begin` (None if nothing was recorded)."""
        return torch.stack(self.error_terms).sum() if self.error_terms else None

    def stiffness_sum(self) -> torch.Tensor | None:
        """R_S = Σ_j λ_j · h_j over accepted steps (dopri5, with ``stiffness``)."""
        return torch.stack(self.stiffness_terms).sum() if self.stiffness_terms else None
