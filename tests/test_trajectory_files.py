"""Trajectory files worth keeping (issue 17, item 5): the interval asked, the preset's title
and parameters, versions, states apart from theory, compressed by default, saves that report
progress and can be cancelled without leaving a file, and the round trip back into a run."""

import json
import os
import time

import h5py
import numpy as np
import pytest

from attractor_lab.engine.transport.client import EngineError
from attractor_lab.engine.storage.recorder import (
    Recorder,
    SaveCancelled,
    SaveControl,
    load_trajectory,
    trajectory_metadata,
)
from tests.engine_helpers import engine  # noqa: F401 (a fixture)

GS_TOML = 'model = "gray_scott"\ntitle = "Spots"\nseed = 4\n[params]\nF = 0.03\n'


def _reply(client, msg_id, timeout=60.0):
    """The reply to ``msg_id`` (sent with ``client.send``), kept aside by other requests or not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if msg_id in client._early_replies:
            return client._early_replies.pop(msg_id)[1].content
        msg = client.recv_reply(0.2)
        if msg is not None:
            if msg.parent_id == msg_id:
                return msg.content
            client._keep_early(msg)
    raise TimeoutError(f"no reply to {msg_id}")


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name != "engine.json")


def _recording(n=6, side=16, theory=("turing_k",), change_at=None):
    rec = Recorder(every=10, theory=theory)
    rng = np.random.default_rng(0)
    for i in range(n):
        u = rng.random((side, side), dtype=np.float32)
        k = np.linspace(0, 1, 5) * (2.0 if change_at is not None and i >= change_at else 1.0)
        rec.capture(10 * i, 0.5 * i, {"u": u, "turing_k": k}, {"mean_u": float(u.mean())})
    return rec


# ---- the engine's files: the check --------------------------------------------------------
def test_gray_scott_256_h5_is_small_says_its_interval_and_reloads_into_a_run(engine, tmp_path):
    engine.request("load", {"model": "gray_scott", "params": {"grid": 256}, "seed": 3,
                            "title": "Spots (Pearson κ/λ region)", "description": "from the centre square"})
    engine.request("record", {"action": "start", "every": 10})
    engine.request("step", {"n": 990}, timeout=120)
    stopped = engine.request("record", {"action": "stop"})
    assert stopped["snapshots"] == 100 and stopped["every"] == 10 and not stopped["active"]
    out, raw = tmp_path / "gs.h5", tmp_path / "gs-raw.h5"
    reply = engine.request("record", {"action": "save", "path": str(out)}, timeout=120)
    assert reply["every"] == 10 and reply["snapshots"] == 100 and reply["bytes"] == out.stat().st_size
    engine.request("record", {"action": "save", "path": str(raw), "compress": False}, timeout=120)
    arrays = 100 * 256 * 256 * 2 * 4  # u and v, float32
    assert raw.stat().st_size >= arrays
    print(f"100 x 256² Gray–Scott: compressed {out.stat().st_size / 1e6:.1f} MB in {reply['seconds']} s, "
          f"uncompressed {raw.stat().st_size / 1e6:.1f} MB")
    assert out.stat().st_size <= 0.40 * raw.stat().st_size

    with h5py.File(out, "r") as f:  # the layout, as another program sees it
        assert set(f) == {"step", "time", "state", "theory", "obs"}
        assert set(f["state"]) == {"u", "v"}
        assert {"turing_k", "turing_sigma", "turing_zero"} <= set(f["theory"])
        assert f["theory/turing_k"].ndim == 1  # once, not once a snapshot
        assert f["state/v"].shape == (100, 256, 256) and f["state/v"].chunks == (1, 256, 256)
        assert f["state/v"].compression == "gzip" and f["state/v"].shuffle
        assert f.attrs["every"] == 10 and f.attrs["format_version"] == 2
    data = load_trajectory(out)
    meta = trajectory_metadata(data)
    assert meta["every"] == 10 and meta["snapshots"] == 100 and list(data["step"][:3]) == [0, 10, 20]
    assert meta["model"] == "gray_scott" and meta["title"] == "Spots (Pearson κ/λ region)"
    assert meta["seed"] == 3 and meta["params"]["grid"] == 256 and meta["description"] == "from the centre square"
    assert {"attractor_lab", "torch", "numpy", "h5py"} <= set(meta["versions"])
    assert meta["theory"] == {"turing_k": "constant", "turing_sigma": "constant", "turing_zero": "constant"}
    assert 'title = "Spots (Pearson κ/λ region)"' in data["preset_toml"] and "(recorded)" not in data["preset_toml"]
    assert np.array_equal(load_trajectory(raw)["state/u"], data["state/u"])  # u has no tiny values to flush

    # the round trip: the last snapshot restores the run, which goes on from there
    state = engine.request("get_state")
    engine.request("reset", {"seed": 9})
    last = {"u": data["state/u"][-1], "v": data["state/v"][-1]}
    restored = engine.request("set_state", {"step": int(data["step"][-1]), "time": float(data["time"][-1])},
                              arrays=last)
    assert sorted(restored["restored"]) == ["u", "v"] and restored["step"] == 990
    again = engine.request("get_state")
    assert np.array_equal(again["arrays"]["u"], state["arrays"]["u"])
    scale = np.abs(state["arrays"]["v"]).max()
    assert np.allclose(again["arrays"]["v"], state["arrays"]["v"], rtol=0, atol=np.finfo(np.float32).eps * scale)


def test_a_save_reports_progress_and_a_cancelled_one_leaves_no_file(engine, tmp_path):
    engine.request("load", {"model": "gray_scott", "params": {"grid": 256}, "seed": 1})
    engine.request("record", {"action": "start", "every": 1})
    engine.request("step", {"n": 299}, timeout=120)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "big.h5"
    msg_id = engine.send("record", {"action": "save", "path": str(target)})
    status = engine.request("record", {"action": "status"})
    assert status["active"] and status["every"] == 1
    [saving] = status["saving"]
    assert saving["verb"] == "record" and saving["action"] == "save" and saving["path"] == str(target)
    assert 0 <= saving["done"] < saving["total"] and saving["stage"] in ("preparing", "compressing", "writing")
    assert engine.request("cancel")["cancelled"] == ["record"]
    reply = _reply(engine, msg_id)
    assert reply["status"] == "error" and reply["ename"] == "Cancelled", reply
    assert _leftovers(folder) == []  # neither the target nor a temporary file
    assert engine.request("record", {"action": "status"})["saving"] == []
    # the recording is intact: a second save completes
    assert engine.request("record", {"action": "save", "path": str(folder / "small.npz"), "compress": True},
                          timeout=120)["snapshots"] == 300


def test_record_cancel_and_requests_checked(engine, tmp_path):
    engine.request("load", {"model": "gray_scott", "params": {"grid": 32}})
    engine.request("record", {"action": "start", "every": 5, "title": "Mine"})
    engine.request("step", {"n": 10})
    assert engine.request("record", {"action": "cancel"})["cancelled"] == []  # nothing to cancel
    for bad in ({"compress": "yes"}, {"lossless": 1}, {"title": 5}):
        with pytest.raises(EngineError, match=list(bad)[0]):
            engine.request("record", {"action": "save", "path": str(tmp_path / "x.npz"), **bad})
    out = tmp_path / "t.npz"
    engine.request("record", {"action": "save", "path": str(out), "description": "a note"})
    meta = trajectory_metadata(load_trajectory(out))
    assert meta["title"] == "Mine" and meta["description"] == "a note" and meta["every"] == 5
    out2 = tmp_path / "t2.npz"
    engine.request("record", {"action": "save", "path": str(out2), "title": "Renamed"})
    assert trajectory_metadata(load_trajectory(out2))["title"] == "Renamed"


def test_without_a_preset_title_the_models_own_title(engine, tmp_path):
    engine.request("load", {"model": "barkley", "params": {"grid": 32}})
    engine.request("record", {"action": "start", "every": 2})
    engine.request("step", {"n": 4})
    engine.request("record", {"action": "stop"})
    engine.request("step", {"n": 4})  # stopped: nothing more captured, the interval stays
    out = tmp_path / "b.h5"
    engine.request("record", {"action": "save", "path": str(out)})
    data = load_trajectory(out)
    meta = trajectory_metadata(data)
    assert meta["title"] == "Barkley model" or (meta["title"] and "(recorded)" not in meta["title"])
    assert meta["every"] == 2 and list(data["step"]) == [0, 2, 4] and meta["recording"] == "stopped"
    assert {"nc_u_x", "turing_k"} <= {k.removeprefix("theory/") for k in data if k.startswith("theory/")}
    assert "state/nc_u_x" not in data and "state/u" in data and "state/phase_u" in data


# ---- the recorder's files ---------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_states_and_theory_apart_and_metadata(tmp_path, suffix):
    rec = _recording()
    path = rec.save(tmp_path / f"t{suffix}", GS_TOML, {"device": "cpu"})
    data = load_trajectory(path)
    assert data["state/u"].shape == (6, 16, 16) and "state/turing_k" not in data
    assert np.array_equal(data["theory/turing_k"], np.linspace(0, 1, 5))
    meta = trajectory_metadata(data)
    assert meta["every"] == 10 and meta["format_version"] == 2 and meta["device"] == "cpu"
    assert (meta["model"], meta["title"], meta["seed"], meta["params"]) == ("gray_scott", "Spots", 4, {"F": 0.03})
    assert meta["state_fields"] == ["u"] and meta["theory"] == {"turing_k": "constant"}
    if suffix == ".npz":  # plain numpy reads it too, with the same key prefixes
        with np.load(path, allow_pickle=False) as z:
            assert {"state/u", "theory/turing_k", "obs/mean_u", "step", "time"} <= set(z.files)


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_theory_changed_while_recording_is_kept_per_snapshot(tmp_path, suffix):
    rec = _recording(change_at=3)
    data = load_trajectory(rec.save(tmp_path / f"t{suffix}", GS_TOML))
    assert data["theory/turing_k"].shape == (6, 5)
    assert np.array_equal(data["theory/turing_k"][4], 2 * np.linspace(0, 1, 5))
    assert trajectory_metadata(data)["theory"] == {"turing_k": "per_snapshot"}


def test_unchanged_theory_costs_no_memory():
    rec = _recording(n=1)
    before = rec.nbytes
    rec.capture(10, 1.0, {"u": np.zeros((16, 16), np.float32), "turing_k": np.linspace(0, 1, 5)}, {})
    assert rec.nbytes - before == 16 * 16 * 4 + 8 * 2
    assert rec.frames["turing_k"][1] is rec.frames["turing_k"][0]


def test_theory_looked_up_from_the_preset_when_not_given(tmp_path):
    rec = Recorder(every=1)  # as the CLI makes it: no theory names
    rec.capture(0, 0.0, {"u": np.ones((4, 4)), "turing_sigma": np.arange(3.0)}, {})
    data = load_trajectory(rec.save(tmp_path / "t.npz", GS_TOML))
    assert "theory/turing_sigma" in data and "state/turing_sigma" not in data


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_tiny_values_flushed_by_default_and_kept_when_lossless(tmp_path, suffix):
    rec = Recorder(every=1, theory=())
    v = np.array([[0.4, 1e-30], [-3e-20, np.nan]], np.float32)
    rec.capture(0, 0.0, {"v": v, "n": np.array([1, 2])}, {})
    flushed = load_trajectory(rec.save(tmp_path / f"a{suffix}"))["state/v"][0]
    assert flushed[0, 0] == np.float32(0.4) and flushed[0, 1] == 0 and flushed[1, 0] == 0 and np.isnan(flushed[1, 1])
    exact = load_trajectory(rec.save(tmp_path / f"b{suffix}", lossless=True))["state/v"][0]
    assert np.array_equal(exact, v, equal_nan=True)
    assert "lossless" in trajectory_metadata(load_trajectory(tmp_path / f"b{suffix}"))["tiny_values"]


class _CancelAt(SaveControl):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def advance(self, n=1):
        if self.done + n >= self.at:
            self.cancel()
        super().advance(n)


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".hdf5", ".csv"])
@pytest.mark.parametrize("at", [1, 4])
def test_cancelled_save_leaves_neither_target_nor_temporary_file(tmp_path, suffix, at):
    rec = _recording()
    control = _CancelAt(at) if suffix != ".csv" else SaveControl()
    if suffix == ".csv":
        control.cancel()
    with pytest.raises(SaveCancelled):
        rec.save(tmp_path / f"t{suffix}", GS_TOML, control=control)
    assert os.listdir(tmp_path) == []
    # an existing file is left as it was
    (tmp_path / f"t{suffix}").write_bytes(b"old")
    control = SaveControl()
    control.cancel()
    with pytest.raises(SaveCancelled):
        rec.save(tmp_path / f"t{suffix}", GS_TOML, control=control)
    assert os.listdir(tmp_path) == [f"t{suffix}"] and (tmp_path / f"t{suffix}").read_bytes() == b"old"


def test_progress_counts_to_the_total_and_a_late_cancel_is_refused(tmp_path):
    rec = _recording()
    seen = []

    class Watch(SaveControl):
        def advance(self, n=1):
            super().advance(n)
            seen.append((self.done, self.total))

    control = Watch()
    rec.save(tmp_path / "t.h5", GS_TOML, control=control)
    assert control.total == 6 + 1 + 1 and control.done == control.total and control.stage == "done"
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert control.cancel() is False  # renamed into place already: too late


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_old_files_still_load(tmp_path, suffix):
    """Format 1: theory arrays stacked among the states, the stopped recording's 10**18 interval."""
    meta = json.dumps({"every": 10**18, "snapshots": 2})
    u = np.zeros((2, 3, 3), np.float32)
    k = np.zeros((2, 4))
    path = tmp_path / f"old{suffix}"
    if suffix == ".npz":
        np.savez_compressed(path, step=np.array([0, 1]), time=np.array([0.0, 1.0]), preset_toml=np.asarray(GS_TOML),
                            metadata_json=np.asarray(meta), **{"state/u": u, "state/turing_k": k,
                                                               "obs/m": np.zeros(2)})
    else:
        with h5py.File(path, "w") as f:
            f.attrs["preset_toml"], f.attrs["metadata_json"] = GS_TOML, meta
            f["step"], f["time"] = np.array([0, 1]), np.array([0.0, 1.0])
            f["state/u"], f["state/turing_k"], f["obs/m"] = u, k, np.zeros(2)
    data = load_trajectory(path)
    assert data["state/u"].shape == (2, 3, 3) and data["state/turing_k"].shape == (2, 4)
    assert not any(key.startswith("theory/") for key in data)
    assert trajectory_metadata(data)["format_version"] == 1


