"""Open the real window, with its own engine process, for pytest-qt tests."""

from __future__ import annotations


def open_window(qtbot, timeout_ms: int = 60_000):
    """A shown MainWindow whose engine (CPU) has loaded its first model; returns (window, engine).
    The caller closes the window (which stops the engine)."""
    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow

    engine = QtEngine(device="cpu")
    win = MainWindow(engine, fps=30)
    qtbot.addWidget(win)
    win.show()
    engine.start()
    with qtbot.waitSignal(win.model_loaded, timeout=timeout_ms):
        pass
    return win, engine
