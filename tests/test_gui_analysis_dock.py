"""The Analysis dock with a real engine: a preset's [analysis] fills it, Start runs the job with
progress and results drawn as they arrive, Cancel stops it, a click on the orbit diagram sets the
parameter (one undo step), and the plot and data export."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from attractor_lab.engine.shipped import shipped_presets_dir
from tests.gui_helpers import open_window

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):
    win, engine = open_window(qtbot)
    yield win
    win.close()


def _load(qtbot, win, name):
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        assert win.load_preset_file(str(shipped_presets_dir() / f"{name}.toml"))
    dock = win.analysis_dock
    qtbot.waitUntil(lambda: dock.field is not None, timeout=20_000)
    dock.show()
    return dock


def _click_plot(qtbot, view, x, y):
    """A left click on the plot at data coordinates (x, y)."""
    scene = view.box.mapViewToScene(QtCore.QPointF(x, y))
    pos = view.plot.mapFromScene(scene)
    qtbot.mouseClick(view.plot.viewport(), QtCore.Qt.LeftButton, pos=pos)


def test_orbit_diagram_streams_cancels_and_a_click_sets_the_parameter(qtbot, window):
    win = window
    dock = _load(qtbot, win, "custom_rossler_cascade")
    # the preset's table fills the form (not started by itself)
    assert dock.kind() == "orbit" and dock.param_box.currentText() == "c"
    assert (dock.lo_box.value(), dock.hi_box.value()) == (2.0, 6.0)
    assert dock.var_box.currentText() == "x" and dock.count_box.value() == 81
    assert dock.state == "idle" and not dock.view.has_data()
    assert dock.spec()["transient"] == 300.0  # kept from the table though the dock has no field for it
    # open, it is a tab beside the parameters: the views keep their size (tests/test_legibility.py)
    from tests.test_legibility import SIZES, _check_layout, _settle

    assert dock in win.tabifiedDockWidgets(win.param_dock)
    _settle(QtWidgets.QApplication.instance(), win, SIZES[1])
    qtbot.wait(200)
    assert dock.isVisible() and _check_layout(win, "with the Analysis dock open") == []
    # a long job: it fills in chunk by chunk while it runs
    dock.count_box.setValue(400)
    dock.traj_box.setValue(8)
    dock.start_button.click()
    qtbot.waitUntil(lambda: dock.view.has_data(), timeout=60_000)
    assert dock.state == "running"
    assert 0 < dock.progress.value() < 1000
    drawn = dock.view.data()
    assert drawn["param"].size > 0 and 2.0 <= drawn["param"].min() <= drawn["param"].max() < 6.0
    dock.cancel_button.click()
    qtbot.waitUntil(lambda: dock.state == "cancelled", timeout=30_000)
    assert "Cancelled" in dock.status.text() and not dock.cancel_button.isEnabled()
    _shot(dock, "orbit")
    # a click on the diagram at c = 3.3 sets c in the panel (clamped, one undo step)
    before = win.panel.values()["c"]
    assert before == pytest.approx(4.0)
    qtbot.wait(100)
    (_, _), (y0, y1) = dock.view.box.viewRange()
    _click_plot(qtbot, dock.view, 3.3, (y0 + y1) / 2)
    qtbot.waitUntil(lambda: abs(win.panel.values()["c"] - 3.3) < 0.05, timeout=5000)
    assert win._shown["c"] == pytest.approx(win.panel.values()["c"])
    assert dock.view.current_line.value() == pytest.approx(win.panel.values()["c"])
    win.act_undo.trigger()
    assert win.panel.values()["c"] == pytest.approx(4.0)
    assert dock.view.current_line.value() == pytest.approx(4.0)  # the line follows the undo
    # outside the allowed range [1, 20]: clamped
    dock.set_param_from_plot(-5.0)
    assert win.panel.values()["c"] == pytest.approx(1.0)
    # a box dragged over [3.4, 3.6] recomputes that range only: two maxima at c = 3.5
    dock.count_box.setValue(3)
    dock.traj_box.setValue(2)
    dock._extra.update(transient=150.0, record=60.0)  # the preset's keys the form has no field for
    dock.view.range_selected.emit(3.4, 3.6)
    qtbot.waitUntil(lambda: dock.state == "done", timeout=60_000)
    assert (dock.lo_box.value(), dock.hi_box.value()) == (3.4, 3.6)
    data = dock.view.data()
    assert data["param"].min() >= 3.4 and data["param"].max() <= 3.6
    at = np.round(data["value"][np.isclose(data["param"], 3.5)], 2)
    assert len(set(at.tolist())) == 2, sorted(set(at.tolist()))
    _shot(dock, "orbit_zoom")


def test_basins_then_a_bifurcation_diagram_run_to_the_end_and_export(qtbot, window, tmp_path):
    win = window
    dock = _load(qtbot, win, "ode_duffing_basins")
    assert dock.kind() == "basins" and dock.res_box.value() == 100
    assert win.current_preset().analysis["resolution"] == 100  # the preset's table, kept by Save
    assert (dock.px_box.currentText(), dock.py_box.currentText()) == ("x", "v")
    dock.res_box.setValue(32)
    dock.start_button.click()
    qtbot.waitUntil(lambda: dock.state == "done", timeout=60_000)
    assert dock.progress.value() == 1000
    # Save preset keeps the analysis last run (what was computed and how)
    assert win.current_preset().analysis == {"kind": "basins", "plane": ["x", "v"], "box": [-2.0, 2.0, -2.0, 2.0],
                                              "resolution": 32, "time": 60.0, "dt": 0.05}
    data = dock.view.data()
    assert data["labels"].shape == (32, 32) and set(np.unique(data["labels"])) <= {-1, 0, 1}
    assert len(data["fraction"]) == 2 and abs(data["fraction"][0] - 0.5) < 0.06
    assert "2 attractors" in dock.view.legend_label.text()
    # exports: plot PNG/SVG, data CSV/NPZ, each written whole
    for name in ("basins.png", "basins.svg"):
        assert dock.export_plot(tmp_path / name).stat().st_size > 500
    dock.export_data(tmp_path / "basins.npz")
    with np.load(tmp_path / "basins.npz") as z:
        assert np.array_equal(z["labels"], data["labels"])
    dock.export_data(tmp_path / "basins.csv")
    rows = (tmp_path / "basins.csv").read_text().splitlines()
    assert rows[0] == "x,y,label" and len(rows) == 1 + 32 * 32
    with pytest.raises(ValueError, match="use .csv or .npz"):
        dock.export_data(tmp_path / "basins.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["basins.csv", "basins.npz", "basins.png", "basins.svg"]
    _shot(dock, "basins")
    _bifurcation(qtbot, win)


def _shot(dock, name):
    """A look at the dock (not an assertion): ATTRACTOR_LAB_DOCK_SHOT=<folder> keeps PNGs."""
    folder = os.environ.get("ATTRACTOR_LAB_DOCK_SHOT")
    if folder:
        dock.widget().grab().save(os.path.join(folder, f"dock_{name}.png"))


def _bifurcation(qtbot, win):
    """The Brusselator's Hopf point found, marked and labelled; its cycle branch drawn; a click sets b."""
    dock = _load(qtbot, win, "custom_brusselator_hopf")
    assert dock.kind() == "bifurcation"
    name = dock.param_box.currentText()
    dock.lo_box.setValue(1.5)
    dock.hi_box.setValue(2.5)
    dock.start_button.click()
    qtbot.waitUntil(lambda: dock.state in ("done", "error"), timeout=60_000)
    assert dock.state == "done", dock.status.text()
    hopf = [p for p in dock.view.data()["point_param"][dock.view.data()["point_kind"] == "hopf"]]
    assert any(abs(h - 2.0) < 1e-3 for h in hopf), hopf
    texts = [t.toPlainText() for t in dock.view.plot.getPlotItem().items if hasattr(t, "toPlainText")]
    assert any(t.startswith("H 2") for t in texts), texts
    cycle = dock.view.data()["cycle0_max"]  # the cycle born at b = 2 grows from x = 1
    assert cycle.size > 3 and abs(cycle[0] - 1.0) < 0.1 and cycle.max() > 1.3
    _shot(dock, "bifurcation")
    (_, _), (y0, y1) = dock.view.box.viewRange()
    _click_plot(qtbot, dock.view, 2.5, (y0 + y1) / 2)
    qtbot.waitUntil(lambda: abs(win.panel.values()[name] - 2.5) < 0.05, timeout=5000)


