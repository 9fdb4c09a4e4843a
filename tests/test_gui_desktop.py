"""Everyday comforts of the window (pytest-qt, real engines): it remembers its layout and the last
preset across a restart, lists recent presets, resets on request; Help shows the shortcuts and an
About dialog with the versions, the device and the engine's address. Settings go to a temporary
folder (ATTRACTOR_LAB_SETTINGS_DIR, set for every test by conftest.py)."""

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attractor_lab.engine.storage.presets import shipped_presets_dir

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parent.parent


def _open_window(qtbot, preset=None):
    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow

    engine = QtEngine(device="cpu")
    win = MainWindow(engine, preset_path=preset, fps=30)
    qtbot.addWidget(win)
    win.show()
    engine.start()
    with qtbot.waitSignal(win.model_loaded, timeout=60_000) as loaded:
        pass
    return win, loaded.args[0]


def test_restart_restores_layout_and_last_preset(qtbot):
    from attractor_lab.app.settings import open_settings

    preset = shipped_presets_dir() / "hopfield_retrieval.toml"
    win, first = _open_window(qtbot)
    assert first == "gray_scott"  # a first start: the default model
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        assert win.load_preset_file(preset)
    fresh = (win.width(), win.height())
    screen = win.screen().availableGeometry()  # restoreGeometry fits the window into the screen (Xvfb: 800x600)
    win.resize(win.width(), screen.height() * 3 // 4 + 1)
    qtbot.waitUntil(lambda: (win.width(), win.height()) != fresh, timeout=5000)
    height = win.height()
    win.sweep_dock.show()  # a dock opened: part of the layout
    qtbot.waitUntil(lambda: win.sweep_dock.isVisible(), timeout=5000)
    win.close()
    assert Path(open_settings().fileName()).parent == Path(os.environ["ATTRACTOR_LAB_SETTINGS_DIR"])

    again, model = _open_window(qtbot)
    try:
        assert model == "hopfield"
        assert again.preset is not None and again.preset.path == preset.absolute()
        assert again.windowTitle() == f"Attractor Lab — {again.preset.title}"
        # the height (the width on an 800-pixel-wide Xvfb is pinned by the window's minimum width,
        # which depends on the model on screen)
        assert again.height() == height != fresh[1]
        assert again.sweep_dock.isVisible() and not again.preset_browser.isVisible()
        assert again.memory.recent("presets") == [str(preset.absolute())]
        again.memory._fill_recent_presets()
        assert [a.text() for a in again.memory.recent_presets_menu.actions()][0] == preset.name
        # a model chosen by hand (no preset) is what the next start opens
        idx = again.model_combo.findData("burgers")
        with qtbot.waitSignal(again.model_loaded, timeout=60_000):
            again.model_combo.setCurrentIndex(idx)
            again._on_model_chosen(idx)
    finally:
        again.close()
    third, model = _open_window(qtbot)
    try:
        assert model == "burgers" and third.preset is None
    finally:
        third.close()


def test_reset_settings_starts_afresh(qtbot, tmp_path):
    """``--reset-settings`` forgets the last preset: the window opens the default model."""
    from attractor_lab.app.settings import open_settings

    settings = open_settings()
    settings.setValue("session/preset", str(shipped_presets_dir() / "hopfield_retrieval.toml"))
    settings.setValue("session/model", "hopfield")
    settings.sync()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ATTRACTOR_LAB_3D": "off"}
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "--reset-settings", "--smoke-test", "3", "--device", "cpu"],
                       capture_output=True, text=True, timeout=180, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["model"] == "gray_scott" and report["preset"] is None
    assert "settings reset" in r.stderr
    settings.sync()
    assert settings.value("session/model") == "gray_scott"  # what this run showed, not the old value


def test_help_lists_shortcuts_and_about_names_versions_device_and_address(qtbot):
    from PySide6 import QtCore

    win, _ = _open_window(qtbot)
    try:
        qtbot.waitUntil(lambda: bool(win.engine.info), timeout=10_000)
        help_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Help")
        actions = {a.text(): a for a in help_menu.actions()}
        actions["Keyboard shortcuts…"].trigger()
        table = win.shortcuts_dialog.table
        rows = {table.item(i, 0).text(): table.item(i, 1).text() for i in range(table.rowCount())}
        for keys in ("Space", "R", "Ctrl+O", "Ctrl+S", "Ctrl+E", "Esc", "Ctrl+B", "F1"):
            assert keys in rows, (keys, rows)
        assert rows["Ctrl+O"].startswith("Open preset") and "Preset browser" in rows["Ctrl+B"]

        actions["About Attractor Lab…"].trigger()
        about = dict(win.about_dialog.rows)
        from attractor_lab.engine import __version__

        assert about["Attractor Lab"] == __version__
        assert about["Qt"] == QtCore.qVersion()
        assert about["torch"] == importlib.metadata.version("torch")  # told by the engine; no torch here
        assert about["Device"].startswith(win.engine.info["device_description"])
        port = win.engine.client.info["command_port"]
        assert about["Engine address"] == f"tcp://127.0.0.1:{port} (local, pid {win.engine.proc.pid})"
        assert "Engine address: tcp://" in win.about_dialog.text()
        win.about_dialog.close()
    finally:
        win.close()


def test_application_identity():
    from PySide6 import QtWidgets

    from attractor_lab.app.settings import configure_application

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    configure_application(app)
    assert app.organizationName() == "attractor-lab" and app.applicationName() == "attractor-lab"
    assert app.applicationDisplayName() == "Attractor Lab"
    assert app.desktopFileName() == "org.attractorlab.AttractorLab"
    assert sorted(s.width() for s in app.windowIcon().availableSizes()) == [16, 24, 32, 48, 64, 128, 256, 512]
