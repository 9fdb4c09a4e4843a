"""The engine's promises at the edges of its life (issue 18, section 2).

* A request captured before an engine restart does nothing to the engine
  restarted on the same connection file (each start makes a fresh key), while
  a client that reads the rewritten file works; the window re-attaches to a
  remote engine that was restarted.
* Events that fell out of the engine's history before a client fetched them
  are counted and announced, by the script client and by the window (status
  bar and log).
* ``--ip 0.0.0.0`` never advertises ``localhost``: the interface's address, or
  a refusal naming ``--advertise``.
* Messages that cannot be decoded say what is wrong and where.
"""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

from attractor_lab.engine.transport import security
from attractor_lab.engine.transport.client import EngineClient, lost_events_text
from attractor_lab.engine.transport.protocol import DELIM, BadRequest, Session, read_connection_file
from tests.engine_helpers import start_engine, stop_engine

ROOT = Path(__file__).resolve().parents[1]


def _start_engine_on(cf: Path, timeout: float = 60.0) -> subprocess.Popen:
    """Start an engine on ``cf`` (which may still hold a dead engine's file) and wait until
    the file names the new one."""
    proc = subprocess.Popen([sys.executable, "-m", "attractor_lab.engine", "--connection-file", str(cf),
                             "--device", "cpu", "--parent-pid", str(os.getpid())])
    deadline = time.monotonic() + timeout
    while True:
        try:
            if read_connection_file(cf).get("pid") == proc.pid:
                return proc
        except ValueError:
            pass  # not there yet, or the old one
        if proc.poll() is not None:
            raise RuntimeError(f"engine exited with {proc.returncode} before serving")
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError("engine did not write its connection file")
        time.sleep(0.05)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


# ---- 1. replay after a restart ----------------------------------------------------------------
def test_a_request_captured_before_a_restart_does_nothing_to_the_new_engine(tmp_path):
    cf = tmp_path / "engine.json"
    first, client = start_engine(tmp_path)
    try:
        old_key = read_connection_file(cf)["key"]
        client.request("load", {"model": "gray_scott", "params": {"grid": 16}, "seed": 0})
        captured = client.session.serialize("set_params_request", {"params": {"F": 0.0456}})
        client.command.send_multipart(captured)  # it acts once, as meant; an eavesdropper keeps a copy
        assert client.recv_reply(timeout=10).content["params"]["F"] == pytest.approx(0.0456)
    finally:
        client.close()
    _kill(first)  # kill -9: the file stays behind, and the new engine takes it over
    second = _start_engine_on(cf)
    fresh = EngineClient.from_connection_file(cf)  # reads the rewritten file: the new key, the new ports
    try:
        fresh.request("load", {"model": "gray_scott", "params": {"grid": 16}, "seed": 0})
        default_f = fresh.request("get_state")["params"]["F"]
        assert default_f != pytest.approx(0.0456)
        before = fresh.request("info")
        fresh.command.send_multipart(captured)  # the replay, on the new engine's own ports
        assert fresh.recv_reply(timeout=2.0) is None  # dropped without a reply
        assert fresh.request("get_state")["params"]["F"] == default_f  # and it changed nothing
        status = fresh.next_event("status", timeout=10, where=lambda m: m.content["rejected_messages"] >= 1)
        assert status.content["rejected_messages"] == 1  # counted
        assert fresh.request("info")["pid"] == before["pid"] == second.pid  # the fresh client works on
        assert fresh.request("set_params", {"params": {"F": 0.05}})["params"]["F"] == pytest.approx(0.05)
        assert read_connection_file(cf)["key"] != old_key  # how: each start makes a fresh key
    finally:
        stop_engine(second, fresh)


def test_the_window_reattaches_to_a_remote_engine_restarted_on_its_file(qtbot, tmp_path):
    from attractor_lab.app.engine_client import QtEngine

    cf = tmp_path / "engine.json"
    first, script = start_engine(tmp_path)
    script.close()
    engine = QtEngine(connection_file=str(cf))
    try:
        with qtbot.waitSignal(engine.connected, timeout=30_000) as attached:
            engine.start()
        assert attached.args[0]["pid"] == first.pid
        _kill(first)
        second = _start_engine_on(cf)
        try:
            with qtbot.waitSignal(engine.connected, timeout=30_000) as again:
                pass  # the heartbeat goes silent, the window reads the file again and re-attaches
            assert again.args[0]["pid"] == second.pid
            replies = []
            engine.request("list_models", {}, replies.append)
            qtbot.waitUntil(lambda: bool(replies), timeout=10_000)
            assert "gray_scott" in replies[0]["models"]
        finally:
            engine.shutdown()  # an attached engine is only paused: stop it here
            stopper = EngineClient.from_connection_file(cf)
            stop_engine(second, stopper)
    finally:
        engine.shutdown()


# ---- 2. missed events --------------------------------------------------------------------------
FLOOD = 400


