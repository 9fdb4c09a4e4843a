"""What every view shares: the pyqtgraph look, palettes, colour maps and the
:class:`View` / :class:`PlotView` bases. Views take numpy arrays and plain
Python values only (no torch, nothing from ``engine/``)."""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

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
    g < 1)" lost everything after its "<").

    It sits in the plot's own layout, under the bottom axis, never on the data; its entries
    flow into as many columns as the plot's width holds (:meth:`fit`), and the plot's context
    menu shows or hides it ("Show key"). Exports of the plot include it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("brush", None)
        kwargs.setdefault("verSpacing", -6)
        kwargs.setdefault("horSpacing", 12)
        super().__init__(*args, **kwargs)
        self._width = 0.0
        self.wanted = True  # the user's choice ("Show key")
        self.at_right = False  # under the plot, or at its right (a short, wide plot)
        self._height = 0.0

    def addItem(self, item, name):  # noqa: N802 (pyqtgraph API)
        super().addItem(item, html.escape(name) if isinstance(name, str) else name)
        self.fit()

    def updateSize(self):  # noqa: N802 (pyqtgraph API)
        """In the plot's layout, the layout places the key: pyqtgraph's own updateSize moved
        it to the plot's corner (0, 0), on the data, until the next layout pass."""
        layout = getattr(self.parentItem(), "layout", None)
        if not isinstance(layout, QtWidgets.QGraphicsLayout):
            return super().updateSize()
        self.updateGeometry()
        layout.activate()

    def removeItem(self, item):  # noqa: N802 (pyqtgraph API)
        super().removeItem(item)
        self.fit()

    def fit(self, width: float | None = None, height: float | None = None) -> None:
        """Place and flow the entries for a plot of ``width`` × ``height`` (by default the
        last size given): under the plot in as many columns as its width holds, or, where
        the rows under it would take more than a fifth of a short plot's height, in one
        column at its right. The key is never wider than its plot."""
        if width is not None:
            self._width = float(width)
        if height is not None:
            self._height = float(height)
        # one entry alone says no more than the plot's title: no key then
        shown = len(self.items) >= 2 and self.wanted
        if shown != self.isVisible():
            self.setVisible(shown)
            self.setMaximumHeight(-1 if shown else 0)
            self.setMaximumWidth(-1 if shown else 0)
        if not self.items:
            self.setColumnCount(1)
            return
        # the text's own width (a label laid out in a cell grows to the cell)
        entry = max(sample.boundingRect().width() + label.item.boundingRect().width()
                    for sample, label in self.items) + self.layout.horizontalSpacing() + 12
        n = len(self.items)
        # under the plot in the columns its width holds, or at its right in the fewest columns
        # whose rows fit its height: whichever leaves the larger plot
        below = max(1, min(n, int(self._width // entry) if self._width > 0 else 1))
        right_cols = max(1, -(-n // max(1, int(0.9 * self._height // KEY_ROW)))) if self._height > 0 else n
        below_h = self._height - (-(-n // below)) * KEY_ROW
        right_w = self._width - right_cols * entry
        # the placement whose plot keeps the larger smaller side (relative to a 300 × 220 plot)
        right = (shown and self._height > 0 and right_cols <= 2 and right_w >= 150
                 and min(right_w / 300, self._height / 220) > min(self._width / 300, below_h / 220))
        columns = right_cols if right else below
        if columns != self.columnCount:
            self.setColumnCount(columns)
        if right and not self._place(True):  # it did not fit at the right after all
            self.setColumnCount(below)
        elif not right:
            self._place(False)

    def _place(self, right: bool) -> bool:
        """Move the key under the plot or to its right; whether it is at the right now."""
        parent = self.parentItem()
        layout = getattr(parent, "layout", None)
        if layout is None or right == self.at_right:
            return self.at_right
        layout.removeItem(self)
        # a gap between the plot and its key: cells meet at fractional pixels, and data on the
        # plot's edge (a field's last column of arrows) would touch the key
        layout.setColumnSpacing(3, KEY_GAP)
        layout.setRowSpacing(3, KEY_GAP)
        if right:
            layout.addItem(self, 2, 4)
            layout.setAlignment(self, QtCore.Qt.AlignTop | QtCore.Qt.AlignLeft)
        else:
            layout.addItem(self, 4, 1)
            layout.setAlignment(self, QtCore.Qt.AlignLeft)
        self.at_right = right
        layout.activate()
        vb = getattr(parent, "vb", None)
        if right and vb is not None:
            overlap = self.sceneBoundingRect().intersected(vb.sceneBoundingRect())
            if overlap.width() > 2 and overlap.height() > 2:  # (half a pixel of rounding is not overflow)
                return self._place(False)  # too narrow after all: the layout overflowed onto the plot
        return self.at_right


#: height of one row of a key, in px
KEY_ROW = 24
#: gap between a plot and its key, in px
KEY_GAP = 8


def add_legend(plot: pg.PlotWidget) -> PlainLegend:
    """Attach a :class:`PlainLegend` to ``plot`` under its bottom axis (off the data)."""
    item = plot.getPlotItem()
    legend = PlainLegend()
    item.layout.addItem(legend, 4, 1)
    item.layout.setRowSpacing(3, KEY_GAP)  # a gap between the bottom axis and the key
    item.legend = legend
    action = item.vb.menu.addAction("Show key")
    action.setCheckable(True)
    action.setChecked(True)
    action.toggled.connect(lambda shown: set_key_shown(plot, shown))
    legend.toggle_action = action
    plot.installEventFilter(_LegendFitter(plot, legend))
    return legend


def set_key_shown(plot: pg.PlotWidget, shown: bool) -> None:
    """Show or hide ``plot``'s key; hidden, it gives its rows back to the plot."""
    item = plot.getPlotItem()
    legend = item.legend
    if legend is None:
        return
    legend.wanted = shown
    legend.fit()  # shows or hides it, and gives its rows back to the plot
    legend.toggle_action.setChecked(shown)
    item.layout.activate()


class _LegendFitter(QtCore.QObject):
    """Refits the key's columns when its plot is resized."""

    def __init__(self, plot, legend):
        super().__init__(plot)
        self.legend = legend

    def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
        if event.type() == QtCore.QEvent.Resize:
            self.legend.fit(obj.width() - 60, obj.height() - 40)
        return False


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


#: a view's role when its spec does not say: the primary field or portrait gets the space
DEFAULT_ROLES = {"image": "primary", "surface": "primary", "phase": "primary", "trajectory3d": "primary",
                 "text": "info", "values": "info"}
ROLES = ("primary", "secondary", "info")


def view_role(spec: dict) -> str:
    """``spec``'s role: "primary" (the field or portrait the model is about), "secondary"
    (plots beside it) or "info" (tables and text, never in a plot's place)."""
    role = spec.get("role") or DEFAULT_ROLES.get(spec.get("kind"), "secondary")
    return role if role in ROLES else "secondary"


def applies(spec: dict, params: dict, observables: dict) -> bool:
    """Whether a view means something now: every ``[name, [values…]]`` of its ``shown_when``
    holds, ``name`` looked up in the parameters, then the observables. Numbers compare as
    floats (an observable flag 1.0 matches ``[1]`` or ``[true]``); an unknown name hides the view."""
    for name, allowed in spec.get("shown_when", ()):
        value = params[name] if name in params else observables.get(name)
        if value is None:
            return False
        if not any(_same(value, a) for a in allowed):
            return False
    return True


def _same(value, allowed) -> bool:
    if isinstance(value, str) or isinstance(allowed, str):
        return str(value) == str(allowed)
    try:
        return float(value) == float(allowed)
    except (TypeError, ValueError):
        return value == allowed


def lookup(name, observables, params):
    """``name`` as a float from the observables, else the parameters; None if absent or not a number."""
    for source in (observables, params):
        if name in source:
            try:
                return float(source[name])
            except (TypeError, ValueError):
                return None
    return None
