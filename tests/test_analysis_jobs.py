"""The engine's ``analyse`` request: analyses of the current model as cancellable jobs streamed in pieces.

An EngineServer runs in this process; a real client talks to it over its
sockets and the test hands each request to the server's handler itself.
The analysis runs in the server's worker thread, as in a real engine.
"""

import time

import numpy as np
import pytest

from attractor_lab.engine import models
from attractor_lab.engine.analysis_spec import check_analysis, check_claims
from attractor_lab.engine.transport.client import EngineError
from attractor_lab.engine.transport.protocol import REQUESTS
from tests.engine_helpers import in_process_engine


@pytest.fixture
def served(tmp_path):
    with in_process_engine(tmp_path) as (server, _client, call):
        yield server, call


def _until_finished(call, job, limit=600):
    pieces, arrays, since, states = [], {}, 0, []
    for _ in range(limit * 10):
        reply, arr = call("analyse", {"action": "poll", "job": job, "since": since})
        states.append((reply["state"], len(reply["pieces"]), reply["progress"]))
        for p in reply["pieces"]:
            pieces.append(p)
            arrays[p["index"]] = {k.split("/", 1)[1]: v for k, v in arr.items() if k.startswith(f"{p['index']}/")}
            since = p["index"]
        if reply["state"] != "running":
            return reply, pieces, arrays, states
        time.sleep(0.1)
    raise AssertionError("the analysis did not finish")


def test_orbit_diagram_streams_in_chunks_and_reports_progress(served):
    server, call = served
    assert "analyse" in REQUESTS
    server.model = models.get("ode_system")(device="cpu", system="duffing", forcing=0.0)
    field, _ = call("analyse", {"action": "describe"})
    assert field["field"]["labels"] == ["x", "v"] and "damping" in field["field"]["params"]
    assert "damping" in field["field"]["active"] and "rho" not in field["field"]["active"]
    spec = {"kind": "orbit", "param": "damping", "range": [0.1, 0.5], "count": 16, "trajectories": 2,
            "transient": 5.0, "record": 5.0, "dt": 0.05}
    started, _ = call("analyse", {"action": "start", "spec": spec})
    reply, pieces, arrays, states = _until_finished(call, started["job"])
    assert reply["state"] == "done", reply
    assert len(pieces) == 8  # 16 values in chunks of 2
    values = np.concatenate([arrays[p["index"]]["values"] for p in pieces])
    assert np.allclose(values, np.linspace(0.1, 0.5, 16))
    assert reply["summary"]["points"] == sum(arrays[p["index"]]["point_value"].size for p in pieces)
    assert reply["progress"] == 1.0


def test_cancel_stops_a_running_analysis(served):
    server, call = served
    server.model = models.get("ode_system")(device="cpu", system="duffing", forcing=0.0)
    spec = {"kind": "basins", "resolution": 200, "time": 10000.0, "dt": 0.01, "box": [-2, 2, -2, 2]}
    started, _ = call("analyse", {"action": "start", "spec": spec})
    job = started["job"]
    reply, _ = call("analyse", {"action": "poll", "job": job})
    assert reply["state"] == "running"
    cancelled, _ = call("analyse", {"action": "cancel", "job": job})
    assert cancelled["cancelled"] == [job]
    reply, pieces, _, _ = _until_finished(call, job, limit=60)
    assert reply["state"] == "cancelled" and pieces == [] and "summary" not in reply


def test_basins_of_the_damped_duffing_in_row_blocks(served):
    server, call = served
    server.model = models.get("ode_system")(device="cpu", system="duffing", forcing=0.0, damping=0.25)
    spec = {"kind": "basins", "resolution": 24, "time": 40.0, "dt": 0.05, "box": [-2, 2, -2, 2]}
    started, _ = call("analyse", {"action": "start", "spec": spec})
    reply, pieces, arrays, _ = _until_finished(call, started["job"])
    assert reply["state"] == "done", reply
    assert len(pieces) > 1  # blocks of rows
    labels = np.concatenate([arrays[p["index"]]["labels"] for p in pieces])
    assert labels.shape == (24, 24)
    att = reply["summary"]["attractors"]
    assert len(att) == 2 and all(0.4 < a["fraction"] < 0.6 for a in att)
    # the labels agree across blocks: the well at x = +1 is one label everywhere
    wells = sorted(round(a["lower"][0]) for a in att)
    assert wells == [-1, 1]
    assert set(np.unique(labels)) == {0, 1}


def test_bad_requests_say_what_is_wrong(served):
    server, call = served
    server.model = models.get("ode_system")(device="cpu", system="duffing", forcing=0.0)
    with pytest.raises(EngineError, match="key 'kind'"):
        call("analyse", {"action": "start", "spec": {"kind": "spiral"}})
    with pytest.raises(EngineError, match="no parameter 'nope'"):
        call("analyse", {"action": "start", "spec": {"kind": "orbit", "param": "nope", "range": [0, 1]}})
    with pytest.raises(EngineError, match="no analysis job 99"):
        call("analyse", {"action": "poll", "job": 99})
    with pytest.raises(EngineError, match="action must be"):
        call("analyse", {"action": "explode"})


@pytest.mark.parametrize("table, key", [
    ({"kind": "orbit", "param": "c"}, "range"),
    ({"kind": "orbit", "param": "c", "range": [3, 1]}, "range"),
    ({"kind": "orbit", "param": "c", "range": [1, 3], "count": 1}, "count"),
    ({"kind": "basins", "box": [1, 0, 0, 1]}, "box"),
    ({"kind": "basins", "param": "c"}, "param"),
    ({"kind": "bifurcation", "param": "c", "range": [0, 1], "cycles": "yes"}, "cycles"),
])
def test_spec_validation_names_the_key(table, key):
    with pytest.raises(ValueError, match=f"key '{key}'"):
        check_analysis(table)


def test_claims_validation():
    assert check_claims({"hopf": [1, 2], "maxima": [[2.5, 1]]}) == {"hopf": [1.0, 2.0], "maxima": [[2.5, 1]]}
    with pytest.raises(ValueError, match="key 'hopff'"):
        check_claims({"hopff": [1, 2]})
    with pytest.raises(ValueError, match="key 'fractions'"):
        check_claims({"fractions": [0.6, 0.4]})


def test_preset_analysis_table_round_trips_and_bad_tables_are_named(tmp_path):
    import tomllib

    from attractor_lab.engine.storage.presets import PresetError, load_preset, parse_preset, shipped_presets_dir

    p = load_preset(shipped_presets_dir() / "custom_rossler_cascade.toml")
    assert p.analysis["kind"] == "orbit" and p.analysis["range"] == [2.0, 6.0] and p.analysis["count"] == 81
    again = parse_preset(tomllib.loads(p.dumps()))
    assert again.analysis == p.analysis and again.contract.analysis == p.contract.analysis
    bad = tmp_path / "bad.toml"
    bad.write_text('format_version = 1\nmodel = "ode_system"\n[analysis]\nkind = "orbit"\nparam = "mu"\nrange = [2, 1]\n')
    with pytest.raises(PresetError, match=r"bad.toml: \[analysis\]: key 'range': expected \[low, high\]"):
        load_preset(bad)
    bad.write_text('format_version = 1\nmodel = "ode_system"\n[contract]\nsteps = 1\n[contract.analysis]\nhopf = [0, 1]\n')
    with pytest.raises(PresetError, match="need the \\[analysis\\] table"):
        load_preset(bad)
