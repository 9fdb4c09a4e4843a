"""A blocking client for an engine process (no Qt, no torch).

Used by the tests, by scripts that drive a remote engine, and underneath the
GUI's Qt client (``app.engine_client``), which adds socket notifiers.

>>> client = EngineClient.from_connection_file("engine.json")
>>> client.request("load", {"model": "gray_scott"})
>>> client.request("run", {"fps": 30})
>>> frame = client.next_event("frame", timeout=5)
"""

from __future__ import annotations

import time

import zmq

from engine.protocol import MAX_MESSAGE_BYTES, Message, ProtocolError, Session, endpoint, read_connection_file


class EngineError(RuntimeError):
    """The engine answered a request with an error."""

    def __init__(self, reply: dict):
        self.ename = reply.get("ename", "Error")
        self.evalue = reply.get("evalue", "")
        super().__init__(f"{self.ename}: {self.evalue}")


class EngineTimeout(TimeoutError):
    """The engine did not answer in time."""


class EngineClient:
    """Command (DEALER) and state (SUB) sockets to one engine.

    Parameters
    ----------
    info : dict
        Connection info (``read_connection_file``).
    """

    def __init__(self, info: dict, context: zmq.Context | None = None):
        self.info = info
        self.session = Session(info["key"].encode())
        self.ctx = context or zmq.Context.instance()
        self.command = self.ctx.socket(zmq.DEALER)
        self.command.linger = 0
        self.command.connect(endpoint(info, "command"))
        self.state = self.ctx.socket(zmq.SUB)
        self.state.linger = 0
        self.state.rcvhwm = 8
        self.state.setsockopt(zmq.SUBSCRIBE, b"")
        self.state.connect(endpoint(info, "state"))
        self._early_replies: dict[str, Message] = {}

    @classmethod
    def from_connection_file(cls, path) -> "EngineClient":
        return cls(read_connection_file(path))

    def close(self) -> None:
        self.command.close(0)
        self.state.close(0)

    # ---- commands ---------------------------------------------------------
    def send(self, verb: str, content: dict | None = None, arrays: dict | None = None) -> str:
        """Send ``<verb>_request`` (with optional numpy ``arrays``); returns its msg_id."""
        frames = self.session.serialize(f"{verb}_request", content or {}, arrays)
        size = sum(len(memoryview(f).cast("B")) if isinstance(f, memoryview) else len(f) for f in frames)
        if size > MAX_MESSAGE_BYTES:
            raise ValueError(f"{verb}: a message of {size / 2**20:.0f} MiB is over the engine's limit of "
                             f"{MAX_MESSAGE_BYTES >> 20} MiB; send less at once")
        self.command.send_multipart(frames, copy=False)
        import json

        return json.loads(bytes(frames[2]))["msg_id"]

    def recv_reply(self, timeout: float | None = None) -> Message | None:
        """One reply, or None when none arrived within ``timeout`` seconds (0: do not wait)."""
        if timeout is not None and not self.command.poll(int(timeout * 1000)):
            return None
        frames = self.command.recv_multipart(copy=False)
        return self.session.deserialize(frames)

    def request(self, verb: str, content: dict | None = None, timeout: float = 30.0, arrays: dict | None = None) -> dict:
        """Send a request and wait for its reply; return the reply content.

        The reply's arrays, if any, are under the ``"arrays"`` key.
        """
        msg_id = self.send(verb, content, arrays)
        deadline = time.monotonic() + timeout
        while True:
            if msg_id in self._early_replies:
                msg = self._early_replies.pop(msg_id)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise EngineTimeout(f"no reply to {verb}_request within {timeout:g} s")
                try:
                    msg = self.recv_reply(left)
                except ProtocolError:
                    continue
                if msg is None:
                    continue
                if msg.parent_id != msg_id:
                    self._early_replies[msg.parent_id] = msg
                    continue
            content = dict(msg.content)
            if content.get("status") == "error":
                raise EngineError(content)
            if msg.arrays:
                content["arrays"] = msg.arrays
            return content

    # ---- events -------------------------------------------------------------
    def recv_event(self, timeout: float | None = 0) -> Message | None:
        if timeout is not None and not self.state.poll(int(timeout * 1000)):
            return None
        try:
            return self.session.deserialize(self.state.recv_multipart(copy=False))
        except ProtocolError:
            return None

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
