"""Views built from a model's declared view specs (see ``engine/models/base.py``).

Every view takes numpy arrays and scalars: ``update_frame(arrays, observables,
params, time)``. :func:`make_view` maps a spec's ``kind`` to its class, so a
new model gets its views without editing the GUI.
"""

from __future__ import annotations

import time as _time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="#14161a", foreground="#d8d8d8")

POINT_COLORS = ["#ff3b30", "#ffd166", "#06d6a0", "#ffffff"]
POINT_SYMBOLS = ["o", "d", "t", "s"]
PALETTE = ["#4cc9f0", "#f72585", "#ffd166", "#06d6a0", "#f8961e", "#b5179e", "#90be6d", "#577590"]


# Common names (matplotlib's) for maps pyqtgraph ships under colorcet names.
_COLORMAP_ALIASES = {
    "gray": "CET-L1", "grey": "CET-L1", "greys": "CET-L1", "binary": "CET-L1",
    "twilight": "CET-C6", "hsv": "CET-C2", "coolwarm": "CET-D1", "RdBu": "CET-D1", "seismic": "CET-D1",
}


def colormap(name: str) -> pg.ColorMap:
    """A pyqtgraph colour map by name; matplotlib's common names work; unknown names give viridis."""
    name = _COLORMAP_ALIASES.get(name, name)
    if name not in pg.colormap.listMaps():
        name = "viridis"
    return pg.colormap.get(name)


class View(QtWidgets.QWidget):
    """Base: a titled frame around one graphics widget."""

    def __init__(self, spec: dict, parent=None):
        super().__init__(parent)
        self.spec = spec
        self.title = spec.get("title") or spec.get("array") or spec.get("kind")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(1)
        self.title_label = QtWidgets.QLabel(self.title)
        self.title_label.setStyleSheet("font-weight: bold;")
        lay.addWidget(self.title_label)

    def update_frame(self, arrays: dict, observables: dict, params: dict, time: float) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        """Forget history (after a reset)."""

    def export_item(self):
        """The pyqtgraph item that exporters render, or None."""
        return None


class ImageView(View):
    """A 2D field with a colour map, fixed (or auto) levels, an optional mask overlay and painting."""

    painted = QtCore.Signal(str, float, float)  # array name, x (column), y (row)

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.glw = pg.GraphicsLayoutWidget()
        self.layout().addWidget(self.glw, 1)
        self.plot = self.glw.addPlot()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        cmap = colormap(spec.get("colormap", "viridis"))
        self.image.setColorMap(cmap)
        self.levels = spec.get("levels")
        self.bar = pg.ColorBarItem(values=tuple(self.levels) if self.levels else (0, 1), colorMap=cmap,
                                   interactive=True, width=12)
        self.bar.setImageItem(self.image, insert_in=self.plot)
        self.mask_item = None
        if spec.get("mask"):
            self.mask_item = pg.ImageItem()
            self.mask_item.setZValue(10)
            self.plot.addItem(self.mask_item)
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
        if not self.auto_box.isChecked():
            if self._first:
                self.image.setImage(a, levels=tuple(self.levels or (float(np.nanmin(a)), float(np.nanmax(a)))))
            else:
                self.image.setImage(a, autoLevels=False)
        else:
            lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
            if hi <= lo:
                hi = lo + 1e-12
            self.image.setImage(a, autoLevels=False)
            self.bar.setLevels((lo, hi))
        self._first = False
        if self.mask_item is not None:
            m = arrays.get(self.spec["mask"])
            if m is not None:
                m = np.asarray(m).reshape(a.shape) if np.asarray(m).size == a.size else np.asarray(m)
                rgba = np.zeros(m.shape + (4,), dtype=np.ubyte)
                rgba[m.astype(bool)] = (255, 40, 40, 200)
                self.mask_item.setImage(rgba, levels=(0, 255))

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


class PlotView(View):
    """Base of the views drawn in one pyqtgraph plot (exported as that plot)."""

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.plot = pg.PlotWidget()
        self.layout().addWidget(self.plot, 1)

    def export_item(self):
        return self.plot.getPlotItem()


