"""Fused sweep points (engine/sweep/worker.py): points whose model fuses them step as one batch,
and every point's numbers and steps are those it gets alone — with early stops, failures and
points that do not fuse in the same task. Runs the worker's task function directly (no cluster);
test_sweep.py runs a fused sweep on Dask."""

import pytest

from attractor_lab.engine.sweep.spec import loads_sweep
from attractor_lab.engine.sweep.worker import fuse_groups, fuse_order, fuse_width, run_points

SWEEP = """
format_version = 1
seeds = 2
steps = 30
burn_in = 10
sample_every = 2
[base]
model = "hopfield"
seed = 5
[base.params]
neurons = 300
cue_noise = 0.2
[x]
param = "temperature"
values = [0.0, 0.4, 0.8, 1.3]
[y]
param = "load"
values = [0.02, 0.1, 0.3]
[[keep]]
observable = "m_cued"
reduce = "mean"
[[keep]]
observable = "energy"
reduce = "final"
[[keep]]
observable = "m_cued"
reduce = "fraction_above"
threshold = 0.5
"""

#: T = 0 networks freeze within a few sweeps: early_stop settles them while the others go on
EARLY = SWEEP + """
[early_stop]
observable = "m_cued"
window = 3
tolerance = 0.0
"""


def by_index(results):
    return {r["index"]: r for r in results}


@pytest.mark.parametrize("text", [SWEEP, EARLY], ids=["full", "early_stop"])
def test_fused_points_give_the_numbers_they_get_alone(text):
    sweep = loads_sweep(text, "s.toml")
    points = list(range(sweep.n_points))
    alone = by_index(run_points(sweep.dumps(), points, "cpu", fuse=1))
    fused = by_index(run_points(sweep.dumps(), fuse_order(sweep, points), "cpu", fuse=5))
    assert sorted(fused) == points
    for i in points:
        assert fused[i]["ok"] and alone[i]["ok"]
        assert fused[i]["values"] == alone[i]["values"], sweep.point_label(i)
        assert fused[i]["steps"] == alone[i]["steps"], sweep.point_label(i)
    steps = {r["steps"] for r in alone.values()}
    if text is EARLY:  # some stopped early, some ran to the end: both kinds were compared
        assert min(steps) < sweep.steps + sweep.burn_in and max(steps) == sweep.steps
    means = [r["values"]["m_cued.mean"] for r in alone.values()]
    assert max(means) > 0.9 and min(means) < 0.3


def test_groups_follow_the_model_keys():
    sweep = loads_sweep(SWEEP, "s.toml")
    points = list(range(sweep.n_points))  # C order: seeds fastest, then temperature, then load
    groups = fuse_groups(sweep, points, 5)
    loads = [{sweep.point(i)[0]["load"] for i in g} for g in groups]
    assert all(len(s) == 1 for s in loads)  # a batch never mixes networks of different P
    assert sorted(len(g) for g in groups) == [3, 3, 3, 5, 5, 5]
    assert fuse_groups(sweep, points, 1) == [[i] for i in points]
    # ordering puts fusing points side by side (here they already are)
    assert fuse_order(sweep, points) == points


def test_points_that_do_not_fuse_and_failing_points_run_alone_in_the_same_task():
    text = SWEEP.replace('values = [0.02, 0.1, 0.3]', 'values = [0.001, 0.1]').replace(
        "cue_noise = 0.2", "cue_noise = 0.2\ncue_pattern = 2")  # 0.001 × 300: one pattern, cue 2 fails
    sweep = loads_sweep(text, "s.toml")
    points = list(range(sweep.n_points))
    fused = by_index(run_points(sweep.dumps(), points, "cpu", fuse=8))
    failed = [i for i in points if not fused[i]["ok"]]
    assert [sweep.point(i)[0]["load"] for i in failed] == [0.001] * 8
    assert all("only 1 patterns are stored" in fused[i]["error"] for i in failed)
    assert all(fused[i]["ok"] for i in points if i not in failed)
    parallel = loads_sweep(SWEEP.replace("cue_noise = 0.2", 'cue_noise = 0.2\nupdate = "parallel"'), "p.toml")
    assert all(len(g) == 1 for g in fuse_groups(parallel, list(range(parallel.n_points)), 8))


def test_fuse_width_defaults():
    assert fuse_width(None, "cpu") == 1  # the compiled loop, one network at a time
    assert fuse_width(7, "cpu") == 7
    assert fuse_width(0, "cpu") == 1
