"""The preset browser: shipped and user presets by model, with thumbnails; double-click opens one.

Each preset shows its title, the first sentence of its description and a
thumbnail of the state it produces. Thumbnails are rendered by the engine side
(``attractor-lab thumbnails``, torch) in a background process at low priority,
once per preset file content, into the user cache folder
(:mod:`engine.storage.thumbnail_cache`); until one exists the preset shows a
placeholder. The window never waits for them and never imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from attractor_lab.app.launch import cli_command
from attractor_lab.app.preset_index import PresetEntry, preset_entries
from attractor_lab.engine.storage.presets import user_presets_dir
from attractor_lab.engine.storage.thumbnail_cache import thumbnail_cache_dir, thumbnail_path

ICON_PX = 72
PATH_ROLE = QtCore.Qt.UserRole
THUMB_ROLE = QtCore.Qt.UserRole + 1  # the thumbnail file shown, "" for the placeholder


class PresetBrowser(QtWidgets.QDockWidget):
    """A dock listing presets grouped by model (see the module's docstring).

    Signals
    -------
    open_preset(path)
        The user double-clicked (or pressed Enter on) a preset.
    thumbnails_done()
        The background renderer finished (or there was nothing to render).
    """

    open_preset = QtCore.Signal(str)
    thumbnails_done = QtCore.Signal()

    def __init__(self, parent=None, model_titles: Callable[[], dict] | None = None,
                 entries: Callable[[], list[PresetEntry]] = preset_entries, budget_s: float = 2.0):
        super().__init__("Preset browser", parent)
        self.setObjectName("preset_browser_dock")
        self.model_titles = model_titles or dict
        self.entries_source = entries
        self.budget_s = budget_s
        self.entries: list[PresetEntry] = []
        self.items: dict[str, QtWidgets.QTreeWidgetItem] = {}
        self.errors: dict[str, str] = {}
        self.proc: QtCore.QProcess | None = None
        self._stdout = b""
        self._stderr = b""
        self._again = False
        self._filled = False

        box = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(box)
        lay.setContentsMargins(4, 4, 4, 4)
        top = QtWidgets.QHBoxLayout()
        self.filter = QtWidgets.QLineEdit(placeholderText="Filter presets…", clearButtonEnabled=True)
        self.filter.textChanged.connect(self._apply_filter)
        refresh = QtWidgets.QToolButton(text="⟳", toolTip="List the presets again (yours included)")
        refresh.clicked.connect(self.refresh)
        top.addWidget(self.filter, 1)
        top.addWidget(refresh)
        lay.addLayout(top)
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setIconSize(QtCore.QSize(ICON_PX, ICON_PX))
        self.tree.setUniformRowHeights(False)
        self.tree.setWordWrap(True)
        self.tree.setTextElideMode(QtCore.Qt.ElideRight)
        self.tree.itemActivated.connect(self._on_activated)
        lay.addWidget(self.tree, 1)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: gray;")
        lay.addWidget(self.status)
        self.setWidget(box)
        self.setMinimumWidth(300)
        self.placeholder = _placeholder_icon()
        self.watcher = QtCore.QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(lambda _path: QtCore.QTimer.singleShot(300, self.refresh))

    # ---- listing --------------------------------------------------------------------------
    def showEvent(self, event):  # noqa: N802 (Qt API)
        super().showEvent(event)
        if not self._filled:  # listed and rendered only once someone looks
            self.refresh()

    def refresh(self) -> None:
        """List the presets again, show the thumbnails the cache has, render the missing ones."""
        self._filled = True
        self.entries = self.entries_source()
        folder = user_presets_dir()
        if folder.is_dir() and str(folder) not in self.watcher.directories():
            self.watcher.addPath(str(folder))
        titles = self.model_titles() or {}
        self.tree.clear()
        self.items.clear()
        groups: dict[str, QtWidgets.QTreeWidgetItem] = {}
        for entry in sorted(self.entries, key=lambda e: (titles.get(e.model, e.model).lower(), e.title.lower())):
            group = groups.get(entry.model)
            if group is None:
                group = QtWidgets.QTreeWidgetItem(self.tree, [titles.get(entry.model, entry.model)])
                font = group.font(0)
                font.setBold(True)
                group.setFont(0, font)
                group.setFlags(QtCore.Qt.ItemIsEnabled)
                group.setData(0, PATH_ROLE + 2, entry.model)
                group.setExpanded(True)
                groups[entry.model] = group
            item = QtWidgets.QTreeWidgetItem(group, [f"{entry.title}{'  (yours)' if entry.mine else ''}\n"
                                                     f"{entry.summary}"])
            item.setData(0, PATH_ROLE, str(entry.path))
            item.setToolTip(0, f"<b>{_escape(entry.title)}</b><br>{_escape(entry.description)}<br>"
                               f"<i>{_escape(str(entry.path))}</i><br>Double-click to open.")
            item.setSizeHint(0, QtCore.QSize(-1, ICON_PX + 8))
            self.items[str(entry.path)] = item
            self._show_thumbnail(str(entry.path))
        self._apply_filter(self.filter.text())
        self._render_missing()

    def refresh_if_shown(self) -> None:
        """List again if the browser was ever filled (e.g. the user saved a preset)."""
        if self._filled:
            self.refresh()

    def update_titles(self) -> None:
        """Name the model groups by the models' titles (they arrive with the engine)."""
        titles = self.model_titles() or {}
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            model = group.data(0, PATH_ROLE + 2)
            if model and titles.get(model) and group.text(0) != titles[model]:
                group.setText(0, titles[model])

    def _apply_filter(self, text: str) -> None:
        words = text.lower().split()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            shown = 0
            for j in range(group.childCount()):
                item = group.child(j)
                hay = (item.text(0) + " " + group.text(0) + " " + Path(item.data(0, PATH_ROLE)).stem).lower()
                hide = any(w not in hay for w in words)
                item.setHidden(hide)
                shown += not hide
            group.setHidden(shown == 0)

    def _on_activated(self, item: QtWidgets.QTreeWidgetItem, _column: int = 0) -> None:
        path = item.data(0, PATH_ROLE)
        if path:
            self.open_preset.emit(path)

    # ---- thumbnails -----------------------------------------------------------------------
    def thumbnail_for(self, path: str) -> Path | None:
        """The cached thumbnail of a preset file, or None."""
        try:
            thumb = thumbnail_path(path)
        except OSError:
            return None
        return thumb if thumb.is_file() else None

    def _show_thumbnail(self, path: str) -> bool:
        item = self.items.get(path)
        if item is None:
            return False
        thumb = self.thumbnail_for(path)
        pixmap = QtGui.QPixmap(str(thumb)) if thumb is not None else QtGui.QPixmap()
        if pixmap.isNull():
            item.setIcon(0, self.placeholder)
            item.setData(0, THUMB_ROLE, "")
            return False
        item.setIcon(0, QtGui.QIcon(pixmap))
        item.setData(0, THUMB_ROLE, str(thumb))
        return True

    def missing(self) -> list[str]:
        """Presets listed whose thumbnail is not cached (nor failed this session)."""
        return [p for p, item in self.items.items() if not item.data(0, THUMB_ROLE) and p not in self.errors]

    def _render_missing(self) -> None:
        if self.proc is not None and self.proc.state() != QtCore.QProcess.NotRunning:
            self._again = True  # list changed while rendering: look again when it ends
            return
        todo = self.missing()
        if not todo:
            self.status.setText(f"{len(self.items)} presets")
            self.thumbnails_done.emit()
            return
        program, *arguments = cli_command("thumbnails", "--progress", "json", "--low-priority",
                                          "--budget-s", f"{self.budget_s:g}", *todo)
        proc = QtCore.QProcess(self)
        proc.setProgram(program)
        proc.setArguments(arguments)
        env = QtCore.QProcessEnvironment.systemEnvironment()
        env.insert("ATTRACTOR_LAB_CACHE_DIR", str(thumbnail_cache_dir().parent))
        proc.setProcessEnvironment(env)
        self._stdout = self._stderr = b""
        proc.readyReadStandardOutput.connect(lambda p=proc: self._on_stdout(p))
        proc.readyReadStandardError.connect(lambda: setattr(self, "_stderr", (self._stderr + bytes(
            proc.readAllStandardError()))[-8000:]))
        proc.finished.connect(lambda code, status, p=proc: self._on_finished(code, status, p))
        self.proc = proc
        self.status.setText(f"rendering {len(todo)} thumbnails in the background…")
        proc.start()

    def _on_stdout(self, proc: QtCore.QProcess | None = None) -> None:
        if proc is not None and proc is not self.proc:
            return  # a renderer this browser no longer follows
        self._stdout += bytes(self.proc.readAllStandardOutput())
        *lines, self._stdout = self._stdout.split(b"\n")
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            path = entry.get("preset", "")
            if "error" in entry:
                self.errors[path] = entry["error"]
                item = self.items.get(path)
                if item is not None:
                    item.setToolTip(0, item.toolTip(0) + f"<br><span style='color:#c03030;'>no thumbnail: "
                                                         f"{_escape(entry['error'])}</span>")
            else:
                self._show_thumbnail(path)
        left = len(self.missing())
        if left:
            self.status.setText(f"rendering {left} thumbnails in the background…")

    def _on_finished(self, code: int, _status=None, proc: QtCore.QProcess | None = None) -> None:
        if proc is not None and proc is not self.proc:
            return  # an earlier renderer's late signal: the current one reports when it ends
        self.proc = None
        if code not in (0, 1):  # 1: some presets failed, reported one by one
            tail = self._stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {code}"]
            self.status.setText(f"thumbnails stopped: {tail[0]}")
        else:
            failed = f"; {len(self.errors)} without a thumbnail (see their tooltips)" if self.errors else ""
            self.status.setText(f"{len(self.items)} presets{failed}")
        if self._again:
            self._again = False
            self._render_missing()
            return
        self.thumbnails_done.emit()

    def shutdown(self) -> None:
        """Stop a running renderer (the window closes)."""
        if self.proc is not None and self.proc.state() != QtCore.QProcess.NotRunning:
            self.proc.kill()
            self.proc.waitForFinished(2000)
        self.proc = None


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def _placeholder_icon() -> QtGui.QIcon:
    """A dark tile with the application icon faint in its middle."""
    pixmap = QtGui.QPixmap(ICON_PX * 2, ICON_PX * 2)
    pixmap.fill(QtGui.QColor(16, 22, 38))
    painter = QtGui.QPainter(pixmap)
    painter.setOpacity(0.35)
    app_icon = QtWidgets.QApplication.windowIcon()
    if not app_icon.isNull():
        side = ICON_PX
        painter.drawPixmap(ICON_PX - side // 2, ICON_PX - side // 2, app_icon.pixmap(side, side))
    painter.end()
    return QtGui.QIcon(pixmap)

