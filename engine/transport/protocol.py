"""Attractor Lab engine protocol, version 2.

The GUI (or any client) drives an engine process over ZeroMQ. The design
follows Jupyter's kernel messaging; the full specification is in
``docs/protocol.md``. In short:

Channels
    *command*: the engine binds a ROUTER, clients connect a DEALER. Every
    ``<verb>_request`` gets exactly one ``<verb>_reply`` whose header's
    ``parent_id`` is the request's ``msg_id``.
    *state*: the engine binds a PUB, clients connect a SUB. Events:
    ``frame``, ``status``, ``error``, ``log``. The PUB high-water mark is
    small, so a slow client loses old frames instead of growing a queue;
    errors and state changes are numbered and kept by the engine (the
    ``events`` request), so a client that missed one learns of it.
    *heartbeat*: the engine echoes pings on a ROUTER served by its own thread.

Wire format (one multipart message)::

    [routing ids...] b"<AL|MSG>" signature header content buffer0 buffer1 ...

``signature`` is the hex HMAC-SHA256 of header, content and every buffer,
with the key from the connection file. ``header`` and ``content`` are UTF-8
JSON. Arrays travel as raw buffers, never as JSON lists or pickles; the
content's ``"arrays"`` entry lists for each buffer its name, dtype and shape.
A signature seen before (a replay) or a message dated outside the receiver's
window (a stale one) is refused, as Jupyter's digest history does. Each engine
start makes a fresh key, so a message signed for an earlier engine on the same
connection file (a replay across a restart) fails the signature check.

This module imports neither torch nor Qt.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import math
import os
import secrets
import stat
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

# shared with storage and models (lower rooms): the array codec and safe writes live there;
# the names stay importable from here
from attractor_lab.engine.arrays import ALLOWED_DTYPES as _ALLOWED_DTYPES  # noqa: F401
from attractor_lab.engine.arrays import json_kind, pack_arrays  # noqa: F401
from attractor_lab.engine.files import atomic_write_bytes  # noqa: F401

PROTOCOL_VERSION = "2.0"
#: Largest message an engine accepts; larger ones are dropped by ZeroMQ unanswered,
#: so clients refuse them before sending.
MAX_MESSAGE_BYTES = 256 << 20
DELIM = b"<AL|MSG>"
#: An HMAC key read from a connection file must be at least this long (bytes).
MIN_KEY_BYTES = 32
#: Messages dated further than this from the receiver's clock are refused (s).
REPLAY_WINDOW_S = 300.0
#: Signatures remembered for the replay check (the engine: within the window).
DIGEST_HISTORY_MAX = 1 << 17
#: A connection file is a few hundred bytes; refuse to parse anything much larger.
MAX_CONNECTION_FILE_BYTES = 64 << 10

#: Requests a client may send; the engine answers ``<verb>_reply``.
REQUESTS = (
    "info",
    "list_models",
    "load",
    "set_params",
    "run",
    "pause",
    "step",
    "cancel",
    "reset",
    "get_state",
    "set_state",
    "paint",
    "click",
    "set_patterns",
    "set_display_rate",
    "set_speed",
    "record",
    "weights",
    "events",
    "analyse",
    "shutdown",
)
#: Events the engine publishes on the state channel.
EVENTS = ("frame", "status", "error", "log")

class ProtocolError(ValueError):
    """A message that cannot be used (bad signature, bad layout, bad JSON)."""


class BadRequest(ProtocolError):
    """An authentic (correctly signed) message that cannot be used: it deserves an
    error reply. ``header`` is its header when that could be read (else None) and
    ``identities`` the routing ids to answer to."""

    def __init__(self, message: str, header: dict | None = None, identities: list[bytes] | None = None):
        super().__init__(message)
        self.header = header
        self.identities = identities or []


class ReplayedMessage(ProtocolError):
    """A signature seen before: a captured message sent again. Dropped, counted."""


class StaleMessage(BadRequest):
    """A signed message dated outside the receiver's replay window."""


