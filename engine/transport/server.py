"""The engine server: one process that owns the device, the model and the recorder.

It steps the model as fast as it can in chunks short enough to answer commands
within a few tens of milliseconds, and publishes the newest state at most at
the display rate the client asked for. It never blocks: a long ``step`` runs
in chunks between which other requests are answered; a ``load`` or ``reset``
runs in a worker thread after a memory check (refused up front when it would
not fit); a ``record`` save writes a snapshot of the recording in a thread.
Each of these answers when done, or ``cancelled`` when a ``cancel`` (or a
``pause``, for a step) stops it. See ``docs/protocol.md``.
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
from collections import deque
from pathlib import Path

import zmq

from attractor_lab.engine.device import choose_device, configure_torch, describe, preload_compiler
from attractor_lab.engine.files import pid_alive
from attractor_lab.engine.transport.heartbeat import HeartbeatServer
from attractor_lab.engine.transport.memory import MemoryBudget
from attractor_lab.engine.transport.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    REPLAY_WINDOW_S,
    REQUESTS,
    BadRequest,
    ConnectionFileError,
    ProtocolError,
    ReplayedMessage,
    Session,
    endpoint,
    new_key,
    read_connection_file,
    write_connection_file,
)
from attractor_lab.engine.storage.recorder import Recorder
from attractor_lab.engine.transport.security import (
    advertised_address,
    check_bind_address,
    claim_connection_file,
    curve_available,
    is_loopback,
    make_curve_server,
    new_curve_keys,
    start_authenticator,
)
from attractor_lab.engine.transport.server_analysis import AnalysisHandlers
from attractor_lab.engine.transport.server_jobs import _DEFERRED, JOB_VERBS, JobHandlers, _error_content, _Job
from attractor_lab.engine.transport.server_requests import EVENT_HISTORY, RequestHandlers, _scalar

log = logging.getLogger("attractor_lab.engine")

STATUS_INTERVAL = 0.5
#: errors that fell out of the event history are remembered by number (for ``missed_errors``)
LOST_ERRORS_KEPT = 1 << 14
#: the asked steps per frame count as done when the frames carry at least this fraction of them
KEEPS_UP = 0.9


def next_frame_deadline(due: float, now: float, period: float) -> float:
    """When the frame after one due at ``due`` and published at ``now`` is due.

    Frames are paced on deadlines (``due + period``), not on the time the last one went
    out (``now + period``): that added each frame's lateness to the next period, so
    30 frames/s asked came out as ~28. A frame more than half a period late (a long
    step, a pause, the first frame) starts the schedule again from ``now``, and so
    does one sent before it was due (at once after a parameter change: the next
    frame comes a whole period after it, not at the old deadline).
    """
    if now < due or now - due > 0.5 * period:
        return now + period
    return due + period


#: requests answered while a load or reset computes in its thread (the rest would
#: touch the model being replaced)
WHILE_BUSY = {"info", "list_models", "pause", "cancel", "events", "get_state", "set_display_rate", "set_speed",
              "shutdown", "load", "reset", "analyse"}


def _die_with_parent() -> None:
    """Linux: ask the kernel to send SIGTERM when the parent process dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


