"""The application's identity for Qt and the window's memory between sessions.

:func:`configure_application` gives Qt the organisation and application names
(settings land in ``~/.config/attractor-lab/attractor-lab.ini`` on Linux, the
registry or ``~/Library/Preferences`` elsewhere), the desktop file's name and
the icon. :class:`WindowMemory` keeps, in :func:`open_settings`: the window's
geometry and dock layout, the last model and preset (opened again at the next
start unless ``--preset`` names another), and the recent presets and files
(File menu). ``ATTRACTOR_LAB_SETTINGS_DIR`` moves the settings file into a
folder of its own (the tests use one; nothing touches the user's settings);
``attractor-lab --reset-settings`` forgets everything.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from attractor_lab.app.desktop import APP_ID, APPLICATION, DISPLAY_NAME, ORGANIZATION, icon_files

SETTINGS_DIR_ENV = "ATTRACTOR_LAB_SETTINGS_DIR"
MAX_RECENT = 10
#: bumped when the window's docks change incompatibly (restoreState refuses other versions)
LAYOUT_VERSION = 2  # 2: the sweep dock and preset browser tab with the parameters


def configure_application(app: QtWidgets.QApplication) -> None:
    """Names, version, desktop file and icon of the application (before any window)."""
    from attractor_lab.engine import __version__

    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(DISPLAY_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())


def app_icon() -> QtGui.QIcon:
    """The application icon (every PNG size, and the SVG where Qt reads SVG)."""
    icon = QtGui.QIcon()
    for size, path in icon_files().items():
        if size != "scalable":
            icon.addFile(str(path), QtCore.QSize(int(size), int(size)))
    return icon


def open_settings() -> QtCore.QSettings:
    """The settings file: ``$ATTRACTOR_LAB_SETTINGS_DIR/attractor-lab.ini``, else the user's
    (INI format, user scope, under the organisation's name)."""
    folder = os.environ.get(SETTINGS_DIR_ENV)
    if folder:
        return QtCore.QSettings(str(Path(folder) / f"{APPLICATION}.ini"), QtCore.QSettings.IniFormat)
    return QtCore.QSettings(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope, ORGANIZATION, APPLICATION)


def reset_settings() -> str:
    """Forget every setting; returns the settings file's name."""
    settings = open_settings()
    settings.clear()
    settings.sync()
    return settings.fileName()


def _string_list(value) -> list[str]:
    """A list read back from QSettings (INI files give a str for one item, None for none)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value if v]


class WindowMemory(QtCore.QObject):
    """What the main window remembers between sessions (see the module's docstring).

    Built at the end of the window's ``__init__`` (every dock exists by then): it
    restores geometry and layout at once, chooses the preset to open first, follows
    ``model_loaded`` and saves the layout when the window closes.
    """

    changed = QtCore.Signal()

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.window = window
        self.settings = open_settings()
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QtCore.QByteArray) and not geometry.isEmpty():
            window.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if isinstance(state, QtCore.QByteArray) and not state.isEmpty():
            window.restoreState(state, LAYOUT_VERSION)
        if getattr(window, "initial_preset", None) is None:
            last = self.last_preset()
            if last is not None:
                window.initial_preset = str(last)
        window.model_loaded.connect(self._on_model_loaded)
        window.installEventFilter(self)
        self._build_menus()

    # ---- what is remembered -------------------------------------------------------------
    def last_preset(self) -> Path | None:
        """The preset on screen when the window last closed, if its file still exists."""
        value = self.settings.value("session/preset", "")
        path = Path(value) if isinstance(value, str) and value else None
        return path if path is not None and path.is_file() else None

    def last_model(self, available) -> str | None:
        """The model on screen when the window last closed, if the engine still has it."""
        value = self.settings.value("session/model", "")
        return value if isinstance(value, str) and value in available else None

    def recent(self, kind: str) -> list[str]:
        """Recent ``presets`` or ``files``, newest first, those that still exist."""
        return [p for p in _string_list(self.settings.value(f"recent/{kind}")) if os.path.exists(p)]

    def add_recent(self, kind: str, path) -> None:
        path = str(Path(path).absolute())
        items = [path] + [p for p in _string_list(self.settings.value(f"recent/{kind}")) if p != path]
        self.settings.setValue(f"recent/{kind}", items[:MAX_RECENT])
        self.changed.emit()

    def add_recent_file(self, path) -> None:
        """A file the window wrote (trajectory, figure, movie)."""
        self.add_recent("files", path)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.window.saveGeometry())
        self.settings.setValue("window/state", self.window.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def _on_model_loaded(self, name: str) -> None:
        preset = getattr(self.window, "preset", None)
        path = preset.path if preset is not None and preset.model == name and preset.path else None
        self.settings.setValue("session/model", name)
        self.settings.setValue("session/preset", str(Path(path).absolute()) if path else "")
        if path:
            self.add_recent("presets", path)
        self.settings.sync()

    def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
        if obj is self.window and event.type() == QtCore.QEvent.Close:
            self.save_layout()
        return False

    # ---- File menu: recent presets and files ------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = next((a.menu() for a in self.window.menuBar().actions() if a.menu() is not None
                          and a.text().replace("&", "") == "File"), None)
        self.recent_presets_menu = QtWidgets.QMenu("Recent presets", self.window)
        self.recent_files_menu = QtWidgets.QMenu("Recent files", self.window)
        self.recent_presets_menu.aboutToShow.connect(self._fill_recent_presets)
        self.recent_files_menu.aboutToShow.connect(self._fill_recent_files)
        if file_menu is not None:
            before = getattr(self.window, "act_quit", None)
            before = before if before in file_menu.actions() else None
            for menu in (self.recent_presets_menu, self.recent_files_menu):
                file_menu.insertMenu(before, menu) if before is not None else file_menu.addMenu(menu)
            if before is not None:
                file_menu.insertSeparator(before)

    def _fill_recent_presets(self) -> None:
        menu = self.recent_presets_menu
        menu.clear()
        for path in self.recent("presets"):
            action = menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda checked=False, p=path: self.window.load_preset_file(p))
        menu.addSeparator()
        menu.addAction("Clear", lambda: (self.settings.remove("recent/presets"), self.changed.emit()))

    def _fill_recent_files(self) -> None:
        menu = self.recent_files_menu
        menu.clear()
        for path in self.recent("files"):
            action = menu.addAction(Path(path).name)
            action.setToolTip(f"open {path} with its application")
            action.triggered.connect(lambda checked=False, p=path: QtGui.QDesktopServices.openUrl(
                QtCore.QUrl.fromLocalFile(p)))
        menu.addSeparator()
        menu.addAction("Clear", lambda: (self.settings.remove("recent/files"), self.changed.emit()))
