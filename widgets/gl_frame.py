"""Frames for OpenGL (vispy) views, and where they go: inside the grid, or in
a window of their own when OpenGL is emulated on the CPU.

vispy loads only when a 3D view is first shown, so a model without 3D views
never pays for it (and the offscreen Qt platform, which has no OpenGL, still
builds every view).
"""

from __future__ import annotations

import os
import time as _time

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from attractor_lab.widgets.view_base import View

_GL_RENDERER: str | None = None


def opengl_renderer() -> str:
    """The OpenGL renderer's name (e.g. 'llvmpipe (LLVM 15.0.6, 256 bits)'), '' if none.

    Asked once per process through an offscreen context, so that no GL widget
    has to enter the main window just to find out.
    """
    global _GL_RENDERER
    if _GL_RENDERER is None:
        _GL_RENDERER = ""
        if QtGui.QGuiApplication.platformName() not in ("offscreen", "minimal"):
            from PySide6 import QtOpenGL  # noqa: F401  (loads QOpenGLFunctions' bindings)

            ctx = QtGui.QOpenGLContext()
            surface = QtGui.QOffscreenSurface()
            surface.create()
            if ctx.create() and ctx.makeCurrent(surface):
                _GL_RENDERER = str(ctx.functions().glGetString(0x1F01) or "")  # GL_RENDERER
                ctx.doneCurrent()
    return _GL_RENDERER


def software_opengl() -> bool:
    """True when OpenGL is emulated on the CPU (Mesa llvmpipe/softpipe) or absent."""
    r = opengl_renderer().lower()
    return not r or any(w in r for w in ("llvmpipe", "softpipe", "software", "swrast"))


#: a 3D draw is spaced at this many times its cost (the window spends at most ~1/SPACING on it)
SPACING = 4.0
#: the same with OpenGL emulated on the CPU: under Xvfb (llvmpipe) a 256² surface took
#: ~250 ms a draw, and at 4× its cost the 2D views fell from 30 to ~16 frames/s
SOFTWARE_SPACING = 12.0
#: at most this many 3D draws per second with software OpenGL (a spec's max_fps may ask fewer)
SOFTWARE_MAX_FPS = 5.0
#: with software OpenGL a surface's mesh is strided to at most this many vertices a side
SOFTWARE_MESH_SIDE = 128


