"""``python -m engine --connection-file F``: start an engine process (no Qt)."""

import sys

from engine.server import main

if __name__ == "__main__":
    sys.exit(main())
