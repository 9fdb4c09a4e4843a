"""Heartbeat: clients learn within about two seconds that an engine is gone.

As in Jupyter, the engine echoes pings on a socket of its own, served by a
thread, so a ping is answered while the main loop computes. Unlike Jupyter's
pure echo, the answer also says how long ago the main loop last went round
(``loop_ms``), so a client tells three cases apart: the engine answers and its
loop turns (alive), the engine answers but one computation holds its loop
(busy, for how long), and nothing answers (dead, hung or unreachable).

Pings are not signed: they carry nothing but a counter, and on a non-loopback
engine the socket is CURVE-encrypted and authenticated like the others.
This module imports neither torch nor Qt.
"""

from __future__ import annotations

import threading
import time

import zmq

from attractor_lab.engine.transport.protocol import endpoint
from attractor_lab.engine.transport.security import make_curve_client

#: clients ping this often (s)
PING_INTERVAL_S = 0.5
#: no answer for this long: the engine is gone (or hung, or unreachable)
DEAD_AFTER_S = 2.0
#: the engine's main loop silent for this long: say it is busy in one computation
BUSY_AFTER_S = 2.0


class HeartbeatServer(threading.Thread):
    """Echo pings on a ROUTER bound to ``ip`` (a random port: :attr:`port`)."""

    def __init__(self, ctx: zmq.Context, ip: str, loop_clock, curve_secret: str | None = None, ipv6: bool = False):
        super().__init__(name="engine-heartbeat", daemon=True)
        self.ctx, self.ip, self.loop_clock = ctx, ip, loop_clock
        self.curve_secret, self.ipv6 = curve_secret, ipv6
        self.port: int | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._stop_flag = False

    def start(self) -> int:
        """Start the thread; return the bound port (raises what binding raised)."""
        super().start()
        self._ready.wait(10)
        if self.error is not None:
            raise self.error
        return self.port

    def run(self) -> None:
        sock = self.ctx.socket(zmq.ROUTER)
        sock.linger = 0
        try:
            sock.ipv6 = self.ipv6
            if self.curve_secret:
                sock.curve_secretkey = self.curve_secret.encode()
                sock.curve_server = True
            self.port = sock.bind_to_random_port(f"tcp://{'[' + self.ip + ']' if ':' in self.ip else self.ip}")
        except BaseException as exc:  # reported by start()
            self.error = exc
            sock.close(0)
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stop_flag:
                if not sock.poll(100):
                    continue
                frames = sock.recv_multipart()
                if len(frames) != 2 or len(frames[1]) > 64:
                    continue  # not a ping
                loop_ms = int(1000 * (time.monotonic() - self.loop_clock()))
                try:
                    sock.send_multipart([frames[0], frames[1], str(loop_ms).encode()], flags=zmq.NOBLOCK)
                except zmq.Again:
                    pass
        except zmq.ZMQError:
            pass  # the context is being terminated
        finally:
            sock.close(0)

    def stop(self) -> None:
        self._stop_flag = True
        if self.is_alive():
            self.join(2)


class HeartbeatMonitor:
    """Client side: ping the engine and judge from the answers whether it lives.

    Call :meth:`tick` often (every 0.1–0.5 s); :meth:`verdict` then says
    ``alive``, ``busy`` (with the main loop's silence) or ``dead``.
    """

    def __init__(self, info: dict, ctx: zmq.Context | None = None):
        self.info = info
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.immediate = True  # never queue pings for an engine that is not connected
        self.sock.sndhwm = 4
        make_curve_client(self.sock, info)
        self.sock.connect(endpoint(info, "hb"))
        now = time.monotonic()
        self.last_answer = now  # grace: a fresh monitor counts from its creation
        self.last_ping = 0.0
        self.loop_ms = 0
        self._counter = 0

    def close(self) -> None:
        self.sock.close(0)

    def reset(self) -> None:
        """Start counting again (after a reconnect or a long pause of the caller)."""
        self.last_answer = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        while self.sock.poll(0):
            frames = self.sock.recv_multipart()
            self.last_answer = time.monotonic()
            if len(frames) == 2:
                try:
                    self.loop_ms = int(frames[1])
                except ValueError:
                    pass
        if now - self.last_ping >= PING_INTERVAL_S:
            self._counter += 1
            try:
                self.sock.send(str(self._counter).encode(), flags=zmq.NOBLOCK)
            except zmq.Again:
                pass  # not connected: the silence counts
            self.last_ping = now

    @property
    def silence(self) -> float:
        """Seconds since the engine last answered."""
        return time.monotonic() - self.last_answer

    def verdict(self) -> str:
        if self.silence > DEAD_AFTER_S:
            return "dead"
        if self.loop_ms > 1000 * BUSY_AFTER_S:
            return "busy"
        return "alive"

    def describe(self) -> str:
        """The verdict in words, for messages."""
        where = endpoint(self.info, "command")
        pid = self.info.get("pid")
        who = f"the engine at {where}" + (f" (pid {pid})" if pid else "")
        v = self.verdict()
        if v == "dead":
            from attractor_lab.engine.transport.security import pid_state

            state = pid_state(self.info)
            why = {"gone": f"its process {pid} is gone", "alive": f"process {pid} exists but is hung"}.get(
                state, "it died, hangs, or its machine is unreachable")
            return f"{who} stopped answering heartbeats {self.silence:.1f} s ago: {why}"
        if v == "busy":
            return f"{who} is alive but one computation has held its loop for {self.loop_ms / 1000:.1f} s"
        return f"{who} is alive"

