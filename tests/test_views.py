"""Every registered model's declared views build and draw its real frames."""

import numpy as np
import pytest

from attractor_lab import engine
from attractor_lab.engine.models import get, names

pytestmark = pytest.mark.gui

SMALL = {"grid": 32, "neurons": 256}


def _small_params(name):
    schema = {p.name for p in get(name).params}
    return {k: v for k, v in SMALL.items() if k in schema}


@pytest.mark.parametrize("name", names())
def test_views_draw_model_frames(qtbot, name):
    from attractor_lab.widgets.views import ImageView, ViewGrid

    d = get(name).describe()
    grid = ViewGrid()
    qtbot.addWidget(grid)
    grid.set_views(d["views"])
    grid.resize(900, 600)
    grid.show()
    sim = engine.create(name, seed=0, device="cpu", **_small_params(name))
    for _ in range(3):
        sim.step(2)
        m = sim.model
        grid.update_frame(sim.state(), sim.observables(), sim.params, m.time)
        grid.set_texts(m.texts())
        qtbot.wait(10)
    state = sim.state()
    for view in grid.views:
        if isinstance(view, ImageView):
            shown = view.current_image()
            assert shown is not None, f"{name}: image view {view.title!r} got no data"
            src = np.asarray(state[view.spec["array"]])
            assert shown.size == src.size
    # arrays and observables the views name exist in the model's output
    obs = sim.observables()
    for spec in d["views"]:
        for key in ("array", "mask"):
            if key in spec and spec["kind"] != "text":
                assert spec[key] in state, f"{name}: view names array {spec[key]!r} that state() lacks"
        for o in spec.get("observables", []):
            assert o in obs, f"{name}: view names observable {o!r} that observables() lacks"
        for s in spec.get("series", []):
            assert s["x"] in state and s["y"] in state, f"{name}: series {s} not in state()"
        if spec["kind"] in ("phase", "trajectory3d"):
            _check_dynamics_arrays(name, spec, state)
    # a view that declares clicks: the model takes one at the centre of what it shows
    for spec in d["views"]:
        if spec.get("click"):
            sim.model.click(spec["click"], *_centre(spec, state))
            sim.step(1)
            grid.update_frame(sim.state(), sim.observables(), sim.params, sim.model.time)
    grid.set_views([])


def _check_dynamics_arrays(name, spec, state):
    """Arrays named by phase and trajectory3d views exist in state() with the declared shapes."""
    def get(key, what):
        assert key in state, f"{name}: {spec['kind']} view names {what} array {key!r} that state() lacks"
        return np.asarray(state[key])

    if spec["kind"] == "trajectory3d":
        a = get(spec["array"], "trajectory")
        assert a.ndim in (2, 3) and a.shape[-1] == 3, f"{name}: {spec['array']!r} must be (B, T, 3) or (T, 3)"
        return
    for f in spec.get("fields", []):
        x, y, u, v = (get(f[k], f"field {k}") for k in ("x", "y", "u", "v"))
        assert x.ndim == 1 and y.ndim == 1, f"{name}: field grid {f['x']!r}, {f['y']!r} must be 1D"
        assert u.shape == v.shape == (y.size, x.size), \
            f"{name}: field {f['u']!r}, {f['v']!r} must be (ny, nx) = ({y.size}, {x.size}), not {u.shape}, {v.shape}"
    for t in spec.get("trajectories", []):
        a = get(t["array"], "trajectory")
        assert a.ndim in (2, 3) and a.shape[-1] == 2, f"{name}: {t['array']!r} must be (B, T, 2) or (T, 2)"
    for fp in spec.get("fixed_points", []):
        pos, kinds = get(fp["array"], "fixed-point"), get(fp["kinds"], "stability")
        assert pos.ndim == 2 and pos.shape[1] == 2, f"{name}: {fp['array']!r} must be (K, 2)"
        assert kinds.shape == (pos.shape[0],) and np.issubdtype(kinds.dtype, np.integer), \
            f"{name}: {fp['kinds']!r} must be (K,) integers, one per fixed point"


