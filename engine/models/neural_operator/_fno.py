"""A compact Fourier neural operator (Li et al., ICLR 2021) for 1D and 2D periodic fields.

Why our own and not the ``neuraloperator`` package: the whole network is
~150 lines of torch with nothing to install; its tensors have plain names, so a
checkpoint can be checked shape by shape against the architecture its card
declares before a single value is read (safetensors, no pickle); and the pieces
this project needs — the viscosity and forcing as input channels, a residual
update with normalisation statistics stored as buffers, modes clipped on a
coarser grid — are a few lines here and wrappers around someone else's classes
there. ``neuraloperator`` 2.0 would bring its own checkpoint format (torch.save,
i.e. pickle), a dependency tree (wandb and more by default), and datasets that
download at run time, which cannot work offline.

Network (one Fourier layer: v ← σ(K v + W v), K the spectral convolution)::

    inputs (C_in channels) → lift (1×1) → L Fourier layers (GELU, none after
    the last) → projection (1×1, GELU, 1×1) → one channel

The spectral convolution multiplies the lowest ``modes`` Fourier coefficients
(per axis; both signs of k_x in 2D, the real FFT's half-plane in k_y) by
learned complex matrices (width × width) and drops the rest. The transform
pair rfft/irfft (``norm="backward"``) makes the layer act on the field's
Fourier coefficients, not on the grid, so the same weights evaluate the
operator on any grid: zero-shot resolution change. On a grid too coarse to
hold the trained modes they are clipped to what the grid has.

:class:`NeuralOperator` wraps the network as the map u(t) → u(t + Δt): the
inputs are the field divided by ``field_scale``, the viscosity as
(log ν − centre)/half-width (−1 … 1 across the trained range) and, in 2D, the
forcing amplitude times Li et al.'s forcing pattern; the output is a residual,
u(t + Δt) = u(t) + ``delta_scale`` · net(…). The two scales are buffers (in
the checkpoint). Complex weights are stored as real tensors with a trailing
axis of 2 (re, im).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

#: the architecture keys of a card that the tensor shapes depend on
ARCH_KEYS = ("dims", "in_channels", "width", "modes", "layers", "projection")
#: nonlinearities between layers (GELU as Li et al.; SiLU and ReLU are cheaper on a CPU)
ACTIVATIONS = {"gelu": F.gelu, "silu": F.silu, "relu": F.relu}


def pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, add: torch.Tensor | None = None):
    """A 1×1 convolution on (B, C, *spatial), plus ``add`` (same shape as the output) if given:
    one GEMM per sample over the flattened grid, without copying the activations."""
    b, c = x.shape[:2]
    flat = x.reshape(b, c, -1)
    base = bias[:, None] if add is None else add.reshape(b, weight.shape[0], -1) + bias[:, None]
    if b == 1:
        out = torch.addmm(base[0] if base.ndim == 3 else base, weight, flat[0])[None]
    else:  # a stride-0 batch of the weight: no copy of the activations (matmul folds and transposes)
        out = torch.baddbmm(base.expand(b, -1, flat.shape[-1]), weight.expand(b, -1, -1), flat)
    return out.reshape(b, weight.shape[0], *x.shape[2:])


class Pointwise(nn.Module):
    """1×1 convolution with Li et al.'s initialisation (uniform ±1/√fan_in)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        bound = 1.0 / math.sqrt(c_in)
        self.weight = nn.Parameter(torch.empty(c_out, c_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(c_out).uniform_(-bound, bound))

    def forward(self, x, add=None):
        return pointwise(x, self.weight, self.bias, add)


class SpectralConv(nn.Module):
    """Truncated Fourier multiplier: (B, width, n) or (B, width, n, n) → same shape.

    Weights: 1D (width, width, modes, 2); 2D (2, width, width, modes, modes, 2),
    block 0 for k_x = 0 … modes−1, block 1 for k_x = −modes … −1.
    """

    def __init__(self, width: int, modes: int, dims: int):
        super().__init__()
        if dims not in (1, 2):
            raise ValueError(f"dims must be 1 or 2, not {dims}")
        self.width, self.modes, self.dims = width, modes, dims
        shape = (width, width, modes, 2) if dims == 1 else (2, width, width, modes, modes, 2)
        self.weight = nn.Parameter(torch.randn(shape) / (width * math.sqrt(2.0)))

    @staticmethod
    def expected_shape(width: int, modes: int, dims: int) -> tuple[int, ...]:
        return (width, width, modes, 2) if dims == 1 else (2, width, width, modes, modes, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        if self.dims == 1:
            n = x.shape[-1]
            xf = torch.fft.rfft(x)
            m = min(self.modes, xf.shape[-1])
            out = torch.zeros_like(xf)
            out[..., :m] = mix_modes(xf[..., :m], w[..., :m, :])
            return torch.fft.irfft(out, n=n)
        n1, n2 = x.shape[-2:]
        xf = torch.fft.rfft2(x)
        m1, m2 = min(self.modes, n1 // 2), min(self.modes, xf.shape[-1])
        out = torch.zeros_like(xf)
        out[..., :m1, :m2] = mix_modes(xf[..., :m1, :m2], w[0, ..., :m1, :m2, :])
        out[..., n1 - m1:, :m2] = mix_modes(xf[..., n1 - m1:, :m2], w[1, ..., self.modes - m1:, :m2, :])
        return torch.fft.irfft2(out, s=(n1, n2))


def mix_modes(xf: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """out[b, o, k] = Σ_i xf[b, i, k]·w[i, o, k] for every mode k: ``xf`` (B, I, *K) complex,
    ``weight`` (I, O, *K, 2) real (re, im) → (B, O, *K) complex.

    torch's complex batched matmul on the CPU copies every small matrix (measured 10×
    slower than this); small batches (the live rollout) broadcast and sum, larger
    ones (training) run one real batched GEMM on [Re, Im] blocks."""
    b, i = xf.shape[:2]
    o, modes = weight.shape[1], xf.shape[2:]
    if b <= 2:
        return (xf[:, :, None] * torch.view_as_complex(weight.contiguous())[None]).sum(1)
    p = math.prod(modes)
    xr = torch.view_as_real(xf).reshape(b, i, p, 2).permute(2, 0, 3, 1).reshape(p, b, 2 * i)
    wr = weight[..., 0].reshape(i, o, p).permute(2, 0, 1)
    wi = weight[..., 1].reshape(i, o, p).permute(2, 0, 1)
    block = torch.cat((torch.cat((wr, wi), 2), torch.cat((-wi, wr), 2)), 1)  # (p, 2I, 2O)
    out = torch.bmm(xr, block).reshape(p, b, 2, o).permute(1, 3, 0, 2).contiguous()
    return torch.view_as_complex(out).reshape(b, o, *modes)


class FNO(nn.Module):
    """The Fourier neural operator network (no normalisation, no residual)."""

    def __init__(self, dims: int, in_channels: int, width: int, modes: int, layers: int, projection: int,
                 activation: str = "gelu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}")
        self.dims, self.act = dims, ACTIVATIONS[activation]
        self.lift = Pointwise(in_channels, width)
        self.spectral = nn.ModuleList(SpectralConv(width, modes, dims) for _ in range(layers))
        self.pointwise = nn.ModuleList(Pointwise(width, width) for _ in range(layers))
        self.project = Pointwise(width, projection)
        self.out = Pointwise(projection, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lift(x)
        last = len(self.spectral) - 1
        for i, (k, w) in enumerate(zip(self.spectral, self.pointwise)):
            x = w(x, add=k(x))
            if i < last:
                x = self.act(x)
        return self.out(self.act(self.project(x)))


def expected_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape for an architecture (the checkpoint must match these exactly)."""
    d, c, w, m, layers, p = (config[k] for k in ARCH_KEYS)
    shapes = {"net.lift.weight": (w, c), "net.lift.bias": (w,)}
    for i in range(layers):
        shapes[f"net.spectral.{i}.weight"] = SpectralConv.expected_shape(w, m, d)
        shapes[f"net.pointwise.{i}.weight"] = (w, w)
        shapes[f"net.pointwise.{i}.bias"] = (w,)
    shapes.update({"net.project.weight": (p, w), "net.project.bias": (p,), "net.out.weight": (1, p),
                   "net.out.bias": (1,), "field_scale": (), "delta_scale": ()})
    return shapes


def li_forcing_pattern(shape: tuple[int, int], device, dtype) -> torch.Tensor:
    """(sin 2π(x+y) + cos 2π(x+y))/√2 on an n×n grid, x_i = i/n: Li et al.'s forcing over its amplitude 0.1·√2."""
    n = shape[-1]
    x = torch.arange(n, device=device, dtype=torch.float64) / n
    s = 2 * math.pi * (x[:, None] + x[None, :])
    return ((torch.sin(s) + torch.cos(s)) / math.sqrt(2.0)).to(dtype)


class NeuralOperator(nn.Module):
    """u(t) → u(t + Δt) for a batch of fields, with the viscosity (and forcing) as inputs.

    ``config`` holds the card's architecture keys (:data:`ARCH_KEYS`) and
    ``viscosity_range`` [ν_min, ν_max] (the normalisation of log ν).
    """

    def __init__(self, config: dict):
        super().__init__()
        self.dims = int(config["dims"])
        expected_in = 2 if self.dims == 1 else 3
        if int(config["in_channels"]) != expected_in:
            raise ValueError(f"in_channels: a {self.dims}D operator reads {expected_in} channels "
                             f"(field, log viscosity{', forcing' if self.dims == 2 else ''}), not {config['in_channels']}")
        self.net = FNO(*(int(config[k]) for k in ARCH_KEYS), activation=config.get("activation", "gelu"))
        lo, hi = (float(v) for v in config["viscosity_range"])
        self.log_nu_centre = 0.5 * (math.log(lo) + math.log(hi))
        self.log_nu_half = max(0.5 * (math.log(hi) - math.log(lo)), 1e-6)
        self.register_buffer("field_scale", torch.tensor(1.0))
        self.register_buffer("delta_scale", torch.tensor(1.0))
        #: Δt and domain length: with them the output's dealiased band is the solver's (see :meth:`forward`)
        self.dt = float(config["dt"]) if config.get("dt") is not None else None
        self.length = float(config.get("length", 1.0))
        self._band_cache: dict = {}

    def _band(self, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(keep, k²) on the rfft grid of an n-point (1D) or n×n (2D) field: ``keep`` marks the modes the
        engine's solver evolves on that grid (2/3 rule per axis, 3|m| < n), k² = |2πm/L|²."""
        key = (n, str(device))
        if key not in self._band_cache:
            m_last = torch.arange(n // 2 + 1, device=device, dtype=torch.float64)
            if self.dims == 1:
                keep, m2 = 3 * m_last < n, m_last**2
            else:
                m_first = torch.fft.fftfreq(n, 1.0 / n, device=device, dtype=torch.float64)
                keep = (3 * m_first.abs()[:, None] < n) & (3 * m_last[None, :] < n)
                m2 = m_first[:, None] ** 2 + m_last[None, :] ** 2
            self._band_cache[key] = (keep, m2 * (2 * math.pi / self.length) ** 2)
        return self._band_cache[key]

    def project(self, pred: torch.Tensor, u: torch.Tensor, viscosity) -> torch.Tensor:
        """The network's step ``pred`` made consistent with the solver's linear part, mode by mode:

        - outside the solver's band (2/3 rule: its nonlinear term is dealiased there) the modes only
          decay, so they are set to û·exp(−ν k² Δt). Without this the network's pointwise path and
          GELU leave grid-scale noise there (stripes in 1D, a checkerboard in 2D), which no training
          target contains; on a finer or coarser race grid the band is that grid's, as the solver's is;
        - inside the band but beyond the spectral layers' ``modes`` (per axis), where the network
          acts only through its pointwise path, the residual also gets the exact viscous factor:
          pred − (1 − exp(−ν k² Δt))·û. A fresh random start has power there that viscosity removes
          within one Δt; the pointwise path alone did not learn that (half the first-step error of
          the Navier–Stokes checkpoint from a fresh start was there)."""
        n, dims = u.shape[-1], self.dims
        keep, k2 = self._band(n, u.device)
        modes = self.net.spectral[0].modes
        m_last = torch.arange(n // 2 + 1, device=u.device)
        if dims == 1:
            tail = m_last >= modes
        else:
            m_first = torch.fft.fftfreq(n, 1.0 / n, device=u.device).abs()
            tail = (m_first[:, None] >= modes) | (m_last[None, :] >= modes)
        nu = torch.as_tensor(viscosity, dtype=torch.float64, device=u.device).reshape((-1,) + (1,) * dims)
        factor = torch.exp(-nu * k2 * self.dt)
        keep_pred = keep.to(u.dtype)
        from_input = torch.where(keep, torch.where(tail, factor - 1.0, 0.0), factor).to(u.dtype)
        fft, ifft = (torch.fft.rfft, torch.fft.irfft) if dims == 1 else (torch.fft.rfft2, torch.fft.irfft2)
        out = fft(pred) * keep_pred + fft(u) * from_input
        return ifft(out, s=(n, n)) if dims == 2 else ifft(out, n=n)

    def inputs(self, u: torch.Tensor, viscosity, forcing=None) -> torch.Tensor:
        """The input channels for fields ``u`` (B, *grid); ``viscosity`` and ``forcing`` a number or (B,)."""
        b, grid = u.shape[0], u.shape[1:]
        shape = (b, 1) + (1,) * len(grid)
        nu = torch.as_tensor(viscosity, dtype=torch.float64, device=u.device).reshape(-1)
        code = ((torch.log(nu) - self.log_nu_centre) / self.log_nu_half).to(u.dtype)
        channels = [(u / self.field_scale)[:, None], code.reshape(-1, *shape[1:]).expand(b, 1, *grid)]
        if self.dims == 2:
            amp = torch.as_tensor(0.0 if forcing is None else forcing, dtype=u.dtype, device=u.device).reshape(-1)
            pattern = li_forcing_pattern(grid, u.device, u.dtype)
            channels.append((amp.reshape(-1, *shape[1:]) * pattern).expand(b, 1, *grid))
        return torch.cat(channels, 1)

    def forward(self, u: torch.Tensor, viscosity, forcing=None) -> torch.Tensor:
        pred = u + self.delta_scale * self.net(self.inputs(u, viscosity, forcing))[:, 0]
        return pred if self.dt is None else self.project(pred, u, viscosity)

    def rollout(self, u: torch.Tensor, viscosity, steps: int, forcing=None) -> torch.Tensor:
        """(B, steps, *grid): the operator fed its own output ``steps`` times."""
        out = []
        for _ in range(steps):
            u = self(u, viscosity, forcing)
            out.append(u)
        return torch.stack(out, 1)


def parameter_count(config: dict) -> int:
    return sum(math.prod(s) for k, s in expected_shapes(config).items() if k.startswith("net."))
