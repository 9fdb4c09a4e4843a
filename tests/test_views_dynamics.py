"""Views of the dynamical-systems family: phase portraits, values tables, log
axes and histograms (pyqtgraph, any Qt platform), and the window's click plumbing."""

import math

import numpy as np
import pytest

pytestmark = pytest.mark.gui

GX = np.linspace(-3.0, 3.0, 13)      # spacing 0.5
GY = np.linspace(-1.0, 1.0, 9)       # spacing 0.25: a non-square cell on purpose
FIELD_SPEC = {"x": "gx", "y": "gy", "u": "u", "v": "v", "name": "true"}


def _rotation():
    """u = -y, v = 4x (an ellipse centre): zero at the origin, speed growing outwards."""
    x, y = np.meshgrid(GX, GY)
    return -y, 4.0 * x


def _phase(qtbot, spec, size=(600, 500)):
    from attractor_lab.widgets.views import make_view

    view = make_view({"kind": "phase", "title": "phase", **spec})
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    return view


def _arrows(view, field=0):
    """Every arrow drawn for a field: (n, 3, 2, 2) = arrow, segment, end, (x, y)."""
    chunks = []
    for item in view.field_items[field]:
        x, y = item.getData()
        if x is not None and len(x):
            chunks.append(np.stack([x, y], axis=-1).reshape(-1, 3, 2, 2))
    return np.concatenate(chunks) if chunks else np.empty((0, 3, 2, 2))


def test_phase_arrows_point_along_the_field(qtbot):
    from attractor_lab.widgets.phase_view import ARROW_LENGTH

    view = _phase(qtbot, {"fields": [FIELD_SPEC]})
    u, v = _rotation()
    view.update_frame({"gx": GX, "gy": GY, "u": u, "v": v}, {}, {}, 0.0)
    arrows = _arrows(view)
    assert len(arrows) == GX.size * GY.size - 1  # no arrow where the field vanishes
    shaft = arrows[:, 0]
    centre = shaft.mean(axis=1)
    # every shaft is centred on a grid point ...
    j = np.rint((centre[:, 0] - GX[0]) / 0.5).astype(int)
    i = np.rint((centre[:, 1] - GY[0]) / 0.25).astype(int)
    np.testing.assert_allclose(centre, np.stack([GX[j], GY[i]], axis=-1), atol=1e-9)
    # ... points along (u, v) there (parallel, same sense) ...
    d = shaft[:, 1] - shaft[:, 0]
    fu, fv = u[i, j], v[i, j]
    cross = d[:, 0] * fv - d[:, 1] * fu
    assert np.abs(cross).max() < 1e-9 * np.abs(d).max() * np.hypot(fu, fv).max()
    assert (d[:, 0] * fu + d[:, 1] * fv > 0).all()
    # ... and is ARROW_LENGTH of a cell long, in cell units
    assert np.hypot(d[:, 0] / 0.5, d[:, 1] / 0.25) == pytest.approx(ARROW_LENGTH)
    # both barbs start at the tip and point backwards
    for barb in (1, 2):
        np.testing.assert_allclose(arrows[:, barb, 0], shaft[:, 1])
        back = arrows[:, barb, 1] - arrows[:, barb, 0]
        assert (back[:, 0] * fu + back[:, 1] * fv < 0).all()
    # the fastest arrows are the most opaque, the slowest the faintest
    speed = np.hypot(u, v)
    top = view.field_items[0][-1].getData()[0].reshape(-1, 6)
    assert len(top) >= 1
    alphas = [item.opts["pen"].color().alphaF() for item in view.field_items[0]]
    assert alphas == sorted(alphas) and alphas[0] < alphas[-1]
    first = view.field_items[0][0].getData()
    slow = np.stack(first, -1).reshape(-1, 3, 2, 2)[:, 0].mean(1)  # centres of the faintest arrows
    jj = np.rint((slow[:, 0] - GX[0]) / 0.5).astype(int)
    ii = np.rint((slow[:, 1] - GY[0]) / 0.25).astype(int)
    assert speed[ii, jj].max() < 0.5 * speed.max()
    # the view shows the grid, half a cell around it
    (x0, x1), (y0, y1) = view.view_box.viewRange()
    assert (x0, x1, y0, y1) == pytest.approx((-3.25, 3.25, -1.125, 1.125), abs=1e-6)


