"""Movies (MP4, GIF) of a recorded field, coloured like the on-screen view.

Pure numpy + pyqtgraph colour maps + imageio: no Qt application is needed,
so the ``attractor-lab movie`` command and the window share this code.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

MOVIE_FORMATS = (".mp4", ".gif")
#: temporary files beside the target, as engine/files.py names them (widgets import nothing from engine)
_TEMP_PREFIX = ".tmp-attractor-"


def colorize(frames: np.ndarray, colormap: str = "viridis", levels=None) -> np.ndarray:
    """Map a stack of 2D fields (T, H, W) to RGB bytes (T, H, W, 3) with fixed levels.

    ``levels`` (lo, hi) default to the range over the whole stack, so colours
    mean the same value in every frame.
    """
    from attractor_lab.widgets.views import colormap as get_colormap  # pyqtgraph's maps, as on screen

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
    with nearest-neighbour pixels, so cells stay sharp. A GIF has exactly one frame
    per input frame.
    """
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
    # an exclusive temporary file (O_EXCL, unpredictable name: a planted symlink is never followed)
    fd, name = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".",
                                prefix=f"{_TEMP_PREFIX}{os.getpid()}-", suffix=f"-{path.name}")
    os.close(fd)
    tmp = Path(name)
    try:
        if suffix == ".mp4":
            _write_mp4(tmp, rgb, fps, scale, progress)
        else:
            _write_gif(tmp, rgb, fps, scale, progress)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _write_gif(path: Path, rgb: np.ndarray, fps: float, scale: int, progress) -> None:
    """One GIF frame per input frame: Pillow's own writer merges identical consecutive
    frames (a paused stretch of a run would shrink the movie), so frames are written
    one by one with its header and frame encoders, on one global palette."""
    from PIL import GifImagePlugin, Image

    palette, index_of = _global_palette(rgb)
    duration = max(20, int(round(1000.0 / fps / 10.0)) * 10)  # GIF counts hundredths of a second
    pal = palette.tobytes()
    first = Image.fromarray(_enlarge(index_of(rgb[0]), scale), "P")
    first.putpalette(pal)
    header, _ = GifImagePlugin.getheader(first, pal, {"duration": duration, "loop": 0})
    with open(path, "wb") as f:
        for part in header:
            f.write(part)
        f.write(b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")  # loop forever
        for frame in rgb:
            im = Image.fromarray(_enlarge(index_of(frame), scale), "P")
            im.putpalette(pal)
            for part in GifImagePlugin.getdata(im, duration=duration, disposal=1):
                f.write(part)
            if progress:
                progress(1)
        f.write(b";")


def _global_palette(rgb: np.ndarray):
    """A 256-colour palette for all frames and a function mapping a frame to its indices:
    exact when the movie has at most 256 colours (a colour map's), else quantised."""
    present = np.zeros(1 << 24, dtype=bool)
    for frame in rgb:
        present[_keys(frame)] = True
    colors = np.flatnonzero(present)
    if colors.size <= 256:
        lut = np.zeros(1 << 24, dtype=np.uint8)
        lut[colors] = np.arange(colors.size, dtype=np.uint8)
        palette = np.zeros((256, 3), dtype=np.uint8)
        palette[: colors.size] = np.stack([colors >> 16, (colors >> 8) & 255, colors & 255], axis=1)
        return palette, lambda frame: lut[_keys(frame)]
    from PIL import Image

    reference = Image.fromarray(np.ascontiguousarray(rgb[len(rgb) // 2])).quantize(256)
    palette = np.frombuffer(bytes(reference.getpalette()[:768]), dtype=np.uint8).reshape(-1, 3)
    palette = np.vstack([palette, np.zeros((256 - len(palette), 3), np.uint8)])
    return palette, lambda frame: np.asarray(Image.fromarray(np.ascontiguousarray(frame)).quantize(
        palette=reference, dither=Image.Dither.NONE))


def _keys(frame: np.ndarray) -> np.ndarray:
    f = frame.astype(np.int32)
    return (f[..., 0] << 16) | (f[..., 1] << 8) | f[..., 2]


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
