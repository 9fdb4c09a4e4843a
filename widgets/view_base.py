"""What every view shares: the pyqtgraph look, palettes, colour maps and the
:class:`View` / :class:`PlotView` bases. Views take numpy arrays and plain
Python values only (no torch, nothing from ``engine/``)."""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6 import QtWidgets

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
        # a long title wraps instead of setting the view's minimum width (side by side, it made
        # one image twice as wide as its neighbours); the whole title also shows as a tooltip
        self.title_label.setWordWrap(True)
        self.title_label.setToolTip(self.title)
        lay.addWidget(self.title_label)

    def update_frame(self, arrays: dict, observables: dict, params: dict, time: float) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        """Forget history (after a reset)."""

    def export_item(self):
        """The pyqtgraph item that exporters render, or None."""
        return None


class PlainLegend(pg.LegendItem):
    """A legend whose names are plain text (pyqtgraph reads them as HTML: "λ = g − 1 (N → ∞,
    g < 1)" lost everything after its "<"), on a translucent box so that a curve passing under
    it stays visible and the names stay readable."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("brush", pg.mkBrush(18, 20, 24, 150))
        super().__init__(*args, **kwargs)

    def addItem(self, item, name):  # noqa: N802 (pyqtgraph API)
        super().addItem(item, html.escape(name) if isinstance(name, str) else name)


def add_legend(plot: pg.PlotWidget, offset=(5, 5)) -> PlainLegend:
    """Attach a :class:`PlainLegend` to ``plot`` (as ``PlotItem.addLegend`` would)."""
    item = plot.getPlotItem()
    item.legend = PlainLegend(offset=offset)
    item.legend.setParentItem(item.vb)
    return item.legend


class PlotView(View):
    """Base of the views drawn in one pyqtgraph plot (exported as that plot)."""

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.plot = pg.PlotWidget()
        self.note = None  # spec "empty_note": why the plot is empty (show_empty_note)
        if spec.get("empty_note"):
            self.note = pg.TextItem(spec["empty_note"], color=(190, 190, 190), anchor=(0.5, 0.5))
            self.plot.addItem(self.note, ignoreBounds=True)
            self.note.setVisible(False)
        # plain numbers on the axes: pyqtgraph's automatic "(x0.001)" scale on an unlabelled
        # axis read as a unit ("overlap (x0.001)" running 0-600 for overlaps 0-0.6)
        for name in ("left", "bottom"):
            self.plot.getPlotItem().getAxis(name).enableAutoSIPrefix(False)
        self.layout().addWidget(self.plot, 1)

    def export_item(self):
        return self.plot.getPlotItem()

    def show_empty_note(self, empty: bool) -> None:
        """Show the ``empty_note`` in the middle of the plot while it has nothing to draw."""
        if self.note is None:
            return
        if empty:
            vb = self.plot.getViewBox()
            (x0, x1), (y0, y1) = vb.viewRange()
            self.note.setTextWidth(max(100.0, 0.8 * vb.width()))
            self.note.setPos(0.5 * (x0 + x1), 0.5 * (y0 + y1))
        self.note.setVisible(empty)

    def show_in_legend(self, item, name: str | None, shown: bool) -> None:
        """List ``item`` in the legend only while it has something to show: a 2D system's "z",
        an overlap m_5 of a network with 4 patterns, a theory that does not apply here."""
        legend = self.plot.getPlotItem().legend
        if legend is None or not name:
            return
        listed = any(sample.item is item for sample, _ in legend.items)
        if shown and not listed:
            legend.addItem(item, name)
        elif listed and not shown:
            legend.removeItem(item)


def lookup(name, observables, params):
    """``name`` as a float from the observables, else the parameters; None if absent or not a number."""
    for source in (observables, params):
        if name in source:
            try:
                return float(source[name])
            except (TypeError, ValueError):
                return None
    return None
