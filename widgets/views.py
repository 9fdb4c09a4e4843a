"""Views built from a model's declared view specs (see ``engine/models/base.py``).

Every view takes numpy arrays and scalars: ``update_frame(arrays, observables,
params, time)``. :func:`make_view` maps a spec's ``kind`` to its class, so a
new model gets its views without editing the GUI. Kinds and their options
(names in capitals are keys of the frame's arrays; a missing one is skipped):

``image``
    ``array``, ``colormap``, ``levels`` (fixed; absent: auto), ``mask``, ``paint``, ``aspect`` ("free": stretch, e.g. rasters;
    "auto": square cells unless the array is more than 3 times longer than wide);
    auto levels: ``symmetric`` (±max|a|, for diverging maps: white is zero), ``levels_from``
    (array names whose joint range sets the levels, so that views side by side share one scale).
``surface``
    ``array`` (2D), ``colormap``, ``levels``, ``zscale``, ``max_fps`` (vispy; see ``widgets/gl_frame.py``).
``trajectory3d``
    ``array``: (B, T, 3) or (T, 3), NaN-padded; ``colors`` (optional list), ``max_fps``
    (vispy; camera fitted on the first frame, after a reset, and when the data leaves the view far).
``phase``
    ``fields``, ``trajectories``, ``fixed_points``, ``click``, ``xlabel``, ``ylabel``, ``xlim``, ``ylim``
    (see ``widgets/phase_view.py``); a left click emits ``clicked(target, x, y)``.
``timeseries``
    ``observables``, ``xlabel``, ``ylabel``, ``highlight``, ``logx``, ``logy``; the y span never
    shrinks below 1e-4 of the values' size (see ``min_span``): a constant stays a flat line.
``lines``
    ``series`` [{``x``, ``y``, ``name``, ``color``, ``style: "dash"``, ``step: true``
    (histogram: ``len(x) == len(y) + 1``), ``symbol`` (points, not a line)}],
    ``points`` [{``x``, ``y`` (observable or parameter names), ``name``, ``color``, ``symbol``, ``size``}],
    ``xlabel``, ``ylabel``, ``xlim``, ``ylim``, ``logx``, ``logy``, ``zero_line``.
``bars``
    ``array`` (1D), ``xlabel``, ``ylim``.
``values``
    ``observables``: a table of their current values (integers exactly, floats to 6 digits, NaN as '—').
``text``
    ``array``: a key of the model's ``texts()``.

Every view takes ``title``, ``role`` ("primary", "secondary" or "info": where
:class:`ViewGrid` puts it; see :func:`widgets.view_base.view_role`) and
``shown_when`` (``[[name, [values…]], …]``: shown only while the parameters or
observables say it applies; see :func:`widgets.view_base.applies`). Time series
take ``follow`` (default true: the y range follows the recent half of the
window); lines take ``aspect: "equal"`` and ``band: k``; images take ``robust``
(default true), ``min_range`` (the declared scale: levels never narrower) and
``extent`` ([x0, x1, y0, y1] or an array's name: axes in model units, row 0 at y0).
Keys (legends) sit under or beside the plot, never on the data.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from attractor_lab.widgets.gl_frame import GLFrame, SurfaceFrame, Trajectory3DFrame, opengl_renderer, software_opengl
from attractor_lab.widgets.phase_view import PhaseView
from attractor_lab.widgets.view_base import (PALETTE, POINT_COLORS, POINT_SYMBOLS, PlotView, View, add_legend, applies, colormap,
                               lookup, view_role)

__all__ = ["View", "PlotView", "ImageView", "TimeSeriesView", "BarsView", "LinesView", "TextView", "ValuesView",
           "PhaseView", "GLFrame", "SurfaceFrame", "Trajectory3DFrame", "ViewGrid", "make_view", "colormap",
           "opengl_renderer", "software_opengl", "PALETTE", "POINT_COLORS", "POINT_SYMBOLS", "VIEW_KINDS",
           "format_value"]


#: an "aspect": "auto" image keeps square cells up to this ratio of its sides
AUTO_ASPECT_MAX = 3
#: percentiles that set robust auto levels (a few hot cells do not wash out the rest)
ROBUST = (0.5, 99.5)
#: auto levels look at most about this many values of a field (a strided sample)
LEVEL_SAMPLE = 1 << 16
#: following levels move when either end moves by more than this fraction of the range
LEVELS_STAY = 0.02


def _sample(a: np.ndarray) -> np.ndarray:
    """A strided sample of ``a`` (flattened) of at most about ``LEVEL_SAMPLE`` values."""
    a = np.asarray(a).ravel()  # a view of a contiguous frame: only the sample is converted
    step = max(1, a.size // LEVEL_SAMPLE)
    return a[::step].astype(np.float64)


class FastImageItem(pg.ImageItem):
    """An ImageItem whose rendered image is drawn by Qt's fast scaled blit.

    pyqtgraph renders a colour-mapped field as an 8-bit indexed QImage; Qt converts an
    indexed (or non-premultiplied) image to premultiplied ARGB on *every* draw, at the
    size it is drawn: a 256×128 raster on a 900×500 view took ~10 ms a paint on the
    build machine. Converted once per new frame (at the field's own size), the paint is
    ~0.5 ms. The pixels shown are the same cells, sampled nearest-neighbour.
    """

    def render(self):
        super().render()
        q = self.qimage
        if q is not None and q.format() != QtGui.QImage.Format.Format_ARGB32_Premultiplied:
            self.qimage = q.convertToFormat(QtGui.QImage.Format.Format_ARGB32_Premultiplied)


class ImageView(View):
    """A 2D field with a colour map, fixed (or auto) levels, an optional mask overlay and painting."""

    painted = QtCore.Signal(str, float, float)  # array name, x (column), y (row)

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.glw = pg.GraphicsLayoutWidget()
        self.layout().addWidget(self.glw, 1)
        self.plot = self.glw.addPlot()
        # square cells for fields; "aspect": "free" stretches (rasters: units × time); "auto":
        # square cells unless the array is long and thin (a kymograph of a few rows, x × time)
        # with an extent the axes carry units (x against t in a kymograph): free unless declared
        self.aspect = spec.get("aspect", "free" if spec.get("extent") is not None else "equal")
        self.plot.setAspectLocked(self.aspect == "equal")
        self._shape = None
        self.plot.invertY(True)
        self.extent = spec.get("extent")  # model units: [x0, x1, y0, y1], or an array's name
        if self.extent is None:
            self.plot.hideAxis("left")
            self.plot.hideAxis("bottom")
        else:  # a kymograph or a field in the model's units: labelled axes, y up
            self.plot.invertY(False)
            self.plot.setLabel("bottom", spec.get("xlabel", "x"))
            self.plot.setLabel("left", spec.get("ylabel", "y"))
            for name in ("left", "bottom"):
                self.plot.getAxis(name).enableAutoSIPrefix(False)
        self._rect = None
        self.image = FastImageItem()
        self.plot.addItem(self.image)
        cmap = colormap(spec.get("colormap", "viridis"))
        self.image.setColorMap(cmap)
        self.levels = spec.get("levels")
        self.bar = pg.ColorBarItem(values=tuple(self.levels) if self.levels else (0, 1), colorMap=cmap,
                                   interactive=True, width=12)
        self.bar.setImageItem(self.image, insert_in=self.plot)
        self.bar.sigLevelsChangeFinished.connect(self._on_levels_dragged)
        self.mask_item = None
        self.mask_box = None
        if spec.get("mask"):
            self.mask_item = FastImageItem()
            self.mask_item.setZValue(10)
            self.plot.addItem(self.mask_item)
            # outlines of the marked cells (e.g. bits that differ from the cued pattern), off
            # while the model sends no mask (no target to differ from)
            self.mask_box = QtWidgets.QCheckBox(spec.get("mask_label", "mark"))
            self.mask_box.setToolTip(f"Outline the cells where '{spec['mask']}' is set")
            self.mask_box.setChecked(True)
            self.mask_box.toggled.connect(self.mask_item.setVisible)
            self.mask_box.setVisible(False)
        self.paint_enabled = bool(spec.get("paint"))
        self._first = True
        # fixed levels (declared, or dragged on the colour bar) or levels following each frame
        self.auto_box = QtWidgets.QCheckBox("auto levels")
        self.auto_box.setToolTip("Follow each frame's range; untick to keep the colour bar's levels fixed")
        self.auto_box.setChecked(not self.levels)
        self.auto_box.toggled.connect(self._on_auto_toggled)
        row = QtWidgets.QHBoxLayout()
        self.layout().removeWidget(self.title_label)
        row.addWidget(self.title_label, 1)
        if self.mask_box is not None:
            row.addWidget(self.mask_box)
        row.addWidget(self.auto_box)
        self.layout().insertLayout(0, row)
        self.image.mouseClickEvent = self._on_click
        self.image.mouseDragEvent = self._on_drag

    def update_frame(self, arrays, observables, params, time):
        a = arrays.get(self.spec["array"])
        if a is None:
            return
        a = np.asarray(a)
        if a.ndim == 1:
            a = a[None, :]
        if a.dtype == bool:
            a = a.astype(np.float32)
        if self.aspect == "auto" and self.extent is None and a.shape != self._shape:
            self._shape = a.shape
            self.plot.setAspectLocked(max(a.shape) <= AUTO_ASPECT_MAX * max(1, min(a.shape)))
        if not self.auto_box.isChecked():
            if self._first:
                self.image.setImage(a, levels=tuple(self.levels or (float(np.nanmin(a)), float(np.nanmax(a)))))
            else:
                self.image.setImage(a, autoLevels=False)
        else:
            lo, hi = self._auto_levels(a, arrays)
            self.image.setImage(a, autoLevels=False)
            was = self.bar.levels()
            span = max(hi - lo, 1e-300)
            # levels within LEVELS_STAY of the range shown stay: moved every frame, the
            # colour bar's axis was laid out again every frame
            if self._first or abs(was[0] - lo) > LEVELS_STAY * span or abs(was[1] - hi) > LEVELS_STAY * span:
                self.bar.setLevels((lo, hi))
        self._first = False
        if self.extent is not None:
            self._place(a, arrays)
        if self.mask_item is not None:
            self._draw_mask(arrays.get(self.spec["mask"]), a)
        _settle_ranges(self.plot)

    def _place(self, a: np.ndarray, arrays: dict) -> None:
        """Put the image on its ``extent`` (model units): columns along x, rows along y."""
        ext = self.extent
        if isinstance(ext, str):
            ext = arrays.get(ext)
        if ext is None or np.asarray(ext).size != 4:
            return
        x0, x1, y0, y1 = (float(e) for e in np.asarray(ext, float).ravel())
        if not all(math.isfinite(e) for e in (x0, x1, y0, y1)) or x1 == x0 or y1 == y0:
            return
        rect = (x0, y0, x1 - x0, y1 - y0)
        if rect != self._rect:
            self._rect = rect
            self.image.setRect(QtCore.QRectF(*rect))
            if self.mask_item is not None:
                self.mask_item.setRect(QtCore.QRectF(*rect))
            # the view shows the field's extent (a time window that moves on moves the view)
            self.plot.getViewBox().setRange(xRange=(min(x0, x1), max(x0, x1)), yRange=(min(y0, y1), max(y0, y1)),
                                            padding=0)

    def _draw_mask(self, m, a: np.ndarray) -> None:
        """The mask's cells outlined (their edge cells, thin and translucent), not filled:
        the field under them stays readable. No mask (or an empty one): nothing, no box."""
        if m is None or np.asarray(m).size == 0:
            self.mask_item.clear()
            self.mask_box.setVisible(False)
            return
        m = np.asarray(m)
        m = (m.reshape(a.shape) if m.size == a.size else m).astype(bool)
        self.mask_box.setVisible(bool(m.any()))
        inner = m.copy()
        inner[1:, :] &= m[:-1, :]
        inner[:-1, :] &= m[1:, :]
        inner[:, 1:] &= m[:, :-1]
        inner[:, :-1] &= m[:, 1:]
        rgba = np.zeros(m.shape + (4,), dtype=np.ubyte)
        rgba[m & ~inner] = (255, 60, 60, 230)
        rgba[inner] = (255, 60, 60, 40)
        self.mask_item.setImage(rgba, levels=(0, 255))

    def _auto_levels(self, a: np.ndarray, arrays: dict) -> tuple[float, float]:
        """This frame's levels: the range of the array (or of every array in ``levels_from``),
        robust (``ROBUST`` percentiles, unless ``"robust": false``), made symmetric about zero
        with ``symmetric``, and never narrower than ``min_range`` (the field's declared
        scale: a drift of 1e-5 on a field of order 1 is not stretched to full colour)."""
        parts = [a] + [np.asarray(arrays[n]) for n in self.spec.get("levels_from", ()) if arrays.get(n) is not None]
        values = np.concatenate([_sample(p) for p in parts if p.size]) if any(p.size for p in parts) else np.empty(0)
        values = values[np.isfinite(values)]
        if not values.size:
            return 0.0, 1.0
        symmetric = bool(self.spec.get("symmetric"))
        robust = self.spec.get("robust", True)
        if symmetric:
            top = float(np.percentile(np.abs(values), ROBUST[1])) if robust else float(np.abs(values).max())
            if not top > 0:
                top = float(np.abs(values).max())
            lo, hi = -top, top
        elif robust:
            lo, hi = (float(q) for q in np.percentile(values, ROBUST))
            if hi <= lo:
                lo, hi = float(values.min()), float(values.max())
        else:
            lo, hi = float(values.min()), float(values.max())
        floor = float(self.spec.get("min_range") or 0.0)
        if hi - lo < floor:
            mid = 0.0 if symmetric else 0.5 * (lo + hi)
            lo, hi = mid - 0.5 * floor, mid + 0.5 * floor
        if hi <= lo:
            lo, hi = lo - 1e-12, lo + 1e-12
        return lo, hi

    def _on_levels_dragged(self, *_):
        """Levels the user dragged on the colour bar stay: auto levels go off."""
        if self.auto_box.isChecked():
            self.auto_box.setChecked(False)

    def _on_auto_toggled(self, auto: bool) -> None:
        if not auto:
            self.levels = list(self.bar.levels())  # freeze what is shown now
        self._first = False

    def current_image(self) -> np.ndarray | None:
        return self.image.image

    def _emit_paint(self, pos):
        if self.paint_enabled:
            self.painted.emit(self.spec["array"], float(pos.x()), float(pos.y()))

    def _on_click(self, ev):
        if self.paint_enabled and ev.button() == QtCore.Qt.LeftButton:
            ev.accept()
            self._emit_paint(ev.pos())

    def _on_drag(self, ev):
        if self.paint_enabled and ev.button() == QtCore.Qt.LeftButton:
            ev.accept()
            self._emit_paint(ev.pos())
        else:
            ev.ignore()

    def export_item(self):
        return self.plot


class _LogAxis(pg.AxisItem):
    """An axis whose log-mode labels stay readable: where many ticks of one decade
    are labelled, only mantissas 1, 2 and 5 keep their text (pyqtgraph labels 1–9,
    and on a short vertical axis 0.006, 0.007, 0.008, 0.009 printed over each other)."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 (pyqtgraph API)
        """Each value at one level only: over more than a decade pyqtgraph lists a decade
        (0.01) among the major and again among the minor ticks, and draws its label twice."""
        levels = super().tickValues(minVal, maxVal, size)
        if not self.logMode:
            return levels
        seen: list[float] = []
        out = []
        for spacing, values in levels:
            keep = [v for v in values if not any(abs(v - s) < 1e-9 * max(1.0, abs(v)) for s in seen)]
            seen.extend(keep)
            out.append((spacing, keep))
        return out

    def logTickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph API)
        strings = super().logTickStrings(values, scale, spacing)
        if len(values) <= 4:
            return strings
        mantissa = 10.0 ** (np.asarray(values, float) % 1.0)
        keep = np.isclose(mantissa[:, None], [1.0, 2.0, 5.0, 10.0], rtol=1e-6).any(1)
        return [text if k else "" for text, k in zip(strings, keep)]


