"""Keys, connection files, CURVE beyond loopback, and clients that notice a dead engine (issue 10).

Real engine processes: a busy connection file, an engine on this machine's
own non-loopback address read by a stranger, a cancelled slow reset (the
``slow_reset`` fault makes loads and resets take 3 s more) and a kill -9.
"""

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import zmq

from attractor_lab.engine.transport.client import EngineClient, EngineDead, EngineError
from attractor_lab.engine.transport.protocol import (
    ConnectionFileError,
    endpoint,
    new_key,
    read_connection_file,
    write_connection_file,
)
from attractor_lab.engine.transport.security import check_advertise, check_bind_address, claim_connection_file
from tests.engine_helpers import start_engine, stop_engine

GOOD = {"transport": "tcp", "ip": "127.0.0.1", "command_port": 5000, "state_port": 5001, "hb_port": 5002,
        "signature_scheme": "hmac-sha256", "protocol_version": "2.0"}


def _engine_cmd(cf, *args):
    return [sys.executable, "-m", "attractor_lab.engine", "--connection-file", str(cf), "--device", "cpu", *args]


def _own_address() -> str | None:
    """An address of this machine other than loopback (no packet is sent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ipaddress.ip_address(ip).is_loopback else ip


# ---- connection files and addresses, checked in-process -----------------------------------
@pytest.mark.parametrize("change, message", [
    ({"key": "short"}, "'key' has 5 bytes; at least 32"),
    ({"key": 12345678901234567890123456789012345}, "'key' must be a string"),
    ({"command_port": "5000"}, "'command_port' must be a port number"),
    ({"protocol_version": "1.0"}, "speaks protocol '1.0'"),
])
def test_bad_connection_files_are_refused_in_one_line(tmp_path, change, message):
    path = tmp_path / "c.json"
    write_connection_file(path, {**GOOD, "key": new_key().decode(), **change})
    with pytest.raises(ConnectionFileError, match=message) as refused:
        claim_connection_file(path)
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)


def test_files_others_can_read_and_missing_folders_are_refused(tmp_path):
    path = tmp_path / "c.json"
    write_connection_file(path, {**GOOD, "key": new_key().decode()})
    assert claim_connection_file(path)["ip"] == "127.0.0.1"  # a private file of a gone engine may be taken over
    os.chmod(path, 0o644)
    with pytest.raises(ConnectionFileError, match="mode 0644: other users can read"):
        read_connection_file(path)
    with pytest.raises(ConnectionFileError, match="does not exist"):
        claim_connection_file(tmp_path / "nowhere" / "c.json")
    with pytest.raises(ConnectionFileError, match="is not valid JSON"):
        (tmp_path / "j.json").write_text("{")
        os.chmod(tmp_path / "j.json", 0o600)
        read_connection_file(tmp_path / "j.json")


def test_addresses_are_checked():
    with pytest.raises(ValueError, match="'999.1.1.1' is not an IP address"):
        check_bind_address("999.1.1.1")
    assert check_bind_address("*") == "0.0.0.0"
    with pytest.raises(ValueError, match="neither an IP address nor a host name"):
        check_advertise("999.1.1.1")
    with pytest.raises(ValueError, match="neither"):
        check_advertise("tcp://host:1")
    with pytest.raises(ValueError, match="wildcard"):
        check_advertise("0.0.0.0")
    assert check_advertise("gpu-box.example.org") == "gpu-box.example.org"


def test_engine_start_failures_are_one_line(tmp_path):
    out = subprocess.run(_engine_cmd(tmp_path / "e.json", "--ip", "999.1.1.1"), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("engine: --ip '999.1.1.1' is not an IP address")
    assert "Traceback" not in out.stderr
    bad = tmp_path / "open.json"
    write_connection_file(bad, {**GOOD, "key": new_key().decode()})
    os.chmod(bad, 0o644)
    out = subprocess.run(_engine_cmd(bad), capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "mode 0644" in out.stderr and "Traceback" not in out.stderr


# ---- a busy file, the file removed on exit -------------------------------------------------
def test_a_second_engine_on_a_busy_file_refuses_and_the_file_goes_with_the_engine(tmp_path):
    proc, client = start_engine(tmp_path)
    cf = tmp_path / "engine.json"
    try:
        before = cf.read_text()
        out = subprocess.run(_engine_cmd(cf), capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, out.stderr
        assert f"in use by a running engine (pid {proc.pid})" in out.stderr and "Traceback" not in out.stderr
        assert cf.read_text() == before  # not taken over
        assert client.request("info")["pid"] == proc.pid
    finally:
        stop_engine(proc, client)
    assert proc.returncode == 0
    assert not cf.exists()


# ---- CURVE beyond loopback ------------------------------------------------------------------
def test_an_engine_beyond_loopback_is_unreadable_without_the_keys(tmp_path):
    ip = _own_address()
    args = ("--ip", ip) if ip else ("--curve",)  # no such address: CURVE on loopback is the same check
    proc, client = start_engine(tmp_path, args=args)
    try:
        info = read_connection_file(tmp_path / "engine.json")
        assert info["ip"] == (ip or "127.0.0.1") and len(info["curve_server_key"]) == 40
        assert client.request("info")["curve"] is True
        client.request("load", {"model": "gray_scott", "params": {"grid": 32}})
        client.request("run", {"fps": 60})
        assert client.next_event("frame", timeout=20).arrays["v"].shape == (32, 32)
        ctx = zmq.Context()
        eavesdropper = ctx.socket(zmq.SUB)  # knows the address, not the keys
        eavesdropper.setsockopt(zmq.SUBSCRIBE, b"")
        eavesdropper.connect(endpoint(info, "state"))
        impostor = ctx.socket(zmq.SUB)  # knows the server's public key, brings its own client keys
        public, secret = zmq.curve_keypair()
        impostor.curve_serverkey, impostor.curve_publickey, impostor.curve_secretkey = \
            info["curve_server_key"].encode(), public, secret
        impostor.setsockopt(zmq.SUBSCRIBE, b"")
        impostor.connect(endpoint(info, "state"))
        commander = ctx.socket(zmq.DEALER)  # a signed request, but no CURVE
        commander.connect(endpoint(info, "command"))
        commander.send_multipart(client.session.serialize("pause_request", {}))
        assert not eavesdropper.poll(2000) and not impostor.poll(100) and not commander.poll(100)
        assert client.next_event("frame", timeout=10).content["running"] is True  # the pause never arrived
        for sock in (eavesdropper, impostor, commander):
            sock.close(0)
        ctx.term()
    finally:
        stop_engine(proc, client)


# ---- cancelling a reset, a dead engine ----------------------------------------------------
@pytest.fixture(scope="module")
def slow_engine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slow")
    proc, client = start_engine(folder, env={"ATTRACTOR_LAB_FAULT": "slow_reset"})
    yield proc, client, folder / "engine.json"
    stop_engine(proc, client)


def test_a_reset_can_be_cancelled_and_others_are_answered_meanwhile(slow_engine):
    proc, client, cf = slow_engine
    client.request("load", {"model": "gray_scott", "params": {"grid": 32}, "seed": 1}, timeout=60)
    client.request("step", {"n": 10})
    client.request("set_params", {"params": {"grid": 48}})
    reset_id = client.send("reset", {"seed": 2})
    other = EngineClient.from_connection_file(cf)
    try:
        t0 = time.monotonic()
        info = other.request("info")
        assert time.monotonic() - t0 < 0.5 and info["model"] == "gray_scott"
        status = other.next_event("status", where=lambda m: m.content["state"] == "busy")
        assert status.content["job"]["verb"] == "reset"
        with pytest.raises(EngineError, match="EngineBusy: step: the engine is busy with a reset"):
            other.request("step", {"n": 1})
        assert other.request("cancel")["cancelled"] == ["reset"]
    finally:
        other.close()
    reply = client.recv_reply(timeout=5)
    assert reply.parent_id == reset_id and reply.content["ename"] == "Cancelled"
    state = client.request("get_state")  # unchanged: the old run, its step and its grid
    assert state["step"] == 10 and state["arrays"]["v"].shape == (32, 32)
    assert client.request("set_params", {"params": {"F": 0.05}})["pending"] == {"grid": 48}


def test_the_script_client_reports_a_dead_engine_within_3_s(slow_engine):
    proc, client, cf = slow_engine
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    t0 = time.monotonic()
    with pytest.raises(EngineDead, match=f"stopped answering heartbeats .* its process {proc.pid} is gone"):
        client.request("info", timeout=30)
    assert time.monotonic() - t0 < 3.0
    assert cf.exists()  # a kill -9 leaves the file: clients see it is stale
    with pytest.raises(EngineDead, match="is stale: its engine .* is gone"):
        EngineClient.from_connection_file(cf)
    key = json.loads(cf.read_text())["key"]
    # a new engine may take a stale file over (with a fresh key: tests/test_protocol_life.py)
    assert claim_connection_file(cf)["key"] == key
