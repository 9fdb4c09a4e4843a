"""``python -m attractor_lab.engine --connection-file F``: start an engine process (no Qt)."""

import sys

from attractor_lab.engine.transport.server import main

if __name__ == "__main__":
    sys.exit(main())
