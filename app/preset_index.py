"""The presets on this machine (shipped and the user's) as plain data: file, model,
title and one-line description, read as TOML without validation (no torch, no Qt).

Loading a preset validates it; listing only reads what the menus and the
preset browser show, leaving out files that cannot be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from attractor_lab.engine.storage.presets import list_presets, preset_header, user_presets_dir


@dataclass(frozen=True)
class PresetEntry:
    path: Path
    model: str
    title: str
    description: str
    mine: bool  # saved by the user (their data folder), not shipped

    @property
    def name(self) -> str:
        """What ``attractor-lab NAME`` and ``run NAME`` accept."""
        return self.path.stem

    @property
    def summary(self) -> str:
        """The description's first sentence, on one line."""
        text = " ".join(self.description.split())
        for end in (". ", "; "):
            if end in text:
                text = text.split(end, 1)[0] + end.strip()
                break
        return text if len(text) <= 140 else text[:139].rstrip() + "…"


def read_entry(path: Path, mine_folder: Path | None = None) -> PresetEntry | None:
    """The entry of one preset file, or None when it cannot be read."""
    header = preset_header(path)
    if header is None:
        return None
    model, title, description = header
    mine_folder = user_presets_dir() if mine_folder is None else mine_folder
    return PresetEntry(path, model, title, description, path.parent == mine_folder)


def preset_entries(paths=None) -> list[PresetEntry]:
    """Entries of ``paths`` (default: every shipped and user preset), unreadable files left out."""
    mine = user_presets_dir()
    entries = (read_entry(Path(p), mine) for p in (list_presets() if paths is None else paths))
    return [e for e in entries if e is not None]