def test_two_fields_in_distinct_colours_and_a_new_grid_reranges(qtbot):
    view = _phase(qtbot, {"fields": [FIELD_SPEC, {**FIELD_SPEC, "u": "u2", "v": "v2", "name": "learned"}]})
    u, v = _rotation()
    view.update_frame({"gx": GX, "gy": GY, "u": u, "v": v, "u2": -u, "v2": -v}, {}, {}, 0.0)
    a, b = _arrows(view, 0), _arrows(view, 1)
    assert len(a) == len(b)
    np.testing.assert_allclose(a[:, 0, 0], b[:, 0, 1])  # the opposite field: tails and tips swap
    colour = [view.field_items[k][-1].opts["pen"].color().name() for k in (0, 1)]
    assert colour[0] != colour[1]
    labels = [label.text for _, label in view.legend.items]
    assert any("true" in t for t in labels) and any("learned" in t for t in labels)
    view.view_box.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)  # the user zooms in
    view.update_frame({"gx": GX, "gy": GY, "u": u, "v": v, "u2": u, "v2": v}, {}, {}, 1.0)
    assert view.view_box.viewRange()[0] == pytest.approx([0, 1])  # same grid: the user's zoom stays
    view.update_frame({"gx": 2 * GX, "gy": GY, "u": u, "v": v}, {}, {}, 2.0)  # a parameter widened the window
    assert view.view_box.viewRange()[0] == pytest.approx([-6.5, 6.5])


def test_trajectories_heads_and_range_that_ignores_runaways(qtbot):
    view = _phase(qtbot, {"fields": [FIELD_SPEC], "trajectories": [{"array": "traj", "name": "runs"}]})
    u, v = _rotation()
    t = np.linspace(0, 1, 50)
    traj = np.full((3, 50, 2), np.nan)
    traj[0] = np.stack([t, t], -1)
    traj[1, :20] = np.stack([-t[:20], 1e6 * t[:20]], -1)  # flies off, NaN-padded tail
    traj[2, :] = np.nan                                    # nothing yet
    view.update_frame({"gx": GX, "gy": GY, "u": u, "v": v, "traj": traj}, {}, {}, 0.0)
    curve, heads = view.trajectory_items[0]
    x, y = curve.getData()
    assert np.isfinite(x).sum() == 50 + 20
    hx, hy = heads.getData()
    assert sorted(zip(hx.tolist(), hy.tolist())) == sorted([(1.0, 1.0), (-t[19], 1e6 * t[19])])
    (x0, x1), (y0, y1) = view.view_box.viewRange()
    assert y1 == pytest.approx(1.125)  # the runaway does not rescale the view
    view.update_frame({"traj": traj[0]}, {}, {}, 1.0)  # (T, 2) works too
    hx, hy = heads.getData()
    assert hx.tolist() == [1.0] and hy.tolist() == [1.0]


def test_fixed_points_coloured_by_stability_filled_only_when_stable(qtbot):
    from attractor_lab.widgets.phase_view import STABILITY, UNKNOWN_STABILITY_COLOR

    view = _phase(qtbot, {"fixed_points": [{"array": "fp", "kinds": "kinds", "name": "fixed points"}]})
    pos = np.array([[0.0, 0.0], [1.0, 0.5], [-1.0, -0.5], [2.0, 1.0], [0.5, -1.0]])
    kinds = np.array([2, 0, 1, 3, 9], dtype=np.int32)
    view.update_frame({"fp": pos, "kinds": kinds}, {}, {}, 0.0)
    spots = view.fixed_items[0].points()
    assert len(spots) == 5
    for spot, (x, y), code in zip(spots, pos, kinds):
        assert (spot.pos().x(), spot.pos().y()) == (x, y)
        expected = STABILITY[code][1] if code in STABILITY else UNKNOWN_STABILITY_COLOR
        if code == 0:  # stable: filled in its colour
            assert spot.brush().color().name() == expected and spot.brush().color().alpha() == 255
        else:  # every other kind an open ring in its colour (pplane's convention)
            assert spot.brush().color().alpha() == 0
            assert spot.pen().color().name() == expected
    # the legend says which colour is which, filled or open as on the data
    legend = {label.text: sample.item for sample, label in view.legend.items}
    for code, (label, colour) in STABILITY.items():
        sample = legend[label].opts
        if code == 0:
            assert sample["brush"].color().name() == colour
        else:
            assert sample["brush"].color().alpha() == 0 and sample["pen"].color().name() == colour
    # without fields the first frame's data set the range once
    (x0, x1), (y0, y1) = view.view_box.viewRange()
    assert x0 <= -1.0 and x1 >= 2.0 and y0 <= -1.0 and y1 >= 1.0