def test_cli_run_files_split_theory_and_keep_the_interval(tmp_path):
    from attractor_lab.app.cli import main
    from attractor_lab.engine.storage.presets import Preset, save_preset

    preset = save_preset(Preset(model="gray_scott", params={"grid": 32}, seed=2, title="Small spots"),
                         tmp_path / "p.toml")
    out = tmp_path / "run.h5"
    assert main(["run", str(preset), "--steps", "20", "--every", "5", "--out", str(out), "--quiet"]) == 0
    data = load_trajectory(out)
    meta = trajectory_metadata(data)
    assert meta["every"] == 5 and meta["title"] == "Small spots" and meta["model"] == "gray_scott"
    assert list(data["step"]) == [0, 5, 10, 15, 20] and data["state/v"].shape == (5, 32, 32)
    assert "theory/turing_sigma" in data and "state/turing_sigma" not in data


def test_a_full_recording_advises_what_can_help():
    """Over the budget after some snapshots: record less often. One snapshot alone over it:
    recording less often cannot help, and the message says what can."""
    from attractor_lab.engine.storage.recorder import RecordingFull

    field = {"u": np.zeros((64, 64))}  # 32 KiB a snapshot
    rec = Recorder(every=5, max_bytes=100 * 1024)
    with pytest.raises(RecordingFull, match=r"stopped at 3 snapshots.*every > 5"):
        for k in range(10):
            rec.capture(5 * k, 0.1 * k, field, {})
    tiny = Recorder(every=1, max_bytes=1024)
    with pytest.raises(RecordingFull, match="one snapshot .* is over the .*budget; record fewer arrays") as exc:
        tiny.capture(0, 0.0, field, {})
    assert "less often" not in str(exc.value)
