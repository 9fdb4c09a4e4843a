"""A still picture of a model's primary view, as PNG bytes (numpy + Pillow, no Qt).

This is what a ``Simulation`` shows in Jupyter (``_repr_png_``): the first view
the model declares with ``"role": "primary"`` whose ``shown_when`` holds for the
current parameters, drawn the way the window draws it — a field with its colour
map and levels (row 0 at the top; y up when the view has an extent, as in a
kymograph), a line plot of its series, or a phase portrait of its trajectories.
Colour maps come from matplotlib when it is installed, else from a few anchor
colours of the same maps. A model with no drawable primary view gets a card
listing its observables.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

#: longest side of a picture of a field (cells are scaled up by whole numbers towards it)
FIELD_SIDE = 384
PLOT_SIZE = (480, 320)
BACKGROUND = (20, 22, 26)
FOREGROUND = (216, 216, 216)
LINE_COLOURS = [(76, 201, 240), (247, 37, 133), (255, 190, 11), (131, 56, 236), (58, 134, 255), (6, 214, 160)]
#: anchor colours when matplotlib is not installed (its maps at 0, 0.25, 0.5, 0.75, 1)
_ANCHORS = {
    "viridis": ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"],
    "inferno": ["#000004", "#57106e", "#bc3754", "#f98e09", "#fcffa4"],
    "magma": ["#000004", "#51127c", "#b73779", "#fc8961", "#fcfdbf"],
    "RdBu": ["#67001f", "#f4a582", "#f7f7f7", "#92c5de", "#053061"],
    "gray": ["#000000", "#404040", "#808080", "#bfbfbf", "#ffffff"],
}


def colour_table(name: str | None) -> np.ndarray:
    """A (256, 3) uint8 lookup table for colour map ``name`` (viridis when unknown)."""
    name = name or "viridis"
    try:
        import matplotlib

        cmap = matplotlib.colormaps[name]
        return (cmap(np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    except (ImportError, KeyError):
        pass
    anchors = _ANCHORS.get(name, _ANCHORS["viridis"])
    rgb = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in anchors], float)
    x = np.linspace(0, 1, 256)
    at = np.linspace(0, 1, len(rgb))
    return np.stack([np.interp(x, at, rgb[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


def primary_view(views: list[dict], params: dict) -> dict | None:
    """The first primary view that applies to ``params`` (else the first view that applies)."""
    def applies(v):
        return all(params.get(name) in allowed for name, allowed in v.get("shown_when") or ())

    shown = [v for v in views if applies(v)]
    for v in shown:
        if v.get("role") == "primary" and v.get("kind") in ("image", "lines", "phase", "trajectory3d"):
            return v
    return next((v for v in shown if v.get("kind") in ("image", "lines", "phase")), None)


def field_levels(spec: dict, field: np.ndarray) -> tuple[float, float]:
    """The view's declared levels, else robust ones (1st–99th percentile; symmetric for
    signed fields and diverging maps), never a zero span."""
    levels = spec.get("levels")
    if levels is not None:
        return float(levels[0]), float(levels[1])
    finite = field[np.isfinite(field)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1, 99])
    if spec.get("symmetric") or spec.get("colormap") == "RdBu":
        m = max(abs(lo), abs(hi))
        lo, hi = -m, m
    span = max(hi - lo, float(spec.get("min_range", 0) or 0), 1e-12)
    mid = (hi + lo) / 2
    return float(mid - span / 2), float(mid + span / 2)


def render_field(spec: dict, field: np.ndarray) -> Image.Image:
    field = np.asarray(field, dtype=float)
    if field.ndim == 1:
        field = field[None, :]
    field = field.reshape(field.shape[0], -1)
    lo, hi = field_levels(spec, field)
    index = np.clip((np.nan_to_num(field, nan=lo) - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
    rgb = colour_table(spec.get("colormap"))[index]
    rgb[~np.isfinite(field)] = BACKGROUND  # not computed yet (a kymograph filling up): no colour
    if spec.get("extent") is not None:
        rgb = rgb[::-1]  # y up, as the window draws a field in the model's units
    image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    h, w = field.shape
    scale = max(1, FIELD_SIDE // max(h, w))
    if spec.get("aspect") in ("free", "auto") or spec.get("extent") is not None:
        size = (max(w * scale, 256), max(h * scale, 192))
    else:
        size = (w * scale, h * scale)
    return image.resize(size, Image.NEAREST)


class _Plot:
    """Polylines in a box with the data's range (no axes text: a thumbnail, not a figure)."""

    def __init__(self, curves: list[tuple[np.ndarray, np.ndarray, tuple]], logx=False, logy=False):
        self.curves = []
        for x, y, colour in curves:
            x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
            n = min(len(x), len(y))
            x, y = x[:n], y[:n]
            if logx:
                x = np.where(x > 0, np.log10(np.where(x > 0, x, 1)), np.nan)
            if logy:
                y = np.where(y > 0, np.log10(np.where(y > 0, y, 1)), np.nan)
            self.curves.append((x, y, colour))

    def draw(self) -> Image.Image:
        w, h = PLOT_SIZE
        image = Image.new("RGB", PLOT_SIZE, BACKGROUND)
        draw = ImageDraw.Draw(image)
        pad = 16
        draw.rectangle([pad - 1, pad - 1, w - pad, h - pad], outline=(90, 90, 90))
        xs = np.concatenate([c[0][np.isfinite(c[0]) & np.isfinite(c[1])] for c in self.curves] or [np.zeros(0)])
        ys = np.concatenate([c[1][np.isfinite(c[0]) & np.isfinite(c[1])] for c in self.curves] or [np.zeros(0)])
        if xs.size == 0:
            return image
        x0, x1 = xs.min(), xs.max()
        y0, y1 = ys.min(), ys.max()
        x1, y1 = max(x1, x0 + 1e-12), max(y1, y0 + 1e-12)
        for x, y, colour in self.curves:
            px = pad + (x - x0) / (x1 - x0) * (w - 2 * pad)
            py = h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad)
            ok = np.isfinite(px) & np.isfinite(py)
            # one polyline per run of finite points (a NaN breaks a curve, as in the window)
            breaks = np.flatnonzero(np.diff(ok.astype(int)) != 0) + 1
            for run_x, run_y, run_ok in zip(np.split(px, breaks), np.split(py, breaks), np.split(ok, breaks)):
                if run_ok.all() and len(run_x) >= 2:
                    draw.line(list(zip(run_x.tolist(), run_y.tolist())), fill=colour, width=2)
                elif run_ok.all() and len(run_x) == 1:
                    draw.ellipse([run_x[0] - 2, run_y[0] - 2, run_x[0] + 2, run_y[0] + 2], fill=colour)
        return image


