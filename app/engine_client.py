"""The GUI's handle on an engine process: start it, talk to it, watch it, stop it.

Wraps :class:`engine.transport.client.EngineClient` (torch-free) with Qt socket
notifiers, a restarter with a restart limit, and a staged shutdown
(request, wait, terminate, kill), in the manner of jupyter_client's
``KernelManager`` and ``KernelRestarter``. A heartbeat tells within about two
seconds that an engine (local or remote) is gone or hangs; a local engine that
cannot start is reported with the tail of what it wrote to stderr.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq
from PySide6 import QtCore

from attractor_lab.app.launch import engine_command
from attractor_lab.engine.transport.client import EngineClient, EventTracker, lost_events_text
from attractor_lab.engine.transport.protocol import (
    PROTOCOL_VERSION,
    ConnectionFileError,
    ProtocolError,
    read_connection_file,
)
from attractor_lab.engine.transport.runtime import new_connection_file
from attractor_lab.engine.transport.security import pid_state

log = logging.getLogger("attractor_lab.app")

START_TIMEOUT_S = 60.0
#: an engine that ran this long before dying resets the restart count
STABLE_S = 60.0
REPLY_TIMEOUT_S = 30.0
#: a local engine whose heartbeat stays silent this long is hung: it is killed and restarted
HUNG_KILL_S = 10.0
#: a remote engine that stopped answering: its connection file is read again this often (s)
REMOTE_REREAD_S = 1.0
#: lines of a failed engine's stderr shown to the user
STDERR_TAIL_LINES = 12


def _connection_file(previous: Path | None, private_dir: str) -> Path:
    """Where a local engine writes its connection file: the runtime folder, where
    ``attractor_lab.connect()`` finds it (engine/transport/runtime.py); the same name across
    restarts, removed first so a restarted engine makes a fresh key. A runtime folder
    that cannot be used: the window's private temporary folder."""
    if previous is not None and Path(previous).name != "engine.json":  # not the fallback
        Path(previous).unlink(missing_ok=True)
        return Path(previous)
    try:
        return new_connection_file()
    except OSError as exc:
        print(f"attractor-lab: {exc}; the engine's connection file goes to {private_dir}", file=sys.stderr)
        return Path(private_dir) / "engine.json"