class EngineServer(AnalysisHandlers, JobHandlers, RequestHandlers):
    """Serve one engine over ZeroMQ.

    Parameters
    ----------
    connection_file : path
        Written (owner-only) with the ports and the keys. An existing file is
        refused when others can read it, its key is short, or an engine still
        serves it; otherwise it is replaced. Every start makes a fresh HMAC key,
        so no message signed for an earlier engine on this file is accepted.
    device : str
        ``auto``, ``cpu`` or ``cuda[:N]``.
    ip : str
        Address to bind; loopback by default. Any other address turns on CURVE
        encryption and client authentication (keys in the connection file), or
        is refused when libzmq has no CURVE.
    parent_pid : int, optional
        Exit when this process is gone.
    memory_budget_gb : float, optional
        Refuse resets estimated above this; default 80 % of the available memory.
    curve : bool, optional
        Force CURVE on (True) for a loopback engine too.
    """

    def __init__(self, connection_file, device="auto", ip="127.0.0.1", parent_pid=None, threads=None,
                 advertise: str | None = None, memory_budget_gb: float | None = None, curve: bool | None = None):
        ip = check_bind_address(ip)
        # before binding: a wildcard bind with no address to give remote clients is refused here
        advertise = advertised_address(ip, advertise)
        self.memory_budget = MemoryBudget.from_gb(memory_budget_gb)
        use_curve = bool(curve) or not is_loopback(ip)
        if use_curve and not curve_available():
            raise ValueError(f"--ip {ip}: an engine reachable from the network must encrypt its traffic, and this "
                             "libzmq has no CURVE (libsodium); bind 127.0.0.1 and use an SSH tunnel (see docs/cli.md)")
        self.connection_file = Path(connection_file)
        claim_connection_file(self.connection_file)  # refuses unsafe or busy files
        self.threads = configure_torch(threads)
        preload_compiler()  # a kernel compiled before is compiled again at load: its imports meanwhile
        self.device = choose_device(device)
        # a fresh key per start binds every message to this engine's life: the replay history
        # starts empty, and a request captured before a restart fails the signature check
        self.session = Session(new_key(), replay_window=REPLAY_WINDOW_S)
        self.ctx = zmq.Context()
        self._auth = None
        keys = new_curve_keys() if use_curve else None
        ipv6 = ":" in ip
        self.command = self.ctx.socket(zmq.ROUTER)
        self.command.linger = 0
        self.command.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.state = self.ctx.socket(zmq.PUB)
        self.state.linger = 0
        # small high-water mark: a slow subscriber loses old frames, the engine never queues them
        self.state.sndhwm = 8
        self._tick = time.monotonic()
        self.heartbeat = None
        try:
            if keys:
                self._auth = start_authenticator(self.ctx, keys["client_public"])
                for sock in (self.command, self.state):
                    make_curve_server(sock, keys["server_secret"])
            bind_ip = f"[{ip}]" if ipv6 else ip
            for sock in (self.command, self.state):
                sock.ipv6 = ipv6
            cmd_port = self.command.bind_to_random_port(f"tcp://{bind_ip}")
            state_port = self.state.bind_to_random_port(f"tcp://{bind_ip}")
            self.heartbeat = HeartbeatServer(self.ctx, ip, lambda: self._tick,
                                             keys["server_secret"] if keys else None, ipv6)
            hb_port = self.heartbeat.start()
        except zmq.ZMQError as exc:
            self._close_sockets()
            raise ValueError(f"--ip {ip}: cannot bind: {exc.strerror if hasattr(exc, 'strerror') else exc} "
                             "(use an address of this machine, 0.0.0.0 or 127.0.0.1)") from None
        self.info = {
            "transport": "tcp",
            "ip": advertise,
            "command_port": cmd_port,
            "state_port": state_port,
            "hb_port": hb_port,
            "key": self.session.key.decode(),
            "signature_scheme": "hmac-sha256",
            "protocol_version": PROTOCOL_VERSION,
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
        }
        if keys:
            self.info.update(curve_server_key=keys["server_public"], curve_public_key=keys["client_public"],
                             curve_secret_key=keys["client_secret"])
        try:
            write_connection_file(self.connection_file, self.info)
        except OSError as exc:
            self._close_sockets()
            raise ValueError(f"cannot write the connection file {str(self.connection_file)!r}: "
                             f"{exc.strerror or exc}") from None
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
        self.steps_per_frame = 0  # 0: as fast as possible
        self._steps_since_frame = 0
        self._last_frame = 0.0
        self._next_frame = 0.0  # when the next frame is due (next_frame_deadline)
        self._frame_steps: float | None = None  # steps per published frame while running (moving average)
        self._last_status = 0.0
        self._rate_t0 = time.perf_counter()
        self._rate_steps = 0
        self.steps_per_second = 0.0
        self._stop = False
        self._frame_due = False
        self._serving = False  # in serve_forever; otherwise (in-process tests) jobs finish inside the request
        self.step_job: _Job | None = None
        self.jobs: list[_Job] = []  # thread jobs (load, reset, record save)
        self._orphans: list[_Job] = []  # cancelled thread jobs still computing
        self.events: deque[dict] = deque(maxlen=EVENT_HISTORY)
        self.event_seq = 0
        #: numbers of the errors that fell out of ``events``: the ``events`` reply counts them
        self._lost_error_seqs: deque[int] = deque(maxlen=LOST_ERRORS_KEPT)
        self.last_error: str | None = None
        self._last_state = None
        self._warn_window = [0.0, 0, 0]  # start, lines logged, lines held back

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
            self._next_frame = self._last_frame + 1.0 / self.fps
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
        now = time.perf_counter()
        if self.running and self.step_job is None and not self._frame_due:
            # the steps a frame carried: fewer than asked when the device cannot keep up
            n = self._steps_since_frame
            self._frame_steps = n if self._frame_steps is None else 0.8 * self._frame_steps + 0.2 * n
        self._next_frame = next_frame_deadline(self._next_frame, now, 1.0 / self.fps)
        self._last_frame = now
        self._frame_due = False
        self._steps_since_frame = 0

    def frame_steps(self) -> dict:
        """Steps per frame asked (0: as many as fit) and done, for the status: when a frame's
        budget holds fewer steps than asked, frames keep their rate and carry fewer steps
        (the status says "12 of 40"), and all of them again once the device keeps up."""
        done = self._frame_steps if self.running and self._frame_steps is not None else None
        return {"steps_per_frame": self.steps_per_frame,
                "frame_steps": None if done is None else round(done, 1),
                "keeps_up": done is None or not self.steps_per_frame or done >= KEEPS_UP * self.steps_per_frame}

    def publish_status(self):
        now = time.perf_counter()
        span = now - self._rate_t0
        if span > 0:
            self.steps_per_second = self._rate_steps / span
        self._rate_steps, self._rate_t0 = 0, now
        self._last_status = now
        self.publish("status", self.status())

    def _state_name(self) -> str:
        if self._busy_job() is not None:
            return "busy"
        if self.running or self.step_job is not None:
            return "running"
        return "paused" if self.model is not None else "idle"

    def status(self) -> dict:
        m = self.model
        busy = self._busy_job() or self.step_job
        return {
            "state": self._state_name(),
            "model": m.name if m else None,
            "step": m.steps if m else 0,
            "time": m.time if m else 0.0,
            "steps_per_second": self.steps_per_second,
            "device": describe(self.device),
            "recording": len(self.recorder) if self.recorder is not None else None,
            "rejected_messages": self.session.rejected,
            "replayed_messages": self.session.replayed,
            "stale_messages": self.session.stale,
            "pending": m.pending if m else {},
            "event_seq": self.event_seq,
            "last_error": self.last_error,
            "job": busy.describe() if busy else None,
            **self.frame_steps(),
        }

    def _event(self, msg_type: str, content: dict) -> dict:
        """Number an event and keep it for clients that miss it on the lossy channel."""
        self.event_seq += 1
        content = {**content, "seq": self.event_seq}
        if len(self.events) == self.events.maxlen and self.events[0]["msg_type"] == "error":
            self._lost_error_seqs.append(self.events[0]["seq"])  # about to fall out of the history
        self.events.append({"seq": self.event_seq, "msg_type": msg_type, "content": content,
                            "time": time.time()})
        return content

    def _on_events(self, c, arrays=None):
        """The ``events`` reply, plus how many of the ``missed`` events were errors
        (``missed_errors``) and how many events the engine keeps (``history``)."""
        reply = super()._on_events(c, arrays)
        since = c.get("since", 0)  # checked by the handler above
        reply["missed_errors"] = sum(1 for seq in self._lost_error_seqs if seq > since)
        reply["history"] = self.events.maxlen
        return reply

    def error(self, message: str, where: str, tb: str = "") -> None:
        log.error("%s: %s", where, message)
        self.last_error = f"{where}: {message}"
        content = self._event("error", {"message": message, "where": where, "traceback": tb})
        self.publish("error", content)
        self.publish_status()  # the status carries event_seq: it repeats the news every 0.5 s

    def _state_event(self, why: str) -> None:
        """Log a change of state (running, paused, busy, a new model or run) as a numbered event."""
        m = self.model
        now = (self._state_name(), m.name if m else None)
        if why == "state" and now == self._last_state:
            return
        self._last_state = now
        self._event("state", {"why": why, "state": now[0], "model": now[1], "step": m.steps if m else 0,
                              "time": m.time if m else 0.0})

    # ---- main loop --------------------------------------------------------
    def serve_forever(self) -> None:
        poller = zmq.Poller()
        poller.register(self.command, zmq.POLLIN)
        self._serving = True
        try:
            while not self._stop:
                self._tick = time.monotonic()
                busy = self._busy_job() is not None
                advancing = (self.running or self.step_job is not None) and not busy
                capped = self.step_job is None and self.steps_per_frame and \
                    self._steps_since_frame >= self.steps_per_frame
                if advancing and not capped:
                    timeout = 0
                elif advancing:  # wait for the next frame, answering commands meanwhile
                    timeout = max(0, math.ceil(1000 * (self._next_frame - time.perf_counter())))
                else:
                    timeout = 20 if self.jobs else 50
                if poller.poll(timeout):
                    self._handle_pending()
                self._collect_thread_jobs()
                if not self._stop and self._busy_job() is None:
                    if self.step_job is not None:
                        self._step_job_chunk()
                    elif self.running and not capped:
                        self._run_chunk()
                now = time.perf_counter()
                if self.model is not None and self._busy_job() is None and (
                    self._frame_due or ((self.running or self.step_job) and now >= self._next_frame)
                ):
                    self.publish_frame()
                self._state_event("state")
                if now - self._last_status >= STATUS_INTERVAL:
                    self.publish_status()
                    if self.parent_pid and not _alive(self.parent_pid):
                        log.warning("parent %s is gone: exiting", self.parent_pid)
                        break
        finally:
            self._serving = False
            self.close()

    def _close_sockets(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        self.command.close(0)
        self.state.close(0)
        self.ctx.term()

    def close(self) -> None:
        self._cancel_analyses()
        if self.step_job is not None:
            self._end_step_job(cancelled=True)
        self._close_sockets()
        try:
            if read_connection_file(self.connection_file, check_mode=False).get("pid") == os.getpid():
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
            except BadRequest as exc:  # signed, so authentic: say what is wrong
                self._warn(f"refused a message: {exc}")
                self._reply_bad(exc)
                continue
            except ReplayedMessage as exc:
                self._warn(f"dropped a replayed message: {exc} ({self.session.replayed} replays so far)")
                continue
            except ProtocolError as exc:
                self._warn(f"dropped a message: {exc}")
                continue
            except Exception as exc:  # backstop: nothing a client sends may end the engine
                self.session.rejected += 1
                self._warn(f"dropped a message: {type(exc).__name__}: {exc}")
                continue
            self._dispatch(msg)

    def _warn(self, text: str) -> None:
        """Log a refused message; a flood is summarised (at most 20 lines per 10 s)."""
        now = time.monotonic()
        if now - self._warn_window[0] > 10.0:
            if self._warn_window[2]:
                log.warning("... and %d more refused messages (%d in all)", self._warn_window[2],
                            self.session.rejected)
            self._warn_window = [now, 0, 0]
        if self._warn_window[1] < 20:
            self._warn_window[1] += 1
            log.warning("%s (%d refused so far)", text, self.session.rejected)
        else:
            self._warn_window[2] += 1

    def _reply_bad(self, exc: BadRequest) -> None:
        header = exc.header or {}
        msg_type = header.get("msg_type") if isinstance(header.get("msg_type"), str) else ""
        verb = msg_type.removesuffix("_request") if msg_type.endswith("_request") else ""
        parent = header.get("msg_id") if isinstance(header.get("msg_id"), str) else None
        content = {"status": "error", "ename": type(exc).__name__, "evalue": str(exc)}
        self._send_reply(f"{verb}_reply" if verb else "error_reply", content, None, parent, exc.identities)

    def _send_reply(self, reply_type, content, arrays, parent_id, identities) -> None:
        try:
            frames = self.session.serialize(reply_type, content, arrays, parent_id=parent_id, identities=identities)
        except (TypeError, ValueError) as exc:  # a result JSON cannot carry
            frames = self.session.serialize(reply_type, {"status": "error", "ename": type(exc).__name__,
                                                         "evalue": str(exc)}, None, parent_id, identities)
        self.command.send_multipart(frames, copy=False)

    def _dispatch(self, msg) -> None:
        verb = msg.msg_type.removesuffix("_request")
        reply_type = f"{verb}_reply"
        arrays = None
        busy = self._busy_job()
        if not msg.msg_type.endswith("_request") or verb not in REQUESTS:
            content = {"status": "error", "ename": "UnknownRequest",
                       "evalue": f"unknown request {msg.msg_type!r}; known: {', '.join(r + '_request' for r in REQUESTS)}"}
        elif busy is not None and verb not in WHILE_BUSY and not (verb == "record" and msg.content.get(
                "action", "status") in ("status", "save")):
            content = {"status": "error", "ename": "EngineBusy",
                       "evalue": f"{verb}: the engine is busy with a {busy.verb} ({time.monotonic() - busy.started:.1f} s "
                                 "so far); wait for it, or send cancel_request"}
        else:
            try:
                handler = getattr(self, f"_on_{verb}")
                if verb in JOB_VERBS:  # these may answer later: they keep the request
                    result = handler(msg.content, msg.arrays, msg)
                else:
                    result = handler(msg.content, msg.arrays)
                if result is _DEFERRED:
                    if not self._serving:
                        self._finish_jobs_now()
                    return
                if isinstance(result, tuple):
                    result, arrays = result
                content = {"status": "ok", **(result or {})}
            except Exception as exc:  # a bad request must never take the engine down
                content = _error_content(msg.msg_type, exc)
        self._send_reply(reply_type, content, arrays, msg.msg_id, msg.identities)

def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs; when it was our parent, a new parent means it died."""
    if _alive.initial_ppid == pid and os.getppid() != pid:
        return False
    return pid_alive(pid)


_alive.initial_ppid = os.getppid()


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="attractor-lab engine", description="Run an Attractor Lab engine process.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  attractor-lab engine --connection-file e.json                      loopback (tunnel over SSH)\n"
               "  attractor-lab engine --connection-file e.json --ip 0.0.0.0         all interfaces, CURVE-encrypted")
    ap.add_argument("--connection-file", required=True, help="where to write ports and keys (owner-only)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    ap.add_argument("--ip", default="127.0.0.1",
                    help="address to bind (default: loopback only); any other address encrypts with CURVE")
    ap.add_argument("--advertise", default=None,
                    help="address clients connect to, written in the connection file (default: the bound "
                         "address; with 0.0.0.0 the address of the interface of the default route)")
    ap.add_argument("--curve", action="store_true", help="encrypt with CURVE on loopback too")
    ap.add_argument("--memory-budget-gb", type=float, default=None,
                    help="refuse resets estimated above this (default: 80%% of the available memory)")
    ap.add_argument("--parent-pid", type=int, default=None, help="exit when this process dies")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: 1 on ≤4 cores)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="engine %(levelname)s %(message)s")
    fault = os.environ.get("ATTRACTOR_LAB_FAULT", "")
    if fault == "crash_on_start":
        print("engine: crashing on start as asked by ATTRACTOR_LAB_FAULT", file=sys.stderr)
        return 3
    if args.threads is not None and args.threads < 1:
        print(f"engine: --threads must be >= 1, not {args.threads}", file=sys.stderr)
        return 2
    try:
        server = EngineServer(args.connection_file, args.device, args.ip, args.parent_pid, args.threads,
                              args.advertise, args.memory_budget_gb, args.curve or None)
    except (ValueError, ConnectionFileError) as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # e.g. torch: CUDA requested but unusable
        print(f"engine: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if fault == "no_reply":
        server._dispatch = lambda msg: None  # swallow every request
    elif fault == "slow_reset":  # every load and reset takes 3 s more (to test cancelling them)
        start = server._start_thread_job

        def slow(msg, work, finish, exclusive, estimate=0):
            delayed = (lambda: (time.sleep(3.0), work())[1]) if exclusive else work
            return start(msg, delayed, finish, exclusive, estimate)

        server._start_thread_job = slow
    elif fault == "garbage":
        server._dispatch = lambda msg: server.command.send_multipart([*msg.identities, b"garbage", b"\x00\xff"])
    signal.signal(signal.SIGTERM, lambda *a: setattr(server, "_stop", True))
    log.info("serving on %s (%s%s)", endpoint(server.info, "command"), describe(server.device),
             ", CURVE" if server.info.get("curve_server_key") else "")
    code = 0
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("engine: interrupted; connection file removed", file=sys.stderr)
        code = 130
    if server.jobs or server._orphans:
        # a load or reset still computing in its thread: leave without waiting for it
        # (interpreter shutdown under a running torch thread aborts the process)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
