"""The notebook beside the window (issue 18): a second process attaches with ``al.connect()``,
sets a parameter the window's panel then shows, and steps the run the window shows."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from attractor_lab.engine.transport.client import EngineClient

pytestmark = pytest.mark.gui

NOTEBOOK = """
import json, sys
import attractor_lab as al
import time
sim = al.connect()
waiting = sim.set(F=0.0437, grid=40)
sim.step(40)                    # the window was running: its live loop pauses
paused_at = sim.steps
time.sleep(0.6)
still = sim.steps               # and stays paused
sim.step(40)
print(json.dumps({"file": str(sim.connection_file), "paused_at": paused_at, "still": still, "after": sim.steps,
                  "waiting": waiting, "torch": "torch" in sys.modules}))
sim.close()
"""


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTRACTOR_LAB_RUNTIME_DIR", str(tmp_path / "runtime"))
    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow

    engine = QtEngine(device="cpu")
    win = MainWindow(engine, fps=30)
    qtbot.addWidget(win)
    win.show()
    engine.start()
    qtbot.waitUntil(lambda: win.current is not None, timeout=90_000)
    win.load_model("gray_scott", {"grid": 48}, 3)
    qtbot.waitUntil(lambda: win.last_frame is not None and win.last_frame[1]["v"].shape == (48, 48) and
                    win.running, timeout=30_000)
    yield win
    win.close()


def test_a_notebook_sets_and_steps_the_run_the_window_shows(qtbot, window, tmp_path):
    win = window
    path = Path(win.engine.connection_file)
    assert path.parent == tmp_path / "runtime" and path.name.startswith("engine-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    undo_steps = win.undo_stack.count()

    proc = subprocess.Popen([sys.executable, "-c", NOTEBOOK], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ})
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=120_000)  # the window's loop runs meanwhile
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    result = json.loads(out.splitlines()[-1])
    assert result["file"] == str(path) and result["torch"] is False
    assert result["waiting"] == ["grid"]
    assert result["still"] == result["paused_at"]  # step() paused the window's live run
    assert result["after"] == result["paused_at"] + 40  # exactly 40 steps

    # the window shows what the notebook did: F in its panel, grid waiting for reset, paused
    qtbot.waitUntil(lambda: win.panel.values()["F"] == pytest.approx(0.0437), timeout=10_000)
    assert win.params["F"] == 0.0437
    qtbot.waitUntil(lambda: win.pending == {"grid": 40}, timeout=10_000)
    assert win.panel.values()["grid"] == 40 and "grid = 40" in win.pending_label.text()
    qtbot.waitUntil(lambda: not win.running, timeout=10_000)
    qtbot.waitUntil(lambda: win.last_frame[0]["step"] == result["after"], timeout=10_000)
    assert win.act_run.text() == "Run"
    assert win.undo_stack.count() == undo_steps  # another client's change is not the window's undo step
    # the window did not send the old value back: the engine keeps the notebook's
    qtbot.wait(500)
    probe = EngineClient.from_connection_file(path)
    try:
        assert probe.request("get_state")["params"]["F"] == 0.0437
    finally:
        probe.close()

    win.close()
    assert not path.exists()  # the engine removed its file when the window closed


def test_help_connect_from_python_shows_the_lines_to_paste(qtbot, window):
    from PySide6 import QtWidgets

    win = window
    help_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Help")
    assert [a.text() for a in help_menu.actions()][-2:] == ["Connect from Python…", "About Attractor Lab…"]
    win.act_connect.trigger()
    dialog = win.connect_dialog
    path = str(win.engine.connection_file)
    assert dialog.text == f"import attractor_lab as al\nsim = al.connect({path!r})"
    assert dialog.code.toPlainText() == dialog.text
    dialog.copy_button.click()
    assert QtWidgets.QApplication.clipboard().text() == dialog.text
    dialog.close()
