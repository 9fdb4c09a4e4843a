"""Start a real engine subprocess for tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attractor_lab.engine.transport.client import EngineClient


def start_engine(tmp_path: Path, env: dict | None = None, timeout: float = 60.0, args=()):
    """Start ``python -m engine`` (with extra ``args``); return (process, client) once it is serving."""
    cf = tmp_path / "engine.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "attractor_lab.engine", "--connection-file", str(cf), "--device", "cpu",
         "--parent-pid", str(os.getpid()), *args],
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + timeout
    while not cf.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"engine exited with {proc.returncode} before serving")
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError("engine did not write its connection file")
        time.sleep(0.05)
    return proc, EngineClient.from_connection_file(cf)


@pytest.fixture
def engine(tmp_path):
    """A running engine's client (import this fixture into a test module); the engine must
    exit cleanly (0) when the test is done."""
    proc, client = start_engine(tmp_path)
    yield client
    stop_engine(proc, client)
    assert proc.returncode == 0


def stop_engine(proc, client) -> None:
    try:
        client.request("shutdown", timeout=5)
    except Exception:
        pass
    client.close()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def in_process_engine(folder: Path):
    """An EngineServer in this process and a client to it; yields (server, client, call):
    ``call(verb, content)`` sends one request, lets the server handle it and returns the
    reply's (content, arrays), raising EngineError for an error reply."""
    from attractor_lab.engine.transport.client import EngineError
    from attractor_lab.engine.transport.protocol import read_connection_file
    from attractor_lab.engine.transport.server import EngineServer

    server = EngineServer(folder / "engine.json", device="cpu")
    client = EngineClient(read_connection_file(folder / "engine.json"))

    def call(verb, content):
        client.send(verb, content)
        assert server.command.poll(5000), "the request did not arrive"
        server._handle_pending()
        msg = client.recv_reply(5.0)
        assert msg is not None, "no reply"
        if msg.content.get("status") == "error":
            raise EngineError(msg.content)
        return msg.content, msg.arrays

    try:
        yield server, client, call
    finally:
        client.close()
        server.close()
