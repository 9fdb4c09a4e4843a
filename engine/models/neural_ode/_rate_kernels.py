"""CPU kernels of the rate network: J read once per RK4 stage (numba).

Benettin's method advances the reference trajectory x and a tangent vector δ
through the same couplings: each Runge–Kutta stage needs J·tanh(x) and
J·(sech²(x) ⊙ δ). On a GPU that is one cuBLAS GEMM (N×N @ N×2) that reads J
once and costs about one matrix–vector product. On the CPU it is not: MKL's
and OpenBLAS's GEMM with two right-hand columns ran 2.0–2.3× slower than one
GEMV on the build machine (N = 1000 and 10 000, one thread, float32 and
float64; torch.compile and oneDNN were no better) — they pack J before
multiplying. The product is memory-bound, so :func:`_rows_pair` reads each
row of J once and accumulates both dot products from it, four rows at a time
(eight accumulators, vectorised by LLVM): about one GEMV's time.

The plain field (:func:`_rows_one`, eight rows at a time) is here too: on the
build machine's AMD EPYC, MKL's single-thread SGEMV (torch.mv) ran ~1.5× slower
than OpenBLAS's at N = 1000, and this loop matches OpenBLAS. The rest of the
step (stage points, tanh, the combination, the tangent's renormalisation) is
numpy on the same memory (:func:`rk4_step`): its ufuncs cost ~1 µs a call
where a torch op costs ~4, and its float32 tanh is SIMD.

This module imports numba; :mod:`engine.models.neural_ode.rate_network`
imports it only for CPU runs and falls back to torch (``addmv``/``addmm``)
where numba is missing. Compiled code is cached on disk (``cache=True``); with
``parallel`` the row blocks are spread over numba's threads (set equal to
torch's by :func:`set_threads`).
"""

from __future__ import annotations

import math
import os

import numba as nb
import numpy as np

# numba's default OpenMP layer leaves its workers spinning after each parallel
# loop: once started, the engine's serial numpy work ran 7–9× slower on the
# shared 2-core build machine (measured). The workqueue layer's workers sleep.
# It is chosen at the first parallel call, process-wide; the engine process has
# no other numba user. NUMBA_THREADING_LAYER, if set, wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    nb.config.THREADING_LAYER = "workqueue"

_FLAGS = dict(fastmath=True, boundscheck=False, nogil=True, cache=True)


@nb.njit(**_FLAGS)
def _rows_one(j, th, y, g, out, i, zero):
    # eight rows i..i+7 of out = −y + g J th; a dot product per row, J read once
    m = j.shape[1]
    a0 = zero; a1 = zero; a2 = zero; a3 = zero; a4 = zero; a5 = zero; a6 = zero; a7 = zero  # noqa: E702
    for k in range(m):
        t = th[k]
        a0 += j[i, k] * t; a1 += j[i + 1, k] * t; a2 += j[i + 2, k] * t; a3 += j[i + 3, k] * t  # noqa: E702
        a4 += j[i + 4, k] * t; a5 += j[i + 5, k] * t; a6 += j[i + 6, k] * t; a7 += j[i + 7, k] * t  # noqa: E702
    out[i] = g * a0 - y[i]; out[i + 1] = g * a1 - y[i + 1]; out[i + 2] = g * a2 - y[i + 2]  # noqa: E702
    out[i + 3] = g * a3 - y[i + 3]; out[i + 4] = g * a4 - y[i + 4]; out[i + 5] = g * a5 - y[i + 5]  # noqa: E702
    out[i + 6] = g * a6 - y[i + 6]; out[i + 7] = g * a7 - y[i + 7]  # noqa: E702


@nb.njit(**_FLAGS)
def _rows_pair(j, th, w, y, g, out, i, zero):
    # four rows of out[0] = −y[0] + g J th and out[1] = −y[1] + g J w, both from one read of J
    m = j.shape[1]
    a0 = zero; a1 = zero; a2 = zero; a3 = zero  # noqa: E702
    b0 = zero; b1 = zero; b2 = zero; b3 = zero  # noqa: E702
    for k in range(m):
        t = th[k]
        s = w[k]
        v0 = j[i, k]; v1 = j[i + 1, k]; v2 = j[i + 2, k]; v3 = j[i + 3, k]  # noqa: E702
        a0 += v0 * t; b0 += v0 * s  # noqa: E702
        a1 += v1 * t; b1 += v1 * s  # noqa: E702
        a2 += v2 * t; b2 += v2 * s  # noqa: E702
        a3 += v3 * t; b3 += v3 * s  # noqa: E702
    out[0, i] = g * a0 - y[0, i]; out[1, i] = g * b0 - y[1, i]  # noqa: E702
    out[0, i + 1] = g * a1 - y[0, i + 1]; out[1, i + 1] = g * b1 - y[1, i + 1]  # noqa: E702
    out[0, i + 2] = g * a2 - y[0, i + 2]; out[1, i + 2] = g * b2 - y[1, i + 2]  # noqa: E702
    out[0, i + 3] = g * a3 - y[0, i + 3]; out[1, i + 3] = g * b3 - y[1, i + 3]  # noqa: E702