class GLFrame(View):
    """A view around one vispy widget (``gl_view``), made when first shown.

    A GL widget inside a window makes Qt composite that whole window through
    OpenGL. With software OpenGL (Mesa llvmpipe, no GPU) that made every 2D
    frame ~6× slower (12 → 74 ms at 1200×800). So with software OpenGL the 3D
    canvas lives in a window of its own (2D frames stay at ~16 ms); with a GPU
    it sits in the grid. ``ATTRACTOR_LAB_3D=auto|embedded|window|off``
    overrides (``off``: start hidden). Draws are timed and spaced at
    ``SPACING`` times their cost (and at most ``max_fps`` per second); with
    software OpenGL at ``SOFTWARE_SPACING`` times their cost and at most
    ``SOFTWARE_MAX_FPS`` per second, on a coarser mesh, since there every
    3D draw takes the CPU from the 2D views and the engine. A 3D window that is
    minimised is not drawn (its newest data is drawn when it
    shows again).

    Subclasses make the widget (:meth:`_make_gl_view`, which must offer
    ``set_data``, ``render_image``, ``close_canvas`` and ``canvas``) and may
    prepare the data before it is drawn (:meth:`_set_data`).
    """

    #: the frame moved between the grid and a window of its own (or was hidden)
    placement_changed = QtCore.Signal()

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.gl_view = None
        self.window3d = None
        self.max_fps = float(spec.get("max_fps", 15))
        self.spacing = SPACING
        self.software = False  # OpenGL emulated on the CPU: draws throttled harder
        self.draw_cost = 0.0
        self.draws = 0  # 3D draws made (benchmarks, tests)
        self._last = 0.0
        self._last_array = None
        platform = QtGui.QGuiApplication.platformName()
        self.toggle = QtWidgets.QPushButton()
        self.toggle.setCheckable(True)
        self.toggle.toggled.connect(self._on_toggled)
        row = QtWidgets.QHBoxLayout()
        self.layout().removeWidget(self.title_label)
        row.addWidget(self.title_label, 1)
        row.addWidget(self.toggle)
        self.layout().insertLayout(0, row)
        self.note = QtWidgets.QLabel()
        self.note.setAlignment(QtCore.Qt.AlignLeft | QtCore.Qt.AlignTop)
        self.note.setWordWrap(True)
        self.layout().addWidget(self.note, 1)
        if platform in ("offscreen", "minimal"):
            self.detached = False
            self.note.setText(f"Needs OpenGL; the Qt platform '{platform}' has none.")
            self.toggle.setVisible(False)
            return
        mode = os.environ.get("ATTRACTOR_LAB_3D", "auto").lower()
        if software_opengl():
            self.software = True
            self.max_fps = min(self.max_fps, SOFTWARE_MAX_FPS)
            self.spacing = SOFTWARE_SPACING
        if mode == "auto":
            mode = "window" if software_opengl() else "embedded"
        # "off" starts hidden; shown later, it goes where "auto" would put it
        self.detached = mode == "window" or (mode == "off" and software_opengl())
        self._on_toggled(False)
        self.toggle.setChecked(mode != "off")

    # ---- for subclasses -----------------------------------------------------
    def _make_gl_view(self) -> QtWidgets.QWidget:
        raise NotImplementedError

    def _set_data(self, a: np.ndarray) -> None:
        self.gl_view.set_data(a)

    # ---- frame logic ----------------------------------------------------------
    def _on_toggled(self, show: bool) -> None:
        self.toggle.setText("Hide 3D" if show else "Show 3D")
        if show and self.gl_view is None:
            self.gl_view = self._make_gl_view()
            if self.detached:
                self.window3d = _Window3D(self.gl_view, f"Attractor Lab — 3D: {self.title}", self.toggle)
                self.window3d.restored = self._draw_newest
                self.window3d.show()
            else:
                self.layout().addWidget(self.gl_view, 1)
            if self._last_array is not None:
                self._draw(self._last_array)
        elif not show and self.gl_view is not None:
            self.close_canvas()
        self.note.setVisible(not show or self.detached)
        if self.detached:
            renderer = opengl_renderer() or "missing"
            self.note.setText(f"{'In' if show else 'Opens in'} a window of its own (OpenGL is emulated on the CPU).")
            self.note.setToolTip(f"OpenGL here is '{renderer}', emulated on the CPU: a 3D widget inside the main "
                                 "window would slow every view ~6×.")
        else:
            self.note.setText("Hidden. Press 'Show 3D'.")
        self.placement_changed.emit()

    def embedded(self) -> bool:
        """Whether the 3D canvas is shown inside this frame (so the frame needs a grid slot)."""
        return self.gl_view is not None and not self.detached

    def update_frame(self, arrays, observables, params, time):
        a = arrays.get(self.spec["array"])
        if a is None:
            return
        self._last_array = np.asarray(a)
        if not self.drawable():
            return
        if _time.monotonic() - self._last >= max(1.0 / self.max_fps, self.spacing * self.draw_cost):
            self._draw(self._last_array)

    def _draw_newest(self) -> None:
        """The newest data, drawn when the 3D window comes back from minimised."""
        if self._last_array is not None and self.drawable():
            self._draw(self._last_array)

    def drawable(self) -> bool:
        """Whether a draw would be seen: the canvas exists, is shown, and (in a window of its
        own) that window is not minimised."""
        if self.gl_view is None or not self.gl_view.isVisible():
            return False
        return self.window3d is None or not self.window3d.isMinimized()

    def _draw(self, a: np.ndarray) -> None:
        now = _time.monotonic()
        self._last = now
        self._set_data(a)
        canvas = self.gl_view.canvas
        if canvas is not None and self.gl_view.isVisible():
            canvas.native.repaint()  # draw now, to know what a frame costs
        self.draw_cost = _time.monotonic() - now
        self.draws += 1

    def render_image(self) -> np.ndarray:
        """The 3D view as an RGBA image (it must be shown)."""
        if self.gl_view is None:
            raise ValueError(f"the 3D view {self.title!r} is hidden: press 'Show 3D' first")
        return self.gl_view.render_image()

    def close_canvas(self):
        if self.gl_view is not None:
            self.gl_view.close_canvas()
            self.gl_view.setParent(None)
            self.gl_view.deleteLater()
            self.gl_view = None
        if self.window3d is not None:
            self.window3d.release()
            self.window3d = None


