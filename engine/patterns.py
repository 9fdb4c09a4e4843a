"""Pattern sources for the associative memories: random, glyphs, user images.

Glyphs are rendered with Pillow's built-in scalable font (no Qt in the
engine); user images are read with Pillow, resized to a square and either
binarised (±1, threshold at the median so each pattern is half on, half off)
or kept greyscale in [−1, 1] for the modern network.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: characters available as glyph patterns, most distinct first
GLYPHS = "AXOTHLZ7K4S2EV8MN3W9FP5YC6RUJ0GDQB1I" + "abdefghkmnpqrstuwxyz"


def max_glyphs() -> int:
    """How many distinct glyph patterns :func:`glyph_patterns` can render."""
    return len(GLYPHS)


def render_glyph(char: str, side: int) -> np.ndarray:
    """Greyscale rendering of one character, shape (side, side), ink = 1, paper = 0."""
    if side < 4:
        raise ValueError(f"glyph side must be >= 4 pixels, not {side}")
    # draw large then resize: small FreeType sizes hint badly
    big = max(side, 64)
    img = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=int(big * 0.85))
    left, top, right, bottom = draw.textbbox((0, 0), char, font=font)
    x = (big - (right - left)) / 2 - left
    y = (big - (bottom - top)) / 2 - top
    draw.text((x, y), char, fill=255, font=font)
    # a thicker stroke makes the glyph closer to half the pixels
    draw.text((x, y), char, fill=255, font=font, stroke_width=max(1, big // 24), stroke_fill=255)
    if big != side:
        img = img.resize((side, side), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.float32) / 255.0


def glyph_patterns(count: int, side: int, binary: bool = True) -> np.ndarray:
    """The first ``count`` glyphs of :data:`GLYPHS` as flattened patterns.

    Returns an array (count, side*side): ±1 when ``binary`` (ink = +1),
    otherwise greyscale in [−1, 1].
    """
    if not 1 <= count <= len(GLYPHS):
        raise ValueError(f"glyph patterns: count must be in [1, {len(GLYPHS)}], not {count}")
    out = np.empty((count, side * side), dtype=np.float32)
    for k in range(count):
        g = render_glyph(GLYPHS[k], side).ravel()
        out[k] = np.where(g > 0.5, 1.0, -1.0) if binary else 2.0 * g - 1.0
    return out


def load_image_patterns(paths: Sequence[str | os.PathLike], side: int, binary: bool = True) -> np.ndarray:
    """Read images as patterns of ``side``×``side`` pixels.

    Parameters
    ----------
    paths : sequence of path-like
        Image files Pillow can read (PNG, JPEG, …).
    side : int
        Pixels per side after resizing (N = side²).
    binary : bool
        True: ±1, thresholded at each image's median so patterns are balanced
        (bright = +1). False: greyscale scaled to [−1, 1].

    Returns
    -------
    ndarray, shape (len(paths), side*side), float32

    Raises
    ------
    ValueError
        If no path is given, ``side`` is too small, or a file cannot be read
        as an image (the message names the file).
    """
    if len(paths) == 0:
        raise ValueError("load_image_patterns: no image paths given")
    if side < 4:
        raise ValueError(f"load_image_patterns: side must be >= 4 pixels, not {side}")
    out = np.empty((len(paths), side * side), dtype=np.float32)
    for k, path in enumerate(paths):
        try:
            with Image.open(path) as img:
                grey = img.convert("L").resize((side, side), Image.Resampling.LANCZOS)
        except (OSError, ValueError) as exc:
            raise ValueError(f"load_image_patterns: cannot read {os.fspath(path)!r} as an image: {exc}") from None
        a = np.asarray(grey, dtype=np.float32).ravel() / 255.0
        if binary:
            out[k] = np.where(a > np.median(a), 1.0, -1.0)
        else:
            span = a.max() - a.min()
            out[k] = 2.0 * (a - a.min()) / span - 1.0 if span > 0 else 0.0
    return out


def square_shape(n: int) -> tuple[int, int]:
    """Display shape for n pixels: (s, s) when n = s², else the most square factorisation."""
    s = int(round(n**0.5))
    if s * s == n:
        return s, s
    for rows in range(int(n**0.5), 0, -1):
        if n % rows == 0:
            return rows, n // rows
    return 1, n
