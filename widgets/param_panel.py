"""Parameter panel built from declared parameters (JSON dicts from the engine).

Each numeric parameter gets a slider and a spin box kept in step; choices get a
combo box and booleans a check box. A text parameter (a custom model's equations) is
edited elsewhere (the window's Equations dock): its row is a button that asks for it
(``text_requested``). Tooltips come from the declared help text; structural
parameters (applied on reset) are marked with ⟳.

Sliders of parameters that span decades move logarithmically: those declared
``log``, and floats whose range reaches 1000 times their default (a diffusion
coefficient in [0, 1000] with default 0.16). A range that starts at 0 keeps 0 at
the slider's left end and spreads the decades from a floor three decades
below the default over the rest. A value 0 that the help text gives a meaning
("0 means …", "0 = automatic", "(0: none)") is shown as that word.
"""

from __future__ import annotations

import math
import re

from PySide6 import QtCore, QtGui, QtWidgets

SLIDER_STEPS = 1000
#: a float whose range spans this many times its default gets a logarithmic slider
LOG_SPAN = 1e3
_ZERO_WORDS = (
    (re.compile(r"\b0 means\b|\b0 = automatic\b|\b0: auto"), "auto"),
    (re.compile(r"\(0: none\)|\b0 = none\b"), "none"),
    (re.compile(r"\b0 = never\b|\(0: never\)"), "never"),
    (re.compile(r"\b0: off\b|\(0 = off\)"), "off"),
)


def zero_text(spec: dict) -> str:
    """The word shown for 0 when the help text gives 0 a meaning ('' otherwise)."""
    if spec.get("min") != 0:
        return ""
    help_text = spec.get("help") or ""
    return next((word for pattern, word in _ZERO_WORDS if pattern.search(help_text)), "")


def log_floor(spec: dict) -> float | None:
    """Where a logarithmic slider starts, or None for a linear one."""
    if spec["kind"] not in ("float", "int"):
        return None
    lo, hi = spec.get("min"), spec.get("max")
    if lo is None or hi is None or lo < 0 or hi <= 0:
        return None
    if spec.get("log") and lo > 0:
        return float(lo)
    if spec["kind"] != "float":
        return None
    default = spec.get("default") or 0.0
    ref = default if default > 0 else (spec.get("step") or 0.0)
    if ref <= 0 or hi / ref < LOG_SPAN:
        return None
    if lo > 0:
        return float(lo)
    return min(10.0 ** (math.floor(math.log10(ref)) - 3), hi / 1e6)


class _FloatBox(QtWidgets.QDoubleSpinBox):
    """A spin box that shows any magnitude (2e-05 as well as 1500) with six
    significant digits, and whose arrows step by a tenth of the value's decade."""

    def __init__(self, fallback_step: float, parent=None):
        super().__init__(parent)
        self.setDecimals(12)  # stored precision; the text shows significant digits
        self.fallback_step = fallback_step

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt API)
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 (Qt API)
        body = text.replace(self.suffix(), "").strip()
        if self.specialValueText() and body == self.specialValueText():
            return self.minimum()
        try:
            return float(body)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        body = text.replace(self.suffix(), "").strip()
        special = self.specialValueText()
        if special and special.startswith(body):
            return (QtGui.QValidator.Acceptable if body == special else QtGui.QValidator.Intermediate), text, pos
        try:
            float(body)
            return QtGui.QValidator.Acceptable, text, pos
        except ValueError:
            ok = all(c in "0123456789.eE+-" for c in body)
            return (QtGui.QValidator.Intermediate if ok else QtGui.QValidator.Invalid), text, pos

    def minimumSizeHint(self):  # noqa: N802 (Qt API)
        """Wide enough for any value it shows (six significant digits, a sign and an exponent)
        and its unit: Qt sizes a spin box from its range's ends, and '6.28319 length' was cut."""
        hint = super().minimumSizeHint()
        text = "-8.88888e-08" + self.suffix()
        width = self.fontMetrics().horizontalAdvance(text) + 40  # frame and arrows
        return QtCore.QSize(max(hint.width(), width), hint.height())

    def sizeHint(self):  # noqa: N802 (Qt API)
        hint = super().sizeHint()
        return QtCore.QSize(max(hint.width(), self.minimumSizeHint().width()), hint.height())

    def stepBy(self, steps: int) -> None:  # noqa: N802 (Qt API)
        v = self.value()
        step = 10 ** (math.floor(math.log10(abs(v))) - 1) if v != 0 else self.fallback_step
        self.setValue(v + steps * step)