def _centre(spec, state):
    """The middle of a phase view's first field grid (else of its declared limits, else the origin)."""
    fields = spec.get("fields", [])
    if fields:
        x, y = np.asarray(state[fields[0]["x"]]), np.asarray(state[fields[0]["y"]])
        return float(x.mean()), float(y.mean())
    xlim, ylim = spec.get("xlim", (0, 0)), spec.get("ylim", (0, 0))
    return float(np.mean(xlim)), float(np.mean(ylim))


def test_colormap_aliases_resolve():
    from attractor_lab.widgets.views import colormap

    grey = colormap("gray").map(np.array([0.0, 1.0]), mode="byte")
    assert grey[0][:3].tolist() != grey[1][:3].tolist()
    assert colormap("no-such-map").name == colormap("viridis").name


@pytest.mark.gl
def test_surface_frame_toggle_and_following_levels(qtbot, monkeypatch):
    from PySide6 import QtGui

    from attractor_lab.widgets.views import SurfaceFrame

    if QtGui.QGuiApplication.platformName() in ("offscreen", "minimal"):
        pytest.fail("OpenGL tests need QT_QPA_PLATFORM=xcb under Xvfb (make test sets it)")
    monkeypatch.setenv("ATTRACTOR_LAB_3D", "off")
    frame = SurfaceFrame({"kind": "surface", "array": "u", "levels": None, "title": "u"})
    qtbot.addWidget(frame)
    frame.resize(500, 400)
    frame.show()
    qtbot.waitExposed(frame)
    assert frame.surface is None and frame.toggle.text() == "Show 3D"
    y, x = np.mgrid[0:64, 0:64]
    bump = np.exp(-((x - 32) ** 2 + (y - 32) ** 2) / 60.0).astype(np.float32)
    frame.update_frame({"u": 0.01 * bump}, {}, {}, 0.0)
    frame.toggle.setChecked(True)  # the user asks for 3D: canvas made, last field drawn
    assert frame.surface is not None
    assert (frame.window3d is not None) == frame.detached  # software OpenGL: a window of its own
    qtbot.waitExposed(frame.surface)
    assert frame.surface.levels == pytest.approx((0.0, 0.01), abs=1e-4)
    frame._last = 0.0
    frame.update_frame({"u": 5.0 * bump}, {}, {}, 1.0)  # the pattern grew: levels follow
    assert frame.surface.levels == pytest.approx((0.0, 5.0), abs=1e-3)
    img = frame.surface.render_image()
    assert img[..., :3].std() > 5  # a relief, not a blank canvas
    frame.toggle.setChecked(False)
    assert frame.surface is None and frame.window3d is None and frame.note.isVisible()


def test_image_levels_fixed_or_following(qtbot):
    from attractor_lab.widgets.views import ImageView

    view = ImageView({"kind": "image", "array": "u", "levels": [0.0, 1.0]})
    qtbot.addWidget(view)
    assert not view.auto_box.isChecked()
    view.update_frame({"u": np.full((8, 8), 0.5)}, {}, {}, 0.0)
    view.update_frame({"u": np.linspace(0, 5, 64).reshape(8, 8)}, {}, {}, 1.0)
    assert tuple(view.bar.levels()) == pytest.approx((0.0, 1.0))  # fixed: declared levels kept
    view.auto_box.setChecked(True)
    u = np.linspace(2, 5, 64).reshape(8, 8)
    view.update_frame({"u": u}, {}, {}, 2.0)
    # following the frame, robustly (0.5-99.5 percentiles)
    assert tuple(view.bar.levels()) == pytest.approx(tuple(np.percentile(u, [0.5, 99.5])))
    view.auto_box.setChecked(False)  # freeze what is shown
    view.update_frame({"u": np.linspace(0, 9, 64).reshape(8, 8)}, {}, {}, 3.0)
    assert tuple(view.bar.levels()) == pytest.approx(tuple(np.percentile(u, [0.5, 99.5])))


