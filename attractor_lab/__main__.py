"""``python -m attractor_lab``: the same as the ``attractor-lab`` command."""

import sys

from attractor_lab.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
