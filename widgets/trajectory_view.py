"""Curves in 3D (vispy inside Qt): trajectories of a 3D system, rotatable.

The view takes plain numpy arrays; it imports nothing from ``engine/``.
One line visual draws every trajectory (segments between consecutive finite
points, so NaN-padded tails and gaps are skipped), one marker visual the
heads. The camera fits the data on the first frame, after :meth:`refit`, and
when the data leaves the fitted box far; otherwise the user's rotation and
zoom stay.

OpenGL needs a real display: under Xvfb use ``QT_QPA_PLATFORM=xcb``; the
``offscreen`` platform cannot create a GL context.
"""

from __future__ import annotations

import numpy as np
import vispy.app
from PySide6 import QtWidgets
from vispy import scene
from vispy.color import Color
from vispy.visuals.transforms import STTransform

vispy.app.use_app("pyside6")

#: One colour per trajectory, cycled (the 2D views' palette).
COLORS = ["#4cc9f0", "#f72585", "#ffd166", "#06d6a0", "#f8961e", "#b5179e", "#90be6d", "#577590"]
#: Refit when the data reaches this fraction of the fitted box's size outside it
#: (growing trajectories refit a few times, then the view stays put).
FAR = 0.25


class Trajectory3DView(QtWidgets.QWidget):
    """Show trajectories ``a[b, t] = (x, y, z)`` as coloured curves with head markers.

    Parameters
    ----------
    colors : list of str or None
        Colours of the trajectories, cycled; default the 2D views' palette.
    bgcolor : str
        Canvas background colour.
    line_width : float
        Line width in pixels.
    parent : QtWidgets.QWidget or None
        Qt parent.
    """

    def __init__(self, colors=None, bgcolor="#14161a", line_width=2.0, parent=None):
        super().__init__(parent)
        self._colors = [Color(c).rgba for c in (colors or COLORS)]
        self._fitted = None        # (lo, hi) of the box the camera was fitted to
        self._shape = None         # (B, T) of the last data, to reuse the colour array
        self._vertex_colors = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._canvas = scene.SceneCanvas(keys=None, show=False, bgcolor=bgcolor)
        self._view = self._canvas.central_widget.add_view()
        self._view.camera = scene.TurntableCamera(fov=40.0, elevation=25.0, azimuth=-45.0)
        self._lines = scene.visuals.Line(parent=self._view.scene, width=line_width, method="gl")
        self._heads = scene.visuals.Markers(parent=self._view.scene)
        self._heads.set_gl_state("translucent", depth_test=False)  # heads stay visible in front of curves
        self._axes = scene.visuals.XYZAxis(parent=self._view.scene)
        self._lines.visible = self._heads.visible = self._axes.visible = False
        layout.addWidget(self._canvas.native, 1)

    # -- public API -------------------------------------------------------
    @property
    def canvas(self):
        """The vispy ``SceneCanvas`` (``None`` once closed)."""
        return self._canvas

    @property
    def camera(self):
        return self._view.camera

    @property
    def fitted_box(self):
        """``(lo, hi)`` corners (3-vectors) the camera was last fitted to, or None."""
        return self._fitted

    def refit(self):
        """Fit the camera to the next data drawn."""
        self._fitted = None

    def set_data(self, a):
        """Draw the trajectories in ``a``: shape (B, T, 3) or (T, 3), NaN where absent.

        Each trajectory is drawn between consecutive finite points, with a
        marker on its last finite point.
        """
        a = np.asarray(a, dtype=np.float32)
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3 or a.shape[-1] != 3:
            raise ValueError(f"trajectory3d needs an array (B, T, 3) or (T, 3), got shape {a.shape}")
        if self._canvas is None:
            return  # closed: late frames are dropped
        n_traj, n_time = a.shape[:2]
        finite = np.isfinite(a).all(-1)
        segment = finite[:, :-1] & finite[:, 1:]
        starts = (np.arange(n_traj)[:, None] * n_time + np.arange(max(n_time - 1, 0))[None, :])[segment]
        pos = np.nan_to_num(a.reshape(-1, 3), nan=0.0, posinf=0.0, neginf=0.0)
        if self._shape != (n_traj, n_time):
            per_traj = np.array([self._colors[i % len(self._colors)] for i in range(n_traj)], np.float32)
            self._vertex_colors = np.repeat(per_traj.reshape(-1, 4), n_time, axis=0)
            self._shape = (n_traj, n_time)
        if starts.size:
            connect = np.stack([starts, starts + 1], axis=1).astype(np.uint32)
            self._lines.set_data(pos=pos, color=self._vertex_colors, connect=connect)
        self._lines.visible = bool(starts.size)
        has = finite.any(1)
        last = n_time - 1 - np.argmax(finite[:, ::-1], axis=1)
        heads = a[np.arange(n_traj)[has], last[has]]
        if heads.size:
            face = np.array([self._colors[i % len(self._colors)] for i in np.flatnonzero(has)], np.float32)
            self._heads.set_data(heads, face_color=face, edge_color="white", size=9, edge_width=1)
        self._heads.visible = bool(heads.size)
        if finite.any():
            self._maybe_fit(a[finite])
        self._axes.visible = bool(finite.any()) and self._fitted is not None

    def render_image(self):
        """Render the canvas offscreen and return it (RGBA uint8, (height, width, 4)).

        The widget must be shown and exposed first, or the image is blank.
        """
        if self._canvas is None:
            raise RuntimeError("Trajectory3DView.render_image: the canvas is closed")
        return self._canvas.render()

    def close_canvas(self):
        """Release the GL canvas; safe to call more than once."""
        if self._canvas is None:
            return
        canvas, self._canvas = self._canvas, None
        canvas.close()

    def closeEvent(self, event):  # noqa: N802 (Qt API)
        self.close_canvas()
        super().closeEvent(event)

    # -- internals --------------------------------------------------------
    def _maybe_fit(self, points):
        lo, hi = points.min(0).astype(float), points.max(0).astype(float)
        if self._fitted is not None:
            f_lo, f_hi = self._fitted
            size = float(np.max(f_hi - f_lo))
            if np.all(lo >= f_lo - FAR * size) and np.all(hi <= f_hi + FAR * size):
                return
        span = hi - lo
        largest = float(span.max())
        if not largest > 0:  # a single point: a box as large as its distance from the origin (at least 1)
            largest = max(1.0, float(np.abs(points).max()))
        # a flat set (a planar orbit) gets some depth, so the camera's box is never degenerate
        grow = np.maximum(0.05 * largest - span, 0.0) if float(span.max()) > 0 else np.full(3, largest)
        lo_box, hi_box = lo - 0.5 * grow, hi + 0.5 * grow
        pad = largest
        self._fitted = (lo_box, hi_box)
        self._view.camera.set_range(x=(lo_box[0], hi_box[0]), y=(lo_box[1], hi_box[1]), z=(lo_box[2], hi_box[2]),
                                    margin=0.08)
        self._axes.transform = STTransform(scale=[0.25 * pad] * 3, translate=lo_box)
