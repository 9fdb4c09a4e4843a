"""The engine's frames: paced on deadlines, and carrying fewer steps than asked (said in
the status) when the device cannot do them in a frame, all of them again when it can.

An EngineServer serves in a thread of this process with a model whose steps take a
set time (never registered, so no other test sees it). No timed asserts: the tests
look at what the frames and the status carry.
"""

import threading
import time

import numpy as np
import pytest

from attractor_lab.engine.transport.client import EngineClient
from attractor_lab.engine.models.base import Model
from attractor_lab.engine.params import Param
from attractor_lab.engine.transport.protocol import read_connection_file
from attractor_lab.engine.transport.server import KEEPS_UP, EngineServer, next_frame_deadline


class _Slow(Model):
    """Each step sleeps ``step_s`` (a device that does ~1/step_s steps a second)."""

    name = "slow_test_model"
    params = (Param("a", "float", 0.0, -10.0, 10.0, "a parameter to change"),)
    step_s = 0.0

    def _reset(self):
        self.x = 0

    def _step(self, n):
        if self.step_s:
            time.sleep(self.step_s * n)
        self.x += n

    def state(self):
        return {"x": np.array([float(self.x)])}


def test_deadlines_do_not_add_up_lateness():
    period = 1 / 30
    # a frame published 3 ms late: the next is due one period after the deadline, not after it went out
    assert next_frame_deadline(1.0, 1.003, period) == pytest.approx(1.0 + period)
    # a hundred frames each published 3 ms late keep 30 a second on average
    due, t = 0.0, 0.0
    for _ in range(100):
        t = max(t, due) + 0.003
        due = next_frame_deadline(due, t, period)
    assert due == pytest.approx(100 * period, abs=0.01)
    # far behind (a long step, after a pause): the schedule starts again from now
    assert next_frame_deadline(1.0, 5.0, period) == pytest.approx(5.0 + period)
    # sent early (at once after new parameters): the next comes a whole period later
    assert next_frame_deadline(1.0, 0.99, period) == pytest.approx(0.99 + period)


@pytest.fixture
def serving(tmp_path):
    server = EngineServer(tmp_path / "engine.json", device="cpu")
    client = EngineClient(read_connection_file(tmp_path / "engine.json"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    server.model = _Slow(device="cpu")
    yield server, client, thread
    server._stop = True
    thread.join(10)
    client.close()


def _frames_and_status(client, n_frames, frames=None):
    """Step increments of ``n_frames`` successive frames, and the last status seen
    (the frames' contents appended to ``frames``)."""
    steps, status = [], None
    deadline = time.monotonic() + 60
    while len(steps) < n_frames + 1 and time.monotonic() < deadline:
        msg = client.recv_event(timeout=1.0)
        if msg is None:
            continue
        if msg.msg_type == "frame" and msg.content.get("model") == _Slow.name:
            steps.append(msg.content["step"])
            if frames is not None:
                frames.append(msg.content)
        elif msg.msg_type == "status":
            status = msg.content
    assert len(steps) == n_frames + 1, "the engine published too few frames"
    return np.diff(steps), status


def _status_after(client, ok, tries=40):
    """The first status (among the next few) for which ``ok`` holds, else the last one."""
    status = None
    for _ in range(tries):
        _, status = _frames_and_status(client, 5)
        if status is not None and ok(status):
            break
    return status


def test_frames_carry_fewer_steps_when_the_device_cannot_keep_up(serving):
    server, client, thread = serving
    _Slow.step_s = 0.005  # 40 steps asked per 1/30 s frame: 200 ms of work; ~6 fit
    server.fps, server.steps_per_frame, server.running = 30.0, 40, True
    thread.start()
    increments, _ = _frames_and_status(client, 20)
    # frames do not wait for the 40 steps asked: they carry what fits in a frame
    assert increments[2:].max() < 40
    status = _status_after(client, lambda st: st["frame_steps"] is not None)
    assert status["steps_per_frame"] == 40
    assert status["frame_steps"] < KEEPS_UP * 40 and status["keeps_up"] is False

    _Slow.step_s = 0.0  # the device keeps up again: every frame carries all 40
    increments, _ = _frames_and_status(client, 30)
    assert (increments[-10:] == 40).all()
    status = _status_after(client, lambda st: st["frame_steps"] >= KEEPS_UP * 40)  # restored
    assert status["keeps_up"] is True and status["steps_per_frame"] == 40


@pytest.mark.gui
def test_window_says_when_frames_carry_fewer_steps(qtbot):
    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow

    win = MainWindow(QtEngine(device="cpu"), fps=30)  # the engine is never started
    qtbot.addWidget(win)
    win.current = {"name": "slow_test_model"}

    def frame():
        win._fps_t0 -= 1.0  # a second has passed: the display field is written
        win._on_frame({"model": "slow_test_model", "step": 1, "time": 0.0}, {})
        return win.fps_label.text()

    win._on_status({"steps_per_second": 360.0, "steps_per_frame": 40, "frame_steps": 12.3, "keeps_up": False})
    assert frame().endswith(" · 12 of 40 steps/frame")
    win._on_status({"steps_per_second": 1200.0, "steps_per_frame": 40, "frame_steps": 40.0, "keeps_up": True})
    assert "steps/frame" not in frame()
    win._on_status({"steps_per_second": 48.0, "steps_per_frame": 2, "frame_steps": 1.6, "keeps_up": False})
    assert frame().endswith(" · 1.6 of 2 steps/frame")  # (not "2 of 2")
    win._on_status({"steps_per_second": 1200.0})  # an older engine's status: nothing said
    assert "steps/frame" not in frame()


def test_new_parameters_go_out_after_the_shortest_chunk(serving):
    """A frame after a parameter change used to wait for the chunk that runs to the next
    frame's deadline (up to a frame period more slider-to-screen latency; chunks are
    at most CHUNK_SECONDS, so it shows at frame rates below 1/CHUNK_SECONDS)."""
    server, client, thread = serving
    _Slow.step_s = 0.002  # ~50 steps in a 1/10 s frame, ~15 in a chunk
    server.fps, server.steps_per_frame, server.running = 10.0, 0, True
    published = []  # (step, a) of every frame, as the server sends them
    send = server._publish_frame

    def logged():
        published.append((server.model.steps, server.model.p["a"]))
        send()

    server._publish_frame = logged
    handled = {}  # parameter value -> the step at which the engine took it
    set_params = server._on_set_params

    def taken(c, arrays=None):
        handled[c["params"]["a"]] = server.model.steps
        return set_params(c, arrays)

    server._on_set_params = taken
    thread.start()
    regular, _ = _frames_and_status(client, 10)
    for value in (1.0, 2.0, 3.0):
        time.sleep(0.01 + 0.02 * value)  # not in phase with the frames
        client.request("set_params", {"params": {"a": value}})
        _frames_and_status(client, 2)
    after = {}  # value -> steps run between taking it and the first frame carrying it
    for step, a in published:
        if a in handled and a not in after:
            after[a] = step - handled[a]
    assert sorted(after) == [1.0, 2.0, 3.0]
    assert max(after.values()) <= 2 < np.median(regular[2:]) / 2
