"""Movies (MP4, GIF) of a recorded field, coloured like the on-screen view.

Pure numpy + pyqtgraph colour maps + imageio: no Qt application is needed,
so the ``attractor-lab movie`` command and the window share this code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

MOVIE_FORMATS = (".mp4", ".gif")


def colorize(frames: np.ndarray, colormap: str = "viridis", levels=None) -> np.ndarray:
    """Map a stack of 2D fields (T, H, W) to RGB bytes (T, H, W, 3) with fixed levels.

    ``levels`` (lo, hi) default to the range over the whole stack, so colours
    mean the same value in every frame.
    """
    from widgets.views import colormap as get_colormap  # pyqtgraph's maps, as on screen

    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 3:
        raise ValueError(f"a movie needs a stack of 2D fields (T, H, W), not shape {frames.shape}")
    if levels is None:
        finite = frames[np.isfinite(frames)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    else:
        lo, hi = float(levels[0]), float(levels[1])
    if not hi > lo:
        hi = lo + 1.0
    lut = get_colormap(colormap).getLookupTable(0.0, 1.0, 256, alpha=False).astype(np.uint8)
    idx = np.clip((np.nan_to_num(frames, nan=lo) - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    return lut[idx]


def write_movie(path: str | os.PathLike, rgb: np.ndarray, fps: float = 30.0, scale: int | None = None,
                progress: Callable[[int], None] | None = None) -> Path:
    """Write RGB frames (T, H, W, 3) as MP4 (H.264, via imageio-ffmpeg) or GIF, atomically.

    Small fields are enlarged by an integer ``scale`` (default: up to ~512 px)
    with nearest-neighbour pixels, so cells stay sharp.
    """
    import imageio.v3 as iio

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MOVIE_FORMATS:
        raise ValueError(f"cannot write a movie as {path.name!r}: use {' or '.join(MOVIE_FORMATS)}")
    if rgb.ndim != 4 or rgb.shape[-1] != 3 or len(rgb) == 0:
        raise ValueError(f"expected RGB frames (T, H, W, 3), not shape {rgb.shape}")
    if not 0 < fps <= 240:
        raise ValueError(f"fps must be in (0, 240], not {fps}")
    if scale is None:
        scale = max(1, 512 // max(rgb.shape[1:3]))
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        if suffix == ".mp4":
            _write_mp4(tmp, rgb, fps, scale, progress)
        else:
            frames = [_enlarge(f, scale) for f in rgb]
            iio.imwrite(tmp, frames, extension=".gif", duration=1000.0 / fps, loop=0)
            if progress:
                progress(len(frames))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _enlarge(frame: np.ndarray, scale: int) -> np.ndarray:
    return frame if scale == 1 else np.repeat(np.repeat(frame, scale, 0), scale, 1)


def _write_mp4(path: Path, rgb: np.ndarray, fps: float, scale: int, progress) -> None:
    import imageio_ffmpeg

    h, w = rgb.shape[1] * scale, rgb.shape[2] * scale
    # H.264 with yuv420p needs even sides: pad by one edge row/column if odd
    ph, pw = h % 2, w % 2
    writer = imageio_ffmpeg.write_frames(str(path), (w + pw, h + ph), fps=fps, codec="libx264",
                                         pix_fmt_out="yuv420p", quality=8, macro_block_size=1,
                                         output_params=["-f", "mp4"])
    writer.send(None)
    try:
        for i, frame in enumerate(rgb):
            f = _enlarge(frame, scale)
            if ph or pw:
                f = np.pad(f, ((0, ph), (0, pw), (0, 0)), mode="edge")
            writer.send(np.ascontiguousarray(f))
            if progress:
                progress(1)
    finally:
        writer.close()