class TimeSeriesView(PlotView):
    """Observables against simulation time; the first few highlighted, the rest faint."""

    MAX_POINTS = 4000

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.plot.addLegend(offset=(5, 5))
        self.plot.setLabel("bottom", spec.get("xlabel", "time"))
        if spec.get("ylabel"):
            self.plot.setLabel("left", spec["ylabel"])
        self.names = list(spec.get("observables", []))
        highlight = int(spec.get("highlight", 8))
        self.curves = {}
        for i, name in enumerate(self.names):
            if i < highlight:
                pen = pg.mkPen(PALETTE[i % len(PALETTE)], width=2)
                self.curves[name] = self.plot.plot([], [], pen=pen, name=name)
            else:
                self.curves[name] = self.plot.plot([], [], pen=pg.mkPen((160, 160, 160, 70), width=1))
        self.clear()

    def clear(self):
        self.t = np.empty(0)
        self.y = {n: np.empty(0) for n in self.names}
        for c in self.curves.values():
            c.setData([], [])

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


class LinesView(PlotView):
    """Curves from arrays (theory lines, dispersion relations) and live markers."""

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.plot.addLegend(offset=(5, 5))
        self.plot.setLabel("bottom", spec.get("xlabel", ""))
        self.plot.setLabel("left", spec.get("ylabel", ""))
        if spec.get("xlim"):
            self.plot.setXRange(*spec["xlim"], padding=0)
        if spec.get("ylim"):
            self.plot.setYRange(*spec["ylim"], padding=0)
        self.curves = []
        for i, s in enumerate(spec.get("series", [])):
            pen = pg.mkPen(s.get("color", PALETTE[i % len(PALETTE)]), width=2,
                           style=QtCore.Qt.DashLine if s.get("style") == "dash" else QtCore.Qt.SolidLine)
            self.curves.append((s, self.plot.plot([], [], pen=pen, name=s.get("name"))))
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
        for s, curve in self.curves:
            x, y = arrays.get(s["x"]), arrays.get(s["y"])
            if x is not None and y is not None:
                curve.setData(np.asarray(x, float), np.asarray(y, float), connect="finite")
        for p, item in self.points:
            x = _lookup(p["x"], observables, params)
            y = _lookup(p["y"], observables, params)
            if x is not None and y is not None and np.isfinite(x) and np.isfinite(y):
                item.setData([x], [y])
            else:
                item.setData([], [])


class TextView(View):
    """Static or slowly changing text (equations, regime)."""

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.label = QtWidgets.QPlainTextEdit(readOnly=True)
        self.label.setMaximumHeight(95)
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


_GL_RENDERER: str | None = None


def opengl_renderer() -> str:
    """The OpenGL renderer's name (e.g. 'llvmpipe (LLVM 15.0.6, 256 bits)'), '' if none.

    Asked once per process through an offscreen context, so that no GL widget
    has to enter the main window just to find out.
    """
    global _GL_RENDERER
    if _GL_RENDERER is None:
        _GL_RENDERER = ""
        if QtGui.QGuiApplication.platformName() not in ("offscreen", "minimal"):
            from PySide6 import QtOpenGL  # noqa: F401  (loads QOpenGLFunctions' bindings)

            ctx = QtGui.QOpenGLContext()
            surface = QtGui.QOffscreenSurface()
            surface.create()
            if ctx.create() and ctx.makeCurrent(surface):
                _GL_RENDERER = str(ctx.functions().glGetString(0x1F01) or "")  # GL_RENDERER
                ctx.doneCurrent()
    return _GL_RENDERER


def software_opengl() -> bool:
    """True when OpenGL is emulated on the CPU (Mesa llvmpipe/softpipe) or absent."""
    r = opengl_renderer().lower()
    return not r or any(w in r for w in ("llvmpipe", "softpipe", "software", "swrast"))


