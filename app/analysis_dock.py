"""The Analysis dock: bifurcation diagrams, orbit diagrams and basins of the current model.

It asks the engine (``analyse`` request, docs/protocol.md *Analysis jobs*) to run one
analysis as a job, polls it every :data:`POLL_MS` while it runs and draws each piece as
it comes (widgets/analysis_view.py). A click on a bifurcation or orbit diagram sets the
parameter as the parameter panel does (one undo step, clamped to its range); a box
dragged on an orbit diagram (or *Recompute for view*) runs it again on that range only.
Export writes the plot (PNG/SVG) or the data (CSV/NPZ), atomically. A preset's
``[analysis]`` table fills the dock when the preset loads (Start runs it).

``install_analysis_dock(window)`` builds it (one line in app/main_window.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from attractor_lab.engine.analysis_spec import LIMITS, check_analysis
from attractor_lab.widgets.analysis_view import AnalysisView

#: poll interval while a job runs, ms
POLL_MS = 200
KINDS = (("Bifurcation", "bifurcation"), ("Orbit diagram", "orbit"), ("Basins", "basins"))
#: keys of a preset's table the dock has no field for: kept and sent with the spec
_HIDDEN = ("transient", "record", "dt", "section", "box", "start", "cycles", "time")


def install_analysis_dock(window) -> "AnalysisDock":
    """The Analysis dock, tabbed with the parameters and sweeps; View → Analysis (Ctrl+Shift+A)."""
    dock = AnalysisDock(window)
    window.analysis_dock = dock
    window._tab_with_parameters(dock)
    toggle = dock.toggleViewAction()
    toggle.setText("Analysis")
    toggle.setShortcut(QtGui.QKeySequence("Ctrl+Shift+A"))
    toggle.setShortcutContext(QtCore.Qt.ApplicationShortcut)
    toggle.setToolTip("Bifurcation diagram, orbit diagram, basins of the current model (Ctrl+Shift+A)")
    window.view_menu.addAction(toggle)
    window.addAction(toggle)
    window.model_loaded.connect(dock.model_changed)
    # bound methods, not lambdas: Qt drops them with the dock (a closing window's undo stack
    # signalled a dock already deleted)
    window.panel.value_changed.connect(dock._panel_moved)
    window.undo_stack.indexChanged.connect(dock._undo_moved)  # an undo sets values, not the panel's signal
    return dock


class AnalysisDock(QtWidgets.QDockWidget):
    def __init__(self, window):
        super().__init__("Analysis", window)
        self.setObjectName("analysis_dock")
        self.window_ = window
        self.job: int | None = None
        self.since = 0
        self.state = "idle"
        self.field: dict | None = None  # the describe reply's field
        self.last_spec: dict | None = None  # the analysis last started on this model (Save preset keeps it)
        self._extra: dict = {}  # the preset table's keys without a field here
        self._polling = False
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)

        box = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(box)
        lay.setContentsMargins(4, 4, 4, 4)
        form = QtWidgets.QFormLayout()
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.AllNonFixedFieldsGrow)
        self.kind_box = _combo()
        for text, kind in KINDS:
            self.kind_box.addItem(text, kind)
        self.kind_box.currentIndexChanged.connect(self._kind_changed)
        form.addRow("Kind", self.kind_box)
        self.param_box = _combo()
        self.param_box.currentIndexChanged.connect(lambda _i: self._default_range())
        form.addRow("Parameter", self.param_box)
        rng = QtWidgets.QHBoxLayout()
        self.lo_box, self.hi_box = _number_box(), _number_box()
        rng.addWidget(self.lo_box)
        rng.addWidget(QtWidgets.QLabel("to"))
        rng.addWidget(self.hi_box)
        self.range_row = QtWidgets.QWidget()
        self.range_row.setLayout(rng)
        rng.setContentsMargins(0, 0, 0, 0)
        form.addRow("Range", self.range_row)
        self.var_box = _combo()
        form.addRow("Variable", self.var_box)
        self.count_box = _int_box(*LIMITS["count"], 200)
        self.count_box.setToolTip("Parameter values across the range")
        form.addRow("Values", self.count_box)
        self.traj_box = _int_box(*LIMITS["trajectories"], 8)
        self.traj_box.setToolTip("Starts per parameter value")
        form.addRow("Starts each", self.traj_box)
        plane = QtWidgets.QHBoxLayout()
        plane.setContentsMargins(0, 0, 0, 0)
        self.px_box, self.py_box = _combo(), _combo()
        plane.addWidget(self.px_box)
        plane.addWidget(self.py_box)
        self.plane_row = QtWidgets.QWidget()
        self.plane_row.setLayout(plane)
        form.addRow("Plane", self.plane_row)
        self.res_box = _int_box(*LIMITS["resolution"], 100)
        self.res_box.setToolTip("Grid points per axis")
        form.addRow("Resolution", self.res_box)
        self.form = form
        lay.addLayout(form)
        buttons = QtWidgets.QHBoxLayout()
        self.start_button = QtWidgets.QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.zoom_button = QtWidgets.QPushButton("Recompute view")
        self.zoom_button.setToolTip("Run the orbit diagram again on the visible parameter range "
                                    "(or drag a box on the diagram)")
        self.zoom_button.clicked.connect(lambda: self.recompute_range(*self.view.visible_range()))
        for b in (self.start_button, self.cancel_button, self.zoom_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        lay.addWidget(self.progress)
        self.status = QtWidgets.QLabel("Choose an analysis and press Start.")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.view = AnalysisView()
        self.view.param_clicked.connect(self.set_param_from_plot)
        self.view.range_selected.connect(self.recompute_range)
        lay.addWidget(self.view, 1)
        exports = QtWidgets.QHBoxLayout()
        self.export_plot_button = QtWidgets.QPushButton("Export plot…")
        self.export_plot_button.setToolTip("The plot as PNG or SVG")
        self.export_plot_button.clicked.connect(lambda: self._ask_export("plot"))
        self.export_data_button = QtWidgets.QPushButton("Export data…")
        self.export_data_button.setToolTip("The data as CSV or NPZ")
        self.export_data_button.clicked.connect(lambda: self._ask_export("data"))
        exports.addWidget(self.export_plot_button)
        exports.addWidget(self.export_data_button)
        lay.addLayout(exports)
        self.setWidget(box)
        self._kind_changed()

    # ---- the form ----------------------------------------------------------------------
    def kind(self) -> str:
        return self.kind_box.currentData()

    def _kind_changed(self, *_):
        kind = self.kind()
        diagram, orbit, basins = {"bifurcation", "orbit"}, {"orbit"}, {"basins"}
        for w, kinds in ((self.param_box, diagram), (self.range_row, diagram), (self.var_box, diagram),
                         (self.count_box, orbit), (self.traj_box, orbit), (self.plane_row, basins),
                         (self.res_box, basins)):
            shown = kind in kinds
            w.setVisible(shown)
            self.form.labelForField(w).setVisible(shown)
        self.zoom_button.setVisible(kind == "orbit")
        self.view.set_current(self._current_value() if kind != "basins" else None)

    def _param_spec(self, name: str) -> dict:
        for p in (self.window_.current or {}).get("params", ()):
            if p["name"] == name:
                return p
        return {}

    def _current_value(self):
        name = self.param_box.currentText()
        value = self.window_._shown.get(name, self.window_.params.get(name)) if name else None
        if value is None and self.field:
            value = self.field["params"].get(name)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def _default_range(self) -> None:
        """A range around the current value, inside the parameter's allowed range."""
        value = self._current_value()
        if value is None:
            return
        spec = self._param_spec(self.param_box.currentText())
        half = max(abs(value) * 0.5, 1.0)
        lo, hi = value - half, value + half
        if spec.get("min") is not None:
            lo = max(lo, float(spec["min"]))
        if spec.get("max") is not None:
            hi = min(hi, float(spec["max"]))
        if hi <= lo:
            hi = lo + 1.0
        self.lo_box.setValue(lo)
        self.hi_box.setValue(hi)
        self.view.set_current(value if self.kind() != "basins" else None)

    def model_changed(self, _name: str = "") -> None:
        """A model (or preset) loaded: ask what its field offers, then fill the form."""
        self.cancel()
        self.timer.stop()  # the old model's job: its pieces are not drawn over the new model
        self.job, self.since, self.state, self._polling = None, 0, "idle", False
        self.cancel_button.setEnabled(False)
        self.progress.setValue(0)
        self.view.clear(self.kind())
        self.field = None
        self.last_spec = None
        self.window_.engine.request("analyse", {"action": "describe"}, self._described, self._no_field)

    def _no_field(self, message: str) -> None:
        self.field = None
        self.param_box.clear()
        self.var_box.clear()
        self.start_button.setEnabled(False)
        self.status.setText(f"No analysis for this model: {message}")

    def _described(self, content: dict) -> None:
        f = content["field"]
        self.field = f
        live = {p["name"] for p in (self.window_.current or {}).get("params", ())
                if p.get("type", "float") == "float" and p.get("live", True)}
        names = [n for n in f.get("active", f["params"]) if n in f["params"]]
        names = [n for n in names if not live or n in live] or list(f["params"])
        for box, items in ((self.param_box, names), (self.var_box, f["labels"]), (self.px_box, f["labels"]),
                           (self.py_box, f["labels"])):
            box.blockSignals(True)
            box.clear()
            box.addItems([str(v) for v in items])
            box.blockSignals(False)
        plane = f.get("plane") or [0, 1]
        self.px_box.setCurrentIndex(plane[0])
        self.py_box.setCurrentIndex(plane[1] if len(f["labels"]) > 1 else 0)
        self.start_button.setEnabled(True)
        self._extra = {}
        self._default_range()
        preset = getattr(self.window_, "preset", None)
        table = getattr(preset, "analysis", None) if preset is not None and self.window_.current and \
            preset.model == self.window_.current["name"] else None
        if table:
            self.fill(table)
            self.status.setText("The preset's analysis is filled in: press Start to run it.")
        else:
            self.status.setText("Choose an analysis and press Start.")

    def fill(self, table: dict) -> None:
        """Fill the form from an ``[analysis]`` table (the keys it has no field for are kept)."""
        spec = check_analysis(table, "[analysis]")
        self.kind_box.setCurrentIndex([k for _, k in KINDS].index(spec["kind"]))
        if spec.get("param") is not None:
            self._select(self.param_box, spec["param"])
            self.lo_box.setValue(spec["range"][0])
            self.hi_box.setValue(spec["range"][1])
        if "variable" in spec:
            self._select(self.var_box, spec["variable"])
        for key, box in (("count", self.count_box), ("trajectories", self.traj_box), ("resolution", self.res_box)):
            if key in spec:
                box.setValue(spec[key])
        if spec.get("plane"):
            self._select(self.px_box, spec["plane"][0])
            self._select(self.py_box, spec["plane"][1])
        self._extra = {k: spec[k] for k in _HIDDEN if k in spec and spec[k] is not None}
        self._extra_kind = spec["kind"]
        self.view.set_current(self._current_value() if spec["kind"] != "basins" else None)

    @staticmethod
    def _select(box: QtWidgets.QComboBox, value) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            if 0 <= value < box.count():
                box.setCurrentIndex(value)
            return
        i = box.findText(str(value))
        if i < 0:  # a name the list lacks (the field has not been described yet): add it
            box.addItem(str(value))
            i = box.count() - 1
        box.setCurrentIndex(i)

    def spec(self) -> dict:
        """The analysis the form describes (validated: ``ValueError`` says what is wrong)."""
        kind = self.kind()
        out: dict = {"kind": kind}
        if kind in ("bifurcation", "orbit"):
            out.update(param=self.param_box.currentText(), range=[self.lo_box.value(), self.hi_box.value()],
                       variable=self.var_box.currentText() or 0)
        if kind == "orbit":
            out.update(count=self.count_box.value(), trajectories=self.traj_box.value())
        if kind == "basins":
            out.update(plane=[self.px_box.currentText(), self.py_box.currentText()], resolution=self.res_box.value())
        if getattr(self, "_extra_kind", None) == kind:
            from attractor_lab.engine.analysis_spec import USES

            out.update({k: v for k, v in self._extra.items() if k in USES[kind]})
        return check_analysis(out, "Analysis")

    def table(self) -> dict | None:
        """The ``[analysis]`` table Save preset writes: the analysis last started on this model
        (None: none was, the loaded preset's table stays)."""
        from attractor_lab.engine.analysis_spec import stored

        return stored(self.last_spec) if self.last_spec else None

    # ---- the job -----------------------------------------------------------------------
    def start(self, spec: dict | None = None) -> None:
        try:
            spec = spec or self.spec()
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        self.timer.stop()
        self.job, self.since, self.state = None, 0, "starting"
        self.view.clear(spec["kind"], spec)
        self.view.set_current(self._current_value() if spec["kind"] != "basins" else None)
        self.progress.setValue(0)
        self.status.setText("Starting…")
        self.cancel_button.setEnabled(True)
        self.last_spec = spec
        self.window_.engine.request("analyse", {"action": "start", "spec": spec}, self._started, self._failed)

    def _started(self, content: dict) -> None:
        self.job, self.since, self.state = content["job"], 0, "running"
        self.status.setText(f"Running analysis {self.job}…")
        self.timer.start()

    def _failed(self, message: str) -> None:
        self.timer.stop()
        self._polling = False
        self.state = "error"
        self.cancel_button.setEnabled(False)
        self.status.setText(f"Analysis failed: {message}")

    def _poll(self) -> None:
        if self.job is None or self._polling:
            return
        self._polling = True  # one poll at a time: a slow reply is not asked for twice
        self.window_.engine.request("analyse", {"action": "poll", "job": self.job, "since": self.since},
                                    self._polled, self._failed)

    def _polled(self, content: dict) -> None:
        self._polling = False
        if content.get("job") != self.job:
            return  # an older job's late reply
        arrays = content.get("arrays") or {}
        for piece in content.get("pieces", ()):
            index = piece["index"]
            if index <= self.since:
                continue
            prefix = f"{index}/"
            self.view.add_piece(piece, {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            self.since = index
            if piece.get("what") == "note":
                self.status.setText(piece.get("text", ""))
        self.progress.setValue(int(round(1000 * float(content.get("progress", 0.0)))))
        self.state = content["state"]
        if self.state == "running":
            return
        self.timer.stop()
        self.cancel_button.setEnabled(False)
        seconds = content.get("seconds", 0.0)
        if self.state == "done":
            self.progress.setValue(1000)
            self.status.setText(f"Done in {seconds:.1f} s. {_summary_text(content.get('summary') or {})}")
        elif self.state == "cancelled":
            self.status.setText(f"Cancelled after {seconds:.1f} s (what was computed is shown).")
        else:
            self.status.setText(f"Analysis failed: {content.get('error', '')}")

    def cancel(self) -> None:
        """Stop the running analysis (the last poll shows its state, cancelled)."""
        if self.state in ("running", "starting"):
            self.window_.engine.request("analyse", {"action": "cancel", **({"job": self.job} if self.job else {})},
                                        lambda _c: None, lambda _m: None)
            self.status.setText("Cancelling…")

    def recompute_range(self, lo: float, hi: float) -> None:
        """Run the orbit diagram again on [lo, hi] (clamped to the parameter's allowed range)."""
        if self.kind() != "orbit" or not hi > lo:
            return
        spec = self._param_spec(self.param_box.currentText())
        if spec.get("min") is not None:
            lo = max(lo, float(spec["min"]))
        if spec.get("max") is not None:
            hi = min(hi, float(spec["max"]))
        if not hi > lo:
            return
        self.lo_box.setValue(lo)
        self.hi_box.setValue(hi)
        self.start()

    # ---- the parameter -----------------------------------------------------------------
    def set_param_from_plot(self, value: float) -> None:
        """The diagram's parameter to ``value`` (clamped to its range), as the panel sets it:
        one undo step."""
        name = self.view.spec.get("param") or self.param_box.currentText()
        if not name or name not in self.window_.panel.specs:
            self.status.setText(f"{name!r} is not a parameter of the panel: cannot set it")
            return
        spec = self._param_spec(name)
        if spec.get("min") is not None:
            value = max(value, float(spec["min"]))
        if spec.get("max") is not None:
            value = min(value, float(spec["max"]))
        self.window_.panel.set_values({name: value})
        self.window_._on_param_changed(name, value)
        self.view.set_current(value)
        self.status.setText(f"{name} = {value:.6g} (Ctrl+Z undoes it)")

    @QtCore.Slot(str, object)
    def _panel_moved(self, name, _value) -> None:
        self.param_moved(name)

    @QtCore.Slot(int)
    def _undo_moved(self, _index) -> None:
        self.param_moved()

    def param_moved(self, name: str | None = None) -> None:
        """The panel (or an undo: ``name`` None) changed a parameter: the line follows it."""
        param = self.view.spec.get("param") or self.param_box.currentText()
        if self.view.kind in ("bifurcation", "orbit") and name in (None, param):
            name = param
            value = self.window_._shown.get(name)
            if isinstance(value, (int, float)):
                self.view.set_current(float(value))

    # ---- export ------------------------------------------------------------------------
    def _ask_export(self, what: str) -> None:
        if not self.view.has_data():
            self.status.setText("Nothing to export yet: run an analysis first.")
            return
        name = f"analysis {self.view.kind}"
        if what == "plot":
            path = self.window_.ask_save_path("figures", "Export analysis plot",
                                              self.window_.default_path("figures", ".png", name),
                                              "PNG (*.png);;SVG (*.svg)")
        else:
            path = self.window_.ask_save_path("data", "Export analysis data",
                                              self.window_.default_path("data", ".csv", name),
                                              "CSV (*.csv);;NPZ (*.npz)")
        if not path:
            return
        try:
            out = self.export_plot(path) if what == "plot" else self.export_data(path)
        except (OSError, ValueError) as exc:
            QtWidgets.QMessageBox.warning(self, "Export failed", f"{path}: {exc}")
            return
        self.status.setText(f"Wrote {out}")

    def export_plot(self, path) -> Path:
        """The plot as PNG or SVG, written atomically."""
        import pyqtgraph.exporters as pgx

        from attractor_lab.app.window_recording import _export_svg, _replace_with

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".png", ".svg"):
            raise ValueError(f"cannot export {path.name!r}: use .png or .svg")
        item = self.view.plot.getPlotItem()

        def write(tmp: Path) -> None:
            if suffix == ".svg":
                _export_svg(item, tmp)
            else:
                exporter = pgx.ImageExporter(item)
                exporter.parameters()["width"] = max(int(item.boundingRect().width()) * 2, 800)
                exporter.export(str(tmp))

        return _replace_with(path, write)

    def export_data(self, path) -> Path:
        """The data as CSV (one table) or NPZ (named arrays, no pickle), written atomically."""
        from attractor_lab.app.window_recording import _replace_with

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            text = self.view.csv_text()
            return _replace_with(path, lambda tmp: tmp.write_text(text))
        if suffix == ".npz":
            data = self.view.data()

            def write(tmp: Path) -> None:
                with open(tmp, "wb") as f:
                    np.savez_compressed(f, **data)

            return _replace_with(path, write)
        raise ValueError(f"cannot export {path.name!r}: use .csv or .npz")


def _summary_text(summary: dict) -> str:
    if "attractors" in summary:
        shares = ", ".join(f"{100 * a['fraction']:.1f} %" for a in summary["attractors"])
        return f"{len(summary['attractors'])} attractors ({shares})."
    if "points" in summary and "values" in summary:
        return f"{summary['points']} points at {summary['values']} parameter values" + \
            (f", {summary['diverged']} diverged." if summary.get("diverged") else ".")
    return ""


def _combo() -> QtWidgets.QComboBox:
    """A combo box that asks for little width (the dock is as narrow as the parameters)."""
    b = QtWidgets.QComboBox()
    b.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
    b.setMinimumContentsLength(4)
    return b


def _number_box() -> QtWidgets.QDoubleSpinBox:
    b = QtWidgets.QDoubleSpinBox()
    b.setDecimals(4)
    b.setMinimumWidth(60)
    b.setButtonSymbols(QtWidgets.QAbstractSpinBox.NoButtons)
    b.setRange(-1e9, 1e9)
    b.setSingleStep(0.1)
    b.setKeyboardTracking(False)
    return b


def _int_box(lo: int, hi: int, value: int) -> QtWidgets.QSpinBox:
    b = QtWidgets.QSpinBox()
    b.setRange(lo, hi)
    b.setValue(value)
    return b
