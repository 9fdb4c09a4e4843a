"""The equation editor dock: your own ODE or reaction–diffusion system, typed in the window.

The text is checked as it is typed (200 ms after the last key) by the engine's whitelist
parser (:mod:`attractor_lab.engine.equations`, pure Python: no torch in this process); an
error shows under the editor with its line and column, the line is marked, and Apply waits
until the text is valid. No dialog ever opens. Apply (Ctrl+Return) asks the window to run
the text (:attr:`EquationDock.apply_requested`): the window rebuilds the model and its
sliders, as one undo step. Revert puts back the equations the run has.

For a built-in model the dock offers "Start from": a few classic systems typed out
(:data:`TEMPLATES`); applying one switches to ``custom_ode`` or ``custom_rd``.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from attractor_lab.engine.equations import EQUATION_MODELS, EquationError, spec_of

#: ms after the last key before the text is checked
CHECK_DELAY_MS = 200

#: the models the dock edits, as the kind box names them
KINDS = {"custom_ode": "ODE system", "custom_rd": "Reaction–diffusion (2 species)"}

#: "Start from" systems: title → (model, text, other parameters set with them on a switch)
TEMPLATES: dict[str, tuple[str, str, dict]] = {
    "Van der Pol oscillator": ("custom_ode", """# Van der Pol oscillator
dx/dt = y
dy/dt = mu*(1 - x^2)*y - x
par mu = 1.5 [0, 10]
init x = 2, y = 0
""", {}),
    "Lorenz system": ("custom_ode", """# Lorenz (1963): the butterfly
dx/dt = sigma*(y - x)
dy/dt = x*(rho - z) - y
dz/dt = x*y - beta*z
par sigma = 10 [0, 30], rho = 28 [0, 100], beta = 2.6667 [0, 10]
init x = 1, y = 1, z = 1
""", {}),
    "Lotka–Volterra predator–prey": ("custom_ode", """# Lotka–Volterra: prey x, predators y
dx/dt = a*x - b*x*y
dy/dt = d*x*y - c*y
par a = 1 [0, 3], b = 0.5 [0, 2], c = 1 [0, 3], d = 0.2 [0, 2]
init x = 4, y = 2
""", {}),
    "FitzHugh–Nagumo neuron": ("custom_ode", """# FitzHugh–Nagumo: the relaxation cycle of an excitable membrane
dv/dt = v - v^3/3 - w + I
dw/dt = eps*(v + a - b*w)
par I = 0.5 [0, 2], a = 0.7 [0, 2], b = 0.8 [0, 2], eps = 0.08 [0.001, 1]
init v = -1, w = 1
""", {}),
    "Gray–Scott spots": ("custom_rd", """# Gray–Scott (Pearson's scaling): substrate u, autocatalyst v
du/dt = Du*lap(u) - u*v^2 + F*(1 - u)
dv/dt = Dv*lap(v) + u*v^2 - (F + k)*v
par F = 0.03 [0, 0.1], k = 0.062 [0, 0.1]
par Du = 2e-5 [0, 1e-4], Dv = 1e-5 [0, 1e-4]
init u = 1, v = 0
seed u = 0.5, v = 0.25
""", {"seeding": "centre_square", "grid": 128, "length": 1.25, "dt": 1.0}),
    "Brusselator Turing spots": ("custom_rd", """# Brusselator (Prigogine & Lefever): Turing spots
du/dt = Du*lap(u) + a - (b + 1)*u + u^2*v
dv/dt = Dv*lap(v) + b*u - u^2*v
par a = 3 [0.01, 20], b = 9 [0, 100]
par Du = 1 [0, 100], Dv = 8 [0, 100]
""", {"dt": 0.005}),  # the reaction, not diffusion, limits euler's step here
}


def check_system(model: str, text: str, reserved=()) -> tuple[EquationError | None, str]:
    """(the first error of ``text`` as equations of ``model``, or None; a one-line summary of
    the system when it is valid). ``reserved``: the model's own parameter names, which a
    ``par`` may not take. The same rules as the engine's, so Apply is not refused later."""
    try:
        spec = spec_of(model, text)
    except EquationError as exc:
        return exc, ""
    for p in spec.params:
        if p.name in reserved:
            return EquationError(p.line, 1, f"parameter '{p.name}' clashes with the model's own parameter "
                                            f"'{p.name}'; choose another name"), ""
    if model == "custom_rd":
        names = spec.species
        what = f"species {', '.join(names)}"
    else:
        names = spec.variables
        if len(names) < 2:
            return EquationError(1, 1, "an ODE system needs at least two variables (a phase plane); "
                                       "add a second equation"), ""
        what = f"{len(names)} variables ({', '.join(names)})"
    pars = ", ".join(f"{p.name} [{p.lo:g}, {p.hi:g}]" for p in spec.params)
    return None, f"{what}; sliders: {pars}" if pars else f"{what}; no parameters"


