"""Numerics shared by the reaction–diffusion models: stencils, time steppers, limits.

The state of a two-field system is one tensor of shape ``(2, n, n)`` (``u`` then
``v``), so the Laplacian, the FFTs and the finiteness check handle both fields
in one call. A time stepper is a pure function ``(fields, prm) -> fields`` where
``prm`` is a 1-D tensor of coefficients on the model's device; passing numbers
as a tensor (not Python floats) means a slider move never triggers a
``torch.compile`` recompilation.

Schemes
-------
``euler``, ``rk4``
    explicit, on the 5-point Laplacian with periodic or zero-flux (Neumann)
    boundaries (cell-centred grid: the ghost cell mirrors the edge cell).
``etdrk4``
    exponential time differencing RK4 (Cox & Matthews 2002) with the
    contour-integral coefficients of Kassam & Trefethen (2005), Fourier
    pseudo-spectral, periodic only. Diffusion is integrated exactly, so it has
    no diffusive step limit.
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import warnings
from collections.abc import Callable

import torch

from attractor_lab.engine.device import (  # noqa: F401 (the compile helpers, used here and by tests)
    compile_policy,
    compiled_before,
    compiled_record,
    inductor_cache_dir,
    kernel_signature,
    remember_compiled,
)

SCHEMES = ("euler", "rk4", "etdrk4")
BOUNDARIES = ("periodic", "neumann")
#: ``dt·max D/h²`` bound of each explicit scheme for the 2D 5-point Laplacian,
#: whose eigenvalues lie in [-8 D/h², 0]: Euler needs dt·8D/h² ≤ 2, RK4's
#: stability region reaches -2.785 on the negative real axis.
EXPLICIT_LIMIT = {"euler": 0.25, "rk4": 2.785293563405282 / 8.0}
LIMIT_FORMULA = {"euler": "h²/(4·max D)", "rk4": "2.785·h²/(8·max D)"}
#: how far each scheme's stability region reaches along the negative real axis
#: (dt·|λ| ≤ this); ETDRK4 integrates diffusion exactly and is classical RK4 for
#: the reaction where diffusion vanishes (k = 0), so its reaction limit is RK4's
REAL_AXIS_LIMIT = {"euler": 2.0, "rk4": 2.785293563405282, "etdrk4": 2.785293563405282}


# ---- stiffness: the linearised operator over the state ---------------------------
class Dual:
    """A value with its partial derivatives along u and v (forward-mode, two directions).

    The reactions are arithmetic only, so evaluating one on ``Dual(u, 1, 0)`` and
    ``Dual(v, 0, 1)`` gives the exact Jacobian at every cell in one pass (half the
    work of two complex-step evaluations). Derivatives start as Python numbers and
    become tensors only where the arithmetic makes them so.
    """

    __slots__ = ("x", "du", "dv")

    def __init__(self, x, du, dv):
        self.x, self.du, self.dv = x, du, dv

    def __add__(self, o):
        if isinstance(o, Dual):
            return Dual(self.x + o.x, self.du + o.du, self.dv + o.dv)
        return Dual(self.x + o, self.du, self.dv)

    __radd__ = __add__

    def __neg__(self):
        return Dual(-self.x, -self.du, -self.dv)

    def __sub__(self, o):
        if isinstance(o, Dual):
            return Dual(self.x - o.x, self.du - o.du, self.dv - o.dv)
        return Dual(self.x - o, self.du, self.dv)

    def __rsub__(self, o):
        return Dual(o - self.x, -self.du, -self.dv)

    def __mul__(self, o):
        if isinstance(o, Dual):
            return Dual(self.x * o.x, self.du * o.x + self.x * o.du, self.dv * o.x + self.x * o.dv)
        return Dual(self.x * o, self.du * o, self.dv * o)

    __rmul__ = __mul__

    def __truediv__(self, o):
        if isinstance(o, Dual):
            inv = 1.0 / o.x
            q = self.x * inv
            return Dual(q, (self.du - q * o.du) * inv, (self.dv - q * o.dv) * inv)
        return Dual(self.x / o, self.du / o, self.dv / o)

    def __rtruediv__(self, o):
        inv = 1.0 / self.x
        q = o * inv
        return Dual(q, -q * inv * self.du, -q * inv * self.dv)


def reaction_jacobian(reaction: Callable, u: torch.Tensor, v: torch.Tensor, p: dict) -> tuple:
    """``(∂f/∂u, ∂f/∂v, ∂g/∂u, ∂g/∂v)`` of ``(f, g) = reaction(u, v, p)`` at every cell
    (tensors, or numbers where an entry is constant)."""
    fu, fv = reaction(Dual(u, 1.0, 0.0), Dual(v, 0.0, 1.0), p)
    out = []
    for g in (fu, fv):
        if not isinstance(g, Dual):  # a reaction term that does not depend on the state
            g = Dual(g, 0.0, 0.0)
        out.extend((g.du, g.dv))
    return out[0], out[1], out[2], out[3]


def local_reach(reaction: Callable, fields: torch.Tensor, p: dict, diffusion: tuple[float, float],
                mu_max: float, jacobian: Callable | None = None) -> tuple[float, int]:
    """How far the linearised step reaches into the left half-plane at the stiffest cell,
    and that cell's flat index.

    At each cell, the 2×2 matrix A = J(u, v) − μ_max·diag(Du, Dv): the reaction
    Jacobian at the local state with diffusion at the grid's most negative
    Laplacian eigenvalue −μ_max (8/h² for the 5-point stencil; 0 for a scheme
    that integrates diffusion exactly, ETDRK4, which is then classical RK4 for
    the reaction). Its eigenvalues are taken exactly: |λ| of the most negative
    real one, or of a complex pair in the left half-plane (0 if none). This is
    the local (frozen-coefficient, von Neumann) analysis of the grid-scale mode.
    Gershgorin's discs of the same matrix (centre J_uu − Du·μ_max, radius
    |J_uv|, …) bound it from above but overstate it wherever the coupling is
    strong: Pearson's Gray–Scott at dt = 1 reaches 1.94 (stable for Euler's 2)
    and its discs 2.02, which would stop a classic computation that runs fine.
    ``jacobian(u, v, p)``, when given, returns the four entries in place of the dual numbers.
    """
    u = fields[0]
    entries = jacobian(u, fields[1], p) if jacobian is not None else reaction_jacobian(reaction, u, fields[1], p)
    juu, juv, jvu, jvv = (torch.as_tensor(x, dtype=u.dtype, device=u.device).expand_as(u) for x in entries)
    a, d = juu - diffusion[0] * mu_max, jvv - diffusion[1] * mu_max
    half = 0.5 * (a + d)
    det = a * d - juv * jvu
    disc = half * half - det
    real_pair = torch.clamp(torch.sqrt(disc.clamp(min=0.0)) - half, min=0.0)  # −(most negative), 0 if none
    complex_pair = torch.where(half < 0, torch.sqrt(det.clamp(min=0.0)), torch.zeros_like(det))
    radius = torch.where(disc >= 0, real_pair, complex_pair)
    index = int(torch.argmax(radius))
    return float(radius.reshape(-1)[index]), index


def nyquist_power(fields: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per field (leading axis), the power on the Nyquist lines of the 2D spectrum and
    the total power of ``field − mean``, in the same units (see
    :func:`engine.analysis.morphology.nyquist_fraction`, the numpy twin)."""
    f = fields.to(torch.float64)
    f = f - f.mean(dim=(-2, -1), keepdim=True)
    ny, nx = f.shape[-2:]
    sx = 1.0 - 2.0 * (torch.arange(nx, device=f.device) % 2).to(f.dtype)
    sy = 1.0 - 2.0 * (torch.arange(ny, device=f.device) % 2).to(f.dtype)
    gx = f @ sx  # (..., ny): alternating sum along each row
    gy = sy @ f  # (..., nx)
    corner = (gx @ sy) ** 2 / (nx * ny)
    line = (gx * gx).sum(-1) / nx + (gy * gy).sum(-1) / ny - corner
    return line, (f * f).sum(dim=(-2, -1))