def _log_modes(spec: dict, plot: pg.PlotWidget) -> None:
    """Declared log axes (``logx``/``logy``). pyqtgraph maps values ≤ 0 to NaN, so they leave gaps."""
    logx, logy = bool(spec.get("logx")), bool(spec.get("logy"))
    if not (logx or logy):
        return
    item = plot.getPlotItem()
    for name, log in (("bottom", logx), ("left", logy)):
        if log:
            label = item.getAxis(name).labelText
            item.setAxisItems({name: _LogAxis(name)})
            if label:
                item.setLabel(name, label)
    plot.setLogMode(x=logx, y=logy)
    for name, log in (("bottom", logx), ("left", logy)):
        if log:  # a scale prefix ("x0.001") on decades misreads as a value
            item.getAxis(name).enableAutoSIPrefix(False)


def _is_log(plot: pg.PlotWidget) -> tuple[bool, bool]:
    """The axes' log modes now (the user may switch them in the plot's menu)."""
    ctrl = plot.getPlotItem().ctrl
    return ctrl.logXCheck.isChecked(), ctrl.logYCheck.isChecked()


def _view_limits(lim, log: bool):
    """Declared limits in view coordinates (log10 on a log axis); None when unusable."""
    lo, hi = float(lim[0]), float(lim[1])
    if log:
        if not (lo > 0 and hi > 0):
            return None
        lo, hi = math.log10(lo), math.log10(hi)
    return lo, hi


