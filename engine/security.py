"""Who may talk to an engine: bind addresses, CURVE encryption, connection-file ownership.

* Loopback engines sign every message (HMAC-SHA256, see ``engine.protocol``).
* An engine bound to any other address also encrypts and authenticates every
  connection with ZeroMQ's CURVE (keys in the connection file, a ZAP handler
  that admits only the client key written there), or refuses to start when
  libzmq lacks CURVE; SSH tunnelling is the alternative (README).
* An existing connection file is trusted only if it is the owner's, private and
  holds a long key; one that an engine still serves is refused, so a second
  engine never silently takes over the first one's file.

This module imports neither torch nor Qt.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket

import zmq

from attractor_lab.engine.files import pid_alive
from attractor_lab.engine.protocol import ConnectionFileError, endpoint, read_connection_file

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def check_bind_address(ip: str) -> str:
    """``ip`` if it is an IP address to bind (``*`` means every interface), else ValueError."""
    if ip == "*":
        return "0.0.0.0"
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"--ip {ip!r} is not an IP address; use 127.0.0.1 (this machine only, the default), "
                         "0.0.0.0 (every interface) or one of this machine's addresses") from None
    return ip


def is_loopback(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_loopback


def is_wildcard(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_unspecified


def check_advertise(address: str) -> str:
    """``address`` if clients can connect to it (an IP address or a host name), else ValueError."""
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        addr = None
    if addr is not None:
        if addr.is_unspecified:
            raise ValueError(f"--advertise {address!r}: clients cannot connect to the wildcard address; "
                             "give this machine's name or address")
        return address
    if re.fullmatch(r"[0-9.]+", address) or not _HOSTNAME.match(address):
        raise ValueError(f"--advertise {address!r} is neither an IP address nor a host name "
                         "(letters, digits, '-' and '.')")
    return address


# ---- CURVE --------------------------------------------------------------------------
def curve_available() -> bool:
    return bool(zmq.has("curve"))


def new_curve_keys() -> dict[str, str]:
    """Fresh CURVE keys: the server's pair and one client pair, Z85 text."""
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    return {"server_public": server_public.decode(), "server_secret": server_secret.decode(),
            "client_public": client_public.decode(), "client_secret": client_secret.decode()}


class _AllowedKeys:
    """ZAP credentials provider: only the client key(s) written in the connection file."""

    def __init__(self, keys):
        self.keys = {k.encode() if isinstance(k, str) else k for k in keys}

    def callback(self, domain, key) -> bool:
        return key in self.keys


def start_authenticator(ctx: zmq.Context, client_public: str):
    """A ZAP handler thread admitting only ``client_public`` on CURVE server sockets."""
    from zmq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve_callback("*", credentials_provider=_AllowedKeys([client_public]))
    return auth


def make_curve_server(sock: zmq.Socket, server_secret: str) -> None:
    sock.curve_secretkey = server_secret.encode()
    sock.curve_server = True


def make_curve_client(sock: zmq.Socket, info: dict) -> None:
    """Configure a client socket from a connection file with CURVE keys (no-op without them)."""
    if info.get("curve_server_key"):
        sock.curve_serverkey = info["curve_server_key"].encode()
        sock.curve_publickey = info["curve_public_key"].encode()
        sock.curve_secretkey = info["curve_secret_key"].encode()


# ---- is an engine behind this file? -------------------------------------------------
def pid_state(info: dict) -> str:
    """``alive``, ``gone`` or ``unknown`` (another machine, or no pid) for the engine a file names."""
    pid = info.get("pid")
    if not isinstance(pid, int) or info.get("hostname") not in (None, socket.gethostname()):
        return "unknown"
    if info.get("hostname") is None and not is_local_address(info.get("ip", "")):
        return "unknown"
    return "alive" if pid_alive(pid) else "gone"


def is_local_address(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return ip in ("localhost", socket.gethostname(), socket.getfqdn())


def heartbeat_answers(info: dict, timeout: float = 1.0, ctx: zmq.Context | None = None) -> bool:
    """Whether an engine answers a heartbeat ping on the file's ``hb_port`` within ``timeout`` s."""
    if not info.get("hb_port"):
        return False
    ctx = ctx or zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    try:
        make_curve_client(sock, info)
        sock.connect(endpoint(info, "hb"))
        sock.send(b"probe")
        return bool(sock.poll(int(timeout * 1000)))
    except zmq.ZMQError:
        return False
    finally:
        sock.close(0)


def claim_connection_file(path) -> bytes | None:
    """The HMAC key to keep from an existing connection file at ``path`` (None when
    there is no file). Raises :class:`ConnectionFileError` when the file is unsafe
    (others can read it, a short or non-string key) or an engine still serves it."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConnectionFileError(f"connection file {path!r}: the folder {folder!r} does not exist")
    if not os.path.lexists(path):
        return None
    info = read_connection_file(path)
    pid = info.get("pid")
    if pid != os.getpid() and (pid_state(info) == "alive" or heartbeat_answers(info)):
        raise ConnectionFileError(
            f"connection file {path!r} is in use by a running engine (pid {pid}); stop that engine "
            "(attractor-lab --connect it and quit, or kill it) or choose another file")
    return info["key"].encode()
