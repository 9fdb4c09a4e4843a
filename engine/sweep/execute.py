"""Running a sweep on Dask: an embedded ``LocalCluster`` or a scheduler's address.

The client (this process) is the only writer of the store. It checks
everything first (the sweep against the model, the store against the sweep,
the workers' versions), then keeps a bounded number of tasks in flight — each
task a batch of points for :func:`engine.sweep.worker.run_points` — and writes
results as they come back (:class:`engine.sweep.store.StoreWriter`). Batches
start with one point per task and grow to about :data:`TASK_SECONDS` of work
once the cost of a point is known, so Dask's per-task overhead stays small
against the simulation. A point that fails is recorded with its error; a task
whose worker died (Dask retries it elsewhere first) records its points as
failed; the sweep goes on. Stopping (``should_stop``, Ctrl+C, SIGTERM in the
CLI) cancels what is in flight and keeps what is done: running the same sweep
into the same store again computes only the rest.

The default cluster: one worker process per core (``os.sched_getaffinity``),
one thread each, one torch thread each (DESIGN.md §8: several threads on few
cores ran slower). ``scheduler="tcp://HOST:PORT"`` sends the same tasks to a
cluster started with ``dask scheduler`` and ``dask worker ADDRESS
--nthreads 1``; its workers need attractor-lab installed (the version is
checked).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from attractor_lab.engine.sweep import EXTRA_HINT
from attractor_lab.engine.sweep.spec import PATTERN_CODES, Sweep, SweepError, canonical, check_outputs, first_difference
from attractor_lab.engine.sweep.store import DONE, FAILED, PENDING, StoreError, StoreWriter, create_store

#: once a point's cost is known, a task holds about this much work (s)
TASK_SECONDS = 2.0
#: the store is written at least this often while results arrive (s)
FLUSH_SECONDS = 1.0
#: tasks in flight per worker
INFLIGHT_PER_WORKER = 2
#: how often the client looks for finished tasks and a stop request (s)
POLL_S = 0.05
#: how long to wait for the workers of a remote scheduler (s)
WORKER_WAIT_S = 60.0


@dataclass
class Progress:
    """Where a run stands: counts over the whole sweep, speed over this run."""

    total: int
    done: int
    failed: int
    skipped: int  # points already done (or failed) when this run started
    elapsed: float
    rate: float  # points per second in this run
    eta: float  # seconds left at this rate (nan before the first result)
    workers: int
    state: str = "running"  # running, finished, stopped

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.failed

    def as_dict(self) -> dict:
        return {"total": self.total, "done": self.done, "failed": self.failed, "skipped": self.skipped,
                "elapsed": round(self.elapsed, 3), "rate": self.rate, "eta": self.eta, "workers": self.workers,
                "state": self.state}


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def versions() -> dict[str, str]:
    """Versions of what computes and stores the results (embedded in the store)."""
    import sys
    from importlib.metadata import PackageNotFoundError, version

    from attractor_lab import engine

    out = {"attractor_lab": engine.__version__, "python": sys.version.split()[0], "numpy": np.__version__}
    for pkg in ("torch", "dask", "distributed", "zarr"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def store_attrs(sweep: Sweep, theory: list[dict]) -> dict:
    """What a new store says about itself (see :mod:`engine.sweep.store`)."""
    from attractor_lab.engine import models

    schema = {p.name: p for p in models.get(sweep.model).params_for(sweep.base.params)}
    axes = [{"name": n, "param": a.param, "values": list(a.values), "spacing": a.spacing,
             "unit": schema[a.param].unit, "kind": schema[a.param].kind} for n, a in zip(("x", "y"), sweep.axes)]
    outputs = []
    for o in sweep.outputs:
        d = {"name": o.name, "kind": o.kind, "observable": o.observable, "reduce": o.reduce,
             "threshold": o.threshold, "pattern": o.pattern}
        if o.kind == "pattern":
            d["classes"] = list(PATTERN_CODES)
        outputs.append(d)
    return {"sweep_toml": sweep.dumps(), "sweep_file": str(sweep.path) if sweep.path else "", "title": sweep.title,
            "model": sweep.model, "axes": axes, "seeds": list(sweep.seeds), "shape": list(sweep.shape),
            "outputs": outputs, "base_params": dict(sweep.base.params), "base_seed": sweep.base.seed,
            "steps": sweep.steps, "burn_in": sweep.burn_in, "theory": theory, "versions": versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": []}


def theory_for(sweep: Sweep) -> list[dict]:
    """The model's theory lines over this sweep's axes (:meth:`Model.theory_lines`)."""
    from attractor_lab.engine import models

    cls = models.get(sweep.model)
    full = {p.name: p.default for p in cls.params_for(sweep.base.params)}
    full.update(sweep.base.params)
    x = sweep.axes[0]
    y = sweep.axes[1] if len(sweep.axes) > 1 else None
    lines = cls.theory_lines(x.param, y.param if y else None, full, (min(x.values), max(x.values)),
                             (min(y.values), max(y.values)) if y else None)
    out = []
    for line in lines:
        xs = np.asarray(line["x"], dtype=float)
        ys = np.asarray(line["y"], dtype=float)
        # JSON has no NaN: null separates pieces
        d = {"name": str(line["name"]), "x": [None if not math.isfinite(v) else float(v) for v in xs],
             "y": [None if not math.isfinite(v) else float(v) for v in ys]}
        if line.get("observable"):
            d["observable"] = str(line["observable"])
        out.append(d)
    return out


def check_sweep(sweep: Sweep) -> None:
    """Everything about the sweep that needs the model (one probe model on the CPU)."""
    from attractor_lab.engine.sweep.worker import probe_model

    observables, shapes = probe_model(sweep)
    check_outputs(sweep, observables, shapes)


def open_store(sweep: Sweep, out: str | os.PathLike, retry_failed: bool = False) -> StoreWriter:
    """Create the store, or reopen one made by this same sweep (refused if another sweep made it).

    A new store's theory lines are left empty (``theory_pending``): :func:`run_sweep`
    computes them while the first points run."""
    from attractor_lab.engine.sweep.spec import loads_sweep

    out = Path(out)
    if not out.exists():
        attrs = store_attrs(sweep, [])
        attrs["theory_pending"] = True
        create_store(out, sweep.shape, [o.name for o in sweep.outputs], attrs)
    writer = StoreWriter(out)
    try:
        stored = loads_sweep(writer.attrs["sweep_toml"], where=f"{out} (the sweep it holds)")
        diff = first_difference(canonical(stored), canonical(sweep))
        if diff is not None:
            raise StoreError(f"{out} holds results of a different sweep (it differs in {diff!r}); resume it with "
                             "the same sweep file, or write to another --out")
        if retry_failed:
            writer.reset_failed()
    except BaseException:
        writer.close()
        raise
    return writer


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None):
    """A ``distributed.Client`` on an embedded LocalCluster, or on ``scheduler``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SweepError(f"running sweeps needs dask.distributed, which is not installed; {EXTRA_HINT}") from None
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=10, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        try:
            client.wait_for_workers(workers or 1, timeout=WORKER_WAIT_S)
        except TimeoutError:
            client.close()
            raise SweepError(f"the scheduler at {scheduler} has {len(client.scheduler_info()['workers'])} worker(s); "
                             f"waited {WORKER_WAIT_S:g} s for {workers or 1} (start them with "
                             f"`dask worker {scheduler} --nthreads 1`)") from None
    else:
        n = workers or default_workers()
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR,
                               env={"ATTRACTOR_LAB_THREADS": "1", "NUMBA_NUM_THREADS": "1",
                                    # a point is a fresh model: a background torch.compile (~20 s a
                                    # worker) would cost more than it saves; ATTRACTOR_LAB_COMPILE=1 asks
                                    "ATTRACTOR_LAB_COMPILE": os.environ.get("ATTRACTOR_LAB_COMPILE", "0")})
        client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def check_workers(client, device: str) -> dict[str, dict]:
    """Each worker's versions and device; refuses workers whose attractor-lab differs from ours."""
    from attractor_lab import engine
    from attractor_lab.engine.sweep.worker import environment

    envs = client.run(environment, device)
    for address, env in envs.items():
        if env["attractor_lab"] != engine.__version__:
            raise SweepError(f"worker {address} runs attractor-lab {env['attractor_lab']}, this client "
                             f"{engine.__version__}; install the same version on every worker")
        if env["device"].startswith("unusable"):
            raise SweepError(f"worker {address}: {env['device']}")
    return envs


