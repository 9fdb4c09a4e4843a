"""Entry point of the PyInstaller bundle: one executable serves the window, the engine and every
command (``attractor-lab``, ``attractor-lab engine …``, ``attractor-lab run …``; see app/launch.py)."""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # children of the bundle (Dask's local workers) start through it
    # torch.compile needs a C compiler and Python's headers, which a bundle does not carry: eager kernels
    os.environ.setdefault("ATTRACTOR_LAB_COMPILE", "0")
    from attractor_lab.app.cli import main

    sys.exit(main())
