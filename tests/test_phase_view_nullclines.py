"""The phase view draws the nullclines a model sends, in two colours, named in the key, toggleable;
its axes take the variable names from the model's texts."""

import numpy as np


def _phase(qtbot, spec):
    from attractor_lab.widgets.views import make_view

    view = make_view({"kind": "phase", "title": "phase", **spec})
    qtbot.addWidget(view)
    view.resize(600, 500)
    view.show()
    qtbot.waitExposed(view)
    return view


SPEC = {"xlabel": "first plotted variable", "ylabel": "second plotted variable",
        "xlabel_text": "phase_x", "ylabel_text": "phase_y",
        "nullclines": [{"array": "nc_x", "name": "x-nullcline", "name_text": "nc_x_name"},
                       {"array": "nc_y", "name": "y-nullcline", "name_text": "nc_y_name"}],
        "xlim": [-2, 2], "ylim": [-2, 2]}


def _key(view):
    return {label.text: sample.item for sample, label in view.legend.items}


def test_nullclines_drawn_named_and_toggled(qtbot):
    from attractor_lab.widgets.phase_view import NULLCLINE_COLORS

    view = _phase(qtbot, SPEC)
    x = np.linspace(-2, 2, 50)
    cubic = np.stack([x, x - x ** 3 / 3], -1)
    line = np.array([[0.0, -2.0], [0.0, 2.0], [np.nan, np.nan], [1.0, -2.0], [1.0, 2.0]])
    view.update_frame({"nc_x": cubic, "nc_y": line}, {}, {}, 0.0)
    cx, cy = view.nullcline_items[0].getData()
    np.testing.assert_allclose(cy, cx - cx ** 3 / 3)
    lx, _ = view.nullcline_items[1].getData()
    assert np.isnan(lx).sum() == 1  # two pieces, kept apart
    colours = [c.opts["pen"].color().name() for c in view.nullcline_items]
    assert colours == NULLCLINE_COLORS and colours[0] != colours[1]
    assert set(_key(view)) == {"x-nullcline", "y-nullcline"}
    # the texts name the axes and the curves
    view.set_texts({"phase_x": "V", "phase_y": "w", "nc_x_name": "V-nullcline (dV/dt = 0)",
                    "nc_y_name": "w-nullcline (dw/dt = 0)"})
    item = view.plot.getPlotItem()
    assert item.getAxis("bottom").labelText == "V" and item.getAxis("left").labelText == "w"
    assert set(_key(view)) == {"V-nullcline (dV/dt = 0)", "w-nullcline (dw/dt = 0)"}
    # off from the context menu: hidden and out of the key; on again: back
    assert view.nullclines_action.text() == "Show nullclines" and view.nullclines_action.isChecked()
    view.nullclines_action.trigger()
    assert not any(c.isVisible() for c in view.nullcline_items) and not _key(view)
    view.update_frame({"nc_x": cubic, "nc_y": line}, {}, {}, 0.1)  # stays off across frames
    assert not any(c.isVisible() for c in view.nullcline_items) and not _key(view)
    view.nullclines_action.trigger()
    assert all(c.isVisible() for c in view.nullcline_items) and len(_key(view)) == 2


def test_empty_nullclines_are_not_listed_and_start_hidden_when_asked(qtbot):
    view = _phase(qtbot, {**SPEC, "nullclines_shown": False})
    assert not view.nullclines_action.isChecked()
    view.update_frame({"nc_x": np.zeros((0, 2)), "nc_y": np.zeros((0, 2))}, {}, {}, 0.0)
    assert not _key(view)
    view.set_nullclines_shown(True)
    assert not _key(view)  # nothing to draw (a projection of a 3D system): no entry


def test_model_texts_reach_the_phase_view_through_the_grid(qtbot):
    from attractor_lab.widgets.views import ViewGrid

    grid = ViewGrid()
    qtbot.addWidget(grid)
    grid.set_views([{"kind": "phase", "title": "phase", **SPEC}])
    grid.set_texts({"phase_x": "V", "phase_y": "w"})
    (view,) = grid.views
    assert view.plot.getPlotItem().getAxis("bottom").labelText == "V"