def test_side_by_side_fields_share_a_centred_scale(qtbot):
    """The operator race drew solver (±1.8) and operator (±3.3) on separate automatic scales and
    its difference map with white at −0.15: a shared, zero-centred scale now (levels_from,
    symmetric); a field at rest is white, not saturated."""
    from attractor_lab.widgets.views import ImageView

    spec = {"kind": "image", "array": "solver", "symmetric": True, "levels_from": ["operator"]}
    solver, diff = ImageView(spec), ImageView({"kind": "image", "array": "d", "symmetric": True})
    for v in (solver, diff):
        qtbot.addWidget(v)
    frame = {"solver": np.linspace(-1.8, 1.2, 64).reshape(8, 8), "operator": np.linspace(-3.3, 0.5, 64).reshape(8, 8),
             "d": np.linspace(-0.31, 0.02, 64).reshape(8, 8)}
    solver.update_frame(frame, {}, {}, 0.0)
    diff.update_frame(frame, {}, {}, 0.0)
    both = np.abs(np.concatenate([frame["solver"].ravel(), frame["operator"].ravel()]))
    top = np.percentile(both, 99.5)  # robust: the 99.5th percentile of |values| of both fields
    assert tuple(solver.bar.levels()) == pytest.approx((-top, top))
    assert 3.2 < top <= 3.3
    top = np.percentile(np.abs(frame["d"]), 99.5)
    assert tuple(diff.bar.levels()) == pytest.approx((-top, top))
    diff.update_frame({"d": np.zeros((8, 8))}, {}, {}, 1.0)  # at rest
    lo, hi = diff.bar.levels()
    assert lo < 0 < hi and lo == pytest.approx(-hi)


def test_auto_aspect_keeps_fields_square_and_lets_kymographs_stretch(qtbot):
    """The operator race serves a 64² vorticity and a 40 × 256 Burgers kymograph in one view: the
    kymograph was drawn as a thin strip (about 50 px tall in a 400 px panel)."""
    from attractor_lab.widgets.views import ImageView

    view = ImageView({"kind": "image", "array": "u", "aspect": "auto"})
    qtbot.addWidget(view)
    view.update_frame({"u": np.zeros((64, 64))}, {}, {}, 0.0)
    assert view.plot.getViewBox().state["aspectLocked"]
    view.update_frame({"u": np.zeros((40, 256))}, {}, {}, 1.0)
    assert not view.plot.getViewBox().state["aspectLocked"]


def test_views_in_a_row_share_its_width_equally(qtbot):
    """Three images of equal size side by side (a race: solver, operator, difference) get equal
    widths, whatever their titles and colour bars ask for."""
    from attractor_lab.widgets.views import ViewGrid

    specs = [{"kind": "image", "array": name, "title": title, "colormap": "RdBu"} for name, title in
             (("solver", "solver (paint to restart both sides; Burgers: x across, time up)"),
              ("operator", "neural operator (paint to restart both sides)"), ("difference", "op − solver"))]
    grid = ViewGrid()
    qtbot.addWidget(grid)
    grid.resize(1200, 500)
    grid.show()
    qtbot.waitExposed(grid)
    grid.set_views(specs)  # as a window does on loading a model: into a grid already shown
    field = np.random.default_rng(0).normal(size=(64, 64))
    grid.update_frame({"solver": field, "operator": 3 * field, "difference": 2 * field}, {}, {}, 0.0)
    qtbot.wait(50)
    widths = [v.width() for v in grid.views]
    assert max(widths) - min(widths) <= 0.05 * max(widths), widths


def test_robust_levels_ignore_a_few_hot_cells_and_keep_the_declared_scale(qtbot):
    """Auto levels from percentiles: one hot cell does not wash the field out; a drift far
    below the field's declared scale (min_range) is drawn pale, not at full saturation; levels
    the user drags on the colour bar stay."""
    from attractor_lab.widgets.views import ImageView

    view = ImageView({"kind": "image", "array": "u"})
    qtbot.addWidget(view)
    u = np.random.default_rng(1).uniform(0.0, 1.0, (64, 64))
    u[3, 5] = 1000.0
    view.update_frame({"u": u}, {}, {}, 0.0)
    lo, hi = view.bar.levels()
    assert hi < 1.01 and lo > -0.01  # the hot cell is not the top of the scale
    still = ImageView({"kind": "image", "array": "w", "symmetric": True, "min_range": 2.0})
    qtbot.addWidget(still)
    still.update_frame({"w": -8e-5 * np.ones((16, 16)) + 1e-6 * np.arange(256).reshape(16, 16)}, {}, {}, 0.0)
    assert tuple(still.bar.levels()) == pytest.approx((-1.0, 1.0))  # the declared scale, not ±8e-5
    still.bar.sigLevelsChangeFinished.emit(still.bar)  # as a drag on the bar ends
    assert not still.auto_box.isChecked()


