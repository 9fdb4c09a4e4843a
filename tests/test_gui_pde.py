"""The window with a real engine running navier_stokes (the vortex-pair preset):
the viscosity slider reaches the live run (the energy then decays at −2νZ with
the new ν), the resolution applies at reset, and painting sets the vorticity."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):
    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow

    from attractor_lab.engine.storage.presets import shipped_presets_dir

    engine = QtEngine(device="cpu")
    win = MainWindow(engine, preset_path=str(shipped_presets_dir() / "navier_stokes_vortex_pair.toml"), fps=30)
    qtbot.addWidget(win)
    win.show()
    engine.start()
    with qtbot.waitSignal(win.model_loaded, timeout=60_000) as loaded:
        pass
    assert loaded.args == ["navier_stokes"]
    yield win
    win.close()


def _wait_frames(qtbot, win, n=3, timeout=20_000):
    start = win._frames_drawn
    qtbot.waitUntil(lambda: win._frames_drawn >= start + n, timeout=timeout)


def test_viscosity_slider_and_resolution_take_effect(qtbot, window):
    win = window
    _wait_frames(qtbot, win)
    assert win.last_frame[1]["w"].shape == (128, 128)
    win.panel.editors["viscosity"].box.setValue(0.01)
    qtbot.waitUntil(lambda: win.last_frame[0]["params"]["viscosity"] == 0.01, timeout=10_000)
    _wait_frames(qtbot, win, 2)
    first = win.last_frame[0]
    qtbot.waitUntil(lambda: win.last_frame[0]["time"] > first["time"], timeout=10_000)
    second = win.last_frame[0]
    e0, e1 = first["observables"]["energy"], second["observables"]["energy"]
    z = 0.5 * (first["observables"]["enstrophy"] + second["observables"]["enstrophy"])
    rate = (e1 - e0) / (second["time"] - first["time"])
    assert rate == pytest.approx(-2 * 0.01 * z, rel=0.1)  # dE/dt = −2νZ with the new ν
    win.panel.editors["grid"].box.setValue(64)
    qtbot.waitUntil(lambda: "grid" in win.pending_label.text(), timeout=10_000)
    win.reset()
    qtbot.waitUntil(lambda: win.last_frame[1]["w"].shape == (64, 64), timeout=10_000)


def test_painting_sets_the_vorticity(qtbot, window):
    win = window
    win.set_running(False)
    qtbot.waitUntil(lambda: win.last_frame is not None and not win.last_frame[0]["running"], timeout=10_000)
    view = next(v for v in win.grid.views if v.spec.get("array") == "w")
    assert view.paint_enabled and win.brush_bar.isVisibleTo(win)
    win.brush_radius.setValue(6)
    win.brush_value.setValue(30.0)  # above the pair's peak |w| = 20
    win.brush_mode.setCurrentText("set")
    view.painted.emit("w", 20.0, 100.0)  # what a click at column 20, row 100 emits
    qtbot.waitUntil(lambda: float(win.last_frame[1]["w"][100, 20]) > 29.0, timeout=10_000)
    w = win.last_frame[1]["w"]
    assert np.unravel_index(np.argmax(w), w.shape) == (100, 20)  # the new vortex is the strongest
    assert abs(win.last_frame[0]["observables"]["mean_vorticity"]) < 1e-5


@pytest.fixture
def burgers_window(qtbot):
    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow

    from attractor_lab.engine.storage.presets import shipped_presets_dir

    engine = QtEngine(device="cpu")
    win = MainWindow(engine, preset_path=str(shipped_presets_dir() / "burgers_shock.toml"), fps=30)
    qtbot.addWidget(win)
    win.show()
    engine.start()
    with qtbot.waitSignal(win.model_loaded, timeout=60_000) as loaded:
        pass
    assert loaded.args == ["burgers"]
    yield win
    win.close()


def test_burgers_painting_on_the_kymograph_sets_u_and_the_grid_applies(qtbot, burgers_window):
    win = burgers_window
    win.set_running(False)
    qtbot.waitUntil(lambda: win.last_frame is not None and not win.last_frame[0]["running"], timeout=10_000)
    view = next(v for v in win.grid.views if v.spec.get("array") == "kymograph")
    assert view.paint_enabled and win.brush_bar.isVisibleTo(win)
    win.brush_radius.setValue(16)
    win.brush_value.setValue(-0.5)
    win.brush_mode.setCurrentText("set")
    view.painted.emit("kymograph", 256.0, 200.0)  # column 256 is x = π/2, where u was 1
    qtbot.waitUntil(lambda: abs(float(win.last_frame[1]["u"][256]) + 0.5) < 1e-3, timeout=10_000)
    assert win.last_frame[1]["kymograph"][-1][256] == pytest.approx(-0.5, abs=1e-3)  # newest row
    win.panel.editors["grid"].box.setValue(256)
    qtbot.waitUntil(lambda: "grid" in win.pending_label.text(), timeout=10_000)
    win.reset()
    qtbot.waitUntil(lambda: win.last_frame[1]["u"].shape == (256,), timeout=10_000)