class SurfaceFrame(GLFrame):
    """A 3D height surface of a 2D field (:class:`widgets.surface_view.SurfaceView`).

    Fields declared without levels get levels that follow the data.
    """

    def __init__(self, spec, parent=None):
        self.auto_levels = not spec.get("levels")
        super().__init__(spec, parent)

    @property
    def surface(self):
        """The :class:`SurfaceView` while shown, else None."""
        return self.gl_view

    def _make_gl_view(self):
        from attractor_lab.widgets.surface_view import SurfaceView

        levels = self.spec.get("levels")
        kwargs = {"max_mesh_side": SOFTWARE_MESH_SIDE} if self.software else {}
        return SurfaceView(colormap=self.spec.get("colormap", "viridis"),
                           levels=tuple(levels) if levels else None,
                           z_scale=self.spec.get("zscale", 0.25), **kwargs)

    def _set_data(self, a: np.ndarray) -> None:
        if self.auto_levels:
            self._follow_levels(a)
        self.gl_view.set_data(a)

    def _follow_levels(self, a: np.ndarray) -> None:
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return
        if hi - lo < 1e-9 * max(1.0, abs(hi)):
            hi = lo + 1e-9 * max(1.0, abs(hi))
        cur = self.gl_view.levels
        if cur is None or abs(cur[0] - lo) > 0.1 * (hi - lo) or abs(cur[1] - hi) > 0.1 * (hi - lo):
            self.gl_view.set_levels(lo, hi)


class Trajectory3DFrame(GLFrame):
    """Curves in 3D (:class:`widgets.trajectory_view.Trajectory3DView`) from an
    array (B, T, 3) or (T, 3), NaN-padded."""

    def _make_gl_view(self):
        from attractor_lab.widgets.trajectory_view import Trajectory3DView

        return Trajectory3DView(colors=self.spec.get("colors"))

    def clear(self):
        if self.gl_view is not None:
            self.gl_view.refit()  # a new run: fit the camera to it


def place_beside(main: QtCore.QRect | None, size: QtCore.QSize, screen: QtCore.QRect, index: int = 0) -> QtCore.QPoint:
    """Where a 3D window of ``size`` goes: right of the main window, else left of it, else
    (no room on either side) in the main window's top-right corner below its toolbars,
    clear of the status bar; ``index`` offsets further windows. All on ``screen``."""
    gap, step = 10, 30
    w, h = size.width(), size.height()
    if main is None:
        x = screen.right() - w - gap - index * (w + gap)
        return QtCore.QPoint(max(screen.left(), x), max(screen.top(), screen.bottom() - h - 40))
    y = min(max(screen.top(), main.top() + index * step), screen.bottom() - h)
    if main.right() + gap + w <= screen.right():
        return QtCore.QPoint(main.right() + gap, y)
    if main.left() - gap - w >= screen.left():
        return QtCore.QPoint(main.left() - gap - w, y)
    x = max(screen.left(), min(main.right(), screen.right()) - w - gap - index * step)
    y = main.top() + 90 + index * step  # below the menu and tool bars
    y = max(screen.top(), min(y, min(main.bottom(), screen.bottom()) - h - 40))  # above the status bar
    return QtCore.QPoint(x, y)


class _Window3D(QtWidgets.QWidget):
    """A top-level window holding a 3D view; closing it unticks the frame's toggle."""

    open_windows: set = set()

    def __init__(self, widget, title, toggle):
        super().__init__(None, QtCore.Qt.Window)
        self.setWindowTitle(title)
        self.toggle = toggle
        QtWidgets.QVBoxLayout(self).addWidget(widget)
        self.resize(460, 420)
        anchor = toggle.window()
        screen = anchor.screen() if anchor is not None and anchor.isVisible() else None
        screen = screen or QtGui.QGuiApplication.primaryScreen()
        if screen is not None:  # beside the main window, never over its status bar
            main = anchor.frameGeometry() if anchor is not None and anchor.isVisible() else None
            self.move(place_beside(main, self.size(), screen.availableGeometry(), len(_Window3D.open_windows)))
        _Window3D.open_windows.add(self)
        self._released = False
        self.restored = None  # called when the window comes back from minimised

    def changeEvent(self, event):  # noqa: N802 (Qt API)
        super().changeEvent(event)
        if event.type() == QtCore.QEvent.WindowStateChange and not self.isMinimized() and self.restored:
            QtCore.QTimer.singleShot(0, self.restored)

    def release(self):
        self._released = True
        self.close()
        self.deleteLater()

    def closeEvent(self, event):  # noqa: N802 (Qt API)
        _Window3D.open_windows.discard(self)
        if not self._released:
            self.toggle.setChecked(False)  # the user closed it: same as 'Hide 3D'
        super().closeEvent(event)
