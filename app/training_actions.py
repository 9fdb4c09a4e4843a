"""The window's part of training a neural operator (the ``operator_training`` model).

A toolbar shown only while that model runs: a name for the checkpoint (empty:
``<system>_<date>-<time>``), **Save checkpoint** (into the user's library on the
engine's machine, through the engine's ``weights`` request) and **Save and race**
(then switch to ``neural_operator`` racing that checkpoint against the solver,
as one undo step). Both are also in the Simulation menu. Nothing here opens a
dialog: the result and any refusal go to the status bar.

The checkpoint list of ``neural_operator`` is the engine's: each load declares
the checkpoints of the library as they are then, so a saved one is listed at once.
"""

from __future__ import annotations

import time

from PySide6 import QtGui, QtWidgets

MODEL = "operator_training"
RACE = "neural_operator"


class TrainingActions:
    """The toolbar and menu entries; ``window`` is the main window."""

    def __init__(self, window):
        self.window = window
        self.toolbar = window.addToolBar("Training")
        self.toolbar.setObjectName("training_toolbar")
        self.toolbar.addWidget(QtWidgets.QLabel(" Checkpoint: "))
        self.name_edit = QtWidgets.QLineEdit()
        self.name_edit.setPlaceholderText("name (empty: system_date-time)")
        self.name_edit.setToolTip("The checkpoint's name in your library: letters, digits, _ . -")
        self.name_edit.setMaximumWidth(220)
        self.toolbar.addWidget(self.name_edit)
        self.act_save = QtGui.QAction("Save checkpoint", window)
        self.act_save.setToolTip("Save the operator being trained (weights + card) into your library")
        self.act_save.triggered.connect(lambda: self.save(race=False))
        self.act_race = QtGui.QAction("Save and race", window)
        self.act_race.setToolTip("Save the checkpoint, then race it against the solver (neural_operator)")
        self.act_race.triggered.connect(lambda: self.save(race=True))
        for a in (self.act_save, self.act_race):
            self.toolbar.addAction(a)
        menu = next((a.menu() for a in window.menuBar().actions() if a.text() == "&Simulation"), None)
        if menu is not None:
            menu.addSeparator()
            menu.addAction(self.act_save)
            menu.addAction(self.act_race)
        #: the folder of the last checkpoint saved (the engine's reply), for tests and the status bar
        self.last_saved: str | None = None
        window.model_loaded.connect(self._on_model_loaded)
        self._on_model_loaded("")

    def _on_model_loaded(self, name: str) -> None:
        shown = name == MODEL
        self.toolbar.setVisible(shown)
        self.act_save.setEnabled(shown)
        self.act_race.setEnabled(shown)

    def checkpoint_name(self) -> str:
        text = self.name_edit.text().strip()
        if text:
            return text
        system = self.window.params.get("system", "operator")
        return f"{system}_{time.strftime('%Y%m%d-%H%M%S')}"

    def save(self, race: bool = False) -> None:
        w = self.window
        if w.current is None or w.current["name"] != MODEL:
            w.statusBar().showMessage("Save checkpoint: only while an operator is being trained "
                                      "(model operator_training)", 8000)
            return
        name, system = self.checkpoint_name(), w.params.get("system")
        w.statusBar().showMessage(f"saving checkpoint {name}…")
        w.engine.request("weights", {"action": "save", "path": name},
                         lambda c: self._saved(c, name, system, race),
                         lambda text: w.statusBar().showMessage(f"checkpoint not saved: {text}", 15000))

    def _saved(self, content: dict, name: str, system: str, race: bool) -> None:
        w = self.window
        self.last_saved = content.get("path")
        w.statusBar().showMessage(f"saved checkpoint {name} into {self.last_saved}", 15000)
        if race:
            w.switch({"model": RACE, "params": {"system": system, "checkpoint": name},
                      "seed": w.seed_box.value(), "preset": None}, f"race of checkpoint {name}")


def install_training_actions(window) -> TrainingActions:
    window.training_actions = TrainingActions(window)
    return window.training_actions
