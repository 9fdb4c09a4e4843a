"""Running sweep points: headless, through the scripting API, on the worker's device.

:func:`run_points` is the task a Dask worker executes: it takes the sweep's
TOML text (the base preset inline, so a remote worker needs no files) and the
indices of a batch of points, and returns one plain dict per point — values,
steps run, seconds, or the error that stopped it. A failing point never stops
the batch. Nothing here knows a model: each point is
``engine.create(model, seed, **params)``, ``step`` and ``observables``.

Points whose model says they fuse (equal :meth:`~engine.models.base.Model.fuse_key`,
e.g. Hopfield networks of equal N and P at different temperatures and seeds) step
together as one batch (:meth:`~engine.models.base.Model.fused`): by default
:data:`FUSE_GPU` at a time on a GPU, where one small network leaves the device
idle, and one at a time on the CPU. A model fuses only where each member gets
exactly the numbers it gets alone, so results never depend on the batching.
"""

from __future__ import annotations

import functools
import math
import os
import time
import traceback
from typing import Any

import numpy as np

from attractor_lab.engine.sweep.spec import PATTERN_CODES, Sweep, loads_sweep

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

    from attractor_lab import engine
    from attractor_lab.engine.device import choose_device, configure_torch, describe

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


#: points a GPU worker steps together by default where the model fuses them
FUSE_GPU = 64
#: a fused batch holds at most this share of the GPU's free memory (by the model's estimate)
FUSE_MEMORY_SHARE = 0.5


