"""A real engine subprocess driven through the protocol client."""

import time

import numpy as np
import pytest

from attractor_lab.engine.transport.client import EngineError
from attractor_lab.engine.transport.protocol import Session
from attractor_lab.engine.storage.recorder import load_trajectory
from tests.engine_helpers import engine  # noqa: F401 (a fixture)


def test_load_run_frames_and_params(engine):
    info = engine.request("info")
    assert info["protocol_version"].startswith("2.")
    assert "gray_scott" in engine.request("list_models")["models"]
    engine.request("load", {"model": "gray_scott", "params": {"grid": 64}, "seed": 3})
    engine.request("run", {"fps": 50})
    first = engine.next_event("frame", where=lambda m: m.content["step"] > 0)
    assert first.arrays["v"].shape == (64, 64)
    later = engine.next_event("frame", where=lambda m: m.content["step"] > first.content["step"] + 100)
    assert not np.array_equal(first.arrays["v"], later.arrays["v"])
    reply = engine.request("set_params", {"params": {"F": 0.05}})
    assert reply["params"]["F"] == 0.05
    # structural parameters wait for reset
    reply = engine.request("set_params", {"params": {"grid": 32}})
    assert reply["waiting"] == ["grid"] and reply["pending"] == {"grid": 32}
    engine.request("pause")
    engine.request("reset", {"seed": 1})
    state = engine.request("get_state")
    assert state["arrays"]["u"].shape == (32, 32)
    assert state["step"] == 0


def test_bad_requests_get_clear_errors(engine):
    with pytest.raises(EngineError, match="no model loaded"):
        engine.request("run")
    with pytest.raises(EngineError, match="unknown model"):
        engine.request("load", {"model": "nope"})
    engine.request("load", {"model": "gray_scott", "params": {"grid": 32}})
    with pytest.raises(EngineError, match=r"'F'.*\[0, 0.1\]"):
        engine.request("set_params", {"params": {"F": 5}})
    with pytest.raises(EngineError, match="unknown request"):
        engine.request("frobnicate")


def test_wrongly_signed_request_is_dropped(engine):
    engine.request("load", {"model": "gray_scott", "params": {"grid": 32}})
    intruder = Session(b"not the key")
    engine.command.send_multipart(intruder.serialize("shutdown_request", {}))
    assert engine.recv_reply(timeout=0.5) is None  # no reply, engine still alive
    status = engine.next_event("status", where=lambda m: m.content["rejected_messages"] >= 1)
    assert status.content["rejected_messages"] == 1
    assert engine.request("info")["model"] == "gray_scott"


def test_step_and_record_to_npz(engine, tmp_path):
    engine.request("load", {"model": "gray_scott", "params": {"grid": 32}, "seed": 5})
    engine.request("record", {"action": "start", "every": 10})
    engine.request("run", {"fps": 60})
    engine.next_event("frame", where=lambda m: m.content["step"] >= 200)
    engine.request("pause")
    out = tmp_path / "traj.npz"
    reply = engine.request("record", {"action": "save", "path": str(out)})
    assert reply["snapshots"] >= 20
    data = load_trajectory(out)
    assert 'model = "gray_scott"' in data["preset_toml"]
    assert np.all(np.diff(data["step"]) == 10)  # one snapshot every 10 steps exactly
    assert data["state/v"].shape[1:] == (32, 32)


def test_frames_are_throttled_to_display_rate(engine):
    engine.request("load", {"model": "gray_scott", "params": {"grid": 16}})
    engine.request("run", {"fps": 10})
    engine.next_event("frame")
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 1.0:
        if engine.recv_event(0.05) is not None:
            n += 1
    # at 10 fps, about 10 frames plus 2 status events in a second; the engine steps far faster
    assert n <= 16


def test_user_image_patterns_travel_as_arrays(engine, tmp_path):
    from PIL import Image

    from attractor_lab.engine.patterns import load_image_patterns

    paths = []
    for i in range(3):  # three distinct striped images
        img = np.zeros((16, 16), np.uint8)
        img[:, i * 5:(i * 5) + 5] = 255
        img[i * 4:(i * 4) + 4, :] = 255
        paths.append(tmp_path / f"p{i}.png")
        Image.fromarray(img).save(paths[-1])
    patterns = load_image_patterns(paths, 16, binary=True)
    engine.request("load", {"model": "hopfield", "params": {"neurons": 256, "temperature": 0.0}})
    reply = engine.request("set_patterns", {}, arrays={"patterns": patterns})
    assert reply["pending"]["pattern_source"] == "images" and reply["pending"]["neurons"] == 256
    engine.request("reset", {"seed": 0})
    engine.request("step", {"n": 5})
    state = engine.request("get_state")
    cued = state["arrays"]["cued_pattern"].ravel()
    np.testing.assert_array_equal(cued, patterns[0])  # the stored pattern is the user's image
    assert state["observables"]["m_cued"] > 0.9