def _flood_errors(client: EngineClient, subscriber, count: int = FLOOD) -> None:
    """``count`` error events in well under a second while ``subscriber`` (a SUB socket) reads
    nothing: its subscription lapses meanwhile, so what the engine publishes does not reach it,
    as for a reader whose queue is full. The oldest events fall out of the engine's history
    (256). Each recording of a 2 MiB state into a 1 MiB budget stops at once with an error
    (where: record)."""
    client.request("load", {"model": "gray_scott", "params": {"grid": 512}, "seed": 0}, timeout=60)
    subscriber.setsockopt(zmq.UNSUBSCRIBE, b"")
    time.sleep(0.5)  # the engine's PUB learns that this subscriber wants nothing
    for _ in range(count):
        client.request("record", {"action": "start", "every": 1, "max_bytes": 1 << 20})
    subscriber.setsockopt(zmq.SUBSCRIBE, b"")


def test_a_client_learns_how_many_errors_it_could_not_fetch(tmp_path):
    proc, client = start_engine(tmp_path)
    reader = EngineClient.from_connection_file(tmp_path / "engine.json")
    try:
        reader.request("info")  # its starting point: what happened before is not its news
        _flood_errors(client, reader.state)
        errors = []
        last = time.monotonic()
        deadline = last + 60
        while time.monotonic() - last < 2.0 and time.monotonic() < deadline:  # until no error for 2 s
            msg = reader.recv_event(0.5)
            if msg is not None and msg.msg_type == "error":
                errors.append(msg)
                last = time.monotonic()
        lost = [e for e in errors if e.header.get("lost")]
        assert len(lost) == 1, [e.content["message"][:80] for e in errors[:3]]
        assert errors[0] is lost[0]  # the oldest news first: then the errors that were kept
        notice = lost[0].content
        assert notice["where"] == "events" and notice["missed"] == reader.events_lost > 0
        assert 0 < notice["missed_errors"] == reader.errors_lost <= notice["missed"]
        assert notice["message"] == lost_events_text(notice["missed"], notice["missed_errors"], 256)
        assert notice["message"].startswith(f"{notice['missed_errors']} engine errors")
        # every error of the flood is accounted for: handed out once, or counted as lost
        handed = [e.content["seq"] for e in errors if not e.header.get("lost")]
        assert len(handed) == len(set(handed)) >= 256 - 1  # the history's (less the load's state event)
        assert len(handed) + reader.errors_lost == FLOOD
        assert all(e.content["where"] == "record" for e in errors[1:])
    finally:
        reader.close()
        stop_engine(proc, client)


@pytest.mark.gui
def test_the_window_says_how_many_errors_were_lost_in_its_status_bar_and_log(qtbot, caplog):
    from tests.gui_helpers import open_window

    win, engine = open_window(qtbot)
    script = EngineClient.from_connection_file(engine.connection_file)
    try:
        script.request("info")
        qtbot.wait(500)  # the window's first statuses and events are in
        _flood_errors(script, engine.client.state)  # the window's event loop does not run meanwhile
        with caplog.at_level(logging.WARNING, logger="attractor_lab.app"):
            with qtbot.waitSignal(engine.events_lost, timeout=30_000) as lost:
                pass
        missed, missed_errors, text = lost.args
        assert 0 < missed_errors <= missed and missed_errors == engine.errors_lost_total
        assert text == lost_events_text(missed, missed_errors, 256, "the window")
        assert text in caplog.text  # the log
        label = win.lost_events_label  # a lasting mark in the status bar, beside the passing message
        assert label.isVisible() and label.text() == f"⚠ {missed_errors} engine errors lost"
        assert label.toolTip() == text
        assert win.statusBar().currentMessage() == text
    finally:
        script.close()
        win.close()


