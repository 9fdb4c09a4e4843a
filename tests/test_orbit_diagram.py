"""Orbit diagrams: Rössler's period-doubling cascade (one, two, four maxima of x)."""

import numpy as np
import pytest

from attractor_lab.engine.analysis.fields import vector_field
from attractor_lab.engine.analysis.orbit import distinct_values, orbit_diagram

ROSSLER = """dx/dt = -y - z
dy/dt = x + a*y
dz/dt = b + z*(x - c)
par a = 0.2 [0, 0.5], b = 0.2 [0, 2], c = 5.7 [1, 20]
init x = 1, y = 1, z = 1
"""


@pytest.fixture(scope="module")
def rossler():
    return vector_field("custom_ode", equations=ROSSLER)


def test_rossler_period_doubling_maxima(rossler):
    d = orbit_diagram(rossler, "c", [2.5, 3.5, 4.0], variable="x", trajectories=4, transient=150, record=60,
                      dt=0.05)
    counts = [d.distinct(k, tol=1e-2).size for k in range(3)]
    assert counts == [1, 2, 4]
    # every one of the 4 trajectories per value reached the same cycle: each maximum recurs
    for k in range(3):
        assert d.at(k).size >= 4 * 8 and np.all(d.diverged == 0)
    assert abs(d.distinct(0)[0] - 4.7336) < 1e-2  # the period-1 cycle's maximum of x
    assert d.point_param.size == d.point_value.size == d.point_trajectory.size


def test_rossler_section_crossings(rossler):
    d = orbit_diagram(rossler, "c", [2.5, 4.0], variable="x", section=("y", 0.0), trajectories=2,
                      transient=150, record=60, dt=0.05)
    assert [d.distinct(k, tol=1e-2).size for k in range(2)] == [1, 4]
    assert np.all(d.point_value > 0)  # at y = 0, dy/dt = x: an upward crossing has x > 0


def test_range_and_errors(rossler):
    d = orbit_diagram(rossler, "c", range=(2.0, 3.0), count=5, trajectories=2, transient=20, record=20, dt=0.05)
    np.testing.assert_allclose(d.values, [2.0, 2.25, 2.5, 2.75, 3.0])
    with pytest.raises(ValueError, match="no parameter 'q'"):
        orbit_diagram(rossler, "q", [1.0])
    with pytest.raises(ValueError, match="no variable 'w'.*x, y, z"):
        orbit_diagram(rossler, "c", [1.0], variable="w")
    with pytest.raises(ValueError, match="range"):
        orbit_diagram(rossler, "c")


def test_distinct_values_merges_within_tolerance():
    np.testing.assert_allclose(distinct_values([1.0, 1.004, 2.0, 2.009, 5.0], 1e-2), [1.002, 2.0045, 5.0])


def test_gpu_recorder_path_records_the_same_points():
    """The recorder's sync-free path (taken on a GPU) keeps exactly what the CPU path keeps."""
    import torch

    from attractor_lab.engine.analysis.orbit import _Recorder

    t = torch.linspace(0, 60, 3001, dtype=torch.float64)
    series = torch.stack([torch.sin(t), torch.sin(2.1 * t) + 0.3 * torch.cos(5 * t), torch.sin(t) * 0], dim=1)
    paths = series[:, :, None].repeat(1, 1, 2)  # (T, 3 trajectories, 2 components)
    kept = []
    for sync_free in (False, True):
        rec = _Recorder(paths[0], 0, None, sync_free=sync_free)
        for x in paths[1:]:
            rec(x)
        kept.append(rec.points())
    np.testing.assert_array_equal(kept[0][0], kept[1][0])
    np.testing.assert_array_equal(kept[0][1], kept[1][1])
    assert np.sum(kept[0][0] == 0) == 10 and np.allclose(kept[0][1][kept[0][0] == 0], 1.0, atol=1e-6)
    assert np.sum(kept[0][0] == 2) == 0  # a flat series has no maxima