# ---- stencils -------------------------------------------------------------
def pad1(f: torch.Tensor, periodic: bool) -> torch.Tensor:
    """Pad the last two axes by one ghost cell (wrap, or mirror for zero flux)."""
    if periodic:
        f = torch.cat([f[..., -1:, :], f, f[..., :1, :]], dim=-2)
        return torch.cat([f[..., :, -1:], f, f[..., :, :1]], dim=-1)
    f = torch.cat([f[..., :1, :], f, f[..., -1:, :]], dim=-2)
    return torch.cat([f[..., :, :1], f, f[..., :, -1:]], dim=-1)


def laplacian5(f: torch.Tensor, periodic: bool) -> torch.Tensor:
    """5-point Laplacian times h² (unit spacing) over the last two axes."""
    p = pad1(f, periodic)
    # written as one expression so torch.compile fuses it with the reaction
    return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:] - 4.0 * f


# ---- explicit steppers --------------------------------------------------------
def make_explicit_step(reaction: Callable, names: tuple[str, ...], scheme: str, periodic: bool) -> Callable:
    """Build ``step(fields, prm) -> fields`` for an explicit scheme.

    ``prm`` holds ``dt``, ``cu = Du/h²``, ``cv = Dv/h²`` then the reaction
    parameters in the order of ``names``.
    """

    def rhs(f: torch.Tensor, p: dict) -> torch.Tensor:
        u, v = f[0], f[1]
        fu, fv = reaction(u, v, p)
        lap = laplacian5(f, periodic)
        return torch.stack((p["cu"] * lap[0] + fu, p["cv"] * lap[1] + fv))

    def unpack(prm: torch.Tensor) -> dict:
        return {name: prm[i] for i, name in enumerate(("dt", "cu", "cv") + names)}

    if scheme == "euler":

        def step(f: torch.Tensor, prm: torch.Tensor) -> torch.Tensor:
            p = unpack(prm)
            return f + p["dt"] * rhs(f, p)

    elif scheme == "rk4":

        def step(f: torch.Tensor, prm: torch.Tensor) -> torch.Tensor:
            p = unpack(prm)
            dt = p["dt"]
            k1 = rhs(f, p)
            k2 = rhs(f + 0.5 * dt * k1, p)
            k3 = rhs(f + 0.5 * dt * k2, p)
            k4 = rhs(f + dt * k3, p)
            return f + (dt / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)

    else:
        raise ValueError(f"scheme {scheme!r} is not explicit; expected one of {tuple(EXPLICIT_LIMIT)}")
    return step


