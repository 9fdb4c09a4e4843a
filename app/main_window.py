"""The main window: model chooser, parameter panel, views, transport controls, status bar.

This module wires the window: it owns the run (load, frames, parameters, undo, your own
equations) and mixes in one module per concern:

* ``window_actions``: menus, toolbar and actions (``ActionsMixin``);
* ``window_docks``: the docks (parameters, info, sweeps, presets, equations) (``DocksMixin``);
* ``window_status``: the status bar and the engine's reports and errors (``StatusMixin``);
* ``window_recording``: recording, movies, exported pictures, file names (``RecordingMixin``);
* ``window_presets``: the Presets menu, open and save (``PresetsMixin``).

A new dock or panel lives in a module of its own with an ``install_…(window)`` function,
called with one line in ``MainWindow.__init__`` where it says so.
"""

from __future__ import annotations

import contextlib
import html
import time

import numpy as np

from PySide6 import QtCore, QtWidgets

from attractor_lab.app.about import install_help_menu
from attractor_lab.app.analysis_dock import install_analysis_dock
from attractor_lab.app.engine_client import QtEngine
from attractor_lab.app.equation_dock import KINDS
from attractor_lab.app.settings import WindowMemory
from attractor_lab.app.training_actions import install_training_actions
from attractor_lab.app.undo import STROKE_GAP, EquationChange, PaintStroke, ParamChange, SeedChange, Switch
from attractor_lab.app.window_actions import ActionsMixin, ModelBox  # noqa: F401 (ModelBox: its old place)
from attractor_lab.app.window_docks import DocksMixin
from attractor_lab.app.window_presets import FAMILY_TITLES, PresetsMixin, preset_titles  # noqa: F401 (old place)
from attractor_lab.app.window_recording import (  # noqa: F401 (export_view, movie_views, SaveProgress: old place)
    EXPORT_MARGIN,
    RecordingMixin,
    SaveProgress,
    export_view,
    movie_views,
)
from attractor_lab.app.window_status import StatusMixin
from attractor_lab.engine.equations import EQUATION_MODELS
from attractor_lab.engine.storage.presets import Preset
from attractor_lab.widgets.views import ViewGrid

DEFAULT_MODEL = "gray_scott"
PARAM_FLUSH_MS = 30  # slider storms are merged into one set_params per ~frame
#: after the window's own parameter change (or a load, a reset), frames and statuses this
#: recent may predate it: they do not move the panel (see _follow_engine_params)
FOLLOW_QUIET_S = 1.0


class MainWindow(ActionsMixin, DocksMixin, StatusMixin, RecordingMixin, PresetsMixin, QtWidgets.QMainWindow):
    """Attractor Lab's window. It talks to the engine only through :class:`QtEngine`."""

    model_loaded = QtCore.Signal(str)
    frame_drawn = QtCore.Signal(int)
    #: after an engine restart: the step, time and arrays the run continued from
    state_restored = QtCore.Signal(int, float, list)

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
        # docks and panels of their own modules: one install_…(self) line each, here
        install_training_actions(self)  # app/training_actions.py: save a trained operator, race it
        install_analysis_dock(self)  # app/analysis_dock.py: bifurcation, orbit diagram, basins (Ctrl+Shift+A)
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


    def closeEvent(self, event):  # noqa: N802 (Qt API)
        for v in self.grid.views:
            if hasattr(v, "close_canvas"):
                v.close_canvas()
        self.sweep_dock.shutdown()
        self.preset_browser.shutdown()
        self.engine.shutdown()
        super().closeEvent(event)


