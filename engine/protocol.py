"""Attractor Lab engine protocol, version 1.

The GUI (or any client) drives an engine process over ZeroMQ. The design
follows Jupyter's kernel messaging; the full specification is in
``docs/protocol.md``. In short:

Channels
    *command*: the engine binds a ROUTER, clients connect a DEALER. Every
    ``<verb>_request`` gets exactly one ``<verb>_reply`` whose header's
    ``parent_id`` is the request's ``msg_id``.
    *state*: the engine binds a PUB, clients connect a SUB. Events:
    ``frame``, ``status``, ``error``, ``log``. The PUB high-water mark is
    small, so a slow client loses old frames instead of growing a queue.

Wire format (one multipart message)::

    [routing ids...] b"<AL|MSG>" signature header content buffer0 buffer1 ...

``signature`` is the hex HMAC-SHA256 of header, content and every buffer,
with the key from the connection file. ``header`` and ``content`` are UTF-8
JSON. Arrays travel as raw buffers, never as JSON lists or pickles; the
content's ``"arrays"`` entry lists for each buffer its name, dtype and shape.

This module imports neither torch nor Qt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

PROTOCOL_VERSION = "1.0"
#: Largest message an engine accepts; larger ones are dropped by ZeroMQ unanswered,
#: so clients refuse them before sending.
MAX_MESSAGE_BYTES = 256 << 20
DELIM = b"<AL|MSG>"

#: Requests a client may send; the engine answers ``<verb>_reply``.
REQUESTS = (
    "info",
    "list_models",
    "load",
    "set_params",
    "run",
    "pause",
    "step",
    "reset",
    "get_state",
    "paint",
    "click",
    "set_patterns",
    "set_display_rate",
    "set_speed",
    "record",
    "weights",
    "shutdown",
)
#: Events the engine publishes on the state channel.
EVENTS = ("frame", "status", "error", "log")

_ALLOWED_DTYPES = {"float32", "float64", "complex64", "complex128", "bool",
                   "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


class ProtocolError(ValueError):
    """A message that cannot be decoded (bad signature, bad layout, bad JSON)."""


def new_key() -> bytes:
    """A random HMAC key (hex, 64 characters)."""
    return secrets.token_hex(32).encode()


def pack_arrays(arrays: dict[str, np.ndarray]) -> tuple[list[dict], list[memoryview]]:
    """Describe and expose ``arrays`` as raw buffers (no copy for contiguous arrays)."""
    meta, buffers = [], []
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype.name not in _ALLOWED_DTYPES:
            raise ValueError(f"array {name!r}: dtype {arr.dtype} cannot travel; allowed: {sorted(_ALLOWED_DTYPES)}")
        meta.append({"name": name, "dtype": arr.dtype.name, "shape": list(arr.shape)})
        buffers.append(memoryview(arr).cast("B"))
    return meta, buffers


def unpack_arrays(meta: list[dict], buffers: list) -> dict[str, np.ndarray]:
    """Rebuild arrays from ``meta`` and raw ``buffers``.

    The arrays are read-only views on the received bytes (``np.frombuffer``);
    copy before writing to them. Any inconsistency raises :class:`ProtocolError`.
    """
    if not isinstance(meta, list) or len(meta) != len(buffers):
        raise ProtocolError(f"message lists {len(meta) if isinstance(meta, list) else '?'} arrays "
                            f"but carries {len(buffers)} buffers")
    out = {}
    for m, buf in zip(meta, buffers):
        if not isinstance(m, dict) or not isinstance(m.get("name"), str):
            raise ProtocolError("each array entry must be an object with a string 'name'")
        dtype = m.get("dtype")
        if not isinstance(dtype, str) or dtype not in _ALLOWED_DTYPES:
            raise ProtocolError(f"array {m['name']!r}: dtype {dtype!r} not allowed")
        shape = m.get("shape", [])
        if not isinstance(shape, list) or len(shape) > 32 or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ProtocolError(f"array {m['name']!r}: shape must be a list of at most 32 non-negative integers")
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


class Session:
    """Signs, serialises and checks messages with one HMAC key.

    Messages with a missing or wrong signature are refused with
    :class:`ProtocolError` and counted in ``rejected``.
    """

    def __init__(self, key: bytes, session_id: str | None = None):
        if not key:
            raise ValueError("an empty key would leave messages unsigned")
        self.key = key if isinstance(key, bytes) else key.encode()
        self.session_id = session_id or uuid.uuid4().hex
        self.rejected = 0

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
        expected = self.sign([h, c, *buffers])
        if not hmac.compare_digest(bytes(sig), expected):
            self.rejected += 1
            raise ProtocolError("bad signature")
        try:
            header = json.loads(bytes(h))
            content = json.loads(bytes(c))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            self.rejected += 1
            raise ProtocolError(f"bad JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
        if not isinstance(header, dict) or not isinstance(content, dict):
            self.rejected += 1
            raise ProtocolError("header and content must be JSON objects")
        for key in ("msg_type", "msg_id"):
            if not isinstance(header.get(key), str):
                self.rejected += 1
                raise ProtocolError(f"header field {key!r} must be a string")
        if header.get("parent_id") is not None and not isinstance(header["parent_id"], str):
            self.rejected += 1
            raise ProtocolError("header field 'parent_id' must be a string or null")
        major = str(header.get("protocol_version", "0")).split(".")[0]
        if major != PROTOCOL_VERSION.split(".")[0]:
            self.rejected += 1
            raise ProtocolError(f"protocol version {header.get('protocol_version')} is not {PROTOCOL_VERSION}")
        try:
            arrays = unpack_arrays(content.pop("arrays", []), buffers) if buffers or content.get("arrays") else {}
        except ProtocolError:
            self.rejected += 1
            raise
        except Exception as exc:  # anything else a crafted buffer description provokes
            self.rejected += 1
            raise ProtocolError(f"bad arrays: {type(exc).__name__}: {exc}") from None
        return Message(header["msg_type"], content, header, arrays, identities)


# ---- connection files --------------------------------------------------------


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    ``mode`` defaults to what ``open`` would give (0666 less the umask)."""
    path = os.fspath(path)
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_connection_file(path: str | os.PathLike, info: dict) -> None:
    """Write connection info (ports and key) readable by the owner only."""
    atomic_write_bytes(path, json.dumps(info, indent=2).encode(), mode=0o600)


def read_connection_file(path: str | os.PathLike) -> dict:
    with open(path, "rb") as f:
        info = json.loads(f.read())
    for key in ("transport", "ip", "command_port", "state_port", "key"):
        if key not in info:
            raise ValueError(f"connection file {os.fspath(path)!r} lacks {key!r}")
    return info


def endpoint(info: dict, channel: str) -> str:
    return f"{info['transport']}://{info['ip']}:{info[channel + '_port']}"