def test_view_draws_stable_solid_unstable_dashed_and_labels_points(qtbot):
    """The view alone, fed a branch by hand: x' = r + x² (fold at r = 0), one stable and one
    unstable half, joined at the fold."""
    import pyqtgraph as pg

    from attractor_lab.widgets.analysis_view import AnalysisView

    view = AnalysisView()
    qtbot.addWidget(view)
    view.clear("bifurcation", {"param": "r", "range": [-1.0, 0.5], "variable": 0})
    x = np.linspace(-1.0, 1.0, 9)
    view.add_piece({"what": "equilibria", "branch": 0,
                    "points": [{"kind": "fold", "param": 0.0, "state": [0.0], "frequency": None}]},
                   {"param": -x ** 2, "value": x, "stable": (x < 0).astype(np.int64)})
    curves = [i for i in view.plot.getPlotItem().items if isinstance(i, pg.PlotDataItem) and i.opts["pen"] is not None]
    styles = sorted(pg.mkPen(c.opts["pen"]).style() == QtCore.Qt.DashLine for c in curves)
    assert styles == [False, True]  # one solid run (stable), one dashed (unstable)
    solid = [c for c in curves if pg.mkPen(c.opts["pen"]).style() != QtCore.Qt.DashLine][0]
    dashed = [c for c in curves if pg.mkPen(c.opts["pen"]).style() == QtCore.Qt.DashLine][0]
    assert solid.getData()[1].max() == dashed.getData()[1].min() == 0.0  # the two runs meet: no gap
    texts = [i.toPlainText() for i in view.plot.getPlotItem().items if isinstance(i, pg.TextItem)]
    assert texts == ["LP 0"]
    rows = view.csv_text().splitlines()
    assert rows[0] == "what,branch,param,value,stable" and len(rows) == 1 + 9 + 1 and rows[-1].startswith("fold,,0,")
    # a click emits the parameter under the pointer
    with qtbot.waitSignal(view.param_clicked) as got:
        view._on_click(-0.25, 0.0)
    assert got.args == [-0.25]


