"""The live loop keeps the user's work: focus after dialogs, no type-ahead on the model box,
undo and redo, a question before a switch loses changes, files named and placed as expected."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from tests.gui_helpers import open_window

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):
    win, engine = open_window(qtbot)
    yield win
    win.close()


def _frames(qtbot, win, n=3):
    start = win._frames_drawn
    qtbot.waitUntil(lambda: win._frames_drawn >= start + n, timeout=20_000)


def _close_next_dialog(qtbot, button=None):
    """Answer the next modal dialog (accept, or press ``button``) from a timer."""
    def answer():
        dialog = QtWidgets.QApplication.activeModalWidget()
        if dialog is None:
            QtCore.QTimer.singleShot(20, answer)
            return
        if button is not None and isinstance(dialog, QtWidgets.QMessageBox):
            dialog.button(button).click()
        elif isinstance(dialog, QtWidgets.QDialog):
            dialog.reject()
    QtCore.QTimer.singleShot(50, answer)


def test_after_dialogs_shortcuts_work_and_typing_changes_no_model(qtbot, window, monkeypatch):
    win = window
    _frames(qtbot, win)
    model = win.current["name"]
    # a save dialog (a real modal dialog, cancelled from a timer), then the keyboard focus is
    # back in the window, not in whatever box had it before
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *a, **k: (QtWidgets.QDialog(win).exec(), ("", ""))[1])
    _close_next_dialog(qtbot)
    path = win.ask_save_path("figures", "Export view", win.default_path("figures", ".png", "v"), "PNG (*.png)")
    assert path == ""
    qtbot.waitUntil(lambda: win.grid.hasFocus() or win.grid.isAncestorOf(QtWidgets.QApplication.focusWidget()),
                    timeout=3000)
    # the model box had the focus: letters typed into it must not switch the model
    win.model_combo.setFocus()
    qtbot.keyClicks(win.model_combo, "mbn")
    qtbot.wait(300)
    assert win.current["name"] == model and win.model_combo.currentData() == model
    # Ctrl+R starts recording whatever has the focus (the dialog for K answered from a timer)
    monkeypatch.setattr(QtWidgets.QInputDialog, "getInt", lambda *a, **k: (5, True))
    win.panel.setFocus()
    qtbot.keyClick(win.panel, QtCore.Qt.Key_R, QtCore.Qt.ControlModifier)
    qtbot.waitUntil(lambda: win.recording, timeout=5000)


def test_undo_restores_a_dragged_parameter_and_redo_repeats_it(qtbot, window):
    win = window
    _frames(qtbot, win)
    box = win.panel.editors["F"].box
    before = box.value()
    for value in (0.031, 0.035, 0.040, 0.045):  # one drag: steps closer than MERGE_SECONDS
        box.setValue(value)
    assert win.modified()
    qtbot.waitUntil(lambda: win.params.get("F") == pytest.approx(0.045), timeout=5000)
    win.act_undo.trigger()  # the whole drag is one step
    assert box.value() == pytest.approx(before)
    qtbot.waitUntil(lambda: win.params.get("F") == pytest.approx(before), timeout=5000)
    win.act_redo.trigger()
    assert box.value() == pytest.approx(0.045)
    qtbot.waitUntil(lambda: win.params.get("F") == pytest.approx(0.045), timeout=5000)


def test_undo_takes_back_a_painted_stroke(qtbot, window):
    win = window
    win.set_running(False)
    _frames(qtbot, win, 1)
    qtbot.wait(300)
    before = np.array(win.current_field("v"), copy=True)
    for x in (20.0, 22.0, 24.0):  # one stroke
        win._on_paint("v", x, 30.0)
    win.engine.request("step", {"n": 1})
    qtbot.waitUntil(lambda: not np.allclose(win.current_field("v"), before, atol=1e-3), timeout=10_000)
    assert win.undo_stack.count() == 1  # one stroke, one step
    win.act_undo.trigger()
    win.engine.request("step", {"n": 0})
    qtbot.waitUntil(lambda: np.abs(win.current_field("v") - before).max() < 0.05, timeout=10_000)


def test_switching_preset_with_changes_asks_and_undo_brings_the_run_back(qtbot, window, monkeypatch):
    from attractor_lab.engine.storage.presets import shipped_presets_dir

    win = window
    _frames(qtbot, win)
    asked = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "question",
                        lambda *a, **k: (asked.append(a[2]), QtWidgets.QMessageBox.Cancel)[1])
    win.panel.editors["F"].box.setValue(0.05)
    assert not win.load_preset_file(shipped_presets_dir() / "hopfield_retrieval.toml")  # asked, kept
    assert asked and win.current["name"] == "gray_scott"
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: QtWidgets.QMessageBox.Yes)
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        assert win.load_preset_file(shipped_presets_dir() / "hopfield_retrieval.toml")
    assert win.current["name"] == "hopfield" and not win.modified()
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        win.act_undo.trigger()  # the previous run's model and parameters come back
    assert win.current["name"] == "gray_scott" and win.params["F"] == pytest.approx(0.05)


def test_default_file_names_and_folders(qtbot, window, tmp_path):
    win = window
    path = win.default_path("figures", ".png", "Rates tanh(x): 128 units × time")
    name = path.rsplit("/", 1)[-1]
    assert name.startswith("gray_scott-rates_tanh_x_128_units_time-") and name.endswith(".png")
    assert " " not in name and ":" not in name
    win.memory.settings.setValue("folders/figures", str(tmp_path))
    assert win.default_path("figures", ".png").startswith(str(tmp_path))


def test_saved_trajectory_keeps_the_preset_title_and_interval(qtbot, window, tmp_path, monkeypatch):
    """Record from the window (a snapshot every 5 steps), save through File → Save trajectory:
    the file says the preset's title and the interval asked, states and theory apart."""
    from attractor_lab.engine.storage.presets import shipped_presets_dir
    from attractor_lab.engine.storage.recorder import load_trajectory, trajectory_metadata

    win = window
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        assert win.load_preset_file(shipped_presets_dir() / "gray_scott_spots.toml")
    monkeypatch.setattr(QtWidgets.QInputDialog, "getInt", lambda *a, **k: (5, True))
    win.act_record.setChecked(True)
    win.toggle_record()
    _frames(qtbot, win, 10)
    target = tmp_path / "run.h5"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "HDF5 (*.h5)"))
    win.save_trajectory()
    qtbot.waitUntil(target.exists, timeout=30_000)
    data = load_trajectory(target)
    meta = trajectory_metadata(data)
    assert meta["every"] == 5 and meta["title"] == win.preset.title
    assert any(k.startswith("state/") for k in data) and any(k.startswith("theory/") for k in data)
    assert win.memory.settings.value("folders/trajectories") == str(tmp_path)
