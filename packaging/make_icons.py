"""Draw Attractor Lab's icon: a Lorenz butterfly on a night-blue tile.

Writes ``packaging/icons/attractor-lab.svg`` (the scalable icon) and PNGs of
the freedesktop sizes, rendered from it by Qt's SVG renderer; the smallest
sizes come from a variant with a thicker, shorter curve so that they stay
legible. The files are committed; run this again only to change the design::

    .venv/bin/python packaging/make_icons.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ICONS = HERE / "icons"
NAME = "attractor-lab"
#: PNG sizes installed under hicolor/<N>x<N>/apps
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
SMALL = 32  # this size and below use the bolder variant


def lorenz(steps: int, dt: float = 0.005) -> np.ndarray:
    """A Lorenz trajectory (σ = 10, ρ = 28, β = 8/3) by RK4, past its transient."""
    def f(s):
        x, y, z = s
        return np.array([10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z])

    s = np.array([1.0, 1.0, 20.0])
    out = np.empty((steps, 3))
    for i in range(steps + 400):
        k1 = f(s)
        k2 = f(s + 0.5 * dt * k1)
        k3 = f(s + 0.5 * dt * k2)
        k4 = f(s + dt * k3)
        s = s + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        if i >= 400:
            out[i - 400] = s
    return out


def svg(steps: int, stroke: float, every: int) -> str:
    """The icon as SVG text: the x–z projection of a Lorenz trajectory in a 256 × 256 tile."""
    xyz = lorenz(steps)
    x, z = xyz[::every, 0], xyz[::every, 2]
    # fit the butterfly into the tile with a margin
    px = 128 + (x - 0.5 * (x.max() + x.min())) * (176 / (x.max() - x.min()))
    pz = 128 - (z - 0.5 * (z.max() + z.min())) * (150 / (z.max() - z.min()))
    path = "M" + " L".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, pz))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <title>Attractor Lab</title>
  <defs>
    <radialGradient id="tile" cx="50%" cy="40%" r="75%">
      <stop offset="0" stop-color="#24386b"/>
      <stop offset="1" stop-color="#0b1126"/>
    </radialGradient>
    <linearGradient id="curve" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#ffd36e"/>
      <stop offset="0.55" stop-color="#ff8a3d"/>
      <stop offset="1" stop-color="#e8455f"/>
    </linearGradient>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="48" ry="48" fill="url(#tile)"/>
  <path d="{path}" fill="none" stroke="url(#curve)" stroke-width="{stroke}" stroke-linejoin="round"
        stroke-linecap="round" opacity="0.95"/>
</svg>
"""


def render_png(svg_text: str, size: int, path: Path) -> None:
    """Render SVG text to a square PNG with Qt (no display needed)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtCore, QtGui, QtSvg

    _app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication(sys.argv[:1])  # noqa: F841
    renderer = QtSvg.QSvgRenderer(QtCore.QByteArray(svg_text.encode()))
    image = QtGui.QImage(size, size, QtGui.QImage.Format_ARGB32)
    image.fill(QtCore.Qt.transparent)
    painter = QtGui.QPainter(image)
    painter.setRenderHint(QtGui.QPainter.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(path), "PNG"):
        raise OSError(f"cannot write {path}")


def main() -> int:
    ICONS.mkdir(exist_ok=True)
    full = svg(steps=6000, stroke=3.2, every=3)
    small = svg(steps=1500, stroke=14.0, every=6)
    (ICONS / f"{NAME}.svg").write_text(full, encoding="utf-8")
    for size in PNG_SIZES:
        render_png(small if size <= SMALL else full, size, ICONS / f"{NAME}-{size}.png")
    print(f"wrote {ICONS / (NAME + '.svg')} and PNGs of {', '.join(map(str, PNG_SIZES))} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
