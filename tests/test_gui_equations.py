"""The equation editor dock with a real engine (pytest-qt): errors shown as they are typed,
Apply runs the system with its declared sliders, Ctrl+Z brings the previous equations back,
XPPAUT .ode files open through File → Open, the custom models are in the model box."""

from __future__ import annotations

import pytest

from attractor_lab.engine.storage.presets import shipped_presets_dir
from tests.gui_helpers import open_window

pytestmark = pytest.mark.gui

VDP = ["# typed in the dock", "dx/dt = y", "dy/dt = mu*(1 - x^2)*y - x", "par mu = 1.5 [0, 10]", "init x = 2, y = 0"]
RAYLEIGH = ("# Rayleigh's oscillator\ndx/dt = y\ndy/dt = eps*(y - y^3/3) - x\n"
            "par eps = 0.5 [0, 2]\ninit x = 1, y = 0\n")


@pytest.fixture
def window(qtbot, monkeypatch):
    from PySide6 import QtWidgets

    dialogs = []  # no message box may open: errors belong in the dock
    for name in ("warning", "critical", "information", "question"):
        monkeypatch.setattr(QtWidgets.QMessageBox, name, lambda *a, n=name: dialogs.append((n, a[2])))
    win, engine = open_window(qtbot)
    win.dialogs = dialogs
    yield win
    win.close()
    assert engine.proc is None


def _type(qtbot, editor, lines) -> None:
    """Type ``lines`` into ``editor`` key by key, as a user does (Return between lines)."""
    from PySide6 import QtCore

    editor.setFocus()
    editor.selectAll()
    qtbot.keyClick(editor, QtCore.Qt.Key_Delete)
    for i, line in enumerate(lines):
        if i:
            qtbot.keyClick(editor, QtCore.Qt.Key_Return)
        qtbot.keyClicks(editor, line)


def _slider(win, name):
    row = win.panel.editors[name]
    return row.lo, row.hi, row.value()


def test_typing_an_error_shows_line_and_column_without_a_dialog(qtbot, window):
    win = window
    dock = win.equation_dock
    win.show_equations()
    qtbot.waitUntil(lambda: dock.isVisible())
    _type(qtbot, dock.editor, ["dx/dt = y", "dy/dt = sinn(x)"])
    # checked as typed (after a short pause), not on Apply: nothing else is pressed
    qtbot.waitUntil(lambda: "line 2, col 9" in dock.error_label.text(), timeout=5_000)
    assert "unknown function 'sinn'" in dock.error_label.text()
    assert not dock.apply_button.isEnabled()
    assert dock.editor.error_line == 2
    # Ctrl+Return does nothing while the text has an error
    before = win.current["name"]
    qtbot.keyClick(dock.editor, "\r", modifier=_ctrl())
    qtbot.wait(300)
    assert win.current["name"] == before == "gray_scott"
    # a fix clears the error and offers Apply
    _type(qtbot, dock.editor, ["dx/dt = y", "dy/dt = sin(x)"])
    qtbot.waitUntil(lambda: dock.apply_button.isEnabled(), timeout=5_000)
    assert dock.editor.error_line == 0 and "line" not in dock.error_label.text()
    # a one-variable system and a parameter named like the model's own are refused too
    _type(qtbot, dock.editor, ["dx/dt = -x"])
    qtbot.waitUntil(lambda: "at least two variables" in dock.error_label.text(), timeout=5_000)
    _type(qtbot, dock.editor, ["dx/dt = y", "dy/dt = -x", "par solver = 1"])
    qtbot.waitUntil(lambda: "line 3, col 1: parameter 'solver' clashes" in dock.error_label.text(), timeout=5_000)
    assert not dock.apply_button.isEnabled()
    assert win.dialogs == []


def _ctrl():
    from PySide6 import QtCore

    return QtCore.Qt.ControlModifier


