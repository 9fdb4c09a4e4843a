"""Sweep files: validation before any work (messages name the key), points, round trips, stores."""

import subprocess
import sys
import tomllib

import numpy as np
import pytest

from attractor_lab.engine.sweep.spec import SweepError, check_outputs, loads_sweep, parse_sweep

BASE = """
format_version = 1
seeds = 2
steps = 20
burn_in = 10
[base]
model = "hopfield"
seed = 5
[base.params]
neurons = 256
load = 0.05
[x]
param = "temperature"
start = 0.0
stop = 1.5
count = 4
[y]
param = "load"
values = [0.02, 0.1]
[[keep]]
observable = "m_cued"
reduce = "mean"
"""


def _with(replace: dict | None = None, drop: tuple = (), extra: str = "") -> dict:
    data = tomllib.loads(BASE + extra)
    for key in drop:
        parent, _, leaf = key.rpartition(".")
        (data[parent] if parent else data).pop(leaf)
    for key, value in (replace or {}).items():
        parent, _, leaf = key.rpartition(".")
        (data[parent] if parent else data)[leaf] = value
    return data


def test_points_axes_and_seeds():
    s = parse_sweep(_with(), where="s.toml")
    assert s.shape == (2, 4, 2) and s.n_points == 16
    assert s.seeds == (5, 6)
    params, seed = s.point(0)
    assert params["temperature"] == 0.0 and params["load"] == 0.02 and params["neurons"] == 256 and seed == 5
    params, seed = s.point(15)  # last: y = 0.1, x = 1.5, second seed
    assert params["temperature"] == 1.5 and params["load"] == 0.1 and seed == 6
    params, _ = s.point(1 * 2 + 0)  # (y 0, x 1, seed 0): C order over (y, x, seed)
    assert params["temperature"] == pytest.approx(0.5)
    # the file round-trips with the base inline: the same points
    again = loads_sweep(s.dumps())
    assert [again.point(i) for i in range(16)] == [s.point(i) for i in range(16)]


def test_log_and_integer_axes():
    s = parse_sweep(_with({"x": {"param": "neurons", "start": 100, "stop": 1000, "count": 3, "spacing": "log"}}))
    assert s.axes[0].values == (100, 316, 1000)
    assert all(isinstance(v, int) for v in s.axes[0].values)


@pytest.mark.parametrize("change, key, words", [
    ({"x.param": "temprature"}, "x.param", "not a parameter of hopfield"),
    ({"x.count": 0}, "x.count", "empty"),
    ({"y": {"param": "load", "values": []}}, "y.values", "empty"),
    ({"x.stop": 5.0}, "x.stop", "[0, 3]"),
    ({"y": {"param": "load", "values": [0.02, -0.1]}}, "y.values[1]", "not allowed"),
    ({"x.param": "update"}, "x.param", "numeric"),
    ({"y": {"param": "temperature", "values": [0.1]}}, "y.param", "already the x axis"),
    ({"x": {"param": "neurons", "start": 16, "stop": 20, "count": 10}}, "x.count", "repeat after rounding"),
    ({"x": {"param": "temperature", "start": 0.0, "stop": 1.0, "count": 3, "spacing": "log"}}, "x.spacing", "> 0"),
    ({"burn_in": 20}, "burn_in", "steps − 1"),
    ({"seeds": []}, "seeds", "empty"),
    ({"keep": [{"observable": "m_cued", "reduce": "median"}]}, "keep[0].reduce", "final, mean, fraction_above"),
    ({"keep": [{"observable": "m_cued", "reduce": "fraction_above"}]}, "keep[0].threshold", "threshold"),
    ({"keep": []}, "keep", "list of tables"),
    ({"base": {"model": "hopfield", "params": {"neurons": 3}}}, "neurons", "[16, 4e+06]"),
    ({"base": {"model": "hopfeld"}}, "model", "expected one of"),
    ({"speed": 3}, "speed", "unknown key"),
])
def test_malformed_sweeps_name_the_key(change, key, words):
    with pytest.raises(SweepError) as err:
        parse_sweep(_with(change), where="bad.toml")
    text = str(err.value)
    assert "bad.toml" in text and key in text and words in text, text


def test_outputs_checked_against_the_model():
    s = parse_sweep(_with({"keep": [{"observable": "m_cue", "reduce": "mean"}, {"pattern": "spins"}]}),
                    where="s.toml")
    with pytest.raises(SweepError, match=r"keep\[0\]\.observable.*'m_cue' is not an observable of hopfield"):
        check_outputs(s, {"m_cued", "energy"}, {"spins": (16, 16)})
    s = parse_sweep(_with({"keep": [{"pattern": "overlaps"}]}), where="s.toml")
    with pytest.raises(SweepError, match=r"keep\[0\]\.pattern.*2D fields are: spins"):
        check_outputs(s, {"m_cued"}, {"spins": (16, 16), "overlaps": (12,)})
    s = parse_sweep(_with(extra='[early_stop]\nobservable = "nothing"\ntolerance = 0.01\n'), where="s.toml")
    with pytest.raises(SweepError, match="early_stop.observable"):
        check_outputs(s, {"m_cued"}, {})