class ConnectionFileError(ValueError):
    """A connection file that is missing, malformed or unsafe; the message says which and why."""


def new_key() -> bytes:
    """A random HMAC key (hex, 64 characters)."""
    return secrets.token_hex(32).encode()


def decode_json_part(raw, part: str) -> Any:
    """Decode a message's ``header`` or ``content``: UTF-8 text holding JSON.

    Raises ValueError saying which part is wrong, where (the byte offset, or the
    line and column) and what is allowed; a UTF-16 or Latin-1 part is reported as
    not UTF-8, not as a JSON error at its first character."""
    raw = bytes(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the {part} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} of "
                         f"{len(raw)} ({exc.reason}); the {part} must be a JSON object encoded as UTF-8") from None
    if "\x00" in text:  # valid UTF-8, never valid JSON: UTF-16/32 text or binary data
        raise ValueError(f"the {part} is not UTF-8 JSON: a NUL byte at offset {raw.index(0)} of {len(raw)} "
                         f"(UTF-16, UTF-32 or binary data?); the {part} must be a JSON object encoded as UTF-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        found = repr(text[exc.pos]) if exc.pos < len(text) else "the end of the text"
        raise ValueError(f"the {part} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
                         f"(character {exc.pos}, found {found}); the {part} must be a JSON object") from None
    except RecursionError:
        raise ValueError(f"the {part} is nested too deeply to decode") from None


def unpack_arrays(meta: list[dict], buffers: list) -> dict[str, np.ndarray]:
    """Rebuild arrays from ``meta`` and raw ``buffers``.

    The arrays are read-only views on the received bytes (``np.frombuffer``);
    copy before writing to them. Any inconsistency raises :class:`ProtocolError`.
    """
    if not isinstance(meta, list):
        raise ProtocolError(f"'arrays' must be a list with one {{\"name\", \"dtype\", \"shape\"}} object per "
                            f"buffer, in order; found {json_kind(meta)}")
    if len(meta) != len(buffers):
        raise ProtocolError(f"'arrays' lists {len(meta)} array{'s' * (len(meta) != 1)} but the message carries "
                            f"{len(buffers)} buffer{'s' * (len(buffers) != 1)}; one entry per buffer, in order")
    out = {}
    for i, (m, buf) in enumerate(zip(meta, buffers)):
        if not isinstance(m, dict) or not isinstance(m.get("name"), str):
            found = json_kind(m) if not isinstance(m, dict) else f"'name' {json_kind(m.get('name'))}"
            raise ProtocolError(f"'arrays' entry {i} must be an object with a string 'name'; found {found}")
        dtype = m.get("dtype")
        if not isinstance(dtype, str) or dtype not in _ALLOWED_DTYPES:
            raise ProtocolError(f"array {m['name']!r}: dtype {dtype!r} not allowed; allowed: {sorted(_ALLOWED_DTYPES)}")
        shape = m.get("shape", [])
        if not isinstance(shape, list) or len(shape) > 32 or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ProtocolError(f"array {m['name']!r}: shape must be a list of at most 32 non-negative integers")
        if m["name"] in out:
            raise ProtocolError(f"array {m['name']!r} is listed twice")
        dt = np.dtype(dtype)
        expected = math.prod(shape) * dt.itemsize  # Python ints: no overflow
        if len(memoryview(buf).cast("B")) != expected:
            raise ProtocolError(f"array {m['name']!r}: {len(memoryview(buf).cast('B'))} bytes do not fit "
                                f"shape {tuple(shape)} of {dtype}")
        out[m["name"]] = np.frombuffer(buf, dtype=dt).reshape(shape)
    return out


@dataclass
class Message:
    """A decoded message."""

    msg_type: str
    content: dict
    header: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    identities: list[bytes] = field(default_factory=list)

    @property
    def msg_id(self) -> str:
        return self.header["msg_id"]

    @property
    def parent_id(self) -> str | None:
        return self.header.get("parent_id")


def _parse_date(value: Any) -> float | None:
    """A header's ``date`` (ISO 8601 with a time zone) as a POSIX time, or None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp()


class Session:
    """Signs, serialises and checks messages with one HMAC key.

    Parameters
    ----------
    key : bytes
        The HMAC key.
    replay_window : float or None
        Refuse messages dated more than this many seconds from this clock
        (:class:`StaleMessage`). None checks no dates (clients: an engine on
        another machine may have another clock; the engine checks).
    history : int
        How many signatures to remember for the duplicate check.

    Messages with a missing or wrong signature are refused with
    :class:`ProtocolError`, repeated signatures with :class:`ReplayedMessage`;
    all are counted in ``rejected`` (replays also in ``replayed``, stale ones in
    ``stale``).
    """

    def __init__(self, key: bytes, session_id: str | None = None, replay_window: float | None = None,
                 history: int = DIGEST_HISTORY_MAX):
        if not key:
            raise ValueError("an empty key would leave messages unsigned")
        self.key = key if isinstance(key, bytes) else key.encode()
        self.session_id = session_id or uuid.uuid4().hex
        self.replay_window = replay_window
        self.history = int(history)
        self.rejected = 0
        self.replayed = 0
        self.stale = 0
        self._seen: set[bytes] = set()
        # with a window: (date, signature) in a heap, so the oldest go first; without: arrival order
        self._by_date: list[tuple[float, bytes]] = []
        self._by_arrival: deque[bytes] = deque()
        #: messages dated at or before this were forgotten from the history: refused as stale
        self._floor = -math.inf

    def sign(self, parts: list) -> bytes:
        mac = hmac.new(self.key, digestmod=hashlib.sha256)
        for p in parts:
            mac.update(p)
        return mac.hexdigest().encode()

    def serialize(
        self,
        msg_type: str,
        content: dict | None = None,
        arrays: dict[str, np.ndarray] | None = None,
        parent_id: str | None = None,
        identities: list[bytes] | None = None,
    ) -> list:
        content = dict(content or {})
        buffers: list = []
        if arrays:
            content["arrays"], buffers = pack_arrays(arrays)
        header = {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "parent_id": parent_id,
            "session": self.session_id,
            "protocol_version": PROTOCOL_VERSION,
            "date": datetime.now(timezone.utc).isoformat(),
        }
        h = json.dumps(header).encode()
        c = json.dumps(content, allow_nan=True).encode()
        sig = self.sign([h, c, *buffers])
        return [*(identities or []), DELIM, sig, h, c, *buffers]

    # ---- the replay check -----------------------------------------------------
    def _remember(self, sig: bytes, date: float | None) -> None:
        self._seen.add(sig)
        if self.replay_window is None:
            self._by_arrival.append(sig)
            while len(self._by_arrival) > self.history:
                self._seen.discard(self._by_arrival.popleft())
            return
        heapq.heappush(self._by_date, (date if date is not None else time.time(), sig))
        # a message dated before now − window is refused by its date: its signature can go
        horizon = time.time() - self.replay_window
        while self._by_date and self._by_date[0][0] < horizon:
            self._seen.discard(heapq.heappop(self._by_date)[1])
        while len(self._by_date) > self.history:  # a flood: forget the oldest, refuse anything as old
            old_date, old_sig = heapq.heappop(self._by_date)
            self._seen.discard(old_sig)
            self._floor = max(self._floor, old_date)

    def deserialize(self, frames: list) -> Message:
        frames = [f.buffer if hasattr(f, "buffer") else f for f in frames]
        try:
            split = next(i for i, f in enumerate(frames) if bytes(f) == DELIM)
        except StopIteration:
            self.rejected += 1
            raise ProtocolError("no message delimiter") from None
        identities = [bytes(f) for f in frames[:split]]
        parts = frames[split + 1 :]
        if len(parts) < 3:
            self.rejected += 1
            raise ProtocolError("message too short")
        sig, h, c, *buffers = parts
        sig = bytes(sig)
        expected = self.sign([h, c, *buffers])
        if not hmac.compare_digest(sig, expected):
            self.rejected += 1
            raise ProtocolError("bad signature")
        if sig in self._seen:
            self.rejected += 1
            self.replayed += 1
            raise ReplayedMessage("duplicate signature: a replayed message")

        # authentic from here on: what is wrong deserves an error reply (BadRequest)
        def bad(text: str, header: dict | None = None, kind=BadRequest) -> BadRequest:
            self.rejected += 1
            return kind(text, header if isinstance(header, dict) else None, identities)

        try:
            header = decode_json_part(h, "header")
        except ValueError as exc:
            self._remember(sig, None)
            raise bad(str(exc)[:400]) from None
        if not isinstance(header, dict):
            self._remember(sig, None)
            raise bad(f"the header must be a JSON object; found {json_kind(header)}")
        date = _parse_date(header.get("date"))
        self._remember(sig, date)
        for key in ("msg_type", "msg_id"):
            if not isinstance(header.get(key), str) or not header[key] or len(header[key]) > 256:
                raise bad(f"header field {key!r} must be a non-empty string", header)
        if header.get("parent_id") is not None and not isinstance(header["parent_id"], str):
            raise bad("header field 'parent_id' must be a string or null", header)
        version = header.get("protocol_version")
        if str(version).split(".")[0] != PROTOCOL_VERSION.split(".")[0]:
            raise bad(f"protocol version {version!r} is not {PROTOCOL_VERSION}: run the same Attractor Lab "
                      "version on both sides", header)
        if self.replay_window is not None:
            now = time.time()
            if date is None:
                raise bad("header field 'date' must be an ISO 8601 time with a time zone", header, StaleMessage)
            if abs(date - now) > self.replay_window or date <= self._floor:
                self.stale += 1
                raise bad(f"message dated {header['date']} is {date - now:+.0f} s from this machine's clock; "
                          f"allowed ±{self.replay_window:.0f} s (synchronise the clocks)", header, StaleMessage)
        try:
            content = decode_json_part(c, "content")
        except ValueError as exc:
            raise bad(str(exc)[:400], header) from None
        if not isinstance(content, dict):
            raise bad(f"the content must be a JSON object; found {json_kind(content)}", header)
        try:
            arrays = unpack_arrays(content.pop("arrays", []), buffers) if buffers or "arrays" in content else {}
        except ProtocolError as exc:
            raise bad(f"bad arrays: {exc}", header) from None
        except Exception as exc:  # anything else a crafted buffer description provokes
            raise bad(f"bad arrays: {type(exc).__name__}: {exc}", header) from None
        return Message(header["msg_type"], content, header, arrays, identities)


# ---- connection files --------------------------------------------------------


def write_connection_file(path: str | os.PathLike, info: dict) -> None:
    """Write connection info (ports and keys) readable by the owner only."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConnectionFileError(f"connection file {path!r}: the folder {folder!r} does not exist")
    atomic_write_bytes(path, json.dumps(info, indent=2).encode(), mode=0o600)


def _check_port(where: str, info: dict, key: str, required: bool = True) -> None:
    value = info.get(key)
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConnectionFileError(f"{where}: {key!r} must be a port number from 1 to 65535, not {value!r}")


def check_connection_info(info: Any, where: str = "connection info") -> dict:
    """Validate parsed connection info; raise :class:`ConnectionFileError` naming the key."""
    if not isinstance(info, dict):
        raise ConnectionFileError(f"{where}: expected a JSON object, not {type(info).__name__}")
    for key in ("transport", "ip", "command_port", "state_port", "key"):
        if key not in info:
            raise ConnectionFileError(f"{where}: lacks {key!r}")
    if info["transport"] != "tcp":
        raise ConnectionFileError(f"{where}: 'transport' must be \"tcp\", not {info['transport']!r}")
    if not isinstance(info["ip"], str) or not info["ip"] or len(info["ip"]) > 255:
        raise ConnectionFileError(f"{where}: 'ip' must be an address or host name, not {info['ip']!r}")
    for port in ("command_port", "state_port"):
        _check_port(where, info, port)
    _check_port(where, info, "hb_port", required=False)
    key = info["key"]
    if not isinstance(key, str):
        raise ConnectionFileError(f"{where}: 'key' must be a string of at least {MIN_KEY_BYTES} characters, "
                                  f"not {type(key).__name__} {str(key)[:20]}")
    if len(key.encode()) < MIN_KEY_BYTES:
        raise ConnectionFileError(f"{where}: 'key' has {len(key.encode())} bytes; at least {MIN_KEY_BYTES} are "
                                  "needed (delete the file for a fresh random key)")
    scheme = info.get("signature_scheme", "hmac-sha256")
    if scheme != "hmac-sha256":
        raise ConnectionFileError(f"{where}: 'signature_scheme' must be \"hmac-sha256\", not {scheme!r}")
    for name in ("curve_server_key", "curve_public_key", "curve_secret_key"):
        value = info.get(name)
        if value is not None and not (isinstance(value, str) and len(value) == 40):
            raise ConnectionFileError(f"{where}: {name!r} must be a 40-character Z85 CURVE key")
    if ("curve_server_key" in info) != ("curve_secret_key" in info) or \
            ("curve_public_key" in info) != ("curve_secret_key" in info):
        raise ConnectionFileError(f"{where}: CURVE needs all of curve_server_key, curve_public_key and "
                                  "curve_secret_key")
    pid = info.get("pid")
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0):
        raise ConnectionFileError(f"{where}: 'pid' must be a positive integer, not {pid!r}")
    version = info.get("protocol_version", PROTOCOL_VERSION)
    if not isinstance(version, str) or version.split(".")[0] != PROTOCOL_VERSION.split(".")[0]:
        raise ConnectionFileError(f"{where}: the engine speaks protocol {version!r} and this Attractor Lab "
                                  f"{PROTOCOL_VERSION}: run the same version on both machines")
    return info