# ---- fused explicit steppers (the torch.compile path) --------------------------
#: explicit steps per call of the compiled block kernel, per scheme. One call
#: costs ~20-40 µs of Python and guard overhead plus a copy (the stack of u and
#: v), which several Euler steps per call amortise: 256² float32 11k → 19k
#: steps/s with 4 (8: 21k, but twice the compile time). RK4 blocks were slower
#: (3.1k → 2.7k steps/s) and took 30-40 s to compile: one step per call.
FUSED_BLOCK_STEPS = {"euler": 4, "rk4": 1}


def row_neighbours(a: torch.Tensor, periodic: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``a[i-1, :]`` and ``a[i+1, :]`` over the last two axes (wrapped, or the edge row
    repeated: the mirrored ghost of a zero-flux wall).

    Written as a roll or a clamped gather, which inductor turns into row index
    arithmetic: the inner (column) loop stays contiguous and vectorised.
    """
    if periodic:
        return torch.roll(a, 1, -2), torch.roll(a, -1, -2)
    n = a.shape[-2]
    i = torch.arange(n, device=a.device)
    return a[..., (i - 1).clamp(min=0), :], a[..., (i + 1).clamp(max=n - 1), :]


def column_blocks(n: int, periodic: bool) -> tuple[tuple[slice, slice, slice], ...]:
    """``(centre, left, right)`` column slices of the first column, the interior and the
    last column: the left/right neighbours of each block are plain slices."""
    return ((slice(0, 1), slice(n - 1, n) if periodic else slice(0, 1), slice(1, 2)),
            (slice(1, n - 1), slice(0, n - 2), slice(2, n)),
            (slice(n - 1, n), slice(n - 2, n - 1), slice(0, 1) if periodic else slice(n - 1, n)))


def make_fused_steps(reaction: Callable, names: tuple[str, ...], scheme: str, periodic: bool,
                     count: int = 1) -> Callable:
    """Build ``steps(fields, prm) -> fields`` doing ``count`` explicit steps, written for
    ``torch.compile`` on any device.

    The same arithmetic as :func:`make_explicit_step` (same operation order), laid
    out so that inductor emits one vectorised pass over the grid per step: ``u``
    and ``v`` are separate tensors (no stack per step), rows are neighbours through
    index arithmetic (:func:`row_neighbours`) and columns through slices of three
    column blocks (:func:`column_blocks`) concatenated into the result, which
    inductor computes in place in the output (no padded copy, no per-element
    wrap-around index in the vector loop). ``count`` steps per call amortise the
    call overhead.
    """
    if scheme not in EXPLICIT_LIMIT:
        raise ValueError(f"scheme {scheme!r} is not explicit; expected one of {tuple(EXPLICIT_LIMIT)}")
    keys = ("dt", "cu", "cv") + names

    def blockwise(u: torch.Tensor, v: torch.Tensor, p: dict, update: Callable) -> tuple[torch.Tensor, torch.Tensor]:
        uu, ud = row_neighbours(u, periodic)
        vu, vd = row_neighbours(v, periodic)
        us, vs = [], []
        for c, left, right in column_blocks(u.shape[-1], periodic):
            uc, vc = u[..., c], v[..., c]
            lu = uu[..., c] + ud[..., c] + u[..., left] + u[..., right] - 4.0 * uc
            lv = vu[..., c] + vd[..., c] + v[..., left] + v[..., right] - 4.0 * vc
            fu, fv = reaction(uc, vc, p)
            a, b = update(uc, vc, p["cu"] * lu + fu, p["cv"] * lv + fv)
            us.append(a)
            vs.append(b)
        return torch.cat(us, -1), torch.cat(vs, -1)

    if scheme == "euler":

        def one(u, v, p):
            dt = p["dt"]
            return blockwise(u, v, p, lambda uc, vc, ku, kv: (uc + dt * ku, vc + dt * kv))

    else:

        def one(u, v, p):
            dt = p["dt"]
            k1u, k1v = blockwise(u, v, p, lambda uc, vc, ku, kv: (ku, kv))
            k2u, k2v = blockwise(u + 0.5 * dt * k1u, v + 0.5 * dt * k1v, p, lambda uc, vc, ku, kv: (ku, kv))
            k3u, k3v = blockwise(u + 0.5 * dt * k2u, v + 0.5 * dt * k2v, p, lambda uc, vc, ku, kv: (ku, kv))
            k4u, k4v = blockwise(u + dt * k3u, v + dt * k3v, p, lambda uc, vc, ku, kv: (ku, kv))
            return (u + (dt / 6.0) * (k1u + 2.0 * (k2u + k3u) + k4u),
                    v + (dt / 6.0) * (k1v + 2.0 * (k2v + k3v) + k4v))

    if count == 1:  # distinct code objects: dynamo's per-code recompile budget is shared otherwise

        def steps(f: torch.Tensor, prm: torch.Tensor) -> torch.Tensor:
            p = {name: prm[i] for i, name in enumerate(keys)}
            return torch.stack(one(f[0], f[1], p))

    else:

        def steps(f: torch.Tensor, prm: torch.Tensor) -> torch.Tensor:  # noqa: F811
            p = {name: prm[i] for i, name in enumerate(keys)}
            u, v = f[0], f[1]
            for _ in range(count):
                u, v = one(u, v, p)
            return torch.stack((u, v))

    return steps


# ---- ETDRK4 pseudo-spectral ---------------------------------------------------
def wavenumbers(n: int, h: float, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Angular wavenumbers (rows, rfft columns) of an n×n periodic grid of spacing h."""
    ky = 2.0 * math.pi * torch.fft.fftfreq(n, d=h, device=device, dtype=dtype)
    kx = 2.0 * math.pi * torch.fft.rfftfreq(n, d=h, device=device, dtype=dtype)
    return ky[:, None], kx[None, :]


def etdrk4_coefficients(n: int, h: float, dt: float, diffusion: tuple[float, float], device, dtype) -> dict:
    """Kassam–Trefethen ETDRK4 coefficients for L = -D|k|² per field.

    Computed in float64 on the device, averaging over 32 points of a unit
    circle around each ``z = dt·L`` (which removes the cancellation of the
    textbook formulas near z = 0), then cast to ``dtype``.
    """
    ky, kx = wavenumbers(n, h, device, torch.float64)
    k2 = ky**2 + kx**2
    d = torch.tensor(diffusion, dtype=torch.float64, device=device)[:, None, None]
    z = -dt * d * k2  # (2, n, n//2+1)
    m = 32
    acc = {key: torch.zeros_like(z, dtype=torch.complex128) for key in ("Q", "f1", "f2", "f3")}
    for j in range(m):  # a loop, not a (…, 32) tensor: 4096² grids would need gigabytes
        r = complex(math.cos(math.pi * (j + 0.5) / m), math.sin(math.pi * (j + 0.5) / m))
        zc = z.to(torch.complex128) + r
        ez, ez2 = torch.exp(zc), torch.exp(zc / 2)
        acc["Q"] += (ez2 - 1.0) / zc
        acc["f1"] += (-4.0 - zc + ez * (4.0 - 3.0 * zc + zc**2)) / zc**3
        acc["f2"] += (2.0 + zc + ez * (zc - 2.0)) / zc**3
        acc["f3"] += (-4.0 - 3.0 * zc - zc**2 + ez * (4.0 - zc)) / zc**3
    # the upper half circle and its mirror image give real averages: take Re
    coeffs = {key: (dt * (val / m).real).to(dtype) for key, val in acc.items()}
    coeffs["E"] = torch.exp(z).to(dtype)
    coeffs["E2"] = torch.exp(z / 2).to(dtype)
    return coeffs


def make_etdrk4_step(reaction: Callable, names: tuple[str, ...]) -> Callable:
    """Build ``step(fields, prm, coeffs) -> fields`` (ETDRK4, periodic, real fields)."""

    def nonlinear(f: torch.Tensor, p: dict) -> torch.Tensor:
        fu, fv = reaction(f[0], f[1], p)
        return torch.fft.rfft2(torch.stack((fu, fv)))

    def step(f: torch.Tensor, prm: torch.Tensor, c: dict) -> torch.Tensor:
        p = {name: prm[i] for i, name in enumerate(("dt", "cu", "cv") + names)}
        shape = f.shape[-2:]
        fh = torch.fft.rfft2(f)
        nf = nonlinear(f, p)
        ah = c["E2"] * fh + c["Q"] * nf
        na = nonlinear(torch.fft.irfft2(ah, s=shape), p)
        bh = c["E2"] * fh + c["Q"] * na
        nb = nonlinear(torch.fft.irfft2(bh, s=shape), p)
        ch = c["E2"] * ah + c["Q"] * (2.0 * nb - nf)
        nc = nonlinear(torch.fft.irfft2(ch, s=shape), p)
        fh = c["E"] * fh + c["f1"] * nf + 2.0 * c["f2"] * (na + nb) + c["f3"] * nc
        return torch.fft.irfft2(fh, s=shape)

    return step


# ---- torch.compile policy -----------------------------------------------------
def compiler_available(device: torch.device) -> bool:
    """Whether inductor can build kernels here (a C++ compiler on CPU, triton on CUDA)."""
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return False
        return True
    return any(shutil.which(cc) for cc in ("g++", "c++", "clang++"))


class FusedStepper:
    """An eager step function plus its ``torch.compile``d twins, swapped in when ready.

    ``fused`` (one step) and ``block`` (``block_steps`` steps per call) are
    :func:`make_fused_steps` functions: compiled, the stencil and the reaction
    run as one vectorised pass over the grid per step (on CPU ~3-4× faster
    than the eager ``eager``). Without them the eager function itself is
    compiled. In ``auto`` mode compilation runs in a daemon thread on copies of
    the state, so the simulation keeps stepping eagerly meanwhile and the GUI
    never freezes; any failure falls back to the eager function for good, with
    a warning.
    """

    def __init__(self, eager: Callable, fused: Callable | None = None, block: Callable | None = None,
                 block_steps: int = 1, name: str = ""):
        self.eager = eager
        self.name = name or getattr(eager, "__qualname__", "kernel")
        self._warm: dict[str, bool] = {}  # signature -> compiled_before (the file is read once)
        self._sources = (fused or eager, block if block_steps > 1 else None)
        self.block_steps = block_steps if block is not None else 1
        self.compiled: Callable | None = None
        self.compiled_block: Callable | None = None
        self.failed = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _build(self, example: tuple, signature: str) -> None:
        try:
            import torch._dynamo

            # each (system, scheme, boundary, grid, dtype) the user visits is one more
            # specialisation of these kernels; the default limit (8) would silently
            # drop a long session back to eager stepping
            cfg = torch._dynamo.config
            cfg.recompile_limit = max(getattr(cfg, "recompile_limit", 8), 256)
            import torch._inductor.config as inductor_config

            # leave a core to the GUI while compiling in the background: with all
            # cores compiling, the window dropped to a few frames/s for ~20 s
            inductor_config.compile_threads = max(1, (os.cpu_count() or 2) - 1)
            # the block kernel first, used as soon as it is ready: it does all but a
            # frame's last few steps (and the first compile also pays inductor's start-up)
            one, block = self._sources
            if block is not None:
                fn = torch.compile(block, dynamic=False, fullgraph=True)
                fn(*example)  # compiles now, on copies, so a failure touches nothing
                with self._lock:
                    self.compiled_block = fn
            fn = torch.compile(one, dynamic=False, fullgraph=True)
            fn(*example)
        except Exception as exc:  # noqa: BLE001 - any compiler failure means "use eager"
            with self._lock:
                self.failed, self.compiled_block = True, None
            warnings.warn(f"torch.compile unavailable for the reaction–diffusion kernel, stepping eagerly: {exc}",
                          RuntimeWarning, stacklevel=2)
            return
        with self._lock:
            self.compiled = fn
        remember_compiled(signature)

    def signature(self, example: tuple) -> str:
        return kernel_signature(self.name, example)

    def warm(self, example: tuple) -> bool:
        """Whether this kernel, for arguments shaped like ``example``, was compiled here
        before: inductor's on-disk cache then makes compiling it take seconds."""
        sig = self.signature(example)
        if sig not in self._warm:
            self._warm[sig] = compiled_before(sig)
        return self._warm[sig]

    def request(self, example: tuple, background: bool) -> None:
        """Start compiling for arguments shaped like ``example`` (once)."""
        if self.compiled is not None or self.failed or self.busy:
            return
        signature = self.signature(example)
        example = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in example)
        if background:
            self._thread = threading.Thread(target=self._build, args=(example, signature), daemon=True,
                                            name="rd-compile")
            self._thread.start()
        else:
            self._build(example, signature)

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background compilation has finished (tests, benchmarks)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _fail(self, exc: Exception) -> None:
        self.failed, self.compiled, self.compiled_block = True, None, None
        warnings.warn(f"compiled reaction–diffusion kernel failed, stepping eagerly: {exc}",
                      RuntimeWarning, stacklevel=3)

    def __call__(self, *args):
        fn = self.compiled
        if fn is None:
            return self.eager(*args)
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - e.g. a recompile that fails on a new shape
            self._fail(exc)
            return self.eager(*args)

    def run(self, f: torch.Tensor, prm: torch.Tensor, n: int, eager_prm=None) -> torch.Tensor:
        """``n`` steps from ``f``: compiled blocks of ``block_steps`` then single compiled
        steps, or ``n`` eager steps (with ``eager_prm``, default ``prm``) until compiled."""
        with self._lock:
            one, block = self.compiled, self.compiled_block
        if one is not None or block is not None:  # (the block kernel may be ready first)
            try:
                g, rest = f, n
                if block is not None:
                    for _ in range(rest // self.block_steps):
                        g = block(g, prm)
                    rest %= self.block_steps
                if one is not None:
                    for _ in range(rest):
                        g = one(g, prm)
                else:
                    for _ in range(rest):
                        g = self.eager(g, prm if eager_prm is None else eager_prm)
                return g
            except Exception as exc:  # noqa: BLE001 - e.g. a recompile that fails on a new shape
                self._fail(exc)  # steps are functional: f is intact, redo the chunk eagerly
        prm = prm if eager_prm is None else eager_prm
        for _ in range(n):
            f = self.eager(f, prm)
        return f
