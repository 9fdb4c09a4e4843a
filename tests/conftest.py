import os
import shutil

import pytest


# Engines started by tests (and their subprocesses) step eagerly: a background
# torch.compile would take a core for ~20 s in the middle of unrelated tests.
# tests/test_rd_*.py turn compiling on where they test it.
os.environ.setdefault("ATTRACTOR_LAB_COMPILE", "0")


@pytest.fixture(autouse=True)
def _private_settings_and_cache(tmp_path_factory, monkeypatch):
    """Windows opened by tests keep their settings (layout, last preset, recent files) in a
    fresh folder per test, never in the user's, and render thumbnails into a temporary cache."""
    monkeypatch.setenv("ATTRACTOR_LAB_SETTINGS_DIR", str(tmp_path_factory.mktemp("settings")))
    monkeypatch.setenv("ATTRACTOR_LAB_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def pytest_configure(config):
    # `make test` sets ATTRACTOR_LAB_REQUIRE_XVFB: pytest-xvfb silently does
    # nothing when Xvfb is missing, so the OpenGL tests would skip instead of run.
    if os.environ.get("ATTRACTOR_LAB_REQUIRE_XVFB") and shutil.which("Xvfb") is None:
        raise pytest.UsageError("Xvfb is not installed: OpenGL tests cannot run (apt-get install xvfb)")