class SurfaceFrame(View):
    """A 3D height surface (vispy); vispy loads only when a 3D view is shown.

    A GL widget inside a window makes Qt composite that whole window through
    OpenGL. With software OpenGL (Mesa llvmpipe, no GPU) that made every 2D
    frame ~6× slower (12 → 74 ms at 1200×800). So with software OpenGL the 3D
    canvas lives in a window of its own (2D frames stay at ~16 ms, the 3D draw
    costs ~20 ms at 400²); with a GPU it sits in the grid.
    ``ATTRACTOR_LAB_3D=auto|embedded|window|off`` overrides (``off``: start
    hidden). Draws are timed and spaced at four times their cost; fields
    declared with auto levels get levels that follow the data.
    """

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        import os

        self.surface = None
        self.window3d = None
        self.max_fps = float(spec.get("max_fps", 15))
        self.draw_cost = 0.0
        self._last = 0.0
        self._last_array = None
        self.auto_levels = not spec.get("levels")
        platform = QtGui.QGuiApplication.platformName()
        self.toggle = QtWidgets.QPushButton()
        self.toggle.setCheckable(True)
        self.toggle.toggled.connect(self._on_toggled)
        row = QtWidgets.QHBoxLayout()
        self.layout().removeWidget(self.title_label)
        row.addWidget(self.title_label, 1)
        row.addWidget(self.toggle)
        self.layout().insertLayout(0, row)
        self.note = QtWidgets.QLabel()
        self.note.setAlignment(QtCore.Qt.AlignCenter)
        self.note.setWordWrap(True)
        self.layout().addWidget(self.note, 1)
        if platform in ("offscreen", "minimal"):
            self.note.setText(f"3D view needs OpenGL; the Qt platform '{platform}' has none.")
            self.toggle.setVisible(False)
            return
        mode = os.environ.get("ATTRACTOR_LAB_3D", "auto").lower()
        if mode == "auto":
            mode = "window" if software_opengl() else "embedded"
        # "off" starts hidden; shown later, it goes where "auto" would put it
        self.detached = mode == "window" or (mode == "off" and software_opengl())
        self._on_toggled(False)
        self.toggle.setChecked(mode != "off")

    def _on_toggled(self, show: bool) -> None:
        self.toggle.setText("Hide 3D" if show else "Show 3D")
        if show and self.surface is None:
            from widgets.surface_view import SurfaceView

            levels = self.spec.get("levels")
            self.surface = SurfaceView(colormap=self.spec.get("colormap", "viridis"),
                                       levels=tuple(levels) if levels else None,
                                       z_scale=self.spec.get("zscale", 0.25))
            if self.detached:
                self.window3d = _Window3D(self.surface, f"Attractor Lab — 3D: {self.title}", self.toggle)
                self.window3d.show()
            else:
                self.layout().addWidget(self.surface, 1)
            if self._last_array is not None:
                self._draw(self._last_array)
        elif not show and self.surface is not None:
            self.close_canvas()
        self.note.setVisible(not show or self.detached)
        if self.detached:
            renderer = opengl_renderer() or "missing"
            self.note.setText(
                f"The 3D view {'is in' if show else 'opens in'} a window of its own: OpenGL here is "
                f"'{renderer}', emulated on the CPU, and a 3D widget inside this window would slow every view ~6×.")
        else:
            self.note.setText("3D view hidden. Press 'Show 3D'.")

    def update_frame(self, arrays, observables, params, time):
        a = arrays.get(self.spec["array"])
        if a is None:
            return
        self._last_array = np.asarray(a)
        if self.surface is None or not self.surface.isVisible():
            return
        if _time.monotonic() - self._last >= max(1.0 / self.max_fps, 4.0 * self.draw_cost):
            self._draw(self._last_array)

    def _draw(self, a: np.ndarray) -> None:
        now = _time.monotonic()
        if self.auto_levels:
            self._follow_levels(a)
        self._last = now
        self.surface.set_data(a)
        canvas = self.surface.canvas
        if canvas is not None and self.surface.isVisible():
            canvas.native.repaint()  # draw now, to know what a frame costs
        self.draw_cost = _time.monotonic() - now

    def _follow_levels(self, a: np.ndarray) -> None:
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return
        if hi - lo < 1e-9 * max(1.0, abs(hi)):
            hi = lo + 1e-9 * max(1.0, abs(hi))
        cur = self.surface.levels
        if cur is None or abs(cur[0] - lo) > 0.1 * (hi - lo) or abs(cur[1] - hi) > 0.1 * (hi - lo):
            self.surface.set_levels(lo, hi)

    def close_canvas(self):
        if self.surface is not None:
            self.surface.close_canvas()
            self.surface.setParent(None)
            self.surface.deleteLater()
            self.surface = None
        if self.window3d is not None:
            self.window3d.release()
            self.window3d = None