def _click_at(qtbot, view, x, y):
    from PySide6 import QtCore

    pixel = view.plot.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(x, y)))
    qtbot.mouseClick(view.plot.viewport(), QtCore.Qt.LeftButton, pos=pixel)


def test_a_click_emits_data_coordinates(qtbot):
    from PySide6 import QtCore

    view = _phase(qtbot, {"fields": [FIELD_SPEC], "click": "launch"})
    u, v = _rotation()
    view.update_frame({"gx": GX, "gy": GY, "u": u, "v": v}, {}, {}, 0.0)
    got = []
    view.clicked.connect(lambda *args: got.append(args))
    _click_at(qtbot, view, 1.75, -0.4)
    assert len(got) == 1
    target, x, y = got[0]
    assert target == "launch"
    assert abs(x - 1.75) < 0.5 and abs(y + 0.4) < 0.25  # within a grid cell (a pixel, really)
    assert abs(x - 1.75) < 0.05 and abs(y + 0.4) < 0.02
    # a drag pans; it is no click
    w = view.plot.viewport()
    start = view.plot.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(0.0, 0.0)))
    qtbot.mousePress(w, QtCore.Qt.LeftButton, pos=start)
    for k in range(1, 6):
        qtbot.mouseMove(w, start + QtCore.QPoint(12 * k, 8 * k))
    qtbot.mouseRelease(w, QtCore.Qt.LeftButton, pos=start + QtCore.QPoint(60, 40))
    assert len(got) == 1
    # a view that declares no click emits nothing
    quiet = _phase(qtbot, {"fields": [FIELD_SPEC]})
    quiet.update_frame({"gx": GX, "gy": GY, "u": u, "v": v}, {}, {}, 0.0)
    heard = []
    quiet.clicked.connect(lambda *args: heard.append(args))
    _click_at(qtbot, quiet, 0.5, 0.5)
    assert heard == []


def test_values_table_shows_the_engine_numbers(qtbot):
    from attractor_lab.widgets.views import make_view

    names = ["nfe", "accepted", "rejected", "error", "energy", "missing", "huge"]
    view = make_view({"kind": "values", "observables": names, "title": "solver"})
    qtbot.addWidget(view)
    obs = {"nfe": 123456789012, "accepted": 41.0, "rejected": np.int64(0), "error": 1.234567891e-5,
           "energy": float("nan"), "huge": 2.0**60}
    view.update_frame({}, obs, {}, 0.0)
    shown = {n: view.value_text(n) for n in names}
    assert shown == {"nfe": "123456789012", "accepted": "41", "rejected": "0", "error": "1.23457e-05",
                     "energy": "—", "missing": "—", "huge": "1.15292e+18"}
    view.update_frame({}, {"nfe": 123456789013}, {}, 1.0)
    assert view.value_text("nfe") == "123456789013"


