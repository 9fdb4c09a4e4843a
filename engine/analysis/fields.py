"""A model's vector field as the analysis functions see it: f(x, p) on batched torch tensors.

Every analysis (continuation, orbit diagrams, basins, nullclines) works on a
:class:`VectorField`: ``f(x, p)`` with states ``x`` of shape ``(..., d)`` and a
dict ``p`` of parameter values that may be floats or tensors broadcasting
against ``x[..., 0]`` (one value per trajectory: a whole orbit diagram is one
batch), and optionally the exact Jacobian ``jac(x, p)`` → ``(..., d, d)``.

:func:`vector_field` takes what a user has: a :class:`~attractor_lab.engine.api.Simulation`
(``al.create("ode_system", system="lorenz")``, ``al.create("custom_ode",
equations=...)``, ``al.create("neural_ode")``), a model instance, a model name
or a preset (file or shipped name). ``ode_system`` and ``custom_ode`` give
their exact Jacobians (written out, or the symbolic derivative of the typed
equations); a neural ODE's learned field gets its Jacobian from autograd and
has no parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch


@dataclass
class VectorField:
    """dx/dt = f(x, p) for the analyses.

    Attributes
    ----------
    f : callable
        ``f(x, p)`` → ``(..., d)``; ``x`` a float64 tensor ``(..., d)``, ``p`` a dict of floats or tensors.
    params : dict
        The parameter values (floats) the field was taken with.
    labels : tuple of str
        Names of the state's components.
    jac : callable or None
        The exact Jacobian ``jac(x, p)`` → ``(..., d, d)``; ``None``: autograd.
    start : ndarray (d,) or None
        The model's usual initial state.
    window : (x0, x1, y0, y1) or None
        The model's phase window in ``plane``.
    plane : (i, j)
        The two components its phase portrait shows.
    name : str
        What it is (for messages and files).
    """

    f: Callable
    params: dict = field(default_factory=dict)
    labels: tuple = ()
    jac: Callable | None = None
    start: np.ndarray | None = None
    window: tuple | None = None
    plane: tuple = (0, 1)
    name: str = "field"

    @property
    def dim(self) -> int:
        return len(self.labels)

    def values(self, **overrides) -> dict:
        """The parameter values with ``overrides`` (names checked against the declared ones)."""
        unknown = [k for k in overrides if k not in self.params]
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter {unknown[0]!r}; it has "
                             f"{', '.join(sorted(self.params)) or 'no parameters'}")
        return {**self.params, **overrides}

    def check_param(self, name: str) -> None:
        if name not in self.params:
            raise ValueError(f"{self.name}: no parameter {name!r} to vary; it has "
                             f"{', '.join(sorted(self.params)) or 'no parameters'}")

    def jacobian(self, x: torch.Tensor, p: dict) -> torch.Tensor:
        """∂f/∂x at each row of ``x`` (n, d) → (n, d, d): the exact one when the model has it."""
        if self.jac is not None:
            return self.jac(x, p)
        single = lambda v: self.f(v[None], p)[0]  # noqa: E731
        with torch.enable_grad():
            return torch.func.vmap(torch.func.jacrev(single))(x)

    def index(self, variable) -> int:
        """A component by name or index."""
        if isinstance(variable, (int, np.integer)):
            if not 0 <= int(variable) < self.dim:
                raise ValueError(f"{self.name}: variable index {variable} outside 0..{self.dim - 1}")
            return int(variable)
        if variable not in self.labels:
            raise ValueError(f"{self.name}: no variable {variable!r}; it has {', '.join(self.labels)}")
        return self.labels.index(variable)


def vector_field(source, **params) -> VectorField:
    """The :class:`VectorField` of ``source`` with parameter values ``params`` changed.

    ``source``: a Simulation, a model instance, a :class:`VectorField`, a model name
    (``"ode_system"``; ``params`` then go to :func:`attractor_lab.create`, e.g.
    ``system="lorenz"``), or a preset (a TOML path, a shipped preset's name, an
    XPPAUT ``.ode`` file).
    """
    if isinstance(source, VectorField):
        return VectorField(source.f, source.values(**params), source.labels, source.jac, source.start,
                           source.window, source.plane, source.name)
    if isinstance(source, str):
        return _from_name(source, params)
    model = getattr(source, "model", source)
    return _from_model(model, params)


def _from_name(name: str, params: dict) -> VectorField:
    from attractor_lab.engine import api, models

    if name in models.names():
        # every parameter goes to create (system=…, equations=…, and the system's own values)
        sim = api.create(name, device="cpu", **params)
        return _from_model(sim.model, {})
    from attractor_lab.engine.storage.presets import find_preset, load_preset

    try:
        path = find_preset(name)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{name!r} is neither a model ({', '.join(models.names())}) nor a preset: {exc}") from None
    preset = load_preset(path)
    sim = api.create(preset.model, seed=preset.seed, device="cpu", **preset.params)
    return _from_model(sim.model, params)


def _from_model(model, params: dict) -> VectorField:
    net = getattr(model, "field", None)
    if isinstance(net, torch.nn.Module):  # neural_ode: the learned field, no parameters
        if params:
            raise ValueError(f"{model.name}: the learned field has no parameters to set")
        dtype = next(net.parameters()).dtype

        def learned(x, p, _net=net):
            return _net(x.to(dtype)).to(torch.float64)
        sys = getattr(model, "sys", None)
        labels = tuple(sys.labels) if sys is not None else ("x", "y")
        start = np.asarray(sys.start(model.sp), dtype=np.float64) if sys is not None else None
        window = tuple(float(v) for v in sys.window(model.sp)) if sys is not None else None
        return VectorField(learned, {}, labels, None, start, window, tuple(getattr(sys, "plane", (0, 1))),
                           f"{model.name} (learned field)")
    name = getattr(model, "name", "")
    if callable(getattr(model, "reaction", None)) and hasattr(model, "reaction_names"):
        return vector_field(_kinetics(model), **params)
    if name == "rate_network":
        return vector_field(_rate_network(model), **params)
    if name == "continuous_hopfield":
        return vector_field(_continuous_hopfield(model), **params)
    sys = getattr(model, "sys", None)
    if sys is not None and hasattr(model, "sp"):  # ode_system, custom_ode
        if not sys.autonomous(model.sp):
            raise ValueError(f"{model.name}: the analyses need an autonomous field; this {sys.title} is forced "
                             f"(set its forcing to 0)")
        sp = dict(model.sp)
        t0 = torch.tensor(0.0, dtype=torch.float64)
        f = lambda x, p, _f=sys.field: _f(t0, x, p)  # noqa: E731
        jac = (lambda x, p, _j=sys.jacobian: _j(t0, x, p)) if sys.jacobian is not None else None
        try:
            window = tuple(float(v) for v in sys.window(sp))
        except Exception:  # noqa: BLE001 - a window is a convenience, never required
            window = None
        vf = VectorField(f, sp, tuple(sys.labels), jac, np.asarray(sys.start(sp), dtype=np.float64), window,
                         tuple(sys.plane), f"{model.name} ({sys.title})")
        return vector_field(vf, **params)
    raise ValueError(f"{getattr(model, 'name', model)!r}: no vector field to analyse; the analyses take "
                     f"ode_system, custom_ode, neural_ode (its learned field), rate_network, "
                     f"continuous_hopfield, a reaction–diffusion model (its kinetics) or a VectorField")


def _kinetics(model) -> VectorField:
    """A reaction–diffusion model's kinetics: du/dt = f(u, v), dv/dt = g(u, v), the local reaction
    without diffusion (a well-mixed reactor, or the uniform states of the PDE), in float64.

    Its parameters are the ones the reaction reads (``reaction_names``); the Jacobian is the model's
    own (``custom_rd``: symbolic) or, for the built-in chemistry, autograd per component (the
    reaction is pointwise, so one backward pass per row gives every point's row at once, also
    with one parameter value per point).
    """
    names = tuple(model.reaction_names)
    values = {k: float(model.p[k]) for k in names}
    react, exact = model.reaction, getattr(model, "reaction_jacobian", None)

    def f(x, p):
        du, dv = react(x[..., 0], x[..., 1], p)
        return torch.stack([torch.as_tensor(du, dtype=x.dtype).expand(x.shape[:-1]),
                            torch.as_tensor(dv, dtype=x.dtype).expand(x.shape[:-1])], dim=-1)

    def jac(x, p):
        if exact is not None:
            entries = [torch.as_tensor(e, dtype=x.dtype).expand(x.shape[:-1])
                       for e in exact(x[..., 0], x[..., 1], p)]
            return torch.stack(entries, dim=-1).reshape(x.shape[:-1] + (2, 2))
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            out = f(xg, p)
            rows = [torch.autograd.grad(out[..., k].sum(), xg, retain_graph=k == 0)[0] for k in (0, 1)]
        return torch.stack(rows, dim=-2)

    try:
        rest = model.steady_state()
    except Exception:  # noqa: BLE001 - a start is a convenience
        rest = None
    rest = np.asarray(rest if rest is not None else (0.0, 0.0), dtype=np.float64)
    su, sv = (max(1.0, abs(float(c))) for c in rest)
    window = (rest[0] - su, rest[0] + su, rest[1] - sv, rest[1] + sv)
    species = tuple(getattr(getattr(model, "spec", None), "species", None) or ("u", "v"))
    return VectorField(f, values, species, jac, rest, window, (0, 1),
                       f"{model.name} kinetics (the reaction without diffusion)")


def _units(n: int) -> tuple:
    return tuple(f"x{k}" for k in range(n))


def _rate_network(model) -> VectorField:
    """dx/dt = −x + g J tanh(x), the network's deterministic part (noise left out), in float64."""
    coupling = model.J.detach().to("cpu", torch.float64)

    def f(x, p):
        return -x + _col(p["g"], x) * (torch.tanh(x) @ coupling.T)

    def jac(x, p):
        sech2 = 1.0 - torch.tanh(x) ** 2
        eye = torch.eye(x.shape[-1], dtype=x.dtype)
        gain = _col(p["g"], x)
        gain = gain.unsqueeze(-1) if isinstance(gain, torch.Tensor) else gain
        return -eye + gain * coupling * sech2[..., None, :]

    n = coupling.shape[0]
    start = model.y[0].detach().to("cpu", torch.float64).numpy()
    return VectorField(f, {"g": float(model.p["g"])}, _units(n), jac, start, None, (0, 1),
                       "rate_network (dx/dt = −x + g J tanh x, no noise)")


def _continuous_hopfield(model) -> VectorField:
    """dx/dt = −x + Ξᵀ Ξ tanh(x / T) / N, in float64, with the temperature T as its parameter."""
    xi = model.xi.detach().to("cpu", torch.float64)
    n = xi.shape[1]
    weights = xi.T @ xi / n

    def f(x, p):
        return -x + torch.tanh(x / _col(p["temperature"], x)) @ weights.T

    def jac(x, p):
        temp = _col(p["temperature"], x)
        sech2 = (1.0 - torch.tanh(x / temp) ** 2) / temp
        return -torch.eye(n, dtype=x.dtype) + weights * sech2[..., None, :]

    start = model.x.detach().to("cpu", torch.float64).numpy()
    return VectorField(f, {"temperature": float(model.p["temperature"])}, _units(n), jac, start, None, (0, 1),
                       "continuous_hopfield (dx/dt = −x + Ξᵀ Ξ tanh(x/T) / N)")


def _col(value, x: torch.Tensor):
    """A parameter (float or a tensor with one value per trajectory) shaped to scale rows of ``x``."""
    if isinstance(value, torch.Tensor) and value.ndim >= 1:
        return value.reshape(value.shape + (1,) * (x.ndim - value.ndim))
    return value
