import os
import shutil

import pytest


def pytest_configure(config):
    # `make test` sets ATTRACTOR_LAB_REQUIRE_XVFB: pytest-xvfb silently does
    # nothing when Xvfb is missing, so the OpenGL tests would skip instead of run.
    if os.environ.get("ATTRACTOR_LAB_REQUIRE_XVFB") and shutil.which("Xvfb") is None:
        raise pytest.UsageError("Xvfb is not installed: OpenGL tests cannot run (apt-get install xvfb)")
