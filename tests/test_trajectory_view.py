"""Trajectory3DView renders curves in 3D under Xvfb + Mesa, checked by pixels;
its frame (trajectory3d kind) shows, hides and exports like the surface's.

Run with ``QT_QPA_PLATFORM=xcb``; pytest-xvfb provides the display. The
``offscreen`` Qt platform cannot create an OpenGL context, so these tests fail
there unless ``ATTRACTOR_LAB_ALLOW_NO_GL=1`` asks them to skip.
"""

import os

import numpy as np
import pytest

pytestmark = [pytest.mark.gl, pytest.mark.gui]

CYAN = np.array([0x4C, 0xC9, 0xF0])  # the first trajectory colour


def _no_gl(reason):
    """Fail (or skip, when allowed) because OpenGL is unavailable (as in test_surface_view.py)."""
    message = (f"No OpenGL context for vispy: {reason}. Run under Xvfb with "
               "QT_QPA_PLATFORM=xcb and Mesa installed (the 'offscreen' platform "
               "cannot create a GL context); set ATTRACTOR_LAB_ALLOW_NO_GL=1 to skip.")
    if os.environ.get("ATTRACTOR_LAB_ALLOW_NO_GL") == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def _helices(n_traj=3, n_time=400, radius=1.0):
    """Helices around the z axis, one per trajectory, shifted in x; NaN-padded tails."""
    t = np.linspace(0.0, 6 * np.pi, n_time)
    a = np.stack([np.stack([radius * np.cos(t) + 3 * b, radius * np.sin(t), 0.2 * t], -1)
                  for b in range(n_traj)]).astype(np.float32)
    a[1:, n_time // 2:] = np.nan
    return a


@pytest.fixture
def view(qtbot):
    """A shown, exposed Trajectory3DView whose GL context is known to work."""
    from PySide6 import QtGui

    platform = QtGui.QGuiApplication.platformName()
    if platform in ("offscreen", "minimal"):
        _no_gl(f"the Qt platform is {platform!r}")
    from attractor_lab.widgets.trajectory_view import Trajectory3DView

    try:
        trajectory_view = Trajectory3DView(bgcolor="black")
    except Exception as error:  # vispy raises various errors without GL
        _no_gl(f"creating the canvas raised {error!r}")
    qtbot.addWidget(trajectory_view)
    trajectory_view.resize(480, 400)
    trajectory_view.show()
    qtbot.waitExposed(trajectory_view)
    qtbot.waitExposed(trajectory_view.canvas.native)
    try:
        trajectory_view.render_image()
    except Exception as error:
        trajectory_view.close()
        _no_gl(f"canvas.render() raised {error!r}")
    yield trajectory_view
    trajectory_view.close()
    assert trajectory_view.canvas is None


def _drawn(image, threshold=40):
    """Pixels that differ from the black background."""
    return image[..., :3].astype(int).max(-1) > threshold


def test_trajectories_render_in_their_colours(view):
    blank = view.render_image()
    assert not _drawn(blank).any()
    view.set_data(_helices(n_traj=1)[0])  # (T, 3)
    image = view.render_image()
    drawn = _drawn(image)
    assert 0.005 < drawn.mean() < 0.5, f"curves cover {drawn.mean():.1%} of the frame"
    # the curve is drawn in the first trajectory colour
    colours = image[drawn][:, :3].astype(int)
    near_cyan = (np.abs(colours - CYAN).max(-1) < 60).mean()
    assert near_cyan > 0.5, f"only {near_cyan:.0%} of the drawn pixels are the trajectory's colour"
    # three trajectories: more pixels, and a second colour (magenta-ish #f72585) appears
    view.set_data(_helices(n_traj=3))
    image3 = view.render_image()
    colours3 = image3[_drawn(image3)][:, :3].astype(int)
    assert (np.abs(colours3 - np.array([0xF7, 0x25, 0x85])).max(-1) < 60).sum() > 20


def test_camera_fits_once_and_refits_only_when_the_data_leaves_far(view):
    a = _helices()
    view.set_data(a)
    lo, hi = view.fitted_box
    finite = a[np.isfinite(a).all(-1)]
    assert (lo <= finite.min(0) + 1e-6).all() and (hi >= finite.max(0) - 1e-6).all()
    view.camera.azimuth = 70.0  # the user turns the view
    view.set_data(a * 1.1)  # the data moves a little
    assert view.camera.azimuth == 70.0 and view.fitted_box[0] is lo
    view.set_data(a + np.float32(100.0))  # far away: fit again
    new_lo, new_hi = view.fitted_box
    assert new_lo[0] > 90 and (view.render_image()[..., :3].max(-1) > 40).mean() > 0.005
    view.refit()  # after a reset: the next data decides
    view.set_data(a)
    assert view.fitted_box[0][0] == pytest.approx(lo[0])


def test_gaps_and_bad_input(view):
    a = _helices(n_traj=2, n_time=100)
    a[0, 40:45] = np.nan  # a gap inside a trajectory
    a[1] = np.nan         # a trajectory with nothing yet
    view.set_data(a)
    assert view.render_image()[..., :3].max() > 40
    view.set_data(np.full((2, 10, 3), np.nan))  # nothing finite: nothing drawn, no error
    assert not _drawn(view.render_image()).any()
    with pytest.raises(ValueError, match=r"\(B, T, 3\)"):
        view.set_data(np.zeros((5, 2)))


def test_trajectory3d_frame_shows_hides_and_exports(qtbot, monkeypatch, tmp_path):
    from PySide6 import QtGui

    from attractor_lab.app.main_window import export_view
    from attractor_lab.widgets.views import Trajectory3DFrame, make_view

    if QtGui.QGuiApplication.platformName() in ("offscreen", "minimal"):
        _no_gl("the Qt platform cannot make a GL context")
    monkeypatch.setenv("ATTRACTOR_LAB_3D", "off")
    frame = make_view({"kind": "trajectory3d", "array": "traj3d", "title": "Lorenz"})
    assert isinstance(frame, Trajectory3DFrame)
    qtbot.addWidget(frame)
    frame.resize(500, 400)
    frame.show()
    qtbot.waitExposed(frame)
    assert frame.gl_view is None and frame.toggle.text() == "Show 3D"
    frame.update_frame({"traj3d": _helices()}, {}, {}, 0.0)
    with pytest.raises(ValueError, match="hidden"):
        export_view(frame, tmp_path / "hidden.png")
    frame.toggle.setChecked(True)  # shown: the last data is drawn at once
    assert frame.gl_view is not None and (frame.window3d is not None) == frame.detached
    qtbot.waitExposed(frame.gl_view)
    assert frame.gl_view.fitted_box is not None
    path = export_view(frame, tmp_path / "lorenz.png")
    import imageio.v3 as iio

    image = iio.imread(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (np.abs(image[..., :3].astype(int) - image[2, 2, :3].astype(int)).max(-1) > 40).mean() > 0.005
    with pytest.raises(ValueError, match="PNG"):
        export_view(frame, tmp_path / "lorenz.svg")
    frame.clear()  # a reset: the camera fits the next frame
    assert frame.gl_view.fitted_box is None
    frame.toggle.setChecked(False)
    assert frame.gl_view is None and frame.window3d is None
