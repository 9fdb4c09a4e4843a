"""Running sweep points: headless, through the scripting API, on the worker's device.

:func:`run_points` is the task a Dask worker executes: it takes the sweep's
TOML text (the base preset inline, so a remote worker needs no files) and the
indices of a batch of points, and returns one plain dict per point — values,
steps run, seconds, or the error that stopped it. A failing point never stops
the batch. Nothing here knows a model: each point is
``engine.create(model, seed, **params)``, ``step`` and ``observables``.
"""

from __future__ import annotations

import functools
import math
import os
import time
import traceback
from typing import Any

import numpy as np

from engine.sweep.spec import PATTERN_CODES, Sweep, loads_sweep

#: longest error message kept per point (the store keeps every failed point's message)
MAX_ERROR_CHARS = 2000


@functools.lru_cache(maxsize=8)
def _sweep_from_text(text: str) -> Sweep:
    return loads_sweep(text, where="<sweep sent to the worker>")


def worker_threads() -> int | None:
    """Threads this Dask worker was given (None outside a worker)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def environment(device: str = "auto") -> dict[str, str]:
    """Versions and device of this process: what a client compares with its own."""
    import sys

    import torch

    import engine
    from engine.device import choose_device, configure_torch, describe

    configure_torch(worker_threads())
    try:
        dev = describe(choose_device(device))
    except ValueError as exc:
        dev = f"unusable: {exc}"
    return {"attractor_lab": engine.__version__, "python": sys.version.split()[0], "torch": torch.__version__,
            "numpy": np.__version__, "device": dev}


_MALLOC_TUNED = False


def _undo_dask_malloc_trim() -> None:
    """Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also turns off
    glibc's adaptive mmap threshold: every torch array above 128 KiB is then mmapped and
    unmapped again, and a 128² reaction–diffusion point ran 2.2× slower (measured). Raise both
    thresholds back in this process (glibc only; elsewhere nothing happens)."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED or "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 << 20)
        libc.mallopt(m_trim_threshold, 256 << 20)
    except (OSError, AttributeError):
        pass


def run_points(sweep_text: str, indices: list[int], device: str = "auto") -> list[dict[str, Any]]:
    """Run the points ``indices`` of a sweep, one after the other; one result dict each."""
    from engine.device import configure_torch

    _undo_dask_malloc_trim()
    configure_torch(worker_threads())
    sweep = _sweep_from_text(sweep_text)
    return [run_point(sweep, int(i), device) for i in indices]


def run_point(sweep: Sweep, index: int, device: str = "auto") -> dict[str, Any]:
    """Run one point: a fresh model from the base preset with the point's axis values and seed,
    ``steps`` steps (fewer when ``early_stop`` settles), the outputs reduced over time."""
    t0 = time.perf_counter()
    result: dict[str, Any] = {"index": index, "ok": False, "values": {}, "steps": 0, "seconds": 0.0, "error": None}
    sim = None
    try:
        import engine

        params, seed = sweep.point(index)
        sim = engine.create(sweep.model, seed=seed, device=device, **params)
        result["values"], result["steps"] = _simulate(sweep, sim)
        result["ok"] = True
    except Exception as exc:  # a point that fails is recorded with its error; the sweep goes on
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
        result["error"] = f"{type(exc).__name__}: {exc}{where}"[:MAX_ERROR_CHARS]
        if sim is not None:
            result["steps"] = int(sim.model.steps)
    result["seconds"] = time.perf_counter() - t0
    return result


def _simulate(sweep: Sweep, sim) -> tuple[dict[str, float], int]:
    m = sim.model
    observed = sorted({o.observable for o in sweep.outputs if o.observable is not None}
                      | ({sweep.early_stop.observable} if sweep.early_stop else set()))
    samples: dict[str, list[float]] = {k: [] for k in observed}
    patterns = [o for o in sweep.outputs if o.pattern is not None]
    probe = max((o.probe_steps or max(1, sweep.steps // 20)) for o in patterns) if patterns else 0
    every, burn_in, steps = sweep.sample_every, sweep.burn_in, sweep.steps
    early = sweep.early_stop
    earlier: dict[str, np.ndarray] = {}
    done = 0
    if patterns and steps - probe <= 0:  # the whole run is the probe: compare with the start
        state = sim.state()
        earlier.update({o.pattern: np.array(state[o.pattern], dtype=np.float64, copy=True) for o in patterns})
    if burn_in:
        done = _advance(sim, burn_in, patterns, probe, steps, earlier, 0)
    stopped_early = False
    with m.exact_observables():
        while True:
            obs = sim.observables()
            for k in observed:
                samples[k].append(float(obs.get(k, math.nan)))
            if done >= steps:
                break
            if early is not None and _settled(samples[early.observable], early.window, early.tolerance):
                stopped_early = True
                break
            n = min(every, steps - done)
            done = _advance(sim, n, patterns, probe, steps, earlier, done)
    if stopped_early and patterns:  # the motion snapshot: the state now, then probe more steps
        state = sim.state()
        earlier = {o.pattern: np.array(state[o.pattern], dtype=np.float64, copy=True) for o in patterns}
        sim.step(probe)
        done += probe
    values: dict[str, float] = {}
    final_obs = sim.observables() if (stopped_early and patterns) else None
    for out in sweep.outputs:
        if out.pattern is not None:
            values[out.name] = float(_pattern_code(sim.state()[out.pattern], earlier.get(out.pattern)))
            continue
        series = np.asarray(samples[out.observable], dtype=np.float64)
        if out.reduce == "final":
            values[out.name] = float(final_obs[out.observable]) if final_obs is not None else float(series[-1])
        elif out.reduce == "mean":
            values[out.name] = float(series.mean())
        else:  # fraction_above: of the samples after burn-in (NaN samples count as not above)
            values[out.name] = float(np.mean(series > out.threshold))
    return values, done


def _advance(sim, n: int, patterns, probe: int, steps: int, earlier: dict, done: int) -> int:
    """Step ``n``; on the way, keep the snapshot ``probe`` steps before the end (pattern motion)."""
    mark = steps - probe
    if patterns and done < mark <= done + n:
        sim.step(mark - done)
        state = sim.state()
        for o in patterns:
            earlier[o.pattern] = np.array(state[o.pattern], dtype=np.float64, copy=True)
        sim.step(done + n - mark)
    else:
        sim.step(n)
    return done + n


def _settled(series: list[float], window: int, tolerance: float) -> bool:
    if len(series) < window:
        return False
    tail = series[-window:]
    return all(math.isfinite(x) for x in tail) and max(tail) - min(tail) <= tolerance


def _pattern_code(field, earlier) -> int:
    from engine.analysis.morphology import classify_pattern

    f = np.asarray(field.detach().cpu() if hasattr(field, "detach") else field, dtype=np.float64)
    return PATTERN_CODES.index(classify_pattern(f, earlier).pattern)


def probe_model(sweep: Sweep) -> tuple[list[str], dict[str, tuple]]:
    """Build one model from the base preset (CPU) to learn its observables and state shapes,
    which :func:`engine.sweep.spec.check_outputs` compares with the sweep's outputs."""
    import engine

    sim = engine.create(sweep.model, seed=sweep.base.seed, device="cpu", **sweep.base.params)
    state = sim.model.state()
    shapes = {k: tuple(np.shape(v)) for k, v in state.items()}
    return sorted(sim.model.observables()), shapes