class TimeSeriesView(PlotView):
    """Observables against simulation time; the first few highlighted, the rest faint.

    Options: ``logx``/``logy`` (log axes), ``xlabel``, ``ylabel``, ``highlight``,
    ``empty_note`` (shown while no observable has a value), ``follow`` (default true: the
    y range is set by the most recent half of the time shown, so a start-up transient
    does not fix the axis; a pan or zoom by hand stops it, the 'A' button resumes it).
    Values constant to rounding (:func:`min_span`) are drawn flat and the title says so.
    """

    MAX_POINTS = 4000
    #: the part of the time window, at its end, whose values set the y range
    RECENT = 0.5
    #: a followed x range reaches this fraction of the time shown beyond the newest
    #: point, so it moves (and its axis is laid out again) every ~5 % of the window,
    #: not on every frame (its start may lag the oldest point kept by as much); the x
    #: and y ranges are set in one call, so a frame is one repaint
    X_HEADROOM = 0.05
    #: a followed y range stays while the recent values fit in it and fill at least this
    #: fraction of it (moving it every frame cost an axis layout and a second repaint)
    Y_FILL = 0.6

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        add_legend(self.plot)
        self.plot.setLabel("bottom", spec.get("xlabel", "time"))
        if spec.get("ylabel"):
            self.plot.setLabel("left", spec["ylabel"])
        self.names = list(spec.get("observables", []))
        highlight = int(spec.get("highlight", 8))
        self.curves = {}
        for i, name in enumerate(self.names):
            if i < highlight:
                pen = pg.mkPen(PALETTE[i % len(PALETTE)], width=2)
                self.curves[name] = light_curve(self.plot.plot([], [], pen=pen, name=name), uniform_x=True)
            else:
                self.curves[name] = light_curve(self.plot.plot([], [], pen=pg.mkPen((160, 160, 160, 70), width=1)),
                                                uniform_x=True)
        _log_modes(spec, self.plot)
        self.following = bool(spec.get("follow", True))
        item = self.plot.getPlotItem()
        # a history is thousands of points on a few hundred pixels: pyqtgraph keeps each pixel
        # column's extremes ('peak') of what is in view, so a spike still shows, and the paint
        # (an antialiased path: most of the frame) costs by pixels, not by points
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        if self.following:
            item.vb.sigRangeChangedManually.connect(self._stop_following)
            item.autoBtn.clicked.connect(self._resume_following)
        self.constant: float | None = None  # the value, while every recent value equals it to rounding
        self.clear()

    def clear(self):
        self.t = np.empty(0)
        self.y = {n: np.empty(0) for n in self.names}
        for c in self.curves.values():
            c.setData([], [])

    def _stop_following(self, *_):
        self.following = False

    def _resume_following(self):
        self.following = True
        self._follow()

    def update_frame(self, arrays, observables, params, time):
        if self.t.size and time < self.t[-1]:
            self.clear()  # the simulation was reset
        if self.t.size and time == self.t[-1]:
            return
        self.t = np.append(self.t, time)[-self.MAX_POINTS:]
        for n in self.names:
            v = observables.get(n, np.nan)
            self.y[n] = np.append(self.y[n], v)[-self.MAX_POINTS:]
            self.curves[n].setData(self.t, self.y[n], connect="finite")
            if self.curves[n].opts.get("name"):
                self.show_in_legend(self.curves[n], n, bool(np.isfinite(self.y[n]).any()))
        self.show_empty_note(not any(np.isfinite(y).any() for y in self.y.values()))
        self._limit_zoom()
        self._follow()
        _settle_ranges(self.plot)

    def recent_values(self) -> np.ndarray:
        """The finite values of the last :attr:`RECENT` of the time shown (all series)."""
        if not self.t.size:
            return np.empty(0)
        start = self.t[-1] - self.RECENT * (self.t[-1] - self.t[0])
        sel = self.t >= start
        parts = [y[sel] for y in self.y.values() if y.size == self.t.size]
        v = np.concatenate(parts) if parts else np.empty(0)
        return v[np.isfinite(v)]

    def _follow(self) -> None:
        """Set the y range from the recent values (log10 of the positive ones on a log axis);
        a range narrower than :func:`min_span` is drawn flat around its value, and said."""
        v = self.recent_values()
        logy = _is_log(self.plot)[1]
        constant = None
        if v.size:
            if logy:
                v = np.log10(v[v > 0])
            if v.size:
                lo, hi = float(v.min()), float(v.max())
                floor = 0.0 if logy else min_span(v)
                if hi - lo <= floor:
                    constant = None if logy else 0.5 * (lo + hi)
                    lo, hi = 0.5 * (lo + hi) - max(floor, 1e-12), 0.5 * (lo + hi) + max(floor, 1e-12)
                if self.following:
                    self._set_ranges(lo, hi)
        if constant != self.constant:
            self.constant = constant
            self.title_label.setText(self.title if constant is None else
                                     f"{self.title} — constant to rounding: {format_value(constant)}")

    def _set_ranges(self, lo: float, hi: float) -> None:
        """Follow: x from the first time to a little past the newest (linear time axis; on a
        log time axis x stays automatic), y around [lo, hi]; each moves only when the data
        leaves it (or, for y, fills too little of it), and both in one call."""
        vb = self.plot.getViewBox()
        (x0, x1), (y0, y1) = vb.viewRange()
        pad = 0.08 * (hi - lo)
        y_range = None
        if not (y0 <= lo - 0.5 * pad and hi + 0.5 * pad <= y1 and hi - lo >= self.Y_FILL * (y1 - y0)):
            y_range = (lo - pad, hi + pad)
        x_range = None
        if not _is_log(self.plot)[0] and self.t.size > 1:
            t0, t1 = float(self.t[0]), float(self.t[-1])
            span = t1 - t0
            room = 2 * self.X_HEADROOM * span  # (the start moves too once MAX_POINTS are kept)
            if span > 0 and not (x0 <= t0 <= x0 + room and t1 <= x1 <= t1 + room):
                x_range = (t0, t1 + self.X_HEADROOM * span)
        if x_range is not None and y_range is not None:
            vb.setRange(xRange=x_range, yRange=y_range, padding=0)
        elif y_range is not None:  # (x stays as it is: automatic until two times are known)
            self.plot.setYRange(*y_range, padding=0)
        elif x_range is not None:
            self.plot.setXRange(*x_range, padding=0)

    def _limit_zoom(self) -> None:
        """Keep the y span at least ``min_span(values)``: a quantity constant to rounding
        (an energy at a fixed point, a conserved mean) is drawn flat, not as magnified noise."""
        if not _is_log(self.plot)[1]:
            _keep_min_span(self, list(self.y.values()))