def test_a_box_dragged_on_the_orbit_diagram_reports_its_parameter_range(qtbot):
    from attractor_lab.widgets.analysis_view import AnalysisView

    view = AnalysisView()
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.show()
    view.clear("orbit", {"param": "c", "range": [2.0, 6.0], "variable": "x"})
    view.plot.setYRange(-1, 1, padding=0)
    qtbot.wait(50)
    box = view.box

    class Drag:  # pyqtgraph's MouseDragEvent, as far as the view box reads it
        def __init__(self, a, b, finish):
            self.a, self.b, self.finish = box.mapFromView(QtCore.QPointF(*a)), box.mapFromView(QtCore.QPointF(*b)), finish

        def button(self):
            return QtCore.Qt.LeftButton

        def accept(self):
            pass

        def isFinish(self):  # noqa: N802
            return self.finish

        def buttonDownPos(self):  # noqa: N802
            return self.a

        def pos(self):
            return self.b

    before = box.viewRange()[0]
    with qtbot.waitSignal(view.range_selected) as got:
        box.mouseDragEvent(Drag((4.5, 0.5), (3.0, -0.5), False))
        box.mouseDragEvent(Drag((4.5, 0.5), (3.0, -0.5), True))
    assert got.args == [pytest.approx(3.0, abs=1e-6), pytest.approx(4.5, abs=1e-6)]
    assert box.viewRange()[0] == before  # reported, not zoomed: the dock computes the new range