def test_log_axis_labels_each_tick_once(qtbot):
    """Over more than a decade pyqtgraph lists 0.01 among the decades and again among the
    minor ticks and drew its label twice, over itself (the Navier-Stokes energy panel)."""
    import pyqtgraph as pg

    from attractor_lab.widgets.views import TimeSeriesView

    view = TimeSeriesView({"kind": "timeseries", "observables": ["e"], "logy": True})
    qtbot.addWidget(view)
    axis = view.plot.getPlotItem().getAxis("left")
    for lo, hi in ((-4.0, -1.3), (-25.0, -4.0)):
        raw = [round(float(v), 9) for _, vals in pg.AxisItem.tickValues(axis, lo, hi, 260) for v in vals]
        assert len(raw) > len(set(raw))  # pyqtgraph's own levels repeat values
        ours = [round(float(v), 9) for _, vals in axis.tickValues(lo, hi, 260) for v in vals]
        assert len(ours) == len(set(ours)) and set(ours) == set(raw)


def test_kymograph_fills_its_extent_with_labelled_axes(qtbot):
    """A kymograph (x across, time up) is drawn on its extent in the model's units, filling
    the view whatever the cells' ratio; its axes say x and t (the race's Burgers kymograph
    was a 45 px square in a panel ranging t from -7 to 1)."""
    from attractor_lab.widgets.views import ImageView

    view = ImageView({"kind": "image", "array": "k", "extent": "k_extent", "xlabel": "x", "ylabel": "t",
                      "aspect": "auto"})
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    k = np.random.default_rng(0).normal(size=(40, 256))
    view.update_frame({"k": k, "k_extent": np.array([0.0, 1.0, 2.0, 6.0])}, {}, {}, 0.0)
    (x0, x1), (y0, y1) = view.plot.getViewBox().viewRange()
    assert (x0, x1, y0, y1) == pytest.approx((0.0, 1.0, 2.0, 6.0))
    rect = view.image.mapRectToView(view.image.boundingRect())
    assert (rect.left(), rect.right(), rect.top(), rect.bottom()) == pytest.approx((0.0, 1.0, 2.0, 6.0))
    item = view.plot
    assert item.getAxis("bottom").isVisible() and item.getAxis("bottom").labelText == "x"
    assert item.getAxis("left").labelText == "t"
    view.update_frame({"k": k, "k_extent": np.array([0.0, 1.0, 3.0, 7.0])}, {}, {}, 1.0)  # the window moves on
    assert view.plot.getViewBox().viewRange()[1] == pytest.approx([3.0, 7.0])


def test_exported_image_keeps_its_colour_bar_end_labels(qtbot, tmp_path):
    """The exported PNG's top and bottom rows are margin, so the colour bar's end labels
    ('0.5' at the top, '0' at the bottom) are inside the picture, not cut; the view's own
    layout is as before afterwards."""
    import imageio.v3 as iio

    from attractor_lab.app.main_window import export_view
    from attractor_lab.widgets.views import ImageView

    view = ImageView({"kind": "image", "array": "v", "levels": [0.0, 0.5]})
    qtbot.addWidget(view)
    view.resize(500, 400)
    view.show()
    qtbot.waitExposed(view)
    view.update_frame({"v": np.linspace(0, 0.5, 64 * 64).reshape(64, 64)}, {}, {}, 0.0)
    margins = view.plot.layout.getContentsMargins()
    png = iio.imread(export_view(view, tmp_path / "v.png"))
    assert view.plot.layout.getContentsMargins() == margins
    background = png[0, 0, :3]
    for rows in (png[:6], png[-6:]):
        assert (rows[..., :3] == background).all(), "something is drawn at the picture's edge (a cut label)"