def _colour(spec: dict, i: int) -> tuple:
    c = spec.get("color")
    if isinstance(c, str) and c.startswith("#") and len(c) == 7:
        return tuple(int(c[k:k + 2], 16) for k in (1, 3, 5))
    return LINE_COLOURS[i % len(LINE_COLOURS)]


def render_lines(spec: dict, state: dict) -> Image.Image:
    curves = []
    for i, s in enumerate(spec.get("series", [])):
        if s.get("x") in state and s.get("y") in state:
            curves.append((state[s["x"]], state[s["y"]], _colour(s, i)))
    return _Plot(curves, spec.get("logx", False), spec.get("logy", False)).draw()


def render_phase(spec: dict, state: dict) -> Image.Image:
    """Trajectories (arrays of shape (..., T, 2 or 3); a 3D one is drawn as its first and
    last coordinates, x against z) and fixed points."""
    curves = []
    entries = spec.get("trajectories") or ([{"array": spec["array"]}] if spec.get("array") else [])
    for i, t in enumerate(entries):
        a = state.get(t.get("array"))
        if a is None or a.ndim < 2 or a.shape[-1] < 2 or a.size == 0:
            continue
        for path in np.asarray(a, float).reshape(-1, a.shape[-2], a.shape[-1]):
            curves.append((path[:, 0], path[:, -1], _colour(t, i)))
    for f in spec.get("fixed_points", []):
        p = state.get(f.get("array"))
        if p is not None and p.ndim == 2 and p.shape[-1] >= 2:
            for x, y in np.asarray(p, float)[:, :2]:
                curves.append((np.array([x]), np.array([y]), FOREGROUND))
    return _Plot(curves).draw()


def render_card(name: str, observables: dict) -> Image.Image:
    image = Image.new("RGB", PLOT_SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    lines = [name] + [f"{k} = {v:.6g}" if isinstance(v, (int, float)) else f"{k} = {v}"
                      for k, v in list(observables.items())[:16]]
    for i, text in enumerate(lines):
        draw.text((12, 10 + 18 * i), text, fill=FOREGROUND)
    return image


def render_primary(describe: dict, params: dict, state: dict, observables: dict | None = None) -> Image.Image:
    """The picture of a model's primary view for its current ``state`` arrays."""
    spec = primary_view(describe.get("views", []), params)
    kind = spec.get("kind") if spec else None
    if kind == "image" and spec.get("array") in state:
        return render_field(spec, state[spec["array"]])
    if kind == "lines":
        return render_lines(spec, state)
    if kind in ("phase", "trajectory3d"):
        return render_phase(spec, state)
    return render_card(describe.get("name", "?"), observables or {})


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
