"""Undo and redo for the live run (Qt's QUndoStack): parameter changes (a slider drag is
one step), painting strokes, seeds, model or preset switches, and new equations.

Each command acts through the window's small interface (``apply_params``,
``restore_fields``, ``switch_to``, ``set_seed``), so the commands hold values, not
widgets. A command's first ``redo`` is the change the user already made: it does
nothing; later ones re-apply it.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6 import QtGui

#: changes of one parameter closer than this (s) are one step: a slider drag, a spin-box hold
MERGE_SECONDS = 0.8
#: a paint event later than this (s) after the last one starts a new stroke
STROKE_GAP = 0.5

_PARAM_ID = 1


def _short(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class _Applied(QtGui.QUndoCommand):
    """A command whose first redo is the change the user has just made."""

    def __init__(self, text: str):
        super().__init__(text)
        self._applied = True

    def redo(self):
        if self._applied:
            self._applied = False
            return
        self.apply_new()

    def apply_new(self):
        raise NotImplementedError


class ParamChange(_Applied):
    """One parameter from ``old`` to ``new``; changes of the same parameter within
    :data:`MERGE_SECONDS` of each other merge (a slider drag is one undo step)."""

    def __init__(self, window, name: str, old, new):
        super().__init__(f"{name} = {_short(new)}")
        self.window, self.name, self.old, self.new = window, name, old, new
        self.last = time.monotonic()

    def id(self):
        return _PARAM_ID

    def mergeWith(self, other) -> bool:  # noqa: N802 (Qt API)
        if not isinstance(other, ParamChange) or other.name != self.name or other.last - self.last > MERGE_SECONDS:
            return False
        self.new, self.last = other.new, other.last
        self.setText(f"{self.name} = {_short(self.new)}")
        return True

    def apply_new(self):
        self.window.apply_params({self.name: self.new})

    def undo(self):
        self.window.apply_params({self.name: self.old})


class PaintStroke(_Applied):
    """A painting stroke on one field: undo puts back the field as it was before the stroke
    (the last frame received then), redo the field as it was when undone. The window keeps
    one command for the paint events of a stroke (``last``: the latest event's time, against
    :data:`STROKE_GAP`), so the field is copied once a stroke, not once an event."""

    def __init__(self, window, field: str, before: np.ndarray):
        super().__init__(f"paint {field}")
        self.window, self.field = window, field
        self.before = np.array(before, copy=True)
        self.after: np.ndarray | None = None
        self.last = time.monotonic()

    def apply_new(self):
        if self.after is not None:
            self.window.restore_fields({self.field: self.after})

    def undo(self):
        now = self.window.current_field(self.field)
        if now is not None:
            self.after = np.array(now, copy=True)
        self.window.restore_fields({self.field: self.before})


class SeedChange(_Applied):
    def __init__(self, window, old: int, new: int):
        super().__init__(f"seed {new}")
        self.window, self.old, self.new = window, old, new

    def apply_new(self):
        self.window.set_seed(self.new)

    def undo(self):
        self.window.set_seed(self.old)


class Switch(_Applied):
    """A model or preset switch: undo loads the previous run's model, parameters, seed and
    preset again; redo the new one's."""

    def __init__(self, window, old: dict, new: dict, text: str):
        super().__init__(text)
        self.window, self.old, self.new = window, old, new

    def apply_new(self):
        self.window.switch_to(self.new)

    def undo(self):
        self.window.switch_to(self.old)


class EquationChange(_Applied):
    """New equations of a custom model (the equation dock's Apply): undo runs the previous
    text again with the slider values it had; redo the new text with the values it had."""

    def __init__(self, window, old_text: str, new_text: str, old_values: dict, new_values: dict):
        super().__init__("equations")
        self.window = window
        self.old, self.new = (old_text, dict(old_values)), (new_text, dict(new_values))

    def apply_new(self):
        self.window.set_equations(*self.new)

    def undo(self):
        self.window.set_equations(*self.old)
