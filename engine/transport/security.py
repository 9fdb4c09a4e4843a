"""Who may talk to an engine: bind addresses, CURVE encryption, connection-file ownership.

* Loopback engines sign every message (HMAC-SHA256, see ``engine.transport.protocol``).
* An engine bound to any other address also encrypts and authenticates every
  connection with ZeroMQ's CURVE (keys in the connection file, a ZAP handler
  that admits only the client key written there), or refuses to start when
  libzmq lacks CURVE; SSH tunnelling is the alternative (docs/cli.md, "Remote engines and security").
* An existing connection file is trusted only if it is the owner's, private and
  holds a long key; one that an engine still serves is refused, so a second
  engine never silently takes over the first one's file. A file taken over
  gets a fresh key: nothing signed for the earlier engine is accepted.
* An engine bound to every interface writes an address remote clients can
  reach (:func:`advertised_address`), never ``localhost``.

This module imports neither torch nor Qt.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket

import zmq

from attractor_lab.engine.files import pid_alive
from attractor_lab.engine.transport.protocol import ConnectionFileError, endpoint, read_connection_file

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


def claim_connection_file(path) -> dict | None:
    """Check that a new engine may write its connection file at ``path``; return the
    previous engine's info (None when there is no file).

    Raises :class:`ConnectionFileError` when the file is unsafe (others can read
    it, a short or non-string key) or an engine still serves it. The previous
    key is *not* reused: each engine start makes a fresh key, so a message
    signed for an earlier engine on this file (a replay captured before a
    restart) fails the signature check of the new one."""
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
    return info


# ---- the address written for clients ------------------------------------------------
#: documentation addresses (RFC 5737, RFC 3849): connecting a UDP socket to one picks the
#: interface of the default route without sending a packet
_PROBE_TARGETS = {socket.AF_INET: ("192.0.2.1", 9), socket.AF_INET6: ("2001:db8::1", 9)}


def outgoing_address(family: int = socket.AF_INET) -> str | None:
    """The address of the interface this machine would use to reach other machines
    (its default route), or None when it has none (no network, loopback only).
    Nothing is sent: a UDP ``connect`` only chooses the route."""
    s = None
    try:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.connect(_PROBE_TARGETS[family])
        address = s.getsockname()[0]
    except (OSError, KeyError):
        return None
    finally:
        if s is not None:
            s.close()
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return None
    return None if ip.is_loopback or ip.is_unspecified or ip.is_link_local else str(ip)


def _resolves_beyond_loopback(name: str) -> bool:
    """Whether ``name`` resolves, here, to at least one address other machines could use."""
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    for *_, sockaddr in found:
        try:
            ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        except ValueError:
            continue
        if not (ip.is_loopback or ip.is_unspecified or ip.is_link_local):
            return True
    return False


def advertised_address(ip: str, advertise: str | None = None) -> str:
    """The address written in the connection file for an engine bound to ``ip``.

    ``advertise`` when given (checked); the bound address itself unless it is a
    wildcard (0.0.0.0, ::). For a wildcard: the address of the interface of the
    default route, else this host's name when it resolves beyond loopback; when
    neither exists, ValueError telling to pass ``--advertise`` (a connection
    file saying ``localhost`` would send every remote client to its own machine).
    """
    if advertise is not None:
        return check_advertise(advertise)
    if not is_wildcard(ip):
        return ip
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    address = outgoing_address(family)
    if address is not None:
        return address
    name = socket.getfqdn()
    if name and _resolves_beyond_loopback(name) and name.split(".")[0] != "localhost":
        return name
    raise ValueError(f"--ip {ip}: found no address of this machine that another machine could connect to (no "
                     f"network interface with a route, and its host name {name!r} resolves to loopback only); "
                     "pass --advertise ADDRESS (this machine's name or address as the clients see it), or bind "
                     "127.0.0.1 and tunnel over SSH (docs/cli.md)")
