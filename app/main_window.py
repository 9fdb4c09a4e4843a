"""The main window: model chooser, parameter panel, views, transport controls, status bar."""

from __future__ import annotations

import contextlib
import html
import shutil
import time
from pathlib import Path

import numpy as np

from PySide6 import QtCore, QtGui, QtWidgets

from attractor_lab.app.about import _show, install_help_menu
from attractor_lab.app.connect_dialog import ConnectDialog
from attractor_lab.app.engine_client import QtEngine
from attractor_lab.app.equation_dock import KINDS, EquationDock
from attractor_lab.app.preset_browser import PresetBrowser
from attractor_lab.app.settings import WindowMemory
from attractor_lab.app.sweep_dock import SweepDock
from attractor_lab.app.undo import STROKE_GAP, EquationChange, PaintStroke, ParamChange, SeedChange, Switch
from attractor_lab.engine.equations import EQUATION_MODELS
from attractor_lab.engine.presets import (
    MAX_SEED,
    Preset,
    PresetError,
    list_presets,
    load_preset,
    save_preset,
    schemas_from_descriptions,
    user_presets_dir,
)
from attractor_lab.widgets.elided import ElidedLabel
from attractor_lab.widgets.param_panel import ParamPanel
from attractor_lab.widgets.views import ViewGrid

DEFAULT_MODEL = "gray_scott"
#: the Presets menu's submenus (a model's "family": its package in engine/models/)
FAMILY_TITLES = {"hopfield": "Hopfield networks", "neural_ode": "Dynamics and neural ODEs",
                 "reaction_diffusion": "Reaction–diffusion", "neural_operator": "PDEs and neural operators",
                 "custom": "Your own equations"}
PARAM_FLUSH_MS = 30  # slider storms are merged into one set_params per ~frame
#: after the window's own parameter change (or a load, a reset), frames and statuses this
#: recent may predate it: they do not move the panel (see _follow_engine_params)
FOLLOW_QUIET_S = 1.0