class _NumberRow(QtWidgets.QWidget):
    changed = QtCore.Signal(object)

    def __init__(self, spec: dict, parent=None):
        super().__init__(parent)
        self.spec = spec
        self.is_int = spec["kind"] == "int"
        lo = spec.get("min")
        hi = spec.get("max")
        self.lo = float(lo if lo is not None else -1e9)
        self.hi = float(hi if hi is not None else 1e9)
        floor = log_floor(spec)
        self.log = floor is not None
        self.floor = floor if floor is not None else self.lo
        self.zero_slot = self.log and self.lo == 0  # the slider's left end is 0, the decades follow
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        if self.is_int:
            self.box = QtWidgets.QSpinBox()
            self.box.setRange(int(max(self.lo, -2**31 + 1)), int(min(self.hi, 2**31 - 1)))
        else:
            span = self.hi - self.lo
            step = spec.get("step") or (span / 100 if math.isfinite(span) and span < 1e8 else 0.1)
            self.box = _FloatBox(step)
            self.box.setRange(self.lo, self.hi)
        self.box.setKeyboardTracking(False)
        if zero_text(spec):
            self.box.setSpecialValueText(zero_text(spec))
        if spec.get("unit"):
            self.box.setSuffix(f" {spec['unit']}")
        self.box.setMinimumWidth(110)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.box)
        self.slider.valueChanged.connect(self._on_slider)
        self.box.valueChanged.connect(self._on_box)
        self._quiet = False
        self.set_value(spec["default"])

    def _to_slider(self, v: float) -> int:
        if self.hi <= self.lo:
            return 0
        if self.log:
            if self.zero_slot and v < self.floor:
                return 0 if v <= 0 else 1
            first = 1 if self.zero_slot else 0
            f = (math.log(max(v, self.floor)) - math.log(self.floor)) / (math.log(self.hi) - math.log(self.floor))
            return first + int(round(min(max(f, 0.0), 1.0) * (SLIDER_STEPS - first)))
        f = (v - self.lo) / (self.hi - self.lo)
        return int(round(min(max(f, 0.0), 1.0) * SLIDER_STEPS))

    def _from_slider(self, s: int) -> float:
        if self.log:
            if self.zero_slot and s == 0:
                return 0 if self.is_int else 0.0
            first = 1 if self.zero_slot else 0
            f = (s - first) / (SLIDER_STEPS - first)
            v = math.exp(math.log(self.floor) + f * (math.log(self.hi) - math.log(self.floor)))
        else:
            v = self.lo + s / SLIDER_STEPS * (self.hi - self.lo)
        return int(round(v)) if self.is_int else v

    def set_value(self, v) -> None:
        self._quiet = True
        try:
            self.box.setValue(v)
            self.slider.setValue(self._to_slider(float(v)))
        finally:
            self._quiet = False

    def value(self):
        return self.box.value()

    def _on_slider(self, s: int) -> None:
        if self._quiet:
            return
        v = self._from_slider(s)
        self._quiet = True
        self.box.setValue(v)
        self._quiet = False
        self.changed.emit(self.box.value())

    def _on_box(self, v) -> None:
        if self._quiet:
            return
        self._quiet = True
        self.slider.setValue(self._to_slider(float(v)))
        self._quiet = False
        self.changed.emit(v)


