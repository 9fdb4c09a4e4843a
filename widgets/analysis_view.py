"""The Analysis dock's plot: bifurcation diagrams, orbit diagrams and basins as they arrive.

pyqtgraph only (no torch, no engine): :class:`AnalysisView` takes the pieces of an
``analyse`` poll (see docs/protocol.md, *Analysis jobs*) one at a time with
:meth:`AnalysisView.add_piece` and draws each at once:

* bifurcation: each equilibrium branch as polylines, stable solid and unstable dashed;
  its fold (``LP``), Hopf (``H``) and branch (``BP``) points marked and labelled beside
  the point; each cycle branch's min and max of the variable (stable solid, unstable dashed);
* orbit: the points (parameter, value) as small semi-transparent dots;
* basins: the grid's labels as an image coloured by attractor, with each attractor's
  count and share listed beside the plot.

A vertical line marks the current parameter (:meth:`set_current`). A left click on a
bifurcation or orbit diagram emits :attr:`param_clicked`; a box dragged with the left
button (orbit diagram) emits :attr:`range_selected` with the box's parameter range.
:meth:`data` returns what is drawn as named numpy arrays (for CSV/NPZ export).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

#: attractor colours (label 0, 1, …); label -1 (escaped / unsettled) is grey
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (188, 189, 34), (23, 190, 207), (127, 127, 127)]
ESCAPED = (60, 60, 60)
POINT_NAMES = {"fold": "LP", "hopf": "H", "branch": "BP", "period_doubling": "PD", "cycle_fold": "LPC",
               "fold_cycle": "LPC"}
POINT_COLOURS = {"fold": (220, 50, 50), "hopf": (40, 170, 40), "branch": (200, 120, 0)}
EQ_COLOUR = (90, 170, 255)
CYCLE_COLOUR = (255, 170, 60)


class _ClickBox(pg.ViewBox):
    """A ViewBox whose left drag draws a zoom box (reported, not applied: the dock recomputes)
    and whose left click is reported with its data coordinates."""

    clicked = QtCore.Signal(float, float)
    boxed = QtCore.Signal(float, float)

    def __init__(self):
        super().__init__()
        self.box_mode = False

    def mouseClickEvent(self, ev):  # noqa: N802 (pyqtgraph API)
        if ev.button() == QtCore.Qt.LeftButton:
            p = self.mapSceneToView(ev.scenePos())
            self.clicked.emit(float(p.x()), float(p.y()))
            ev.accept()
            return
        super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (pyqtgraph API)
        if not self.box_mode or ev.button() != QtCore.Qt.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if not ev.isFinish():
            self.updateScaleBox(ev.buttonDownPos(), ev.pos())
            return
        self.rbScaleBox.hide()
        a = self.mapToView(ev.buttonDownPos())
        b = self.mapToView(ev.pos())
        lo, hi = sorted((float(a.x()), float(b.x())))
        if hi > lo:
            self.boxed.emit(lo, hi)


class AnalysisView(QtWidgets.QWidget):
    """The plot of one analysis; see the module's doc."""

    param_clicked = QtCore.Signal(float)
    range_selected = QtCore.Signal(float, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.box = _ClickBox()
        self.plot = pg.PlotWidget(viewBox=self.box)
        self.plot.setBackground("k")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMinimumHeight(220)
        # a fixed axis width: a constant branch's first autorange ("1.0000000001") widened it for good
        self.plot.getAxis("left").setWidth(52)
        for axis in ("left", "bottom"):  # "x0 (x0.001)" read as a variable's name: plain numbers instead
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        lay.addWidget(self.plot, 1)
        self.legend_label = QtWidgets.QLabel()  # basins: attractors, counts, shares (not over the data)
        self.legend_label.setWordWrap(True)
        self.legend_label.setTextFormat(QtCore.Qt.RichText)
        lay.addWidget(self.legend_label)
        self.current_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((255, 255, 255, 160), width=1,
                                                                                  style=QtCore.Qt.DashLine))
        self.box.clicked.connect(self._on_click)
        self.box.boxed.connect(self.range_selected)
        self.kind = None
        self.clear("orbit")

    # ---- state ---------------------------------------------------------------------
    def clear(self, kind: str, spec: dict | None = None) -> None:
        """Forget what is drawn; the next pieces are of a ``kind`` analysis made with ``spec``."""
        self.kind, self.spec = kind, dict(spec or {})
        self.plot.clear()
        self.legend_label.clear()
        self.legend_label.setVisible(kind == "basins")
        self.box.box_mode = kind == "orbit"
        self._orbit: list[tuple[np.ndarray, np.ndarray]] = []
        self._orbit_item = None
        self._branches: list[dict] = []
        self._cycles: list[dict] = []
        self._points: list[dict] = []
        self._labels = None
        self._image = None
        self._attractors: list = []
        self._basin_meta: dict = {}
        self._ylim = None  # (low, high) of the values drawn (bifurcation, orbit)
        variable = self.spec.get("variable", "")
        if kind in ("bifurcation", "orbit"):
            self.plot.setLabel("bottom", str(self.spec.get("param", "")))
            self.plot.setLabel("left", str(variable) + (" (maxima)" if kind == "orbit" and not self.spec.get("section")
                                                        else ""))
            self.plot.addItem(self.current_line, ignoreBounds=True)
            rng = self.spec.get("range")
            if rng:
                self.plot.setXRange(*rng, padding=0.02)
            self.plot.disableAutoRange(axis="y")
        else:
            plane = self.spec.get("plane") or ["", ""]
            self.plot.setLabel("bottom", str(plane[0]))
            self.plot.setLabel("left", str(plane[1]))
        self.plot.setAspectLocked(kind == "basins")

    def set_current(self, value: float | None) -> None:
        """The vertical line at the current value of the diagram's parameter."""
        if value is None:
            self.current_line.hide()
        else:
            self.current_line.setValue(float(value))
            self.current_line.show()

    def has_data(self) -> bool:
        return bool(self._orbit or self._branches or self._cycles or self._labels is not None)

    # ---- pieces --------------------------------------------------------------------
    def add_piece(self, content: dict, arrays: dict) -> None:
        """Draw one piece of an ``analyse`` poll (``arrays``: its arrays, names without the index)."""
        what = content.get("what")
        if what == "orbit":
            self._add_orbit(arrays)
        elif what == "equilibria":
            self._add_equilibria(content, arrays)
        elif what == "cycles":
            self._add_cycles(content, arrays)
        elif what == "basins":
            self._add_basins(content, arrays)

    def _add_orbit(self, arrays: dict) -> None:
        x = np.asarray(arrays.get("point_param", ()), dtype=float)
        y = np.asarray(arrays.get("point_value", ()), dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        self._orbit.append((x[ok], y[ok]))
        xs = np.concatenate([a for a, _ in self._orbit])
        ys = np.concatenate([b for _, b in self._orbit])
        if self._orbit_item is None:
            self._orbit_item = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(120, 200, 255, 110), pxMode=True)
            self.plot.addItem(self._orbit_item)
        self._orbit_item.setData(xs, ys)
        self._fit_y(ys)

    def _add_equilibria(self, content: dict, arrays: dict) -> None:
        p = np.asarray(arrays["param"], dtype=float)
        v = np.asarray(arrays["value"], dtype=float)
        stable = np.asarray(arrays["stable"]).astype(bool)
        self._branches.append({"branch": content.get("branch", 0), "param": p, "value": v, "stable": stable})
        self._draw_runs(p, v, stable, EQ_COLOUR)
        for pt in content.get("points", ()):
            self._mark_point(pt)

    def _add_cycles(self, content: dict, arrays: dict) -> None:
        p = np.asarray(arrays["param"], dtype=float)
        stable = np.asarray(arrays["stable"]).astype(bool)
        lo, hi = np.asarray(arrays["min"], dtype=float), np.asarray(arrays["max"], dtype=float)
        self._cycles.append({"hopf": content.get("hopf"), "param": p, "min": lo, "max": hi, "stable": stable,
                             "period": np.asarray(arrays.get("period", np.full(p.shape, np.nan)), dtype=float)})
        self._draw_runs(p, lo, stable, CYCLE_COLOUR)
        self._draw_runs(p, hi, stable, CYCLE_COLOUR)
        for pt in content.get("points", ()):
            k = int(np.argmin(np.abs(p - pt["param"]))) if p.size else 0
            self._mark_point({"kind": pt["kind"], "param": pt["param"], "value": float(hi[k]) if p.size else 0.0})

    def _draw_runs(self, p, v, stable, colour) -> None:
        """Polylines of ``(p, v)``, solid where stable and dashed where not (runs share their ends)."""
        if p.size == 0:
            return
        self._fit_y(v)
        edges = np.flatnonzero(np.diff(stable.astype(np.int8))) + 1
        starts = np.concatenate([[0], edges])
        ends = np.concatenate([edges, [p.size]])
        for s, e in zip(starts, ends):
            e2 = min(e + 1, p.size)  # the next run starts where this one ends: no gap
            style = QtCore.Qt.SolidLine if stable[s] else QtCore.Qt.DashLine
            self.plot.plot(p[s:e2], v[s:e2], pen=pg.mkPen(colour, width=2, style=style))

    def _fit_y(self, values) -> None:
        """The vertical range to the values drawn so far, at least 1e-3·(1 + |value|) high (a constant
        branch does not zoom into rounding noise)."""
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return
        lo, hi = float(v.min()), float(v.max())
        if self._ylim is not None:
            lo, hi = min(lo, self._ylim[0]), max(hi, self._ylim[1])
        self._ylim = (lo, hi)
        mid, span = (lo + hi) / 2, hi - lo
        span = max(span, 0.2 * (1 + abs(mid)) if span < 1e-3 * (1 + abs(mid)) else span)
        self.plot.setYRange(mid - 0.55 * span, mid + 0.55 * span, padding=0)

    def _mark_point(self, pt: dict) -> None:
        kind = pt.get("kind", "")
        value = pt.get("value")
        if value is None:
            state = pt.get("state") or [0.0]
            var = self.spec.get("variable", 0)
            value = state[var] if isinstance(var, int) and var < len(state) else state[0]
            # a named variable: the branch's own value at that parameter (drawn as it is)
            if not isinstance(var, int) and self._branches:
                b = self._branches[-1]
                if b["param"].size:
                    value = float(b["value"][int(np.argmin(np.abs(b["param"] - pt["param"])))])
        self._points.append({"kind": kind, "param": float(pt["param"]), "value": float(value)})
        colour = POINT_COLOURS.get(kind, (230, 230, 230))
        self.plot.plot([pt["param"]], [value], pen=None, symbol="o", symbolSize=9, symbolBrush=colour,
                       symbolPen=pg.mkPen("w"))
        # beside the point, on the side away from the right edge; points close in parameter
        # stack their labels (BP and H a few hundredths apart were one smudge)
        lo, hi = self.spec.get("range") or (pt["param"] - 1, pt["param"] + 1)
        width = max(hi - lo, 1e-12)
        near = sum(abs(q["param"] - pt["param"]) < 0.2 * width for q in self._points[:-1])
        right = (pt["param"] - lo) / width > 0.7
        text = pg.TextItem(f"{POINT_NAMES.get(kind, kind)} {_at(pt['param'], width)}", color=colour,
                           anchor=(1.1 if right else -0.1, 1.1 + near))
        text.setPos(float(pt["param"]), float(value))
        self.plot.addItem(text)

    def _add_basins(self, content: dict, arrays: dict) -> None:
        n = int(content["size"])
        r0, r1 = content["rows"]
        if self._labels is None or self._labels.shape[0] != n:
            self._labels = np.full((n, n), -2, dtype=np.int64)  # -2: not computed yet
        self._labels[r0:r1] = np.asarray(arrays["labels"]).reshape(r1 - r0, n)
        self._attractors = list(content.get("attractors", ()))
        self._basin_meta = {"box": content.get("box"), "plane": content.get("plane"), "size": n}
        if content.get("plane"):
            self.plot.setLabel("bottom", str(content["plane"][0]))
            self.plot.setLabel("left", str(content["plane"][1]))
        rgba = np.zeros((n, n, 4), dtype=np.uint8)
        rgba[self._labels == -1] = (*ESCAPED, 255)
        for g in range(len(self._attractors)):
            rgba[self._labels == g] = (*PALETTE[g % len(PALETTE)], 255)
        if self._image is None:
            self._image = pg.ImageItem(axisOrder="row-major")
            self.plot.addItem(self._image)
            x0, x1, y0, y1 = content["box"]
            self._image.setImage(rgba, autoLevels=False)
            self._image.setRect(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))
            self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)
        else:
            self._image.setImage(rgba, autoLevels=False)
        done = int((self._labels > -2).sum())
        rows = [f"<b>{len(self._attractors)} attractor{'s' if len(self._attractors) != 1 else ''}</b>"
                f" ({done} of {n * n} starts computed)"]
        for a in self._attractors:
            r, g, b = PALETTE[a["index"] % len(PALETTE)]
            centre = ", ".join(_short((lo + hi) / 2) for lo, hi in zip(a.get("lower", ()), a.get("upper", ())))
            rows.append(f"<span style='color: rgb({r},{g},{b})'>■</span> #{a['index']} {a.get('kind', '')} "
                        f"near ({centre}): {a['count']} starts, {100 * a['fraction']:.1f} %")
        escaped = int((self._labels == -1).sum())
        if escaped:
            rows.append(f"<span style='color: rgb{ESCAPED}'>■</span> unsettled or escaped: {escaped}")
        self.legend_label.setText("<br>".join(rows))

    # ---- interaction and export --------------------------------------------------------
    def _on_click(self, x: float, _y: float) -> None:
        if self.kind in ("bifurcation", "orbit"):
            self.param_clicked.emit(x)

    def visible_range(self) -> tuple[float, float]:
        (x0, x1), _ = self.box.viewRange()
        return float(x0), float(x1)

    def data(self) -> dict:
        """What is drawn, as named arrays (CSV: one table per kind; NPZ: all of them)."""
        if self.kind == "orbit":
            xs = np.concatenate([a for a, _ in self._orbit]) if self._orbit else np.zeros(0)
            ys = np.concatenate([b for _, b in self._orbit]) if self._orbit else np.zeros(0)
            return {"param": xs, "value": ys}
        if self.kind == "basins":
            out = {"labels": self._labels if self._labels is not None else np.zeros((0, 0), np.int64)}
            if self._basin_meta.get("box"):
                out["box"] = np.asarray(self._basin_meta["box"], dtype=float)
            out["fraction"] = np.asarray([a["fraction"] for a in self._attractors], dtype=float)
            out["count"] = np.asarray([a["count"] for a in self._attractors], dtype=np.int64)
            return out
        out = {}
        if self._branches:
            out["branch"] = np.concatenate([np.full(b["param"].size, b["branch"]) for b in self._branches])
            out["param"] = np.concatenate([b["param"] for b in self._branches])
            out["value"] = np.concatenate([b["value"] for b in self._branches])
            out["stable"] = np.concatenate([b["stable"] for b in self._branches]).astype(np.int64)
        for i, c in enumerate(self._cycles):
            for key in ("param", "min", "max", "period"):
                out[f"cycle{i}_{key}"] = c[key]
            out[f"cycle{i}_stable"] = c["stable"].astype(np.int64)
        if self._points:
            out["point_param"] = np.asarray([p["param"] for p in self._points])
            out["point_value"] = np.asarray([p["value"] for p in self._points])
            out["point_kind"] = np.asarray([p["kind"] for p in self._points])
        return out

    def csv_text(self) -> str:
        """The data as CSV: orbit (param, value), bifurcation (branch rows, then cycle rows,
        then special points), basins (x, y, label per grid start)."""
        d = self.data()
        lines = []
        if self.kind == "orbit":
            lines.append("param,value")
            lines += [f"{a:.10g},{b:.10g}" for a, b in zip(d["param"], d["value"])]
        elif self.kind == "basins":
            lines.append("x,y,label")
            labels = d["labels"]
            if labels.size and "box" in d:
                n = labels.shape[0]
                x0, x1, y0, y1 = d["box"]
                xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
                ys = y0 + (np.arange(n) + 0.5) * (y1 - y0) / n
                for r in range(n):
                    lines += [f"{xs[c]:.8g},{ys[r]:.8g},{labels[r, c]}" for c in range(n)]
        else:
            lines.append("what,branch,param,value,stable")
            for i in range(d.get("param", np.zeros(0)).size):
                lines.append(f"equilibrium,{d['branch'][i]},{d['param'][i]:.10g},{d['value'][i]:.10g},{d['stable'][i]}")
            for i, c in enumerate(self._cycles):
                for j in range(c["param"].size):
                    lines.append(f"cycle_min,{i},{c['param'][j]:.10g},{c['min'][j]:.10g},{int(c['stable'][j])}")
                    lines.append(f"cycle_max,{i},{c['param'][j]:.10g},{c['max'][j]:.10g},{int(c['stable'][j])}")
            for p in self._points:
                lines.append(f"{p['kind']},,{p['param']:.10g},{p['value']:.10g},")
        return "\n".join(lines) + "\n"


def _short(v: float) -> str:
    """A coordinate for the attractors' list: 3 significant digits, 0 for |v| < 1e-3."""
    return "0" if abs(v) < 1e-3 else f"{v:.3g}"


def _at(value: float, width: float) -> str:
    """A point's parameter to 4 digits of the diagram's range (5.7e-14 on a range of 2.5 is 0)."""
    import math

    decimals = max(0, min(12, 3 - math.floor(math.log10(width))))
    text = f"{value:.{decimals}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text
