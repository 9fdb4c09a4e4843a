"""Where the shipped data lies: presets, sweeps and operator checkpoints (no torch, no Qt).

Installed from a wheel (or a PyInstaller bundle: setup.py and
packaging/attractor-lab.spec copy them there) they are inside the package, in
``attractor_lab/engine/_shipped_presets``; in a source checkout they are the
repository's ``presets/`` folder. Found from the ``attractor_lab.engine``
package itself, so the answer does not depend on which subpackage asks: models
(operator checkpoints), storage (presets) and sweeps all read it.
"""

from __future__ import annotations

from pathlib import Path


def shipped_presets_dir() -> Path:
    """The shipped presets: inside the package when installed, else the source tree's ``presets/``."""
    from attractor_lab import engine  # the package itself (its __init__ loads nothing heavy)

    here = Path(engine.__file__).resolve().parent
    packaged = here / "_shipped_presets"
    return packaged if packaged.is_dir() else here.parent / "presets"
