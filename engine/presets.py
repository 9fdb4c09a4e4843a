"""Presets: TOML files that say which model, with which parameters, seed and settings.

A preset is data only; loading one never executes code. Bad presets are
refused with a message naming the file, the key and what was expected.

Format (version 1)::

    format_version = 1
    model = "gray_scott"
    title = "Spots (Pearson α)"
    description = "..."
    seed = 0
    [params]            # validated against the model's declared parameters
    F = 0.035
    [run]               # fps (display rate), steps_per_frame (speed cap, 0 = none), steps (CLI default)
    fps = 30
    [view]              # free-form view settings (field shown, colour map, ...)
    field = "v"

This module imports neither torch nor Qt: the GUI validates presets against
the parameter declarations it received from the engine.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from engine.params import Param, validate_params
from engine.protocol import atomic_write_bytes

FORMAT_VERSION = 1
#: seeds shown and edited in the window are 31-bit; presets keep to the same range
MAX_SEED = 2**31 - 1
_TOP_KEYS = {"format_version", "model", "title", "description", "seed", "params", "run", "view"}
_RUN_KEYS = {
    "fps": Param("fps", "int", 30, 1, 240, help="display rate (frames/s)"),
    "steps_per_frame": Param("steps_per_frame", "int", 0, 0, 10_000_000,
                             help="at most this many steps between displayed frames (0: as fast as possible)"),
    "steps": Param("steps", "int", 1000, 0, 10**12, help="steps for a headless run"),
    "every": Param("every", "int", 1, 1, 10**9, help="record every K steps"),
}


class PresetError(ValueError):
    """A preset that cannot be used; the message names the file and the key."""


@dataclass
class Preset:
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    title: str = ""
    description: str = ""
    run: dict[str, Any] = field(default_factory=dict)
    view: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def to_dict(self) -> dict:
        d = {"format_version": FORMAT_VERSION, "model": self.model}
        if self.title:
            d["title"] = self.title
        if self.description:
            d["description"] = self.description
        d["seed"] = int(self.seed)
        d["params"] = dict(self.params)
        if self.run:
            d["run"] = dict(self.run)
        if self.view:
            d["view"] = dict(self.view)
        return d

    def dumps(self) -> str:
        return tomli_w.dumps(self.to_dict())


def _schemas_from_registry() -> dict[str, dict[str, Param]]:
    from engine import models  # imports torch: only in the engine or CLI process

    return {n: {p.name: p for p in models.get(n).params} for n in models.names()}


def schemas_from_descriptions(descriptions: dict[str, dict]) -> dict[str, dict[str, Param]]:
    """Parameter schemas from ``list_models`` replies (the GUI's view of the models)."""
    return {n: {p["name"]: Param.from_json(p) for p in d["params"]} for n, d in descriptions.items()}


def parse_preset(data: dict, where: str = "<preset>", schemas: dict[str, dict[str, Param]] | None = None) -> Preset:
    """Validate a preset's parsed TOML table and return a :class:`Preset`."""

    def fail(key: str, msg: str) -> PresetError:
        return PresetError(f"{where}: key {key!r}: {msg}")

    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown key; allowed top-level keys are {', '.join(sorted(_TOP_KEYS))}")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise fail("format_version", f"expected an integer from 1 to {FORMAT_VERSION}, got {version!r}")
    model = data.get("model")
    if schemas is None:
        schemas = _schemas_from_registry()
    if not isinstance(model, str) or model not in schemas:
        raise fail("model", f"expected one of {', '.join(sorted(schemas))}, got {model!r}")
    for key in ("title", "description"):
        if key in data and not isinstance(data[key], str):
            raise fail(key, f"expected a string, got {data[key]!r}")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise fail("seed", f"expected an integer from 0 to {MAX_SEED}, got {seed!r}")
    for table in ("params", "run", "view"):
        if table in data and not isinstance(data[table], dict):
            raise fail(table, "expected a table")
    try:
        params = validate_params(schemas[model], data.get("params", {}))
    except ValueError as exc:
        raise PresetError(f"{where}: [params] {exc}") from None
    try:
        run = validate_params(_RUN_KEYS, data.get("run", {}))
    except ValueError as exc:
        raise PresetError(f"{where}: [run] {exc}") from None
    view = data.get("view", {})
    for k, v in view.items():
        if not isinstance(v, (str, int, float, bool, list)):
            raise fail(f"view.{k}", f"expected a string, number, boolean or list, got {type(v).__name__}")
    return Preset(
        model=model,
        params=params,
        seed=seed,
        title=data.get("title", ""),
        description=data.get("description", ""),
        run=run,
        view=dict(view),
    )


def load_preset(path: str | os.PathLike, schemas: dict[str, dict[str, Param]] | None = None) -> Preset:
    """Read and validate a preset file.

    Raises
    ------
    PresetError
        With the file name, the key and what is allowed.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PresetError(f"{path}: cannot read preset: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PresetError(f"{path}: not valid TOML: {exc}") from None
    preset = parse_preset(data, where=str(path), schemas=schemas)
    preset.path = path
    return preset


def save_preset(preset: Preset, path: str | os.PathLike) -> Path:
    """Write ``preset`` as TOML, atomically."""
    path = Path(path)
    if path.suffix.lower() != ".toml":
        raise PresetError(f"{path}: presets are saved as .toml files")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, preset.dumps().encode())
    return path


def shipped_presets_dir() -> Path:
    """The ``presets/`` folder shipped with the source tree."""
    return Path(__file__).resolve().parent.parent / "presets"


def user_presets_dir() -> Path:
    """Where the user's own presets are saved (the platform's user data folder)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("attractor-lab", appauthor=False)) / "presets"


def list_presets() -> list[Path]:
    """Shipped presets, then the user's, sorted by name."""
    out = []
    for folder in (shipped_presets_dir(), user_presets_dir()):
        if folder.is_dir():
            out.extend(sorted(folder.glob("*.toml")))
    return out