def run_sweep(sweep: Sweep, out: str | os.PathLike, scheduler: str | None = None, workers: int | None = None,
              device: str = "auto", retry_failed: bool = False, progress: Callable[[Progress], None] | None = None,
              should_stop: Callable[[], bool] | None = None, batch: int | None = None,
              fuse: int | None = None) -> Progress:
    """Run the points of ``sweep`` not yet in the store ``out`` and write them there.

    Parameters
    ----------
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a running Dask scheduler; default an embedded LocalCluster.
    workers : int, optional
        LocalCluster size (default: one per core); with ``scheduler``, how many workers
        to wait for.
    retry_failed : bool
        Run failed points again (by default a resumed sweep keeps their errors).
    progress : callable
        Called with a :class:`Progress` after each batch of results (and at the end).
    should_stop : callable
        Polled about twice a second; True stops the run (what is done is kept).
    batch : int, optional
        Points per task (default: adaptive, about ``TASK_SECONDS`` per task).
    fuse : int, optional
        Points a worker steps together as one batch where the model fuses them
        (default: 64 on a GPU worker, 1 on a CPU worker; see :mod:`engine.sweep.worker`).

    Returns the final :class:`Progress` (``state`` "finished" or "stopped").
    """
    check_sweep(sweep)
    writer = open_store(sweep, out, retry_failed)
    theory = None
    if writer.attrs.get("theory_pending", False):
        # the theory (AGS lines take seconds) is computed while the cluster starts and runs
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1, thread_name_prefix="sweep-theory")
        theory = pool.submit(theory_for, sweep)
        pool.shutdown(wait=False)
    try:
        return _run(sweep, writer, scheduler, workers, device, progress, should_stop, batch, theory, fuse)
    finally:
        try:
            _store_theory(writer, theory, wait=True)
        finally:
            writer.close()


