"""Recording and export: trajectories, movies, pictures of a view, and where files go.

A mixin of :class:`~app.main_window.MainWindow` (app/main_window.py wires it).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

if TYPE_CHECKING:
    from attractor_lab.app.main_window import MainWindow


class RecordingMixin:
    """Recording and export: a mixin of :class:`~app.main_window.MainWindow`."""

    def toggle_record(self):
        if self.act_record.isChecked():
            every, ok = QtWidgets.QInputDialog.getInt(self, "Record", "Record a snapshot every K steps:", 10, 1, 10**9)
            self._refocus()  # after the dialog: keys go to the window's shortcuts
            if not ok:
                self.act_record.setChecked(False)
                return
            self.engine.request("record", {"action": "start", "every": every})
            self.recording = True
        else:
            self.engine.request("record", {"action": "stop"})
            self.recording = False

    def save_trajectory(self):
        path = self.ask_save_path("trajectories", "Save trajectory", self.default_path("trajectories", ".h5"),
                                  "HDF5 (*.h5);;NumPy (*.npz);;Observables CSV (*.csv)")
        if not path:
            return
        progress = SaveProgress(self, path)

        def saved(c):
            progress.finish()
            self.statusBar().showMessage(f"saved {c['snapshots']} snapshots to {c['path']}", 10000)
            self.memory.add_recent_file(c["path"])

        def failed(message):
            progress.finish()
            self.statusBar().showMessage(f"trajectory not saved: {message}", 15000)
            if not message.startswith("Cancelled"):
                QtWidgets.QMessageBox.warning(self, "Save trajectory", message)
                self._refocus()

        self.engine.request("record", {"action": "save", "path": path}, saved, failed)
        progress.start()

    def export_movie_dialog(self):
        """Save the recording to a private temporary file, then write a movie of one field."""
        views = movie_views(self.grid.views, self.current.get("record_fields") if self.current else None)
        if not views:
            QtWidgets.QMessageBox.information(
                self, "Export movie", "This model's recordings keep no image field to make a movie of; "
                "save the trajectory (Ctrl+Shift+S) instead.")
            self._refocus()  # after the dialog: keys go to the window's shortcuts
            return
        view = self._choose_view("Export movie", "Field:", views)
        if view is None:
            return
        path = self.ask_save_path("movies", "Export movie", self.default_path("movies", ".mp4", view.spec["array"]),
                                  "MP4 (*.mp4);;GIF (*.gif)")
        if not path:
            return
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="attractor-lab-movie-")) / "recording.npz"

        def failed(msg):
            shutil.rmtree(tmp.parent, ignore_errors=True)
            QtWidgets.QMessageBox.warning(self, "Export movie", f"{msg}\nStart a recording first (Ctrl+R).")
            self._refocus()  # after the dialog: keys go to the window's shortcuts

        self.engine.request("record", {"action": "save", "path": str(tmp)},
                            lambda c: self._write_movie(tmp, view, path, remove=True), failed)

    def _write_movie(self, trajectory: Path, view, path: str, remove: bool = False):
        from attractor_lab.engine.storage.recorder import load_trajectory
        from attractor_lab.widgets.movie import colorize, write_movie

        try:
            data = load_trajectory(trajectory)
            key = f"state/{view.spec['array']}"
            if key not in data:
                raise ValueError(f"the recording holds no {view.spec['array']!r}")
            rgb = colorize(data[key], view.spec.get("colormap", "viridis"), view.spec.get("levels"))
            dialog = QtWidgets.QProgressDialog("Writing movie…", None, 0, len(rgb), self)
            dialog.setWindowModality(QtCore.Qt.WindowModal)
            done = [0]

            def progress(n):
                done[0] += n
                dialog.setValue(done[0])

            write_movie(path, rgb, fps=min(self.fps, 60), progress=progress)
            dialog.close()
            self.statusBar().showMessage(f"wrote {len(rgb)} frames to {path}", 10000)
            self.memory.add_recent_file(path)
        except (OSError, ValueError) as exc:
            QtWidgets.QMessageBox.warning(self, "Export movie", str(exc))
            self._refocus()  # after the dialog: keys go to the window's shortcuts
        finally:
            if remove:  # our private temporary folder
                shutil.rmtree(trajectory.parent, ignore_errors=True)

    # ---- export --------------------------------------------------------------------
    def _choose_view(self, title: str, label: str, views: list):
        """Ask which of ``views`` (by title); None when there is none or the user cancels."""
        if not views:
            return None
        names = [v.title for v in views]
        name, ok = QtWidgets.QInputDialog.getItem(self, title, label, names, 0, False)
        self._refocus()  # after the dialog: keys go to the window's shortcuts
        return views[names.index(name)] if ok else None

    def export_view_dialog(self):
        view = self._choose_view("Export view", "View:", [
            v for v in self.grid.views if v.export_item() is not None or getattr(v, "gl_view", None) is not None])
        if view is None:
            return
        path = self.ask_save_path("figures", "Export view", self.default_path("figures", ".png", _view_name(view)),
                                  "PNG (*.png);;SVG (*.svg)")
        if path:
            try:
                export_view(view, path)
                self.statusBar().showMessage(f"exported {path}", 10000)
                self.memory.add_recent_file(path)
            except (OSError, ValueError) as exc:
                QtWidgets.QMessageBox.warning(self, "Export failed", str(exc))
                self._refocus()  # after the dialog: keys go to the window's shortcuts

    def default_path(self, kind: str, suffix: str, what: str = "") -> str:
        """Where a new file of ``kind`` (figures, trajectories, movies) goes by default: the
        folder last used for that kind, else the platform's pictures, documents or videos
        folder; named after the preset (or model), ``what`` it shows and the time."""
        folder = self.memory.settings.value(f"folders/{kind}", "", type=str)
        if not folder or not Path(folder).is_dir():
            import platformdirs

            folder = {"figures": platformdirs.user_pictures_dir, "movies": platformdirs.user_videos_dir}.get(
                kind, platformdirs.user_documents_dir)()
            if not Path(folder).is_dir():
                folder = str(Path.home())
        stem = self.preset.path.stem if self.preset is not None and self.preset.path is not None else \
            (self.current or {}).get("name", "attractor-lab")
        parts = [_slug(stem), _slug(what), time.strftime("%Y%m%d-%H%M%S")]
        return str(Path(folder) / ("-".join(p for p in parts if p) + suffix))

    def ask_save_path(self, kind: str, caption: str, default: str, filters: str, remember: bool = True) -> str:
        """A file dialog for saving (starting at ``default``); the folder chosen is remembered
        for ``kind``; '' when cancelled. The keyboard focus comes back to the window."""
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, caption, default, filters)
        self._refocus()
        if path and remember:
            self.memory.settings.setValue(f"folders/{kind}", str(Path(path).parent))
        return path


class SaveProgress(QtCore.QObject):
    """A progress bar for a trajectory save that takes more than a second: the engine writes
    in a thread and says how far it is (``record`` ``status``: ``saving``); Cancel stops it
    and no file is left (docs/protocol.md, "Saving a recording")."""

    SHOW_AFTER_S = 1.0
    POLL_MS = 250

    def __init__(self, window: MainWindow, path: str):
        super().__init__(window)
        self.window, self.path = window, path
        self.dialog: QtWidgets.QProgressDialog | None = None
        self.timer = QtCore.QTimer(self, interval=self.POLL_MS)
        self.timer.timeout.connect(self._poll)
        self.t0 = 0.0
        self.done = False

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.timer.start()

    def _poll(self) -> None:
        if self.done:
            return
        if self.dialog is None and time.monotonic() - self.t0 >= self.SHOW_AFTER_S:
            self.dialog = QtWidgets.QProgressDialog(f"Saving {Path(self.path).name}…", "Cancel", 0, 100, self.window)
            self.dialog.setWindowTitle("Save trajectory")
            self.dialog.setWindowModality(QtCore.Qt.WindowModal)
            self.dialog.canceled.connect(self.cancel)
            self.dialog.show()
        if self.dialog is not None:
            self.window.engine.request("record", {"action": "status"}, self._on_status, lambda _m: None)

    def _on_status(self, c: dict) -> None:
        if self.dialog is None or self.done:
            return
        for job in c.get("saving", []):
            if job.get("path") == self.path and job.get("total"):
                self.dialog.setValue(int(100 * job["done"] / job["total"]))
                self.dialog.setLabelText(f"Saving {Path(self.path).name}: {job.get('stage', '')}")

    def cancel(self) -> None:
        if not self.done:
            self.window.engine.request("record", {"action": "cancel"}, None, lambda _m: None)

    def finish(self) -> None:
        self.done = True
        self.timer.stop()
        if self.dialog is not None:
            self.dialog.canceled.disconnect(self.cancel)
            self.dialog.close()
            self.dialog.deleteLater()
            self.window._refocus()
        self.deleteLater()


def _view_name(view) -> str:
    """A short name for a view's files: its array, else its first observable, else its kind."""
    spec = view.spec
    return spec.get("array") or (spec.get("observables") or [None])[0] or spec.get("kind", "view")