def _settle_ranges(plot) -> None:
    """Apply a pending automatic range now, with the frame's data. Left to pyqtgraph, it
    is applied while the view paints: the range moves inside the paint, the axes follow,
    and the view is painted a second time for every frame (the rate network's sliding
    unit traces: 1.9 paints a frame)."""
    vb = plot.getViewBox()
    if getattr(vb, "_autoRangeNeedsUpdate", False):
        vb.updateAutoRange()
    if getattr(vb, "_matrixNeedsUpdate", False):  # the view's transform for the new range
        vb.updateMatrix()


def _same_data(last: tuple, new: tuple) -> bool:
    """Whether a curve's (x, y, log y) equals what it shows (NaN equal to NaN)."""
    return (last[2] == new[2] and last[0].shape == new[0].shape and last[1].shape == new[1].shape
            and np.array_equal(last[0], new[0], equal_nan=True) and np.array_equal(last[1], new[1], equal_nan=True))


def _keep_min_span(view, series: list) -> None:
    """Limit ``view``'s y zoom to :func:`min_span` of the finite values of ``series``."""
    finite = [np.asarray(y, float)[np.isfinite(y)] for y in series if len(y)]
    span = min_span(np.concatenate(finite) if finite else np.empty(0))
    if span != getattr(view, "_min_span", None):
        view._min_span = span
        view.plot.getViewBox().setLimits(minYRange=span)