def read_connection_file(path: str | os.PathLike, check_mode: bool = True) -> dict:
    """Read and check a connection file.

    Raises :class:`ConnectionFileError` (a ``ValueError``) with one line naming
    the file and what is wrong: missing, not JSON, a key of the wrong type or
    length, or (``check_mode``, POSIX) readable or writable by other users.
    """
    path = os.fspath(path)
    where = f"connection file {path!r}"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConnectionFileError(f"{where}: the folder {folder!r} does not exist")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise ConnectionFileError(f"{where} does not exist (is the engine running?)") from None
    except OSError as exc:
        raise ConnectionFileError(f"{where}: cannot open: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ConnectionFileError(f"{where} is not a regular file")
        if check_mode and os.name == "posix":
            if st.st_mode & 0o077:
                raise ConnectionFileError(
                    f"{where} has mode {stat.S_IMODE(st.st_mode):04o}: other users can read or change its key; "
                    "`chmod 600` it (or delete it for a fresh key)")
            if st.st_uid != os.getuid():
                raise ConnectionFileError(f"{where} belongs to another user (uid {st.st_uid})")
        data = f.read(MAX_CONNECTION_FILE_BYTES + 1)
    if len(data) > MAX_CONNECTION_FILE_BYTES:
        raise ConnectionFileError(f"{where} is larger than {MAX_CONNECTION_FILE_BYTES >> 10} KiB: not a connection file")
    try:
        info = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ConnectionFileError(f"{where} is not valid JSON: {str(exc)[:120]}") from None
    return check_connection_info(info, where)


def endpoint(info: dict, channel: str) -> str:
    ip = info["ip"]
    if ":" in ip and not ip.startswith("["):  # IPv6 literal
        ip = f"[{ip}]"
    return f"{info['transport']}://{ip}:{info[channel + '_port']}"
