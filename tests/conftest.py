import os
import shutil

import pytest


# Engines started by tests (and their subprocesses) step eagerly: a background
# torch.compile would take a core for ~20 s in the middle of unrelated tests.
# tests/test_rd_*.py turn compiling on where they test it.
os.environ.setdefault("ATTRACTOR_LAB_COMPILE", "0")


@pytest.fixture(scope="module", autouse=True)
def _private_settings_per_module(tmp_path_factory):
    """Windows opened by tests keep their settings (layout, last model and preset, recent files)
    in a fresh folder, never in the user's, and render thumbnails into a temporary cache. A
    module-scoped window (set up before any function fixture) gets its module's folder, so it
    opens the default model whatever another module's window showed last."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTRACTOR_LAB_SETTINGS_DIR", str(tmp_path_factory.mktemp("settings")))
        mp.setenv("ATTRACTOR_LAB_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        # the windows' engines write their connection files here, not where a user's
        # al.connect() looks (a notebook open during a test run must not attach to a test window)
        runtime = tmp_path_factory.getbasetemp() / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        if not os.environ.get("ATTRACTOR_LAB_RUNTIME_DIR"):
            mp.setenv("ATTRACTOR_LAB_RUNTIME_DIR", str(runtime))
        yield


@pytest.fixture(autouse=True)
def _private_settings_per_test(tmp_path_factory, monkeypatch):
    """And a fresh settings folder for each test's own windows."""
    monkeypatch.setenv("ATTRACTOR_LAB_SETTINGS_DIR", str(tmp_path_factory.mktemp("settings")))


@pytest.fixture(autouse=True)
def _qt_objects_die_with_their_test(request):
    """After a test that used Qt (this teardown runs after its windows closed): deliver the
    pending deleteLater()s and collect Python's garbage now, so the wrappers of the test's Qt
    objects die here — not in a later test's random garbage collection, in the middle of its
    event loop (a native crash of an xdist worker, seen twice, in a test that switched models)."""
    yield
    import sys

    if "PySide6.QtWidgets" not in sys.modules or not {"qtbot", "qapp"} & set(request.fixturenames):
        return
    import gc

    from PySide6 import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance()
    if app is None:
        return
    for _ in range(2):
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
        app.processEvents()
        gc.collect()


def pytest_configure(config):
    # `make test` sets ATTRACTOR_LAB_REQUIRE_XVFB: pytest-xvfb silently does
    # nothing when Xvfb is missing, so the OpenGL tests would skip instead of run.
    if os.environ.get("ATTRACTOR_LAB_REQUIRE_XVFB") and shutil.which("Xvfb") is None:
        raise pytest.UsageError("Xvfb is not installed: OpenGL tests cannot run (apt-get install xvfb)")