class _Window3D(QtWidgets.QWidget):
    """A top-level window holding a 3D view; closing it unticks the frame's toggle."""

    def __init__(self, surface, title, toggle):
        super().__init__(None, QtCore.Qt.Window)
        self.setWindowTitle(title)
        self.toggle = toggle
        QtWidgets.QVBoxLayout(self).addWidget(surface)
        self.resize(460, 420)
        screen = QtGui.QGuiApplication.primaryScreen()
        if screen is not None:  # bottom-right corner, where it hides the least
            geo = screen.availableGeometry()
            self.move(geo.right() - self.width() - 10, geo.bottom() - self.height() - 40)
        self._released = False

    def release(self):
        self._released = True
        self.close()
        self.deleteLater()

    def closeEvent(self, event):  # noqa: N802 (Qt API)
        if not self._released:
            self.toggle.setChecked(False)  # the user closed it: same as 'Hide 3D'
        super().closeEvent(event)


def _lookup(name, observables, params):
    for source in (observables, params):
        if name in source:
            try:
                return float(source[name])
            except (TypeError, ValueError):
                return None
    return None


VIEW_KINDS = {
    "image": ImageView,
    "timeseries": TimeSeriesView,
    "bars": BarsView,
    "lines": LinesView,
    "text": TextView,
}


def make_view(spec: dict, parent=None) -> View:
    """Build the view for ``spec``; unknown kinds raise ``ValueError``."""
    kind = spec.get("kind")
    if kind == "surface":
        return SurfaceFrame(spec, parent)
    try:
        cls = VIEW_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown view kind {kind!r}; known: {', '.join(sorted(VIEW_KINDS))}, surface") from None
    return cls(spec, parent)


class ViewGrid(QtWidgets.QWidget):
    """All views of one model: images and surfaces on top, plots below in rows
    of at most ``per_row``; text views go to :attr:`text_panel` (the window
    shows it beside the parameters)."""

    def __init__(self, parent=None, per_row: int = 4):
        super().__init__(parent)
        self.per_row = per_row
        self.lay = QtWidgets.QVBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.views: list[View] = []
        self.splitter = None
        self.text_panel = QtWidgets.QWidget()
        QtWidgets.QVBoxLayout(self.text_panel).setContentsMargins(0, 0, 0, 0)

    def set_views(self, specs: list[dict]) -> None:
        for v in self.views:
            if hasattr(v, "close_canvas"):
                v.close_canvas()
            v.setParent(None)
            v.deleteLater()
        if self.splitter is not None:
            self.splitter.setParent(None)
            self.splitter.deleteLater()
        self.views = [make_view(s) for s in specs]
        big = [v for v in self.views if v.spec["kind"] in ("image", "surface")]
        texts = [v for v in self.views if isinstance(v, TextView)]
        small = [v for v in self.views if v not in big and v not in texts]
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        rows = ([big] if big else []) + [small[i:i + self.per_row] for i in range(0, len(small), self.per_row)]
        for group in rows:
            row = QtWidgets.QSplitter(QtCore.Qt.Horizontal)
            for v in group:
                row.addWidget(v)
            self.splitter.addWidget(row)
        if big and len(rows) > 1:
            self.splitter.setStretchFactor(0, 3)
            for i in range(1, len(rows)):
                self.splitter.setStretchFactor(i, 2)
        self.lay.addWidget(self.splitter)
        for v in texts:
            self.text_panel.layout().addWidget(v)
        self.text_panel.setVisible(bool(texts))

    def update_frame(self, arrays, observables, params, time) -> None:
        for v in self.views:
            v.update_frame(arrays, observables, params, time)

    def set_texts(self, texts: dict) -> None:
        for v in self.views:
            if isinstance(v, TextView):
                v.set_texts(texts)

    def clear(self) -> None:
        for v in self.views:
            v.clear()