def test_steps_per_frame_caps_speed(engine):
    engine.request("load", {"model": "gray_scott", "params": {"grid": 16}})
    engine.request("run", {"fps": 20, "steps_per_frame": 3})
    frames = [engine.next_event("frame", where=lambda m: m.content["running"]) for _ in range(6)]
    steps = [f.content["step"] for f in frames]
    assert all(0 < b - a <= 3 for a, b in zip(steps, steps[1:])), steps
    engine.request("set_speed", {"steps_per_frame": 0})
    a = engine.next_event("frame", where=lambda m: m.content["running"]).content["step"]
    b = engine.next_event("frame", where=lambda m: m.content["running"]).content["step"]
    assert b - a > 3  # uncapped, a 16² grid runs far more than 3 steps per frame


def test_malformed_signed_requests_get_errors_not_a_dead_engine(engine, tmp_path):
    """A client with the key can still send nonsense; the engine answers and lives."""
    import json as _json

    engine.request("load", {"model": "gray_scott", "params": {"grid": 16}})
    bad = [
        ("step", {"n": 1e400}), ("step", {"n": "ten"}), ("record", {"action": "start", "every": float("inf")}),
        ("reset", {"seed": -1}), ("set_params", {"params": [1, 2]}), ("paint", {"x": 1}),
        ("set_display_rate", {"fps": None}), ("load", {"model": ["x"]}),
        ("record", {"action": "start", "fields": ["nope"]}),
        ("record", {"action": "save", "path": str(tmp_path / "no" / "such" / "dir.npz")}),
    ]
    for verb, content in bad:
        with pytest.raises(EngineError):
            engine.request(verb, content, timeout=10)
    s = engine.session
    # a header without msg_id, a non-string msg_type, arrays that do not fit their buffers
    for header in ({"msg_type": "info_request", "protocol_version": "1.0"},
                   {"msg_type": 5, "msg_id": "x", "protocol_version": "1.0"}):
        h, c = _json.dumps(header).encode(), b"{}"
        engine.command.send_multipart([b"<AL|MSG>", s.sign([h, c]), h, c])
    frames = s.serialize("set_patterns_request", {}, {"patterns": np.zeros((2, 16), np.float32)})
    frames[-1] = b"12345"
    frames[1] = s.sign(frames[2:])
    engine.command.send_multipart(frames)
    # signed, so authentic: each gets an error reply saying what is wrong
    replies = [engine.recv_reply(timeout=5) for _ in range(3)]
    assert all(r is not None and r.content["status"] == "error" for r in replies)
    texts = " | ".join(r.content["evalue"] for r in replies)
    assert "'msg_id'" in texts and "'msg_type'" in texts and "do not fit shape" in texts
    assert replies[2].parent_id == _json.loads(bytes(frames[2]))["msg_id"]
    assert engine.request("info")["model"] == "gray_scott"  # and still serving


def test_recording_restarts_with_the_run_and_logs_changes(engine, tmp_path):
    import tomllib

    from attractor_lab.engine.storage.recorder import load_trajectory

    engine.request("load", {"model": "gray_scott", "params": {"grid": 32}, "seed": 1})
    engine.request("record", {"action": "start", "every": 2})
    engine.request("step", {"n": 10})
    assert engine.request("record", {"action": "status"})["snapshots"] == 6  # steps 0, 2, …, 10
    engine.request("set_params", {"params": {"grid": 48}})
    engine.request("reset", {"seed": 7})
    engine.request("set_params", {"params": {"F": 0.05}})
    engine.request("step", {"n": 4})
    out = tmp_path / "r.npz"
    engine.request("record", {"action": "save", "path": str(out)})
    data = load_trajectory(out)
    preset = tomllib.loads(data["preset_toml"])
    assert preset["params"]["grid"] == 48 and preset["seed"] == 7  # the run that was recorded
    assert data["state/v"].shape == (3, 48, 48) and list(data["step"]) == [0, 2, 4]
    changes = _json_changes(data)
    assert changes == [{"step": 0, "params": {"F": 0.05}}]


def _json_changes(data):
    import json as _json

    return _json.loads(data["metadata_json"])["param_changes"]


def test_stopped_recording_survives_reset_and_huge_shapes_are_dropped(engine, tmp_path):
    engine.request("load", {"model": "gray_scott", "params": {"grid": 16}})
    engine.request("record", {"action": "start", "every": 1})
    engine.request("step", {"n": 20})
    engine.request("record", {"action": "stop"})
    engine.request("reset", {})
    engine.request("step", {"n": 5})
    assert engine.request("record", {"action": "status"})["snapshots"] == 21
    s = engine.session
    for shape in ([2**32, 2**32], [2**70], [1] * 70):
        frames = s.serialize("set_patterns_request", {}, {"patterns": np.zeros(1, np.float32)})
        import json as _json

        content = _json.loads(bytes(frames[3]))
        content["arrays"][0]["shape"] = shape
        frames[3] = _json.dumps(content).encode()
        frames[1] = s.sign(frames[2:])
        engine.command.send_multipart(frames)
    for _ in range(3):  # answered with an error, never allocated
        reply = engine.recv_reply(timeout=5)
        assert reply is not None and reply.content["ename"] == "BadRequest", reply
    assert engine.request("info")["model"] == "gray_scott"
    with pytest.raises(EngineError, match="2147483647"):
        engine.request("reset", {"seed": 2**40})
