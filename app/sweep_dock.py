"""The sweep panel: map observables over one or two parameters of the current model.

The dock builds a sweep file from the model on screen (its parameters as the
base, axes picked from its declared numeric parameters, an observable the
frames carry), checks it against the declarations it already has (no torch
here), and runs it as ``attractor-lab sweep run … --progress json`` in a
separate process — the window never computes a point and stays responsive.
Progress arrives as JSON lines on the child's stdout; the map is read from the
Zarr store the child writes (numpy and zarr only) a few times a second: a
heat map with a colour bar in parameter units, or curves with error bars
across seeds for one axis, with the model's theory lines (computed by the
child through ``Model.theory_lines`` and stored with the results). A click on
the map emits :attr:`SweepDock.open_point` with that point's parameters and
seed; the main window loads it as the live run. Cancel stops the child with
SIGTERM, which keeps every finished point (run the same sweep again to resume
it from the CLI).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from app.launch import cli_command
from widgets.view_base import PALETTE, add_legend, colormap

REFRESH_MS = 400
REDUCTIONS = ("mean", "final", "fraction_above")


def _default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores - 1)  # one core stays with the window and its engine


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (plot coordinates)."""
    v = np.asarray(values, dtype=float)
    if v.size == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


class AxisEditor(QtWidgets.QWidget):
    """Parameter, from, to, count and log spacing of one axis."""

    def __init__(self, optional: bool, parent=None):
        super().__init__(parent)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.optional = optional
        self.param = QtWidgets.QComboBox()
        self.start = QtWidgets.QDoubleSpinBox(decimals=6)
        self.stop = QtWidgets.QDoubleSpinBox(decimals=6)
        self.count = QtWidgets.QSpinBox(minimum=1, maximum=1000, value=11)
        self.log = QtWidgets.QCheckBox("log")
        for w, tip in ((self.param, "swept parameter"), (self.start, "first value"), (self.stop, "last value"),
                       (self.count, "number of values"), (self.log, "logarithmic spacing")):
            w.setToolTip(tip)
            lay.addWidget(w, 2 if w is self.param else 1)
        self.schema: dict[str, dict] = {}
        self.param.currentIndexChanged.connect(self._on_param)

    def set_params(self, params: list[dict], values: dict, preferred: int = 0) -> None:
        self.schema = {p["name"]: p for p in params if p["kind"] in ("float", "int")}
        self.values = values
        self.param.blockSignals(True)
        self.param.clear()
        if self.optional:
            self.param.addItem("(none: one axis)", None)
        for name in self.schema:
            self.param.addItem(name, name)
        self.param.setCurrentIndex(min(preferred, self.param.count() - 1))
        self.param.blockSignals(False)
        self._on_param()

    def _on_param(self) -> None:
        name = self.param.currentData()
        for w in (self.start, self.stop, self.count, self.log):
            w.setEnabled(name is not None)
        if name is None:
            return
        p = self.schema[name]
        lo = p["min"] if p["min"] is not None else -1e12
        hi = p["max"] if p["max"] is not None else 1e12
        for box in (self.start, self.stop):
            box.setRange(lo, hi)
            box.setDecimals(0 if p["kind"] == "int" else 6)
        value = float(self.values.get(name, p["default"]))
        top = hi if hi <= max(10 * abs(value), 1.0) else (2 * value if value > 0 else min(hi, 1.0))
        self.start.setValue(lo if lo > -1e12 else value / 2)
        self.stop.setValue(top)
        self.log.setChecked(bool(p.get("log")) and lo > 0)

    def table(self) -> dict | None:
        name = self.param.currentData()
        if name is None:
            return None
        start, stop = self.start.value(), self.stop.value()
        if self.schema[name]["kind"] == "int":
            start, stop = int(round(start)), int(round(stop))
        return {"param": name, "start": start, "stop": stop, "count": self.count.value(),
                "spacing": "log" if self.log.isChecked() else "linear"}


