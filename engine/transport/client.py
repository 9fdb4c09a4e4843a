"""A blocking client for an engine process (no Qt, no torch).

Used by the tests, by scripts that drive a remote engine, and underneath the
GUI's Qt client (``app.engine_client``), which adds socket notifiers.

>>> client = EngineClient.from_connection_file("engine.json")
>>> client.request("load", {"model": "gray_scott"})
>>> client.request("run", {"fps": 30})
>>> frame = client.next_event("frame", timeout=5)

While it waits, the client pings the engine's heartbeat: a dead, hung or
unreachable engine raises :class:`EngineDead` within about two seconds. Errors
the engine published while this client was not reading (the state channel
drops what a slow reader cannot take) are fetched with an ``events`` request
and handed out by :meth:`recv_event` like the others. Events the engine no
longer kept when asked (it keeps the last 256) are not lost silently: they are
counted in :attr:`EngineClient.events_lost` and :attr:`EngineClient.errors_lost`
and announced by an ``error`` event whose ``where`` is ``"events"``.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, deque

import zmq

from attractor_lab.engine.transport.heartbeat import HeartbeatMonitor
from attractor_lab.engine.transport.protocol import (
    MAX_MESSAGE_BYTES,
    ConnectionFileError,
    Message,
    ProtocolError,
    Session,
    endpoint,
    read_connection_file,
)
from attractor_lab.engine.transport.security import make_curve_client, pid_state

#: replies that arrive for another request are kept this long (s) and this many at most
EARLY_REPLY_S = 60.0
EARLY_REPLY_MAX = 256


class EngineError(RuntimeError):
    """The engine answered a request with an error."""

    def __init__(self, reply: dict):
        self.ename = reply.get("ename", "Error")
        self.evalue = reply.get("evalue", "")
        super().__init__(f"{self.ename}: {self.evalue}")


class EngineTimeout(TimeoutError):
    """The engine did not answer in time."""


class EngineDead(EngineTimeout):
    """The engine stopped answering its heartbeat: it died, hangs or cannot be reached."""


def lost_events_text(missed: int, missed_errors: int | None = None, history: int | None = None,
                     who: str = "this client") -> str:
    """One line telling the user that ``missed`` engine events (``missed_errors`` of them
    errors, None when the engine did not say) were lost before ``who`` could fetch them."""
    kept = f" (it keeps the last {history})" if history else ""
    if missed_errors is None:
        what = f"{missed} engine event{'s' * (missed != 1)} (errors or state changes)"
    elif missed_errors:
        others = missed - missed_errors
        what = (f"{missed_errors} engine error{'s' * (missed_errors != 1)}"
                + (f" (and {others} state change{'s' * (others != 1)})" if others > 0 else ""))
    else:
        what = f"{missed} engine state change{'s' * (missed != 1)} (no errors)"
    verb = "was" if (missed_errors or missed) == 1 else "were"
    return (f"{what} {verb} lost: {'it' if verb == 'was' else 'they'} fell out of the engine's history{kept} before {who} fetched them; "
            "the engine's log (stderr) has every error")


class EventTracker:
    """Which numbered events (errors, state changes) a client has seen, to fetch the rest.

    ``seq`` events arrive on the lossy state channel; the engine's ``status``
    (every 0.5 s) carries the newest number. :meth:`missing_since` says from
    which number to ask the engine's ``events`` request.
    """

    def __init__(self, start: int | None = None):
        self.upto = start  # every event up to this number was seen (None: not known yet)
        self.seen: set[int] = set()

    def saw(self, seq) -> bool:
        """Note event ``seq``; False when it was seen before."""
        if not isinstance(seq, int):
            return True
        if self.upto is None:
            self.upto = seq - 1
        if seq <= self.upto or seq in self.seen:
            return False
        self.seen.add(seq)
        while self.upto + 1 in self.seen:
            self.upto += 1
            self.seen.discard(self.upto)
        return True

    def missing_since(self, newest) -> int | None:
        """The number to fetch events after, when ``newest`` says some were missed."""
        if not isinstance(newest, int):
            return None
        upto = 0 if self.upto is None else self.upto  # not known: everything the engine kept
        return upto if newest > upto else None

    def skip_to(self, seq: int) -> None:
        """Events up to ``seq`` are accounted for (fetched, or lost beyond the engine's history)."""
        if self.upto is None or seq > self.upto:
            self.upto = seq
        self.seen = {s for s in self.seen if s > self.upto}


class EngineClient:
    """Command (DEALER), state (SUB) and heartbeat sockets to one engine.

    Parameters
    ----------
    info : dict
        Connection info (``read_connection_file``).
    """

    def __init__(self, info: dict, context: zmq.Context | None = None):
        self.info = info
        # duplicates only (another machine's clock may differ), over the last 16 384 messages
        self.session = Session(info["key"].encode(), history=1 << 14)
        self.ctx = context or zmq.Context.instance()
        self.command = self.ctx.socket(zmq.DEALER)
        self.command.linger = 0
        make_curve_client(self.command, info)
        self.command.connect(endpoint(info, "command"))
        self.state = self.ctx.socket(zmq.SUB)
        self.state.linger = 0
        self.state.rcvhwm = 8
        make_curve_client(self.state, info)
        self.state.setsockopt(zmq.SUBSCRIBE, b"")
        self.state.connect(endpoint(info, "state"))
        self.heartbeat = HeartbeatMonitor(info, self.ctx) if info.get("hb_port") else None
        self.events = EventTracker()
        self._early_replies: OrderedDict[str, tuple[float, Message]] = OrderedDict()
        self._abandoned: deque[str] = deque(maxlen=1024)  # requests given up on: their replies are dropped
        self._fetched: deque[Message] = deque()  # missed events fetched with an events request
        #: events (and errors among them) that the engine no longer kept when this client asked
        self.events_lost = 0
        self.errors_lost = 0
        #: recv_event fetches missed errors itself (a request: blocking); the Qt client does it its own way
        self.fetch_missed = True

    @classmethod
    def from_connection_file(cls, path) -> "EngineClient":
        """Connect to the engine a connection file names. A file whose engine is gone
        (its pid no longer runs on this machine) raises :class:`EngineDead` at once."""
        info = read_connection_file(path)
        if pid_state(info) == "gone":
            raise EngineDead(f"connection file {str(path)!r} is stale: its engine (pid {info['pid']}) is gone; "
                             "start a new engine")
        return cls(info)

    def close(self) -> None:
        self.command.close(0)
        self.state.close(0)
        if self.heartbeat is not None:
            self.heartbeat.close()

    # ---- liveness ------------------------------------------------------------
    def check_alive(self) -> None:
        """Ping the heartbeat; raise :class:`EngineDead` after about 2 s without an answer."""
        if self.heartbeat is None:
            return
        self.heartbeat.tick()
        if self.heartbeat.verdict() == "dead":
            raise EngineDead(self.heartbeat.describe())

    def _wait(self, sock: zmq.Socket, deadline: float) -> bool:
        """Poll ``sock`` until ``deadline``, checking the heartbeat meanwhile."""
        if self.heartbeat is not None:
            self.heartbeat.reset()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if sock.poll(max(1, int(min(left, 0.1) * 1000))):
                return True
            self.check_alive()

    # ---- commands ---------------------------------------------------------
    def send(self, verb: str, content: dict | None = None, arrays: dict | None = None) -> str:
        """Send ``<verb>_request`` (with optional numpy ``arrays``); returns its msg_id."""
        frames = self.session.serialize(f"{verb}_request", content or {}, arrays)
        size = sum(len(memoryview(f).cast("B")) if isinstance(f, memoryview) else len(f) for f in frames)
        if size > MAX_MESSAGE_BYTES:
            raise ValueError(f"{verb}: a message of {size / 2**20:.0f} MiB is over the engine's limit of "
                             f"{MAX_MESSAGE_BYTES >> 20} MiB; send less at once")
        self.command.send_multipart(frames, copy=False)
        return json.loads(bytes(frames[2]))["msg_id"]

    def recv_reply(self, timeout: float | None = None) -> Message | None:
        """One reply, or None when none arrived within ``timeout`` seconds (0: do not wait)."""
        if timeout is not None and not self.command.poll(int(timeout * 1000)):
            return None
        frames = self.command.recv_multipart(copy=False)
        return self.session.deserialize(frames)

    def _keep_early(self, msg: Message) -> None:
        now = time.monotonic()
        if msg.parent_id is None or msg.parent_id in self._abandoned:
            return  # a reply nobody waits for any more
        self._early_replies[msg.parent_id] = (now, msg)
        while self._early_replies and (len(self._early_replies) > EARLY_REPLY_MAX or
                                       now - next(iter(self._early_replies.values()))[0] > EARLY_REPLY_S):
            self._early_replies.popitem(last=False)

    def request(self, verb: str, content: dict | None = None, timeout: float = 30.0, arrays: dict | None = None) -> dict:
        """Send a request and wait for its reply; return the reply content.

        The reply's arrays, if any, are under the ``"arrays"`` key. Raises
        :class:`EngineError` for an error reply, :class:`EngineDead` when the
        engine stops answering its heartbeat, :class:`EngineTimeout` otherwise.
        """
        msg_id = self.send(verb, content, arrays)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if msg_id in self._early_replies:
                    msg = self._early_replies.pop(msg_id)[1]
                else:
                    if not self._wait(self.command, deadline):
                        busy = ""
                        if self.heartbeat is not None and self.heartbeat.verdict() == "busy":
                            busy = f" ({self.heartbeat.describe()})"
                        raise EngineTimeout(f"no reply to {verb}_request within {timeout:g} s{busy}")
                    try:
                        msg = self.recv_reply(0)
                    except ProtocolError:
                        continue
                    if msg is None:
                        continue
                    if msg.parent_id != msg_id:
                        self._keep_early(msg)
                        continue
                content = dict(msg.content)
                if content.get("status") == "error":
                    raise EngineError(content)
                if verb == "info" and self.events.upto is None and isinstance(content.get("event_seq"), int):
                    self.events.skip_to(content["event_seq"])  # errors before this client came are not its news
                if msg.arrays:
                    content["arrays"] = msg.arrays
                return content
        except EngineTimeout:
            self._abandoned.append(msg_id)
            raise

    # ---- events -------------------------------------------------------------
    def _fetch_missed(self, since: int) -> None:
        known = self.events.upto is not None  # else older events predate this client: not news
        reply = self.request("events", {"since": since}, timeout=10)
        missed = reply.get("missed")
        if known and isinstance(missed, int) and missed > 0:
            errors = reply.get("missed_errors")
            errors = errors if isinstance(errors, int) else None
            self.events_lost += missed
            self.errors_lost += errors or 0
            text = lost_events_text(missed, errors, reply.get("history"))
            header = {"msg_type": "error", "msg_id": f"lost-{since}", "parent_id": None, "fetched": True,
                      "lost": True}
            self._fetched.append(Message("error", {"message": text, "where": "events", "seq": None,
                                                   "missed": missed, "missed_errors": errors}, header))
        for e in reply["events"]:
            if e["msg_type"] == "error" and self.events.saw(e["seq"]):
                header = {"msg_type": "error", "msg_id": f"events-{e['seq']}", "parent_id": None,
                          "fetched": True}
                self._fetched.append(Message("error", dict(e["content"]), header))
            else:
                self.events.saw(e["seq"])
        self.events.skip_to(reply["seq"])

    def recv_event(self, timeout: float | None = 0) -> Message | None:
        """The next event, or None. Errors missed on the lossy channel come first, once
        a ``status`` revealed them (fetched with an ``events`` request)."""
        if self._fetched:
            return self._fetched.popleft()
        if timeout is not None and timeout > 0:
            if not self._wait(self.state, time.monotonic() + timeout):
                return None
        elif timeout is not None and not self.state.poll(0):
            return None
        try:
            msg = self.session.deserialize(self.state.recv_multipart(copy=False))
        except ProtocolError:
            return None
        if not self.fetch_missed:
            return msg
        if msg.msg_type == "error":
            if not self.events.saw(msg.content.get("seq")):
                return None  # already handed out (fetched)
        elif msg.msg_type == "status":
            since = self.events.missing_since(msg.content.get("event_seq"))
            if since is not None:
                self._fetch_missed(since)
                if self._fetched:
                    self._fetched.append(msg)  # the status after the errors it revealed
                    return self._fetched.popleft()
        return msg

    def next_event(self, msg_type: str, timeout: float = 10.0, where=None) -> Message:
        """Wait for the next event of ``msg_type`` (optionally satisfying ``where``)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.recv_event(left)
            if msg is not None and msg.msg_type == msg_type and (where is None or where(msg)):
                return msg
        raise EngineTimeout(f"no {msg_type} event within {timeout:g} s")

    def latest_events(self) -> list[Message]:
        """Drain the state socket; return what arrived (oldest first)."""
        out = []
        while (msg := self.recv_event(0)) is not None:
            out.append(msg)
        return out


__all__ = ["EngineClient", "EngineDead", "EngineError", "EngineTimeout", "EventTracker", "ConnectionFileError",
           "lost_events_text"]