def _store_theory(writer: StoreWriter, theory, wait: bool = False) -> None:
    """Write the theory lines once computed (a failure is kept as a note, not raised)."""
    if theory is None or not (wait or theory.done()) or not writer.attrs.get("theory_pending", False):
        return
    try:
        writer.update_attrs(theory=theory.result(), theory_pending=False)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # theory is an overlay: the results stand without it
        writer.update_attrs(theory=[], theory_pending=False, theory_error=f"{type(exc).__name__}: {exc}")


def _run(sweep, writer, scheduler, workers, device, progress, should_stop, batch, theory=None,
         fuse=None) -> Progress:
    status = writer.status()
    pending = [int(i) for i in np.flatnonzero(status.ravel() == PENDING)]
    skipped = int(status.size - len(pending))
    t0 = time.monotonic()

    def report(state: str, n_workers: int) -> Progress:
        st = writer.status()
        ran = int(np.sum(st != PENDING)) - skipped
        elapsed = time.monotonic() - t0
        rate = ran / elapsed if elapsed > 0 and ran else 0.0
        left = int(np.sum(st == PENDING))
        eta = left / rate if rate > 0 else (0.0 if not left else math.nan)
        p = Progress(int(st.size), int(np.sum(st == DONE)), int(np.sum(st == FAILED)), skipped, elapsed, rate, eta,
                     n_workers, state)
        if progress is not None:
            progress(p)
        return p

    if not pending:
        return report("finished", 0)
    with dask_client(scheduler, workers) as client:
        envs = check_workers(client, device)
        n_workers = len(envs)
        from attractor_lab.engine.sweep.worker import FUSE_GPU, fuse_keys, fuse_order, run_points

        gpus = any(e["device"].startswith("cuda") for e in envs.values())
        width = fuse if fuse is not None else (FUSE_GPU if gpus else 1)
        keys = fuse_keys(sweep, pending) if width > 1 else []
        fusing = any(k is not None for k in keys)
        run_info = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "scheduler": scheduler or "LocalCluster",
                    "workers": n_workers, "devices": sorted({e["device"] for e in envs.values()}),
                    "worker_versions": sorted({f"attractor-lab {e['attractor_lab']}, torch {e['torch']}"
                                               for e in envs.values()}), "pending": len(pending),
                    "fused": width if fusing else 1}
        writer.update_attrs(runs=list(writer.attrs.get("runs", [])) + [run_info])
        t0 = time.monotonic()  # speed and ETA from here: the cluster's start-up is not a point's cost
        report("running", n_workers)
        text = sweep.dumps()
        # points that fuse sit next to each other, and a task holds at least a full batch
        queue = fuse_order(sweep, pending, keys) if fusing else list(pending)
        min_task = width if fusing and batch is None else 1
        inflight: dict = {}
        point_seconds: list[float] = []
        last_flush = time.monotonic()
        max_inflight = max(2, INFLIGHT_PER_WORKER * n_workers)
        stopped = False
        try:
            while queue or inflight:
                if should_stop is not None and should_stop():
                    stopped = True
                    break
                while queue and len(inflight) < max_inflight:
                    size = batch or max(min_task, _batch_size(point_seconds, len(queue), n_workers))
                    chunk, queue = queue[:size], queue[size:]
                    fut = client.submit(run_points, text, chunk, device, fuse, pure=False)
                    inflight[fut] = chunk
                finished = [fut for fut in inflight if fut.done()]
                if not finished:
                    time.sleep(POLL_S)
                for fut in finished:
                    chunk = inflight.pop(fut)
                    for result in _results(fut, chunk):
                        writer.record(result)
                        if result["ok"]:
                            point_seconds.append(result["seconds"])
                    fut.release()
                _store_theory(writer, theory)
                if finished:
                    if time.monotonic() - last_flush >= FLUSH_SECONDS or not (queue or inflight):
                        writer.flush()
                        last_flush = time.monotonic()
                    report("running", n_workers)
        except KeyboardInterrupt:
            stopped = True
        finally:
            for fut in inflight:
                fut.cancel()
            writer.flush()
        return report("stopped" if stopped else "finished", n_workers)


def _batch_size(point_seconds: list[float], left: int, workers: int) -> int:
    """Points per task: one until a few points were timed, then about TASK_SECONDS of work,
    never so many that the last tasks leave workers idle."""
    if len(point_seconds) < workers:
        return 1
    cost = float(np.median(point_seconds[-64:]))
    size = int(TASK_SECONDS / max(cost, 1e-6))
    return max(1, min(size, max(1, left // (2 * workers)), 256))


def _results(fut, chunk: list[int]) -> list[dict]:
    """A task's results, or its points marked failed when the task itself failed."""
    try:
        return fut.result()
    except Exception as exc:  # the worker died (KilledWorker after Dask's retries), or the task could not run
        message = f"task failed: {type(exc).__name__}: {exc}"[:2000]
        return [{"index": i, "ok": False, "values": {}, "steps": 0, "seconds": math.nan, "error": message}
                for i in chunk]
