"""Thumbnails of presets, rendered headless from the state each one produces.

The preset's model is created on the CPU with its parameters and seed, stepped
for a short time budget (at least one step; never past the preset's contract
or run length), and its main picture is drawn with numpy and Pillow (no Qt):

* an image field — the preset's ``view.field``, else the model's first image
  view — in the view's colour map and levels;
* else a phase portrait — the vector field as faint strokes, trajectories,
  fixed points coloured by stability — or a 3D trajectory's (x, z) projection.

``attractor-lab thumbnails`` renders them into the user cache folder
(:mod:`engine.storage.thumbnail_cache`); the preset browser shows them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from attractor_lab.engine.storage.thumbnail_cache import THUMBNAIL_SIZE, thumbnail_path

#: (position, RGB) control points of the colour maps the models' views use; others map to viridis
_COLORMAPS = {
    "viridis": [(0.0, (68, 1, 84)), (0.125, (71, 44, 122)), (0.25, (59, 81, 139)), (0.375, (44, 113, 142)),
                (0.5, (33, 144, 141)), (0.625, (39, 173, 129)), (0.75, (92, 200, 99)), (0.875, (170, 220, 50)),
                (1.0, (253, 231, 37))],
    "RdBu": [(0.0, (103, 0, 31)), (0.1, (178, 24, 43)), (0.2, (214, 96, 77)), (0.3, (244, 165, 130)),
             (0.4, (253, 219, 199)), (0.5, (247, 247, 247)), (0.6, (209, 229, 240)), (0.7, (146, 197, 222)),
             (0.8, (67, 147, 195)), (0.9, (33, 102, 172)), (1.0, (5, 48, 97))],
    "gray": [(0.0, (0, 0, 0)), (1.0, (255, 255, 255))],
}
_BACKGROUND = (16, 22, 38)
_FIELD_COLOR = (110, 130, 170)
_TRAJECTORY_COLORS = [(76, 201, 240), (247, 37, 133), (255, 209, 102), (6, 214, 160), (248, 150, 30)]
#: fixed-point stability codes (as the phase view colours them)
_STABILITY_COLORS = {0: (6, 214, 160), 1: (255, 59, 48), 2: (255, 209, 102), 3: (199, 125, 255)}


def lookup_table(name: str) -> np.ndarray:
    """A (256, 3) uint8 table of colour map ``name`` (matplotlib's spelling; ``_r`` reverses)."""
    reverse = name.endswith("_r")
    points = _COLORMAPS.get(name.removesuffix("_r"), _COLORMAPS["viridis"])
    pos = np.array([p for p, _ in points])
    rgb = np.array([c for _, c in points], dtype=float)
    x = np.linspace(0.0, 1.0, 256)
    table = np.stack([np.interp(x, pos, rgb[:, i]) for i in range(3)], axis=1).round().astype(np.uint8)
    return table[::-1] if reverse else table


def colorize(field: np.ndarray, colormap: str = "viridis", levels=None) -> np.ndarray:
    """A 2D field as RGB bytes: fixed ``levels`` if given, else the field's range
    (symmetric about 0 for diverging maps)."""
    a = np.asarray(field, dtype=np.float64)
    finite = a[np.isfinite(a)]
    if levels is not None:
        lo, hi = float(levels[0]), float(levels[1])
    elif finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        if colormap.removesuffix("_r") == "RdBu":
            m = max(abs(lo), abs(hi))
            lo, hi = -m, m
    else:
        lo, hi = 0.0, 1.0
    if not hi > lo:
        lo, hi = lo - 0.5, lo + 0.5
    idx = np.clip((np.nan_to_num(a, nan=lo) - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    return lookup_table(colormap)[idx]


def _image_picture(rgb: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(rgb)
    small = max(rgb.shape[:2]) < size  # cells stay sharp when enlarged
    return np.asarray(img.resize((size, size), Image.NEAREST if small else Image.BILINEAR))


def _filled_part(a: np.ndarray) -> np.ndarray:
    """The rows and columns of a 2D field that hold any finite value (a kymograph fills
    row by row: its empty rows are NaN); the whole field when none does."""
    rows, cols = np.isfinite(a).any(axis=1), np.isfinite(a).any(axis=0)
    return a[rows][:, cols] if rows.any() else a


def _finite_rows(a: np.ndarray) -> np.ndarray:
    return a[np.all(np.isfinite(a), axis=-1)]


def draw_portrait(fields: list[tuple], trajectories: list[np.ndarray], fixed_points: list[tuple],
                  size: int = THUMBNAIL_SIZE, bounds: tuple | None = None) -> np.ndarray:
    """A phase portrait as RGB bytes (size, size, 3).

    ``fields``: (x (nx,), y (ny,), u (ny, nx), v (ny, nx)); ``trajectories``: arrays
    (..., T, 2), NaN where absent; ``fixed_points``: (positions (K, 2), codes (K,)).
    ``bounds`` (xmin, xmax, ymin, ymax) defaults to the first field's grid, else the data.
    """
    from PIL import Image, ImageDraw

    scale = 3  # drawn large, then reduced: smooth lines
    side = size * scale
    img = Image.new("RGB", (side, side), _BACKGROUND)
    draw = ImageDraw.Draw(img)
    paths = [t.reshape(-1, t.shape[-2], 2) for t in trajectories if t.ndim >= 2 and t.shape[-1] == 2 and t.size]
    if bounds is None:
        grid = next(((x, y) for x, y, _, _ in fields if len(x) > 1 and len(y) > 1), None)
        if grid is not None:
            bounds = (float(grid[0].min()), float(grid[0].max()), float(grid[1].min()), float(grid[1].max()))
        else:
            pts = [_finite_rows(p.reshape(-1, 2)) for p in paths] + [_finite_rows(np.asarray(f, float).reshape(-1, 2))
                                                                    for f, _ in fixed_points]
            pts = np.concatenate([p for p in pts if len(p)] or [np.zeros((1, 2))])
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            pad = 0.08 * np.maximum(hi - lo, 1e-9)
            bounds = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
    x0, x1, y0, y1 = bounds
    if not (x1 > x0 and y1 > y0):
        x0, x1, y0, y1 = x0 - 1, x0 + 1, y0 - 1, y0 + 1

    def to_px(xy: np.ndarray) -> np.ndarray:
        px = (xy[..., 0] - x0) / (x1 - x0) * (side - 1)
        py = (1.0 - (xy[..., 1] - y0) / (y1 - y0)) * (side - 1)
        return np.stack([px, py], axis=-1)

    for x, y, u, v in fields:
        if len(x) < 2 or len(y) < 2:
            continue
        cell = min((x1 - x0) / len(x), (y1 - y0) / len(y)) * 0.4
        speed = np.hypot(u, v)
        top = float(np.nanmax(speed)) if np.isfinite(speed).any() else 0.0
        for i, yi in enumerate(y):
            for j, xj in enumerate(x):
                s = speed[i, j]
                if not np.isfinite(s) or s == 0 or top == 0:
                    continue
                d = np.array([u[i, j], v[i, j]]) / s * cell
                a, b = to_px(np.array([[xj - d[0], yi - d[1]], [xj + d[0], yi + d[1]]]))
                shade = 0.35 + 0.65 * math.sqrt(s / top)
                color = tuple(int(_BACKGROUND[k] + shade * (_FIELD_COLOR[k] - _BACKGROUND[k])) for k in range(3))
                draw.line([tuple(a), tuple(b)], fill=color, width=scale)
    for n, batch in enumerate(paths):
        color = _TRAJECTORY_COLORS[n % len(_TRAJECTORY_COLORS)]
        for path in batch:
            pts = to_px(_finite_rows(path))
            if len(pts) > 1:
                draw.line([tuple(p) for p in pts], fill=color, width=2 * scale, joint="curve")
    for positions, codes in fixed_points:
        positions = np.asarray(positions, float).reshape(-1, 2)
        codes = np.asarray(codes).reshape(-1)
        for (px, py), code in zip(to_px(positions), codes):
            r = 3.5 * scale
            draw.ellipse([px - r, py - r, px + r, py + r], fill=_STABILITY_COLORS.get(int(code), (154, 154, 154)))
    return np.asarray(img.resize((size, size), Image.LANCZOS))


def picture(views: Iterable[dict], state: dict[str, np.ndarray], field: str | None = None,
            size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """The main picture of a state (RGB, size × size) as :mod:`engine.storage.thumbnails` describes."""
    views = list(views)
    images = [v for v in views if v.get("kind") in ("image", "surface")]
    spec = next((v for v in images if v.get("array") == field), None) if field else None
    if spec is None and field and np.ndim(state.get(field)) == 2:
        spec = {"array": field}
    if spec is None:
        spec = next((v for v in images if v.get("kind") == "image" and np.ndim(state.get(v.get("array"))) == 2), None)
    if spec is not None:
        field_values = _filled_part(np.asarray(state[spec["array"]], dtype=np.float64))
        rgb = colorize(field_values, spec.get("colormap", "viridis"), spec.get("levels"))
        rgb[~np.isfinite(field_values)] = _BACKGROUND
        return _image_picture(rgb, size)
    for v in views:
        if v.get("kind") == "phase":
            fields = [tuple(np.asarray(state[f[k]], float) for k in ("x", "y", "u", "v")) for f in v.get("fields", [])
                      if all(f.get(k) in state for k in ("x", "y", "u", "v"))]
            trajectories = [np.asarray(state[t["array"]], float) for t in v.get("trajectories", [])
                            if t.get("array") in state]
            fixed = [(state[f["array"]], state[f["kinds"]]) for f in v.get("fixed_points", [])
                     if f.get("array") in state and f.get("kinds") in state]
            if any(len(f[0]) > 1 for f in fields) or any(np.isfinite(t).any() for t in trajectories if t.size):
                bounds = None
                if v.get("xlim") and v.get("ylim"):
                    bounds = (*v["xlim"], *v["ylim"])
                return draw_portrait(fields, trajectories, fixed, size, bounds)
        if v.get("kind") == "trajectory3d" and v.get("array") in state:
            t = np.asarray(state[v["array"]], float)
            if t.ndim >= 2 and t.shape[-1] == 3 and np.isfinite(t).any():
                return draw_portrait([], [t[..., [0, 2]]], [], size)
    flat = next((a for a in state.values() if np.ndim(a) == 2 and min(np.shape(a)) > 1), None)
    if flat is not None:
        return _image_picture(colorize(flat), size)
    return np.full((size, size, 3), _BACKGROUND, dtype=np.uint8)


def render_preset(path: str | Path, size: int = THUMBNAIL_SIZE, budget_s: float = 2.0,
                  device: str = "cpu") -> np.ndarray:
    """Create the preset's model, step it for about ``budget_s`` seconds (at least one
    step; never past its contract's or run's length) and draw its main picture."""
    from attractor_lab.engine.api import create
    from attractor_lab.engine.models.base import SimulationDiverged
    from attractor_lab.engine.storage.presets import load_preset

    preset = load_preset(path)
    sim = create(preset.model, seed=preset.seed, device=device, **preset.params)
    limit = preset.contract.steps if preset.contract is not None else preset.run.get("steps", 10**9)
    start, done, chunk = time.perf_counter(), 0, 1
    try:
        while done < max(1, limit):
            n = min(chunk, max(1, limit) - done)
            sim.step(n)
            done += n
            spent = time.perf_counter() - start
            if spent >= budget_s:
                break
            per_step = spent / done
            chunk = max(1, min(4 * chunk, int(0.5 * (budget_s - spent) / max(per_step, 1e-9))))
    except SimulationDiverged:
        pass  # the model kept its last good state: draw that
    return picture(type(sim.model).views, sim.state(), preset.view.get("field"), size)


def write_png(rgb: np.ndarray, path: Path) -> Path:
    """Write RGB bytes as PNG, atomically (temporary file beside it, then rename)."""
    import os

    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    try:
        Image.fromarray(rgb).save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def render_thumbnails(presets: Iterable[Path], cache: Path, size: int = THUMBNAIL_SIZE, budget_s: float = 2.0,
                      force: bool = False, device: str = "cpu",
                      report: Callable[[dict], None] | None = None) -> tuple[int, int]:
    """Render the thumbnails of ``presets`` that ``cache`` lacks (all with ``force``);
    ``report`` gets one dict per preset (``preset``, ``thumbnail`` or ``error``, ``seconds``,
    ``cached``). Returns (rendered or found, failed)."""
    ok = failed = 0
    for preset in presets:
        t0 = time.perf_counter()
        entry: dict = {"preset": str(preset)}
        try:
            target = thumbnail_path(preset, cache, size)
            entry["thumbnail"] = str(target)
            entry["cached"] = target.is_file() and not force
            if not entry["cached"]:
                write_png(render_preset(preset, size, budget_s, device), target)
            ok += 1
        except Exception as exc:  # one bad preset must not stop the others; its error is reported
            entry.pop("thumbnail", None)
            entry["error"] = f"{type(exc).__name__}: {exc}"
            failed += 1
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        if report is not None:
            report(entry)
    return ok, failed