def test_log_axes_survive_non_positive_values(qtbot):
    from attractor_lab.widgets.views import make_view

    ts = make_view({"kind": "timeseries", "observables": ["err"], "logy": True})
    lines = make_view({"kind": "lines", "logx": True, "logy": True, "xlim": [1e-2, 1e2],
                       "series": [{"x": "h", "y": "e", "name": "error"}],
                       "points": [{"x": "h_now", "y": "e_now", "name": "now"}]})
    for v in (ts, lines):
        qtbot.addWidget(v)
        v.resize(400, 300)
        v.show()
    assert ts.plot.getPlotItem().ctrl.logYCheck.isChecked()
    assert not ts.plot.getPlotItem().ctrl.logXCheck.isChecked()
    assert ts.plot.getPlotItem().getAxis("left").logMode
    for k, value in enumerate([1e-3, 0.0, -1.0, 1e-6, 1e-1]):
        ts.update_frame({}, {"err": value}, {}, float(k + 1))
    x, y = ts.curves["err"].getData()  # log-mapped display data: log10 of the positive values
    assert np.allclose(y[np.isfinite(y)], [-3, -6, -1])
    assert np.isfinite(ts.plot.getPlotItem().getViewBox().viewRange()).all()

    ctrl = lines.plot.getPlotItem().ctrl
    assert ctrl.logXCheck.isChecked() and ctrl.logYCheck.isChecked()
    assert lines.plot.getPlotItem().getViewBox().viewRange()[0] == pytest.approx([-2, 2])  # xlim in decades
    h = np.logspace(-2, 2, 9)
    lines.update_frame({"h": h, "e": np.where(h < 1, h**2, 0.0)}, {"h_now": 10.0, "e_now": 1e-4}, {}, 0.0)
    _, marker = lines.points[0]
    mx, my = marker.getData()
    assert (mx[0], my[0]) == pytest.approx((1.0, -4.0))  # markers follow the log axes
    lines.update_frame({"h": h, "e": h}, {"h_now": -1.0, "e_now": 1.0}, {}, 1.0)
    assert len(marker.getData()[0]) == 0  # a marker at x ≤ 0 cannot be shown on a log axis


def test_step_histogram_and_point_series(qtbot):
    from attractor_lab.widgets.views import make_view

    view = make_view({"kind": "lines", "series": [
        {"x": "edges", "y": "counts", "name": "histogram", "step": True},
        {"x": "px", "y": "py", "name": "samples", "symbol": "o"}]})
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    edges = np.linspace(0.0, 1.0, 6)
    counts = np.array([1.0, 4.0, 2.0, 0.0, 3.0])
    view.update_frame({"edges": edges, "counts": counts, "px": np.arange(3.0), "py": np.ones(3)}, {}, {}, 0.0)
    (_, hist), (_, pts) = view.curves
    assert hist.opts["stepMode"] == "center"
    assert hist.opts["fillLevel"] == 0.0 and hist.opts["fillBrush"] is not None
    x, y = hist.getData()
    assert len(x) == len(y) + 1 and np.array_equal(x, edges) and np.array_equal(y, counts)
    rect = hist.curve.getPath().boundingRect()  # the drawn steps, in data coordinates
    assert (rect.left(), rect.right(), rect.top(), rect.bottom()) == pytest.approx((0.0, 1.0, 0.0, 4.0))
    assert pts.opts["pen"] is None and pts.opts["symbol"] == "o"
    assert len(pts.scatter.points()) == 3
    # bin centres instead of edges: edges half-way between them
    view.update_frame({"edges": np.array([0.1, 0.3, 0.5, 0.7, 0.9]), "counts": counts}, {}, {}, 1.0)
    assert hist.getData()[0] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])