def movie_views(views, record_fields) -> list:
    """The image views a movie can be made of: those whose array a recording keeps
    (``record_fields`` of the model's declaration; None keeps every array)."""
    return [v for v in views if v.spec["kind"] == "image"
            and (record_fields is None or v.spec["array"] in record_fields)]


def export_view(view, path: str | Path) -> Path:
    """Write a view as PNG or SVG (pyqtgraph's exporters; 3D views as PNG)."""
    import pyqtgraph.exporters as pgx

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(f"cannot export {path.name!r}: use .png or .svg")
    render = getattr(view, "render_image", None)  # 3D (OpenGL) frames
    if render is not None:
        if suffix != ".png":
            raise ValueError("3D views export as PNG only")
        import imageio.v3 as iio

        image = render()  # a hidden 3D view says so (ValueError)
        return _replace_with(path, lambda tmp: iio.imwrite(tmp, image, extension=".png"))
    item = view.export_item()
    if item is None:
        raise ValueError(f"the view {view.title!r} has nothing to export")

    def write(tmp: Path) -> None:
        with _label_margins(item):
            if suffix == ".svg":
                _export_svg(item, tmp)
            else:
                exporter = pgx.ImageExporter(item)
                exporter.parameters()["width"] = max(int(item.boundingRect().width()) * 2, 400)
                exporter.export(str(tmp))

    return _replace_with(path, write)


