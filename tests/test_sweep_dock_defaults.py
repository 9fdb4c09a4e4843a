"""The sweep panel a user can trust (issue 17, item 3): default axes around the values on screen,
a count of 1 is the value on screen, an estimate before Start, failed points with their reason."""

import math

import numpy as np
import pytest

from attractor_lab.app.sweep_dock import axis_candidates, axis_grid, default_axis, duration_text


def _spec(name, kind="float", default=1.0, lo=None, hi=None, log=False, step=None, live=True, shown_when=()):
    return {"name": name, "kind": kind, "default": default, "min": lo, "max": hi, "log": log, "step": step,
            "live": live, "shown_when": [list(s) for s in shown_when], "unit": "", "help": "", "choices": []}


def _values(axis, integer=False):
    return axis_grid(axis["start"], axis["stop"], axis["count"], axis["spacing"], integer)


@pytest.mark.parametrize("spec, value, expect", [
    (_spec("a", lo=0.01, hi=2.0, step=0.01), 0.75, (0.375, 1.5, "linear")),
    (_spec("b", lo=-0.5, hi=0.5, step=0.005), 0.02, (0.01, 0.04, "linear")),  # never the whole range
    (_spec("eps", lo=1e-4, hi=1.0, log=True), 0.02, (0.01, 0.04, "log")),
    (_spec("a", lo=0.01, hi=2.0, step=0.01), 1.5, (0.75, 2.0, "linear")),  # clipped at the top
    (_spec("b", lo=-0.5, hi=0.5, step=0.005), -0.3, (-0.5, -0.15, "linear")),  # negative: 2×…½, clipped
    (_spec("b", lo=-0.5, hi=0.5, step=0.005), 0.0, (-0.05, 0.05, "linear")),  # 0: ± ten steps
    (_spec("Dv", lo=0.0, hi=1000.0, step=0.1), 0.0, (0.0, 1.0, "linear")),
    (_spec("noise", lo=0.0, hi=1.0), 0.0, (0.0, 0.1, "linear")),
    (_spec("D", lo=0.0, hi=1000.0, default=0.16, step=0.01), 0.16, (0.08, 0.32, "log")),  # the panel's log slider
])
def test_default_axes_sit_around_the_value_inside_the_range(spec, value, expect):
    for count in (7, 5):
        axis = default_axis(spec, value, count)
        assert axis["start"] == pytest.approx(expect[0]) and axis["stop"] == pytest.approx(expect[1])
        assert axis["spacing"] == expect[2]
        grid = _values(axis)
        assert spec["min"] is None or grid.min() >= spec["min"]
        assert spec["max"] is None or grid.max() <= spec["max"]
        assert np.isclose(grid, value, rtol=1e-9, atol=1e-12).any(), (grid, value)  # the value is a point
        assert abs(axis["count"] - count) <= 3


def test_default_axes_of_integers_and_small_counts():
    neurons = _spec("neurons", kind="int", default=4096, lo=16, hi=4_000_000, log=True, live=False)
    axis = default_axis(neurons, 256, 7)
    grid = _values(axis, integer=True)
    assert axis["spacing"] == "log" and grid[0] == 128 and grid[-1] == 512 and 256 in grid
    assert len(set(grid)) == len(grid)
    small = _spec("order", kind="int", default=2, lo=2, hi=8, live=False)
    axis = default_axis(small, 2, 7)
    grid = _values(axis, integer=True)
    assert grid.min() >= 2 and 2 in grid and len(set(grid)) == len(grid)
    pinned = _spec("p", lo=1.0, hi=1.0)
    assert default_axis(pinned, 1.0)["count"] == 1


def test_default_axes_prefer_live_parameters_that_apply():
    params = [_spec("neurons", kind="int", live=False), _spec("load", live=False),
              _spec("temperature"), _spec("fraction", shown_when=[("update", ["subset"])]),
              {"name": "update", "kind": "choice", "default": "sequential"}]
    assert axis_candidates(params, {"update": "sequential"})[:2] == ["temperature", "load"]
    assert axis_candidates(params, {"update": "subset"})[:2] == ["temperature", "fraction"]


def test_durations_read_short():
    assert duration_text(0.42) == "0.42 s" and duration_text(15.2) == "15 s"
    assert duration_text(270) == "4.5 min" and duration_text(3 * 3600) == "3 h" and duration_text(math.nan) == "—"
