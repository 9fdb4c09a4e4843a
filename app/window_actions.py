"""The window's menus, toolbar and actions (keyboard shortcuts included).

A mixin of :class:`~app.main_window.MainWindow` (app/main_window.py wires it).
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from attractor_lab.app.about import _show
from attractor_lab.app.connect_dialog import ConnectDialog
from attractor_lab.engine.storage.presets import MAX_SEED


class ActionsMixin:
    """Menus, toolbar and actions: a mixin of :class:`~app.main_window.MainWindow`."""

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

    def _install_connect_entry(self, help_menu: QtWidgets.QMenu) -> None:
        """Help → Connect from Python…, above About."""
        self.act_connect = QtGui.QAction("Connect from Python…", self)
        self.act_connect.setToolTip("The two lines that attach Python or a Jupyter notebook to this run")
        self.act_connect.triggered.connect(lambda: _show(self, "connect_dialog", ConnectDialog(self, self.engine)))
        actions = help_menu.actions()
        help_menu.insertAction(actions[-1] if actions else None, self.act_connect)


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