#: margin round a plot while it is exported, in px
EXPORT_MARGIN = 12


@contextlib.contextmanager
def _label_margins(item):
    """While a plot is exported: margins round its layout, so the end labels of its axes and
    colour bar ("0.5" at the top, "0" at the bottom) lie inside the exported picture, not cut."""
    layout = getattr(item, "layout", None)
    if not isinstance(layout, QtWidgets.QGraphicsLayout):
        yield
        return
    saved = layout.getContentsMargins()
    m = EXPORT_MARGIN
    left, top, right, bottom = saved
    layout.setContentsMargins(max(left, m), max(top, m), max(right, 2 * m), max(bottom, m))
    layout.activate()
    try:
        yield
    finally:
        layout.setContentsMargins(*saved)
        layout.activate()


def _replace_with(path: Path, write) -> Path:
    """``write(tmp)`` to an exclusive temporary file beside ``path`` (O_EXCL, an
    unpredictable name), then rename it into place; nothing is left on failure."""
    import os

    from attractor_lab.engine.files import exclusive_temp

    fd, tmp = exclusive_temp(path)
    os.close(fd)
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _export_svg(item, path: Path) -> None:
    """Vector SVG through Qt's QSvgGenerator (pyqtgraph 0.14's SVGExporter cannot
    parse the path data Qt 6.11 writes)."""
    from PySide6 import QtSvg

    rect = item.sceneBoundingRect()
    gen = QtSvg.QSvgGenerator()
    gen.setFileName(str(path))
    gen.setSize(rect.size().toSize())
    gen.setViewBox(QtCore.QRectF(0, 0, rect.width(), rect.height()))
    gen.setTitle("Attractor Lab view")
    painter = QtGui.QPainter(gen)
    try:
        item.scene().render(painter, QtCore.QRectF(0, 0, rect.width(), rect.height()), rect)
    finally:
        painter.end()



def _slug(text: str, n: int = 60) -> str:
    """``text`` as a file-name part: letters, digits, '-' and '_' only (a view's title with
    spaces and colons made "Rates tanh(x): 128 units × time (newest right).png")."""
    import re
    import unicodedata

    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()[:n]