class MainWindow(QtWidgets.QMainWindow):
    """Attractor Lab's window. It talks to the engine only through :class:`QtEngine`."""

    model_loaded = QtCore.Signal(str)
    frame_drawn = QtCore.Signal(int)
    #: after an engine restart: the step, time and arrays the run continued from
    state_restored = QtCore.Signal(int, float, list)
    #: a "Simulation stopped" dialog is open (errors that come meanwhile go to the status bar)
    _stop_dialog_open = False
    _stops_unshown = 0
    _last_unshown_stop = ""

    def __init__(self, engine: QtEngine, preset_path: str | None = None, fps: int = 30):
        super().__init__()
        self.engine = engine
        self.fps = fps
        self.initial_preset = preset_path
        self.models: dict[str, dict] = {}
        self.current: dict | None = None
        self.params: dict = {}
        self.seed = 0
        self.running = False
        self.recording = False
        self.preset: Preset | None = None
        self.pending: dict = {}  # structural values the engine holds for the next reset
        self._restore: tuple[dict, dict, bool] | None = None  # (frame content, arrays, was running)
        self._dirty: dict = {}
        self._toggled_at = 0.0
        self._frames_drawn = 0
        self._fps_count, self._fps_t0 = 0, time.monotonic()
        self._frame_steps_text = ""  # " · 12 of 40 steps/frame" while the device cannot keep up
        self.last_frame: tuple[dict, dict] | None = None
        self._shown: dict = {}  # parameter values on screen (undo's "before")
        self._seed_shown = 0
        self._undoing = False  # inside an undo/redo or a load: changes are not new undo steps
        self._stroke = None  # the painting stroke being drawn (one undo step)
        self._params_in_flight = 0  # set_params sent, not answered yet
        self._follow_after = 0.0  # monotonic time before which the engine's params are not followed

        self.setWindowTitle("Attractor Lab")
        self.resize(1400, 900)
        self._build_actions()
        self._build_toolbar()
        self._build_dock()
        self.grid = ViewGrid()
        self.setCentralWidget(self.grid)
        self.info_scroll.setWidget(self.grid.text_panel)
        self._build_statusbar()
        self._build_sweep_dock()
        self._build_preset_browser()
        self._build_equation_dock()
        self._install_connect_entry(install_help_menu(self, engine))
        self.memory = WindowMemory(self)  # last: restores the layout of every dock (app/settings.py)

        self._flush_timer = QtCore.QTimer(self, singleShot=True, interval=PARAM_FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush_params)

        engine.connected.connect(self._on_connected)
        engine.frame.connect(self._on_frame)
        engine.status.connect(self._on_status)
        engine.engine_error.connect(self._on_engine_error)
        engine.dead.connect(self._on_dead)
        engine.liveness.connect(self._on_liveness)
        engine.events_lost.connect(self._on_events_lost)
        self.state_label.setText("starting engine…")

    # ---- construction --------------------------------------------------------
    def _action(self, text, shortcut, slot, tip="", checkable=False):
        a = QtGui.QAction(text, self)
        if shortcut:
            a.setShortcut(QtGui.QKeySequence(shortcut))
            # keys with a modifier work whatever has the focus, also after a dialog left the
            # window inactive; single keys (Space, S, R, Esc) only in this window, so typing
            # in a dialog never steps or resets the run
            modified = any(m in shortcut for m in ("Ctrl", "Alt", "Meta"))
            a.setShortcutContext(QtCore.Qt.ApplicationShortcut if modified else QtCore.Qt.WindowShortcut)
        a.setToolTip(f"{tip or text} ({shortcut})" if shortcut else (tip or text))
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _build_actions(self):
        self.act_run = self._action("Run", "Space", self.toggle_run, "Run / pause")
        self.act_step = self._action("Step", "S", self.step_once, "Advance one step")
        self.act_reset = self._action("Reset", "R", self.reset, "Reset (applies structural parameters)")
        self.act_record = self._action("Record", "Ctrl+R", self.toggle_record, "Record a trajectory", True)
        self.act_save_traj = self._action("Save trajectory…", "Ctrl+Shift+S", self.save_trajectory)
        self.act_movie = self._action("Export movie…", "Ctrl+M", self.export_movie_dialog,
                                      "A movie (MP4/GIF) of a field from the current recording")
        self.act_open = self._action("Open preset…", "Ctrl+O", self.open_preset_dialog,
                                     "Open a preset (.toml) or an XPPAUT .ode file")
        self.act_save = self._action("Save preset…", "Ctrl+S", self.save_preset_dialog)
        self.act_export = self._action("Export view…", "Ctrl+E", self.export_view_dialog)
        self.act_images = self._action("Load pattern images…", "Ctrl+I", self.load_pattern_images,
                                       "Store your own images as patterns (Hopfield models)")
        self.act_quit = self._action("Quit", "Ctrl+Q", self.close)
        self.act_cancel = self._action("Cancel", "Esc", self.cancel_job,
                                       "Cancel a long step, load or reset in progress")
        self.act_restart_engine = self._action("Restart engine", "", self.restart_engine,
                                               "Start the engine again (the run continues from the last frame)")
        self.act_revert = self._action("Revert to preset", "Ctrl+Shift+R", self.revert_to_preset,
                                       "The loaded preset's parameters and seed again (Ctrl+Z undoes it)")
        # undo/redo (app/undo.py): parameter changes (a drag is one step), painting strokes,
        # seeds, model and preset switches
        self.undo_stack = QtGui.QUndoStack(self)
        self.act_undo = self.undo_stack.createUndoAction(self, "Undo")
        self.act_redo = self.undo_stack.createRedoAction(self, "Redo")
        for a, keys in ((self.act_undo, [QtGui.QKeySequence.Undo]),
                        (self.act_redo, [QtGui.QKeySequence("Ctrl+Shift+Z"), QtGui.QKeySequence("Ctrl+Y")])):
            a.setShortcuts(keys)
            a.setShortcutContext(QtCore.Qt.ApplicationShortcut)
            self.addAction(a)
        menu = self.menuBar()
        f = menu.addMenu("&File")
        for a in (self.act_open, self.act_save, None, self.act_images, None, self.act_export, self.act_save_traj,
                  self.act_movie, None, self.act_quit):
            f.addSeparator() if a is None else f.addAction(a)
        e = menu.addMenu("&Edit")
        e.addAction(self.act_undo)
        e.addAction(self.act_redo)
        self.presets_menu = menu.addMenu("&Presets")
        self.presets_menu.aboutToShow.connect(self._fill_presets_menu)
        s = menu.addMenu("&Simulation")
        for a in (self.act_run, self.act_step, self.act_reset, self.act_record, None, self.act_revert, None,
                  self.act_cancel, self.act_restart_engine):
            s.addSeparator() if a is None else s.addAction(a)

    def _build_toolbar(self):
        tb = self.addToolBar("Simulation")
        tb.setObjectName("simulation_toolbar")
        tb.setMovable(False)
        tb.addWidget(QtWidgets.QLabel(" Model: "))
        self.model_combo = ModelBox()
        # as wide as the longest model title ("Neural operator vs solver (race)" was cut)
        self.model_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToContents)
        self.model_combo.setMinimumWidth(200)
        self.model_combo.activated.connect(self._on_model_chosen)
        tb.addWidget(self.model_combo)
        tb.addSeparator()
        for a in (self.act_run, self.act_step, self.act_reset, self.act_record):
            tb.addAction(a)
        tb.addSeparator()
        tb.addWidget(QtWidgets.QLabel(" Steps/frame: "))
        self.speed_box = QtWidgets.QSpinBox()
        self.speed_box.setRange(0, 10_000_000)
        self.speed_box.setSpecialValueText("max")
        self.speed_box.setKeyboardTracking(False)
        self.speed_box.setToolTip("At most this many steps between displayed frames (max: as fast as the device goes)")
        self.speed_box.valueChanged.connect(
            lambda n: self.engine.request("set_speed", {"steps_per_frame": n}))
        tb.addWidget(self.speed_box)
        tb.addWidget(QtWidgets.QLabel(" Seed: "))
        self.seed_box = QtWidgets.QSpinBox()
        self.seed_box.setRange(0, MAX_SEED)
        self.seed_box.setToolTip("Random seed used by Reset")
        self.seed_box.valueChanged.connect(self._on_seed_changed)
        tb.addWidget(self.seed_box)
        self.brush_bar = self.addToolBar("Brush")
        self.brush_bar.setObjectName("brush_toolbar")
        self.brush_bar.addWidget(QtWidgets.QLabel(" Brush: "))
        self.brush_radius = QtWidgets.QDoubleSpinBox(minimum=0.5, maximum=200, value=6, suffix=" cells")
        self.brush_value = QtWidgets.QDoubleSpinBox(minimum=-1e3, maximum=1e3, value=0.5, decimals=3, singleStep=0.05)
        self.brush_mode = QtWidgets.QComboBox()
        self.brush_mode.addItems(["set", "add"])
        for w, tip in ((self.brush_radius, "brush radius"), (self.brush_value, "value painted"),
                       (self.brush_mode, "set the value or add it")):
            w.setToolTip(tip)
            self.brush_bar.addWidget(w)
        self.brush_bar.setVisible(False)

    def _build_dock(self):
        dock = QtWidgets.QDockWidget("Parameters", self)
        dock.setObjectName("parameters_dock")
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetMovable | QtWidgets.QDockWidget.DockWidgetFloatable)
        box = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(box)
        lay.setContentsMargins(4, 4, 4, 4)
        self.dock_layout = lay
        # the preset's title, description and claim; the parameters; then the tables, text
        # and 3D views of the grid (ViewGrid.text_panel): three parts of one splitter, each
        # scrolling, so none sets the window's minimum height
        self.about_label = QtWidgets.QLabel()
        self.about_label.setWordWrap(True)
        self.about_label.setAlignment(QtCore.Qt.AlignLeft | QtCore.Qt.AlignTop)
        self.about_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        about = _scrolling(self.about_label)
        self.panel = ParamPanel()
        self.panel.value_changed.connect(self._on_param_changed)
        self.panel.text_requested.connect(lambda _name: self.show_equations())
        params = _scrolling(self.panel)
        self.info_scroll = _scrolling(None)
        split = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        split.setChildrenCollapsible(False)
        for i, (w, stretch) in enumerate(((about, 1), (params, 3), (self.info_scroll, 2))):
            w.setMinimumHeight(60)
            split.addWidget(w)
            split.setStretchFactor(i, stretch)
        self.dock_splitter = split
        lay.addWidget(split, 1)
        self.pending_label = QtWidgets.QLabel()
        self.pending_label.setStyleSheet("color: #d08000;")
        self.pending_label.setWordWrap(True)
        lay.addWidget(self.pending_label)
        dock.setWidget(box)
        dock.setMinimumWidth(330)
        self.addDockWidget(QtCore.Qt.LeftDockWidgetArea, dock)
        self.param_dock = dock

    def _build_sweep_dock(self):
        """The sweep panel (app/sweep_dock.py): it runs sweeps in a process of its own; a clicked
        point of its map becomes the live run."""
        self._raise_on_show = _RaiseOnShow(self)
        self.sweep_dock = SweepDock(self, device=self.engine.device, base=lambda: {
            "describe": self.current, "params": self.current_preset().params if self.current else {},
            "seed": self.seed_box.value(), "observables": list(self.last_frame[0].get("observables", {}))
            if self.last_frame else []})
        self._tab_with_parameters(self.sweep_dock)
        self.view_menu = self.menuBar().addMenu("&View")
        self.view_menu.addAction(self.sweep_dock.toggleViewAction())
        self.model_loaded.connect(lambda _name: self.sweep_dock.model_changed())
        self.sweep_dock.open_point.connect(lambda model, params, seed: self.switch(
            {"model": model, "params": params, "seed": seed, "preset": None}, "open sweep point"))

    def _tab_with_parameters(self, dock: QtWidgets.QDockWidget) -> None:
        """Docks share the parameters' place as tabs (opening one raises its tab), so the views
        keep their width: a sweep dock beside them left the fields ~12 px wide."""
        # its content scrolls inside the parameters' width instead of widening the dock
        dock.setWidget(_scrolling(dock.widget(), narrow=True))
        self.addDockWidget(QtCore.Qt.LeftDockWidgetArea, dock)
        self.tabifyDockWidget(self.param_dock, dock)
        dock.hide()
        dock.installEventFilter(self._raise_on_show)
        self.param_dock.raise_()

    def _build_preset_browser(self):
        """The preset browser (app/preset_browser.py): presets by model with thumbnails; a
        double-click opens one."""
        self.preset_browser = PresetBrowser(self, model_titles=lambda: {
            n: d.get("title", n) for n, d in self.models.items()})
        self._tab_with_parameters(self.preset_browser)
        toggle = self.preset_browser.toggleViewAction()
        toggle.setText("Preset browser")
        toggle.setShortcut(QtGui.QKeySequence("Ctrl+B"))
        toggle.setToolTip("Presets by model, with thumbnails (Ctrl+B)")
        self.view_menu.addAction(toggle)
        self.addAction(toggle)
        self.browser_action = toggle  # first in the Presets menu (_fill_presets_menu)
        self.preset_browser.open_preset.connect(self.load_preset_file)
        self.model_loaded.connect(lambda _name: self.preset_browser.update_titles())

    def _install_connect_entry(self, help_menu: QtWidgets.QMenu) -> None:
        """Help → Connect from Python…, above About."""
        self.act_connect = QtGui.QAction("Connect from Python…", self)
        self.act_connect.setToolTip("The two lines that attach Python or a Jupyter notebook to this run")
        self.act_connect.triggered.connect(lambda: _show(self, "connect_dialog", ConnectDialog(self, self.engine)))
        actions = help_menu.actions()
        help_menu.insertAction(actions[-1] if actions else None, self.act_connect)

    def _build_equation_dock(self):
        """The equation editor (app/equation_dock.py): a tab beside the parameters, shown by
        itself for the models whose equations are typed (custom_ode, custom_rd), and from
        View → Equations (Ctrl+Shift+E) to start a system of your own from any model."""
        self.equation_dock = EquationDock(self)
        self._tab_with_parameters(self.equation_dock)
        self._equations_auto = False  # shown by a model load (hidden again when a built-in model loads)
        toggle = self.equation_dock.toggleViewAction()
        toggle.setText("Equations")
        toggle.setShortcut(QtGui.QKeySequence("Ctrl+Shift+E"))
        toggle.setShortcutContext(QtCore.Qt.ApplicationShortcut)
        toggle.setToolTip("Type your own ODE or reaction–diffusion system (Ctrl+Shift+E)")
        toggle.triggered.connect(lambda on: setattr(self, "_equations_auto", False))
        self.view_menu.addAction(toggle)
        self.addAction(toggle)
        self.equation_dock.apply_requested.connect(self.apply_equations)
        self.model_loaded.connect(self._on_model_loaded_equations)

    def show_equations(self) -> None:
        """The equation editor in front, with the keyboard focus."""
        self.equation_dock.show()
        self.equation_dock.raise_()
        self.equation_dock.editor.setFocus(QtCore.Qt.OtherFocusReason)

    def _on_model_loaded_equations(self, name: str) -> None:
        dock = self.equation_dock
        dock.show_system(name, self.params.get("equations") if name in EQUATION_MODELS else None)
        if name in EQUATION_MODELS and dock.isHidden():
            dock.show()  # the equations are what a custom model is: their tab comes to the front
            self._equations_auto = True
        elif name not in EQUATION_MODELS and self._equations_auto:
            dock.hide()
            self._equations_auto = False

    def _build_statusbar(self):
        sb = self.statusBar()
        self.device_label = ElidedLabel("device: –")
        self.rate_label = ElidedLabel("engine: – steps/s", template="engine: 123,456 steps/s")
        self.fps_label = ElidedLabel("display: – frames/s", template="display: 30 frames/s")
        self.time_label = ElidedLabel("t = 0", template="t = 1234.56 (step 1234567)")
        self.state_label = ElidedLabel("")
        # each field as wide as its text when there is room; elided (with the whole text as
        # a tooltip) when the window is narrow, never cut mid-word without a trace
        for w, stretch in ((self.device_label, 0), (self.rate_label, 0), (self.fps_label, 0),
                           (self.time_label, 0), (self.state_label, 1)):
            sb.addPermanentWidget(w, stretch)

    # ---- engine events ---------------------------------------------------------
    def _on_connected(self, info: dict):
        self.device_label.setText(f"device: {info.get('device_description', info.get('device'))}")
        self.engine.request("set_display_rate", {"fps": self.fps})
        self.engine.request("list_models", {}, self._on_models)

    def _on_models(self, content: dict):
        self.models = content["models"]
        # a typed system's parameters may not take its model's own names (dt, solver, grid, …)
        self.equation_dock.reserved = {m: {p["name"] for p in self.models[m]["params"]}
                                       for m in EQUATION_MODELS if m in self.models}
        self.model_combo.clear()
        for name, d in sorted(self.models.items()):
            self.model_combo.addItem(d.get("title", name), name)
        if self.initial_preset:
            path, self.initial_preset = self.initial_preset, None
            if self.load_preset_file(path):
                return
        if self.current is None:  # the first model (also when the --preset was refused): the last one used
            self.load_model(self.memory.last_model(self.models)
                            or (DEFAULT_MODEL if DEFAULT_MODEL in self.models else sorted(self.models)[0]))
        else:  # engine restarted: load what we had again, then continue from the last frame
            frame = self.last_frame
            if frame is not None and frame[0].get("model") == self.current["name"]:
                self._restore = (frame[0], frame[1], self.running)
            self.load_model(self.current["name"], self.params, self.seed, run=self._restore is None)

    def load_model(self, name: str, params: dict | None = None, seed: int | None = None, run: bool = True):
        seed = self.seed_box.value() if seed is None else seed
        # the model box names what is coming while it loads (a neural ODE makes its data for
        # seconds); a refused or cancelled load puts back what is really loaded
        self._loading = name
        self._show_model_in_box(name)
        content = {"model": name, "params": params or {}, "seed": seed}
        if self.preset is not None and self.preset.model == name and self.preset.title:
            # the engine names recordings after the preset (title and description in the file)
            content.update(title=self.preset.title, description=self.preset.description)
        self.engine.request("load", content,
                            lambda c: self._on_loaded(c, seed, run), lambda text: self._on_load_refused(name, text))

    def _show_model_in_box(self, name: str) -> None:
        idx = self.model_combo.findData(name)
        if idx >= 0:
            self.model_combo.setCurrentIndex(idx)

    def _on_load_refused(self, name: str, message: str):
        """A load the engine refused (memory budget, bad value): say so; the model box shows
        what is really loaded, and a window with nothing loaded gets the default model."""
        self._restore = None
        self.statusBar().showMessage(message, 15000)
        latest = name == getattr(self, "_loading", None)
        if latest and self.current is not None:  # the box names the model really loaded again
            self._show_model_in_box(self.current["name"])
        if message.startswith("Cancelled:"):
            return  # superseded by a newer load (or cancelled with Esc): nothing to warn about
        if name in EQUATION_MODELS:
            self.equation_dock.show_refused(message)
        QtWidgets.QMessageBox.warning(self, "Model not loaded", f"{name}: {message}")
        self._refocus()  # after the dialog: keys go to the window's shortcuts
        if self.current is None and name != DEFAULT_MODEL and DEFAULT_MODEL in self.models:
            self.preset = None
            self.load_model(DEFAULT_MODEL)

    def _on_loaded(self, content: dict, seed: int, run: bool):
        d = content["describe"]
        self._follow_after = time.monotonic() + FOLLOW_QUIET_S
        self.current = d
        self.params = dict(content["params"])
        self._shown = dict(self.params)  # the values on screen: a change's "before" for undo
        self.seed = seed
        with self._applying_undo():
            self.seed_box.setValue(seed)
        self._show_model_in_box(d["name"])
        self.panel.set_schema(self._panel_params(d))
        self.panel.set_values(self.params)
        self.panel.mark_pending([])
        self.pending = {}
        self.pending_label.clear()
        self.grid.set_views(d["views"], self.params)
        for v in self.grid.views:
            if hasattr(v, "painted"):
                v.painted.connect(self._on_paint)
            if hasattr(v, "clicked"):
                v.clicked.connect(self._on_view_clicked)
        self.brush_bar.setVisible(any(v.spec.get("paint") for v in self.grid.views))
        title = self.preset.title if self.preset and self.preset.model == d["name"] else d["title"]
        text = self.preset.description if self.preset and self.preset.model == d["name"] else d["description"]
        # title and description are plain text: "|λ| < 1" must not open an HTML tag
        self.about_label.setText(f"<b>{html.escape(title)}</b><br>{html.escape(text)}{self._claim_html(d)}")
        self.setWindowTitle(f"Attractor Lab — {title}")
        QtCore.QTimer.singleShot(0, self._fit_dock)
        self.recording = False
        self.act_record.setChecked(False)
        from_preset = self.preset is not None and self.preset.model == d["name"] and "steps_per_frame" in self.preset.run
        self.speed_box.setValue(self.preset.run["steps_per_frame"] if from_preset else d.get("steps_per_frame", 0))
        self.engine.request("set_speed", {"steps_per_frame": self.speed_box.value()})
        if self._restore is not None:
            self._restore_state()
        elif run:
            self.set_running(True)
        self.undo_stack.setClean()  # nothing to lose yet in this run
        self.model_loaded.emit(d["name"])

    def _fit_dock(self) -> None:
        """Give the preset's description and claim the height they need (up to 40 % of the
        dock: the checked claim was below the fold), the tables and text theirs (up to 35 %),
        the parameters the rest."""
        split = self.dock_splitter
        total = sum(split.sizes())
        if total <= 0:
            return
        width = max(self.about_label.width(), split.width() - 24, 100)
        about = min(self.about_label.heightForWidth(width) + 8, int(0.4 * total))
        info = min(self.grid.text_panel.sizeHint().height() + 8, int(0.35 * total)) \
            if self.grid.text_panel.isVisible() else 60
        split.setSizes([about, max(total - about - info, 60), info])

    def _restore_state(self):
        """After an engine restart: send back the last frame's state and continue from it."""
        content, arrays, was_running = self._restore
        self._restore = None
        self.restored_from = (content, arrays)
        step, when = int(content.get("step", 0)), float(content.get("time", 0.0))

        def restored(c):
            names = c.get("restored", [])
            self.statusBar().showMessage(
                f"engine restarted: the run continues from step {c['step']} (t = {c['time']:.6g}); "
                f"restored {', '.join(names)}", 20000)
            self.state_restored.emit(int(c["step"]), float(c["time"]), list(names))
            self.set_running(was_running)

        def refused(message):
            self.statusBar().showMessage(f"engine restarted; the run could not be restored ({message}): "
                                         "it starts again from t = 0", 20000)
            self.set_running(was_running)

        self.engine.request("set_state", {"step": step, "time": when}, restored, refused,
                            arrays={k: v for k, v in arrays.items()})

    def _on_frame(self, content: dict, arrays: dict):
        if self.current is None or content.get("model") != self.current["name"]:
            return  # a frame of the previous model
        self.last_frame = (content, arrays)
        self._follow_engine_params(content.get("params"))
        self.grid.update_frame(arrays, content.get("observables", {}), content.get("params", self.params),
                               content.get("time", 0.0))
        self.grid.set_texts(content.get("texts", {}))
        self.time_label.setText(f"t = {content.get('time', 0):.4g} (step {content.get('step', 0)})")
        self._frames_drawn += 1
        self._fps_count += 1
        now = time.monotonic()
        if now - self._fps_t0 >= 1.0:
            self.fps_label.setText(f"display: {self._fps_count / (now - self._fps_t0):.0f} frames/s"
                                   + self._frame_steps_text)
            self._fps_count, self._fps_t0 = 0, now
        self.frame_drawn.emit(self._frames_drawn)

    def _following(self) -> bool:
        """Whether the engine's parameters may move the panel now: nothing of the window's own
        is unsent or unanswered, and its last change, load or reset is not too recent."""
        return not self._dirty and not self._params_in_flight and time.monotonic() >= self._follow_after

    def _follow_engine_params(self, params) -> None:
        """Show parameters another client changed (a notebook with ``al.connect()``): the
        frames carry the engine's values. Not an undo step: the window did not make it."""
        if not isinstance(params, dict) or not self._following():
            return
        changed = {k: v for k, v in params.items() if k in self.params and self.params[k] != v}
        if not changed:
            return
        self.params.update(changed)
        self._shown.update(changed)
        self.panel.set_values({k: v for k, v in changed.items() if k not in self.pending})
        self.statusBar().showMessage("parameters changed by another client: " +
                                     ", ".join(f"{k} = {v}" for k, v in changed.items()), 5000)

    def _follow_engine_pending(self, pending) -> None:
        """Structural values another client set wait for a reset: show them as the window's own."""
        if not isinstance(pending, dict) or pending == self.pending or not self._following():
            return
        self._show_pending(pending)
        self.panel.set_values(pending)
        self._shown.update(pending)

    def _on_status(self, s: dict):
        if self.current is not None and s.get("model") == self.current["name"]:
            self._follow_engine_pending(s.get("pending"))
        self.rate_label.setText(f"engine: {s.get('steps_per_second', 0):,.0f} steps/s")
        self._show_frame_steps(s)
        rec = s.get("recording")
        state = s.get("state", "")
        job = s.get("job")
        if state == "busy" and job:
            state = f"busy: {job['verb']} ({job['seconds']:.0f} s; Esc cancels)"
        self.state_label.setText(state + (f" · rec {rec}" if rec is not None and self.recording else ""))
        # follow the engine (it pauses itself on errors), but not a status sent
        # before the user's own run/pause reached it
        recent = time.monotonic() - self._toggled_at < 1.5
        if not recent and self.running != (state == "running") and state in ("running", "paused"):
            self._show_running(state == "running")

    def _show_frame_steps(self, s: dict) -> None:
        """When the device cannot do the steps per frame asked, the frames keep their rate
        and carry fewer steps (the engine adapts): the display field says how many."""
        done, asked = s.get("frame_steps"), s.get("steps_per_frame") or 0
        text = "" if s.get("keeps_up", True) or done is None else \
            f" · {done:.{1 if done < 10 else 0}f} of {asked} steps/frame"
        self._frame_steps_text = text

    def _on_engine_error(self, message: str, where: str):
        self.statusBar().showMessage(f"{where}: {message}", 15000)
        if where == "step":  # the engine paused itself (diverged or failed)
            self._show_running(False)
            if self._stop_dialog_open:  # a flood of errors: one dialog, the rest in the status bar
                self._stops_unshown += 1
                self._last_unshown_stop = message
                return
            self._stop_dialog_open, self._stops_unshown = True, 0
            try:
                QtWidgets.QMessageBox.warning(self, "Simulation stopped", message)
            finally:
                self._stop_dialog_open = False
            if self._stops_unshown:
                self.statusBar().showMessage(f"{self._stops_unshown} more stop(s) while the dialog was open; "
                                             f"the last: {self._last_unshown_stop}", 15000)
            self._refocus()  # after the dialog: keys go to the window's shortcuts

    def _on_events_lost(self, missed: int, missed_errors: int, message: str):
        """Engine events the window could no longer fetch: a lasting mark in the status bar
        (the total so far; the message as its tooltip) besides the passing message."""
        if getattr(self, "lost_events_label", None) is None:
            self.lost_events_label = QtWidgets.QLabel()
            self.statusBar().addPermanentWidget(self.lost_events_label)
        errors = self.engine.errors_lost_total
        self.lost_events_label.setText(f"⚠ {errors} engine errors lost" if errors else
                                       f"⚠ {self.engine.events_lost_total} engine events lost")
        self.lost_events_label.setToolTip(message)
        self.statusBar().showMessage(message, 30000)

    def _on_dead(self, message: str):
        self.state_label.setText("engine dead")
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Critical, "Engine", message.split("\n\n")[0],
                                    QtWidgets.QMessageBox.Close, self)
        if "\n\n" in message:  # the engine's stderr tail
            box.setDetailedText(message.split("\n\n", 1)[1])
            box.setInformativeText(message.split("\n\n", 1)[1].splitlines()[-1])
        restart = box.addButton("Restart engine", QtWidgets.QMessageBox.AcceptRole)
        box.setModal(False)
        box.buttonClicked.connect(lambda b: self.restart_engine() if b is restart else None)
        box.show()
        self.dead_box = box

    def _on_liveness(self, verdict: str, message: str):
        if verdict == "alive":
            self.statusBar().showMessage("the engine answers again", 5000)
        else:
            self.state_label.setText("engine not answering" if verdict == "dead" else "engine busy")
            self.statusBar().showMessage(message, 15000)

    def restart_engine(self):
        """Start the engine again; the run continues from the last frame received."""
        self.state_label.setText("restarting engine…")
        self.engine.restart()

    def cancel_job(self):
        self.engine.request("cancel", {}, lambda c: self.statusBar().showMessage(
            f"cancelled: {', '.join(c['cancelled'])}" if c.get("cancelled") else "nothing to cancel", 5000))

    # ---- user actions --------------------------------------------------------------
    def _on_model_chosen(self, index: int):
        name = self.model_combo.itemData(index)
        if name and (self.current is None or name != self.current["name"]):
            if not self.switch({"model": name, "params": {}, "seed": self.seed_box.value(), "preset": None},
                               f"model {self.models.get(name, {}).get('title', name)}"):
                self._show_model_in_box(self.current["name"])

    def _on_param_changed(self, name: str, value):
        if not self._undoing:
            self.undo_stack.push(ParamChange(self, name, self._shown.get(name), value))
        self._shown[name] = value
        self._dirty[name] = value
        if not self._flush_timer.isActive():
            self._flush_params()  # the first change goes at once (30 ms less slider-to-screen)
            self._flush_timer.start()  # the ones within PARAM_FLUSH_MS are merged, sent when it fires

    # ---- undo (app/undo.py) and switches that ask first ----------------------------
    @contextlib.contextmanager
    def _applying_undo(self):
        """Changes made inside are not recorded as new undo steps (an undo, a load)."""
        undoing, self._undoing = self._undoing, True
        try:
            yield
        finally:
            self._undoing = undoing

    def modified(self) -> bool:
        """Whether the run has changes since it was loaded (or its preset saved)."""
        return not self.undo_stack.isClean()

    def apply_params(self, values: dict) -> None:
        """Show ``values`` and send them, as if typed (used by undo and redo)."""
        with self._applying_undo():
            self.panel.set_values(values)
            for name, value in values.items():
                self._on_param_changed(name, value)

    def current_field(self, name: str):
        """The last frame's array ``name`` (None if there is none)."""
        return self.last_frame[1].get(name) if self.last_frame is not None else None

    def restore_fields(self, arrays: dict) -> None:
        """Put fields back into the engine's state (undo of a painting stroke)."""
        self.engine.request("set_state", {}, None, lambda message: self.statusBar().showMessage(
            f"undo: {message}", 10000), arrays={k: np.asarray(v) for k, v in arrays.items()})

    def _on_seed_changed(self, seed: int) -> None:
        if not self._undoing:
            self.undo_stack.push(SeedChange(self, self._seed_shown, seed))
        self._seed_shown = seed

    def set_seed(self, seed: int) -> None:
        with self._applying_undo():
            self.seed_box.setValue(seed)
        self._seed_shown = seed

    def run_state(self) -> dict:
        """What a switch leaves: model, parameters on screen, seed and preset."""
        params = {**self.params, **self._shown, **self._dirty, **self.pending} if self.current else {}
        return {"model": self.current["name"] if self.current else None, "params": params,
                "seed": self.seed_box.value(), "preset": self.preset}

    def switch(self, new: dict, text: str) -> bool:
        """Load another model or preset (``new``: model, params, seed, preset) as one undo
        step; a run with changes asks first. False when the user keeps the current run."""
        if self.current is not None and self.modified() and not self.confirm_discard(text):
            return False
        old = self.run_state()
        if self.current is not None:
            with self._applying_undo():
                self.undo_stack.push(Switch(self, old, new, text))
        self.switch_to(new)
        return True

    def confirm_discard(self, what: str) -> bool:
        """Ask before a switch leaves a run with changes (Ctrl+Z brings them back anyway)."""
        title = self.preset.title if self.preset is not None else (self.current or {}).get("title", "the run")
        answer = QtWidgets.QMessageBox.question(
            self, "Leave this run?",
            f"The run of “{title}” has changes ({self.undo_stack.undoText() or 'parameters'}). "
            f"Switch to {what} anyway? Edit → Undo (Ctrl+Z) brings this run back.",
            QtWidgets.QMessageBox.Yes | QtWidgets.QMessageBox.Cancel, QtWidgets.QMessageBox.Cancel)
        self._refocus()
        return answer == QtWidgets.QMessageBox.Yes

    def switch_to(self, state: dict) -> None:
        """Load ``state`` (a switch's either side) without recording it."""
        self._flush_timer.stop()  # values not yet sent belong to the run being left
        self._dirty = {}
        self.preset = state.get("preset")
        if self.preset is not None and "fps" in self.preset.run:
            self.fps = self.preset.run["fps"]
        self.load_model(state["model"], state.get("params") or {}, state.get("seed"))

    def revert_to_preset(self) -> None:
        """The loaded preset's parameters and seed again (one undo step)."""
        if self.preset is None:
            self.statusBar().showMessage("no preset loaded: nothing to revert to", 5000)
            return
        p = self.preset
        self.switch({"model": p.model, "params": dict(p.params), "seed": p.seed, "preset": p},
                    f"preset “{p.title or p.model}” as saved")

    # ---- your own equations (app/equation_dock.py) ------------------------------------
    def apply_equations(self, model: str, text: str, extra: dict | None = None) -> None:
        """Run ``text`` as ``model`` (the equation dock's Apply), as one undo step: new
        equations of the model running rebuild it in place (other settings and the values of
        sliders whose declaration did not change are kept); otherwise the window switches to
        ``model`` (``extra``: other parameters a "Start from" system brings)."""
        if self.current is not None and self.current["name"] == model:
            old = (self.params.get("equations", ""), self._declared_values())
            self.set_equations(text, {}, extra, record=old)
            return
        state = {"model": model, "params": {**(extra or {}), "equations": text},
                 "seed": self.seed_box.value(), "preset": None}
        if not self.switch(state, f"your own {KINDS.get(model, model)}"):
            self.equation_dock.check_now()  # the user kept the run: Apply is offered again

    def _panel_params(self, d: dict) -> list:
        """The parameters of declaration ``d`` in the panel's order: a typed system's own
        sliders right under its equations (above the solver's settings), else as declared."""
        if d["name"] not in EQUATION_MODELS:
            return d["params"]
        own = self.equation_dock.reserved.get(d["name"], set())
        first = [p for p in d["params"] if p["name"] == "equations"]
        return first + [p for p in d["params"] if p["name"] not in own] + \
            [p for p in d["params"] if p["name"] in own and p["name"] != "equations"]

    def _declared_values(self) -> dict:
        """The values of the sliders the equations declare (not the model's own parameters)."""
        own = self.equation_dock.reserved.get(self.current["name"], set()) if self.current else set()
        return {k: v for k, v in {**self.params, **self._shown}.items() if k not in own and k != "equations"}

    def set_equations(self, text: str, values: dict, extra: dict | None = None, record=None) -> None:
        """New equations for the custom model running: set them, reset, then show the
        parameters they declare (and ``values`` of them, as undo restores them). ``record``
        (the old text and values): push the change on the undo stack once it runs."""
        self._flush_timer.stop()
        self._flush_params()
        before = self.params.get("equations")

        def refused(message: str) -> None:
            self.equation_dock.show_refused(message)
            self.statusBar().showMessage(f"equations not applied: {message}", 15000)
            if before is not None:  # withdraw the refused text, which would wait for the next reset
                self.engine.request("set_params", {"params": {"equations": before}}, None, lambda _m: None)

        def reset(_reply) -> None:
            self.engine.request("reset", {"seed": self.seed_box.value()},
                                lambda c: self._on_equations_run(c, text, values, record), refused)

        self.engine.request("set_params", {"params": {**(extra or {}), "equations": text}}, reset, refused)

    def _on_equations_run(self, c: dict, text: str, values: dict, record) -> None:
        self._on_reset_done(c)
        if c["params"].get("equations") != text:
            return
        restore = {k: v for k, v in values.items() if k in self.params and self.params[k] != v}
        if restore:  # undo: the sliders as they were
            self.apply_params(restore)
        if record is not None:
            with self._applying_undo():
                self.undo_stack.push(EquationChange(self, record[0], text, record[1], self._declared_values()))
        names = [p["name"] for p in self.current["params"] if p["name"] not in
                 self.equation_dock.reserved.get(self.current["name"], ())]
        self.statusBar().showMessage("equations applied" + (f"; sliders: {', '.join(names)}" if names else ""),
                                     10000)
        self.set_running(True)

    def _refocus(self) -> None:
        """Keyboard focus back on the window after a dialog (shortcuts, not a box, get keys)."""
        self.activateWindow()
        self.raise_()
        self.grid.setFocus(QtCore.Qt.OtherFocusReason)

    def _flush_params(self):
        if not self._dirty:
            return
        params, self._dirty = self._dirty, {}
        if self.engine.request("set_params", {"params": params}, self._on_params_set,
                               self._on_params_refused) is not None:
            self._params_in_flight += 1

    def _params_answered(self) -> None:
        self._params_in_flight = max(0, self._params_in_flight - 1)
        self._follow_after = time.monotonic() + FOLLOW_QUIET_S

    def _on_params_set(self, c: dict):
        self._params_answered()
        self.params = dict(c["params"])
        # what the engine holds is what is on screen, except values typed since (not yet sent)
        self._shown.update({k: v for k, v in self.params.items() if k not in self._dirty})
        self._show_pending(c.get("pending", {}))

    def _show_pending(self, pending: dict) -> None:
        # a value set back to what the model has waits for nothing (new equations refused, then withdrawn)
        pending = {k: v for k, v in pending.items() if self.params.get(k) != v}
        self.pending = dict(pending)
        self.panel.mark_pending(pending)
        self.pending_label.setText(
            "Waiting for reset (R): " + ", ".join(k if isinstance(v, str) and "\n" in v else f"{k} = {v}"
                                                  for k, v in pending.items()) if pending else "")

    def _on_params_refused(self, message: str):
        self._params_answered()
        self.statusBar().showMessage(message, 15000)
        self.panel.set_values(self.params)  # show the values the engine really has
        self._shown = dict(self.params)
        QtWidgets.QMessageBox.warning(self, "Parameter refused", message)
        self._refocus()  # after the dialog: keys go to the window's shortcuts

    def set_running(self, run: bool):
        self.engine.request("run" if run else "pause", {"fps": self.fps} if run else {})
        self._toggled_at = time.monotonic()
        self._show_running(run)

    def _show_running(self, run: bool):
        self.running = run
        self.act_run.setText("Pause" if run else "Run")

    def toggle_run(self):
        self.set_running(not self.running)

    def step_once(self):
        self.engine.request("step", {"n": 1})
        self._toggled_at = time.monotonic()
        self._show_running(False)

    def reset(self):
        self._flush_params()
        self.engine.request("reset", {"seed": self.seed_box.value()}, self._on_reset_done)

    def _on_reset_done(self, c: dict):
        self._follow_after = time.monotonic() + FOLLOW_QUIET_S
        self.params = dict(c["params"])
        self.seed = c.get("seed", self.seed)
        d = c.get("describe")
        if d is not None and self.current is not None and d.get("params") != self.current.get("params"):
            # new equations: the reply declares this instance's own parameters (the new sliders)
            self.current = d
            self.panel.set_schema(self._panel_params(d))
            self.panel.set_values(self.params)
            self._shown = dict(self.params)
        if self.current is not None and self.current["name"] in EQUATION_MODELS:
            self.equation_dock.show_system(self.current["name"], self.params.get("equations"))
        self.panel.mark_pending([])
        self.pending = {}
        self.pending_label.clear()
        self.grid.clear()

    def _on_paint(self, array: str, x: float, y: float):
        stroke = self._stroke
        now = time.monotonic()
        if (stroke is not None and stroke.field == array and now - stroke.last <= STROKE_GAP
                and self.undo_stack.command(self.undo_stack.index() - 1) is stroke):
            stroke.last = now  # the same stroke goes on (one undo step, the field copied once)
        elif self.current_field(array) is not None:
            self._stroke = PaintStroke(self, array, self.current_field(array))
            self.undo_stack.push(self._stroke)
        self.engine.request("paint", {"field": array, "x": x, "y": y, "radius": self.brush_radius.value(),
                                      "value": self.brush_value.value(), "mode": self.brush_mode.currentText()})

    def _on_view_clicked(self, target: str, x: float, y: float):
        """A click on a view that declares ``"click": target`` (data coordinates) goes to the model."""
        self.engine.request("click", {"target": target, "x": x, "y": y}, None,
                            lambda message: self.statusBar().showMessage(f"click: {message}", 15000))

    def toggle_record(self):
        if self.act_record.isChecked():
            every, ok = QtWidgets.QInputDialog.getInt(self, "Record", "Record a snapshot every K steps:", 10, 1, 10**9)
            self._refocus()  # after the dialog: keys go to the window's shortcuts
            if not ok:
                self.act_record.setChecked(False)
                return
            self.engine.request("record", {"action": "start", "every": every})
            self.recording = True
        else:
            self.engine.request("record", {"action": "stop"})
            self.recording = False

    def save_trajectory(self):
        path = self.ask_save_path("trajectories", "Save trajectory", self.default_path("trajectories", ".h5"),
                                  "HDF5 (*.h5);;NumPy (*.npz);;Observables CSV (*.csv)")
        if not path:
            return
        progress = SaveProgress(self, path)

        def saved(c):
            progress.finish()
            self.statusBar().showMessage(f"saved {c['snapshots']} snapshots to {c['path']}", 10000)
            self.memory.add_recent_file(c["path"])

        def failed(message):
            progress.finish()
            self.statusBar().showMessage(f"trajectory not saved: {message}", 15000)
            if not message.startswith("Cancelled"):
                QtWidgets.QMessageBox.warning(self, "Save trajectory", message)
                self._refocus()

        self.engine.request("record", {"action": "save", "path": path}, saved, failed)
        progress.start()

    def load_pattern_images(self):
        """Binarise (classical) or greyscale (modern) user images into patterns and send them."""
        if self.current is None or not any(p["name"] == "pattern_source" and "images" in p.get("choices", ())
                                           for p in self.current["params"]):
            QtWidgets.QMessageBox.information(self, "Pattern images",
                                              "Choose a Hopfield model first: only they store image patterns.")
            self._refocus()  # after the dialog: keys go to the window's shortcuts
            return
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Pattern images", "",
                                                          "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif)")
        self._refocus()  # after the dialog: keys go to the window's shortcuts
        if not paths:
            return
        side, ok = QtWidgets.QInputDialog.getInt(self, "Pattern images", "Pixels per side (N = side²):", 64, 4, 512)
        self._refocus()  # after the dialog: keys go to the window's shortcuts
        if not ok:
            return
        from attractor_lab.engine.patterns import load_image_patterns  # numpy + Pillow, no torch

        try:
            patterns = load_image_patterns(paths, side, binary=self.current["name"] == "hopfield")
        except ValueError as exc:
            QtWidgets.QMessageBox.warning(self, "Pattern images", str(exc))
            self._refocus()  # after the dialog: keys go to the window's shortcuts
            return
        self.engine.request("set_patterns", {}, lambda c: (self._on_params_set(c), self.reset()),
                            self._on_params_refused, arrays={"patterns": patterns})

    def export_movie_dialog(self):
        """Save the recording to a private temporary file, then write a movie of one field."""
        views = movie_views(self.grid.views, self.current.get("record_fields") if self.current else None)
        if not views:
            QtWidgets.QMessageBox.information(
                self, "Export movie", "This model's recordings keep no image field to make a movie of; "
                "save the trajectory (Ctrl+Shift+S) instead.")
            self._refocus()  # after the dialog: keys go to the window's shortcuts
            return
        view = self._choose_view("Export movie", "Field:", views)
        if view is None:
            return
        path = self.ask_save_path("movies", "Export movie", self.default_path("movies", ".mp4", view.spec["array"]),
                                  "MP4 (*.mp4);;GIF (*.gif)")
        if not path:
            return
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="attractor-lab-movie-")) / "recording.npz"

        def failed(msg):
            shutil.rmtree(tmp.parent, ignore_errors=True)
            QtWidgets.QMessageBox.warning(self, "Export movie", f"{msg}\nStart a recording first (Ctrl+R).")
            self._refocus()  # after the dialog: keys go to the window's shortcuts

        self.engine.request("record", {"action": "save", "path": str(tmp)},
                            lambda c: self._write_movie(tmp, view, path, remove=True), failed)

    def _write_movie(self, trajectory: Path, view, path: str, remove: bool = False):
        from attractor_lab.engine.recorder import load_trajectory
        from attractor_lab.widgets.movie import colorize, write_movie

        try:
            data = load_trajectory(trajectory)
            key = f"state/{view.spec['array']}"
            if key not in data:
                raise ValueError(f"the recording holds no {view.spec['array']!r}")
            rgb = colorize(data[key], view.spec.get("colormap", "viridis"), view.spec.get("levels"))
            dialog = QtWidgets.QProgressDialog("Writing movie…", None, 0, len(rgb), self)
            dialog.setWindowModality(QtCore.Qt.WindowModal)
            done = [0]

            def progress(n):
                done[0] += n
                dialog.setValue(done[0])

            write_movie(path, rgb, fps=min(self.fps, 60), progress=progress)
            dialog.close()
            self.statusBar().showMessage(f"wrote {len(rgb)} frames to {path}", 10000)
            self.memory.add_recent_file(path)
        except (OSError, ValueError) as exc:
            QtWidgets.QMessageBox.warning(self, "Export movie", str(exc))
            self._refocus()  # after the dialog: keys go to the window's shortcuts
        finally:
            if remove:  # our private temporary folder
                shutil.rmtree(trajectory.parent, ignore_errors=True)

    # ---- presets ---------------------------------------------------------------------
    def _claim_html(self, d: dict) -> str:
        """The loaded preset's contract in words (what the test suite checks it shows), or ''."""
        preset = self.preset
        if preset is None or preset.model != d["name"] or preset.contract is None:
            return ""
        dt = preset.params.get("dt", next((p["default"] for p in d["params"] if p["name"] == "dt"), None))
        claim = html.escape(preset.contract.describe(dt))
        return f"<br><span style='color: #2a7a2a;'>Checked claim (preset as shipped): {claim}</span>"

    def _fill_presets_menu(self):
        """The preset browser first, then a submenu per family of models (Hopfield networks,
        dynamics and neural ODEs, reaction–diffusion, PDEs and operators) with the titles
        under a heading per model (yours marked). Rebuilt at each opening, touching no action
        of the last one (clear() deleted them; the browser's toggle belongs to its dock)."""
        menu = self.presets_menu
        for a in menu.actions():  # not clear(): it deleted the browser's toggle with the rest
            menu.removeAction(a)
        for item in getattr(self, "_presets_menu_items", []):
            item.deleteLater()  # the submenus and separator of the last opening
        menu.addAction(self.browser_action)
        items = [menu.addSeparator()]
        groups: dict[str, list] = {}
        for path, model, title, mine in preset_titles(list_presets()):
            groups.setdefault(model, []).append((title, path, mine))
        titles = {name: d.get("title", name) for name, d in self.models.items()}
        families: dict[str, list[str]] = {}
        for model in groups:
            family = self.models.get(model, {}).get("family") or model
            families.setdefault(family, []).append(model)
        for family in sorted(families, key=lambda f: FAMILY_TITLES.get(f, titles.get(f, f)).lower()):
            sub = QtWidgets.QMenu(FAMILY_TITLES.get(family, titles.get(family, family)), menu)
            menu.addMenu(sub)
            items.append(sub)
            for model in sorted(families[family], key=lambda m: titles.get(m, m).lower()):
                if len(families[family]) > 1:
                    sub.addSection(titles.get(model, model))
                for title, path, mine in sorted(groups[model], key=lambda t: t[0].lower()):
                    a = sub.addAction(title + ("  (yours)" if mine else ""))
                    a.setToolTip(str(path))
                    a.triggered.connect(lambda checked=False, p=path: self.load_preset_file(p))
        self._presets_menu_items = items

    def open_preset_dialog(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open preset", str(user_presets_dir()),
            "Presets and XPPAUT files (*.toml *.ode);;Presets (*.toml);;XPPAUT .ode files (*.ode)")
        self._refocus()  # after the dialog: keys go to the window's shortcuts
        if path:
            self.load_preset_file(path)

    def load_preset_file(self, path) -> bool:
        try:
            preset = load_preset(path, schemas=schemas_from_descriptions(self.models))
        except PresetError as exc:
            QtWidgets.QMessageBox.warning(self, "Preset refused", str(exc))
            self._refocus()  # after the dialog: keys go to the window's shortcuts
            self.statusBar().showMessage(str(exc), 15000)
            return False
        state = {"model": preset.model, "params": preset.params, "seed": preset.seed, "preset": preset}
        if self.current is None:
            self.switch_to(state)
            return True
        return self.switch(state, f"preset “{preset.title or Path(path).stem}”")

    def current_preset(self) -> Preset:
        """The preset of what is on screen: pending structural values (⟳) included, since
        they are what the user chose; the loaded preset's title and description kept."""
        same = self.preset is not None and self.current is not None and self.preset.model == self.current["name"]
        params = {**self.params, **self._shown, **self._dirty, **self.pending}
        return Preset(model=self.current["name"], params=params, seed=self.seed,
                      title=self.preset.title if same else "", description=self.preset.description if same else "",
                      run={"fps": self.fps, "steps_per_frame": self.speed_box.value()},
                      view=dict(self.preset.view) if same else {},
                      analysis=self.preset.analysis if same else None)  # the [analysis] table kept

    def save_preset_dialog(self):
        """Ask for a title and a description (the loaded preset's, else the model's, prefilled),
        then where: the user presets folder (the browser lists it), named after the title."""
        if self.current is None:
            return
        preset = self.current_preset()
        info = self.ask_preset_info(preset.title or self.current.get("title", ""),
                                    preset.description or "")
        if info is None:
            return
        preset.title, preset.description = info
        folder = user_presets_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = self.ask_save_path("presets", "Save preset", str(folder / f"{_slug(preset.title) or self.current['name']}.toml"),
                                  "Presets (*.toml)", remember=False)
        if path:
            try:
                save_preset(preset, path)
                self.statusBar().showMessage(f"saved preset {path}", 10000)
                self.memory.add_recent("presets", path)
                self.preset_browser.refresh_if_shown()
                if self.preset is not None and self.preset.model == preset.model:
                    self.preset.title, self.preset.description = preset.title, preset.description
                self.undo_stack.setClean()  # what is on screen is kept now
            except (PresetError, OSError) as exc:
                QtWidgets.QMessageBox.warning(self, "Cannot save preset", str(exc))
                self._refocus()  # after the dialog: keys go to the window's shortcuts

    def ask_preset_info(self, title: str, description: str) -> tuple[str, str] | None:
        """(title, description) from a small dialog, or None when cancelled."""
        dialog = QtWidgets.QDialog(self)
        dialog.setWindowTitle("Save preset")
        form = QtWidgets.QFormLayout(dialog)
        title_edit = QtWidgets.QLineEdit(title)
        title_edit.setMinimumWidth(420)
        text_edit = QtWidgets.QPlainTextEdit(description)
        text_edit.setPlaceholderText("What this preset shows, and what to try")
        text_edit.setMinimumHeight(110)
        form.addRow("Title:", title_edit)
        form.addRow("Description:", text_edit)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Save | QtWidgets.QDialogButtonBox.Cancel)
        buttons.accepted.connect(dialog.accept)
        buttons.rejected.connect(dialog.reject)
        form.addRow(buttons)
        title_edit.selectAll()
        ok = dialog.exec() == QtWidgets.QDialog.Accepted
        self._refocus()
        return (title_edit.text().strip(), text_edit.toPlainText().strip()) if ok else None

    def default_path(self, kind: str, suffix: str, what: str = "") -> str:
        """Where a new file of ``kind`` (figures, trajectories, movies) goes by default: the
        folder last used for that kind, else the platform's pictures, documents or videos
        folder; named after the preset (or model), ``what`` it shows and the time."""
        folder = self.memory.settings.value(f"folders/{kind}", "", type=str)
        if not folder or not Path(folder).is_dir():
            import platformdirs

            folder = {"figures": platformdirs.user_pictures_dir, "movies": platformdirs.user_videos_dir}.get(
                kind, platformdirs.user_documents_dir)()
            if not Path(folder).is_dir():
                folder = str(Path.home())
        stem = self.preset.path.stem if self.preset is not None and self.preset.path is not None else \
            (self.current or {}).get("name", "attractor-lab")
        parts = [_slug(stem), _slug(what), time.strftime("%Y%m%d-%H%M%S")]
        return str(Path(folder) / ("-".join(p for p in parts if p) + suffix))

    def ask_save_path(self, kind: str, caption: str, default: str, filters: str, remember: bool = True) -> str:
        """A file dialog for saving (starting at ``default``); the folder chosen is remembered
        for ``kind``; '' when cancelled. The keyboard focus comes back to the window."""
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, caption, default, filters)
        self._refocus()
        if path and remember:
            self.memory.settings.setValue(f"folders/{kind}", str(Path(path).parent))
        return path

    # ---- export --------------------------------------------------------------------
    def _choose_view(self, title: str, label: str, views: list):
        """Ask which of ``views`` (by title); None when there is none or the user cancels."""
        if not views:
            return None
        names = [v.title for v in views]
        name, ok = QtWidgets.QInputDialog.getItem(self, title, label, names, 0, False)
        self._refocus()  # after the dialog: keys go to the window's shortcuts
        return views[names.index(name)] if ok else None

    def export_view_dialog(self):
        view = self._choose_view("Export view", "View:", [
            v for v in self.grid.views if v.export_item() is not None or getattr(v, "gl_view", None) is not None])
        if view is None:
            return
        path = self.ask_save_path("figures", "Export view", self.default_path("figures", ".png", _view_name(view)),
                                  "PNG (*.png);;SVG (*.svg)")
        if path:
            try:
                export_view(view, path)
                self.statusBar().showMessage(f"exported {path}", 10000)
                self.memory.add_recent_file(path)
            except (OSError, ValueError) as exc:
                QtWidgets.QMessageBox.warning(self, "Export failed", str(exc))
                self._refocus()  # after the dialog: keys go to the window's shortcuts

    def closeEvent(self, event):  # noqa: N802 (Qt API)
        for v in self.grid.views:
            if hasattr(v, "close_canvas"):
                v.close_canvas()
        self.sweep_dock.shutdown()
        self.preset_browser.shutdown()
        self.engine.shutdown()
        super().closeEvent(event)