class SweepDock(QtWidgets.QDockWidget):
    """The sweep panel (see the module docstring)."""

    #: model, parameters, seed of a clicked point
    open_point = QtCore.Signal(str, dict, int)
    #: the map was redrawn from the store: points done, total
    map_updated = QtCore.Signal(int, int)
    #: the sweep process ended: its state ("finished", "stopped", "failed") and a message
    finished = QtCore.Signal(str, str)

    def __init__(self, parent=None, device: str = "auto", folder: str | os.PathLike | None = None, base=None):
        super().__init__("Sweep", parent)
        self.setObjectName("sweep_dock")
        self.device = device
        #: callable returning the run on screen: {"describe", "params", "seed", "observables"}
        self.base = base
        self.folder = Path(folder) if folder else None
        self.describe: dict | None = None
        self.params: dict = {}
        self.seed = 0
        self.proc: QtCore.QProcess | None = None
        self.store: Path | None = None
        self.results = None
        self._stderr = b""
        self._stdout = b""
        self._progress: dict = {}
        self._cancelled = False
        box = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(box)
        form = QtWidgets.QFormLayout()
        self.x_axis, self.y_axis = AxisEditor(False), AxisEditor(True)
        form.addRow("x", self.x_axis)
        form.addRow("y", self.y_axis)
        row = QtWidgets.QHBoxLayout()
        self.seeds = QtWidgets.QSpinBox(minimum=1, maximum=1000, value=2, toolTip="seeds per point")
        self.steps = QtWidgets.QSpinBox(minimum=1, maximum=10**9, value=100, toolTip="steps per point")
        self.burn_in = QtWidgets.QSpinBox(minimum=0, maximum=10**9, value=50, toolTip="steps before averaging")
        self.workers = QtWidgets.QSpinBox(minimum=1, maximum=256, value=_default_workers(),
                                          toolTip="worker processes of the embedded Dask cluster")
        for label, w in (("seeds", self.seeds), ("steps", self.steps), ("burn-in", self.burn_in),
                         ("workers", self.workers)):
            row.addWidget(QtWidgets.QLabel(label))
            row.addWidget(w)
        form.addRow(row)
        row = QtWidgets.QHBoxLayout()
        self.observable = QtWidgets.QComboBox(editable=True, toolTip="observable to map")
        self.reduce = QtWidgets.QComboBox(toolTip="reduction over time: mean after burn-in, final value, "
                                                  "or the fraction of samples above the threshold")
        self.reduce.addItems(REDUCTIONS)
        self.threshold = QtWidgets.QDoubleSpinBox(decimals=4, minimum=-1e9, maximum=1e9, value=0.5,
                                                  toolTip="threshold of fraction_above")
        row.addWidget(self.observable, 2)
        row.addWidget(self.reduce, 1)
        row.addWidget(self.threshold, 1)
        form.addRow("keep", row)
        lay.addLayout(form)
        row = QtWidgets.QHBoxLayout()
        self.start_button = QtWidgets.QPushButton("Start sweep")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)
        self.status_label = QtWidgets.QLabel("Pick axes, then Start: the map fills in as points finish; "
                                             "click a point to open it live.")
        self.status_label.setWordWrap(True)
        lay.addWidget(self.status_label)
        self.plot = pg.PlotWidget()
        add_legend(self.plot)
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        lay.addWidget(self.plot, 1)
        self.mesh = None
        self.bar = None
        self.items: list = []
        self.setWidget(box)
        self._timer = QtCore.QTimer(self, interval=REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self.visibilityChanged.connect(lambda shown: self.model_changed() if shown else None)

    # ---- the model on screen ------------------------------------------------------------
    def model_changed(self) -> None:
        """Take the model, parameters and seed on screen from :attr:`base`."""
        if self.base is None:
            return
        now = self.base()
        if now.get("describe") is not None:
            self.set_model(now["describe"], now["params"], now["seed"])
            self.add_observables(now.get("observables", ()))

    def set_model(self, describe: dict, params: dict, seed: int) -> None:
        """The loaded model: its declaration, current parameters (the sweep's base) and seed."""
        same = self.describe is not None and self.describe["name"] == describe["name"]
        self.describe, self.params, self.seed = describe, dict(params), int(seed)
        if not same:
            names = [p["name"] for p in describe["params"] if p["kind"] in ("float", "int")]
            self.x_axis.set_params(describe["params"], params, 0)
            self.y_axis.set_params(describe["params"], params, 2 if len(names) > 1 else 0)
            self.observable.clear()
            for v in describe.get("views", []):
                for name in v.get("observables", []) if v.get("kind") in ("timeseries", "values") else []:
                    if self.observable.findText(name) < 0:
                        self.observable.addItem(name)
            spf = describe.get("steps_per_frame", 0)
            self.steps.setValue(50 if spf == 1 else 1000)
            self.burn_in.setValue(self.steps.value() // 2)

    def set_params(self, params: dict) -> None:
        """Parameters changed on the panel: they are the next sweep's base."""
        self.params = dict(params)

    def add_observables(self, names) -> None:
        """Observables seen in frames (more than the views plot)."""
        for name in names:
            if self.observable.findText(name) < 0:
                self.observable.addItem(name)

    # ---- running ----------------------------------------------------------------------------
    def sweep_table(self) -> dict:
        """The sweep file (as a table) the form describes."""
        reduce = self.reduce.currentText()
        keep = {"observable": self.observable.currentText().strip(), "reduce": reduce}
        if reduce == "fraction_above":
            keep["threshold"] = self.threshold.value()
        data = {"format_version": 1, "title": f"{self.describe['title']}: sweep from the window",
                "seeds": self.seeds.value(), "steps": self.steps.value(),
                "burn_in": min(self.burn_in.value(), self.steps.value() - 1),
                "base": {"model": self.describe["name"], "seed": self.seed, "params": dict(self.params)},
                "x": self.x_axis.table(), "keep": [keep]}
        y = self.y_axis.table()
        if y is not None:
            data["y"] = y
        return data

    def start(self) -> bool:
        """Check the form's sweep, write it and start ``sweep run`` in its own process."""
        if self.base is not None:  # the parameters and seed on screen now are the base
            now = self.base()
            if now.get("describe") is not None:
                self.set_model(now["describe"], now["params"], now["seed"])
        if self.describe is None or self.running:
            return False
        from engine.presets import schemas_from_descriptions
        from engine.sweep.spec import SweepError, parse_sweep

        data = self.sweep_table()
        schemas = schemas_from_descriptions({self.describe["name"]: self.describe})
        try:
            sweep = parse_sweep(data, where="sweep panel", schemas=schemas)
        except SweepError as exc:
            self._say(f"<span style='color:#e05050'>{exc}</span>")
            return False
        folder = self._new_folder()
        toml = folder / "sweep.toml"
        toml.write_text(sweep.dumps(), encoding="utf-8")
        self.store = folder / "results.zarr"
        self.results = None
        self._stderr, self._stdout, self._progress, self._cancelled = b"", b"", {}, False
        self._clear_plot()
        proc = QtCore.QProcess(self)
        program, *arguments = cli_command("sweep", "run", str(toml), "--out", str(self.store), "--workers",
                                          str(self.workers.value()), "--progress", "json", "--device", self.device)
        proc.setProgram(program)
        proc.setArguments(arguments)
        proc.readyReadStandardOutput.connect(self._on_stdout)
        proc.readyReadStandardError.connect(lambda: setattr(self, "_stderr", (self._stderr + bytes(
            proc.readAllStandardError()))[-20000:]))
        proc.finished.connect(self._on_finished)
        self.proc = proc
        proc.start()
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._say(f"starting {sweep.n_points} points ({' × '.join(a.param for a in sweep.axes)}, "
                  f"{len(sweep.seeds)} seeds) on {self.workers.value()} worker(s)…")
        self._timer.start()
        return True

    def _new_folder(self) -> Path:
        if self.folder is None:
            import platformdirs

            self.folder = Path(platformdirs.user_data_dir("attractor-lab", appauthor=False)) / "sweeps"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = self.folder / f"{self.describe['name']}-{stamp}"
        n = 1
        while folder.exists():
            n += 1
            folder = self.folder / f"{self.describe['name']}-{stamp}-{n}"
        folder.mkdir(parents=True)
        return folder

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.state() != QtCore.QProcess.NotRunning

    def cancel(self) -> None:
        """Stop the sweep (SIGTERM: the child keeps what is done); killed if it lingers."""
        if not self.running:
            return
        self._cancelled = True
        self._say("cancelling… (finished points are kept)")
        self.proc.terminate()
        QtCore.QTimer.singleShot(15_000, lambda p=self.proc: p.kill() if p.state() != QtCore.QProcess.NotRunning
                                 else None)

    def shutdown(self) -> None:
        """The window closes: stop a running sweep and wait briefly."""
        if self.running:
            self.proc.terminate()
            if not self.proc.waitForFinished(10_000):
                self.proc.kill()
                self.proc.waitForFinished(3000)
        self._timer.stop()

    def _on_stdout(self) -> None:
        self._stdout += bytes(self.proc.readAllStandardOutput())
        *lines, self._stdout = self._stdout.split(b"\n")
        for line in lines:
            try:
                self._progress = json.loads(line)
            except ValueError:
                continue
        p = self._progress
        if p:
            eta = p.get("eta")
            eta_text = "—" if eta is None or not math.isfinite(eta) else f"{eta:.0f} s"
            self._say(f"{p['done']}/{p['total']} points, {p['failed']} failed, {p['rate']:.3g} points/s, "
                      f"ETA {eta_text}, {p['workers']} workers")

    def _on_finished(self, code: int, status) -> None:
        self._timer.stop()
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.refresh()
        if self._cancelled:
            state, text = "stopped", f"cancelled; {self._done_text()} kept in {self.store}"
        elif code in (0, 1):
            state, text = "finished", f"finished: {self._done_text()} ({self.store})"
        else:
            tail = self._stderr.decode(errors="replace").strip().splitlines()[-3:]
            state, text = "failed", f"the sweep stopped (exit {code}): " + " / ".join(tail)
        self._say(text)
        self.finished.emit(state, text)

    def _done_text(self) -> str:
        r = self.results
        return f"{r.done} of {r.total} points" if r is not None else "no points"

    def _say(self, text: str) -> None:
        self.status_label.setText(text)

    # ---- the map --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the store (if it exists yet) and redraw."""
        if self.store is None or not (self.store / "zarr.json").exists():
            return
        from engine.sweep.store import StoreError, open_results

        try:
            self.results = open_results(self.store)
        except (StoreError, OSError, KeyError, ValueError):
            return  # being created: next tick
        self.draw(self.results)
        self.map_updated.emit(self.results.done, self.results.total)

    def _clear_plot(self) -> None:
        for item in self.items:
            self.plot.removeItem(item)
        self.items = []
        if self.mesh is not None:
            self.plot.removeItem(self.mesh)
            self.mesh = None
        if self.plot.plotItem.legend is not None:
            self.plot.plotItem.legend.clear()

    def _coords(self, axis: dict) -> np.ndarray:
        v = np.asarray(axis["values"], dtype=float)
        return np.log10(v) if axis.get("spacing") == "log" else v

    def draw(self, res) -> None:
        name = res.outputs[0]["name"]
        centre, spread, count = res.over_seeds(name)
        axes = res.axes
        self._clear_plot()
        pi = self.plot.getPlotItem()
        pi.setLogMode(x=axes[0].get("spacing") == "log", y=len(axes) > 1 and axes[1].get("spacing") == "log")
        unit = lambda a: f" ({a['unit']})" if a.get("unit") else ""  # noqa: E731
        pi.setLabel("bottom", axes[0]["param"] + unit(axes[0]))
        if len(axes) == 1:
            pi.setLabel("left", name)
            x = np.asarray(axes[0]["values"], dtype=float)  # PlotDataItem applies the log mode itself
            ok = np.isfinite(centre)
            curve = pg.PlotDataItem(x[ok], centre[ok], pen=pg.mkPen(PALETTE[0], width=2), symbol="o",
                                    symbolBrush=PALETTE[0], name=f"{name} (mean ± s.e.m.)")
            err = pg.ErrorBarItem(x=self._coords(axes[0])[ok], y=centre[ok], height=2 * np.nan_to_num(spread[ok]),
                                  pen=pg.mkPen(PALETTE[0]))
            self.plot.addItem(curve)
            self.plot.addItem(err)
            self.items += [curve, err]
            observable = res.outputs[0].get("observable")
            lines = [ln for ln in res.theory if ln.get("observable") in (None, observable)]
        else:
            pi.setLabel("left", axes[1]["param"] + unit(axes[1]))
            xe, ye = _edges(self._coords(axes[0])), _edges(self._coords(axes[1]))
            gx, gy = np.meshgrid(xe, ye)
            finite = centre[np.isfinite(centre)]
            levels = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            if levels[0] == levels[1]:
                levels = (levels[0] - 0.5, levels[1] + 0.5)
            self.mesh = pg.PColorMeshItem(gx, gy, centre, colorMap=colormap("viridis"), levels=levels)
            self.plot.addItem(self.mesh)
            if self.bar is None:
                self.bar = pg.ColorBarItem(values=levels, colorMap=colormap("viridis"), interactive=False, width=12,
                                           label=name)
                self.bar.setImageItem(self.mesh, insert_in=pi)
            else:
                self.bar.setImageItem(self.mesh)
                self.bar.setLevels(levels)
            lines = res.theory
        for i, line in enumerate(lines):
            xs = np.array([np.nan if v is None else v for v in line["x"]], dtype=float)
            ys = np.array([np.nan if v is None else v for v in line["y"]], dtype=float)
            item = pg.PlotDataItem(xs, ys, connect="finite", name=line["name"],
                                   pen=pg.mkPen(PALETTE[(i + 1) % len(PALETTE)], width=2))
            self.plot.addItem(item)
            self.items.append(item)

    def cell_at(self, x: float, y: float | None = None) -> tuple[int, int | None] | None:
        """The grid cell at plot coordinates (x, y), or None outside the map."""
        res = self.results
        if res is None:
            return None
        xc = self._coords(res.axes[0])
        if len(res.axes) == 1:
            ix = int(np.argmin(np.abs(xc - x)))
            return ix, None
        xe, ye = _edges(xc), _edges(self._coords(res.axes[1]))
        if not (min(xe[0], xe[-1]) <= x <= max(xe[0], xe[-1]) and min(ye[0], ye[-1]) <= y <= max(ye[0], ye[-1])):
            return None
        ix = int(np.clip(np.searchsorted(xe, x) - 1, 0, len(xc) - 1)) if xe[-1] > xe[0] else 0
        iy = int(np.clip(np.searchsorted(ye, y) - 1, 0, len(ye) - 2)) if ye[-1] > ye[0] else 0
        return ix, iy

    def open_cell(self, ix: int, iy: int | None = None, seed_index: int = 0) -> None:
        """Emit :attr:`open_point` for grid cell (ix, iy) and seed number ``seed_index``."""
        params, seed = self.results.grid_point(ix, iy, seed_index)
        where = ", ".join(f"{a['param']} = {params[a['param']]:g}" for a in self.results.axes)
        self._say(f"opened {where}, seed {seed} as the live run")
        self.open_point.emit(self.results.model, params, seed)

    def _on_click(self, event) -> None:
        if event.button() != QtCore.Qt.LeftButton or self.results is None:
            return
        vb = self.plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        point = vb.mapSceneToView(event.scenePos())
        cell = self.cell_at(point.x(), point.y())
        if cell is not None:
            self.open_cell(*cell)
