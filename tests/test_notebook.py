"""The notebook side of issue 18: record, the PNG picture, the runtime folder and a remote Simulation.

No Qt here: the window's side is tests/test_connect_window.py.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time

import numpy as np
import pytest
from PIL import Image

import attractor_lab as al
from attractor_lab.engine.transport.protocol import ConnectionFileError, new_key, write_connection_file
from attractor_lab.engine.transport.runtime import (
    NoEngineFound,
    find_connection_file,
    live_connection_files,
    runtime_dir,
)
from tests.engine_helpers import start_engine, stop_engine


def _decode(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


# ---- the picture ---------------------------------------------------------------------------
@pytest.mark.parametrize("name, params, kind", [
    ("gray_scott", {"grid": 32}, "image"),
    ("burgers", {}, "lines"),
    ("ode_system", {}, "phase"),
])
def test_a_simulation_has_a_png_of_its_primary_view(name, params, kind):
    sim = al.create(name, device="cpu", **params).step(20)
    view = next(v for v in sim.describe()["views"] if v.get("role") == "primary")
    assert view["kind"] == kind
    pixels = _decode(sim._repr_png_())
    h, w, _ = pixels.shape
    assert min(h, w) >= 128  # big enough to look at in a notebook
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) >= 3, f"{name}: the picture is (nearly) uniform"


def test_the_field_picture_shows_the_field():
    """The field's colours, not a placeholder: a cell set high is drawn in the map's top colour."""
    sim = al.create("gray_scott", grid=32, device="cpu")
    v = np.zeros((32, 32), np.float32)
    v[:16] = 0.5  # the view's upper level: top half at the top of the map, bottom half at the bottom
    sim.set_state(v=v)
    pixels = _decode(sim._repr_png_()).astype(int)
    top, bottom = pixels[: pixels.shape[0] // 4].mean((0, 1)), pixels[-pixels.shape[0] // 4:].mean((0, 1))
    assert top[1] > 150 and bottom[1] < 60  # viridis: yellow (green channel high) against dark purple


# ---- record ---------------------------------------------------------------------------------
def test_record_returns_arrays_with_a_leading_time_axis():
    sim = al.create("gray_scott", grid=24, device="cpu").step(3)
    rec = sim.record(steps=40, every=10, arrays=["v", "u"])
    assert rec["v"].shape == (5, 24, 24) and rec["u"].shape == (5, 24, 24)
    assert rec["step"].tolist() == [3, 13, 23, 33, 43]
    dt = sim.params["dt"]
    np.testing.assert_allclose(rec["t"], np.array([3, 13, 23, 33, 43]) * dt, rtol=1e-9)
    assert rec["mean_v"].shape == (5,)
    np.testing.assert_allclose(rec["mean_v"], rec["v"].mean(axis=(1, 2)), rtol=1e-4)
    assert not np.array_equal(rec["v"][0], rec["v"][-1])  # snapshots, not five views of one array
    np.testing.assert_array_equal(rec["v"][-1], sim.state()["v"])


def test_record_defaults_and_refusals():
    sim = al.create("ode_system", device="cpu")
    rec = sim.record(steps=4, every=2, observables=False)
    assert sorted(k for k in rec if k not in ("t", "step")) == sorted(sim.describe()["record_fields"])
    with pytest.raises(ValueError, match="no state array named 'nope'.*arrays: "):
        sim.record(steps=2, arrays=["nope"])
    with pytest.raises(ValueError, match="steps = 5 is not a multiple of every = 2"):
        sim.record(steps=5, every=2)
    with pytest.raises(ValueError, match="every must be a positive integer"):
        sim.record(steps=4, every=0)


def test_record_as_xarray_names_what_is_missing_or_gives_a_dataset():
    sim = al.create("gray_scott", grid=16, device="cpu")
    try:
        import xarray  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install xarray"):
            sim.record(steps=2, arrays=["v"], as_xarray=True)
    else:
        ds = sim.record(steps=2, arrays=["v"], as_xarray=True)
        assert ds["v"].dims[0] == "t" and ds["v"].shape == (3, 16, 16) and ds["step"].values.tolist() == [0, 1, 2]


# ---- the runtime folder -------------------------------------------------------------------------
GOOD = {"transport": "tcp", "ip": "127.0.0.1", "command_port": 5000, "state_port": 5001, "hb_port": 5002,
        "signature_scheme": "hmac-sha256", "protocol_version": "2.0"}


def test_connect_finds_no_engine_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTRACTOR_LAB_RUNTIME_DIR", str(tmp_path / "rt"))
    with pytest.raises(NoEngineFound, match="no running Attractor Lab window or engine found.*Connect from Python"):
        al.connect()
    with pytest.raises(ConnectionFileError, match="'engine-1-1.json' not found"):
        al.connect("engine-1-1.json")


def test_stale_and_loose_connection_files_are_passed_over(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTRACTOR_LAB_RUNTIME_DIR", str(tmp_path / "rt"))
    folder = runtime_dir(create=True)
    assert (folder.stat().st_mode & 0o777) == 0o700
    gone = folder / "engine-999999-1.json"  # a window killed with kill -9: its engine's pid is gone
    write_connection_file(gone, {**GOOD, "key": new_key().decode(), "pid": 2**22 + 7})
    loose = folder / "engine-999999-2.json"
    write_connection_file(loose, {**GOOD, "key": new_key().decode(), "pid": os.getpid()})
    os.chmod(loose, 0o644)
    assert live_connection_files() == []
    with pytest.raises(NoEngineFound):
        find_connection_file()
    assert find_connection_file("engine-999999-1") == gone  # a name in the folder, without .json


def test_a_runtime_folder_others_can_write_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "rt"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    monkeypatch.setenv("ATTRACTOR_LAB_RUNTIME_DIR", str(folder))
    with pytest.raises(OSError, match="other users can write to it"):
        runtime_dir(create=True)


# ---- a remote Simulation over a real engine ---------------------------------------------------------
@pytest.fixture
def served(tmp_path, monkeypatch):
    """A headless engine with gray_scott loaded and running, its file in the runtime folder."""
    monkeypatch.setenv("ATTRACTOR_LAB_RUNTIME_DIR", str(tmp_path))
    proc, client = start_engine(tmp_path)
    os.rename(tmp_path / "engine.json", tmp_path / "engine-1-1.json")  # as a window's engine names it
    client.request("load", {"model": "gray_scott", "params": {"grid": 32}, "seed": 1})
    client.request("run", {"fps": 30})
    yield client
    stop_engine(proc, client)


def test_connect_reads_sets_steps_and_records(served, tmp_path):
    sim = al.connect()  # the newest live file of the runtime folder
    try:
        assert sim.connection_file == tmp_path / "engine-1-1.json"
        assert sim.name == "gray_scott" and sim.params["grid"] == 32
        assert sim.set(F=0.0421) == []
        assert served.request("get_state")["params"]["F"] == 0.0421  # the engine has it, for the window too
        assert sim.set(grid=40) == ["grid"]  # structural: waits for reset
        assert sim.pending == {"grid": 40}
        with pytest.raises(ValueError, match="parameter 'F'.*not allowed"):
            sim.set(F=-1)
        sim.step(5)
        start = sim.steps
        sim.step(25)
        assert sim.steps == start + 25  # the live loop was paused: exactly n steps
        assert served.request("get_state")["step"] == start + 25
        state = sim.state()
        assert state["v"].shape == (32, 32) and state["v"].flags.writeable
        rec = sim.record(steps=20, every=10, arrays=["v"])
        assert rec["v"].shape == (3, 32, 32) and rec["step"].tolist() == [start + 25, start + 35, start + 45]
        v = np.zeros((32, 32), np.float32)
        v[:, :16] = 0.5
        sim.set_state(v=v)  # a known field (this run's pattern may have died out)
        np.testing.assert_array_equal(sim.state()["v"], v)
        pixels = _decode(sim._repr_png_()).astype(int)
        left, right = pixels[:, : pixels.shape[1] // 4].mean((0, 1)), pixels[:, -pixels.shape[1] // 4:].mean((0, 1))
        assert left[1] > 150 and right[1] < 60  # the engine's field, in the view's colour map
        sim.reset(seed=2)
        assert sim.params["grid"] == 40 and sim.state()["v"].shape == (40, 40)
        assert "RemoteSimulation gray_scott" in repr(sim)
    finally:
        sim.close()


def test_a_step_interrupted_by_the_window_says_so(served, tmp_path):
    from attractor_lab.engine.transport.remote import StepCancelled

    sim = al.connect(tmp_path / "engine-1-1.json")
    outcome = {}

    def long_step():
        try:
            sim.step(10**7)
        except Exception as exc:  # noqa: BLE001 (handed to the test)
            outcome["error"] = exc

    # the model may have stepped in an earlier test: wait for this step's own progress (else
    # Run could arrive before the step request, which then never ends)
    start = served.request("get_state")["step"]
    thread = threading.Thread(target=long_step)
    thread.start()
    deadline = time.monotonic() + 30
    while served.request("get_state")["step"] < start + 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    served.request("run", {})  # the window's Run ends the step in progress
    thread.join(30)
    sim.close()
    error = outcome.get("error")
    assert isinstance(error, StepCancelled), error
    assert error.asked == 10**7 and 0 < error.done < 10**7
    assert "stopped after" in str(error)


def test_connect_does_not_import_torch(served, tmp_path):
    import subprocess
    import sys

    code = ("import sys, json, attractor_lab as al; sim = al.connect(); s = sim.state();"
            "print(json.dumps({'torch': 'torch' in sys.modules, 'shape': list(s['v'].shape)}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "ATTRACTOR_LAB_RUNTIME_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == {"torch": False, "shape": [32, 32]}
