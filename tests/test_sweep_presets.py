"""Shipped sweeps (presets/sweeps/): each validates against its model; reduced points of two of them
run in-process and show what their descriptions claim (pattern classes with early stop; the
multitasking hierarchy against its theory lines)."""

import tomllib

import numpy as np
import pytest
import tomli_w

from attractor_lab.engine.storage.presets import shipped_presets_dir
from attractor_lab.engine.sweep.execute import check_sweep, theory_for
from attractor_lab.engine.sweep.spec import PATTERN_CODES, load_sweep, loads_sweep
from attractor_lab.engine.sweep.worker import run_point

SWEEPS = sorted((shipped_presets_dir() / "sweeps").glob("*.toml"))


def test_sweeps_are_shipped_for_each_family():
    models = {load_sweep(p).model for p in SWEEPS}
    assert {"hopfield", "gray_scott", "rate_network", "burgers"} <= models


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_shipped_sweep_is_valid(path):
    sweep = load_sweep(path)
    check_sweep(sweep)  # outputs against a real model of the base preset
    assert sweep.title and sweep.description and sweep.n_points > 1


def _reduced(path: str, **changes) -> object:
    data = tomllib.loads(load_sweep(shipped_presets_dir() / "sweeps" / path).dumps())
    for key, value in changes.items():
        if key == "params":
            data["base"]["params"].update(value)
        else:
            data[key] = value
    return loads_sweep(tomli_w.dumps(data), where=path)


def test_gray_scott_map_classifies_spots_and_stops_dead_points_early():
    """At Pearson's cell size on a 48² grid: (F, k) = (0.03, 0.062) grows spots; (0.01, 0.07) dies to
    the uniform state, which the early stop notices long before the 10 000 steps."""
    sweep = _reduced("gray_scott_pattern_map.toml", params={"grid": 48, "length": 1.25 * 48 / 128},
                     x={"param": "k", "values": [0.062, 0.07]}, y={"param": "F", "values": [0.03, 0.01]})
    spots, dead = run_point(sweep, 0, "cpu"), run_point(sweep, 3, "cpu")
    assert spots["ok"] and dead["ok"], (spots["error"], dead["error"])
    assert PATTERN_CODES[int(spots["values"]["pattern.v"])] == "spots" and spots["steps"] == 10_000
    assert PATTERN_CODES[int(dead["values"]["pattern.v"])] == "uniform"
    assert dead["steps"] < 5000 and dead["values"]["mean_v.final"] < 1e-6


def test_multitasking_sweep_follows_the_hierarchy_it_draws():
    sweep = _reduced("hopfield_multitasking_dilution.toml", seeds=[0],
                     x={"param": "pattern_dilution", "values": [0.3, 0.5]})
    lines = {line["observable"]: line for line in theory_for(sweep)}
    assert set(lines) == {"best_overlap", "m_rank_2", "m_rank_3"}
    for i, d in enumerate((0.3, 0.5)):
        r = run_point(sweep, i, "cpu")
        for obs, tol in (("best_overlap", 0.03), ("m_rank_2", 0.06), ("m_rank_3", 0.04)):
            predicted = float(np.interp(d, lines[obs]["x"], lines[obs]["y"]))
            assert abs(r["values"][f"{obs}.final"] - predicted) < tol, (d, obs, r["values"], predicted)
