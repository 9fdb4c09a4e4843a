"""An engine never blocks, forgets an error or obeys a replay (issue 10).

One real engine process serves the whole module (engines take seconds to
start on a loaded machine); a second client connects to it where a test needs
two. Bounds are the issue's: another client waits at most 0.5 s, an oversized
reset is refused within a second.
"""

import json
import os
import random
import time
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from attractor_lab.engine.transport.client import EngineClient, EngineError
from attractor_lab.engine.transport.protocol import DELIM, Session
from tests.engine_helpers import start_engine, stop_engine


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine")
    proc, client = start_engine(folder)
    yield proc, client, folder / "engine.json"
    stop_engine(proc, client)


@pytest.fixture
def engine(served):
    proc, client, _ = served
    client.request("pause")
    client.latest_events()
    return client


@pytest.fixture
def other(served):
    """A second client of the same engine."""
    client = EngineClient.from_connection_file(served[2])
    client.request("info")
    yield client
    client.close()


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) * 1024


def test_a_long_step_neither_delays_other_clients_nor_resists_cancel(engine, other):
    engine.request("load", {"model": "gray_scott", "params": {"grid": 64}, "seed": 1})
    step_id = engine.send("step", {"n": 10**7})  # ~hours on this machine, were it run in one go
    time.sleep(0.2)
    waits = []
    for _ in range(5):
        t0 = time.monotonic()
        assert other.request("info")["model"] == "gray_scott"
        waits.append(time.monotonic() - t0)
        time.sleep(0.1)
    assert max(waits) < 0.5, waits
    t0 = time.monotonic()
    assert other.request("cancel")["cancelled"] == ["step"]
    reply = engine.recv_reply(timeout=5)
    assert time.monotonic() - t0 < 1.0
    assert reply.parent_id == step_id
    assert reply.content["status"] == "ok" and reply.content["cancelled"] is True
    assert 0 < reply.content["done"] == reply.content["step"] < 10**7
    # a pause from anyone stops a step too, and the next step runs normally
    step_id = engine.send("step", {"n": 10**7})
    time.sleep(0.1)
    other.request("pause")
    reply = engine.recv_reply(timeout=5)
    assert reply.parent_id == step_id and reply.content["cancelled"] is True
    before = engine.request("get_state")["step"]
    assert engine.request("step", {"n": 7})["step"] == before + 7


def test_an_oversized_reset_is_refused_at_once_naming_the_size(engine):
    engine.request("load", {"model": "hopfield", "params": {"neurons": 256}, "seed": 0})
    engine.request("step", {"n": 2})
    engine.request("set_params", {"params": {"neurons": 4_000_000, "load": 100.0}})
    t0 = time.monotonic()
    with pytest.raises(EngineError, match=r"reset: hopfield with neurons = 4000000, load = 100 needs about "
                                          r"[\d.]+ PiB") as refused:
        engine.request("reset")
    assert time.monotonic() - t0 < 1.0
    assert "memory budget" in str(refused.value)
    state = engine.request("get_state")  # the model runs on as it was
    assert state["step"] == 2 and state["arrays"]["spins"].size == 256
    t0 = time.monotonic()
    with pytest.raises(EngineError, match="needs about"):
        engine.request("load", {"model": "modern_hopfield", "params": {"neurons": 1_000_000, "patterns": 100_000}})
    assert time.monotonic() - t0 < 1.0
    assert engine.request("info")["model"] == "hopfield"


def test_a_replayed_request_changes_nothing_and_is_counted(engine):
    engine.request("load", {"model": "gray_scott", "params": {"grid": 16}, "seed": 0})
    captured = engine.session.serialize("step_request", {"n": 5})
    engine.command.send_multipart(captured)
    assert engine.recv_reply(timeout=5).content["step"] == 5
    before = engine.request("info")
    for _ in range(3):  # an eavesdropper sends the captured message again
        engine.command.send_multipart(captured)
    assert engine.recv_reply(timeout=1.0) is None
    assert engine.request("get_state")["step"] == 5
    status = engine.next_event("status", where=lambda m: m.content["replayed_messages"] >= 3)
    assert status.content["replayed_messages"] == 3
    assert before["model"] == "gray_scott"
    # a correctly signed message dated outside the window is refused with a reply that says why
    header = {"msg_id": uuid.uuid4().hex, "msg_type": "step_request", "parent_id": None, "session": "x",
              "protocol_version": "2.0",
              "date": (datetime.now(timezone.utc) - timedelta(minutes=10)).isoformat()}
    h, c = json.dumps(header).encode(), json.dumps({"n": 5}).encode()
    engine.command.send_multipart([DELIM, engine.session.sign([h, c]), h, c])
    reply = engine.recv_reply(timeout=5)
    assert reply.content["ename"] == "StaleMessage" and "clock" in reply.content["evalue"]
    assert engine.request("get_state")["step"] == 5
    status = engine.next_event("status", where=lambda m: m.content["stale_messages"] >= 1)
    assert status.content["stale_messages"] == 1


