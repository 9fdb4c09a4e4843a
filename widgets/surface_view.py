"""A 3D height-surface view of a 2D field (vispy inside Qt).

The view takes plain numpy arrays; it imports nothing from ``engine/``.
Colours come from a colormap with fixed limits and are shaded on the CPU
(a hillshade from the grid gradient), so the mesh needs no normals: vispy's
own per-frame normal computation (``np.add.at`` over every face) is the
costliest part of a ``SurfacePlot`` update and is avoided entirely.

Cost per frame, measured at 256² on a 2-core machine with Mesa llvmpipe:
``set_data`` itself ~2 ms (512² is strided to 256², ~2.5 ms); at draw time
vispy's ``MeshVisual`` re-expands vertices and colours per face (~16-20 ms)
and llvmpipe rasterises (~25 ms), ~40-45 ms a frame in all.

OpenGL needs a real display: under Xvfb use ``QT_QPA_PLATFORM=xcb``; the
``offscreen`` platform cannot create a GL context.
"""

import math

import numpy as np
import vispy.app
from PySide6 import QtCore, QtWidgets
from vispy import scene
from vispy.color import get_colormap

# Safe to call more than once (vispy returns the app already selected).
vispy.app.use_app("pyside6")

#: Longest side, in vertices, of the mesh actually drawn.
MAX_MESH_SIDE = 256

# A light from the upper left, as in cartographic hillshades.
_LIGHT_DIRECTION = np.array([-0.5, -0.5, 0.7071], dtype=np.float32)
_AMBIENT = 0.35


