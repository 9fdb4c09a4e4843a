"""Where preset thumbnails are cached, and under which name (no torch, no Qt).

A thumbnail is a PNG rendered by the engine side (:mod:`engine.storage.thumbnails`,
``attractor-lab thumbnails``) from the state a preset produces. It is stored
in the user cache folder under a key made of the preset file's content and the
renderer's version, so an edited preset gets a new picture and an unchanged
one is rendered once. The preset browser (GUI process) only reads these files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: bump when the pictures change, so caches are rendered again
THUMBNAIL_VERSION = 2
#: side of the square thumbnails, in pixels
THUMBNAIL_SIZE = 160


def thumbnail_cache_dir() -> Path:
    """``$ATTRACTOR_LAB_CACHE_DIR/thumbnails``, else the platform's user cache folder's."""
    root = os.environ.get("ATTRACTOR_LAB_CACHE_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("attractor-lab", appauthor=False)
    return Path(root) / "thumbnails"


def thumbnail_key(preset: str | os.PathLike, size: int = THUMBNAIL_SIZE) -> str:
    """The cache key of a preset file: a hash of its bytes, the size and the renderer's version."""
    digest = hashlib.sha256(f"attractor-lab thumbnail v{THUMBNAIL_VERSION} {size}px\n".encode())
    with open(preset, "rb") as f:
        digest.update(f.read(1 << 21))
    return digest.hexdigest()[:32]


def thumbnail_path(preset: str | os.PathLike, cache: Path | None = None, size: int = THUMBNAIL_SIZE) -> Path:
    """Where the thumbnail of ``preset`` is (or will be) cached."""
    return (cache or thumbnail_cache_dir()) / f"{thumbnail_key(preset, size)}.png"