def test_a_late_reader_still_learns_of_every_error(engine, other):
    engine.request("load", {"model": "gray_scott", "params": {"grid": 64}, "seed": 0})
    engine.request("run", {"fps": 240})
    # two recordings fill their 1 MiB budget (32 KiB a snapshot): two errors, among a flood of frames
    for _ in range(2):
        engine.request("record", {"action": "start", "every": 1, "max_bytes": 1 << 20})
        engine.next_event("error", timeout=20, where=lambda m: m.content["where"] == "record")
    time.sleep(1.5)  # `other` reads nothing meanwhile: its queue fills with frames, new events drop
    errors = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(errors) < 2:
        msg = other.recv_event(0.5)
        if msg is not None and msg.msg_type == "error":
            errors.append(msg)
    engine.request("pause")
    assert [e.content["where"] for e in errors] == ["record", "record"]
    assert len({e.content["seq"] for e in errors}) == 2
    assert all("budget" in e.content["message"] for e in errors)
    assert any(e.header.get("fetched") for e in errors)  # at least one was lost on the channel and fetched
    assert other.request("info")["model"] == "gray_scott"


def test_fuzzing_leaves_the_engine_answering_every_signed_message(served, engine):
    proc = served[0]
    engine.request("load", {"model": "gray_scott", "params": {"grid": 16}, "seed": 0})
    rng = random.Random(0)
    s = engine.session
    stranger = Session(b"x" * 64)

    def header(msg_type="info_request", **extra):
        h = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "parent_id": None, "session": "fuzz",
             "protocol_version": "2.0", "date": datetime.now(timezone.utc).isoformat()}
        h.update(extra)
        return h

    def signed(h, content, buffers=()):
        hb = h if isinstance(h, bytes) else json.dumps(h).encode()
        cb = content if isinstance(content, bytes) else json.dumps(content).encode()
        return [DELIM, s.sign([hb, cb, *buffers]), hb, cb, *buffers]

    bad_requests = [("step", {"n": "ten"}), ("step", {"n": -3}), ("step", {"n": 1e30}), ("load", {"model": 5}),
                    ("set_params", {"params": [1]}), ("paint", {"x": 1}), ("record", {"action": "nope"}),
                    ("set_state", {"step": 1}), ("click", {"x": 0}), ("events", {"since": -1}),
                    ("set_display_rate", {"fps": "fast"}), ("reset", {"seed": 2**40}), ("frobnicate", {}),
                    ("weights", {"action": "x", "path": 3}), ("set_speed", {"steps_per_frame": -1})]

    def malformed_signed():
        kind = rng.randrange(9)
        if kind == 0:
            return signed(rng.randbytes(rng.randrange(1, 40)), {})  # header not JSON
        if kind == 1:
            return signed(header(), rng.randbytes(rng.randrange(1, 40)) + b"\xff")  # content not JSON
        if kind == 2:
            return signed(header(), [1, 2, 3])  # content not an object
        if kind == 3:
            return signed(header(msg_type=rng.choice([5, None, "", ["x"]])), {})
        if kind == 4:
            return signed(header(protocol_version="1.0"), {})
        meta = {"name": "patterns", "dtype": "float32", "shape": [2, 8]}
        buffers = [np.zeros(16, np.float32).tobytes()]
        if kind == 5:
            meta["dtype"] = rng.choice(["object", "float16", 7, "<U5", None])
        elif kind == 6:
            meta["shape"] = rng.choice([[-1, 8], [2**40, 2**40], [1] * 40, "2x8", [2.5, 8], [True, 8]])
        elif kind == 7:
            buffers = rng.choice([[], [b"123"], buffers * 2])
        else:
            verb, content = rng.choice(bad_requests)
            return signed(header(f"{verb}_request"), content)
        return signed(header("set_patterns_request"), {"arrays": [meta] if rng.random() < 0.9 else meta}, buffers)

    def unsigned():
        kind = rng.randrange(4)
        if kind == 0:
            return [rng.randbytes(rng.randrange(0, 64)) for _ in range(rng.randrange(1, 6))]
        if kind == 1:
            return [DELIM, b"0" * 64, json.dumps(header()).encode(), b"{}"]
        if kind == 2:
            return stranger.serialize("shutdown_request", {})
        return [DELIM, rng.randbytes(64), rng.randbytes(10)]

    def burst(count):
        expected = 0
        for i in range(count):
            if i % 2:
                engine.command.send_multipart(malformed_signed())
                expected += 1
            else:
                engine.command.send_multipart(unsigned())
        replies = []
        deadline = time.monotonic() + 30
        while len(replies) < expected and time.monotonic() < deadline:
            msg = engine.recv_reply(timeout=1)
            if msg is not None:
                replies.append(msg)
        return expected, replies

    burst(400)  # warm up: the engine's allocator and history reach their working size
    rss0 = _rss(proc.pid)
    total = 0
    for _ in range(5):
        expected, replies = burst(1000)
        assert len(replies) == expected, (len(replies), expected)  # every malformed signed message answered
        assert all(r.content["status"] == "error" for r in replies)
        total += expected
    assert engine.recv_reply(timeout=0.5) is None  # and nothing else: unsigned ones are dropped silently
    assert engine.request("info")["model"] == "gray_scott"
    assert engine.request("step", {"n": 3})["done"] == 3
    growth = _rss(proc.pid) / rss0 - 1
    assert growth < 0.10, f"memory grew {growth:.1%} over {total} malformed signed messages"
    engine.next_event("status", where=lambda m: m.content["rejected_messages"] >= 4000)