class _Gutter(QtWidgets.QWidget):
    """The editor's line numbers (the error's line drawn in red)."""

    def __init__(self, editor: "EquationEditor"):
        super().__init__(editor)
        self.editor = editor

    def sizeHint(self):  # noqa: N802 (Qt API)
        return QtCore.QSize(self.editor.gutter_width(), 0)

    def paintEvent(self, event):  # noqa: N802 (Qt API)
        self.editor.paint_gutter(event)


class EquationEditor(QtWidgets.QPlainTextEdit):
    """A plain-text editor in a fixed-width font, with line numbers and the error's line marked;
    Ctrl+Return emits ``submitted`` (the editor's own key: it works whether or not the window
    is the active one, as a shortcut does not)."""

    submitted = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.FixedFont)
        self.setFont(font)
        # long lines wrap at spaces: the dock is as narrow as the parameters, and a line cut at its
        # edge hid the end of an equation (the gutter numbers lines, not rows)
        self.setLineWrapMode(QtWidgets.QPlainTextEdit.WidgetWidth)
        self.setTabChangesFocus(True)  # Tab leaves the editor (Apply, the views), as in a form
        self.error_line = 0  # 1-based; 0: none
        self.gutter = _Gutter(self)
        self.blockCountChanged.connect(lambda _n: self.setViewportMargins(self.gutter_width(), 0, 0, 0))
        self.updateRequest.connect(self._scroll_gutter)
        self.setViewportMargins(self.gutter_width(), 0, 0, 0)

    def keyPressEvent(self, event):  # noqa: N802 (Qt API)
        if event.key() in (QtCore.Qt.Key_Return, QtCore.Qt.Key_Enter) and event.modifiers() & QtCore.Qt.ControlModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)

    def gutter_width(self) -> int:
        digits = len(str(max(1, self.blockCount())))
        return 10 + self.fontMetrics().horizontalAdvance("9") * max(2, digits)

    def _scroll_gutter(self, rect, dy):
        if dy:
            self.gutter.scroll(0, dy)
        else:
            self.gutter.update(0, rect.y(), self.gutter.width(), rect.height())

    def resizeEvent(self, event):  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        r = self.contentsRect()
        self.gutter.setGeometry(QtCore.QRect(r.left(), r.top(), self.gutter_width(), r.height()))

    def paint_gutter(self, event) -> None:
        painter = QtGui.QPainter(self.gutter)
        pal = self.palette()
        painter.fillRect(event.rect(), pal.color(QtGui.QPalette.AlternateBase))
        block = self.firstVisibleBlock()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        height = self.fontMetrics().height()
        while block.isValid() and top <= event.rect().bottom():
            bottom = top + round(self.blockBoundingRect(block).height())
            if block.isVisible() and bottom >= event.rect().top():
                number = block.blockNumber() + 1
                bad = number == self.error_line
                painter.setPen(QtGui.QColor("#c0392b") if bad else pal.color(QtGui.QPalette.PlaceholderText))
                font = painter.font()
                font.setBold(bad)
                painter.setFont(font)
                painter.drawText(0, top, self.gutter.width() - 5, height, QtCore.Qt.AlignRight, str(number))
            block = block.next()
            top = bottom
        painter.end()

    def mark_error(self, error: EquationError | None) -> None:
        """Tint the error's line and underline from its column to the line's end (None: clear)."""
        self.error_line = error.line if error is not None else 0
        selections = []
        block = self.document().findBlockByNumber(self.error_line - 1) if error is not None else None
        if block is not None and block.isValid():
            line = QtWidgets.QTextEdit.ExtraSelection()
            line.format.setBackground(QtGui.QColor(255, 0, 0, 40))
            line.format.setProperty(QtGui.QTextFormat.FullWidthSelection, True)
            line.cursor = QtGui.QTextCursor(block)
            selections.append(line)
            at = QtWidgets.QTextEdit.ExtraSelection()
            at.format.setUnderlineStyle(QtGui.QTextCharFormat.WaveUnderline)
            at.format.setUnderlineColor(QtGui.QColor("#c0392b"))
            cursor = QtGui.QTextCursor(block)
            cursor.movePosition(QtGui.QTextCursor.Right, QtGui.QTextCursor.MoveAnchor,
                                min(max(error.col - 1, 0), max(block.length() - 1, 0)))
            cursor.movePosition(QtGui.QTextCursor.EndOfBlock, QtGui.QTextCursor.KeepAnchor)
            if not cursor.hasSelection():  # at the end of the line: mark its last character
                cursor.movePosition(QtGui.QTextCursor.Left, QtGui.QTextCursor.KeepAnchor)
            at.cursor = cursor
            selections.append(at)
        self.setExtraSelections(selections)
        self.gutter.update()