def light_curve(curve: pg.PlotDataItem, *, uniform_x: bool = False) -> pg.PlotDataItem:
    """Make a curve cheap to paint without changing what it shows.

    A wide (2 px) antialiased pen stroked as one polyline is Qt's slow path: joins are
    computed along the whole path (a 4000-point history: ~30 ms a paint on the build
    machine, against ~1 ms as separate segments). Solid wide pens are drawn as segments
    (the overlap of antialiased segment ends is invisible at a few points per pixel).
    With ``uniform_x`` (time series: increasing, evenly spaced x), pyqtgraph's 'peak'
    downsampling keeps each pixel column's extremes as soon as there is more than one
    point per pixel (its default waits for five), so a spike still shows.
    """
    pen = curve.opts.get("pen")
    pen = pg.mkPen(pen) if pen is not None else None
    if pen is not None and pen.widthF() > 1 and pen.style() == QtCore.Qt.SolidLine:
        curve.curve.setSegmentedLineMode("on")
    if uniform_x:
        curve.opts["autoDownsampleFactor"] = 1.0
    return curve


def min_span(values: np.ndarray) -> float:
    """Smallest y span worth drawing for these values: 1e-4 of their magnitude, and 1e-6
    at least, so that differences at the level of rounding (±1e-8) stay invisible."""
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    return max(1e-4 * scale, 1e-6)


class BarsView(PlotView):
    """A 1D array as bars (current overlaps, softmax weights)."""

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        if spec.get("ylim"):
            self.plot.setYRange(*spec["ylim"], padding=0.02)
        self.plot.setLabel("bottom", spec.get("xlabel", "index"))
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=PALETTE[0])
        self.plot.addItem(self.bars)
        self._n = -1

    def update_frame(self, arrays, observables, params, time):
        a = arrays.get(self.spec["array"])
        if a is None:
            return
        a = np.asarray(a, dtype=float).ravel()
        x = np.arange(a.size)
        self.bars.setOpts(x=x, height=a, width=0.8)
        if a.size != self._n:
            self._n = a.size
            self.plot.setXRange(-0.5, max(a.size, 1) - 0.5, padding=0.02)
        _settle_ranges(self.plot)


