"""SurfaceView renders a shaded relief under Xvfb + Mesa, checked by pixels.

Run with ``QT_QPA_PLATFORM=xcb``; pytest-xvfb provides the display. The
``offscreen`` Qt platform cannot create an OpenGL context, so these tests fail
there unless ``ATTRACTOR_LAB_ALLOW_NO_GL=1`` asks them to skip.
"""

import os

import numpy as np
import pytest

pytestmark = [pytest.mark.gl, pytest.mark.gui]

GRID = 256


def _no_gl(reason):
    """Fail (or skip, when allowed) because OpenGL is unavailable."""
    message = (f"No OpenGL context for vispy: {reason}. Run under Xvfb with "
               "QT_QPA_PLATFORM=xcb and Mesa installed (the 'offscreen' platform "
               "cannot create a GL context); set ATTRACTOR_LAB_ALLOW_NO_GL=1 to skip.")
    if os.environ.get("ATTRACTOR_LAB_ALLOW_NO_GL") == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def _bump(center=(0.5, 0.5), width=0.12, amplitude=0.5, n=GRID):
    """A Gaussian bump in [0, amplitude] on an n×n grid over the unit square."""
    t = np.linspace(0.0, 1.0, n)
    x, y = np.meshgrid(t, t, indexing="ij")
    r2 = (x - center[0]) ** 2 + (y - center[1]) ** 2
    return (amplitude * np.exp(-r2 / (2 * width ** 2))).astype(np.float32)


def _changed_fraction(image_a, image_b, threshold=30):
    """Fraction of pixels whose RGB differs by more than ``threshold``."""
    diff = np.abs(image_a[..., :3].astype(int) - image_b[..., :3].astype(int)).max(-1)
    return float((diff > threshold).mean())


@pytest.fixture
def view(qtbot):
    """A shown, exposed SurfaceView whose GL context is known to work."""
    from PySide6 import QtGui

    platform = QtGui.QGuiApplication.platformName()
    if platform in ("offscreen", "minimal"):
        _no_gl(f"the Qt platform is {platform!r}")
    from attractor_lab.widgets.surface_view import SurfaceView

    try:
        surface_view = SurfaceView(title="test", bgcolor="black")
    except Exception as error:  # vispy raises various errors without GL
        _no_gl(f"creating the canvas raised {error!r}")
    qtbot.addWidget(surface_view)
    surface_view.resize(480, 400)
    surface_view.show()
    qtbot.waitExposed(surface_view)
    qtbot.waitExposed(surface_view.canvas.native)
    try:
        surface_view.render_image()
    except Exception as error:
        surface_view.close()
        _no_gl(f"canvas.render() raised {error!r}")
    yield surface_view
    surface_view.close()
    assert surface_view.canvas is None


def _background(image):
    """Colour of the top-left corner, which the surface never covers."""
    return image[2, 2, :3].astype(int)


def _differs_from(image, colour, threshold=30):
    return np.abs(image[..., :3].astype(int) - colour).max(-1) > threshold


def test_bump_renders_as_relief(view, tmp_path):
    view.set_data(_bump())
    image = view.render_image()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 4
    assert image.shape[:2] == (view.canvas.size[1], view.canvas.size[0])
    assert image[..., :3].std() > 5.0, "rendered image is uniform (blank frame?)"

    background = _background(image)
    assert np.abs(background - 0).max() <= 5, f"background should be black, got {background}"
    height, width = image.shape[:2]
    centre = image[height * 2 // 5: height * 3 // 5, width * 2 // 5: width * 3 // 5]
    assert _differs_from(centre, background).mean() > 0.9, "centre shows background"
    # The surface covers a good part of the frame but not all of it.
    covered = _differs_from(image, background).mean()
    assert 0.15 < covered < 0.9, f"surface covers {covered:.0%} of the frame"
    # Shading and colormap: many distinct colours, not a flat fill.
    assert len(np.unique(centre[..., :3].reshape(-1, 3), axis=0)) > 50

    import imageio.v3 as iio
    iio.imwrite(tmp_path / "surface.png", image)
    if os.environ.get("ATTRACTOR_LAB_SAVE_RENDER"):
        iio.imwrite(os.environ["ATTRACTOR_LAB_SAVE_RENDER"], image)


def test_image_follows_the_data(view):
    view.set_levels(0.0, 0.5)
    view.set_data(_bump())
    bump_image = view.render_image()

    view.set_data(np.zeros((GRID, GRID), np.float32))
    flat_image = view.render_image()
    assert _changed_fraction(bump_image, flat_image) > 0.05
    # A flat field at the lower level: one colour (viridis' dark purple)
    # with uniform shading, so the centre is nearly uniform.
    height, width = flat_image.shape[:2]
    flat_centre = flat_image[height * 2 // 5: height * 3 // 5, width * 2 // 5: width * 3 // 5, :3]
    assert flat_centre.astype(int).std(axis=(0, 1)).max() < 3.0
    assert _differs_from(flat_centre, _background(flat_image)).mean() > 0.9

    view.set_data(_bump(center=(0.15, 0.15)))
    corner_image = view.render_image()
    assert _changed_fraction(bump_image, corner_image) > 0.05
    assert _changed_fraction(flat_image, corner_image) > 0.02

    # Same field again: same image (updates are deterministic, not cumulative).
    view.set_data(_bump())
    assert _changed_fraction(bump_image, view.render_image(), threshold=2) < 0.001


def test_updates_reuse_the_visual_and_keep_levels(view):
    view.set_data(_bump(amplitude=0.5))
    surface = view.surface
    assert surface is not None
    levels = view.levels
    assert levels == pytest.approx((0.0, 0.5), abs=1e-3)  # auto, from the first frame

    view.set_data(_bump(amplitude=0.1, center=(0.3, 0.6)))
    view.set_data(_bump(amplitude=2.0))
    assert view.surface is surface, "set_data recreated the visual"
    assert view.levels == levels, "levels changed with the data"
    # The heights follow the fixed levels: a peak 4x above `hi` rises 4x z_scale.
    vertices = surface.mesh_data.get_vertices()
    assert vertices[:, 2].max() == pytest.approx(4.0 * view.z_scale, rel=1e-3)

    view.set_levels(-1.0, 1.0)
    assert view.levels == (-1.0, 1.0)
    assert view.surface is surface
    with pytest.raises(ValueError, match="hi > lo"):
        view.set_levels(1.0, 1.0)


def test_large_grids_are_downsampled(view):
    view.set_data(_bump(n=1000))
    vertices = view.surface.mesh_data.get_vertices()
    assert len(vertices) <= 256 * 256
    # The relief keeps its extent: the longest side spans one scene unit.
    assert np.ptp(vertices[:, 0]) == pytest.approx(1.0, abs=1e-6)
    image = view.render_image()
    assert image[..., :3].std() > 5.0
    # A new shape rebuilds the mesh of the same visual.
    surface = view.surface
    view.set_data(_bump(n=64))
    assert view.surface is surface
    assert len(view.surface.mesh_data.get_vertices()) == 64 * 64


def test_bad_input_is_rejected(view):
    with pytest.raises(ValueError, match="2D"):
        view.set_data(np.zeros(10))


def test_close_canvas_is_idempotent(view):
    view.set_data(_bump())
    view.close_canvas()
    view.close_canvas()
    assert view.canvas is None
    view.set_data(_bump())  # late frames after closing are dropped
    with pytest.raises(RuntimeError, match="closed"):
        view.render_image()
