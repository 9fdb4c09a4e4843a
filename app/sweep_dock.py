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

Axes start around the values on screen (:func:`default_axis`): ×½…2 of a
positive value (log-spaced where the parameter's slider is logarithmic), ± a
span of its step or range around 0, mirrored for a negative value, always
inside the declared range, with a count that puts the current value on the
grid; they follow the values on screen until the user edits them. A count of
1 is the current value. Before Start the panel shows an estimate, "N points ×
~t ≈ T", where t is measured: one point of the current settings (two seeds, at
most :data:`PROBE_STEPS` steps, scaled to the steps asked) run by ``sweep
run`` in a worker of its own, in the background. Failed points are marked on
the map with a red ×; hovering shows their error, and a list under the map
gives each one's coordinates, seed and message.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from attractor_lab.app.launch import cli_command
from attractor_lab.widgets.param_panel import log_floor
from attractor_lab.widgets.view_base import PALETTE, add_legend, colormap

REFRESH_MS = 400
REDUCTIONS = ("mean", "final", "fraction_above")
#: default counts of the x and y axes (moved by one or two so the current value is on the grid)
DEFAULT_COUNTS = (7, 5)
#: the estimate's probe runs at most this many steps per point (scaled up to the steps asked)
PROBE_STEPS = 200
#: the probe starts once the settings have stood still this long (ms)
PROBE_DELAY_MS = 1200
#: how often the panel looks at the values on screen while it is shown (ms)
POLL_MS = 1000
FAILED_COLOR = "#ff3b30"


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


def duration_text(seconds: float) -> str:
    """A short human duration: 0.42 s, 15 s, 4.5 min, 1.2 h."""
    if not math.isfinite(seconds):
        return "—"
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.2g} min"
    return f"{seconds / 3600:.2g} h"


def axis_grid(start: float, stop: float, count: int, spacing: str, integer: bool = False) -> np.ndarray:
    """The values of an axis as ``engine.sweep.spec`` makes them (without its checks)."""
    if count == 1:
        grid = np.array([float(start)])
    elif spacing == "log":
        grid = np.geomspace(float(start), float(stop), count)
        grid[0], grid[-1] = start, stop
    else:
        grid = np.linspace(float(start), float(stop), count)
    return np.round(grid) if integer else grid


def _on_grid(value: float, grid: np.ndarray) -> bool:
    scale = max(abs(float(grid[-1] - grid[0])), abs(value), 1e-300)
    return bool(np.any(np.abs(grid - value) <= 1e-9 * scale))


def _zero_span(spec: dict, lo: float, hi: float) -> float:
    """Half-width of a default axis around 0: ten of the slider's steps, else a tenth of a
    moderate range, else 1."""
    if spec.get("step"):
        return 10.0 * float(spec["step"])
    if math.isfinite(lo) and math.isfinite(hi) and 0 < hi - lo <= 100:
        return 0.1 * (hi - lo)
    return 1.0


def default_axis(spec: dict, value: float, count: int = DEFAULT_COUNTS[0]) -> dict:
    """The default axis of parameter ``spec`` (a declaration from ``describe``) around ``value``.

    A positive value spans ×½…2, log-spaced where the parameter's slider is logarithmic
    (:func:`widgets.param_panel.log_floor`); a negative one 2×…½ (linear); 0 spans ± ten
    slider steps (or a tenth of the range). Everything is clipped to the declared range,
    and ``count`` moves by up to 3 so that ``value`` is one of the values."""
    lo = float(spec["min"]) if spec.get("min") is not None else -math.inf
    hi = float(spec["max"]) if spec.get("max") is not None else math.inf
    integer = spec["kind"] == "int"
    v = min(max(float(value), lo), hi)
    spacing = "linear"
    if v > 0:
        start, stop = max(lo, v / 2), min(hi, 2 * v)
        if log_floor(spec) is not None and start > 0:
            spacing = "log"
    elif v < 0:
        start, stop = max(lo, 2 * v), min(hi, v / 2)
    else:
        span = _zero_span(spec, lo, hi)
        start, stop = max(lo, -span), min(hi, span)
    if integer:
        start, stop = math.ceil(start), math.floor(stop)
        start, stop = min(start, round(v)), max(stop, round(v))
        count = min(count, int(stop - start) + 1)
    if stop <= start:
        return {"param": spec["name"], "start": v, "stop": v, "count": 1, "spacing": "linear"}
    target = max(2, count)
    chosen = target
    for n in sorted(range(max(2, target - 3), target + 4), key=lambda n: (abs(n - target), -n)):
        grid = axis_grid(start, stop, n, spacing, integer)
        if integer and len(set(grid.tolist())) != n:
            continue
        if _on_grid(v, grid):
            chosen = n
            break
    return {"param": spec["name"], "start": int(start) if integer else start, "stop": int(stop) if integer else stop,
            "count": chosen, "spacing": spacing}