class SurfaceView(QtWidgets.QWidget):
    """Show a 2D field ``z[i, j]`` as a shaded, coloured 3D relief.

    Axis ``i`` of the field runs along scene x and axis ``j`` along scene y;
    the longest side of the grid spans one scene unit.

    Parameters
    ----------
    title : str or None
        Text of an optional label above the canvas.
    colormap : str
        Name of a vispy colormap (``"viridis"``, ``"hot"``, ...).
    levels : tuple of float or None
        Fixed colour (and height) limits ``(lo, hi)``. ``None`` takes them
        from the first frame and keeps them.
    z_scale : float
        Displayed height of the range ``hi - lo`` as a fraction of the grid's
        longest side (0.25: a field spanning its levels rises a quarter of the
        grid width).
    max_mesh_side : int
        Larger grids are strided down to at most this many vertices per side.
    bgcolor : str
        Canvas background colour.
    parent : QtWidgets.QWidget or None
        Qt parent.
    """

    def __init__(self, title=None, colormap="viridis", levels=None, z_scale=0.25,
                 max_mesh_side=MAX_MESH_SIDE, bgcolor="#1e1e1e", parent=None):
        super().__init__(parent)
        self._z_scale = float(z_scale)
        self._max_mesh_side = int(max_mesh_side)
        self._levels = None
        self._field = None          # last full-resolution field (for re-colouring)
        self._mesh_shape = None     # shape of the strided field drawn
        self._surface = None
        self._lut = None
        self.set_colormap(colormap)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._title_label = None
        if title is not None:
            self._title_label = QtWidgets.QLabel(title)
            self._title_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(self._title_label)

        self._canvas = scene.SceneCanvas(keys=None, show=False, bgcolor=bgcolor)
        self._view = self._canvas.central_widget.add_view()
        self._view.camera = scene.TurntableCamera(
            fov=40.0, elevation=35.0, azimuth=-50.0, distance=1.9,
            center=(0.0, 0.0, 0.5 * self._z_scale))
        layout.addWidget(self._canvas.native, 1)
        if levels is not None:
            self.set_levels(*levels)

    # -- public API -------------------------------------------------------
    @property
    def canvas(self):
        """The vispy ``SceneCanvas`` (``None`` once closed)."""
        return self._canvas

    @property
    def surface(self):
        """The ``SurfacePlot`` visual, created by the first ``set_data``."""
        return self._surface

    @property
    def levels(self):
        """The fixed colour limits ``(lo, hi)``, or ``None`` until known."""
        return self._levels

    @property
    def z_scale(self):
        """Height of the level range as a fraction of the grid's longest side."""
        return self._z_scale

    def set_title(self, title):
        """Set the text of the title label (creating the label if needed)."""
        if self._title_label is None:
            self._title_label = QtWidgets.QLabel()
            self._title_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            self.layout().insertWidget(0, self._title_label)
        self._title_label.setText(title)

    def set_colormap(self, name):
        """Use the vispy colormap ``name``; its 256-entry table is cached."""
        lut = get_colormap(name).map(np.linspace(0.0, 1.0, 256)).astype(np.float32)
        self._lut = np.ascontiguousarray(lut)
        self._redraw()

    def set_levels(self, lo, hi):
        """Fix the colour and height limits.

        Parameters
        ----------
        lo, hi : float or None
            Values mapped to the bottom and top of the colormap, ``hi > lo``.
            ``None`` for both takes them from the current (or next) frame.
        """
        if lo is None and hi is None:
            self._levels = None
            if self._field is not None:
                self._levels = _auto_levels(self._field)
        else:
            lo, hi = float(lo), float(hi)
            if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
                raise ValueError(f"levels must be finite with hi > lo, got ({lo}, {hi})")
            self._levels = (lo, hi)
        self._redraw()

    def set_z_scale(self, z_scale):
        """Set the displayed height of the level range (fraction of grid side)."""
        self._z_scale = float(z_scale)
        if self._canvas is not None:
            self._view.camera.center = (0.0, 0.0, 0.5 * self._z_scale)
        self._redraw()

    def set_data(self, z):
        """Show the field ``z`` (2D, at least 2×2).

        The first call creates the surface; later calls with the same shape
        rewrite only the vertex heights and colours of the same visual.

        Parameters
        ----------
        z : numpy.ndarray
            Heights, shape ``(n_i, n_j)``. Non-finite values are drawn at the
            lower level.
        """
        z = np.asarray(z)
        if z.ndim != 2 or min(z.shape) < 2:
            raise ValueError(f"SurfaceView.set_data needs a 2D array at least 2x2, got shape {z.shape}")
        if self._canvas is None:
            return  # closed: late frames are dropped
        self._field = z
        if self._levels is None:
            self._levels = _auto_levels(z)
        self._redraw()

    def render_image(self):
        """Render the canvas offscreen and return it.

        The widget must be shown and exposed first, or the image is blank.

        Returns
        -------
        numpy.ndarray
            RGBA image, shape ``(height, width, 4)``, dtype ``uint8``.
        """
        if self._canvas is None:
            raise RuntimeError("SurfaceView.render_image: the canvas is closed")
        return self._canvas.render()

    def close_canvas(self):
        """Release the GL canvas; safe to call more than once."""
        if self._canvas is None:
            return
        canvas, self._canvas = self._canvas, None
        self._surface = None
        canvas.close()

    def closeEvent(self, event):  # noqa: N802 (Qt API)
        """Release the GL canvas when the widget closes."""
        self.close_canvas()
        super().closeEvent(event)

    # -- internals --------------------------------------------------------
    def _redraw(self):
        """Push the stored field to the GPU with the current settings."""
        if self._field is None or self._canvas is None:
            return
        stride = max(1, math.ceil(max(self._field.shape) / self._max_mesh_side))
        field = self._field[::stride, ::stride]
        lo, hi = self._levels
        # Fraction of the level range, in [0, 1] inside the levels.
        fraction = np.subtract(field, lo, dtype=np.float32)
        fraction *= np.float32(1.0 / (hi - lo))
        np.nan_to_num(fraction, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
        heights = fraction * np.float32(self._z_scale)
        colors = self._shaded_colors(fraction, heights)

        if self._surface is None or field.shape != self._mesh_shape:
            # New visual only on the first frame; a new shape only rebuilds
            # the mesh (x, y and faces) of the same visual.
            # Colours go in a second call: vispy checks them against the
            # vertex count before it has stored the new vertices.
            x, y = _grid_coordinates(field.shape)
            if self._surface is None:
                self._surface = scene.visuals.SurfacePlot(
                    x=x, y=y, z=heights, shading=None, parent=self._view.scene)
            else:
                self._surface.set_data(x=x, y=y, z=heights)
            self._surface.set_data(colors=colors)
            self._mesh_shape = field.shape
        else:
            self._surface.set_data(z=heights, colors=colors)

    def _shaded_colors(self, fraction, heights):
        """Colormap look-up with a Lambert hillshade, shape ``(n_i, n_j, 4)``."""
        index = np.clip(fraction, 0.0, 1.0)
        index *= 255.0
        colors = self._lut[index.astype(np.intp)]
        spacing = 1.0 / (max(heights.shape) - 1)
        d_i, d_j = np.gradient(heights, spacing)
        # Normal (-dz/dx, -dz/dy, 1) / |.|, dotted with the light direction.
        light = _LIGHT_DIRECTION
        lambert = (light[2] - light[0] * d_i - light[1] * d_j)
        lambert /= np.sqrt(1.0 + d_i * d_i + d_j * d_j)
        np.clip(lambert, 0.0, 1.0, out=lambert)
        shade = _AMBIENT + (1.0 - _AMBIENT) * lambert
        colors[..., :3] *= shade[..., None]
        return colors


def _auto_levels(z):
    """Finite ``(lo, hi)`` of ``z``, widened when the field is flat."""
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        pad = max(abs(lo), 1.0) * 0.5
        lo, hi = lo - pad, hi + pad
    return (lo, hi)


def _grid_coordinates(shape):
    """Vertex x and y, centred, with the longest side spanning one unit."""
    spacing = 1.0 / (max(shape) - 1)
    x = (np.arange(shape[0], dtype=np.float32) - 0.5 * (shape[0] - 1)) * spacing
    y = (np.arange(shape[1], dtype=np.float32) - 0.5 * (shape[1] - 1)) * spacing
    return x, y