class SaveProgress(QtCore.QObject):
    """A progress bar for a trajectory save that takes more than a second: the engine writes
    in a thread and says how far it is (``record`` ``status``: ``saving``); Cancel stops it
    and no file is left (docs/protocol.md, "Saving a recording")."""

    SHOW_AFTER_S = 1.0
    POLL_MS = 250

    def __init__(self, window: MainWindow, path: str):
        super().__init__(window)
        self.window, self.path = window, path
        self.dialog: QtWidgets.QProgressDialog | None = None
        self.timer = QtCore.QTimer(self, interval=self.POLL_MS)
        self.timer.timeout.connect(self._poll)
        self.t0 = 0.0
        self.done = False

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.timer.start()

    def _poll(self) -> None:
        if self.done:
            return
        if self.dialog is None and time.monotonic() - self.t0 >= self.SHOW_AFTER_S:
            self.dialog = QtWidgets.QProgressDialog(f"Saving {Path(self.path).name}…", "Cancel", 0, 100, self.window)
            self.dialog.setWindowTitle("Save trajectory")
            self.dialog.setWindowModality(QtCore.Qt.WindowModal)
            self.dialog.canceled.connect(self.cancel)
            self.dialog.show()
        if self.dialog is not None:
            self.window.engine.request("record", {"action": "status"}, self._on_status, lambda _m: None)

    def _on_status(self, c: dict) -> None:
        if self.dialog is None or self.done:
            return
        for job in c.get("saving", []):
            if job.get("path") == self.path and job.get("total"):
                self.dialog.setValue(int(100 * job["done"] / job["total"]))
                self.dialog.setLabelText(f"Saving {Path(self.path).name}: {job.get('stage', '')}")

    def cancel(self) -> None:
        if not self.done:
            self.window.engine.request("record", {"action": "cancel"}, None, lambda _m: None)

    def finish(self) -> None:
        self.done = True
        self.timer.stop()
        if self.dialog is not None:
            self.dialog.canceled.disconnect(self.cancel)
            self.dialog.close()
            self.dialog.deleteLater()
            self.window._refocus()
        self.deleteLater()