def test_apply_runs_the_system_with_its_sliders_and_undo_restores_the_equations(qtbot, window):
    from PySide6 import QtCore, QtGui

    win = window
    dock = win.equation_dock
    win.show_equations()
    _type(qtbot, dock.editor, VDP)
    qtbot.waitUntil(lambda: dock.apply_button.isEnabled(), timeout=5_000)
    assert "sliders: mu [0, 10]" in dock.error_label.text()
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        qtbot.keyClick(dock.editor, QtCore.Qt.Key_Return, modifier=_ctrl())  # Apply
    assert win.current["name"] == "custom_ode"
    assert _slider(win, "mu") == (0.0, 10.0, 1.5)  # the declared range and value
    assert win.params["equations"] == "\n".join(VDP)
    # it runs: frames of the typed system arrive
    qtbot.waitUntil(lambda: win.last_frame is not None and win.last_frame[0]["model"] == "custom_ode"
                    and win.last_frame[0]["params"].get("mu") == 1.5 and win.last_frame[0]["step"] > 0,
                    timeout=30_000)
    assert win.running
    # a slider moved, then new equations applied in place: new sliders, the old ones gone
    win.panel.editors["mu"].box.setValue(3.0)
    qtbot.waitUntil(lambda: win.params.get("mu") == 3.0, timeout=10_000)
    dock.editor.setPlainText(RAYLEIGH)
    dock.check_now()
    assert dock.apply_button.isEnabled()
    dock.apply_button.click()
    qtbot.waitUntil(lambda: "eps" in win.panel.editors, timeout=30_000)
    assert "mu" not in win.panel.editors and _slider(win, "eps") == (0.0, 2.0, 0.5)
    qtbot.waitUntil(lambda: win.last_frame[0]["params"].get("eps") == 0.5, timeout=30_000)
    assert win.undo_stack.undoText() == "equations"
    assert win.dialogs == []
    # Edit → Undo (Ctrl+Z; an inactive test window gets no shortcuts, so the action is
    # triggered): the previous equations in the editor and the model, mu as it was
    assert QtGui.QKeySequence("Ctrl+Z") in win.act_undo.shortcuts()
    win.act_undo.trigger()
    qtbot.waitUntil(lambda: "mu" in win.panel.editors and win.params.get("mu") == 3.0, timeout=30_000)
    assert dock.editor.toPlainText() == "\n".join(VDP) == win.params["equations"]
    assert "eps" not in win.panel.editors and _slider(win, "mu") == (0.0, 10.0, 3.0)
    qtbot.waitUntil(lambda: win.last_frame[0]["params"].get("mu") == 3.0, timeout=30_000)
    # redo runs Rayleigh's again; undo: Van der Pol with mu = 3, then mu = 1.5, then the built-in model
    win.act_redo.trigger()
    qtbot.waitUntil(lambda: "eps" in win.panel.editors, timeout=30_000)
    assert dock.editor.toPlainText() == RAYLEIGH
    win.act_undo.trigger()
    qtbot.waitUntil(lambda: "mu" in win.panel.editors and win.params.get("mu") == 3.0, timeout=30_000)
    win.act_undo.trigger()
    qtbot.waitUntil(lambda: win.params.get("mu") == 1.5, timeout=30_000)
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        win.act_undo.trigger()
    assert win.current["name"] == "gray_scott" and "equations" not in win.params
    assert win.dialogs == []


def test_the_equations_row_of_the_panel_opens_the_editor(qtbot, window):
    win = window
    index = win.model_combo.findData("custom_ode")
    assert index >= 0 and win.model_combo.findData("custom_rd") >= 0  # in the model box like the others
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        win.model_combo.activated.emit(index)
    assert win.current["name"] == "custom_ode"
    dock = win.equation_dock
    assert dock.isVisible() and dock.model() == "custom_ode"  # shown for a custom model
    assert dock.editor.toPlainText() == win.params["equations"] and "dx/dt" in dock.editor.toPlainText()
    # the typed system's sliders come first, under its equations, then the model's own settings
    assert list(win.panel.editors)[:3] == ["equations", "mu", "solver"]
    button = win.panel.editors["equations"]  # a button, not a check box
    win.param_dock.raise_()
    button.click()
    qtbot.waitUntil(lambda: not dock.visibleRegion().isEmpty())  # the editor's tab in front
    assert win.param_dock.visibleRegion().isEmpty()
    # a reset the engine refuses (a reason only a run finds): said in the dock, no dialog, the
    # refused text withdrawn, the sliders and the undo stack as they were
    sent, real = [], win.engine.request

    def request(verb, content=None, on_reply=None, on_error=None, **kw):
        sent.append((verb, content))
        if verb == "reset":
            on_error("steady state not found (test)")
            return None
        return real(verb, content, on_reply, on_error, **kw)

    old, steps = win.params["equations"], win.undo_stack.count()
    win.engine.request = request
    try:
        dock.editor.setPlainText(old.replace("y - x", "y - x + c") + "par c = 0.1 [0, 1]\n")
        dock.check_now()
        dock.apply()
        qtbot.waitUntil(lambda: "not applied: steady state not found" in dock.error_label.text(), timeout=10_000)
    finally:
        win.engine.request = real
    assert ("set_params", {"params": {"equations": old}}) in sent
    assert "c" not in win.panel.editors and win.undo_stack.count() == steps and win.dialogs == []
    assert dock.applied == old and dock.revert_button.isEnabled()
    # the menus: the custom presets under a family of their own
    win.presets_menu.aboutToShow.emit()
    assert "Your own equations" in [a.text() for a in win.presets_menu.actions()]
    # a built-in model again: the dock that showed itself goes
    index = win.model_combo.findData("gray_scott")
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        win.model_combo.activated.emit(index)
    assert not dock.isVisible()


def test_file_open_accepts_an_xppaut_ode_file(qtbot, window, monkeypatch):
    from PySide6 import QtWidgets

    win = window
    path = shipped_presets_dir() / "ode" / "lotka_volterra.ode"
    asked = []

    def choose(parent, caption, folder, filters):
        asked.append(filters)
        return str(path), filters.split(";;")[0]

    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", choose)
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        win.act_open.trigger()  # File → Open
    assert "*.ode" in asked[0].split(";;")[0]
    assert win.current["name"] == "custom_ode"
    text = path.read_text()
    assert win.params["equations"] == text == win.equation_dock.editor.toPlainText()
    assert win.preset is not None and win.preset.path == path
    declared = [ln for ln in text.splitlines() if ln.startswith("par")]
    assert declared and all(name in win.panel.editors for name in ("a", "b", "g", "d"))
    qtbot.waitUntil(lambda: win.last_frame is not None and win.last_frame[0]["model"] == "custom_ode"
                    and win.last_frame[0]["step"] > 0, timeout=30_000)
    assert win.dialogs == []
