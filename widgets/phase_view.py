"""A 2D phase portrait (pyqtgraph): vector fields, trajectories, fixed points.

Spec (every ``ARR`` names an array of the frame; a missing one is skipped)::

    {"kind": "phase", "title": str, "xlabel": str, "ylabel": str,
     "fields": [{"x": ARR, "y": ARR, "u": ARR, "v": ARR, "name": str, "color": optional}],
     "trajectories": [{"array": ARR, "name": str, "color": optional, "style": "dash" optional}],
     "fixed_points": [{"array": ARR, "kinds": ARR, "name": str, "symbol": optional}],
     "nullclines": [{"array": ARR, "name": str, "name_text": TEXT optional, "color": optional}],
     "nullclines_shown": bool,       # optional: whether they start shown (default True)
     "xlabel_text": TEXT, "ylabel_text": TEXT,   # optional: texts that replace xlabel / ylabel
     "click": "launch",              # optional: left clicks emit clicked("launch", x, y)
     "xlim": [lo, hi], "ylim": [lo, hi]}   # optional: a fixed initial range

* ``fields``: grid coordinates ``x`` (nx,) and ``y`` (ny,), components ``u``
  and ``v`` (ny, nx) (``u[i, j]`` is the x-component at ``(x[j], y[i])``).
  Drawn as arrows centred on the grid points, ``ARROW_LENGTH`` of a grid cell
  long, pointing along ``(u, v)``; the speed ``|(u, v)|`` shows as opacity
  (square root of the speed over the fastest arrow's, in ``SPEED_LEVELS``
  steps: faint = slow). Each field has its own colour.
* ``trajectories``: ``(B, T, 2)`` or ``(T, 2)``, NaN where absent (padded
  tails). Every trajectory of an entry is drawn in the entry's colour,
  connecting finite points, with a marker at its last finite point.
* ``fixed_points``: positions ``(K, 2)`` and integer stability codes ``(K,)``:
  0 stable (every Re λ < 0), 1 unstable (every Re λ > 0), 2 saddle,
  3 marginal / centre; other codes are grey. Stable points are filled, all
  others open rings (pplane's convention), in their stability's colour; the
  key names the colours.
* ``nullclines``: polylines ``(P, 2)`` with NaN rows between pieces (the
  model contours its field when its parameters change; the view only draws).
  The first entry is the x-nullcline (ẋ = 0), the second the y-nullcline,
  in ``NULLCLINE_COLORS``; the key lists them by name (``name_text``: a key of
  the model's texts that replaces ``name``). "Show nullclines" in the plot's
  context menu hides and shows them.
* ``xlabel_text`` / ``ylabel_text``: keys of the model's texts (sent with the
  frames) naming the axes, e.g. the variables of a typed system.

The view range is the first field's grid (re-ranged when the grid changes);
trajectories never rescale it. Without fields (or with ``xlim``/``ylim``) the
first frame's data (or the declared limits) set it once.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from attractor_lab.widgets.view_base import PALETTE, PlotView, add_legend

#: Stability code → (label, colour) of fixed-point markers.
STABILITY = {
    0: ("stable", "#06d6a0"),
    1: ("unstable", "#ff3b30"),
    2: ("saddle", "#ffd166"),
    3: ("marginal / centre", "#c77dff"),
}
UNKNOWN_STABILITY_COLOR = "#9a9a9a"
FIELD_COLORS = ["#a9c6e8", "#f72585", "#ffd166", "#06d6a0"]
#: x-nullcline, y-nullcline: orange and lavender, apart in hue and lightness from the arrows (pale
#: blue), the trajectories (cyan first) and the fixed points' stability colours
NULLCLINE_COLORS = ["#ff9f1c", "#b388ff"]
NULLCLINE_WIDTH = 2.0
FIXED_POINT_SYMBOLS = ["o", "s", "d", "t"]
#: Arrow length as a fraction of a grid cell; head length as a fraction of the arrow; head half-angle.
ARROW_LENGTH = 0.8
HEAD_LENGTH = 0.3
HEAD_ANGLE = math.radians(25.0)
#: Opacity steps for the speed (one line item per step, so a frame is a few setData calls).
SPEED_LEVELS = 5


def _spacing(c: np.ndarray) -> float:
    """Grid spacing of coordinates ``c`` (1 for a single point or a degenerate grid)."""
    if c.size > 1:
        d = abs(float(c[-1] - c[0])) / (c.size - 1)
        if math.isfinite(d) and d > 0:
            return d
    return 1.0


def arrow_segments(x, y, u, v) -> tuple[np.ndarray, np.ndarray]:
    """Arrows for the field ``(u, v)`` on the grid ``x`` × ``y``.

    Directions are normalised in grid-cell units, so an arrow fits its cell
    whatever the axes' scales, and its shaft in data coordinates stays
    parallel to ``(u, v)``. Points where the field is zero or not finite get
    no arrow.

    Returns
    -------
    points : ndarray, shape (n, 6, 2)
        Per arrow three segments as point pairs: the shaft (tail → tip), then
        the two sides of the head (tip → barb).
    speed : ndarray, shape (n,)
        ``|(u, v)|`` of each arrow.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if u.shape != (y.size, x.size) or v.shape != u.shape:
        raise ValueError(f"a field needs u and v of shape (ny, nx) = ({y.size}, {x.size}); "
                         f"got {u.shape} and {v.shape}")
    dx, dy = _spacing(x), _spacing(y)
    gx, gy = np.meshgrid(x, y)
    cell_u, cell_v = u / dx, v / dy
    with np.errstate(invalid="ignore", over="ignore"):
        norm = np.hypot(cell_u, cell_v)
    ok = np.isfinite(norm) & (norm > 0)
    ex, ey = cell_u[ok] / norm[ok], cell_v[ok] / norm[ok]  # unit direction, in cells
    cx, cy = gx[ok], gy[ok]
    half = 0.5 * ARROW_LENGTH
    tail = np.stack([cx - half * ex * dx, cy - half * ey * dy], axis=-1)
    tip = np.stack([cx + half * ex * dx, cy + half * ey * dy], axis=-1)
    head = HEAD_LENGTH * ARROW_LENGTH
    cos, sin = math.cos(HEAD_ANGLE), math.sin(HEAD_ANGLE)
    barbs = []
    for s in (sin, -sin):  # the backward direction turned by ±HEAD_ANGLE
        bx, by = -(cos * ex - s * ey), -(s * ex + cos * ey)
        barbs.append(np.stack([tip[:, 0] + head * bx * dx, tip[:, 1] + head * by * dy], axis=-1))
    points = np.stack([tail, tip, tip, barbs[0], tip, barbs[1]], axis=1)
    return points, np.hypot(u, v)[ok]


