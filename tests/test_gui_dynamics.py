"""The window with a real engine running ode_system: clicks in the phase
portrait launch trajectories in the engine, the solver's counts on screen are
the engine's, sliders reach the live run."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):
    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow

    from attractor_lab.engine.storage.presets import shipped_presets_dir

    engine = QtEngine(device="cpu")
    # one trajectory, μ = 5, dt = 0.1
    win = MainWindow(engine, preset_path=str(shipped_presets_dir() / "ode_van_der_pol_relaxation.toml"), fps=30)
    qtbot.addWidget(win)
    win.show()
    engine.start()
    with qtbot.waitSignal(win.model_loaded, timeout=60_000) as loaded:
        pass
    assert loaded.args == ["ode_system"]
    yield win
    win.close()


def _wait_frames(qtbot, win, n=3, timeout=20_000):
    start = win._frames_drawn
    qtbot.waitUntil(lambda: win._frames_drawn >= start + n, timeout=timeout)


def _view(win, kind):
    return next(v for v in win.grid.views if v.spec["kind"] == kind)


def test_click_in_phase_portrait_launches_a_trajectory(qtbot, window):
    from PySide6 import QtCore
    from PySide6.QtTest import QTest

    win = window
    _wait_frames(qtbot, win)
    assert win.last_frame[1]["tails"].shape[0] == 1
    phase = _view(win, "phase")
    scene = phase.view_box.mapViewToScene(QtCore.QPointF(0.5, -1.5))
    pos = phase.plot.mapFromScene(scene)
    QTest.mouseClick(phase.plot.viewport(), QtCore.Qt.LeftButton, QtCore.Qt.NoModifier, pos)
    qtbot.waitUntil(lambda: win.last_frame[1]["tails"].shape[0] == 2, timeout=10_000)
    tail = win.last_frame[1]["tails"][1]
    first = tail[np.isfinite(tail).all(-1)][0]
    assert np.allclose(first, [0.5, -1.5], atol=0.1)  # it starts where we clicked (one pixel ≈ 0.02)
    assert win.last_frame[0]["observables"]["trajectories"] == 2


def test_solver_counts_on_screen_are_the_engines(qtbot, window):
    win = window
    _wait_frames(qtbot, win, 5)
    values = _view(win, "values")
    obs = win.last_frame[0]["observables"]
    shown = {k: values.value_text(k) for k in ("nfe", "accepted", "rejected")}
    assert shown == {k: str(int(obs[k])) for k in shown}
    n, a, r = (int(shown[k]) for k in ("nfe", "accepted", "rejected"))
    assert n == 2 + 6 * (a + r)


def test_slider_changes_the_live_run(qtbot, window):
    win = window
    _wait_frames(qtbot, win)
    win.panel.editors["mu"].box.setValue(3.0)
    qtbot.waitUntil(lambda: win.last_frame[0]["params"]["mu"] == 3.0, timeout=10_000)
    step = win.last_frame[0]["step"]
    _wait_frames(qtbot, win, 3)
    assert win.last_frame[0]["step"] > step  # still running
    grid = win.last_frame[1]
    # the arrows follow the new μ: v = μ (1 − x²) y − x on the grid
    gx, gy = np.meshgrid(grid["pp_x"], grid["pp_y"])
    assert np.allclose(grid["pp_v"], 3.0 * (1 - gx ** 2) * gy - gx)
