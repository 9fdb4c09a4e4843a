"""The sweep panel (pytest-qt): a small sweep from the window fills the map; a click opens that point live."""

import numpy as np
import pytest

from tests.gui_helpers import open_window

pytestmark = pytest.mark.gui
pytest.importorskip("distributed", reason="the sweep extra is not installed: pip install -e '.[sweep]'")


def _set_axis(editor, param, start, stop, count):
    editor.param.setCurrentIndex(editor.param.findData(param))
    editor.start.setValue(start)
    editor.stop.setValue(stop)
    editor.count.setValue(count)
    editor.log.setChecked(False)


def test_sweep_panel_fills_the_map_and_opens_a_point_live(qtbot, tmp_path):
    from PySide6 import QtCore

    win, _engine = open_window(qtbot)
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        win.load_model("hopfield", {"neurons": 256, "load": 0.05, "cue_noise": 0.1}, 0)
    dock = win.sweep_dock
    dock.folder = tmp_path
    win.sweep_dock.toggleViewAction().trigger()  # View → Sweep
    assert dock.isVisible() and dock.observable.findText("m_cued") >= 0
    _set_axis(dock.x_axis, "temperature", 0.0, 1.2, 4)
    _set_axis(dock.y_axis, "cue_noise", 0.05, 0.25, 3)
    dock.seeds.setValue(1)
    dock.steps.setValue(150)
    dock.burn_in.setValue(50)
    dock.workers.setValue(1)
    dock.observable.setCurrentText("m_cued")
    dock.reduce.setCurrentText("mean")
    updates = []
    dock.map_updated.connect(lambda done, total: updates.append((done, total)))
    assert dock.start()
    assert not dock.start_button.isEnabled() and dock.cancel_button.isEnabled()
    with qtbot.waitSignal(dock.finished, timeout=240_000) as blocker:
        pass
    assert blocker.args[0] == "finished", blocker.args[1]
    assert updates[-1] == (12, 12)
    assert any(0 < done < total for done, total in updates), updates  # seen filling in
    m = dock.results.over_seeds("m_cued.mean")[0]
    assert m.shape == (3, 4) and np.isfinite(m).all()
    assert m[:, 0].min() > 0.9 and m[:, -1].max() < 0.5  # retrieval at T = 0, none at T = 1.2
    np.testing.assert_array_equal(dock.mesh.z, m)  # what is drawn is what is stored
    assert dock.bar is not None and dock.status_label.text().startswith("finished")

    # click the cell at T = 0.8, cue_noise = 0.15 (x index 2, y index 1): that run goes live
    vb = dock.plot.getPlotItem().vb
    pos = dock.plot.mapFromScene(vb.mapViewToScene(QtCore.QPointF(0.8, 0.15)))
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        qtbot.mouseClick(dock.plot.viewport(), QtCore.Qt.LeftButton, pos=pos)
    assert win.params["temperature"] == pytest.approx(0.8) and win.params["cue_noise"] == pytest.approx(0.15)
    assert win.params["neurons"] == 256 and win.seed == 0

    def live():
        frame = win.last_frame[0] if win.last_frame else {}
        p = frame.get("params", {})
        return (frame.get("model") == "hopfield" and abs(p.get("temperature", -1) - 0.8) < 1e-9
                and abs(p.get("cue_noise", -1) - 0.15) < 1e-9 and frame.get("step", 0) > 0)

    try:
        qtbot.waitUntil(live, timeout=20_000)
    except Exception:
        frame = win.last_frame[0] if win.last_frame else {}
        raise AssertionError(f"no live frame of the point: {frame.get('params')}, step {frame.get('step')}, "
                             f"running {win.running}")
    win.close()


def test_sweep_panel_draws_theory_lines_and_maps_clicks_to_cells(qtbot, tmp_path):
    """A store with AGS lines (written directly, no computing): lines drawn in parameter units,
    log axes in their own coordinates, a click's cell and point."""
    from attractor_lab.app.sweep_dock import SweepDock
    from attractor_lab.engine.sweep.store import StoreWriter, create_store

    attrs = {"model": "hopfield", "title": "t",
             "axes": [{"param": "temperature", "values": [0.1, 0.5, 0.9], "spacing": "linear", "unit": ""},
                      {"param": "load", "values": [0.01, 0.1], "spacing": "log", "unit": ""}],
             "seeds": [4], "outputs": [{"name": "m.mean", "kind": "observable", "observable": "m_cued"}],
             "base_params": {"neurons": 64}, "theory": [{"name": "T_M", "x": [1.0, 0.5, None, 0.0],
                                                          "y": [0.0, 0.05, None, 0.138]}]}
    create_store(tmp_path / "r.zarr", (2, 3, 1), ["m.mean"], attrs)
    with StoreWriter(tmp_path / "r.zarr") as w:
        for i in range(5):
            w.record({"index": i, "ok": True, "values": {"m.mean": i / 10}, "steps": 1, "seconds": 0.1})
    dock = SweepDock(folder=tmp_path)
    qtbot.addWidget(dock)
    dock.store = tmp_path / "r.zarr"
    dock.refresh()
    z = dock.mesh.z
    assert z.shape == (2, 3) and z[0, 0] == 0.0 and z[1, 1] == 0.4 and np.isnan(z[1, 2])
    line = dock.items[0]
    assert line.name() == "T_M" and np.isnan(line.xData[2])
    assert dock.cell_at(0.5, np.log10(0.1)) == (1, 1)  # log y: plot coordinates are log10
    assert dock.cell_at(5.0, 0.0) is None
    opened = []
    dock.open_point.connect(lambda model, params, seed: opened.append((model, params, seed)))
    dock.open_cell(2, 1)
    assert opened == [("hopfield", {"neurons": 64, "temperature": 0.9, "load": 0.1}, 4)]