@nb.njit(**_FLAGS)
def _row_tail(j, th, w, y, g, out, i, rows, zero):
    # one leftover row (N not a multiple of the block)
    m = j.shape[1]
    a = zero
    b = zero
    for k in range(m):
        a += j[i, k] * th[k]
        if rows == 2:
            b += j[i, k] * w[k]
    out[0, i] = g * a - y[0, i]
    if rows == 2:
        out[1, i] = g * b - y[1, i]


@nb.njit(**_FLAGS)
def field(j, y, th, w, g, out, rows):
    """out[:rows] = the RK4 slope at y: −x + g J th and, rows = 2, −δ + g J ((1 − th²) ⊙ δ).

    ``th`` = tanh(y[0]) comes in computed (numpy's SIMD tanh is ~8× faster in
    float32 than the scalar libm call numba makes); ``w`` is a work buffer."""
    n = y.shape[1]
    zero = j[0, 0] - j[0, 0]  # a zero of J's dtype: a float64 literal would promote float32 sums
    if rows == 2:
        for k in range(n):
            w[k] = (1 - th[k] * th[k]) * y[1, k]
    block = 8 if rows == 1 else 4
    full = n - n % block
    for i in range(0, full, block):
        if rows == 1:
            _rows_one(j, th, y[0], g, out[0], i, zero)
        else:
            _rows_pair(j, th, w, y, g, out, i, zero)
    for i in range(full, n):
        _row_tail(j, th, w, y, g, out, i, rows, zero)


@nb.njit(fastmath=True, boundscheck=False, nogil=True, parallel=True, cache=True)
def field_parallel(j, y, th, w, g, out, rows):
    """:func:`field` with the row blocks spread over numba's threads."""
    n = y.shape[1]
    zero = j[0, 0] - j[0, 0]
    if rows == 2:
        for k in nb.prange(n):
            w[k] = (1 - th[k] * th[k]) * y[1, k]
    block = 8 if rows == 1 else 4
    blocks = n // block
    for b in nb.prange(blocks):
        if rows == 1:
            _rows_one(j, th, y[0], g, out[0], b * block, zero)
        else:
            _rows_pair(j, th, w, y, g, out, b * block, zero)
    for i in range(blocks * block, n):
        _row_tail(j, th, w, y, g, out, i, rows, zero)


def rk4_step(a: dict, rows: int, g, h: float, parallel: bool) -> float:
    """One classical RK4 step of ``a["y"][:rows]`` in place (numpy arrays sharing the model's
    tensors); with rows = 2, renormalises δ and returns ln |δ| before it, else 0.

    Elementwise work is numpy (a few µs per step), the products are :func:`field`.
    ``g`` in J's dtype keeps float32 arithmetic in float32.
    """
    j, y, k, ys, th, w = a["J"], a["y"][:rows], a["k"][:, :rows], a["ys"][:rows], a["th"], a["w"]
    slope = field_parallel if parallel else field
    np.tanh(y[0], out=th)
    slope(j, y, th, w, g, k[0], rows)
    for s, step in ((1, 0.5 * h), (2, 0.5 * h), (3, h)):
        np.multiply(k[s - 1], step, out=ys)
        ys += y
        np.tanh(ys[0], out=th)
        slope(j, ys, th, w, g, k[s], rows)
    k[1] += k[2]
    k[0] += k[3]
    k[0] *= h / 6.0
    k[1] *= h / 3.0
    y += k[0]
    y += k[1]
    if rows == 1:
        return 0.0
    norm = math.sqrt(float(np.einsum("i,i->", y[1], y[1])))  # not BLAS: its dot may spawn threads
    y[1] *= 1.0 / norm
    return math.log(norm)


def set_threads(threads: int) -> bool:
    """Match numba's thread count to torch's; returns whether to use the parallel field."""
    if threads <= 1:
        return False
    nb.set_num_threads(max(1, min(threads, nb.config.NUMBA_NUM_THREADS)))
    return True


