"""The engine's ``analyse`` request: bifurcation diagrams, orbit diagrams and basins as cancellable jobs.

``analyse_request`` carries an ``action``:

``describe``
    what the current model offers an analysis: its field's parameters (with their
    values), variables and phase window (``ValueError`` for a model with no field).
``start``
    ``spec`` (see :mod:`engine.analysis_spec`): the analysis of the current model's
    field as it is now (a snapshot), computed in a worker thread; replies at once
    with its ``job`` number. A running analysis is cancelled first (one at a time).
``poll``
    ``job``, ``since``: the pieces computed after piece ``since`` (each piece's
    content in ``pieces``, its arrays named ``"<index>/<name>"``), the ``progress``
    (0..1), the ``state`` (running, done, cancelled, error), the ``summary`` once
    done and the ``error`` if it failed. Pieces up to ``since`` are forgotten (the
    window has them), so memory stays bounded by what was not yet fetched.
``cancel``
    ``job`` (optional): ask the job to stop; it stops within one evaluation of the
    field, its state becomes ``cancelled``.

The window polls while a job runs: partial results reach it as they come, and a
lost reply costs nothing (the next poll, with the same ``since``, brings them again).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback

from attractor_lab.engine.analysis_spec import check_analysis

log = logging.getLogger("attractor_lab.engine")

#: finished jobs kept for a poll that has not fetched their end
KEPT_JOBS = 4


class _AnalysisJob:
    def __init__(self, number: int, spec: dict):
        self.number, self.spec = number, spec
        self.cancel = threading.Event()
        self.lock = threading.Lock()
        self.pieces: list[tuple[int, dict, dict]] = []
        self.count = 0
        self.progress = 0.0
        self.state = "running"
        self.summary: dict | None = None
        self.error: str | None = None
        self.started = time.monotonic()
        self.seconds = 0.0
        self.thread: threading.Thread | None = None

    def emit(self, content: dict, arrays: dict) -> None:
        with self.lock:
            self.count += 1
            self.pieces.append((self.count, content, arrays))


class AnalysisHandlers:
    """``analyse_request`` (mixed into :class:`engine.transport.server.EngineServer`)."""

    def _analyses(self) -> dict:
        if not hasattr(self, "_analysis_jobs"):
            self._analysis_jobs: dict[int, _AnalysisJob] = {}
            self._analysis_count = 0
        return self._analysis_jobs

    def _on_analyse(self, c, arrays=None):
        action = c.get("action", "start")
        jobs = self._analyses()
        if action == "describe":
            from attractor_lab.engine.analysis.analysis_runs import describe_field, field_of

            return {"field": describe_field(field_of(self._need_model()))}
        if action == "start":
            return self._analysis_start(c)
        if action == "poll":
            number = c.get("job")
            job = jobs.get(number) if isinstance(number, int) and not isinstance(number, bool) else None
            if job is None:
                raise ValueError(f"analyse poll: no analysis job {number!r}; the engine keeps "
                                 f"{', '.join(map(str, jobs)) or 'none'}")
            since = c.get("since", 0)
            if isinstance(since, bool) or not isinstance(since, int) or since < 0:
                raise ValueError(f"analyse poll: 'since' must be an integer >= 0, not {since!r}")
            return self._analysis_poll(job, since)
        if action == "cancel":
            number = c.get("job")
            targets = [j for j in jobs.values() if j.state == "running" and number in (None, j.number)]
            for job in targets:
                job.cancel.set()
            return {"cancelled": [j.number for j in targets]}
        raise ValueError(f"analyse: action must be describe, start, poll or cancel, not {action!r}")

    def _analysis_start(self, c: dict):
        from attractor_lab.engine.analysis.analysis_runs import AnalysisCancelled, field_of, run_analysis

        m = self._need_model()
        if self._busy_job() is not None:
            raise ValueError("analyse: the model is being replaced (a load or reset); start when it is done")
        spec = check_analysis(c.get("spec"), "analyse spec")
        vf = field_of(m)  # here, in the main thread: the field as it is now
        if spec["kind"] in ("bifurcation", "orbit"):
            vf.check_param(spec["param"])
        jobs = self._analyses()
        for job in jobs.values():  # one analysis at a time
            job.cancel.set()
        self._analysis_count += 1
        job = _AnalysisJob(self._analysis_count, spec)
        device = str(self.device)

        def progress(f: float) -> None:
            job.progress = f

        def work():
            try:
                job.summary = run_analysis(vf, spec, job.emit, progress, job.cancel, device)
                job.state = "done"
            except AnalysisCancelled:
                job.state = "cancelled"
            except Exception as exc:  # reported to the window by the next poll
                job.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
                job.state = "error"
                if not isinstance(exc, ValueError):
                    log.warning("analysis %d failed:\n%s", job.number, traceback.format_exc())
            job.seconds = time.monotonic() - job.started

        job.thread = threading.Thread(target=work, name=f"engine-analyse-{job.number}", daemon=True)
        jobs[job.number] = job
        for number in [n for n, j in jobs.items() if j.state != "running"][:-KEPT_JOBS]:
            del jobs[number]
        log.info("analysis %d: %s", job.number, spec)
        job.thread.start()
        return {"job": job.number, "spec": spec}

    def _analysis_poll(self, job: _AnalysisJob, since: int):
        with job.lock:
            job.pieces = [p for p in job.pieces if p[0] > since]
            pieces = list(job.pieces)
            state = job.state  # read under the lock: a "done" job has emitted all its pieces
        arrays = {}
        contents = []
        for index, content, arr in pieces:
            contents.append({**content, "index": index})
            arrays.update({f"{index}/{k}": v for k, v in arr.items()})
        out = {"job": job.number, "state": state, "progress": round(job.progress, 4), "pieces": contents,
               "seconds": round(job.seconds if state != "running" else time.monotonic() - job.started, 3)}
        if state == "done":
            out["summary"] = job.summary
        if state == "error":
            out["error"] = job.error
        return out, arrays

    def _cancel_analyses(self) -> None:
        for job in self._analyses().values():
            job.cancel.set()