# ---- 3. the address written for --ip 0.0.0.0 ------------------------------------------------------
@pytest.fixture
def host_named_localhost(monkeypatch):
    """This host's name resolves to loopback only (a laptop's /etc/hosts, a container)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host in ("localhost", "box.localdomain"):
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getfqdn", lambda name="": "localhost")
    monkeypatch.setattr(socket, "gethostname", lambda: "box.localdomain")
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _serve(cf, **kwargs):
    from attractor_lab.engine.transport.server import EngineServer

    return EngineServer(cf, device="cpu", **kwargs)


def test_a_wildcard_engine_advertises_an_address_of_its_interface(tmp_path, host_named_localhost):
    address = security.outgoing_address()
    if address is None:
        pytest.fail("this machine has no route to other machines: the test needs one interface with a route")
    server = _serve(tmp_path / "e.json", ip="0.0.0.0")
    try:
        info = read_connection_file(tmp_path / "e.json")
        assert info["ip"] == address and info["ip"] != "localhost"
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind((info["ip"], 0))  # an address of this machine, not loopback
        probe.close()
        assert not security.is_loopback(info["ip"])
    finally:
        server.close()


def test_a_wildcard_engine_with_no_reachable_address_refuses_naming_advertise(tmp_path, host_named_localhost,
                                                                             monkeypatch, capsys):
    from attractor_lab.engine.transport.server import main

    monkeypatch.setattr(security, "outgoing_address", lambda family=socket.AF_INET: None)
    cf = tmp_path / "e.json"
    assert main(["--connection-file", str(cf), "--ip", "0.0.0.0", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("engine: --ip 0.0.0.0: found no address of this machine") and "\n" not in err
    assert "'localhost' resolves to loopback only" in err and "pass --advertise ADDRESS" in err
    assert not cf.exists()  # no file that would send remote clients to their own machine
    # with --advertise, the address given is written
    server = _serve(cf, ip="0.0.0.0", advertise="gpu-box.example.org")
    try:
        assert read_connection_file(cf)["ip"] == "gpu-box.example.org"
    finally:
        server.close()


def test_without_a_route_a_host_name_that_resolves_beyond_loopback_is_advertised(monkeypatch):
    real = socket.getaddrinfo
    monkeypatch.setattr(security, "outgoing_address", lambda family=socket.AF_INET: None)
    monkeypatch.setattr(socket, "getfqdn", lambda name="": "gpu-box.example.org")
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real(
        "10.1.2.3" if host == "gpu-box.example.org" else host, *a, **k))
    assert security.advertised_address("0.0.0.0") == "gpu-box.example.org"
    assert security.advertised_address("10.1.2.3") == "10.1.2.3"  # a bound address is its own


# ---- 4. messages that say what is wrong ---------------------------------------------------------
def _signed(session: Session, content: bytes, buffers=(), header: bytes | None = None) -> list:
    header = header or json.dumps({"msg_id": "m1", "msg_type": "set_patterns_request",
                                   "protocol_version": "2.0"}).encode()
    return [DELIM, session.sign([header, content, *buffers]), header, content, *buffers]


@pytest.mark.parametrize("content, said", [
    ('{"params": {"name": "café"}}'.encode("latin-1"),
     "the content is not UTF-8 text: byte 0xe9 at offset 24 of 28 (invalid continuation byte); "
     "the content must be a JSON object encoded as UTF-8"),
    ('{"n": 1}'.encode("utf-16"), "the content is not UTF-8 text: byte 0xff at offset 0 of 18"),
    ('{"n": 1}'.encode("utf-16-le"), "the content is not UTF-8 JSON: a NUL byte at offset 1 of 16 "
                                     "(UTF-16, UTF-32 or binary data?)"),
    (b'{"n": 1,}', "the content is not valid JSON: Expecting property name enclosed in double quotes at "
                   "line 1 column 9 (character 8, found '}')"),
    (b'[1, 2]', "the content must be a JSON object; found an array of 2"),
])
def test_undecodable_content_is_named_with_where(content, said):
    s = Session(b"k" * 32)
    with pytest.raises(BadRequest) as refused:
        s.deserialize(_signed(s, content))
    assert str(refused.value).startswith(said)
    assert "Expecting value: line 1 column 1" not in str(refused.value)


def test_a_header_that_is_not_utf8_is_named():
    s = Session(b"k" * 32)
    with pytest.raises(BadRequest, match=r"^the header is not UTF-8 text: byte 0xe9 at offset 12 of 15"):
        s.deserialize(_signed(s, b"{}", header='{"msg_id": "é"}'.encode("latin-1")))


@pytest.mark.parametrize("arrays, buffers, said", [
    ({"name": "patterns", "dtype": "float32", "shape": [2]}, [b"\0" * 8],
     "bad arrays: 'arrays' must be a list with one {\"name\", \"dtype\", \"shape\"} object per buffer, in order; "
     "found an object (keys 'name', 'dtype', 'shape')"),
    ("patterns", [b"\0" * 8], "found a string ('patterns')"),
    ({}, [], "found an empty object"),
    ([{"name": "patterns", "dtype": "float32", "shape": [2]}], [],
     "bad arrays: 'arrays' lists 1 array but the message carries 0 buffers; one entry per buffer, in order"),
    ([7], [b"\0"], "bad arrays: 'arrays' entry 0 must be an object with a string 'name'; found a number (7)"),
    ([{"name": 7}], [b"\0"], "'arrays' entry 0 must be an object with a string 'name'; found 'name' a number"),
])
def test_array_descriptions_that_do_not_fit_say_what_was_found(arrays, buffers, said):
    s = Session(b"k" * 32)
    with pytest.raises(BadRequest) as refused:
        s.deserialize(_signed(s, json.dumps({"arrays": arrays}).encode(), buffers))
    assert said in str(refused.value)
    assert "?" not in str(refused.value).split(";")[0]


def test_the_protocol_document_has_one_channels_section_with_the_heartbeat():
    text = (ROOT / "docs" / "protocol.md").read_text()
    assert text.count("\n## Channels\n") == 1
    section = text.split("\n## Channels\n")[1].split("\n## ")[0]
    for row in ("| command | ROUTER | DEALER |", "| state | PUB", "| heartbeat | ROUTER"):
        assert row in section