def fuse_width(fuse: int | None, device: str = "auto", params: dict | None = None, model: str | None = None) -> int:
    """How many points to step together here: ``fuse`` if given, else :data:`FUSE_GPU`
    on a CUDA device (fewer where the model's memory estimate says so) and 1 on the CPU,
    where one network at a time through the compiled loop is the fastest path."""
    if fuse is not None:
        return max(1, int(fuse))
    from attractor_lab.engine.device import choose_device

    dev = choose_device(device)
    if dev.type != "cuda":
        return 1
    width = FUSE_GPU
    if params is not None and model is not None:
        import torch

        from attractor_lab.engine import models

        cls = models.get(model)
        full = {p.name: p.default for p in cls.params}
        full.update(params)
        free, _ = torch.cuda.mem_get_info(dev)
        width = min(width, max(1, int(FUSE_MEMORY_SHARE * free // max(cls.estimate_bytes(full), 1))))
    return width


def fuse_keys(sweep: Sweep, indices: list[int]) -> list:
    """The model's :meth:`~engine.models.base.Model.fuse_key` of each point (None: steps alone)."""
    from attractor_lab.engine import models

    cls = models.get(sweep.model)
    defaults = {p.name: p.default for p in cls.params}
    keys = []
    for i in indices:
        params, _ = sweep.point(int(i))
        keys.append(cls.fuse_key({**defaults, **params}))
    return keys


def fuse_order(sweep: Sweep, indices: list[int], keys: list | None = None) -> list[int]:
    """``indices`` with points that fuse next to each other (first appearance of each key first),
    so that a task of consecutive points makes full batches; ``keys``: their fuse_keys if known."""
    rank: dict = {}
    keyed = []
    for pos, (i, key) in enumerate(zip(indices, keys if keys is not None else fuse_keys(sweep, indices))):
        r = rank.setdefault(key, len(rank)) if key is not None else len(rank) + pos
        keyed.append((r, pos, int(i)))
    return [i for _, _, i in sorted(keyed)]


def fuse_groups(sweep: Sweep, indices: list[int], width: int) -> list[list[int]]:
    """Batches of at most ``width`` points with equal fuse keys; points that do not fuse alone."""
    if width <= 1:
        return [[int(i)] for i in indices]
    groups: dict = {}
    out: list[list[int]] = []
    for i, key in zip(indices, fuse_keys(sweep, indices)):
        if key is None:
            out.append([int(i)])
            continue
        group = groups.get(key)
        if group is None or len(group) >= width:
            group = groups[key] = []
            out.append(group)
        group.append(int(i))
    return out


def run_points(sweep_text: str, indices: list[int], device: str = "auto", fuse: int | None = None) -> list[dict[str, Any]]:
    """Run the points ``indices`` of a sweep; one result dict each.

    Points whose model fuses them (:meth:`~engine.models.base.Model.fuse_key`) step
    together, up to :func:`fuse_width` at a time (by default only on a GPU); a fused
    point's numbers are those it gets alone. Others run one after the other."""
    from attractor_lab.engine.device import configure_torch

    _undo_dask_malloc_trim()
    configure_torch(worker_threads())
    sweep = _sweep_from_text(sweep_text)
    width = fuse_width(fuse, device, sweep.base.params, sweep.model) if len(indices) > 1 else 1
    out: list[dict[str, Any]] = []
    for group in fuse_groups(sweep, [int(i) for i in indices], width):
        out.extend(run_fused(sweep, group, device) if len(group) > 1 else [run_point(sweep, group[0], device)])
    return out


def _result(index: int) -> dict[str, Any]:
    return {"index": index, "ok": False, "values": {}, "steps": 0, "seconds": 0.0, "error": None}


def _error(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"[:MAX_ERROR_CHARS]


def run_point(sweep: Sweep, index: int, device: str = "auto") -> dict[str, Any]:
    """Run one point: a fresh model from the base preset with the point's axis values and seed,
    ``steps`` steps (fewer when ``early_stop`` settles), the outputs reduced over time."""
    t0 = time.perf_counter()
    result = _result(index)
    sim = None
    try:
        from attractor_lab import engine

        params, seed = sweep.point(index)
        sim = engine.create(sweep.model, seed=seed, device=device, **params)
        [(result["values"], result["steps"])] = _simulate_many(sweep, [sim])
        result["ok"] = True
    except Exception as exc:  # a point that fails is recorded with its error; the sweep goes on
        result["error"] = _error(exc)
        if sim is not None:
            result["steps"] = int(sim.model.steps)
    result["seconds"] = time.perf_counter() - t0
    return result


def run_fused(sweep: Sweep, indices: list[int], device: str = "auto") -> list[dict[str, Any]]:
    """Run points that fuse as one batch; each point's seconds are its share of the batch's.

    A point whose model cannot be made is recorded failed, as alone. A failure while the
    batch steps cannot be pinned on one member: the batch's points then run one by one."""
    from attractor_lab import engine

    t0 = time.perf_counter()
    results, sims, members = [], [], []
    for i in indices:
        result = _result(i)
        try:
            params, seed = sweep.point(i)
            sims.append(engine.create(sweep.model, seed=seed, device=device, **params))
            members.append(result)
        except Exception as exc:
            result["error"] = _error(exc)
        results.append(result)
    if sims:
        try:
            outcome = _simulate_many(sweep, sims)
        except Exception:  # which member failed is unknown: each point again, alone
            return [run_point(sweep, i, device) for i in indices]
        for result, (values, steps) in zip(members, outcome):
            result.update(ok=True, values=values, steps=steps)
    share = (time.perf_counter() - t0) / len(indices)
    for result in results:
        result["seconds"] = share
    return results


def _simulate_many(sweep: Sweep, sims: list) -> list[tuple[dict[str, float], int]]:
    """Run simulations of one model with equal fuse keys through ``steps`` (each stops on its
    own when ``early_stop`` settles it); for each, its outputs reduced over time and its steps.

    The members step together through the model's :meth:`~engine.models.base.Model.fused`
    batch (one member: its own ``step``); a member that settles leaves the batch, which
    then goes on without it."""
    import contextlib

    models = [s.model for s in sims]
    cls = type(models[0])
    observed = sorted({o.observable for o in sweep.outputs if o.observable is not None}
                      | ({sweep.early_stop.observable} if sweep.early_stop else set()))
    samples: list[dict[str, list[float]]] = [{k: [] for k in observed} for _ in sims]
    patterns = [o for o in sweep.outputs if o.pattern is not None]
    probe = max((o.probe_steps or max(1, sweep.steps // 20)) for o in patterns) if patterns else 0
    every, burn_in, steps = sweep.sample_every, sweep.burn_in, sweep.steps
    early = sweep.early_stop
    earlier: list[dict[str, np.ndarray]] = [{} for _ in sims]
    outcome: list[tuple[dict[str, float], int] | None] = [None] * len(sims)
    active = list(range(len(sims)))
    batch = cls.fused(models)

    def snapshot(which):
        for i in which:
            state = sims[i].state()
            earlier[i] = {o.pattern: np.array(state[o.pattern], dtype=np.float64, copy=True) for o in patterns}

    def advance(n: int, done: int) -> int:
        """Step every active member ``n``; on the way, keep the snapshot ``probe`` steps
        before the end (pattern motion)."""
        mark = steps - probe
        if patterns and done < mark <= done + n:
            batch.step(mark - done)
            snapshot(active)
            batch.step(done + n - mark)
        else:
            batch.step(n)
        return done + n

    done = 0
    if patterns and steps - probe <= 0:  # the whole run is the probe: compare with the start
        snapshot(active)
    if burn_in:
        done = advance(burn_in, 0)
    with contextlib.ExitStack() as stack:
        for m in models:
            stack.enter_context(m.exact_observables())
        while active:
            for i in active:
                obs = sims[i].observables()
                for k in observed:
                    samples[i][k].append(float(obs.get(k, math.nan)))
            if done >= steps:
                break
            if early is not None:
                settled = [i for i in active if _settled(samples[i][early.observable], early.window, early.tolerance)]
                if settled:
                    for i in settled:
                        outcome[i] = _finish_early(sweep, sims[i], samples[i], patterns, probe, done)
                    active = [i for i in active if i not in settled]
                    batch = cls.fused([models[i] for i in active])
                    if not active:
                        break
            done = advance(min(every, steps - done), done)
    for i in active:
        outcome[i] = (_reduce(sweep, sims[i], samples[i], earlier[i], None), done)
    return outcome


def _finish_early(sweep: Sweep, sim, samples, patterns, probe: int, done: int) -> tuple[dict[str, float], int]:
    """A member that ``early_stop`` settled: its outputs now (pattern outputs after the
    motion probe: the state now, then ``probe`` more steps of its own)."""
    if not patterns:
        return _reduce(sweep, sim, samples, {}, None), done
    state = sim.state()
    earlier = {o.pattern: np.array(state[o.pattern], dtype=np.float64, copy=True) for o in patterns}
    sim.step(probe)
    return _reduce(sweep, sim, samples, earlier, sim.observables()), done + probe


def _reduce(sweep: Sweep, sim, samples, earlier, final_obs) -> dict[str, float]:
    values: dict[str, float] = {}
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
    return values


def _settled(series: list[float], window: int, tolerance: float) -> bool:
    if len(series) < window:
        return False
    tail = series[-window:]
    return all(math.isfinite(x) for x in tail) and max(tail) - min(tail) <= tolerance


def _pattern_code(field, earlier) -> int:
    from attractor_lab.engine.analysis.morphology import classify_pattern

    f = np.asarray(field.detach().cpu() if hasattr(field, "detach") else field, dtype=np.float64)
    return PATTERN_CODES.index(classify_pattern(f, earlier).pattern)


def probe_model(sweep: Sweep) -> tuple[list[str], dict[str, tuple]]:
    """Build one model from the base preset (CPU) to learn its observables and state shapes,
    which :func:`engine.sweep.spec.check_outputs` compares with the sweep's outputs."""
    from attractor_lab import engine

    sim = engine.create(sweep.model, seed=sweep.base.seed, device="cpu", **sweep.base.params)
    state = sim.model.state()
    shapes = {k: tuple(np.shape(v)) for k, v in state.items()}
    return sorted(sim.model.observables()), shapes