class LinesView(PlotView):
    """Curves from arrays (theory lines, dispersion relations, histograms) and live markers.

    Options: ``xlim``/``ylim``, ``logx``/``logy``, ``zero_line``, ``empty_note``
    (text shown in the plot while no series and no marker has data, e.g. why a
    theory is not drawn); per series ``color``, ``style: "dash"``, ``step: true``
    (a histogram: ``len(x) == len(y) + 1`` bin edges, lightly filled) and
    ``symbol`` (points instead of a line: a pyqtgraph symbol such as ``"o"``, or ``true``);
    ``aspect: "equal"`` (x and y in the same units: a tip path); ``band: k`` (the y range
    [−k·top, 1.25·top] around the first series' maximum ``top`` when it is positive: a
    dispersion relation centred on its unstable band, not on its −35 tail).
    """

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        add_legend(self.plot)
        if spec.get("aspect") == "equal":
            self.plot.setAspectLocked(True)
        self.band = float(spec["band"]) if spec.get("band") else None
        self._band_top = None
        self.plot.setLabel("bottom", spec.get("xlabel", ""))
        self.plot.setLabel("left", spec.get("ylabel", ""))
        _log_modes(spec, self.plot)
        logx, logy = _is_log(self.plot)
        if spec.get("xlim") and (lim := _view_limits(spec["xlim"], logx)):
            self.plot.setXRange(*lim, padding=0)
        if spec.get("ylim") and (lim := _view_limits(spec["ylim"], logy)):
            self.plot.setYRange(*lim, padding=0)
        self.curves = []
        self._drawn: dict = {}  # id(item) -> what it shows (a curve: x, y, log y, has data)
        for i, s in enumerate(spec.get("series", [])):
            color = pg.mkColor(s.get("color", PALETTE[i % len(PALETTE)]))
            if s.get("symbol"):
                symbol = s["symbol"] if isinstance(s["symbol"], str) else "o"
                curve = self.plot.plot([], [], pen=None, symbol=symbol, symbolSize=s.get("size", 6),
                                       symbolBrush=color, symbolPen=None, name=s.get("name"))
            else:
                pen = pg.mkPen(color, width=2,
                               style=QtCore.Qt.DashLine if s.get("style") == "dash" else QtCore.Qt.SolidLine)
                curve = light_curve(self.plot.plot([], [], pen=pen, name=s.get("name")))
                if s.get("step"):
                    fill = QtGui.QColor(color)
                    fill.setAlpha(60)
                    curve.setBrush(pg.mkBrush(fill))
            self.curves.append((s, curve))
        self.points = []
        for i, p in enumerate(spec.get("points", [])):
            # distinct markers, so coinciding points (theory on measurement) stay readable
            item = pg.ScatterPlotItem(size=p.get("size", 14 - 3 * (i % 3)),
                                      brush=p.get("color", POINT_COLORS[i % len(POINT_COLORS)]),
                                      symbol=p.get("symbol", POINT_SYMBOLS[i % len(POINT_SYMBOLS)]),
                                      pen=pg.mkPen("w", width=1), name=p.get("name"))
            self.plot.addItem(item)
            self.points.append((p, item))
        if spec.get("zero_line"):
            self.plot.addItem(pg.InfiniteLine(angle=0, pos=0, pen=pg.mkPen((200, 200, 200, 90))))

    def update_frame(self, arrays, observables, params, time):
        logx, logy = _is_log(self.plot)
        drawn = False
        for s, curve in self.curves:
            x, y = arrays.get(s["x"]), arrays.get(s["y"])
            if x is None or y is None:
                continue
            x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
            x0, y0 = x.copy(), y.copy()  # as sent (frames may be reused by the caller)
            last = self._drawn.get(id(curve))
            if last is not None and _same_data(last, (x, y, logy)):
                # a theory curve between parameter changes: no new data, no repaint
                drawn = drawn or last[3]
                continue
            if s.get("step") and not s.get("symbol"):
                if x.size == y.size and x.size:  # bin centres: edges half-way between them
                    x = _edges_from_centres(x)
                if x.size != y.size + 1:
                    continue
                # fill to the axis, or (log y, where 0 is out of reach) no fill
                curve.setData(x, np.nan_to_num(y, nan=0.0), stepMode="center", fillLevel=None if logy else 0.0)
            else:
                curve.setData(x, y, connect="finite")
            has = bool((np.isfinite(x) & np.isfinite(y)).any()) if x.size == y.size else True
            self._drawn[id(curve)] = (x0, y0, logy, has)
            drawn = drawn or has
            self.show_in_legend(curve, s.get("name"), has)
        for p, item in self.points:
            x = lookup(p["x"], observables, params)
            y = lookup(p["y"], observables, params)
            # markers are not mapped by pyqtgraph's log mode: map them here
            x = _to_view(x, logx)
            y = _to_view(y, logy)
            if self._drawn.get(id(item), ()) != (x, y):
                self._drawn[id(item)] = (x, y)
                if x is not None and y is not None:
                    item.setData([x], [y])
                else:
                    item.setData([], [])
            self.show_in_legend(item, p.get("name"), x is not None and y is not None)
            drawn = drawn or (x is not None and y is not None)
        self.show_empty_note(not drawn)
        self._limit_zoom(logy)
        if self.band is not None and not logy:
            self._centre_on_band()
        _settle_ranges(self.plot)

    def _centre_on_band(self) -> None:
        """y from −band·top to 1.25·top, top the first series' largest value (when positive);
        otherwise the automatic range."""
        y = self.curves[0][1].yData if self.curves else None
        top = float(np.nanmax(y)) if y is not None and len(y) and np.isfinite(y).any() else math.nan
        vb = self.plot.getViewBox()
        if not top > 0:
            if self._band_top is not None:
                self._band_top = None
                vb.enableAutoRange(y=True)
            return
        if self._band_top is None or abs(top - self._band_top) > 0.02 * self._band_top:
            self._band_top = top
            vb.enableAutoRange(y=False)
            self.plot.setYRange(-self.band * top, 1.25 * top, padding=0)

    def _limit_zoom(self, logy: bool) -> None:
        """As for time series: values equal to rounding (a quiet network's ±5e-37) are drawn
        flat, not magnified into noise."""
        if not logy:
            _keep_min_span(self, [c.yData for _, c in self.curves if c.yData is not None])


def _to_view(value, log: bool):
    """A value in view coordinates; None when it cannot be shown (not finite, or ≤ 0 on a log axis)."""
    if value is None or not math.isfinite(value):
        return None
    if log:
        return math.log10(value) if value > 0 else None
    return value


def _edges_from_centres(c: np.ndarray) -> np.ndarray:
    """Bin edges half-way between centres, the outer ones mirrored."""
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


