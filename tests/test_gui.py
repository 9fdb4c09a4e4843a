"""The main window with a real engine process (pytest-qt)."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.gui_helpers import open_window

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):
    win, engine = open_window(qtbot)
    yield win
    win.close()
    assert engine.proc is None  # staged shutdown finished


def _wait_frames(qtbot, win, n=3, timeout=20_000):
    start = win._frames_drawn
    qtbot.waitUntil(lambda: win._frames_drawn >= start + n, timeout=timeout)


def test_changing_F_reaches_engine_and_changes_image(qtbot, window):
    win = window
    _wait_frames(qtbot, win)
    view = next(v for v in win.grid.views if v.spec.get("array") == "v")
    before = np.array(view.current_image(), copy=True)
    # drag F as a user would: through the panel's editor
    editor = win.panel.editors["F"]
    editor.box.setValue(0.06)
    qtbot.waitUntil(lambda: win.last_frame is not None and win.last_frame[0]["params"]["F"] == 0.06, timeout=10_000)
    _wait_frames(qtbot, win, 3)
    after = np.array(view.current_image(), copy=True)
    assert after.shape == before.shape
    assert not np.array_equal(before, after)
    assert "steps/s" in win.rate_label.text()


def test_structural_parameter_waits_for_reset(qtbot, window):
    win = window
    win.panel.editors["grid"].box.setValue(64)
    qtbot.waitUntil(lambda: "grid" in win.pending_label.text(), timeout=10_000)
    win.reset()
    qtbot.waitUntil(lambda: win.last_frame is not None and win.last_frame[1]["v"].shape == (64, 64), timeout=10_000)
    assert win.pending_label.text() == ""


def test_out_of_range_value_is_refused_with_message(qtbot, window, monkeypatch):
    from PySide6 import QtWidgets

    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a: shown.append(a[2]))
    win = window
    win.engine.request("set_params", {"params": {"F": 7.0}}, win._on_params_set, win._on_params_refused)
    qtbot.waitUntil(lambda: bool(shown), timeout=10_000)
    assert "'F'" in shown[0] and "[0, 0.1]" in shown[0]


def test_pause_step_and_shortcuts(qtbot, window):
    win = window
    _wait_frames(qtbot, win)
    win.act_run.trigger()  # Space: pause
    assert not win.running
    qtbot.waitUntil(lambda: win.last_frame[0]["running"] is False, timeout=5000)
    step = win.last_frame[0]["step"]
    win.act_step.trigger()
    qtbot.waitUntil(lambda: win.last_frame[0]["step"] == step + 1, timeout=5000)
    assert win.act_run.shortcut().toString() == "Space"
    assert win.act_step.shortcut().toString() == "S"
    assert win.act_reset.shortcut().toString() == "R"


def test_export_view_png_and_svg(qtbot, window, tmp_path):
    from attractor_lab.app.main_window import export_view

    win = window
    _wait_frames(qtbot, win)
    png = export_view(win.grid.views[0], tmp_path / "v.png")
    series = next(v for v in win.grid.views if v.spec["kind"] == "timeseries")
    svg = export_view(series, tmp_path / "means.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:2000]


def test_preset_round_trip(qtbot, window, tmp_path):
    from attractor_lab.engine.storage.presets import load_preset, save_preset, schemas_from_descriptions

    win = window
    win.engine.request("set_params", {"params": {"k": 0.061}}, win._on_params_set)
    qtbot.waitUntil(lambda: win.params.get("k") == 0.061, timeout=5000)
    path = save_preset(win.current_preset(), tmp_path / "mine.toml")
    preset = load_preset(path, schemas=schemas_from_descriptions(win.models))
    assert preset.model == "gray_scott" and preset.params["k"] == 0.061
    bad = tmp_path / "bad.toml"
    bad.write_text('format_version = 1\nmodel = "gray_scott"\n[params]\nF = "lots"\n')
    from PySide6 import QtWidgets

    shown = []
    orig = QtWidgets.QMessageBox.warning
    QtWidgets.QMessageBox.warning = lambda *a: shown.append(a[2])
    try:
        assert not win.load_preset_file(bad)
    finally:
        QtWidgets.QMessageBox.warning = orig
    assert "bad.toml" in shown[0] and "'F'" in shown[0]


def test_gui_process_never_loads_torch_and_engine_dies_with_gui(tmp_path):
    """End to end: the real app in its own process; killing it leaves no engine behind."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "--smoke-test", "10"], capture_output=True, text=True,
                         timeout=120, env=env)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["frames"] >= 10
    assert report["torch_loaded"] is False
    # now kill -9 a running GUI and check its engine goes too
    gui = subprocess.Popen([sys.executable, "-m", "attractor_lab.app.cli", "--device", "cpu"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine_pid = None
    deadline = time.monotonic() + 60
    while engine_pid is None and time.monotonic() < deadline:
        time.sleep(0.2)
        kids = subprocess.run(["pgrep", "-P", str(gui.pid)], capture_output=True, text=True).stdout.split()
        engine_pid = int(kids[0]) if kids else None
    assert engine_pid, "the GUI did not start an engine"
    gui.kill()
    gui.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(engine_pid):
        time.sleep(0.1)
    assert not _alive(engine_pid), "the engine outlived its GUI"


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_phase_diagram_dot_follows_temperature(qtbot, window):
    from attractor_lab.widgets.views import LinesView

    win = window
    win.load_model("hopfield", {"neurons": 400, "load": 0.05})
    qtbot.waitUntil(lambda: win.last_frame is not None and win.last_frame[0]["model"] == "hopfield", timeout=30_000)
    diagram = next(v for v in win.grid.views if isinstance(v, LinesView) and "Phase" in v.title)
    win.panel.editors["temperature"].box.setValue(0.7)
    qtbot.waitUntil(lambda: win.last_frame[0]["params"]["temperature"] == 0.7, timeout=10_000)
    qtbot.wait(100)
    dot = next(item for p, item in diagram.points if p["y"] == "temperature")
    xs, ys = dot.getData()
    assert ys[0] == pytest.approx(0.7) and xs[0] == pytest.approx(0.05)


def test_record_and_export_movie(qtbot, window, tmp_path, monkeypatch):
    import imageio.v3 as iio

    win = window
    view = next(v for v in win.grid.views if v.spec.get("array") == "v")
    errors = []
    win.engine.engine_error.connect(lambda m, w: errors.append((w, m)))
    started = []
    win.engine.request("record", {"action": "start", "every": 5}, started.append)
    win.recording = True
    qtbot.waitUntil(lambda: bool(started), timeout=20_000)
    start = started[0]["step"]  # the engine's step, not the (older) frame on screen
    qtbot.waitUntil(lambda: win.last_frame[0]["step"] > start + 80, timeout=20_000)
    out = tmp_path / "v.gif"
    win._flush_params()
    done = []
    win.engine.request("record", {"action": "save", "path": str(tmp_path / "r.npz")},
                       lambda c: (win._write_movie(tmp_path / "r.npz", view, str(out)), done.append(c)))
    qtbot.waitUntil(lambda: bool(done), timeout=20_000)
    frames = iio.imread(out, index=None)
    from attractor_lab.engine.storage.recorder import load_trajectory

    steps = list(load_trajectory(tmp_path / "r.npz")["step"])
    assert len(frames) == done[0]["snapshots"] >= 10, (start, win.last_frame[0]["step"], steps, errors)


def test_connect_to_an_engine_started_elsewhere(qtbot, tmp_path):
    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow
    from tests.engine_helpers import start_engine, stop_engine

    proc, client = start_engine(tmp_path)
    try:
        engine = QtEngine(connection_file=str(tmp_path / "engine.json"))
        win = MainWindow(engine)
        qtbot.addWidget(win)
        win.show()
        engine.start()
        qtbot.waitUntil(lambda: win._frames_drawn >= 3, timeout=30_000)
        assert engine.proc is None and engine.info["pid"] == proc.pid
        win.close()
        # the remote engine outlives the window, paused
        assert proc.poll() is None
        assert client.request("info")["model"] == "gray_scott"
        client.latest_events()  # drop what queued up while the window ran
        # the pause travels on the window's socket, info on ours: a status published
        # between the two may still say 'running'; the engine must come to 'paused'
        status = client.next_event("status", timeout=10, where=lambda m: m.content["state"] == "paused")
        assert status.content["model"] == "gray_scott"
    finally:
        stop_engine(proc, client)


def test_painting_on_a_field_reaches_the_engine(qtbot, window):
    win = window
    win.set_running(False)
    qtbot.waitUntil(lambda: win.last_frame is not None and not win.last_frame[0]["running"], timeout=10_000)
    view = next(v for v in win.grid.views if v.spec.get("array") == "v" and v.spec["kind"] == "image")
    assert view.paint_enabled and win.brush_bar.isVisibleTo(win)
    win.brush_radius.setValue(4)
    win.brush_value.setValue(0.9)
    win.brush_mode.setCurrentText("set")
    view.painted.emit("v", 20.0, 30.0)  # what a click at column 20, row 30 emits
    qtbot.waitUntil(lambda: abs(float(win.last_frame[1]["v"][30, 20]) - 0.9) < 1e-6, timeout=10_000)
    v = win.last_frame[1]["v"]
    assert abs(float(v[30, 24]) - 0.9) < 1e-6 and abs(float(v[30, 26]) - 0.9) > 1e-3  # a disc of radius 4
