import os
import stat

import numpy as np
import pytest
import zmq

from attractor_lab.engine.transport.protocol import (
    DELIM,
    ProtocolError,
    Session,
    read_connection_file,
    write_connection_file,
)


def test_round_trip_with_arrays():
    s = Session(b"secret")
    arrays = {
        "u": np.random.default_rng(0).random((64, 48), dtype=np.float32),
        "mask": np.eye(5, dtype=bool),
        "overlaps": np.arange(7, dtype=np.float64),
    }
    frames = s.serialize("frame", {"step": 12, "observables": {"m": 0.5}}, arrays, parent_id="abc")
    # arrays travel as raw buffers, not inside the JSON
    assert len(frames) == 4 + len(arrays)
    msg = Session(b"secret").deserialize([bytes(f) for f in frames])
    assert msg.msg_type == "frame"
    assert msg.parent_id == "abc"
    assert msg.content == {"step": 12, "observables": {"m": 0.5}}
    for k, v in arrays.items():
        assert msg.arrays[k].dtype == v.dtype
        np.testing.assert_array_equal(msg.arrays[k], v)


def test_empty_arrays_travel():
    """A frame may hold empty arrays (no Poincaré points yet; no vector-field grid for a 3D
    system): they broke publishing of the Lorenz and Duffing presets ("memoryview: cannot cast
    view with zeros in shape or strides")."""
    s = Session(b"secret")
    arrays = {"pp_x": np.zeros(0, np.float32), "pp_u": np.zeros((0, 0), np.float32),
              "rows": np.zeros((3, 0), np.float64), "u": np.ones((2, 2), np.float32)}
    msg = s.deserialize([bytes(f) for f in s.serialize("frame", {}, arrays)])
    for k, v in arrays.items():
        assert msg.arrays[k].shape == v.shape and msg.arrays[k].dtype == v.dtype
    np.testing.assert_array_equal(msg.arrays["u"], arrays["u"])


def test_round_trip_over_zmq_sockets():
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    port = a.bind_to_random_port("tcp://127.0.0.1")
    b.connect(f"tcp://127.0.0.1:{port}")
    s = Session(b"k")
    field = np.linspace(0, 1, 256 * 256, dtype=np.float32).reshape(256, 256)
    a.send_multipart(s.serialize("frame", {"step": 1}, {"v": field}), copy=False)
    msg = s.deserialize(b.recv_multipart(copy=False))
    np.testing.assert_array_equal(msg.arrays["v"], field)
    a.close(0), b.close(0), ctx.term()


def test_wrong_signature_is_rejected_and_counted():
    frames = Session(b"right key").serialize("run_request", {})
    receiver = Session(b"right key")
    bad = Session(b"wrong key")
    with pytest.raises(ProtocolError, match="signature"):
        bad.deserialize(frames)
    assert bad.rejected == 1
    # a tampered content with the original signature is refused too
    tampered = list(frames)
    tampered[3] = b'{"evil": 1}'
    with pytest.raises(ProtocolError):
        receiver.deserialize(tampered)
    assert receiver.rejected == 1
    receiver.deserialize(frames)  # the genuine one still passes


def test_garbage_is_rejected():
    s = Session(b"k")
    for frames in ([b"junk"], [DELIM, b"sig"], [DELIM, b"0" * 64, b"{", b"}"]):
        with pytest.raises(ProtocolError):
            s.deserialize(frames)
    assert s.rejected == 3


def test_array_meta_must_match_buffers():
    s = Session(b"k")
    frames = s.serialize("frame", {}, {"v": np.zeros((4, 4), np.float32)})
    frames = frames[:-1] + [np.zeros(3, np.float32).tobytes()]
    frames[1] = s.sign(frames[2:])
    with pytest.raises(ProtocolError, match="shape"):
        s.deserialize(frames)


def test_connection_file_is_owner_only(tmp_path):
    path = tmp_path / "c.json"
    info = {"transport": "tcp", "ip": "127.0.0.1", "command_port": 1, "state_port": 2, "key": "k" * 64}
    write_connection_file(path, info)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_connection_file(path) == info


def test_replays_are_refused_even_after_the_history_fills():
    from attractor_lab.engine.transport.protocol import ReplayedMessage, StaleMessage

    sender = Session(b"k" * 32)
    receiver = Session(b"k" * 32, replay_window=300.0, history=4)
    sent = [sender.serialize("info_request", {}) for _ in range(10)]
    for frames in sent:
        receiver.deserialize(frames)
    with pytest.raises(ReplayedMessage):  # still remembered
        receiver.deserialize(sent[-1])
    with pytest.raises(StaleMessage, match="clock"):  # forgotten under the flood: refused by its date
        receiver.deserialize(sent[0])
    assert receiver.replayed == 1 and receiver.stale == 1 and receiver.rejected == 2
    assert len(receiver._seen) <= 4


def test_connection_info_is_checked_key_by_key(tmp_path):
    from attractor_lab.engine.transport.protocol import ConnectionFileError, check_connection_info

    good = {"transport": "tcp", "ip": "127.0.0.1", "command_port": 1, "state_port": 2, "key": "k" * 64}
    assert check_connection_info(dict(good)) == good
    for change, message in (({"key": 7}, "'key' must be a string"), ({"state_port": 70000}, "'state_port'"),
                            ({"transport": "udp"}, "'transport'"), ({"curve_server_key": "x" * 40}, "CURVE needs"),
                            ({"pid": -1}, "'pid'")):
        with pytest.raises(ConnectionFileError, match=message):
            check_connection_info({**good, **change})