class ModelBox(QtWidgets.QComboBox):
    """The model chooser: a click opens it; typed letters and the mouse wheel never change the
    model (after a dialog, a file name typed into a box that had the focus switched the model
    and lost the run)."""

    def keyPressEvent(self, event):  # noqa: N802 (Qt API)
        if event.text() and event.text().isprintable() and not event.modifiers() & ~QtCore.Qt.ShiftModifier:
            event.ignore()
            return
        super().keyPressEvent(event)

    def wheelEvent(self, event):  # noqa: N802 (Qt API)
        event.ignore()


class _NarrowScroll(QtWidgets.QScrollArea):
    """A scroll area that asks for no more width than the parameters dock has (a tabbed dock's
    size hint widens the whole dock area when its tab comes to the front)."""

    WIDTH = 330

    def sizeHint(self):  # noqa: N802 (Qt API)
        hint = super().sizeHint()
        return QtCore.QSize(min(hint.width(), self.WIDTH), hint.height())


class _RaiseOnShow(QtCore.QObject):
    """A tabbed dock that is shown comes to the front of its tab group."""

    def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
        if event.type() == QtCore.QEvent.Show and not obj.isFloating():
            QtCore.QTimer.singleShot(0, obj.raise_)
        return False


def _slug(text: str, n: int = 60) -> str:
    """``text`` as a file-name part: letters, digits, '-' and '_' only (a view's title with
    spaces and colons made "Rates tanh(x): 128 units × time (newest right).png")."""
    import re
    import unicodedata

    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()[:n]