def test_phase_view_exports_as_png(qtbot, tmp_path):
    import imageio.v3 as iio

    from attractor_lab.app.main_window import export_view

    view = _phase(qtbot, {"fields": [FIELD_SPEC], "fixed_points": [{"array": "fp", "kinds": "k", "name": "fp"}]})
    u, v = _rotation()
    view.update_frame({"gx": GX, "gy": GY, "u": u, "v": v, "fp": np.zeros((1, 2)), "k": np.array([3])}, {}, {}, 0.0)
    path = export_view(view, tmp_path / "phase.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = iio.imread(path)
    assert image.shape[0] > 100 and image.shape[1] >= 400
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 20  # arrows, markers, axes: not blank
    svg = export_view(view, tmp_path / "phase.svg")
    assert b"<svg" in svg.read_bytes()[:2000]


def test_window_sends_clicks_and_shows_refusals(qtbot):
    """A view's clicked() becomes a click request; an error reply lands in the status bar."""
    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow

    win = MainWindow(QtEngine())  # never started: requests are captured below
    qtbot.addWidget(win)
    sent = []
    win.engine.request = lambda verb, content=None, on_reply=None, on_error=None, **kw: sent.append(
        (verb, content, on_error))
    views = [{"kind": "phase", "title": "portrait", "fields": [FIELD_SPEC], "click": "launch"},
             {"kind": "values", "observables": ["nfe"]}]
    describe = {"name": "toy", "title": "Toy", "description": "", "params": [], "views": views, "steps_per_frame": 0}
    win._on_loaded({"describe": describe, "params": {}}, seed=0, run=False)
    phase = next(v for v in win.grid.views if v.spec["kind"] == "phase")
    sent.clear()
    phase.clicked.emit("launch", 0.25, -1.5)
    verb, content, on_error = sent[-1]
    assert verb == "click" and content == {"target": "launch", "x": 0.25, "y": -1.5}
    on_error("ValueError: model 'toy' does not take clicks on 'launch'")
    assert "does not take clicks" in win.statusBar().currentMessage()
    assert not math.isnan(content["x"])


def test_log_axis_labels_only_1_2_5_where_a_decade_is_crowded(qtbot):
    """pyqtgraph labels every minor tick 1–9 of a decade; on a short vertical log axis 0.006,
    0.007, 0.008, 0.009 were printed over each other (seen in the step-size view). Both log
    axes keep the text of mantissas 1, 2 and 5 only, and keep their axis labels."""
    from attractor_lab.widgets.views import _LogAxis, make_view

    view = make_view({"kind": "timeseries", "observables": ["h"], "logy": True, "ylabel": "accepted step h",
                      "xlabel": "time"})
    qtbot.addWidget(view)
    item = view.plot.getPlotItem()
    left = item.getAxis("left")
    assert isinstance(left, _LogAxis) and "accepted step h" in left.labelText
    values = np.log10([0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01, 0.02, 0.03, 0.05])
    strings = left.logTickStrings(list(values), 1.0, None)
    shown = [s for s in strings if s]
    assert shown == ["0.005", "0.01", "0.02", "0.05"]
    assert left.logTickStrings(list(values[:3]), 1.0, None) == ["0.003", "0.004", "0.005"]  # few: all


def test_an_empty_field_grid_frames_the_trajectories(qtbot):
    """A 3D system (Lorenz, drawn in its x–z plane) sends an empty vector-field grid: the view
    then frames its trajectories once, instead of keeping the empty grid's 0–1 box (seen: the
    Lorenz butterfly's phase portrait was blank)."""
    view = _phase(qtbot, {"fields": [FIELD_SPEC], "trajectories": [{"array": "traj", "name": "runs"}]})
    s = np.linspace(0, 2 * np.pi, 200)
    traj = np.stack([20 * np.cos(s), 25 + 20 * np.sin(s)], -1)[None]  # x ±20, z 5..45
    empty = {"gx": np.zeros(0), "gy": np.zeros(0), "u": np.zeros((0, 0)), "v": np.zeros((0, 0))}
    view.update_frame({**empty, "traj": traj[:, :20]}, {}, {}, 0.0)  # the start of the run
    (x0, x1), (y0, y1) = view.view_box.viewRange()
    assert x1 < 21 and y0 > 20  # the first frame's data
    view.update_frame({**empty, "traj": traj}, {}, {}, 1.0)  # grown far beyond: refitted
    (x0, x1), (y0, y1) = view.view_box.viewRange()
    assert x0 < -19 and x1 > 19 and y0 < 6 and y1 > 44
    view.update_frame({**empty, "traj": traj * 1.05}, {}, {}, 2.0)  # a little beyond: kept
    assert view.view_box.viewRange() == [[x0, x1], [y0, y1]]


def test_axes_show_plain_numbers_without_an_si_scale(qtbot):
    """pyqtgraph scaled small values into "overlap (x0.001)" running 0–600: every plot's axes
    show the values themselves."""
    from attractor_lab.widgets.views import make_view

    view = make_view({"kind": "lines", "xlabel": "rank k", "ylabel": "overlap",
                      "series": [{"x": "k", "y": "m", "name": "sorted |m|"}]})
    qtbot.addWidget(view)
    view.update_frame({"k": np.arange(1.0, 7.0), "m": np.array([6e-4, 3e-4, 1e-4, 0, 0, 0])}, {}, {}, 0.0)
    for name in ("left", "bottom"):
        axis = view.plot.getPlotItem().getAxis(name)
        assert not axis.autoSIPrefix and axis.autoSIPrefixScale == 1.0
    assert view.plot.getPlotItem().getAxis("left").labelText == "overlap"


def test_legend_names_are_plain_text(qtbot):
    """pyqtgraph renders legend names as HTML: "λ = g − 1 (N → ∞, g < 1)" was cut at its "<"."""
    from PySide6 import QtGui

    from attractor_lab.widgets.views import make_view

    name = "λ = g − 1 (N → ∞, g < 1)"
    view = make_view({"kind": "lines", "series": [{"x": "g", "y": "l", "name": name}]})
    qtbot.addWidget(view)
    legend = view.plot.getPlotItem().legend
    (_, label), = legend.items
    doc = QtGui.QTextDocument()
    doc.setHtml(label.text)
    assert doc.toPlainText() == name


def test_the_legend_lists_only_what_is_drawn(qtbot):
    """A 2D system's "z" (all NaN), a theory line that does not apply, a marker with no value:
    not in the legend; back once they have data."""
    from attractor_lab.widgets.views import make_view

    ts = make_view({"kind": "timeseries", "observables": ["x", "y", "z"]})
    lines = make_view({"kind": "lines", "series": [{"x": "a", "y": "b", "name": "theory"}],
                       "points": [{"x": "px", "y": "py", "name": "now"}]})
    for v in (ts, lines):
        qtbot.addWidget(v)

    def names(view):
        return [label.text for _, label in view.plot.getPlotItem().legend.items]

    ts.update_frame({}, {"x": 1.0, "y": 2.0, "z": float("nan")}, {}, 0.0)
    assert names(ts) == ["x", "y"]
    ts.update_frame({}, {"x": 1.0, "y": 2.0, "z": 3.0}, {}, 1.0)
    assert names(ts) == ["x", "y", "z"]
    lines.update_frame({"a": np.full(3, np.nan), "b": np.full(3, np.nan)}, {"px": float("nan"), "py": 1.0}, {}, 0.0)
    assert names(lines) == []
    lines.update_frame({"a": np.arange(3.0), "b": np.arange(3.0)}, {"px": 1.0, "py": 1.0}, {}, 1.0)
    assert names(lines) == ["theory", "now"]



def test_an_empty_theory_plot_says_why(qtbot):
    from attractor_lab.widgets.views import make_view

    view = make_view({"kind": "lines", "empty_note": "no theory here",
                      "series": [{"x": "a", "y": "b", "name": "AGS"}], "points": [{"x": "px", "y": "py", "name": "now"}]})
    qtbot.addWidget(view)
    view.update_frame({"a": np.full(1, np.nan), "b": np.full(1, np.nan)}, {"px": float("nan"), "py": 0.0}, {}, 0.0)
    assert view.note.isVisible() and "no theory here" in view.note.textItem.toPlainText()
    view.update_frame({"a": np.arange(3.0), "b": np.arange(3.0)}, {"px": 1.0, "py": 0.5}, {}, 1.0)
    assert not view.note.isVisible()
    ts = make_view({"kind": "timeseries", "observables": ["lyapunov"], "empty_note": "off"})
    qtbot.addWidget(ts)
    ts.update_frame({}, {"lyapunov": float("nan")}, {}, 0.0)
    assert ts.note.isVisible()
    ts.update_frame({}, {"lyapunov": 0.9}, {}, 1.0)
    assert not ts.note.isVisible()



def test_lines_of_rounding_noise_are_drawn_flat(qtbot):
    """rate_network_quiet's unit traces (±5e-37 after decay) filled the panel as noise."""
    from attractor_lab.widgets.views import make_view

    view = make_view({"kind": "lines", "series": [{"x": "t", "y": "x1", "name": "unit 1"}]})
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    t = np.linspace(0, 10, 50)
    view.update_frame({"t": t, "x1": 5e-37 * np.sin(t)}, {}, {}, 0.0)
    view.plot.getViewBox().autoRange()
    (_, _), (y0, y1) = view.plot.getViewBox().viewRange()
    assert y1 - y0 >= 1e-6