class TextView(View):
    """Static or slowly changing text (equations, regime)."""

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.label = QtWidgets.QPlainTextEdit(readOnly=True)
        self.label.setMaximumHeight(95)
        # formulae break at the spaces between terms, never inside a token ("exp(−2 h_i / T)")
        self.label.setWordWrapMode(QtGui.QTextOption.WordWrap)
        f = QtGui.QFont("DejaVu Sans Mono")
        f.setStyleHint(QtGui.QFont.Monospace)
        self.label.setFont(f)
        self.layout().addWidget(self.label, 1)

    def set_texts(self, texts: dict) -> None:
        text = texts.get(self.spec.get("array", "equations"))
        if text is not None and text != self.label.toPlainText():
            self.label.setPlainText(text)

    def update_frame(self, arrays, observables, params, time):
        pass  # texts arrive through set_texts


def format_value(value) -> str:
    """An observable as the values view shows it: integers exactly, floats with
    6 significant digits, NaN (or a missing value) as '—'."""
    if value is None:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "—"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value.is_integer() and abs(value) < 2**53:  # a count sent as a float: every digit is exact
            return str(int(value))
        return f"{value:.6g}"
    return str(value)


class ValuesView(View):
    """The current values of observables as a compact two-column table
    (``{"kind": "values", "observables": [...], "title": ...}``); the numbers
    are the engine's (see :func:`format_value`). Names absent from the
    observables are looked up in the parameters."""

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.names = list(spec.get("observables", []))
        self.table = QtWidgets.QTableWidget(len(self.names), 2)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.setFocusPolicy(QtCore.Qt.NoFocus)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.Stretch)
        mono = QtGui.QFont("DejaVu Sans Mono")
        mono.setStyleHint(QtGui.QFont.Monospace)
        row_height = QtGui.QFontMetrics(mono).height() + 3
        self.table.verticalHeader().setDefaultSectionSize(row_height)
        self.table.verticalHeader().setMinimumSectionSize(row_height)
        for row, name in enumerate(self.names):
            self.table.setItem(row, 0, QtWidgets.QTableWidgetItem(name))
            item = QtWidgets.QTableWidgetItem("—")
            item.setFont(mono)
            item.setTextAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
            self.table.setItem(row, 1, item)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        # every row visible up to a dozen; more scroll
        self.table.setFixedHeight(row_height * min(max(len(self.names), 1), 12) + 2 * self.table.frameWidth())
        self.layout().addWidget(self.table)

    def update_frame(self, arrays, observables, params, time):
        for row, name in enumerate(self.names):
            text = format_value(observables[name] if name in observables else params.get(name))
            item = self.table.item(row, 1)
            if item.text() != text:
                item.setText(text)

    def value_text(self, name: str) -> str:
        """The text shown for ``name``."""
        return self.table.item(self.names.index(name), 1).text()


VIEW_KINDS = {
    "image": ImageView,
    "timeseries": TimeSeriesView,
    "bars": BarsView,
    "lines": LinesView,
    "text": TextView,
    "values": ValuesView,
    "phase": PhaseView,
    "surface": SurfaceFrame,
    "trajectory3d": Trajectory3DFrame,
}
def make_view(spec: dict, parent=None) -> View:
    """Build the view for ``spec``; unknown kinds raise ``ValueError``."""
    kind = spec.get("kind")
    try:
        cls = VIEW_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown view kind {kind!r}; known: {', '.join(sorted(VIEW_KINDS))}") from None
    return cls(spec, parent)


