"""The engine's requests that answer later: steps in chunks, loads, resets and saves in threads.

:class:`engine.transport.server.EngineServer` mixes these in. A ``step`` runs in chunks
of about ``CHUNK_SECONDS`` from the main loop, other requests answered in
between; a ``load`` or ``reset`` (after a memory check against the budget)
and a recording's ``save`` run in a worker thread. Each job answers its request
when it ends, or with ``cancelled`` when a ``cancel`` (or, for a step, a
``pause``, ``run`` or a newer step) stops it. A cancelled thread finishes
unseen; its memory counts against the budget until then.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from attractor_lab.engine import __version__, models
from attractor_lab.engine.transport.memory import check_model_memory
from attractor_lab.engine.models.base import SimulationDiverged
from attractor_lab.engine.storage.recorder import Recorder, RecordingFull, SaveCancelled, SaveControl
from attractor_lab.engine.transport.server_requests import _flag, _int, _text, check_seed, preset_for

log = logging.getLogger("attractor_lab.engine")

#: A chunk of steps aims at this duration, so commands wait at most about this long.
CHUNK_SECONDS = 0.03
#: the most steps one ``step`` request may ask for
MAX_STEP_REQUEST = 10**7
#: handlers that may answer later: they are given the request itself
JOB_VERBS = {"load", "reset", "step", "cancel", "run", "pause", "record"}
_DEFERRED = object()  # a handler's answer: the reply comes when its job ends


@dataclass
class _Job:
    """A request whose reply waits: a step in chunks, or work in a thread."""

    verb: str
    msg_id: str
    identities: list[bytes]
    started: float = field(default_factory=time.monotonic)
    total: int = 0  # steps asked (step jobs)
    done: int = 0
    exclusive: bool = False  # a load or reset: the model is being replaced
    estimate: int = 0  # bytes it may hold (thread jobs)
    thread: threading.Thread | None = None
    result: Any = None
    error: BaseException | None = None
    error_tb: str = ""
    finish: Callable[[Any], dict] | None = None  # main thread, with the thread's result
    control: SaveControl | None = None  # a record save: its progress, and how to cancel it
    path: str = ""  # a record save: the file

    def describe(self) -> dict:
        out = {"verb": self.verb, "seconds": round(time.monotonic() - self.started, 3), "done": self.done,
               "total": self.total}
        if self.control is not None:  # a save: units written of all (snapshots of each array, theory, the write)
            out.update(action="save", path=self.path, **self.control.describe())
        return out


class JobHandlers:
    """Requests that run as jobs, and the stepping they share with a running simulation."""

    # ---- jobs ----------------------------------------------------------------
    def _busy_job(self) -> _Job | None:
        return next((j for j in self.jobs if j.exclusive), None)

    def _reply_job(self, job: _Job, content: dict, arrays=None) -> None:
        self._send_reply(f"{job.verb}_reply", content, arrays, job.msg_id, job.identities)

    def _start_thread_job(self, msg, work: Callable[[], Any], finish: Callable[[Any], dict], exclusive: bool,
                          estimate: int = 0, **fields) -> object:
        job = _Job(msg.msg_type.removesuffix("_request"), msg.msg_id, msg.identities, exclusive=exclusive,
                   estimate=estimate, finish=finish, **fields)

        def run():
            try:
                job.result = work()
            except BaseException as exc:  # reported by the main thread
                job.error, job.error_tb = exc, traceback.format_exc()

        job.thread = threading.Thread(target=run, name=f"engine-{job.verb}", daemon=True)
        self.jobs.append(job)
        job.thread.start()
        if exclusive:
            self.running = False  # nothing steps the model being replaced
            self._state_event("state")
        return _DEFERRED

    def _collect_thread_jobs(self) -> None:
        self._orphans = [j for j in self._orphans if j.thread.is_alive()]
        for job in [j for j in self.jobs if not j.thread.is_alive()]:
            self.jobs.remove(job)
            if isinstance(job.error, SaveCancelled):  # its temporary file is gone: nothing was written
                content = {"status": "error", "ename": "Cancelled",
                           "evalue": f"record save cancelled after {time.monotonic() - job.started:.1f} s; "
                                     f"nothing was written to {job.path!r}"}
            elif job.error is not None:
                content = _error_content(f"{job.verb}_request", job.error, job.error_tb)
            else:
                try:
                    content = {"status": "ok", **job.finish(job.result)}
                except Exception as exc:
                    content = _error_content(f"{job.verb}_request", exc, traceback.format_exc())
            self._reply_job(job, content)

    def _finish_jobs_now(self) -> None:
        """Without the serving loop (a server driven in-process), run jobs to their end."""
        while self.jobs or self.step_job is not None:
            for job in list(self.jobs):
                job.thread.join()
            self._collect_thread_jobs()
            if self.step_job is not None:
                self._step_job_chunk()

    def _cancel_jobs(self, exclusive_only: bool = False) -> list[str]:
        """Stop the step in progress (unless ``exclusive_only``) and any load or reset; each
        is answered with ``cancelled``. A cancelled thread finishes unseen."""
        cancelled = []
        if self.step_job is not None and not exclusive_only:
            cancelled.append(self.step_job.verb)
            self._end_step_job(cancelled=True)
        for job in [j for j in self.jobs if j.exclusive]:
            self.jobs.remove(job)
            self._orphans.append(job)
            seconds = time.monotonic() - job.started
            self._reply_job(job, {"status": "error", "ename": "Cancelled",
                                  "evalue": f"{job.verb} cancelled after {seconds:.1f} s; the model is unchanged"})
            cancelled.append(job.verb)
        if cancelled:
            self._frame_due = True
        return cancelled

    def _saves(self) -> list[_Job]:
        return [j for j in self.jobs if j.control is not None]

    def _cancel_saves(self) -> list[str]:
        """Cancel the record saves in progress. Each answers ``Cancelled`` once its thread has
        removed its temporary file; one already renamed into place completes (not listed)."""
        return [job.verb for job in self._saves() if job.control.cancel()]

    # ---- requests that run as jobs ----------------------------------------------
    def _memory_check(self, cls, params: dict, what: str) -> int:
        reserved = sum(j.estimate for j in self._orphans)
        return check_model_memory(cls, params, self.memory_budget, self.device, what, reserved)

    def _on_load(self, c, arrays=None, msg=None):
        name = c.get("model")
        cls = models.get(name)
        params = c.get("params", {})
        if not isinstance(params, dict):
            raise ValueError("load: 'params' must be an object of name: value")
        seed = check_seed(c)
        self._cancel_jobs(exclusive_only=True)  # a new model supersedes a load or reset in progress
        estimate = self._memory_check(cls, params, "load")

        title, description = _text(c, "title", 500), _text(c, "description", 20_000)

        def finish(model):
            self._cancel_jobs()  # a step of the old model ends here (a save in progress goes on)
            self.model = model
            self.preset_title, self.preset_description = title, description  # for recordings of this model
            self.model.display_mode = True
            self.running = False
            self._per_step = None
            self.recorder = None
            self.recording_active = False
            self._frame_due = True
            self._state_event("load")
            return {"model": name, "params": model.p, "describe": model.declaration()}

        return self._start_thread_job(msg, lambda: cls(device=self.device, seed=seed, **params), finish, True,
                                      estimate)

    def _on_reset(self, c, arrays=None, msg=None):
        m = self._need_model()
        seed = None if c.get("seed") is None else check_seed(c)
        self._cancel_jobs(exclusive_only=True)
        estimate = self._memory_check(type(m), {**m.p, **m.pending}, "reset")
        if self.step_job is not None:
            self._end_step_job(cancelled=True)
        # the reset builds on a shallow copy: the model keeps serving frames meanwhile, and a
        # cancelled reset leaves it untouched (Model.reset replaces attributes, never edits them)
        fresh = copy.copy(m)
        fresh.p, fresh._pending = dict(m.p), dict(m._pending)

        def work():
            fresh.reset(seed)
            return fresh

        def finish(model):
            self.model = model
            self._per_step = None
            if self.recorder is not None and self.recording_active:
                # a new run: the recording starts again, with the preset that makes it
                # (a stopped or full recording waits to be saved, untouched)
                self.recorder = Recorder(self.recorder.every, self.recorder.arrays, self.recorder.max_bytes,
                                         self.recorder.theory)
                source = getattr(self, "recording_source", None)
                self.recording_source = preset_for(model, source.title if source else None,
                                                   source.description if source else None)
                self.recording_preset = self.recording_source.dumps()
                self.recording_changes = []
                self._capture()
            self._frame_due = True
            self._state_event("reset")
            # a custom model's parameters follow its equations: the reply says which it has now
            return {"params": model.p, "seed": model.seed, "describe": model.declaration()}

        return self._start_thread_job(msg, work, finish, True, estimate)

    def _on_step(self, c, arrays=None, msg=None):
        self._need_model()
        n = _int(c, "n", 1, 1, MAX_STEP_REQUEST)
        if self.step_job is not None:  # a new step replaces the one in progress
            self._end_step_job(cancelled=True)
        self.running = False
        self.step_job = _Job("step", msg.msg_id, msg.identities, total=n)
        if self._serving:
            self._step_job_chunk()  # short steps answer at once
        return _DEFERRED

    def _step_job_chunk(self) -> None:
        job, m = self.step_job, self.model
        k = job.total - job.done
        if self._per_step is not None:
            k = min(k, max(1, int(CHUNK_SECONDS / self._per_step)))
        else:
            k = min(k, 1)
        if self.recorder is not None and self.recording_active:
            k = min(k, self.recorder.every - m.steps % self.recorder.every)
        try:
            self._advance(k)
        except SimulationDiverged as exc:
            self.error(str(exc), "step")
            self._end_step_job(stopped=str(exc))
            return
        except Exception as exc:
            self.step_job = None
            self._reply_job(job, _error_content("step_request", exc, traceback.format_exc()))
            self._frame_due = True
            return
        job.done += k
        if job.done >= job.total:
            self._end_step_job()

    def _end_step_job(self, cancelled: bool = False, stopped: str | None = None) -> None:
        job, m = self.step_job, self.model
        self.step_job = None
        content = {"status": "ok", "step": m.steps, "time": m.time, "done": job.done, "cancelled": cancelled}
        if stopped:
            content["stopped"] = stopped
        self._reply_job(job, content)
        self._frame_due = True

    def _on_cancel(self, c, arrays=None, msg=None):
        return {"cancelled": self._cancel_jobs() + self._cancel_saves()}

    def _on_run(self, c, arrays=None, msg=None):
        self._need_model()
        if "fps" in c:
            self._on_set_display_rate(c)
        if "steps_per_frame" in c:
            self._on_set_speed(c)
        if self.step_job is not None:
            self._end_step_job(cancelled=True)
        self.running = True
        return {}

    def _on_pause(self, c, arrays=None, msg=None):
        self.running = False
        if self.step_job is not None:  # pausing stops whatever advances the simulation
            self._end_step_job(cancelled=True)
        self._frame_due = True
        return {}

    def _on_record(self, c, arrays=None, msg=None):
        action = c.get("action", "status")
        m = self._need_model()
        if action in ("start", "stop", "save", "discard"):
            log.info("record %s at step %d (%s)", action, m.steps, {k: v for k, v in c.items() if k != "action"})
        if action == "start":
            self._record_start(c, m)
        elif action == "stop":
            pass
        elif action == "save":
            if self.recorder is None or len(self.recorder) == 0:
                raise ValueError("nothing recorded: send record_request with action='start' first")
            path = c["path"]
            if not isinstance(path, str) or not path:
                raise ValueError(f"record: 'path' must be a non-empty string, not {path!r}")
            compress, lossless = _flag(c, "compress", True), _flag(c, "lossless", False)
            title, description = _text(c, "title", 500), _text(c, "description", 20_000)
            snapshot = self.recorder.snapshot()  # writing runs in a thread; recording goes on
            meta = {"device": str(self.device), "param_changes": list(self.recording_changes),
                    "recording": "active" if self.recording_active else "stopped",
                    "versions": {"attractor_lab": __version__, "torch": torch.__version__}}
            preset = self.recording_preset
            source = getattr(self, "recording_source", None)
            if source is not None and (title is not None or description is not None):
                preset = dataclasses.replace(source, title=source.title if title is None else title,
                                             description=source.description if description is None
                                             else description).dumps()
            control = SaveControl()

            def work():
                try:
                    return snapshot.save(path, preset, meta, compress=compress, lossless=lossless, control=control)
                except OSError as exc:
                    raise ValueError(f"record: cannot write {path!r} on the engine's machine: "
                                     f"{exc.strerror or exc}") from None

            def finish(p):
                return {"path": str(p), "snapshots": len(snapshot), "every": snapshot.every,
                        "bytes": os.path.getsize(p), "seconds": round(time.monotonic() - started, 3)}

            started = time.monotonic()
            return self._start_thread_job(msg, work, finish, False, control=control, path=path)
        elif action == "cancel":  # the saves in progress
            return {"cancelled": self._cancel_saves(), "snapshots": len(self.recorder) if self.recorder else 0,
                    "step": m.steps}
        elif action == "discard":
            self.recorder = None
            self.recording_active = False
        elif action != "status":
            raise ValueError(f"record: action must be start, stop, save, cancel, discard or status, not {action!r}")
        if action == "stop" and self.recorder is not None:
            self._stop_recording()
        rec = self.recorder
        return {"snapshots": len(rec) if rec else 0, "step": m.steps, "active": rec is not None and self.recording_active,
                "every": rec.every if rec else None, "saving": [j.describe() for j in self._saves()]}

    # ---- stepping ------------------------------------------------------------------
    def _advance(self, n: int) -> None:
        """Step the model ``n`` steps, timing it and capturing snapshots on multiples of ``every``."""
        t0 = time.perf_counter()
        self.model.step(n)
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
        per_step = max((time.perf_counter() - t0) / n, 1e-8)
        self._per_step = per_step if self._per_step is None else 0.7 * self._per_step + 0.3 * per_step
        self._rate_steps += n
        self._steps_since_frame += n
        if self.recorder is not None and self.recording_active and self.model.steps % self.recorder.every == 0:
            self._capture()

    def _run_chunk(self) -> None:
        # Size the chunk so that it ends when the next frame is due (and never
        # runs longer than CHUNK_SECONDS, so commands are answered quickly); a
        # frame asked for at once (new parameters: the slider-to-screen latency)
        # goes out after the shortest chunk.
        now = time.perf_counter()
        due = now if self._frame_due else self._next_frame
        target = min(CHUNK_SECONDS, max(due - now, 0.002))
        n = 1 if self._per_step is None else int(min(max(1, target / self._per_step), 100_000))
        if self.steps_per_frame:
            n = min(n, self.steps_per_frame - self._steps_since_frame)
        rec = self.recorder
        if rec is not None and self.recording_active:
            n = min(n, rec.every - self.model.steps % rec.every)
        try:
            self._advance(n)
        except SimulationDiverged as exc:
            self.running = False
            self._frame_due = True
            self.error(str(exc), "step")
        except Exception as exc:  # keep serving; the user sees what broke
            self.running = False
            self.error(f"{type(exc).__name__}: {exc}", "step", traceback.format_exc())

    def _capture(self) -> None:
        m = self.model
        try:
            with m.exact_observables():  # a recording gets exact observables
                self.recorder.capture(m.steps, m.time, m.numpy_state(), m.observables())
        except RecordingFull as exc:
            log.warning("%s", exc)
            self._stop_recording()  # keep what we have
            self.error(str(exc), "record")
        except Exception as exc:
            log.warning("recording stopped: %r", exc)
            self._stop_recording()
            self.error(f"recording stopped: {type(exc).__name__}: {exc}", "record", traceback.format_exc())



def _error_content(msg_type: str, exc: BaseException, tb: str | None = None) -> dict:
    if isinstance(exc, KeyError):
        return {"status": "error", "ename": "ValueError", "evalue": f"{msg_type}: missing field {exc.args[0]!r}"}
    content = {"status": "error", "ename": type(exc).__name__, "evalue": str(exc)}
    if not isinstance(exc, (ValueError, OSError)):
        content["traceback"] = tb if tb is not None else traceback.format_exc()
    return content