def applies(spec: dict, values: dict) -> bool:
    """Whether a parameter applies to ``values`` (its ``shown_when``)."""
    return all(values.get(control) in allowed for control, allowed in spec.get("shown_when") or ())


def axis_candidates(params: list[dict], values: dict) -> list[str]:
    """Numeric parameters in the order the default axes take them: live ones that apply first
    (a slider's parameters), then other floats that apply, then the rest (sizes last)."""
    numeric = [p for p in params if p["kind"] in ("float", "int")]

    def rank(p):
        ok = applies(p, values)
        return (0 if ok and p.get("live") else 1 if ok and p["kind"] == "float" else 2 if ok else 3)

    return [p["name"] for p in sorted(numeric, key=rank)]


class NumberBox(QtWidgets.QDoubleSpinBox):
    """A compact spin box for any magnitude (six significant digits shown, 1e-12 kept)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(-1e12, 1e12)
        self.setMinimumWidth(56)
        self.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Fixed)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt API)
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 (Qt API)
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # noqa: N802 (Qt API)
        t = text.strip().replace(",", ".")
        if t in ("", "-", "+", ".", "-.", "+.") or t.lower().endswith(("e", "e-", "e+")):
            return QtGui.QValidator.Intermediate, text, pos
        try:
            float(t)
        except ValueError:
            return QtGui.QValidator.Invalid, text, pos
        return QtGui.QValidator.Acceptable, text, pos


class AxisEditor(QtWidgets.QWidget):
    """Parameter, from, to, count and log spacing of one axis, in two short rows.

    The range follows the value on screen (:func:`default_axis`) until the user edits it;
    a count of 1 is the value on screen."""

    #: the axis the editor describes changed (by the user or by following the values)
    changed = QtCore.Signal()

    def __init__(self, optional: bool, parent=None):
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(4)
        grid.setVerticalSpacing(2)
        self.optional = optional
        self.param = QtWidgets.QComboBox()
        self.param.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.param.setMinimumContentsLength(8)
        self.start = NumberBox()
        self.stop = NumberBox()
        self.count = QtWidgets.QSpinBox(minimum=1, maximum=1000, value=DEFAULT_COUNTS[0])
        self.count.setMinimumWidth(44)
        self.log = QtWidgets.QCheckBox("log")
        for w, tip in ((self.param, "swept parameter"), (self.start, "first value"), (self.stop, "last value"),
                       (self.count, "number of values (1: the value on screen)"),
                       (self.log, "logarithmic spacing")):
            w.setToolTip(tip)
        grid.addWidget(self.param, 0, 0, 1, 4)
        grid.addWidget(self.log, 0, 4)
        grid.addWidget(self.start, 1, 0)
        grid.addWidget(QtWidgets.QLabel("…"), 1, 1)
        grid.addWidget(self.stop, 1, 2)
        grid.addWidget(QtWidgets.QLabel("×"), 1, 3, QtCore.Qt.AlignRight)
        grid.addWidget(self.count, 1, 4)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(2, 1)
        self.schema: dict[str, dict] = {}
        self.values: dict = {}
        self.default_count = DEFAULT_COUNTS[1] if optional else DEFAULT_COUNTS[0]
        #: the user set the range (from, to, log) / the count: it no longer follows the value
        self.custom_range = False
        self.custom_count = False
        self._setting = False
        self._saved_range: tuple[float, float] | None = None
        self.param.currentIndexChanged.connect(self._on_param)
        for box in (self.start, self.stop):
            box.valueChanged.connect(lambda _v: self._edited("range"))
        self.log.toggled.connect(lambda _v: self._edited("range"))
        self.count.valueChanged.connect(lambda _v: self._edited("count"))

    def _edited(self, what: str) -> None:
        if self._setting:
            return
        if what == "range":
            self.custom_range = True
        else:
            self.custom_count = True
            self._show_single()
        self.changed.emit()

    def set_params(self, params: list[dict], values: dict, preferred: int = 0) -> None:
        """A new model: its declarations, the values on screen, the preferred parameter
        (index in :func:`axis_candidates`' order)."""
        self.schema = {p["name"]: p for p in params if p["kind"] in ("float", "int")}
        self.values = dict(values)
        names = axis_candidates(params, values)
        self.param.blockSignals(True)
        self.param.clear()
        if self.optional:
            self.param.addItem("(none: one axis)", None)
        for name in names:
            self.param.addItem(name, name)
        index = preferred + (1 if self.optional else 0) if preferred < len(names) else 0
        self.param.setCurrentIndex(min(index, self.param.count() - 1))
        self.param.blockSignals(False)
        self._on_param()

    def current_value(self, name: str | None = None) -> float | None:
        name = name or self.param.currentData()
        if name is None:
            return None
        return float(self.values.get(name, self.schema[name]["default"]))

    def follow(self, values: dict) -> None:
        """The values on screen changed: a range the user has not edited moves with them."""
        old = self.current_value()
        self.values = dict(values)
        if self.param.currentData() is None:
            return
        if self.current_value() != old:
            self._apply_default()
            self.changed.emit()

    def _on_param(self) -> None:
        name = self.param.currentData()
        for w in (self.start, self.stop, self.count, self.log):
            w.setEnabled(name is not None)
        self.custom_range = self.custom_count = False
        self._saved_range = None
        if name is not None:
            p = self.schema[name]
            lo = p["min"] if p["min"] is not None else -1e12
            hi = p["max"] if p["max"] is not None else 1e12
            self._setting = True
            for box in (self.start, self.stop):
                box.setRange(max(lo, -1e12), min(hi, 1e12))
                box.setDecimals(0 if p["kind"] == "int" else 12)
            self._setting = False
            self._apply_default()
        self.changed.emit()

    def _apply_default(self) -> None:
        name = self.param.currentData()
        if name is None:
            return
        value = self.current_value(name)
        axis = default_axis(self.schema[name], value, self.count.value() if self.custom_count else
                            self.default_count)
        self._setting = True
        try:
            if not self.custom_range:
                self._saved_range = None
                self.start.setValue(axis["start"])
                self.stop.setValue(axis["stop"])
                self.log.setChecked(axis["spacing"] == "log")
                span = abs(axis["stop"] - axis["start"]) or abs(value) or 1.0
                for box in (self.start, self.stop):
                    box.setSingleStep(10 ** math.floor(math.log10(span)) / 10 if span > 0 else 0.1)
            if not self.custom_count:
                self.count.setValue(axis["count"])
        finally:
            self._setting = False
        self._show_single()

    def _show_single(self) -> None:
        """A count of 1 is the value on screen: the range boxes show it and rest."""
        name = self.param.currentData()
        single = name is not None and self.count.value() == 1
        for box in (self.start, self.stop):
            box.setEnabled(name is not None and not single)
        self.log.setEnabled(name is not None and not single)
        self._setting = True
        try:
            if single:
                if self._saved_range is None:
                    self._saved_range = (self.start.value(), self.stop.value())
                self.start.setValue(self.current_value())
                self.stop.setValue(self.current_value())
            elif self._saved_range is not None:
                self.start.setValue(self._saved_range[0])
                self.stop.setValue(self._saved_range[1])
                self._saved_range = None
        finally:
            self._setting = False

    def n_values(self) -> int:
        return self.count.value() if self.param.currentData() is not None else 1

    def table(self) -> dict | None:
        name = self.param.currentData()
        if name is None:
            return None
        integer = self.schema[name]["kind"] == "int"
        if self.count.value() == 1:
            v = self.current_value(name)
            v = int(round(v)) if integer else v
            return {"param": name, "start": v, "stop": v, "count": 1, "spacing": "linear"}
        start, stop = self.start.value(), self.stop.value()
        if integer:
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
    #: the estimate's text changed
    estimated = QtCore.Signal(str)

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
        #: the estimate: seconds per point per step measured by the probe, and what it measured
        self.point_seconds: float | None = None
        self._probe: QtCore.QProcess | None = None
        self._probe_key: str | None = None
        self._measured: dict | None = None  # {"key", "seconds", "steps", "startup"} or {"key", "error"}
        self._probe_clock = 0.0
        box = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(box)
        lay.setContentsMargins(6, 6, 6, 6)
        form = QtWidgets.QFormLayout()
        form.setRowWrapPolicy(QtWidgets.QFormLayout.DontWrapRows)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.AllNonFixedFieldsGrow)
        self.x_axis, self.y_axis = AxisEditor(False), AxisEditor(True)
        form.addRow("x", self.x_axis)
        form.addRow("y", self.y_axis)
        grid = QtWidgets.QGridLayout()
        grid.setHorizontalSpacing(4)
        self.seeds = QtWidgets.QSpinBox(minimum=1, maximum=1000, value=1, toolTip="seeds per point")
        self.steps = QtWidgets.QSpinBox(minimum=1, maximum=10**9, value=100, toolTip="steps per point")
        self.burn_in = QtWidgets.QSpinBox(minimum=0, maximum=10**9, value=50, toolTip="steps before averaging")
        self.workers = QtWidgets.QSpinBox(minimum=1, maximum=256, value=_default_workers(),
                                          toolTip="worker processes of the embedded Dask cluster")
        for i, (label, w) in enumerate((("seeds", self.seeds), ("steps", self.steps), ("burn-in", self.burn_in),
                                        ("workers", self.workers))):
            w.setMinimumWidth(50)
            w.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Fixed)
            grid.addWidget(QtWidgets.QLabel(label), i // 2, 2 * (i % 2))
            grid.addWidget(w, i // 2, 2 * (i % 2) + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        form.addRow(grid)
        self.observable = QtWidgets.QComboBox(editable=True, toolTip="observable to map")
        self.observable.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.observable.setMinimumContentsLength(8)
        form.addRow("map", self.observable)
        row = QtWidgets.QHBoxLayout()
        self.reduce = QtWidgets.QComboBox(toolTip="reduction over time: mean after burn-in, final value, "
                                                  "or the fraction of samples above the threshold")
        self.reduce.addItems(REDUCTIONS)
        self.threshold = NumberBox()
        self.threshold.setRange(-1e9, 1e9)
        self.threshold.setValue(0.5)
        self.threshold.setToolTip("threshold of fraction_above")
        row.addWidget(self.reduce, 1)
        row.addWidget(self.threshold, 1)
        self.threshold.setEnabled(False)
        self.reduce.currentTextChanged.connect(lambda r: self.threshold.setEnabled(r == "fraction_above"))
        form.addRow("as", row)
        lay.addLayout(form)
        row = QtWidgets.QHBoxLayout()
        self.start_button = QtWidgets.QPushButton("Start")
        self.start_button.setToolTip("run the sweep in its own process")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.estimate_label = QtWidgets.QLabel("")
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.estimate_label.setToolTip("points × the measured time of one point at the values on screen "
                                       f"(a background run of at most {PROBE_STEPS} steps, scaled to the steps "
                                       "asked); a point elsewhere on the grid may take longer")
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.estimate_label, 1)
        lay.addLayout(row)
        self.status_label = QtWidgets.QLabel("Pick axes, then Start: the map fills in as points finish; "
                                             "click a point to open it live.")
        self.status_label.setWordWrap(True)
        self.status_label.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        lay.addWidget(self.status_label)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumSize(200, 200)
        for side in ("bottom", "left"):  # parameter values as they are (no "×0.001" on the label)
            axis = self.plot.getAxis(side)
            axis.enableAutoSIPrefix(False)
            axis.autoSIPrefixScale = 1.0
        add_legend(self.plot)
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        self.plot.scene().sigMouseMoved.connect(self._on_hover)
        lay.addWidget(self.plot, 1)
        self.failed_label = QtWidgets.QLabel()
        self.failed_label.setStyleSheet(f"color: {FAILED_COLOR};")
        self.failed_list = QtWidgets.QListWidget()
        self.failed_list.setWordWrap(True)
        self.failed_list.setMaximumHeight(96)
        self.failed_list.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        self.failed_list.setTextElideMode(QtCore.Qt.ElideNone)
        self.failed_list.setToolTip("points that failed: where, which seed, and the error")
        for w in (self.failed_label, self.failed_list):
            w.hide()
            lay.addWidget(w)
        self._failed_shown: tuple = ()
        self.mesh = None
        self.bar = None
        self.items: list = []
        self.failed_marks = None
        self.setWidget(box)
        self._timer = QtCore.QTimer(self, interval=REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._poll = QtCore.QTimer(self, interval=POLL_MS)
        self._poll.timeout.connect(self._look)
        self._probe_timer = QtCore.QTimer(self, singleShot=True, interval=PROBE_DELAY_MS)
        self._probe_timer.timeout.connect(self._start_probe)
        for editor in (self.x_axis, self.y_axis):
            editor.changed.connect(self._update_estimate)
        for box_ in (self.seeds, self.workers):
            box_.valueChanged.connect(self._update_estimate)
        for box_ in (self.steps, self.burn_in):
            box_.valueChanged.connect(self._settings_changed)
        self.observable.currentTextChanged.connect(self._settings_changed)
        self.reduce.currentTextChanged.connect(self._settings_changed)
        self.visibilityChanged.connect(self._on_visibility)

    # ---- the model on screen ------------------------------------------------------------
    def _on_visibility(self, shown: bool) -> None:
        if shown:
            self.model_changed()
            self._poll.start()
            self._settings_changed()
        else:
            self._poll.stop()
            self._probe_timer.stop()
            self._stop_probe()

    def _look(self) -> None:
        """While shown: follow the values on screen (the panel has no other news of them)."""
        if self.base is None or self.running:
            return
        now = self.base()
        if now.get("describe") is None:
            return
        if (self.describe is None or now["describe"]["name"] != self.describe["name"] or dict(now["params"]) !=
                self.params or int(now["seed"]) != self.seed):
            self.set_model(now["describe"], now["params"], now["seed"])

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
        changed = not same or dict(params) != self.params or int(seed) != self.seed
        self.describe, self.params, self.seed = describe, dict(params), int(seed)
        if not same:
            self.x_axis.set_params(describe["params"], params, 0)
            self.y_axis.set_params(describe["params"], params, 1)
            self.observable.blockSignals(True)
            self.observable.clear()
            for v in describe.get("views", []):
                for name in v.get("observables", []) if v.get("kind") in ("timeseries", "values") else []:
                    if self.observable.findText(name) < 0:
                        self.observable.addItem(name)
            self.observable.blockSignals(False)
            spf = describe.get("steps_per_frame", 0)
            self.steps.blockSignals(True)
            self.steps.setValue(50 if spf == 1 else 1000)
            self.steps.blockSignals(False)
            self.burn_in.setValue(self.steps.value() // 2)
        else:
            self.x_axis.follow(params)
            self.y_axis.follow(params)
        if changed:
            self._settings_changed()

    def set_params(self, params: dict) -> None:
        """Parameters changed on the panel: they are the next sweep's base."""
        if self.describe is not None:
            self.set_model(self.describe, params, self.seed)
        else:
            self.params = dict(params)

    def add_observables(self, names) -> None:
        """Observables seen in frames (more than the views plot)."""
        for name in names:
            if self.observable.findText(name) < 0:
                self.observable.addItem(name)

    # ---- the estimate -----------------------------------------------------------------------
    def n_points(self) -> int:
        """Points of the sweep the form describes (axis values × seeds)."""
        return self.x_axis.n_values() * self.y_axis.n_values() * self.seeds.value()

    def _probe_table(self) -> dict | None:
        """A sweep of one point at the values on screen, two seeds, at most PROBE_STEPS steps."""
        if self.describe is None:
            return None
        data = self.sweep_table()
        steps = min(self.steps.value(), PROBE_STEPS)
        ratio = min(self.burn_in.value(), self.steps.value() - 1) / self.steps.value()
        name = data["x"]["param"]
        v = self.x_axis.current_value(name)
        v = int(round(v)) if self.x_axis.schema[name]["kind"] == "int" else v
        data.update(title="estimate", seeds=2, steps=steps, burn_in=min(int(round(ratio * steps)), steps - 1),
                    x={"param": name, "start": v, "stop": v, "count": 1, "spacing": "linear"})
        data.pop("y", None)
        return data

    def _settings_changed(self, *_args) -> None:
        """What a point costs may have changed: measure again once the settings rest."""
        self._update_estimate()
        if self.isVisible() and not self.running and self.describe is not None:
            self._probe_timer.start()

    def _start_probe(self) -> None:
        if self.running or not self.isVisible():
            return
        data = self._probe_table()
        if data is None:
            return
        key = json.dumps({k: v for k, v in data.items() if k not in ("x", "title")}, sort_keys=True,
                         default=str) + self.device  # the point is the values on screen, whichever axis
        if self._measured is not None and self._measured["key"] == key:
            self._update_estimate()
            return
        if self._probe is not None and self._probe_key == key:
            return  # already measuring this
        self._stop_probe()
        from attractor_lab.engine.storage.presets import schemas_from_descriptions
        from attractor_lab.engine.sweep.spec import SweepError, parse_sweep

        try:
            sweep = parse_sweep(data, where="sweep panel", schemas=schemas_from_descriptions(
                {self.describe["name"]: self.describe}))
        except SweepError as exc:
            self._measured = {"key": key, "error": str(exc)}
            self._update_estimate()
            return
        folder = Path(tempfile.mkdtemp(prefix="attractor-lab-estimate-"))
        toml = folder / "sweep.toml"
        toml.write_text(sweep.dumps(), encoding="utf-8")
        store = folder / "results.zarr"
        proc = QtCore.QProcess(self)
        program, *arguments = cli_command("sweep", "run", str(toml), "--out", str(store), "--workers", "1",
                                          "--progress", "none", "--device", self.device)
        proc.setProgram(program)
        proc.setArguments(arguments)
        proc.setProcessChannelMode(QtCore.QProcess.MergedChannels)
        proc.finished.connect(lambda code, _status, p=proc, k=key, s=store, n=data["steps"]:
                              self._probe_done(p, k, s, n))
        self._probe, self._probe_key = proc, key  # its folder goes when it ends (_probe_done)
        self._probe_clock = time.perf_counter()
        proc.start()
        self._update_estimate()

    def _probe_done(self, proc, key: str, store: Path, steps: int) -> None:
        if proc is not self._probe:  # stopped: measured something else
            shutil.rmtree(store.parent, ignore_errors=True)
            return
        from attractor_lab.engine.sweep.store import DONE, StoreError, open_results

        output = bytes(proc.readAll()).decode(errors="replace").strip().splitlines()
        try:
            res = open_results(store)
            done = res.status.ravel() == DONE
            if done.any():
                wall = time.perf_counter() - self._probe_clock
                points = float(np.nansum(res.seconds.ravel()))
                self._measured = {"key": key, "seconds": float(np.nanmin(res.seconds.ravel()[done])), "steps": steps,
                                  "startup": max(0.0, wall - points)}
            elif res.errors:
                self._measured = {"key": key, "error": next(iter(res.errors.values()))}
            else:
                self._measured = {"key": key, "error": " / ".join(output[-2:]) or "no point finished"}
        except (StoreError, OSError, KeyError, ValueError) as exc:
            self._measured = {"key": key, "error": " / ".join(output[-2:]) or str(exc)}
        self._probe, self._probe_key = None, None
        shutil.rmtree(store.parent, ignore_errors=True)
        self._update_estimate()

    def _stop_probe(self, wait: bool = False) -> None:
        """Stop a running probe (SIGTERM, killed if it lingers); ``wait``: block until it has
        gone (the window closes)."""
        proc, self._probe, self._probe_key = self._probe, None, None
        if proc is None or proc.state() == QtCore.QProcess.NotRunning:
            return
        proc.terminate()
        if wait:
            if not proc.waitForFinished(5000):
                proc.kill()
                proc.waitForFinished(2000)
        else:
            QtCore.QTimer.singleShot(10_000, lambda: proc.kill() if proc.state() != QtCore.QProcess.NotRunning
                                     else None)

    def estimate(self) -> tuple[int, float | None]:
        """(points, seconds per point or None): the measured point scaled to the steps asked."""
        m = self._measured
        seconds = None
        if m is not None and "seconds" in m:
            seconds = m["seconds"] * max(1.0, self.steps.value() / m["steps"])
        self.point_seconds = seconds
        return self.n_points(), seconds

    def _update_estimate(self, *_args) -> None:
        if self.describe is None:
            self.estimate_label.setText("")
            return
        n, per_point = self.estimate()
        fresh = self._measured is not None and self._probe is None and not self._probe_timer.isActive()
        if per_point is not None:
            workers = min(self.workers.value(), n)
            text = f"{n} points × ~{duration_text(per_point)} ≈ {duration_text(n * per_point)}"
            if workers > 1:
                text += f" (~{duration_text(n * per_point / workers)} on {workers} workers)"
            if self._measured.get("startup", 0) >= 1:
                text += f", + ~{duration_text(self._measured['startup'])} to start"
            if not fresh:
                text += " (measuring again…)"
        elif self._measured is not None and "error" in self._measured and fresh:
            text = f"{n} points; a point at the values on screen failed: {self._measured['error'][:300]}"
        else:
            text = f"{n} points × … (measuring one point)"
        if text != self.estimate_label.text():
            self.estimate_label.setText(text)
            self.estimated.emit(text)

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
        from attractor_lab.engine.storage.presets import schemas_from_descriptions
        from attractor_lab.engine.sweep.spec import SweepError, parse_sweep

        data = self.sweep_table()
        schemas = schemas_from_descriptions({self.describe["name"]: self.describe})
        try:
            sweep = parse_sweep(data, where="sweep panel", schemas=schemas)
        except SweepError as exc:
            self._say(f"<span style='color:{FAILED_COLOR}'>{exc}</span>")
            return False
        self._probe_timer.stop()
        self._stop_probe()  # the sweep's workers get the cores
        folder = self._new_folder()
        toml = folder / "sweep.toml"
        toml.write_text(sweep.dumps(), encoding="utf-8")
        self.store = folder / "results.zarr"
        self.results = None
        self._stderr, self._stdout, self._progress, self._cancelled = b"", b"", {}, False
        self._clear_plot()
        self._show_failures(None)
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
                  f"{len(sweep.seeds)} seed{'s' if len(sweep.seeds) > 1 else ''}) on {self.workers.value()} "
                  f"worker(s)…")
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
        """The window closes: stop a running sweep and the estimate's probe, and wait briefly."""
        self._poll.stop()
        self._probe_timer.stop()
        self._stop_probe(wait=True)
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
            eta_text = "—" if eta is None or not math.isfinite(eta) else duration_text(eta)
            failed = f", {p['failed']} failed (why: under the map)" if p["failed"] else ""
            self._say(f"{p['done']}/{p['total']} points{failed}, {p['rate']:.3g} points/s, ETA {eta_text}, "
                      f"{p['workers']} worker(s)")

    def _on_finished(self, code: int, status) -> None:
        self._timer.stop()
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.refresh()
        if self._cancelled:
            state, text = "stopped", f"cancelled; {self._done_text()} kept"
        elif code in (0, 1):
            state, text = "finished", f"finished: {self._done_text()}"
        else:
            tail = self._stderr.decode(errors="replace").strip().splitlines()[-3:]
            state, text = "failed", f"the sweep stopped (exit {code}): " + " / ".join(tail)
        self._say(text)
        self.status_label.setToolTip(f"results: {self.store}")
        self.finished.emit(state, f"{text} ({self.store})")
        self._settings_changed()  # measure a point again if the settings moved meanwhile

    def _done_text(self) -> str:
        r = self.results
        if r is None:
            return "no points"
        failed = f", {r.failed} failed (why: under the map)" if r.failed else ""
        return f"{r.done} of {r.total} points{failed}"

    def _say(self, text: str) -> None:
        self.status_label.setText(text)

    # ---- the map --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the store (if it exists yet) and redraw."""
        if self.store is None or not (self.store / "zarr.json").exists():
            return
        from attractor_lab.engine.sweep.store import StoreError, open_results

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
        self.failed_marks = None
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
        self._mark_failures(res, centre)
        self._show_failures(res)

    # ---- failed points ------------------------------------------------------------------------
    def failures(self, res=None) -> list[dict]:
        """Every failed point of ``res`` (default: the results shown): its cell, seed,
        parameter values and error message."""
        from attractor_lab.engine.sweep.store import FAILED

        res = res if res is not None else self.results
        if res is None:
            return []
        out = []
        for index in np.flatnonzero(res.status.ravel() == FAILED):
            where = np.unravel_index(int(index), res.status.shape)
            ix, iy = (int(where[1]), int(where[0])) if len(res.axes) > 1 else (int(where[0]), None)
            params, seed = res.grid_point(ix, iy, int(where[-1]))
            coords = ", ".join(f"{a['param']} = {params[a['param']]:g}" for a in res.axes)
            out.append({"index": int(index), "ix": ix, "iy": iy, "seed": seed, "where": coords,
                        "error": res.errors.get(int(index), "failed (no message stored)")})
        return out

    def _mark_failures(self, res, centre: np.ndarray) -> None:
        """A red × on each grid point where a seed failed."""
        fails = self.failures(res)
        if not fails:
            return
        cells = sorted({(f["ix"], f["iy"]) for f in fails}, key=lambda c: (c[0], c[1] or 0))
        xc = self._coords(res.axes[0])
        if len(res.axes) > 1:
            yc = self._coords(res.axes[1])
            xs, ys = [xc[ix] for ix, _ in cells], [yc[iy] for _, iy in cells]
        else:  # on the curve where some seed succeeded, else at the curve's lowest value (or 0)
            finite = centre[np.isfinite(centre)]
            floor = float(finite.min()) if finite.size else 0.0
            xs = [xc[ix] for ix, _ in cells]
            ys = [float(centre[ix]) if np.isfinite(centre[ix]) else floor for ix, _ in cells]
        marks = pg.ScatterPlotItem(x=np.asarray(xs, float), y=np.asarray(ys, float), symbol="x", size=16,
                                   pen=pg.mkPen(FAILED_COLOR, width=2), brush=pg.mkBrush(FAILED_COLOR),
                                   name="failed (hover: why)")
        marks.setZValue(20)
        self.plot.addItem(marks)
        self.items.append(marks)
        self.failed_marks = marks

    def _show_failures(self, res) -> None:
        """The list of failed points under the map (hidden while there are none)."""
        fails = self.failures(res) if res is not None else []
        shown = tuple((f["index"], f["error"]) for f in fails)
        if shown == self._failed_shown:
            return
        self._failed_shown = shown
        self.failed_list.clear()
        for f in fails:
            text = f"{f['where']}, seed {f['seed']}: {f['error']}"
            item = QtWidgets.QListWidgetItem(text if len(text) <= 400 else text[:399] + "…")
            item.setToolTip(text)
            item.setData(QtCore.Qt.UserRole, (f["ix"], f["iy"], f["seed"]))
            self.failed_list.addItem(item)
        self.failed_label.setText(f"{len(fails)} failed point{'s' if len(fails) != 1 else ''}:")
        for w in (self.failed_label, self.failed_list):
            w.setVisible(bool(fails))

    def point_text(self, ix: int, iy: int | None = None) -> str:
        """What hovering over grid point (ix, iy) shows: its coordinates and value, or why it failed."""
        res = self.results
        if res is None:
            return ""
        params, _seed = res.grid_point(ix, iy, 0)
        where = ", ".join(f"{a['param']} = {params[a['param']]:g}" for a in res.axes)
        fails = [f for f in self.failures(res) if f["ix"] == ix and f["iy"] == iy]
        name = res.outputs[0]["name"]
        centre = res.over_seeds(name)[0][(iy, ix) if iy is not None else ix]
        lines = [where]
        if np.isfinite(centre):
            lines.append(f"{name} = {centre:.4g}")
        for f in fails:
            lines.append(f"seed {f['seed']} failed: {f['error']}")
        if len(lines) == 1:
            lines.append("not done yet")
        return "\n".join(lines)

    def _on_hover(self, pos) -> None:
        if self.results is None:
            return
        vb = self.plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(pos):
            self.plot.setToolTip("")
            return
        point = vb.mapSceneToView(pos)
        cell = self.cell_at(point.x(), point.y())
        text = self.point_text(*cell) if cell is not None else ""
        if text != self.plot.toolTip():
            self.plot.setToolTip(text)
            if text:
                QtWidgets.QToolTip.showText(QtGui.QCursor.pos(), text, self.plot)
            else:
                QtWidgets.QToolTip.hideText()

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
