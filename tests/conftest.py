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


def pytest_configure(config):
    # `make test` sets ATTRACTOR_LAB_REQUIRE_XVFB: pytest-xvfb silently does
    # nothing when Xvfb is missing, so the OpenGL tests would skip instead of run.
    if os.environ.get("ATTRACTOR_LAB_REQUIRE_XVFB") and shutil.which("Xvfb") is None:
        raise pytest.UsageError("Xvfb is not installed: OpenGL tests cannot run (apt-get install xvfb)")
