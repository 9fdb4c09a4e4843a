"""What a displayed frame costs the window: views repaint and lay out their axes only
when what they show changes (counts, never times)."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def _count_calls(obj, name):
    calls = []
    original = getattr(obj, name)

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    setattr(obj, name, counting)
    return calls


def test_followed_time_series_moves_its_axes_every_few_frames(qtbot):
    """The x range used to follow every frame (an axis layout and a second repaint each)."""
    from PySide6 import QtWidgets

    from attractor_lab.widgets.views import TimeSeriesView

    view = TimeSeriesView({"kind": "timeseries", "observables": ["a", "b"], "title": "means"})
    qtbot.addWidget(view)
    view.resize(500, 300)
    view.show()
    qtbot.waitExposed(view)
    bottom = view.plot.getAxis("bottom")
    layouts = _count_calls(bottom, "generateDrawSpecs")
    view.MAX_POINTS = 150  # the oldest points are dropped from frame 150 on: the start moves too
    n = 400
    for i in range(n):
        view.update_frame({}, {"a": np.sin(0.1 * i), "b": 0.5 + 0.01 * np.cos(0.05 * i)}, {}, float(i))
        QtWidgets.QApplication.processEvents()  # paints
        (x0, x1), (y0, y1) = view.plot.getViewBox().viewRange()
        if i:  # the whole history kept and the newest point are in view, every frame
            t0, span = view.t[0], i - view.t[0]
            assert x0 <= t0 <= x0 + 2 * view.X_HEADROOM * span + 1e-9
            assert i <= x1 <= i + 2 * view.X_HEADROOM * span + 1e-9
        recent = view.recent_values()
        assert y0 <= recent.min() and recent.max() <= y1
    assert 0 < len(layouts) <= n / 3


def test_lines_view_skips_unchanged_curves(qtbot):
    """A theory curve (the dispersion relation) was set, and repainted, on every frame."""
    from attractor_lab.widgets.views import make_view

    view = make_view({"kind": "lines", "title": "sigma",
                      "series": [{"x": "k", "y": "s", "name": "σ(k)"}],
                      "points": [{"x": "k0", "y": "s0", "name": "now"}]})
    qtbot.addWidget(view)
    curve = view.curves[0][1]
    sets = _count_calls(curve, "setData")
    marks = _count_calls(view.points[0][1], "setData")
    k = np.linspace(0, 1, 200)
    frame = {"k": k, "s": 1 - (k - 0.3) ** 2}
    for _ in range(10):
        view.update_frame(dict(frame), {"k0": 0.3, "s0": 1.0}, {}, 0.0)
    assert len(sets) == 1 and len(marks) == 1
    frame["s"] = frame["s"] * 2  # a parameter moved: drawn
    view.update_frame(dict(frame), {"k0": 0.3, "s0": 2.0}, {}, 0.0)
    assert len(sets) == 2 and len(marks) == 2
    assert curve.yData.max() == pytest.approx(2.0, rel=1e-4)
    frame["s"][5] = np.nan  # NaN equal to NaN: one more change, then nothing new
    for _ in range(3):
        view.update_frame(dict(frame), {"k0": 0.3, "s0": 2.0}, {}, 0.0)
    assert len(sets) == 3


@pytest.mark.gl
def test_software_opengl_throttles_3d(qtbot, monkeypatch):
    """Under Xvfb (llvmpipe) a 256² surface drawn at 4× its cost took the 2D views from
    30 to ~16 frames/s: with software OpenGL the 3D view draws a coarser mesh, at most
    SOFTWARE_MAX_FPS a second, never while its window is minimised."""
    from PySide6 import QtGui

    from attractor_lab.widgets import gl_frame
    from attractor_lab.widgets.views import SurfaceFrame

    if QtGui.QGuiApplication.platformName() in ("offscreen", "minimal"):
        pytest.fail("OpenGL tests need QT_QPA_PLATFORM=xcb under Xvfb (make test sets it)")
    if not gl_frame.software_opengl():
        pytest.fail(f"this test expects software OpenGL (Xvfb + Mesa), not {gl_frame.opengl_renderer()!r}")
    monkeypatch.setenv("ATTRACTOR_LAB_3D", "window")
    frame = SurfaceFrame({"kind": "surface", "array": "u", "levels": [0, 1], "title": "u"})
    qtbot.addWidget(frame)
    frame.show()
    assert frame.software and frame.spacing == gl_frame.SOFTWARE_SPACING
    assert frame.max_fps == gl_frame.SOFTWARE_MAX_FPS < 15
    u = np.random.default_rng(0).random((256, 256)).astype(np.float32)
    frame.update_frame({"u": u}, {}, {}, 0.0)
    assert frame.draws >= 1
    surface = frame.surface
    assert surface._mesh_shape == (gl_frame.SOFTWARE_MESH_SIDE,) * 2  # 256² strided to 128²
    drawn = frame.draws
    frame._last = 0.0
    frame.window3d.showMinimized()
    qtbot.waitUntil(frame.window3d.isMinimized)
    frame.update_frame({"u": u}, {}, {}, 1.0)
    assert frame.draws == drawn  # minimised: not drawn
    frame.window3d.showNormal()
    qtbot.waitUntil(lambda: frame.draws == drawn + 1)  # shown again: the newest data drawn
    frame.toggle.setChecked(False)


@pytest.mark.parametrize("kind", ["lines", "timeseries"])
def test_a_frame_is_one_repaint(qtbot, monkeypatch, kind):
    """A plot following its data was painted twice a frame: the automatic range, applied
    inside the paint, moved the view and asked for another (the rate network's unit traces)."""
    import pyqtgraph as pg
    from PySide6 import QtWidgets

    from attractor_lab.widgets.views import make_view

    paints = []
    original = pg.GraphicsView.paintEvent
    monkeypatch.setattr(pg.GraphicsView, "paintEvent", lambda self, ev: (paints.append(1), original(self, ev)))
    if kind == "lines":
        view = make_view({"kind": "lines", "title": "traces",
                          "series": [{"x": "t", "y": f"y{k}", "name": f"unit {k}"} for k in range(4)]})
    else:
        view = make_view({"kind": "timeseries", "observables": ["a", "b"], "title": "means"})
    qtbot.addWidget(view)
    view.resize(500, 300)
    view.show()
    qtbot.waitExposed(view)
    for _ in range(5):
        QtWidgets.QApplication.processEvents()
    paints.clear()
    n = 40
    for i in range(n):
        t = np.arange(i, i + 400) * 0.1  # a sliding window: the range moves every frame
        view.update_frame({"t": t, **{f"y{k}": np.sin(t + k + 0.01 * i) for k in range(4)}},
                          {"a": np.sin(0.3 * i), "b": np.cos(0.2 * i)}, {}, float(i))
        for _ in range(3):
            QtWidgets.QApplication.processEvents()
    assert 0.5 * n <= len(paints) <= 1.2 * n


def test_following_levels_move_only_when_the_range_does(qtbot):
    """Auto levels were set on every frame (percentiles drift a little): the colour bar's
    axis was laid out again each time. They stay while both ends are within LEVELS_STAY."""
    from attractor_lab.widgets.views import LEVELS_STAY, ImageView

    view = ImageView({"kind": "image", "array": "u"})
    qtbot.addWidget(view)
    sets = _count_calls(view.bar, "setLevels")
    rng = np.random.default_rng(0)
    base = rng.random((64, 64))
    for i in range(30):  # noise on a steady field: the range drifts by < 1 %
        u = base + 0.002 * rng.standard_normal(base.shape)
        view.update_frame({"u": u}, {}, {}, float(i))
        lo, hi = np.percentile(u, [0.5, 99.5])
        shown = view.bar.levels()
        assert abs(shown[0] - lo) <= LEVELS_STAY * (hi - lo) and abs(shown[1] - hi) <= LEVELS_STAY * (hi - lo)
    assert len(sets) <= 3
    view.update_frame({"u": 3 * base}, {}, {}, 31.0)  # the range grew: followed at once
    assert tuple(view.bar.levels()) == pytest.approx(tuple(np.percentile(3 * base, [0.5, 99.5])))


def test_fields_are_drawn_from_a_premultiplied_image_showing_the_same_cells(qtbot):
    """An 8-bit indexed QImage is converted at the drawn size on every paint (~10 ms for a
    256×128 raster on a 900×500 view); the view keeps a premultiplied copy per frame, and
    what it shows is the colour map's colour of each cell."""
    from PySide6 import QtGui

    from attractor_lab.widgets.views import ImageView

    view = ImageView({"kind": "image", "array": "f", "title": "field", "levels": [0.0, 1.0], "colormap": "viridis"})
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    a = np.zeros((4, 6), np.float32)
    a[1, 2] = 1.0
    view.update_frame({"f": a}, {}, {}, 0.0)
    view.image.render()
    q = view.image.qimage
    assert q.format() == QtGui.QImage.Format.Format_ARGB32_Premultiplied
    assert (q.width(), q.height()) == (6, 4)
    lut = view.image.getColorMap().getLookupTable(nPts=256)
    hot, cold = QtGui.QColor(q.pixel(2, 1)), QtGui.QColor(q.pixel(0, 0))
    assert (hot.red(), hot.green(), hot.blue()) == tuple(int(c) for c in lut[-1][:3])
    assert (cold.red(), cold.green(), cold.blue()) == tuple(int(c) for c in lut[0][:3])


def test_dense_series_keep_their_spikes_at_a_few_points_per_pixel(qtbot):
    """Histories are drawn at ≤ ~2 points per pixel column ('peak': each column's extremes),
    wide pens as segments (one antialiased polyline of 4000 points: Qt's slow path), and a
    one-sample spike still shows."""
    from PySide6 import QtWidgets

    from attractor_lab.widgets.views import TimeSeriesView

    view = TimeSeriesView({"kind": "timeseries", "observables": ["m"], "title": "m", "follow": False})
    qtbot.addWidget(view)
    view.resize(400, 250)
    view.show()
    qtbot.waitExposed(view)
    n = 4000
    for i in range(n):
        view.update_frame({}, {"m": 5.0 if i == 2345 else 0.1 * np.sin(0.01 * i)}, {}, float(i))
    view.plot.getViewBox().setXRange(0, n, padding=0)
    QtWidgets.QApplication.processEvents()
    curve = view.curves["m"]
    x, y = curve.getData()
    width = view.plot.getViewBox().width()
    assert len(x) <= 2.5 * width + 4, (len(x), width)
    assert np.nanmax(y) == 5.0
    assert curve.curve.opts["segmentedLineMode"] == "on"
