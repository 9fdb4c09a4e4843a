"""Random rate network at the edge of chaos (Sompolinsky, Crisanti & Sommers 1988).

N units with activations x_i and rates tanh(x_i) follow

    dx/dt = −x + g J tanh(x) + σ ξ(t),     J_ij ~ N(0, 1/N)  (i.i.d., no symmetry)

with ξ white noise private to each unit. For N → ∞ the quiet state x = 0 is
stable for g < 1: its Jacobian −1 + gJ has eigenvalues in the disc of radius g
around −1 (circular law), so perturbations die at the rate 1 − g and the
largest Lyapunov exponent is λ = g − 1. At g = 1 the disc touches zero; above,
the network is chaotic (λ > 0), with slow, irregular, self-sustained
activity. At finite N the rightmost eigenvalue μ of J lies within O(N^-1/2)
of 1, so below the transition this network's λ is g Re μ − 1 (what the tests
check, to 0.01) and g − 1 on average.

Integration: classical fixed-step RK4, dt = 0.05 by default. The measured
exponent is the exponent of the step's map, so its error is the scheme's:
at g = 0.5, dt = 0.05 the Euler map's exponent is g Re μ − 1 − 0.0064 (the
O(dt) term dt z²/2 of ln(1 + z dt)/dt), RK4's is off by 10⁻¹⁰ (O(dt⁴)). To
get Euler within 10⁻⁴ takes dt ≈ 10⁻³: ~1000 products per unit time against
RK4's 80. In the chaotic phase (g = 2, N = 500, 600 time units) RK4 at
dt = 0.05 and at dt = 0.01 and an independent two-copy numpy estimate gave
λ = 0.091, 0.081 and 0.079, equal within the statistical spread of such an
average (±0.01). RK4 is stable for |z| dt < 2.78 and the allowed ranges
(dt ≤ 0.1, g ≤ 5, so |z| ≤ 1 + g) keep |z| dt ≤ 0.6. Noise is added after
each deterministic step as σ √dt · N(0, 1) (Euler–Maruyama for the additive
part).

Largest Lyapunov exponent (Benettin): a unit tangent vector δ obeys the
variational equation dδ/dt = −δ + g J (sech²(x) ⊙ δ), integrated by the same
RK4 stages as x, so it is exactly the derivative of the discrete step (a
Runge–Kutta method commutes with linearisation). x and δ are the two rows of
one (2, N) array and each stage multiplies both by J in one pass over J (a
GEMM on the GPU, the fused kernel of :mod:`._rate_kernels` on the CPU). δ is
renormalised every step and λ is the running average of ln |δ| growth per unit
time since the last change of g, noise, dt or tracking, after a transient of
:data:`LYAPUNOV_TRANSIENT`. Additive noise is the same for x and a copy
x + εδ, so it cancels from the tangent: the tangent of the noisy
trajectory is the two-copies-with-the-same-noise estimate, without ε.

Dimension: the participation ratio PR = (Σ λ_k)² / Σ λ_k² of the eigenvalues
of the covariance of x over the last :data:`PCA_SAMPLES` samples (one every
:data:`PCA_INTERVAL` time units). It is computed from the samples' Gram
matrix, whose non-zero spectrum is the covariance's, updated row by row as
samples arrive (T·N per sample instead of N² or N³); the top three principal
components of the same window give the 3D view, refreshed every
:data:`PCA_REFRESH` samples.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attractor_lab.engine.models import register
from attractor_lab.engine.models.base import Model, SimulationDiverged
from attractor_lab.engine.params import Param

DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: the CPU refuses larger networks (J alone is 400 MB at float32); CUDA takes what fits
CPU_MAX_NEURONS = 10_000
#: time (model units) discarded after a change before λ is averaged: x relaxes and δ aligns
LYAPUNOV_TRANSIENT = 20.0
#: an estimate averaged this long is kept as a measured point on the λ(g) panel when g moves on
ARCHIVE_MIN_TIME = 20.0
#: raster: this many units, one column per RASTER_INTERVAL time units
RASTER_UNITS = 128
RASTER_SAMPLES = 256
RASTER_INTERVAL = 0.1
#: the raster's auto colour levels never span less than this: activity far below it (a quiet
#: network decayed to 1e-20) fades to the centre colour instead of magnifying what is left
RASTER_MIN_RANGE = 1e-6
TRACE_UNITS = 4
#: dimension and PCA window: full states, one every PCA_INTERVAL time units
PCA_SAMPLES = 400
PCA_INTERVAL = 0.5
PCA_REFRESH = 20
#: the PCA basis is refreshed by subspace iteration (block, products, accepted residual)
RITZ_BLOCK = 8
RITZ_ITERATIONS = 3
RITZ_TOL = 1e-2  # residual relative to the top eigenvalue (a display basis: ~1e-3 seen)


@register
class RateNetwork(Model):
    name = "rate_network"
    title = "Random rate network (edge of chaos)"
    description = (
        "Sompolinsky–Crisanti–Sommers network dx/dt = −x + gJ tanh(x): activity dies out for g < 1 and turns "
        "chaotic for g > 1. Largest Lyapunov exponent (Benettin) against the theory λ = g − 1, participation-ratio "
        "dimension, activity raster and the trajectory on its top three principal components."
    )
    equations = (
        "dx/dt = −x + g J tanh(x) + σ ξ(t),   J_ij ~ N(0, 1/N)\n"
        "tangent: dδ/dt = −δ + g J (sech²(x) ⊙ δ),   λ = lim (1/t) ln |δ(t)|\n"
        "N → ∞: λ = g − 1 for g < 1 (x = 0 stable), chaos (λ > 0) for g > 1; no closed form above\n"
        "dimension = (Σ λ_k)² / Σ λ_k² over the covariance eigenvalues of recent x"
    )
    params = (
        Param("neurons", "int", 1000, 10, 100_000, live=False, log=True,
              help=f"N; the CPU allows up to {CPU_MAX_NEURONS} (J is N×N), a GPU what its memory holds"),
        Param("g", "float", 2.0, 0.0, 5.0, step=0.05, help="gain: coupling strength; the transition to chaos is at g = 1"),
        Param("noise", "float", 0.0, 0.0, 2.0, step=0.01, unit="1/√time",
              help="σ of private white noise on every unit (0: deterministic)"),
        Param("dt", "float", 0.05, 0.001, 0.1, unit="time", log=True,
              help="RK4 step: error O(dt⁴) (λ off by 1e-10 at 0.05, g = 0.5); stable while dt·(1 + g) < 2.8"),
        Param("dtype", "choice", "float32", choices=("float32", "float64"), live=False, help="precision of J and the state"),
        Param("track_lyapunov", "bool", True,
              help="advance a tangent vector with the state (same product) to measure the largest Lyapunov exponent"),
    )
    views = (
        {"kind": "image", "array": "rates", "aspect": "free", "title": f"Rates tanh(x): {RASTER_UNITS} units × time (newest right)",
         # auto levels centred on zero that follow the activity's scale (a network at the edge moves at
         # |x| ~ 4e-3, which fixed ±1 levels drew blank); below RASTER_MIN_RANGE it fades to the centre colour
         "colormap": "RdBu", "levels": None, "symmetric": True, "robust": True, "min_range": RASTER_MIN_RANGE,
         "role": "primary"},
        {"kind": "trajectory3d", "array": "pca_trajectory", "title": "Trajectory on its top 3 principal components",
         "role": "secondary"},
        {
            "kind": "lines",
            "title": "Largest Lyapunov exponent against gain",
            "xlabel": "gain g",
            "ylabel": "λ",
            "zero_line": True,
            "series": [
                {"x": "theory_g", "y": "theory_lambda", "name": "λ = g − 1 (N → ∞, g < 1)"},
                {"x": "transition_g", "y": "transition_lambda", "name": "transition g = 1", "style": "dash"},
                {"x": "measured_g", "y": "measured_lambda", "name": "measured this run", "symbol": "o", "size": 8},
            ],
            "points": [{"x": "gain", "y": "lyapunov", "name": "now"}],
            "role": "secondary",
        },
        {
            "kind": "lines",
            "title": "Unit traces x_i(t)",
            # time before now on a fixed axis: a window sliding in absolute time moved (and laid out
            # again) the time axis every frame, the view's largest cost after its curves
            "xlabel": "time before now",
            "ylabel": "x",
            "xlim": [-RASTER_SAMPLES * RASTER_INTERVAL, 0.0],
            "series": [{"x": "trace_age", "y": f"trace_{k}", "name": f"unit {k}"} for k in range(1, TRACE_UNITS + 1)],
            "role": "secondary",
        },
        {"kind": "timeseries", "observables": ["lyapunov", "lyapunov_theory"], "title": "Running Lyapunov exponent",
         "role": "secondary"},
        {"kind": "timeseries", "observables": ["mean_abs_x"], "title": "Mean |x| (log: slope g − 1 below the transition)",
         "logy": True, "role": "secondary"},
        {"kind": "timeseries", "observables": ["dimension"], "title": "Participation-ratio dimension", "role": "secondary"},
        {"kind": "values", "observables": ["gain", "lyapunov", "lyapunov_theory", "lyapunov_time", "dimension", "mean_abs_x"],
         "title": "Now", "role": "info"},
        {"kind": "text", "array": "equations", "role": "info"},
    )
    #: a recording keeps the state itself; the rest is display (rings, theory lines)
    record_fields = ("x",)
    theory_fields = ("theory_g", "theory_lambda", "transition_g", "transition_lambda")
    state_fields = ("x",)  # a view of the state row: set_state writes it in place

    @classmethod
    def estimate_bytes(cls, p) -> int:
        """Peak memory of a reset (engine budget): J (N×N) and its temporaries, ×1.8 as
        measured (the heap keeps freed mid-size arrays), plus 128 MiB for loading the
        compiled RK4 kernel (numba) and the rings of recent states."""
        item = 8 if p["dtype"] == "float64" else 4
        return int(1.8 * p["neurons"] ** 2 * item) + (128 << 20)

    @classmethod
    def theory_lines(cls, x, y, params, x_range, y_range=None) -> list[dict]:
        """Sweep overlays: the transition g = 1 on any plane with the gain as an axis; along
        the gain alone, the N → ∞ exponent λ = g − 1 below it (noise-free networks)."""
        if y is not None and "g" in (x, y):
            other = y_range if x == "g" else x_range
            line, across = [1.0, 1.0], [float(other[0]), float(other[1])]
            return [{"name": "transition g = 1", "x": line if x == "g" else across,
                     "y": across if x == "g" else line}]
        if y is None and x == "g" and params["noise"] == 0 and x_range[0] < 1.0:
            g = np.linspace(float(x_range[0]), min(1.0, float(x_range[1])), 21)
            return [{"name": "λ = g − 1 (N → ∞)", "x": g, "y": g - 1.0, "observable": "lyapunov"}]
        return []

    # ---- lifecycle ----------------------------------------------------------
    def _reset(self) -> None:
        n = self.p["neurons"]
        dtype = DTYPES[self.p["dtype"]]
        self._check_size(n, dtype)
        dev, gen = self.device, self.generator
        self.J = torch.randn((n, n), generator=gen, device=dev, dtype=dtype).mul_(1.0 / math.sqrt(n))
        y = torch.randn((2, n), generator=gen, device=dev, dtype=dtype)
        y[1] /= torch.linalg.vector_norm(y[1])
        self.y = y  # row 0: the state x; row 1: the unit tangent vector δ
        self._ys = torch.empty_like(y)  # RK4 stage point
        self._k = torch.empty((4, 2, n), device=dev, dtype=dtype)  # stage slopes
        self._th = torch.empty(n, device=dev, dtype=dtype)
        self._phi = torch.empty_like(y)
        self._fused = self._cpu_kernels()
        self._clock = 0.0
        self._log_sum = torch.zeros((), device=dev, dtype=torch.float64)  # GPU/torch path: stays on the device
        self._log_sum_host = 0.0  # numba path
        self._measured: dict[float, tuple[float, float]] = {}
        self._restart_lyapunov()
        self._setup_rings(n, dtype)
        self._set_strides()
        self._record(force=True)

    def _check_size(self, n: int, dtype: torch.dtype) -> None:
        """Refuse a network whose couplings do not fit (before allocating anything)."""
        nbytes = n * n * torch.empty((), dtype=dtype).element_size()
        size = f"a {n}×{n} coupling matrix ({nbytes / 1e9:.2f} GB in {self.p['dtype']})"
        if self.device.type == "cpu":
            if n > CPU_MAX_NEURONS:
                raise ValueError(
                    f"rate_network: parameter 'neurons' = {n} needs {size}; on the CPU the limit is "
                    f"{CPU_MAX_NEURONS} neurons (a CUDA device allows more, up to its memory)")
            return
        if self.device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(self.device)
            need = nbytes + (PCA_SAMPLES + 16) * n * (nbytes // (n * n))
            if need > 0.9 * free:
                most = int(math.sqrt(0.9 * free / (nbytes / (n * n)))) - PCA_SAMPLES
                raise ValueError(
                    f"rate_network: parameter 'neurons' = {n} needs {size}, but {self.device} has "
                    f"{free / 1e9:.2f} GB free; use neurons <= {max(most, 10)} (or float32)")

    def _cpu_kernels(self):
        """The numba RK4 step (:mod:`._rate_kernels`) on the CPU; None on a GPU or without numba."""
        if self.device.type != "cpu":
            return None
        try:
            from attractor_lab.engine.models.neural_ode import _rate_kernels
        except ImportError:
            return None
        self._parallel = _rate_kernels.set_threads(torch.get_num_threads())
        # numpy views share memory with the torch tensors, which are only ever updated in place
        self._np = {"J": self.J.numpy(), "y": self.y.numpy(), "ys": self._ys.numpy(), "k": self._k.numpy(),
                    "th": self._th.numpy(), "w": self._phi[1].numpy()}
        return _rate_kernels

    def _restart_lyapunov(self) -> None:
        """Start λ's running average again (after a transient) for the current parameters."""
        self._log_sum.zero_()
        self._log_sum_host = 0.0
        self._lyap_time = 0.0
        self._since_restart = 0.0
        self._lyap_g = self.p["g"]

    def _on_live_change(self, changed) -> None:
        if "noise" in changed:
            self._measured.clear()  # the measured λ(g) points belong to one noise level
        elif self.p["track_lyapunov"] and self._lyap_time >= ARCHIVE_MIN_TIME and "g" in changed:
            key = round(self._lyap_g, 3)
            value = self.lyapunov()
            if key not in self._measured or self._measured[key][1] <= self._lyap_time:
                self._measured[key] = (value, self._lyap_time)
        self._restart_lyapunov()
        self._set_strides()

    # ---- integration ------------------------------------------------------------
    def _rk4(self, rows: int, h: float, g: float) -> None:
        """One RK4 step of x (rows = 1) or of x and δ together (rows = 2), in place."""
        y, ys, k = self.y[:rows], self._ys[:rows], self._k[:, :rows]
        rhs = self._slope_pair if rows == 2 else self._slope_plain
        rhs(y, k[0], g)
        torch.add(y, k[0], alpha=0.5 * h, out=ys)
        rhs(ys, k[1], g)
        torch.add(y, k[1], alpha=0.5 * h, out=ys)
        rhs(ys, k[2], g)
        torch.add(y, k[2], alpha=h, out=ys)
        rhs(ys, k[3], g)
        k[1].add_(k[2])
        y.add_(k[0], alpha=h / 6.0).add_(k[1], alpha=h / 3.0).add_(k[3], alpha=h / 6.0)

    def _slope_plain(self, y: torch.Tensor, out: torch.Tensor, g: float) -> None:
        # −x + g J tanh(x): one GEMV (addmv fuses the −x)
        torch.addmv(y[0], self.J, torch.tanh(y[0], out=self._th), beta=-1.0, alpha=g, out=out[0])

    def _slope_pair(self, y: torch.Tensor, out: torch.Tensor, g: float) -> None:
        # rows: −x + g J tanh(x) and −δ + g J (sech²(x) ⊙ δ), J read once
        th = torch.tanh(y[0], out=self._th)
        phi = self._phi
        phi[0].copy_(th)
        torch.mul(th, th, out=phi[1])
        phi[1].neg_().add_(1.0).mul_(y[1])
        torch.addmm(y, phi, self.J.T, beta=-1.0, alpha=g, out=out)

    def _step(self, n: int) -> None:
        h, g, sigma = self.dt, self.p["g"], self.p["noise"]
        track = self.p["track_lyapunov"]
        rows = 2 if track else 1
        good = self.y.clone()
        x, delta = self.y[0], self.y[1]
        fused = self._fused
        if fused is not None:
            arrays = self._np
            g_typed = arrays["y"].dtype.type(g)  # keeps float32 arithmetic in float32
        for _ in range(n):
            averaging = track and self._since_restart >= LYAPUNOV_TRANSIENT
            if fused is not None:
                log_norm = fused.rk4_step(arrays, rows, g_typed, h, self._parallel)
                if averaging:
                    self._log_sum_host += log_norm
            else:
                self._rk4(rows, h, g)
                if track:
                    norm = torch.linalg.vector_norm(delta)
                    if averaging:
                        self._log_sum.add_(torch.log(norm))
                    delta.div_(norm)
            if averaging:
                self._lyap_time += h
            if sigma > 0:
                # additive: the same for x and x + εδ, so it leaves the tangent alone
                noise = torch.randn(x.shape, generator=self.generator, device=self.device, dtype=x.dtype)
                x.add_(noise, alpha=sigma * math.sqrt(h))
            self._since_restart += h
            self._clock += h
            self._record()
        if not bool(torch.isfinite(self.y.sum())):
            self.y.copy_(good)
            raise SimulationDiverged(
                f"rate_network: the state stopped being finite between step {self.steps} and {self.steps + n}; "
                f"restored step {self.steps}. Lower 'dt' (now {h:g}) or 'g' (now {g:g}).")

    # ---- recent activity ------------------------------------------------------------
    def _setup_rings(self, n: int, dtype: torch.dtype) -> None:
        dev = self.device
        self._units = min(n, RASTER_UNITS)
        self._raster = torch.zeros((RASTER_SAMPLES, self._units), device=dev, dtype=dtype)
        self._raster_t = np.full(RASTER_SAMPLES, np.nan)
        self._raster_count = 0
        self._window = torch.zeros((PCA_SAMPLES, n), device=dev, dtype=dtype)
        self._window_count = 0
        self._gram = torch.zeros((PCA_SAMPLES, PCA_SAMPLES), device=dev, dtype=torch.float64)
        self._gram_dirty: set[int] = set()
        self._basis: torch.Tensor | None = None
        self._basis_at = -PCA_REFRESH
        self._ritz: torch.Tensor | None = None  # the Gram matrix's leading eigenvectors (slot space)
        self._x, self._x_units = self.y[0], self.y[0, : self._units]  # views, for the per-step copies
        self._raster_wait = self._window_wait = 0

    def _set_strides(self) -> None:
        self._raster_stride = max(1, round(RASTER_INTERVAL / self.dt))
        self._window_stride = max(1, round(PCA_INTERVAL / self.dt))

    def _record(self, force: bool = False) -> None:
        """Copy x into the raster and PCA rings when their sampling intervals come round
        (called every step: kept to integer counters and at most two copies)."""
        self._raster_wait -= 1
        if force or self._raster_wait <= 0:
            self._raster_wait = self._raster_stride
            slot = self._raster_count % RASTER_SAMPLES
            self._raster[slot].copy_(self._x_units)
            self._raster_t[slot] = self._clock
            self._raster_count += 1
        self._window_wait -= 1
        if force or self._window_wait <= 0:
            self._window_wait = self._window_stride
            slot = self._window_count % PCA_SAMPLES
            self._window[slot].copy_(self._x)
            self._gram_dirty.add(slot)
            self._window_count += 1

    def _ordered(self, count: int, size: int) -> np.ndarray:
        """Ring slots from oldest to newest."""
        if count <= size:
            return np.arange(count)
        return (np.arange(size) + count) % size

    def _centred_gram(self) -> torch.Tensor | None:
        """Gram matrix of the centred window (slot order), from the rows that changed."""
        filled = min(self._window_count, PCA_SAMPLES)
        if filled < 3:
            return None
        w = self._window[:filled]
        dirty = sorted(s for s in self._gram_dirty if s < filled)
        if len(dirty) > filled // 4:
            self._gram[:filled, :filled] = (w @ w.T).double()
        elif dirty:
            idx = torch.tensor(dirty, device=self.device)
            rows = (w[idx] @ w.T).double()
            self._gram[idx, :filled] = rows
            self._gram[:filled, idx] = rows.T
        self._gram_dirty.clear()
        gram = self._gram[:filled, :filled]
        mean_row = gram.mean(0)
        return gram - mean_row[None, :] - mean_row[:, None] + mean_row.mean()

    def dimension(self) -> float:
        """Participation ratio (tr C)² / tr C² of the window's covariance C; NaN without activity."""
        gc = self._centred_gram()
        if gc is None:
            return float("nan")
        trace = float(torch.diagonal(gc).sum())
        square = float((gc * gc).sum())
        if not trace > 0 or not square > 0:
            return float("nan")
        return trace * trace / square

    def _top_eigen(self, gc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The 3 largest eigenvalues of the centred Gram matrix and their eigenvectors.

        A full ``eigh`` of the 400 × 400 matrix took ~14 ms, in one frame of every 20 (a frame
        late by half a period, the schedule restarted: 23 of 30 frames/s). Once the window is
        full it changes by PCA_REFRESH samples between refreshes, so the last eigenvectors are
        a close start: subspace iteration on RITZ_BLOCK vectors (RITZ_ITERATIONS products and a
        Rayleigh–Ritz step, ~1 ms), with a full ``eigh`` whenever the Ritz residual exceeds RITZ_TOL of the top eigenvalue.
        """
        n = gc.shape[0]
        prev = self._ritz
        if prev is not None and prev.shape[0] == n:
            q = prev
            for _ in range(RITZ_ITERATIONS):
                q, _ = torch.linalg.qr(gc @ q)
            small = q.T @ gc @ q
            evals, vecs = torch.linalg.eigh(0.5 * (small + small.T))
            evals, vecs = evals.flip(0), q @ vecs.flip(1)
            resid = torch.linalg.vector_norm(gc @ vecs[:, :3] - vecs[:, :3] * evals[:3], dim=0)
            if float(resid.max()) <= RITZ_TOL * max(float(evals[0]), 1e-300):
                self._ritz = vecs
                return evals[:3].clamp_min(0.0), vecs[:, :3]
        evals, evecs = torch.linalg.eigh(gc)
        self._ritz = evecs.flip(1)[:, :RITZ_BLOCK].contiguous() if n >= RITZ_BLOCK else None
        return evals.flip(0)[:3].clamp_min(0.0), evecs.flip(1)[:, :3]

    def _pca_trajectory(self) -> np.ndarray:
        """The window projected on its top 3 principal components, (PCA_SAMPLES, 3) oldest first, NaN-padded."""
        out = np.full((PCA_SAMPLES, 3), np.nan)
        filled = min(self._window_count, PCA_SAMPLES)
        gc = self._centred_gram()
        if gc is None:
            return out
        w = self._window[:filled]
        mean = w.mean(0)
        if self._basis is None or self._window_count - self._basis_at >= PCA_REFRESH:
            top, u = self._top_eigen(gc)
            keep = top > 1e-12 * max(float(top[0]), 1e-300)
            scale = torch.where(keep, top.rsqrt(), torch.zeros_like(top))
            u = u.to(w.dtype)
            # (w − mean)ᵀ u without the centred copy of the window (T × N)
            basis = (w.T @ u - mean[:, None] * u.sum(0)) * scale.to(w.dtype)  # (N, 3) unit loadings
            if self._basis is not None and self._basis.shape == basis.shape:
                # eigenvectors have no sign: keep the one closest to the previous axes
                flip = torch.sign((basis * self._basis).sum(0))
                basis = basis * torch.where(flip == 0, torch.ones_like(flip), flip)
            self._basis, self._basis_at = basis, self._window_count
        proj = (w @ self._basis - mean @ self._basis).double().cpu().numpy()
        out[: len(proj)] = proj[self._ordered(self._window_count, PCA_SAMPLES)]
        return out

    # ---- output ----------------------------------------------------------------------
    def lyapunov(self) -> float:
        """Running average of ln |δ| growth per unit time; NaN during the transient or when not tracked."""
        if not self.p["track_lyapunov"] or self._lyap_time <= 0:
            return float("nan")
        return (float(self._log_sum) + self._log_sum_host) / self._lyap_time

    def state(self):
        order = torch.as_tensor(self._ordered(self._raster_count, RASTER_SAMPLES), device=self.device)
        raster = torch.zeros((self._units, RASTER_SAMPLES), device=self.device, dtype=self.y.dtype)
        recent = self._raster[order]
        raster[:, : len(order)] = torch.tanh(recent).T
        times = np.full(RASTER_SAMPLES, np.nan)
        times[: len(order)] = self._raster_t[order.cpu().numpy()]
        traces = np.full((TRACE_UNITS, RASTER_SAMPLES), np.nan)
        shown = min(TRACE_UNITS, self._units)
        traces[:shown, : len(order)] = recent[:, :shown].T.double().cpu().numpy()
        measured = sorted(self._measured.items())
        out = {
            "x": self.y[0],
            "rates": raster,
            "trace_t": times,
            "trace_age": times - self.time,
            **{f"trace_{k + 1}": traces[k] for k in range(TRACE_UNITS)},
            "pca_trajectory": self._pca_trajectory(),
            "theory_g": np.linspace(0.0, 1.0, 21),
            "theory_lambda": np.linspace(0.0, 1.0, 21) - 1.0,
            "transition_g": np.array([1.0, 1.0]),
            "transition_lambda": np.array([-1.0, 1.0]),
            "measured_g": np.array([k for k, _ in measured], dtype=float),
            "measured_lambda": np.array([v[0] for _, v in measured], dtype=float),
        }
        return out

    def observables(self):
        g = self.p["g"]
        return {
            "lyapunov": self.lyapunov(),
            "lyapunov_theory": g - 1.0 if g < 1.0 else float("nan"),
            "lyapunov_time": self._lyap_time,
            "dimension": self.dimension(),
            "mean_abs_x": float(self.y[0].abs().mean()),
            "gain": float(g),
        }