class QtEngine(QtCore.QObject):
    """An engine (local subprocess or remote) seen from the Qt event loop.

    Signals
    -------
    connected(info)
        The engine answered ``info``.
    frame(content, arrays)
        The newest frame; older frames that arrived in the same burst are dropped.
    status(content)
    engine_error(message, where)
        An ``error`` event (also one missed on the lossy channel and fetched
        afterwards), a failed request, or a crash.
    liveness(verdict, message)
        The heartbeat's verdict changed: ``alive``, ``busy`` (one computation
        holds the engine's loop) or ``dead`` (no answer for ~2 s).
    dead(message)
        The engine died and will not be restarted (the message ends with the
        tail of its stderr when it failed to start).
    events_lost(missed, missed_errors, message)
        ``missed`` engine events (``missed_errors`` of them errors; -1 when the
        engine did not say) fell out of the engine's history before this
        window could fetch them; also logged as a warning. The totals are
        ``events_lost_total`` and ``errors_lost_total``.
    """

    connected = QtCore.Signal(dict)
    frame = QtCore.Signal(dict, dict)
    status = QtCore.Signal(dict)
    engine_error = QtCore.Signal(str, str)
    liveness = QtCore.Signal(str, str)
    dead = QtCore.Signal(str)
    events_lost = QtCore.Signal(int, int, str)

    def __init__(self, connection_file: str | None = None, device: str = "auto", restart_limit: int = 3,
                 parent=None):
        super().__init__(parent)
        self.remote_file = connection_file
        self.device = device
        self.restart_limit = restart_limit
        self.restarts = 0
        self.proc: subprocess.Popen | None = None
        self.client: EngineClient | None = None
        self._tmpdir = None
        self._callbacks: dict[str, tuple] = {}
        self._notifiers: list[QtCore.QSocketNotifier] = []
        self._start_deadline = 0.0
        self._started_at = 0.0
        self._closing = False
        self.frames_received = 0
        self.frames_dropped = 0
        self.info: dict = {}
        self.events = EventTracker()
        self.events_lost_total = 0
        self.errors_lost_total = 0
        self._verdict = "alive"
        self._fetching_events = False
        self._reread_at = 0.0  # when a silent remote engine's connection file was last read again
        self._stderr_path: Path | None = None
        self._poll = QtCore.QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._check)

    # ---- lifecycle --------------------------------------------------------
    def start(self) -> None:
        """Start a local engine, or attach to the remote one; returns at once."""
        self._closing = False
        if self.remote_file:
            try:
                info = read_connection_file(self.remote_file)
            except ConnectionFileError as exc:
                QtCore.QTimer.singleShot(0, lambda: self.dead.emit(str(exc)))
                return
            if pid_state(info) == "gone":
                text = (f"connection file {self.remote_file!r} is stale: its engine (pid {info['pid']}) is gone; "
                        "start a new engine")
                QtCore.QTimer.singleShot(0, lambda: self.dead.emit(text))
                return
            self._attach(info)
            return
        if self._tmpdir is not None:  # a restart: the dead engine's folder goes
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        self._tmpdir = tempfile.mkdtemp(prefix="attractor-lab-")  # mode 0700
        self.connection_file = _connection_file(getattr(self, "connection_file", None), self._tmpdir)
        self._stderr_path = Path(self._tmpdir) / "engine.log"
        cmd = engine_command("--connection-file", str(self.connection_file),
                             "--device", self.device, "--parent-pid", str(os.getpid()))
        with open(self._stderr_path, "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=log)
        self._started_at = time.monotonic()
        self._start_deadline = time.monotonic() + START_TIMEOUT_S
        self._poll.start()

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        """The last lines the local engine wrote to stderr ("" when none)."""
        if self._stderr_path is None:
            return ""
        try:
            with open(self._stderr_path, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 16384))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def _check(self) -> None:
        """Timer: wait for the connection file, then watch that the process lives and answers."""
        if self.proc is not None and self.proc.poll() is not None:
            self._on_exit(self.proc.returncode)
            return
        if self.client is not None:
            self._on_command_ready()  # safety net for a missed notifier edge
            self._on_state_ready()
            self._check_heartbeat()
        if self.client is None:
            if self.connection_file.exists():
                try:
                    info = read_connection_file(self.connection_file)
                except (ValueError, OSError):
                    return  # half-visible file: atomic rename makes this rare; try again
                self._attach(info)
            elif time.monotonic() > self._start_deadline:
                self._give_up(f"the engine did not start within {START_TIMEOUT_S:.0f} s")

    def _attach(self, info: dict) -> None:
        self.client = EngineClient(info)
        self.client.fetch_missed = False  # done here without blocking: _fetch_missed_events
        for sock, handler in ((self.client.command, self._on_command_ready), (self.client.state, self._on_state_ready)):
            n = QtCore.QSocketNotifier(sock.getsockopt(zmq.FD), QtCore.QSocketNotifier.Read, self)
            n.activated.connect(handler)
            self._notifiers.append(n)
        # zmq.FD is edge-triggered: drain whatever arrived before the notifier existed
        QtCore.QTimer.singleShot(0, self._on_command_ready)
        QtCore.QTimer.singleShot(0, self._on_state_ready)
        if not self._poll.isActive():
            self._poll.start()
        self.request("info", {}, self._on_info)

    def _check_heartbeat(self) -> None:
        hb = self.client.heartbeat
        if hb is None:
            return
        hb.tick()
        verdict = hb.verdict()
        if verdict != self._verdict:
            self._verdict = verdict
            self.liveness.emit(verdict, hb.describe())
            if verdict == "dead":
                self.engine_error.emit(hb.describe(), "engine")
                self._fail_pending("the engine stopped answering")
        if verdict == "dead" and self.proc is not None and hb.silence > HUNG_KILL_S:
            self.engine_error.emit(f"the engine (pid {self.proc.pid}) hangs: killing it to restart it", "engine")
            self.proc.kill()  # the next check sees it exit and restarts it
        if verdict == "dead" and self.remote_file and time.monotonic() - self._reread_at > REMOTE_REREAD_S:
            self._reread_at = time.monotonic()
            self._follow_restarted_remote()

    def _follow_restarted_remote(self) -> None:
        """A silent remote engine whose connection file was rewritten has been restarted:
        attach to the new one. Each engine start writes a fresh key and new ports (messages
        signed for the old engine are refused by design), so the file must be read again."""
        try:
            info = read_connection_file(self.remote_file)
        except ConnectionFileError:
            return  # not rewritten yet (or half-visible): try again later
        old = self.client.info
        if all(info.get(k) == old.get(k) for k in ("key", "command_port", "state_port", "pid")) or \
                pid_state(info) == "gone":
            return
        self._detach()
        self.engine_error.emit(f"the engine of {self.remote_file} was restarted (pid {info.get('pid')}): "
                               "reconnected with its new key", "engine")
        self._attach(info)
        self.liveness.emit("alive", f"reconnected to the restarted engine (pid {info.get('pid')})")

    def _fail_pending(self, why: str) -> None:
        """Requests waiting for an engine that stopped answering fail now, not after 30 s."""
        pending, self._callbacks = self._callbacks, {}
        for verb, _, on_error, _ in pending.values():
            text = f"{why} before answering {verb}"
            on_error(text) if on_error else self.engine_error.emit(text, f"{verb} request")

    def _on_info(self, content: dict) -> None:
        version = str(content.get("protocol_version", ""))
        if version.split(".")[0] != PROTOCOL_VERSION.split(".")[0]:
            self._give_up(f"the engine speaks protocol {version or '?'} and this window {PROTOCOL_VERSION}: "
                          "run the same Attractor Lab version on both machines")
            return
        self.info = content
        if self.events.upto is None and isinstance(content.get("event_seq"), int):
            self.events.skip_to(content["event_seq"])  # what happened before we came is not news
        self.connected.emit(content)

    def _on_exit(self, code: int) -> None:
        self._detach()
        tail = self.stderr_tail()
        if tail and not self._closing:  # the engine's stderr goes to a file: show how it ended
            print(f"attractor-lab: the engine exited with code {code}; its last words:\n{tail}", file=sys.stderr)
        if self._closing:
            return
        if time.monotonic() - self._started_at > STABLE_S:
            self.restarts = 0  # the limit is for crash loops, not for one crash a day
        if self.restarts < self.restart_limit:
            self.restarts += 1
            self.engine_error.emit(
                f"the engine exited with code {code}; restarting ({self.restarts}/{self.restart_limit})", "engine")
            self.start()
        else:
            self._give_up(f"the engine exited with code {code} and was restarted {self.restart_limit} times; giving up")

    def restart(self) -> None:
        """Start again after giving up (the window's Restart engine), with a fresh restart count."""
        self.shutdown()
        self.restarts = 0
        self.start()

    def _give_up(self, message: str) -> None:
        tail = self.stderr_tail()
        if tail and self.proc is not None:
            message += f"\n\nThe engine's last words (stderr):\n{tail}"
        self._poll.stop()
        self._detach()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self.dead.emit(message)

    def _detach(self) -> None:
        for n in self._notifiers:
            n.setEnabled(False)
            n.deleteLater()
        self._notifiers.clear()
        if self.client is not None:
            self.client.close()
            self.client = None
        self.info = {}
        self.events = EventTracker()
        self._verdict = "alive"
        pending, self._callbacks = self._callbacks, {}
        for verb, _, on_error, _ in pending.values():
            if on_error is not None and not self._closing:
                on_error(f"the engine went away before answering {verb}")

    def shutdown(self, wait_s: float = 2.0) -> None:
        """Staged shutdown of our engine: ask, wait, terminate, kill. An engine
        attached with ``--connect`` is only paused and left running."""
        self._closing = True
        self._poll.stop()
        if self.client is not None:
            # an engine we attached to (--connect) outlives us, paused; ours is shut down
            try:
                self.client.send("pause" if self.remote_file else "shutdown", {})
                # the sockets close next: with linger 0 the request could be dropped
                # unsent (a remote engine then kept running); let it go out first
                self.client.command.linger = 1000
            except zmq.ZMQError:
                pass
        self._detach()
        if self.proc is not None:
            for action in (None, self.proc.terminate, self.proc.kill):
                if action is not None:
                    action()
                try:
                    self.proc.wait(wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
            self.proc = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
            Path(self.connection_file).unlink(missing_ok=True)  # a killed engine leaves it behind

    @property
    def is_connected(self) -> bool:
        return self.client is not None and bool(self.info)

    # ---- requests -----------------------------------------------------------
    def request(self, verb: str, content: dict | None = None, on_reply=None, on_error=None,
                arrays: dict | None = None) -> str | None:
        """Send a request; ``on_reply(content)`` runs on the reply, errors go to
        ``on_error(message)`` or the ``engine_error`` signal."""
        if self.client is None:
            self.engine_error.emit(f"cannot send {verb}: no engine connected", f"{verb} request")
            return None
        try:
            msg_id = self.client.send(verb, content, arrays)
        except ValueError as exc:  # too large to send
            on_error(str(exc)) if on_error else self.engine_error.emit(str(exc), f"{verb} request")
            return None
        self._callbacks[msg_id] = (verb, on_reply, on_error, time.monotonic())
        # A send can consume the edge of zmq.FD that announced an incoming reply:
        # check the socket again once control is back in the event loop.
        QtCore.QTimer.singleShot(0, self._on_command_ready)
        return msg_id

    def _on_command_ready(self, *args) -> None:
        c = self.client
        if c is None:
            return
        while c.command.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            try:
                msg = c.recv_reply(0)
            except ProtocolError as exc:
                self.engine_error.emit(f"dropped a reply: {exc}", "protocol")
                continue
            if msg is None:
                break
            verb, on_reply, on_error, _ = self._callbacks.pop(msg.parent_id, (msg.msg_type, None, None, 0))
            content = dict(msg.content)
            if msg.arrays:
                content["arrays"] = msg.arrays
            try:
                if content.get("status") == "error":
                    text = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
                    if on_error:
                        on_error(text)
                    else:
                        self.engine_error.emit(text, f"{verb} request")
                elif on_reply:
                    on_reply(content)
            except Exception as exc:  # a broken handler must not kill the reply loop
                import traceback

                traceback.print_exc()
                self.engine_error.emit(f"handling the {verb} reply failed: {type(exc).__name__}: {exc}", "gui")
        self._expire_requests()

    def _expire_requests(self) -> None:
        now = time.monotonic()
        for msg_id, (verb, _, on_error, t0) in list(self._callbacks.items()):
            if now - t0 > REPLY_TIMEOUT_S:
                del self._callbacks[msg_id]
                text = f"the engine did not answer {verb} within {REPLY_TIMEOUT_S:.0f} s"
                on_error(text) if on_error else self.engine_error.emit(text, f"{verb} request")

    def _on_state_ready(self, *args) -> None:
        c = self.client
        if c is None:
            return
        newest = None
        while c.state.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            msg = c.recv_event(0)
            if msg is None:
                continue
            if msg.msg_type == "frame":
                if newest is not None:
                    self.frames_dropped += 1  # stale: a newer one is here
                newest = msg
            elif msg.msg_type == "status":
                self.status.emit(msg.content)
                self._fetch_missed_events(msg.content.get("event_seq"))
            elif msg.msg_type == "error":
                if self.events.saw(msg.content.get("seq")):
                    self.engine_error.emit(msg.content.get("message", ""), msg.content.get("where", ""))
        if newest is not None:
            self.frames_received += 1
            self.frame.emit(newest.content, newest.arrays)

    def _fetch_missed_events(self, newest) -> None:
        """A status says events were published that we did not get (the state channel
        drops what a slow reader cannot take): ask for them, report the errors."""
        since = self.events.missing_since(newest)
        if since is None or self._fetching_events or not self.info:
            return
        self._fetching_events = True

        def got(content):
            self._fetching_events = False
            for e in content.get("events", []):
                if self.events.saw(e["seq"]) and e["msg_type"] == "error":
                    c = e["content"]
                    self.engine_error.emit(c.get("message", ""), c.get("where", ""))
            missed = content.get("missed")
            if isinstance(missed, int) and missed > 0:  # errors the user will never see: say how many
                errors = content.get("missed_errors")
                errors = errors if isinstance(errors, int) else None
                text = lost_events_text(missed, errors, content.get("history"), "the window")
                self.events_lost_total += missed
                self.errors_lost_total += errors or 0
                log.warning("%s", text)
                self.events_lost.emit(missed, -1 if errors is None else errors, text)
            self.events.skip_to(content.get("seq", since))

        def failed(_message):
            self._fetching_events = False

        self.request("events", {"since": since}, got, failed)
