"""Plots of quantities constant to rounding keep a sensible y span (no magnified noise)."""

import numpy as np
import pytest

from attractor_lab.widgets.views import TimeSeriesView, min_span

pytestmark = pytest.mark.gui


def _y_span(view):
    lo, hi = view.plot.getViewBox().viewRange()[1]
    return hi - lo


def _feed(qtbot, view, values):
    for i, v in enumerate(values):
        view.update_frame({}, {"energy": v}, {}, float(i))
    view.plot.getViewBox().updateAutoRange()
    qtbot.wait(20)


def test_min_span_rule():
    assert min_span(np.array([-0.5, -0.5 + 1e-9])) == pytest.approx(5e-5)
    assert min_span(np.array([0.0, 1e-12])) == 1e-6
    assert min_span(np.empty(0)) == 1e-6


def test_constant_to_rounding_is_drawn_flat(qtbot):
    view = TimeSeriesView({"kind": "timeseries", "observables": ["energy"], "title": "energy"})
    qtbot.addWidget(view)
    view.show()
    rng = np.random.default_rng(0)
    _feed(qtbot, view, -0.5 + 1e-8 * rng.standard_normal(50))
    assert _y_span(view) >= 5e-5 * 0.999  # not zoomed into ±1e-8 of noise

    assert "constant to rounding: -0.5" in view.title_label.text()  # and says so

    # a quantity that really varies: the range follows its recent half (0.5 ... 1, padded)
    view.clear()
    _feed(qtbot, view, np.linspace(0.0, 1.0, 50))
    assert 0.5 < _y_span(view) < 0.7
    assert "constant" not in view.title_label.text()
