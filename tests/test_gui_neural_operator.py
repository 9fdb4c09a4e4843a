"""The window with a real engine running the neural-operator race (Burgers): the race views
render (kymographs, difference, section, error against rollout step, speed-up), the viscosity
slider reaches both sides (and leaves the trained range), the resolution applies at reset on
both sides, and painting on the operator's field restarts both from the painted field."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):
    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow

    from attractor_lab.engine.storage.presets import shipped_presets_dir

    engine = QtEngine(device="cpu")
    win = MainWindow(engine, preset_path=str(shipped_presets_dir() / "neural_operator_burgers_shock.toml"), fps=30)
    qtbot.addWidget(win)
    win.show()
    engine.start()
    with qtbot.waitSignal(win.model_loaded, timeout=60_000) as loaded:
        pass
    assert loaded.args == ["neural_operator"]
    yield win
    win.close()


def _wait_frames(qtbot, win, n=3, timeout=20_000):
    start = win._frames_drawn
    qtbot.waitUntil(lambda: win._frames_drawn >= start + n, timeout=timeout)


def _view(win, **match):
    return next(v for v in win.grid.views if all(v.spec.get(k) == val for k, val in match.items()))


def test_race_views_render_and_sliders_take_effect(qtbot, window):
    win = window
    qtbot.waitUntil(lambda: win.last_frame is not None and win.last_frame[0]["step"] >= 3, timeout=30_000)
    _wait_frames(qtbot, win)
    arrays = win.last_frame[1]
    for name in ("solver", "operator", "difference"):
        image = _view(win, kind="image", array=name).current_image()
        assert image is not None and image.shape == (128, 256)
        assert np.isfinite(image).any() and np.nanmax(np.abs(image)) > 0
    errors = next(v for v in win.grid.views if "rollout step" in v.spec.get("title", ""))
    drawn = {s["name"]: curve.getData() for s, curve in errors.curves}
    assert len(drawn["this race"][1]) == len(arrays["rollout_error"]) >= 4  # the error curve is drawn
    # a log axis: pyqtgraph holds log10 of the values
    assert drawn["this race"][1][-1] == pytest.approx(np.log10(arrays["rollout_error"][-1]))
    assert len(drawn["test error (card)"][1]) == 2
    section = next(v for v in win.grid.views if v.spec.get("title", "").startswith("section"))
    assert all(len(curve.getData()[1]) == 256 for _, curve in section.curves)
    obs = win.last_frame[0]["observables"]
    assert obs["speedup"] > 0 and obs["in_trained_range"] == 1
    # viscosity: a live change that leaves the trained range [0.01, 0.1]
    win.panel.editors["viscosity"].box.setValue(0.004)
    qtbot.waitUntil(lambda: win.last_frame[0]["params"]["viscosity"] == 0.004
                    and win.last_frame[0]["observables"]["in_trained_range"] == 0, timeout=10_000)
    # resolution: 2× the training grid on both sides after the reset
    win.panel.editors["resolution"].box.setValue(2.0)
    qtbot.waitUntil(lambda: "resolution" in win.pending_label.text(), timeout=10_000)
    win.reset()
    qtbot.waitUntil(lambda: win.last_frame[1]["solver_field"].shape == (512,)
                    and win.last_frame[1]["operator_field"].shape == (512,), timeout=20_000)
    assert win.last_frame[0]["observables"]["grid"] == 512


def test_painting_on_the_operator_sets_the_start_of_both(qtbot, window):
    win = window
    win.set_running(False)
    qtbot.waitUntil(lambda: win.last_frame is not None and not win.last_frame[0]["running"], timeout=10_000)
    view = _view(win, kind="image", array="operator")
    assert view.paint_enabled and win.brush_bar.isVisibleTo(win)
    win.brush_radius.setValue(12)
    win.brush_value.setValue(-0.8)
    win.brush_mode.setCurrentText("set")
    view.painted.emit("operator", 200.0, 50.0)  # what a click at column 200 emits
    qtbot.waitUntil(lambda: abs(float(win.last_frame[1]["solver_field"][200]) + 0.8) < 1e-3, timeout=10_000)
    arrays, obs = win.last_frame[1], win.last_frame[0]["observables"]
    np.testing.assert_array_equal(arrays["operator_field"], arrays["solver_field"])
    assert obs["rel_error"] == 0.0 and obs["steps_since_sync"] == 0
    assert arrays["solver"][-1][200] == pytest.approx(-0.8, abs=1e-3)  # the kymograph's newest row
    win.step_once()
    qtbot.waitUntil(lambda: win.last_frame[0]["observables"]["steps_since_sync"] == 1, timeout=10_000)
    assert 0 < win.last_frame[0]["observables"]["rel_error"] < 0.1