class ViewGrid(QtWidgets.QWidget):
    """All views of one model, laid out by their role (``view_role``): the primary fields
    or portraits side by side on top with most of the area, the secondary plots in a row
    under them, and tables, text and 3D views that live in their own window in
    :attr:`text_panel` (the window shows it beside the parameters), never in a plot's place.

    The arrangement follows the grid's size: a primary view is kept at least
    ``MIN_PRIMARY`` wide (others move down among the secondary plots), and a secondary
    plot at least ``MIN_SECONDARY`` (w, h); plots that do not fit share the row's last
    slot as tabs. Views whose ``shown_when`` does not hold (``applies``) take no space,
    and the layout follows when that changes.
    """

    MIN_PRIMARY = 390  # a 300 px plot area beside its colour bar and margins
    MIN_SECONDARY = (250, 180)
    #: share of the height given to the primary row when there are secondary plots
    PRIMARY_SHARE = 0.57
    layout_changed = QtCore.Signal()

    def __init__(self, parent=None, per_row: int = 4):
        super().__init__(parent)
        self.per_row = per_row  # at most this many secondary plots side by side
        self.lay = QtWidgets.QVBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.views: list[View] = []
        self.shown: dict[int, bool] = {}
        self.splitter = None
        self.tabs: list[QtWidgets.QTabWidget] = []
        self._arrangement = None
        self.text_panel = QtWidgets.QWidget()
        QtWidgets.QVBoxLayout(self.text_panel).setContentsMargins(0, 0, 0, 0)
        # views between two layouts, and views hidden because they do not apply, stay children
        # of this hidden holder: Qt owns them and deletes them with the grid (a parentless
        # widget would be left to Python's garbage collector, at any moment)
        self._holder = QtWidgets.QWidget(self)
        self._holder.hide()

    # ---- building ---------------------------------------------------------------
    def set_views(self, specs: list[dict], params: dict | None = None) -> None:
        """Build the views of ``specs``; ``params`` (the model's values) decide which apply
        until the first frame says."""
        for v in self.views:
            if hasattr(v, "close_canvas"):
                v.close_canvas()
            v.setParent(self._holder)
            v.deleteLater()
        self._clear_containers()
        self.views = [make_view(s) for s in specs]
        for v in self.views:
            if isinstance(v, GLFrame):
                v.placement_changed.connect(self._relayout)
        self.shown = {id(v): applies(v.spec, params or {}, {}) for v in self.views}
        self._relayout()

    def role(self, view: View) -> str:
        """Where ``view`` goes now: a 3D view outside the grid (its own window, hidden, or no
        OpenGL) is "info", a short line beside the parameters instead of an empty slot."""
        if isinstance(view, GLFrame) and not view.embedded():
            return "info"
        return view_role(view.spec)

    def visible_views(self) -> list[View]:
        return [v for v in self.views if self.shown.get(id(v), True)]

    def _clear_containers(self) -> None:
        for v in self.views:  # out of the old splitters and tabs, which then go
            v.setParent(self._holder)
        if self.splitter is not None:
            self.splitter.setParent(self._holder)
            self.splitter.deleteLater()
            self.splitter = None
        self.tabs = []
        self._arrangement = None

    def _plan(self):
        """(primary slots, rows of secondary slots) for the grid's size; a slot is a list of
        views (more than one: tabs)."""
        visible = self.visible_views()
        primary = [v for v in visible if self.role(v) == "primary"]
        secondary = [v for v in visible if self.role(v) == "secondary"]
        width, height = max(self.width(), 1), max(self.height(), 1)
        if not primary and secondary:  # no primary view: the first plot takes the top row
            primary, secondary = secondary[:1], secondary[1:]
        # primaries that do not fit side by side share the row's last slot as tabs: each
        # keeps a primary's size (a race's third image was a 176 px strip)
        fits = max(1, width // self.MIN_PRIMARY)
        if len(primary) <= fits:
            top = [[v] for v in primary]
        else:
            top = [[v] for v in primary[:fits - 1]] + [primary[fits - 1:]]
        # an image beside its colour bar needs more width than a plot
        slot_width = self.MIN_SECONDARY[0] + (80 if any(isinstance(v, ImageView) for v in secondary) else 0)
        columns = max(1, min(self.per_row, width // slot_width))
        rows = max(1, int(height * (1 - self.PRIMARY_SHARE)) // self.MIN_SECONDARY[1]) if secondary else 0
        rows = min(rows, 2)
        n_slots = columns * rows
        if len(secondary) <= n_slots:
            slots = [[v] for v in secondary]
        else:
            slots = [[v] for v in secondary[:n_slots - 1]] + [secondary[n_slots - 1:]]
        per_row = min(columns, len(slots)) if slots else 0
        slot_rows = [slots[i:i + per_row] for i in range(0, len(slots), per_row)] if slots else []
        return top, slot_rows

    def _relayout(self, *_args) -> None:
        top, slot_rows = self._plan()
        info = [v for v in self.visible_views() if self.role(v) == "info"]
        key = (tuple(tuple(id(v) for v in s) for s in top), tuple(tuple(tuple(id(v) for v in s) for s in r) for r in slot_rows),
               tuple(id(v) for v in info))
        if key == self._arrangement:
            return
        self._clear_containers()
        self._arrangement = key
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        self.splitter.setChildrenCollapsible(False)
        for group in ([top] if top else []) + slot_rows:
            row = QtWidgets.QSplitter(QtCore.Qt.Horizontal)
            row.setChildrenCollapsible(False)
            for slot in group:
                if len(slot) == 1:
                    row.addWidget(slot[0])
                else:
                    row.addWidget(self._tabbed(slot))
            # equal shares (a splitter otherwise starts from each view's size hint: a short
            # title and a colour bar left a race's third image half as wide as the first)
            row.setSizes([10_000] * row.count())
            self.splitter.addWidget(row)
        if top and slot_rows:
            h = max(self.height(), 100)
            share = int(h * self.PRIMARY_SHARE)
            self.splitter.setSizes([share] + [(h - share) // len(slot_rows)] * len(slot_rows))
            self.splitter.setStretchFactor(0, 3)
            for i in range(1, len(slot_rows) + 1):
                self.splitter.setStretchFactor(i, 2)
        self.lay.addWidget(self.splitter)
        for v in info:
            self.text_panel.layout().addWidget(v)
        tabbed = {id(v) for t in self.tabs for v in (t.widget(i) for i in range(t.count()))}
        for v in self.views:  # a tab widget shows its current page itself
            if not self.shown.get(id(v), True):
                v.hide()
            elif id(v) not in tabbed:
                v.show()
        self.text_panel.setVisible(bool(info))
        self.layout_changed.emit()

    def _tabbed(self, views: list[View]) -> QtWidgets.QTabWidget:
        """Plots that share one slot, one tab each (the tab names the plot; its tooltip the whole title)."""
        tabs = QtWidgets.QTabWidget()
        tabs.setDocumentMode(True)
        tabs.setElideMode(QtCore.Qt.ElideNone)
        tabs.setUsesScrollButtons(True)
        for v in views:
            i = tabs.addTab(v, _short(v.title))
            tabs.setTabToolTip(i, v.title)
        self.tabs.append(tabs)
        return tabs

    def resizeEvent(self, event):  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self.views:
            self._relayout()

    # ---- frames -------------------------------------------------------------------
    def update_frame(self, arrays, observables, params, time) -> None:
        changed = False
        for v in self.views:
            shown = applies(v.spec, params, observables)
            if shown != self.shown.get(id(v), True):
                self.shown[id(v)] = shown
                changed = True
        if changed:
            self._relayout()
        for v in self.views:
            v.update_frame(arrays, observables, params, time)

    def set_texts(self, texts: dict) -> None:
        for v in self.views:
            if hasattr(v, "set_texts"):  # text panels, and plots that take their labels from texts
                v.set_texts(texts)

    def clear(self) -> None:
        for v in self.views:
            v.clear()


def _short(title: str, n: int = 28) -> str:
    """A tab's name: the title's first clause, at most ``n`` characters."""
    head = title.split(" (")[0]
    return head if len(head) <= n else head[:n - 1] + "…"