def _view_name(view) -> str:
    """A short name for a view's files: its array, else its first observable, else its kind."""
    spec = view.spec
    return spec.get("array") or (spec.get("observables") or [None])[0] or spec.get("kind", "view")


def _scrolling(widget, narrow: bool = False) -> QtWidgets.QScrollArea:
    """``widget`` in a frameless scroll area that resizes it to its width; ``narrow``: one that
    asks for no more than the parameters' width and scrolls sideways when it must."""
    area = _NarrowScroll() if narrow else QtWidgets.QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QtWidgets.QFrame.NoFrame)
    if not narrow:
        area.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
    if widget is not None:
        area.setWidget(widget)
    return area


def preset_titles(paths) -> list[tuple[Path, str, str, bool]]:
    """(path, model, title, the user's own?) of preset files (TOML or .ode), read without
    validation (the menu shows them; loading one checks it). Unreadable files are left out."""
    from attractor_lab.engine.presets import preset_header, user_presets_dir

    mine = user_presets_dir()
    out = []
    for path in paths:
        header = preset_header(path)
        if header is not None:
            out.append((path, header[0], header[1], path.parent == mine))
    return out


def movie_views(views, record_fields) -> list:
    """The image views a movie can be made of: those whose array a recording keeps
    (``record_fields`` of the model's declaration; None keeps every array)."""
    return [v for v in views if v.spec["kind"] == "image"
            and (record_fields is None or v.spec["array"] in record_fields)]