def speed_levels(speed: np.ndarray, levels: int = SPEED_LEVELS) -> np.ndarray:
    """Opacity step (0 … levels − 1) of each speed: √(speed / max speed), binned."""
    top = float(speed.max()) if speed.size else 0.0
    if not top > 0:
        return np.zeros(speed.shape, dtype=np.intp)
    return np.minimum((np.sqrt(speed / top) * levels).astype(np.intp), levels - 1)


def _alpha(level: int) -> float:
    return 0.2 + 0.8 * (level + 1) / SPEED_LEVELS


def marker_style(code: int) -> tuple[QtGui.QBrush, QtGui.QPen]:
    """(brush, pen) of a fixed point of stability ``code``: stable filled (white rim), every
    other kind an open ring in its colour (a thick pen, no fill)."""
    color = STABILITY.get(int(code), (None, UNKNOWN_STABILITY_COLOR))[1]
    if int(code) == 0:
        return pg.mkBrush(color), pg.mkPen("w", width=1.5)
    return pg.mkBrush(0, 0, 0, 0), pg.mkPen(color, width=2.5)


def last_finite(traj: np.ndarray) -> np.ndarray:
    """The last finite point of each trajectory of ``traj`` (B, T, 2); trajectories with none are left out."""
    finite = np.isfinite(traj).all(-1)
    has = np.flatnonzero(finite.any(1))
    last = traj.shape[1] - 1 - np.argmax(finite[has, ::-1], axis=1)
    return traj[has, last]


