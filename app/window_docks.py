"""The window's docks: parameters, info, sweeps, preset browser, your own equations.

A mixin of :class:`~app.main_window.MainWindow` (app/main_window.py wires it).
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from attractor_lab.app.equation_dock import EquationDock
from attractor_lab.app.preset_browser import PresetBrowser
from attractor_lab.app.sweep_dock import SweepDock
from attractor_lab.engine.equations import EQUATION_MODELS
from attractor_lab.engine.storage.presets import Preset
from attractor_lab.widgets.param_panel import ParamPanel


class DocksMixin:
    """The window's docks: a mixin of :class:`~app.main_window.MainWindow`."""

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