def test_base_file_is_found_beside_the_sweep(tmp_path):
    (tmp_path / "p.toml").write_text('format_version = 1\nmodel = "hopfield"\nseed = 3\n[params]\nneurons = 64\n')
    text = BASE.replace('[base]\nmodel = "hopfield"\nseed = 5\n[base.params]\nneurons = 256\nload = 0.05\n', "")
    s = loads_sweep('base = "p.toml"\n' + text, where="s.toml", base_dir=tmp_path)
    assert s.base.params == {"neurons": 64} and s.seeds == (3, 4)
    with pytest.raises(SweepError, match="key 'base': preset file 'q.toml' not found"):
        loads_sweep('base = "q.toml"\n' + text, where="s.toml", base_dir=tmp_path)


def test_cli_refuses_a_bad_sweep_before_any_work(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(BASE.replace('observable = "m_cued"', 'observable = "m_cuedd"'))
    out = tmp_path / "r.zarr"
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "sweep", "run", str(bad), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "bad.toml" in r.stderr and "keep[0].observable" in r.stderr and "'m_cuedd'" in r.stderr
    assert not out.exists()  # refused before the store (or a cluster) was made


def test_store_masks_points_not_done_and_survives_a_reopen(tmp_path):
    from attractor_lab.engine.sweep.store import DONE, FAILED, PENDING, StoreError, StoreWriter, create_store, open_results

    path = tmp_path / "r.zarr"
    attrs = {"model": "hopfield", "axes": [{"param": "temperature", "values": [0.0, 1.0], "spacing": "linear"}],
             "seeds": [0, 1], "outputs": [{"name": "m.mean", "kind": "observable", "observable": "m"}],
             "base_params": {"neurons": 64}, "theory": []}
    create_store(path, (2, 2), ["m.mean"], attrs)
    with StoreWriter(path) as w:
        w.record({"index": 0, "ok": True, "values": {"m.mean": 0.75}, "steps": 10, "seconds": 0.1})
        w.record({"index": 3, "ok": False, "values": {}, "steps": 2, "seconds": 0.1, "error": "ValueError: boom"})
        with pytest.raises(StoreError, match="being written by process"):
            StoreWriter(path)  # one writer at a time
        w.flush()
        mid = open_results(path)  # readable while open
        assert mid.done == 1 and mid.failed == 1
    res = open_results(path)
    assert res.status.tolist() == [[DONE, PENDING], [PENDING, FAILED]]
    assert res.values["m.mean"][0, 0] == 0.75 and np.isnan(res.values["m.mean"][1, 1])
    assert res.errors == {3: "ValueError: boom"}
    centre, spread, count = res.over_seeds("m.mean")
    assert centre[0] == 0.75 and np.isnan(centre[1]) and count.tolist() == [1, 0]
    with StoreWriter(path) as w:  # the lock went with the first writer
        assert w.reset_failed() == 1
    assert open_results(path).failed == 0


def test_cli_new_writes_a_valid_sweep_and_show_prints_and_draws(tmp_path):
    from attractor_lab.engine.sweep.spec import load_sweep
    from attractor_lab.engine.sweep.store import StoreWriter, create_store

    out = tmp_path / "s.toml"
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "sweep", "new", "--from", "presets/hopfield_retrieval.toml",
                        "--x", "temperature:0:1.5:31", "--y", "load:0.01:0.2:20", "--seeds", "3",
                        "--keep", "m_cued:mean", "--keep", "m_cued:above:0.5", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    s = load_sweep(out)
    assert s.shape == (20, 31, 3) and s.base.params["neurons"] == 4096 and s.seeds == (0, 1, 2)
    assert [o.name for o in s.outputs] == ["m_cued.mean", "m_cued.above_0.5"]
    assert s.axes[1].values[0] == 0.01 and s.axes[1].values[-1] == 0.2
    # a bad axis is refused with the key, nothing written
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "sweep", "new", "--from", "presets/hopfield_retrieval.toml",
                        "--x", "temperature:0:9:5", "--out", str(tmp_path / "t.toml")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "x.stop" in r.stderr and not (tmp_path / "t.toml").exists()

    store = tmp_path / "r.zarr"
    attrs = {"model": "hopfield", "title": "tiny", "steps": 10, "burn_in": 5,
             "axes": [{"param": "temperature", "values": [0.0, 1.0], "spacing": "linear", "unit": ""},
                      {"param": "load", "values": [0.05], "spacing": "linear", "unit": ""}],
             "seeds": [0, 1], "outputs": [{"name": "m.mean", "kind": "observable", "observable": "m_cued"}],
             "base_params": {}, "theory": [{"name": "T_M", "x": [0.5, 0.6], "y": [0.0, 0.1]}], "versions": {}}
    create_store(store, (1, 2, 2), ["m.mean"], attrs)
    with StoreWriter(store) as w:
        for i, v in enumerate([0.9, 1.0, 0.1, 0.2]):
            w.record({"index": i, "ok": i != 3, "values": {"m.mean": v}, "steps": 10, "seconds": 0.1,
                      "error": "RuntimeError: x"})
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "sweep", "show", str(store)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "3 done, 1 failed" in r.stdout and "0.95" in r.stdout and "0.1" in r.stdout  # seed means
    assert "#3 (temperature = 1, load = 0.05, seed 1): RuntimeError: x" in r.stdout
    png = store.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