def test_default_sweep_covers_the_values_on_screen_with_an_estimate_and_failed_points_say_why(qtbot, tmp_path):
    """Issue 17, item 3: default axes around the values on screen (and a sweep run with them holds
    them), an estimate before Start, a count of 1 is the value on screen, and a failing point is
    marked with its reason on hover and in the list under the map."""
    from PySide6 import QtCore

    from attractor_lab.engine.sweep.store import FAILED

    win, _engine = open_window(qtbot)
    with qtbot.waitSignal(win.model_loaded, timeout=60_000):
        win.load_model("hopfield", {"neurons": 64, "load": 0.02, "temperature": 0.2, "cue_noise": 0.1}, 0)
    win.set_running(False)  # the live run keeps its core to itself otherwise (a 2-core runner)
    dock = win.sweep_dock
    dock.folder = tmp_path
    dock.workers.setValue(1)
    win.sweep_dock.toggleViewAction().trigger()
    x, y = dock.x_axis.table(), dock.y_axis.table()
    assert (x["param"], y["param"]) == ("temperature", "load")  # live parameters first, then floats
    assert x["start"] == pytest.approx(0.1) and x["stop"] == pytest.approx(0.4)
    assert y["start"] == pytest.approx(0.01) and y["stop"] == pytest.approx(0.04)
    assert dock.n_points() <= 35  # a small default sweep (1 seed)

    # the estimate: one point measured in the background, points × time shown beside Start
    qtbot.waitUntil(lambda: "≈" in dock.estimate_label.text(), timeout=90_000)
    text = dock.estimate_label.text()
    assert text.startswith(f"{dock.n_points()} points × ~") and dock.point_seconds > 0 and "to start" in text, text
    dock.seeds.setValue(2)  # follows the form without measuring again
    assert dock.estimate_label.text().startswith(f"{2 * x['count'] * y['count']} points × ~")
    dock.seeds.setValue(1)

    dock.steps.setValue(40)
    dock.burn_in.setValue(10)
    dock.observable.setCurrentText("m_cued")
    assert dock.start()
    with qtbot.waitSignal(dock.finished, timeout=240_000) as blocker:
        pass
    assert blocker.args[0] == "finished", blocker.args[1]
    res = dock.results
    xs, ys = (np.asarray(a["values"]) for a in res.axes)
    assert xs.min() <= 0.2 <= xs.max() and np.isclose(xs, 0.2).any()  # the values on screen are points
    assert ys.min() <= 0.02 <= ys.max() and np.isclose(ys, 0.02).any()
    assert xs.min() >= 0 and ys.min() > 0 and res.failed == 0 and not dock.failed_list.isVisible()

    # a count of 1 is the value on screen; cue patterns 2 and 3 of a single stored pattern fail
    dock.x_axis.param.setCurrentIndex(dock.x_axis.param.findData("cue_pattern"))
    dock.x_axis.start.setValue(1)
    dock.x_axis.stop.setValue(3)
    dock.x_axis.count.setValue(3)
    dock.y_axis.param.setCurrentIndex(dock.y_axis.param.findData("temperature"))
    dock.y_axis.count.setValue(1)
    assert dock.y_axis.table()["start"] == dock.y_axis.table()["stop"] == pytest.approx(0.2)
    assert not dock.y_axis.start.isEnabled()
    assert dock.start()
    with qtbot.waitSignal(dock.finished, timeout=240_000) as blocker:
        pass
    res = dock.results
    assert res.axes[1]["values"] == [pytest.approx(0.2)] and res.axes[0]["values"] == [1, 2, 3]
    assert res.done == 1 and res.failed == 2 and "2 failed" in blocker.args[1]
    assert dock.failed_list.isVisible() and dock.failed_list.count() == 2
    rows = [dock.failed_list.item(i).text() for i in range(2)]
    assert rows[0].startswith("cue_pattern = 2, temperature = 0.2, seed 0: ") and rows[1].startswith("cue_pattern = 3")
    assert all("only 1 patterns are stored" in r for r in rows), rows
    assert len(dock.failed_marks.data) == 2 and (res.status == FAILED).sum() == 2
    # hovering over the failed point at cue_pattern = 2 shows why
    vb = dock.plot.getPlotItem().vb
    pos = dock.plot.mapFromScene(vb.mapViewToScene(QtCore.QPointF(2.0, 0.2)))
    qtbot.mouseMove(dock.plot.viewport(), pos)
    qtbot.waitUntil(lambda: "only 1 patterns are stored" in dock.plot.toolTip(), timeout=5000)
    assert dock.plot.toolTip().startswith("cue_pattern = 2, temperature = 0.2")
    win.close()
