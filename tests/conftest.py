import os
import shutil

import pytest


# Engines started by tests (and their subprocesses) step eagerly: a background
# torch.compile would take a core for ~20 s in the middle of unrelated tests.
# tests/test_rd_*.py turn compiling on where they test it.
os.environ.setdefault("ATTRACTOR_LAB_COMPILE", "0")


def pytest_configure(config):
    # `make test` sets ATTRACTOR_LAB_REQUIRE_XVFB: pytest-xvfb silently does
    # nothing when Xvfb is missing, so the OpenGL tests would skip instead of run.
    if os.environ.get("ATTRACTOR_LAB_REQUIRE_XVFB") and shutil.which("Xvfb") is None:
        raise pytest.UsageError("Xvfb is not installed: OpenGL tests cannot run (apt-get install xvfb)")
