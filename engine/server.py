"""The engine server: one process that owns the device, the model and the recorder.

It steps the model as fast as it can in chunks short enough to answer commands
within a few tens of milliseconds, and publishes the newest state at most at
the display rate the client asked for. See ``docs/protocol.md``.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import zmq

from engine import __version__, models
from engine.device import choose_device, configure_torch, describe
from engine.models.base import SimulationDiverged
from engine.presets import MAX_SEED, Preset
from engine.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    REQUESTS,
    ProtocolError,
    Session,
    endpoint,
    new_key,
    read_connection_file,
    write_connection_file,
)
from engine.recorder import Recorder, RecordingFull

log = logging.getLogger("attractor_lab.engine")

#: A chunk of steps aims at this duration, so commands wait at most about this long.
CHUNK_SECONDS = 0.03
#: Upper bound a client may ask for a recording's memory budget.
MAX_RECORDING_BYTES = 16 << 30
STATUS_INTERVAL = 0.5


def _die_with_parent() -> None:
    """Linux: ask the kernel to send SIGTERM when the parent process dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


class EngineServer:
    """Serve one engine over ZeroMQ.

    Parameters
    ----------
    connection_file : path
        Written (owner-only) with the ports and the key. When it already holds a
        ``key``, that key is used.
    device : str
        ``auto``, ``cpu`` or ``cuda[:N]``.
    ip : str
        Address to bind; loopback by default. Binding another address exposes
        the engine to the network (messages stay signed).
    parent_pid : int, optional
        Exit when this process is gone.
    """

    def __init__(self, connection_file, device="auto", ip="127.0.0.1", parent_pid=None, threads=None,
                 advertise: str | None = None):
        self.threads = configure_torch(threads)
        self.device = choose_device(device)
        self.connection_file = Path(connection_file)
        key = None
        if self.connection_file.exists():
            try:
                key = read_connection_file(self.connection_file)["key"].encode()
            except (ValueError, KeyError, OSError):
                key = None
        self.session = Session(key or new_key())
        self.ctx = zmq.Context()
        self.command = self.ctx.socket(zmq.ROUTER)
        self.command.linger = 0
        self.command.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.state = self.ctx.socket(zmq.PUB)
        self.state.linger = 0
        # small high-water mark: a slow subscriber loses old frames, the engine never queues them
        self.state.sndhwm = 8
        cmd_port = self.command.bind_to_random_port(f"tcp://{ip}")
        state_port = self.state.bind_to_random_port(f"tcp://{ip}")
        if advertise is None:
            # 0.0.0.0 binds every interface but is no address to connect to
            advertise = socket.getfqdn() if ip in ("0.0.0.0", "::", "*") else ip
        self.info = {
            "transport": "tcp",
            "ip": advertise,
            "command_port": cmd_port,
            "state_port": state_port,
            "key": self.session.key.decode(),
            "signature_scheme": "hmac-sha256",
            "protocol_version": PROTOCOL_VERSION,
            "pid": os.getpid(),
        }
        write_connection_file(self.connection_file, self.info)
        self.parent_pid = parent_pid
        if parent_pid:
            _die_with_parent()
        self.model = None
        self.running = False
        self.fps = 30.0
        self.recorder: Recorder | None = None
        self.recording_preset: str = ""
        self.recording_changes: list[dict] = []  # live parameter changes during the recording
        self.recording_active = False  # capturing (a stopped or full recording still waits to be saved)
        self._per_step: float | None = None  # seconds per model step (moving average)
        self.steps_per_frame = 0  # cap on steps between two frames; 0 = as fast as possible
        self._steps_since_frame = 0
        self._last_frame = 0.0
        self._last_status = 0.0
        self._rate_steps = 0
        self._rate_t0 = time.perf_counter()
        self.steps_per_second = 0.0
        self._stop = False
        self._frame_due = False

    # ---- publishing ------------------------------------------------------
    def publish(self, msg_type, content=None, arrays=None):
        try:
            self.state.send_multipart(self.session.serialize(msg_type, content, arrays), flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            pass  # nobody keeps up: drop, never queue

    def publish_frame(self):
        if self.model is None:
            return
        try:
            self._publish_frame()
        except Exception as exc:  # a model that cannot describe its state: pause, say so, keep serving
            self.running = False
            self._frame_due = False
            self._last_frame = time.perf_counter()
            self.error(f"cannot publish the state: {type(exc).__name__}: {exc}", "frame", traceback.format_exc())

    def _publish_frame(self):
        m = self.model
        content = {
            "model": m.name,
            "step": m.steps,
            "time": m.time,
            "observables": {k: _scalar(v) for k, v in m.observables().items()},
            "texts": m.texts(),
            "params": m.p,
            "running": self.running,
        }
        self.publish("frame", content, m.numpy_state())
        self._last_frame = time.perf_counter()
        self._frame_due = False
        self._steps_since_frame = 0

    def publish_status(self):
        now = time.perf_counter()
        span = now - self._rate_t0
        if span > 0:
            self.steps_per_second = self._rate_steps / span
        self._rate_steps, self._rate_t0 = 0, now
        self._last_status = now
        self.publish("status", self.status())

    def status(self) -> dict:
        m = self.model
        return {
            "state": "running" if self.running else ("paused" if m is not None else "idle"),
            "model": m.name if m else None,
            "step": m.steps if m else 0,
            "time": m.time if m else 0.0,
            "steps_per_second": self.steps_per_second,
            "device": describe(self.device),
            "recording": len(self.recorder) if self.recorder is not None else None,
            "rejected_messages": self.session.rejected,
            "pending": m.pending if m else {},
        }

    def error(self, message: str, where: str, tb: str = "") -> None:
        log.error("%s: %s", where, message)
        self.publish("error", {"message": message, "where": where, "traceback": tb})

    # ---- main loop --------------------------------------------------------
    def serve_forever(self) -> None:
        poller = zmq.Poller()
        poller.register(self.command, zmq.POLLIN)
        try:
            while not self._stop:
                capped = self.steps_per_frame and self._steps_since_frame >= self.steps_per_frame
                if self.running and not capped:
                    timeout = 0
                elif self.running:  # wait for the next frame, answering commands meanwhile
                    timeout = max(0, int(1000 * (self._last_frame + 1.0 / self.fps - time.perf_counter())))
                else:
                    timeout = 50
                if poller.poll(timeout):
                    self._handle_pending()
                if self.running and not self._stop and not capped:
                    self._run_chunk()
                now = time.perf_counter()
                if self.model is not None and (
                    self._frame_due or (self.running and now - self._last_frame >= 1.0 / self.fps)
                ):
                    self.publish_frame()
                if now - self._last_status >= STATUS_INTERVAL:
                    self.publish_status()
                    if self.parent_pid and not _alive(self.parent_pid):
                        log.warning("parent %s is gone: exiting", self.parent_pid)
                        break
        finally:
            self.close()

    def close(self) -> None:
        self.command.close(0)
        self.state.close(0)
        self.ctx.term()
        try:
            if read_connection_file(self.connection_file).get("pid") == os.getpid():
                self.connection_file.unlink()
        except (OSError, ValueError):
            pass

    def _handle_pending(self) -> None:
        while True:
            try:
                frames = self.command.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                msg = self.session.deserialize(frames)
            except ProtocolError as exc:
                log.warning("dropped a message: %s (%d so far)", exc, self.session.rejected)
                continue
            except Exception as exc:  # backstop: nothing a client sends may end the engine
                self.session.rejected += 1
                log.warning("dropped a message: %s: %s", type(exc).__name__, exc)
                continue
            self._dispatch(msg)

    def _dispatch(self, msg) -> None:
        verb = msg.msg_type.removesuffix("_request")
        reply_type = f"{verb}_reply"
        arrays = None
        if not msg.msg_type.endswith("_request") or verb not in REQUESTS:
            content = {"status": "error", "ename": "UnknownRequest",
                       "evalue": f"unknown request {msg.msg_type!r}; known: {', '.join(r + '_request' for r in REQUESTS)}"}
        else:
            try:
                result = getattr(self, f"_on_{verb}")(msg.content, msg.arrays)
                if isinstance(result, tuple):
                    result, arrays = result
                content = {"status": "ok", **(result or {})}
            except KeyError as exc:
                content = {"status": "error", "ename": "ValueError",
                           "evalue": f"{msg.msg_type}: missing field {exc.args[0]!r}"}
            except Exception as exc:  # a bad request must never take the engine down
                content = {"status": "error", "ename": type(exc).__name__, "evalue": str(exc)}
                if not isinstance(exc, (ValueError, OSError)):
                    content["traceback"] = traceback.format_exc()
        self.command.send_multipart(
            self.session.serialize(reply_type, content, arrays, parent_id=msg.msg_id, identities=msg.identities),
            copy=False,
        )

    def _run_chunk(self) -> None:
        # Size the chunk so that it ends when the next frame is due (and never
        # runs longer than CHUNK_SECONDS, so commands are answered quickly).
        now = time.perf_counter()
        due = self._last_frame + 1.0 / self.fps
        target = min(CHUNK_SECONDS, max(due - now, 0.002))
        n = 1 if self._per_step is None else int(min(max(1, target / self._per_step), 100_000))
        if self.steps_per_frame:
            n = min(n, self.steps_per_frame - self._steps_since_frame)
        rec = self.recorder
        if rec is not None:
            n = min(n, rec.every - self.model.steps % rec.every)
        t0 = time.perf_counter()
        try:
            self.model.step(n)
        except SimulationDiverged as exc:
            self.running = False
            self._frame_due = True
            self.error(str(exc), "step")
            return
        except Exception as exc:  # keep serving; the user sees what broke
            self.running = False
            self.error(f"{type(exc).__name__}: {exc}", "step", traceback.format_exc())
            return
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
        per_step = max((time.perf_counter() - t0) / n, 1e-8)
        self._per_step = per_step if self._per_step is None else 0.7 * self._per_step + 0.3 * per_step
        self._rate_steps += n
        self._steps_since_frame += n
        if rec is not None and self.model.steps % rec.every == 0:
            self._capture()

    def _stop_recording(self) -> None:
        """Capture no more; what was recorded waits to be saved."""
        self.recording_active = False
        self.recorder.every = 10**18  # no step count is a multiple of it

    def _capture(self) -> None:
        m = self.model
        try:
            with m.exact_observables():  # a recording gets exact observables
                self.recorder.capture(m.steps, m.time, m.numpy_state(), m.observables())
        except RecordingFull as exc:
            log.warning("%s", exc)
            self.error(str(exc), "record")
            self._stop_recording()  # keep what we have
        except Exception as exc:
            log.warning("recording stopped: %r", exc)
            self._stop_recording()
            self.error(f"recording stopped: {type(exc).__name__}: {exc}", "record", traceback.format_exc())

    # ---- request handlers ---------------------------------------------------
    def _need_model(self):
        if self.model is None:
            raise ValueError("no model loaded; send load_request first")
        return self.model

    def _on_info(self, c, arrays=None):
        return {
            "engine_version": __version__,
            "protocol_version": PROTOCOL_VERSION,
            "device": str(self.device),
            "device_description": describe(self.device),
            "threads": self.threads,
            "pid": os.getpid(),
            "model": self.model.name if self.model else None,
            "max_message_bytes": MAX_MESSAGE_BYTES,
        }

    def _on_list_models(self, c, arrays=None):
        return {"models": {n: models.get(n).describe() for n in models.names()}}

    def _on_load(self, c, arrays=None):
        name = c.get("model")
        cls = models.get(name)
        params = c.get("params", {})
        if not isinstance(params, dict):
            raise ValueError("load: 'params' must be an object of name: value")
        self.model = cls(device=self.device, seed=_int(c, "seed", 0, 0, MAX_SEED), **params)
        self.model.display_mode = True
        self.running = False
        self._per_step = None
        self.recorder = None
        self.recording_active = False
        self._frame_due = True
        return {"model": name, "params": self.model.p, "describe": cls.describe()}

    def _on_set_params(self, c, arrays=None):
        m = self._need_model()
        params = c.get("params", {})
        if not isinstance(params, dict):
            raise ValueError("set_params: 'params' must be an object of name: value")
        waiting = m.set(**params)
        if self.recorder is not None and self.recording_active:  # the file says when the run changed
            self.recording_changes.append({"step": m.steps, "params": {k: v for k, v in params.items()
                                                                        if k not in waiting}})
        self._frame_due = True
        return {"params": m.p, "pending": m.pending, "waiting": waiting}

    def _on_run(self, c, arrays=None):
        self._need_model()
        if "fps" in c:
            self._on_set_display_rate(c)
        if "steps_per_frame" in c:
            self._on_set_speed(c)
        self.running = True
        return {}

    def _on_pause(self, c, arrays=None):
        self.running = False
        self._frame_due = True
        return {}

    def _on_step(self, c, arrays=None):
        m = self._need_model()
        n = _int(c, "n", 1, 1, 10**7)
        self.running = False
        done = 0
        try:
            # in pieces: snapshots land on multiples of `every`, and SIGTERM is honoured
            while done < n and not self._stop:
                k = n - done
                if self.recorder is not None:
                    k = min(k, self.recorder.every - m.steps % self.recorder.every)
                k = min(k, 10_000)
                m.step(k)
                done += k
                if self.recorder is not None and m.steps % self.recorder.every == 0:
                    self._capture()
        except SimulationDiverged as exc:
            self.error(str(exc), "step")
        self._frame_due = True
        return {"step": m.steps, "time": m.time}

    def _on_reset(self, c, arrays=None):
        m = self._need_model()
        seed = c.get("seed")
        m.reset(None if seed is None else _int(c, "seed", 0, 0, MAX_SEED))
        self._per_step = None
        if self.recorder is not None and self.recording_active:
            # a new run: the recording starts again, with the preset that makes it
            # (a stopped or full recording waits to be saved, untouched)
            self.recorder = Recorder(self.recorder.every, self.recorder.arrays, self.recorder.max_bytes)
            self.recording_preset = preset_for(m).dumps()
            self.recording_changes = []
            self._capture()
        self._frame_due = True
        return {"params": m.p, "seed": m.seed}

    def _on_get_state(self, c, arrays=None):
        m = self._need_model()
        with m.exact_observables():  # a script asking for the state gets exact values
            return {"step": m.steps, "time": m.time, "observables": m.observables(), "params": m.p}, m.numpy_state()

    def _on_paint(self, c, arrays=None):
        m = self._need_model()
        m.paint(c["field"], float(c["x"]), float(c["y"]), float(c.get("radius", 5)), float(c.get("value", 1.0)),
                c.get("mode", "set"))
        self._frame_due = True
        return {}

    def _on_click(self, c, arrays=None):
        m = self._need_model()
        target = c["target"]
        if not isinstance(target, str) or not target:
            raise ValueError(f"click: 'target' must be a non-empty string (the view's \"click\"), not {target!r}")
        x, y = _finite(c, "x"), _finite(c, "y")
        m.click(target, x, y)  # models that take no clicks raise ValueError
        self._frame_due = True
        return {}

    def _on_weights(self, c, arrays=None):
        m = self._need_model()
        action, path = c["action"], c["path"]
        if action not in ("save", "load"):
            raise ValueError(f"weights: action must be save or load, not {action!r}")
        if not isinstance(path, str) or not path:
            raise ValueError(f"weights: 'path' must be a non-empty string (a file on the engine's machine), not {path!r}")
        if not hasattr(m, f"{action}_weights"):
            raise ValueError(f"model {m.name!r} has no trained weights to {action}")
        if action == "save":
            return {"path": str(m.save_weights(path)), "step": m.steps}
        m.load_weights(path)  # refuses a file that does not fit, naming the mismatch; the model is unchanged
        self._frame_due = True
        return {"path": path, "step": m.steps}

    def _on_set_patterns(self, c, arrays=None):
        m = self._need_model()
        if not hasattr(m, "set_image_patterns"):
            raise ValueError(f"model {m.name!r} does not take user patterns")
        if not arrays or "patterns" not in arrays:
            raise ValueError("set_patterns: send the patterns as an array named 'patterns' (P, N)")
        m.set_image_patterns(np.array(arrays["patterns"]))
        return {"params": m.p, "pending": m.pending}

    def _on_set_speed(self, c, arrays=None):
        n = _int(c, "steps_per_frame", 0, 0, 10**7)  # 0: as fast as possible
        self.steps_per_frame = n
        return {"steps_per_frame": n}

    def _on_set_display_rate(self, c, arrays=None):
        fps = c["fps"]
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 1 <= fps <= 240:
            raise ValueError(f"fps must be in [1, 240], not {fps}")
        self.fps = float(fps)
        return {"fps": self.fps}

    def _on_record(self, c, arrays=None):
        action = c.get("action", "status")
        m = self._need_model()
        if action != "status":
            log.info("record %s at step %d (%s)", action, m.steps, {k: v for k, v in c.items() if k != "action"})
        if action == "start":
            # "fields", not "arrays": the protocol keeps content["arrays"] for buffer descriptions
            names = c.get("fields")
            state_names = set(m.numpy_state())
            if names is not None:
                if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
                    raise ValueError("record: 'fields' must be a non-empty list of array names")
                unknown = sorted(set(names) - state_names)
                if unknown:
                    raise ValueError(f"record: unknown fields {unknown}; this model has {sorted(state_names)}")
            if names is None and m.record_fields is not None:
                names = [n for n in m.record_fields if n in state_names]
            self.recorder = Recorder(_int(c, "every", 1, 1, 10**9), names,
                                     _int(c, "max_bytes", 1 << 30, 1 << 20, MAX_RECORDING_BYTES))
            self.recording_preset = preset_for(m).dumps()
            self.recording_changes = []
            self.recording_active = True
            self._capture()
        elif action == "stop":
            pass
        elif action == "save":
            if self.recorder is None or len(self.recorder) == 0:
                raise ValueError("nothing recorded: send record_request with action='start' first")
            meta = {"device": str(self.device), "param_changes": self.recording_changes}
            try:
                path = self.recorder.save(c["path"], self.recording_preset, meta)
            except OSError as exc:
                raise ValueError(f"record: cannot write {c['path']!r} on the engine's machine: "
                                 f"{exc.strerror or exc}") from None
            return {"path": str(path), "snapshots": len(self.recorder)}
        elif action == "discard":
            self.recorder = None
            self.recording_active = False
        elif action != "status":
            raise ValueError(f"record: action must be start, stop, save, discard or status, not {action!r}")
        if action == "stop" and self.recorder is not None:
            self._stop_recording()
        return {"snapshots": len(self.recorder) if self.recorder else 0, "step": m.steps}

    def _on_shutdown(self, c, arrays=None):
        self._stop = True
        self.running = False
        return {}


def preset_for(model) -> Preset:
    """A preset that recreates ``model`` as it is now."""
    return Preset(model=model.name, params=dict(model.p), seed=model.seed, title=f"{model.title} (recorded)")


def _scalar(value) -> int | float:
    """An observable for JSON: integers (counts: NFE, accepted steps) stay exact
    integers, everything else becomes a float."""
    if hasattr(value, "item"):  # numpy scalars, 0-d arrays and tensors
        value = value.item()
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return float(value)


def _int(content: dict, key: str, default: int, lo: int, hi: int) -> int:
    """An integer field of a request, checked against [lo, hi]."""
    value = content.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or \
            value in (float("inf"), float("-inf")) or int(value) != value or not lo <= value <= hi:
        raise ValueError(f"{key!r} must be an integer in [{lo}, {hi}], not {value!r}")
    return int(value)


def _finite(content: dict, key: str) -> float:
    """A required finite number field of a request."""
    value = content[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key!r} must be a finite number, not {value!r}")
    return float(value)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs; when it was our parent, a new parent means it died."""
    if _alive.initial_ppid == pid and os.getppid() != pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_alive.initial_ppid = os.getppid()


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="attractor-lab engine", description="Run an Attractor Lab engine process.")
    ap.add_argument("--connection-file", required=True, help="where to write ports and key (owner-only)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    ap.add_argument("--ip", default="127.0.0.1", help="address to bind (default: loopback only)")
    ap.add_argument("--advertise", default=None,
                    help="address clients connect to, written in the connection file "
                         "(default: the bound address, or this host's name when binding 0.0.0.0)")
    ap.add_argument("--parent-pid", type=int, default=None, help="exit when this process dies")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: 1 on ≤4 cores)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="engine %(levelname)s %(message)s")
    fault = os.environ.get("ATTRACTOR_LAB_FAULT", "")
    if fault == "crash_on_start":
        print("engine: crashing on start as asked by ATTRACTOR_LAB_FAULT", file=sys.stderr)
        return 3
    try:
        server = EngineServer(args.connection_file, args.device, args.ip, args.parent_pid, args.threads,
                              args.advertise)
    except ValueError as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return 2
    if fault == "no_reply":
        server._dispatch = lambda msg: None  # swallow every request
    elif fault == "garbage":
        server._dispatch = lambda msg: server.command.send_multipart([*msg.identities, b"garbage", b"\x00\xff"])
    signal.signal(signal.SIGTERM, lambda *a: setattr(server, "_stop", True))
    log.info("serving on %s (%s)", endpoint(server.info, "command"), describe(server.device))
    server.serve_forever()
    return 0
