"""Help menu: the keyboard shortcuts and the About dialog.

The shortcut list is read from the window's actions (and the few keys that
are not actions), so it always says what the keys do. The About dialog names
the versions of the application, Python, Qt and PySide6 — and, from the
engine's ``info`` reply (the window never imports torch), torch, the device in
use and the engine's address.
"""

from __future__ import annotations

import html
import platform
import sys

from PySide6 import QtCore, QtGui, QtWidgets

from attractor_lab.app.desktop import DISPLAY_NAME

#: keys handled outside QActions: (keys, what they do)
OTHER_KEYS = [
    ("Left drag on a field", "paint (reaction–diffusion; brush in the Brush toolbar)"),
    ("Left click on a phase portrait", "launch a trajectory from that point"),
    ("Wheel / right drag on a plot", "zoom; \"A\" button: back to the whole range"),
    ("Double-click a preset (Preset browser)", "open it"),
]


def shortcut_rows(window: QtWidgets.QWidget) -> list[tuple[str, str]]:
    """(keys, action) for every action of the window that has a shortcut, in menu order."""
    rows, seen = [], set()
    actions = [a for m in window.menuBar().actions() if m.menu() is not None for a in _menu_actions(m.menu())]
    for action in actions + list(window.actions()):
        keys = action.shortcut().toString(QtGui.QKeySequence.NativeText)
        if not keys or id(action) in seen:
            continue
        seen.add(id(action))
        text = action.text().replace("&", "").rstrip("…").strip()
        tip = action.toolTip()
        what = tip.rsplit(" (", 1)[0] if tip and tip.endswith(")") else (tip or text)
        rows.append((keys, what if what.lower().startswith(text.lower()) else f"{text}: {what}"))
    return rows


def _menu_actions(menu: QtWidgets.QMenu) -> list[QtGui.QAction]:
    out = []
    for a in menu.actions():
        out.extend(_menu_actions(a.menu()) if a.menu() is not None else [a])
    return out


class ShortcutsDialog(QtWidgets.QDialog):
    """Help → Keyboard shortcuts: a table of keys and what they do."""

    def __init__(self, window: QtWidgets.QWidget):
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(window) + OTHER_KEYS
        self.table = QtWidgets.QTableWidget(len(rows), 2, self)
        self.table.setHorizontalHeaderLabels(["Keys", "Action"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.NoSelection)
        for i, (keys, what) in enumerate(rows):
            self.table.setItem(i, 0, QtWidgets.QTableWidgetItem(keys))
            self.table.setItem(i, 1, QtWidgets.QTableWidgetItem(what))
        for i, (keys, what) in enumerate(rows):
            self.table.item(i, 1).setToolTip(what)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.Stretch)  # long texts wrap, no sideways scrolling
        self.table.setWordWrap(True)
        self.table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        header.sectionResized.connect(lambda *_: self.table.resizeRowsToContents())
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addWidget(buttons)
        self.resize(720, 560)

    def showEvent(self, event):  # noqa: N802 (Qt API)
        super().showEvent(event)
        self.table.resizeRowsToContents()  # the wrapped rows' heights, once the columns have their widths


def about_rows(engine) -> list[tuple[str, str]]:
    """(what, version or value) for the About dialog; engine values say when no engine answers."""
    from attractor_lab.engine import __version__

    import PySide6

    info = getattr(engine, "info", {}) or {}
    client = getattr(engine, "client", None)
    connection = getattr(client, "info", {}) if client is not None else {}
    missing = "— (no engine connected)"
    if connection:
        address = f"tcp://{connection.get('ip')}:{connection.get('command_port')}"
        address += " (remote, " + str(engine.remote_file) + ")" if getattr(engine, "remote_file", None) else \
            " (local, pid " + str(info.get("pid", "?")) + ")"
    else:
        address = missing
    device = info.get("device_description") or info.get("device")
    if device and info.get("threads"):
        device += f", {info['threads']} thread{'s' if info['threads'] != 1 else ''}"
    return [
        (DISPLAY_NAME, __version__),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("Qt", QtCore.qVersion()),
        ("PySide6", PySide6.__version__),
        ("Engine", info.get("engine_version", missing)),
        ("torch", info.get("torch_version", missing)),
        ("Device", device or missing),
        ("Engine address", address),
        ("Protocol", info.get("protocol_version", missing)),
    ]


class AboutDialog(QtWidgets.QDialog):
    """Help → About: what this is and every version that matters for a bug report."""

    def __init__(self, window: QtWidgets.QWidget, engine):
        super().__init__(window)
        self.setWindowTitle(f"About {DISPLAY_NAME}")
        self.rows = about_rows(engine)
        icon = QtWidgets.QLabel()
        icon.setPixmap(QtWidgets.QApplication.windowIcon().pixmap(96, 96))
        head = QtWidgets.QLabel(f"<h2>{DISPLAY_NAME}</h2><p>Explore live the dynamics between statistical physics "
                                "and neural computation.</p>")
        head.setWordWrap(True)
        table = "".join(f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;</td><td>{html.escape(str(v))}</td></tr>"
                        for k, v in self.rows)
        self.details = QtWidgets.QLabel(f"<table>{table}</table>")
        self.details.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        copy = QtWidgets.QPushButton("Copy")
        copy.setToolTip("Copy the versions (for a bug report)")
        copy.clicked.connect(lambda: QtWidgets.QApplication.clipboard().setText(self.text()))
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Close)
        buttons.addButton(copy, QtWidgets.QDialogButtonBox.ActionRole)
        buttons.rejected.connect(self.reject)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(icon, 0, QtCore.Qt.AlignTop)
        top.addWidget(head, 1)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.details)
        lay.addWidget(buttons)

    def text(self) -> str:
        return "\n".join(f"{k}: {v}" for k, v in self.rows)


def install_help_menu(window, engine) -> QtWidgets.QMenu:
    """Add Help → Keyboard shortcuts (F1) and About to ``window``'s menu bar."""
    menu = window.menuBar().addMenu("&Help")
    shortcuts = menu.addAction("Keyboard shortcuts…")
    shortcuts.setShortcut(QtGui.QKeySequence("F1"))
    shortcuts.setShortcutContext(QtCore.Qt.WindowShortcut)
    shortcuts.setToolTip("List the keyboard shortcuts (F1)")
    shortcuts.triggered.connect(lambda: _show(window, "shortcuts_dialog", ShortcutsDialog(window)))
    about = menu.addAction(f"About {DISPLAY_NAME}…")
    about.setMenuRole(QtGui.QAction.AboutRole)
    about.triggered.connect(lambda: _show(window, "about_dialog", AboutDialog(window, engine)))
    window.addAction(shortcuts)
    return menu


def _show(window, name: str, dialog: QtWidgets.QDialog) -> None:
    """Show a non-modal dialog, kept as ``window.<name>`` (tests read it), replacing the previous one."""
    old = getattr(window, name, None)
    if old is not None:
        old.close()
        old.deleteLater()
    setattr(window, name, dialog)
    dialog.setAttribute(QtCore.Qt.WA_DeleteOnClose, False)
    dialog.show()