class PhaseView(PlotView):
    """A phase portrait; see the module docstring for the spec."""

    #: target (the spec's ``click``), x, y in data coordinates
    clicked = QtCore.Signal(str, float, float)

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        item = self.plot.getPlotItem()
        self.view_box = item.getViewBox()
        self.legend = add_legend(self.plot)
        self.plot.setLabel("bottom", spec.get("xlabel", "x"))
        self.plot.setLabel("left", spec.get("ylabel", "y"))
        self.plot.disableAutoRange()
        self.click_target = spec.get("click")
        fields, trajectories, fixed = (list(spec.get(k, [])) for k in ("fields", "trajectories", "fixed_points"))
        bounded = not fields  # with a field, only the grid counts for the range (and the 'A' button)

        self.field_items: list[list[pg.PlotDataItem]] = []
        self._field_inputs: list[tuple | None] = [None] * len(fields)
        for i, f in enumerate(fields):
            base = pg.mkColor(f.get("color", FIELD_COLORS[i % len(FIELD_COLORS)]))
            items = []
            for level in range(SPEED_LEVELS):
                color = QtGui.QColor(base)
                color.setAlphaF(_alpha(level))
                line = pg.PlotDataItem([], [], pen=pg.mkPen(color, width=1), connect="pairs")
                item.addItem(line)
                items.append(line)
            self.field_items.append(items)

        self.nullcline_items: list[pg.PlotDataItem] = []
        self.nullcline_names: list[str] = []
        for i, nc in enumerate(spec.get("nullclines", [])):
            color = nc.get("color", NULLCLINE_COLORS[i % len(NULLCLINE_COLORS)])
            curve = pg.PlotDataItem([], [], pen=pg.mkPen(color, width=NULLCLINE_WIDTH), connect="finite")
            curve.setZValue(3)  # above the arrows, under trajectories and fixed points
            item.addItem(curve, ignoreBounds=not bounded)
            self.nullcline_items.append(curve)
            self.nullcline_names.append(nc.get("name", "nullcline"))
        self.nullclines_action = None
        if self.nullcline_items:
            self.nullclines_action = item.vb.menu.addAction("Show nullclines")
            self.nullclines_action.setCheckable(True)
            self.nullclines_action.setChecked(bool(spec.get("nullclines_shown", True)))
            self.nullclines_action.toggled.connect(self.set_nullclines_shown)
        self._texts: dict = {}

        self.trajectory_items: list[tuple[pg.PlotDataItem, pg.ScatterPlotItem]] = []
        for i, t in enumerate(trajectories):
            color = t.get("color", PALETTE[i % len(PALETTE)])
            style = QtCore.Qt.DashLine if t.get("style") == "dash" else QtCore.Qt.SolidLine
            curve = pg.PlotDataItem([], [], pen=pg.mkPen(color, width=1, style=style), connect="finite")
            heads = pg.ScatterPlotItem(size=8, brush=pg.mkBrush(color), pen=pg.mkPen("w", width=1), symbol="o")
            curve.setZValue(5)
            heads.setZValue(6)
            item.addItem(curve, ignoreBounds=not bounded)
            item.addItem(heads, ignoreBounds=not bounded)
            self.trajectory_items.append((curve, heads))

        self._styles = {code: marker_style(code) for code in STABILITY}
        self._unknown_style = marker_style(-1)
        self.fixed_items: list[pg.ScatterPlotItem] = []
        for i, fp in enumerate(fixed):
            symbol = fp.get("symbol", FIXED_POINT_SYMBOLS[i % len(FIXED_POINT_SYMBOLS)])
            points = pg.ScatterPlotItem(size=13, symbol=symbol, pen=pg.mkPen("w", width=1.5), hoverable=True,
                                        hoverSize=15,
                                        tip=lambda x, y, data, n=fp.get("name", "fixed point"):
                                        f"{n}: {data}\nx = {x:.4g}, y = {y:.4g}")
            points.setZValue(10)
            item.addItem(points, ignoreBounds=not bounded)
            self.fixed_items.append(points)
            if len(fixed) > 1 and fp.get("name"):  # which marker is which entry
                self.legend.addItem(pg.ScatterPlotItem(symbol=symbol, size=10, brush=pg.mkBrush("#707070"),
                                                       pen=pg.mkPen("w", width=1)), fp["name"])
        # which colour is which stability: listed for the kinds on screen
        self.stability_samples = {code: pg.ScatterPlotItem(symbol="o", size=10, brush=marker_style(code)[0],
                                                           pen=marker_style(code)[1])
                                  for code in STABILITY} if fixed else {}

        self._extent: tuple[float, float, float, float] | None = None
        self._fixed_range = bool(spec.get("xlim") or spec.get("ylim"))
        self._ranged = False
        if spec.get("xlim"):
            self.plot.setXRange(*spec["xlim"], padding=0)
        if spec.get("ylim"):
            self.plot.setYRange(*spec["ylim"], padding=0)
        tips = []
        if fields:
            tips.append(f"Arrows: direction of the field; opacity: speed (√ of |f| over the fastest arrow's, "
                        f"{SPEED_LEVELS} steps; faint = slow).")
        if self.click_target:
            tips.append(f"Left click: '{self.click_target}' at that point.")
            self.plot.viewport().setCursor(QtCore.Qt.CrossCursor)
        tips.append("Wheel/drag: zoom and pan; 'A' (corner): " + ("back to the grid." if fields else "fit the data."))
        self.plot.setToolTip("\n".join(tips))
        self.plot.scene().sigMouseClicked.connect(self._on_scene_click)

    # ---- frames -----------------------------------------------------------
    def update_frame(self, arrays, observables, params, time):
        # the key lists what is drawn: no "vector field" for a 3D system in a plane, no
        # separatrix where there is none, only the stabilities of the fixed points shown
        for i, f in enumerate(self.spec.get("fields", [])):
            self._update_field(i, f, arrays)
            drawn = any(line.xData is not None and len(line.xData) for line in self.field_items[i])
            self.show_in_legend(self.field_items[i][-1], f"{f.get('name', 'field')} (faint = slow)", drawn)
        self._update_nullclines(arrays)
        for (curve, heads), t in zip(self.trajectory_items, self.spec.get("trajectories", [])):
            self._update_trajectories(curve, heads, arrays.get(t["array"]))
            drawn = curve.xData is not None and bool(np.isfinite(curve.xData).any())
            self.show_in_legend(curve, t.get("name"), drawn)
        codes = set()
        for points, fp in zip(self.fixed_items, self.spec.get("fixed_points", [])):
            self._update_fixed_points(points, arrays.get(fp["array"]), arrays.get(fp.get("kinds", "")))
            if len(points.data):
                codes.update(str(d) for d in points.data["data"])
        for code, sample in self.stability_samples.items():
            self.show_in_legend(sample, STABILITY[code][0], STABILITY[code][0] in codes)
        # no arrows to frame the view (none declared, or an empty grid: a 3D system in a plane):
        # frame the trajectories and fixed points once
        if not self._fixed_range and self._extent is None:
            self._frame_data()

    # ---- nullclines and names --------------------------------------------------
    def _update_nullclines(self, arrays: dict) -> None:
        shown = self.nullclines_shown()
        for curve, nc, name in zip(self.nullcline_items, self.spec.get("nullclines", []), self.nullcline_names):
            a = arrays.get(nc["array"])
            if a is not None:
                a = np.asarray(a, dtype=np.float64).reshape(-1, 2) if np.size(a) else np.zeros((0, 2))
                old = getattr(curve, "_source", None)
                if old is None or old.shape != a.shape or not np.array_equal(old, a, equal_nan=True):
                    curve._source = np.array(a, copy=True)  # redraw only when the model recontoured
                    curve.setData(a[:, 0], a[:, 1], connect="finite")
            drawn = curve.xData is not None and bool(np.isfinite(curve.xData).any())
            curve.setVisible(shown)
            self.show_in_legend(curve, name, drawn and shown)

    def nullclines_shown(self) -> bool:
        return self.nullclines_action is not None and self.nullclines_action.isChecked()

    def set_nullclines_shown(self, shown: bool) -> None:
        """Show or hide the nullclines (the context menu's "Show nullclines")."""
        if self.nullclines_action is None:
            return
        if self.nullclines_action.isChecked() != bool(shown):
            self.nullclines_action.setChecked(bool(shown))  # comes back here through toggled
            return
        for curve, name in zip(self.nullcline_items, self.nullcline_names):
            curve.setVisible(bool(shown))
            drawn = curve.xData is not None and bool(np.isfinite(curve.xData).any())
            self.show_in_legend(curve, name, drawn and bool(shown))

    def set_texts(self, texts: dict) -> None:
        """The model's texts: axis names (``xlabel_text``, ``ylabel_text``) and nullcline names."""
        for key, axis in (("xlabel_text", "bottom"), ("ylabel_text", "left")):
            text = texts.get(self.spec.get(key, ""))
            if text and self._texts.get(key) != text:
                self._texts[key] = text
                self.plot.setLabel(axis, text)
        for k, nc in enumerate(self.spec.get("nullclines", [])):
            name = texts.get(nc.get("name_text", ""))
            if name and name != self.nullcline_names[k]:
                curve = self.nullcline_items[k]
                legend = self.plot.getPlotItem().legend
                if legend is not None and any(sample.item is curve for sample, _ in legend.items):
                    legend.removeItem(curve)  # listed again under the new name
                self.nullcline_names[k] = name
                drawn = curve.xData is not None and bool(np.isfinite(curve.xData).any())
                self.show_in_legend(curve, name, drawn and self.nullclines_shown())

    def _frame_data(self) -> None:
        """Without a grid to frame the view: fit the trajectories and fixed points (most of
        them: the 0.5–99.5 % quantiles, so a runaway does not shrink the rest to a dot) at the
        first data, and again only when they leave the view by more than a tenth of its span
        (a Lorenz trajectory growing onto its attractor), like the 3D view's camera."""
        xs, ys = [], []
        for curve, _ in self.trajectory_items:
            if curve.xData is not None:
                xs.append(curve.xData)
                ys.append(curve.yData)
        for points in self.fixed_items:
            if len(points.data):
                xs.append(points.data["x"])
                ys.append(points.data["y"])
        x = np.concatenate(xs) if xs else np.zeros(0)
        y = np.concatenate(ys) if ys else np.zeros(0)
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            return
        (x0, x1), (y0, y1) = (np.percentile(v[ok], [0.5, 99.5]) for v in (x, y))
        if self._ranged:
            (vx0, vx1), (vy0, vy1) = self.view_box.viewRange()
            mx, my = 0.1 * (vx1 - vx0), 0.1 * (vy1 - vy0)
            if x0 >= vx0 - mx and x1 <= vx1 + mx and y0 >= vy0 - my and y1 <= vy1 + my:
                return  # inside (or nearly): keep the view, also one the user zoomed
        self.view_box.setRange(xRange=(x0, x1 if x1 > x0 else x0 + 1.0), yRange=(y0, y1 if y1 > y0 else y0 + 1.0),
                               padding=0.05)
        self._ranged = True

    def _update_field(self, i: int, f: dict, arrays: dict) -> None:
        inputs = tuple(arrays.get(f[k]) for k in ("x", "y", "u", "v"))
        if any(a is None for a in inputs):
            return
        inputs = tuple(np.asarray(a, dtype=np.float64) for a in inputs)
        cached = self._field_inputs[i]
        if cached is not None and all(a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
                                      for a, b in zip(inputs, cached)):
            return  # the same field as last frame (e.g. the true system): nothing to redraw
        self._field_inputs[i] = tuple(np.array(a, copy=True) for a in inputs)
        points, speed = arrow_segments(*inputs)
        level = speed_levels(speed)
        for k, line in enumerate(self.field_items[i]):
            sel = points[level == k].reshape(-1, 2)
            line.setData(sel[:, 0], sel[:, 1], connect="pairs", skipFiniteCheck=True)
        if i == 0 and not self._fixed_range:
            x, y = np.asarray(inputs[0], float), np.asarray(inputs[1], float)
            if np.isfinite(x).all() and np.isfinite(y).all() and x.size and y.size:
                hx, hy = 0.5 * _spacing(x.ravel()), 0.5 * _spacing(y.ravel())
                extent = (float(x.min()) - hx, float(x.max()) + hx, float(y.min()) - hy, float(y.max()) + hy)
                if extent != self._extent:  # first frame, or a parameter moved the window
                    self._extent = extent
                    self.view_box.setRange(xRange=extent[:2], yRange=extent[2:], padding=0)

    @staticmethod
    def _update_trajectories(curve, heads, a) -> None:
        if a is None:
            return
        a = np.asarray(a, dtype=np.float64)
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3 or a.shape[-1] < 2 or a.shape[1] == 0:
            curve.setData([], [])
            heads.setData([], [])
            return
        a = a[..., :2]
        # one path for every trajectory: a NaN row after each keeps them apart
        flat = np.concatenate([a, np.full((a.shape[0], 1, 2), np.nan)], axis=1).reshape(-1, 2)
        curve.setData(flat[:, 0], flat[:, 1], connect="finite")
        ends = last_finite(a)
        heads.setData(ends[:, 0], ends[:, 1])

    def _update_fixed_points(self, points, pos, kinds) -> None:
        if pos is None:
            return
        pos = np.asarray(pos, dtype=np.float64).reshape(-1, 2)
        codes = np.full(len(pos), -1, dtype=np.int64)
        if kinds is not None and np.asarray(kinds).size == len(pos):
            codes = np.asarray(kinds).ravel().astype(np.int64)
        keep = np.isfinite(pos).all(1)
        pos, codes = pos[keep], codes[keep]
        styles = [self._styles.get(int(c), self._unknown_style) for c in codes]
        points.setData(pos[:, 0], pos[:, 1], brush=[b for b, _ in styles], pen=[p for _, p in styles],
                       data=[STABILITY.get(int(c), ("unknown",))[0] for c in codes])

    def clear(self):
        if not self.field_items:
            self._ranged = False  # a new run: range on its first frame

    # ---- clicks -----------------------------------------------------------
    def _on_scene_click(self, ev) -> None:
        if not self.click_target or ev.button() != QtCore.Qt.LeftButton or ev.double():
            return
        pos = ev.scenePos()
        if not self.view_box.sceneBoundingRect().contains(pos):
            return  # on an axis or the title
        if self.legend is not None and self.legend.isVisible() and self.legend.sceneBoundingRect().contains(pos):
            return
        p = self.view_box.mapSceneToView(pos)
        x, y = float(p.x()), float(p.y())
        if math.isfinite(x) and math.isfinite(y):
            self.clicked.emit(str(self.click_target), x, y)