def export_view(view, path: str | Path) -> Path:
    """Write a view as PNG or SVG (pyqtgraph's exporters; 3D views as PNG)."""
    import pyqtgraph.exporters as pgx

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(f"cannot export {path.name!r}: use .png or .svg")
    render = getattr(view, "render_image", None)  # 3D (OpenGL) frames
    if render is not None:
        if suffix != ".png":
            raise ValueError("3D views export as PNG only")
        import imageio.v3 as iio

        image = render()  # a hidden 3D view says so (ValueError)
        return _replace_with(path, lambda tmp: iio.imwrite(tmp, image, extension=".png"))
    item = view.export_item()
    if item is None:
        raise ValueError(f"the view {view.title!r} has nothing to export")

    def write(tmp: Path) -> None:
        with _label_margins(item):
            if suffix == ".svg":
                _export_svg(item, tmp)
            else:
                exporter = pgx.ImageExporter(item)
                exporter.parameters()["width"] = max(int(item.boundingRect().width()) * 2, 400)
                exporter.export(str(tmp))

    return _replace_with(path, write)


#: margin round a plot while it is exported, in px
EXPORT_MARGIN = 12


@contextlib.contextmanager
def _label_margins(item):
    """While a plot is exported: margins round its layout, so the end labels of its axes and
    colour bar ("0.5" at the top, "0" at the bottom) lie inside the exported picture, not cut."""
    layout = getattr(item, "layout", None)
    if not isinstance(layout, QtWidgets.QGraphicsLayout):
        yield
        return
    saved = layout.getContentsMargins()
    m = EXPORT_MARGIN
    left, top, right, bottom = saved
    layout.setContentsMargins(max(left, m), max(top, m), max(right, 2 * m), max(bottom, m))
    layout.activate()
    try:
        yield
    finally:
        layout.setContentsMargins(*saved)
        layout.activate()


def _replace_with(path: Path, write) -> Path:
    """``write(tmp)`` to an exclusive temporary file beside ``path`` (O_EXCL, an
    unpredictable name), then rename it into place; nothing is left on failure."""
    import os

    from attractor_lab.engine.files import exclusive_temp

    fd, tmp = exclusive_temp(path)
    os.close(fd)
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _export_svg(item, path: Path) -> None:
    """Vector SVG through Qt's QSvgGenerator (pyqtgraph 0.14's SVGExporter cannot
    parse the path data Qt 6.11 writes)."""
    from PySide6 import QtSvg

    rect = item.sceneBoundingRect()
    gen = QtSvg.QSvgGenerator()
    gen.setFileName(str(path))
    gen.setSize(rect.size().toSize())
    gen.setViewBox(QtCore.QRectF(0, 0, rect.width(), rect.height()))
    gen.setTitle("Attractor Lab view")
    painter = QtGui.QPainter(gen)
    try:
        item.scene().render(painter, QtCore.QRectF(0, 0, rect.width(), rect.height()), rect)
    finally:
        painter.end()