class EquationDock(QtWidgets.QDockWidget):
    """Type a system, see its errors as you type, Apply it to the run (see the module's docstring).

    Signals
    -------
    apply_requested(model, text, extra)
        Run ``text`` as ``model`` (custom_ode or custom_rd); ``extra``: other parameters a
        "Start from" system sets when it switches models (a seeding, a step).
    """

    apply_requested = QtCore.Signal(str, str, dict)

    def __init__(self, parent=None):
        super().__init__("Equations", parent)
        self.setObjectName("equations_dock")
        self.setFeatures(QtWidgets.QDockWidget.DockWidgetMovable | QtWidgets.QDockWidget.DockWidgetFloatable
                         | QtWidgets.QDockWidget.DockWidgetClosable)
        self.applied: str | None = None  # the text the run has (None: a built-in model runs)
        self.applied_model: str | None = None
        self.reserved: dict[str, set] = {}  # model → its own parameter names
        self.error: EquationError | None = None
        self._extra: dict = {}  # a "Start from" system's other parameters, until the text is edited
        self._loading = False

        box = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(box)
        lay.setContentsMargins(4, 4, 4, 4)
        top = QtWidgets.QHBoxLayout()
        self.kind_box = QtWidgets.QComboBox()
        for model, title in KINDS.items():
            self.kind_box.addItem(title, model)
        self.kind_box.setToolTip("What the text describes: an ODE system (custom_ode) or two species "
                                 "reacting and diffusing on a grid (custom_rd, with lap())")
        self.kind_box.currentIndexChanged.connect(lambda _i: self._schedule(0))
        top.addWidget(self.kind_box, 1)
        self.start_button = QtWidgets.QPushButton("Start from")
        self.start_button.setToolTip("Replace the text with a classic system typed out (Ctrl+Z in the editor "
                                     "brings your text back)")
        menu = QtWidgets.QMenu(self.start_button)
        for title in TEMPLATES:
            menu.addAction(title, lambda t=title: self.start_from(t))
        self.start_button.setMenu(menu)
        top.addWidget(self.start_button)
        lay.addLayout(top)
        self.mode_label = QtWidgets.QLabel()
        self.mode_label.setWordWrap(True)
        lay.addWidget(self.mode_label)
        self.editor = EquationEditor()
        self.editor.setPlaceholderText("dx/dt = y\ndy/dt = -x\npar k = 1 [0, 5]\ninit x = 1, y = 0")
        self.editor.setMinimumHeight(120)
        self.editor.textChanged.connect(self._on_text_changed)
        self.editor.submitted.connect(self.apply)
        lay.addWidget(self.editor, 1)
        self.error_label = QtWidgets.QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        lay.addWidget(self.error_label)
        buttons = QtWidgets.QHBoxLayout()
        self.revert_button = QtWidgets.QPushButton("Revert")
        self.revert_button.setToolTip("The equations the run has, again")
        self.revert_button.clicked.connect(self.revert)
        self.apply_button = QtWidgets.QPushButton("Apply")
        self.apply_button.setToolTip("Run these equations: the model is rebuilt, its parameters become "
                                     "sliders (Ctrl+Return; Ctrl+Z in the window undoes it)")
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(self.apply)
        buttons.addWidget(self.revert_button)
        buttons.addStretch(1)
        buttons.addWidget(self.apply_button)
        lay.addLayout(buttons)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QtGui.QShortcut(QtGui.QKeySequence(keys), box)
            shortcut.setContext(QtCore.Qt.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self.apply)
        self.setWidget(box)

        self._timer = QtCore.QTimer(self, singleShot=True, interval=CHECK_DELAY_MS)
        self._timer.timeout.connect(self.check_now)
        self.show_system(None, None)

    # ---- what the run has ------------------------------------------------------------
    def model(self) -> str:
        """The model the text is for (the kind box)."""
        return self.kind_box.currentData()

    def show_system(self, model: str | None, text: str | None) -> None:
        """The run now has ``text`` as ``model`` (None: a built-in model): the editor shows it
        when it is new (a load, an Apply, an undo; a reset of the same equations keeps what is
        being typed). A built-in model leaves the editor's text, to start a new system from."""
        new = (model, text) if model in EQUATION_MODELS else (None, None)
        changed = new != (self.applied_model, self.applied)
        self.applied_model, self.applied = new
        if self.applied is not None:
            if changed:
                self._set_kind(model)
                self._set_text(text)
            self.mode_label.setText("The equations of the run. Edit them, then Apply (Ctrl+Return).")
        else:
            self.mode_label.setText("A built-in model runs. Type a system (or Start from one), then Apply: "
                                    "it runs as your own model.")
            if not self.editor.toPlainText().strip():
                self.start_from("Van der Pol oscillator")
        self.check_now()

    def _set_kind(self, model: str) -> None:
        i = self.kind_box.findData(model)
        if i >= 0 and i != self.kind_box.currentIndex():
            self.kind_box.blockSignals(True)
            self.kind_box.setCurrentIndex(i)
            self.kind_box.blockSignals(False)

    def _set_text(self, text: str) -> None:
        if text == self.editor.toPlainText():
            return
        self._loading = True
        try:
            self.editor.setPlainText(text)
        finally:
            self._loading = False
        self._extra = {}

    def _replace_text(self, text: str) -> None:
        """The whole text replaced as one edit (Ctrl+Z in the editor brings the last one back)."""
        cursor = self.editor.textCursor()
        cursor.select(QtGui.QTextCursor.Document)
        cursor.insertText(text)
        self.editor.moveCursor(QtGui.QTextCursor.Start)

    def start_from(self, title: str) -> None:
        """Replace the text by a "Start from" system (one edit: Ctrl+Z in the editor undoes it)."""
        model, text, extra = TEMPLATES[title]
        self._set_kind(model)
        self._replace_text(text)
        self._extra = dict(extra)
        self.check_now()

    # ---- checking as the user types ----------------------------------------------------
    def _on_text_changed(self) -> None:
        if not self._loading:
            self._extra = {}  # the text is the user's now
        self._schedule(CHECK_DELAY_MS)

    def _schedule(self, ms: int) -> None:
        self.apply_button.setEnabled(False)  # until checked
        self._timer.start(ms)

    def check_now(self) -> EquationError | None:
        """Check the text now (not waiting for the typing to pause); update the marks and buttons."""
        self._timer.stop()
        model = self.model()
        text = self.editor.toPlainText()
        self.error, summary = check_system(model, text, self.reserved.get(model, ()))
        self.editor.mark_error(self.error)
        if self.error is not None:
            self.error_label.setStyleSheet("color: #c0392b;")
            self.error_label.setText(str(self.error))
        else:
            changed = text != self.applied or model != self.applied_model
            self.error_label.setStyleSheet("color: #2a7a2a;" if not changed else "")
            self.error_label.setText(("✓ running: " if not changed else "✓ valid, not applied: ") + summary)
        self.apply_button.setEnabled(self.can_apply())
        self.revert_button.setEnabled(self.applied is not None and text != self.applied)
        return self.error

    def can_apply(self) -> bool:
        return self.error is None and (self.editor.toPlainText() != self.applied or self.model() != self.applied_model)

    def show_refused(self, message: str) -> None:
        """The engine refused the text (a reason only a run finds): say it where the user types."""
        self.error_label.setStyleSheet("color: #c0392b;")
        self.error_label.setText(f"not applied: {message}")

    # ---- actions ---------------------------------------------------------------------
    def apply(self) -> None:
        if self._timer.isActive():
            self.check_now()
        if not self.can_apply():
            return
        self.error_label.setStyleSheet("")
        self.error_label.setText("applying…")
        self.apply_button.setEnabled(False)
        self.apply_requested.emit(self.model(), self.editor.toPlainText(), dict(self._extra))

    def revert(self) -> None:
        if self.applied is not None:
            self._set_kind(self.applied_model)
            self._replace_text(self.applied)
            self.check_now()