class ParamPanel(QtWidgets.QWidget):
    """Editable parameters of one model.

    Signals
    -------
    value_changed(name, value)
        The user changed a parameter (not emitted by :meth:`set_values`).
    text_requested(name)
        The user asked to edit a text parameter (its row's button).
    """

    value_changed = QtCore.Signal(str, object)
    text_requested = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.form = QtWidgets.QFormLayout(self)
        self.form.setFieldGrowthPolicy(QtWidgets.QFormLayout.AllNonFixedFieldsGrow)
        self.editors: dict[str, QtWidgets.QWidget] = {}
        self.labels: dict[str, QtWidgets.QLabel] = {}
        self.specs: dict[str, dict] = {}
        self.value_changed.connect(lambda name, value: self._show_rows())

    def set_schema(self, params: list[dict]) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        self.labels.clear()
        self.specs = {p["name"]: p for p in params}
        for spec in params:
            name = spec["name"]
            editor = self._make_editor(spec)
            tip = spec.get("help", "")
            if spec.get("unit"):
                tip += f" [{spec['unit']}]"
            if not spec.get("live", True):
                tip += "\nStructural: applies on reset (R)."
            allowed = _allowed(spec)
            if allowed:
                tip += f"\nAllowed: {allowed}"
            label = QtWidgets.QLabel(name + ("" if spec.get("live", True) else " ⟳"))
            label.setToolTip(tip)
            editor.setToolTip(tip)
            self.form.addRow(label, editor)
            self.editors[name] = editor
            self.labels[name] = label
        self._show_rows()

    def shown(self, name: str, values: dict | None = None) -> bool:
        """Whether the row of ``name`` applies to ``values`` (default: the panel's; its ``shown_when``)."""
        values = self.values() if values is None else values
        return all(values.get(control) in allowed for control, allowed in self.specs[name].get("shown_when") or ())

    def _show_rows(self) -> None:
        """Show only the rows that apply (e.g. the chosen system's parameters)."""
        values = self.values()
        for name, editor in self.editors.items():
            self.form.setRowVisible(editor, self.shown(name, values))

    def _make_editor(self, spec: dict) -> QtWidgets.QWidget:
        name = spec["name"]
        kind = spec["kind"]
        if kind in ("float", "int"):
            row = _NumberRow(spec)
            row.changed.connect(lambda v, n=name: self.value_changed.emit(n, v))
            return row
        if kind == "choice":
            combo = QtWidgets.QComboBox()
            combo.addItems(spec["choices"])
            combo.setCurrentText(spec["default"])
            combo.currentTextChanged.connect(lambda v, n=name: self.value_changed.emit(n, v))
            return combo
        if kind == "text":  # several lines of text: edited in a dock of their own, not in a row
            button = _TextButton(f"Edit the {name}…")
            button.clicked.connect(lambda _checked=False, n=name: self.text_requested.emit(n))
            return button
        check = QtWidgets.QCheckBox()
        check.setChecked(bool(spec["default"]))
        check.toggled.connect(lambda v, n=name: self.value_changed.emit(n, bool(v)))
        return check

    def set_values(self, values: dict) -> None:
        """Show ``values`` without emitting ``value_changed``."""
        for name, v in values.items():
            ed = self.editors.get(name)
            if ed is None or isinstance(ed, _TextButton):
                continue
            ed.blockSignals(True)
            try:
                if isinstance(ed, _NumberRow):
                    ed.set_value(v)
                elif isinstance(ed, QtWidgets.QComboBox):
                    ed.setCurrentText(str(v))
                else:
                    ed.setChecked(bool(v))
            finally:
                ed.blockSignals(False)
        self._show_rows()

    def values(self) -> dict:
        out = {}
        for name, ed in self.editors.items():
            if isinstance(ed, _TextButton):
                continue  # not held here
            if isinstance(ed, _NumberRow):
                out[name] = ed.value()
            elif isinstance(ed, QtWidgets.QComboBox):
                out[name] = ed.currentText()
            else:
                out[name] = ed.isChecked()
        return out

    def mark_pending(self, names) -> None:
        """Highlight structural parameters whose new value waits for a reset."""
        names = set(names)
        for name, label in self.labels.items():
            label.setStyleSheet("color: #d08000; font-weight: bold;" if name in names else "")


class _TextButton(QtWidgets.QPushButton):
    """The row of a text parameter: a button that asks for its editor."""


def _allowed(spec: dict) -> str:
    if spec["kind"] == "choice":
        return ", ".join(spec["choices"])
    if spec["kind"] in ("float", "int") and (spec.get("min") is not None or spec.get("max") is not None):
        return f"[{spec.get('min')}, {spec.get('max')}]"
    return ""
