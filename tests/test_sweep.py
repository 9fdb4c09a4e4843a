"""Sweeps on Dask: the Hopfield phase boundary against AGS, resume after SIGKILL, the same numbers
on the embedded cluster and on a `dask scheduler` + two `dask worker` processes on loopback.

One LocalCluster (2 workers) serves the module: Dask workers take seconds to start and import torch.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("distributed", reason="the sweep extra is not installed: pip install -e '.[sweep]'")

from attractor_lab.engine.sweep.execute import run_sweep  # noqa: E402
from attractor_lab.engine.sweep.spec import loads_sweep  # noqa: E402
from attractor_lab.engine.sweep.store import DONE, PENDING, open_results  # noqa: E402

AGS = """
format_version = 1
seeds = 2
steps = 60
burn_in = 30
sample_every = 2
[base]
model = "hopfield"
seed = 0
[base.params]
neurons = 1000
cue_noise = 0.1
[x]
param = "temperature"
start = 0.1
stop = 1.0
count = 13
[y]
param = "load"
values = [0.03, 0.06, 0.09]
[[keep]]
observable = "m_cued"
reduce = "mean"
[[keep]]
observable = "m_cued"
reduce = "fraction_above"
threshold = 0.5
"""

SMALL = """
format_version = 1
seeds = 2
steps = 40
burn_in = 20
[base]
model = "hopfield"
seed = 11
[base.params]
neurons = 400
load = 0.05
cue_noise = 0.15
[x]
param = "temperature"
start = 0.0
stop = 1.2
count = 5
[y]
param = "cue_noise"
values = [0.1, 0.3]
[[keep]]
observable = "m_cued"
reduce = "final"
[[keep]]
observable = "energy"
reduce = "mean"
"""


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      env={"ATTRACTOR_LAB_THREADS": "1"}) as lc, Client(lc, set_as_default=False) as client:
        client.run(lambda: __import__("attractor_lab.engine.api"))  # warm: torch and the models imported once
        yield lc.scheduler_address


def test_hopfield_retrieval_boundary_follows_ags_T_M(cluster, tmp_path):
    """N = 1000, 2 seeds, T × α: where the overlap (mean after burn-in, from a cue) drops through
    1/2 lies on AGS's T_M(α) within finite-size error, and the store carries the AGS lines."""
    from attractor_lab.engine.theory.hopfield import phase_diagram

    sweep = loads_sweep(AGS, "ags.toml")
    final = run_sweep(sweep, tmp_path / "ags.zarr", scheduler=cluster)
    assert final.state == "finished" and final.done == sweep.n_points and final.failed == 0
    res = open_results(tmp_path / "ags.zarr")
    m, _, count = res.over_seeds("m_cued.mean")
    assert (count == 2).all()
    temps = np.array(res.axes[0]["values"])
    pd = phase_diagram()
    for j, alpha in enumerate(res.axes[1]["values"]):
        t_m = float(np.interp(alpha, pd["alpha"], pd["T_M"]))
        row = m[j]
        assert (row[temps < t_m - 0.15] > 0.9).all(), (alpha, row)  # retrieval well inside
        assert (row[temps > t_m + 0.15] < 0.4).all(), (alpha, row)  # lost well outside
        i = int(np.nonzero(row < 0.5)[0][0])
        t_b = temps[i - 1] + (temps[i] - temps[i - 1]) * (row[i - 1] - 0.5) / (row[i - 1] - row[i])
        # finite size (N = 1000) rounds and shifts the spinodal; measured |T_b − T_M| ≤ 0.04 on a
        # 0.05 grid at 7 loads; the grid here is 0.075
        assert abs(t_b - t_m) < 0.08, f"α = {alpha}: boundary at T = {t_b:.3f}, AGS T_M = {t_m:.3f}"
    names = [line["name"] for line in res.theory]
    assert any(n.startswith("T_M") for n in names) and any(n.startswith("T_g") for n in names)
    t_m_line = next(line for line in res.theory if line["name"].startswith("T_M"))
    assert t_m_line["x"][0] == pytest.approx(1.0) and t_m_line["y"][0] == 0.0  # (T, α): T_M(0) = 1
    above = res.over_seeds("m_cued.above_0.5")[0]
    assert above[0, 0] == 1.0 and above[0, -1] == 0.0


def _sweep_cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "attractor_lab.app.cli", "sweep", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_sigkill_midway_then_resume_computes_only_the_rest(cluster, tmp_path):
    """Kill -9 the sweep process mid-run: the store stays readable (done points complete), and the
    same command finishes it without recomputing a finished point."""
    # points of ~0.1 s: progress is read while most of the sweep is still to run (with points of
    # milliseconds the whole sweep could end between a progress line and the kill)
    text = SMALL.replace("count = 5", "count = 8").replace("steps = 40", "steps = 400")
    (tmp_path / "s.toml").write_text(text)
    store = tmp_path / "r.zarr"
    proc = _sweep_cli("run", str(tmp_path / "s.toml"), "--out", str(store), "--scheduler", cluster,
                      "--progress", "json", "--batch", "2")
    seen = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        if line.startswith("{") and json.loads(line)["done"] >= 4:
            # freeze the writer at once (points take milliseconds: the whole sweep could end while
            # the store is read), then read the store as the kill will leave it
            os.kill(proc.pid, signal.SIGSTOP)
            seen = open_results(store).done
            if seen >= 4:
                break
            os.kill(proc.pid, signal.SIGCONT)
    assert seen >= 4, proc.stderr.read() if proc.poll() is not None else "no progress"
    assert seen < 32, "the sweep finished before it could be killed: make its points slower"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()
    killed = open_results(store)
    assert 4 <= killed.done < killed.total
    done_before = killed.status == DONE
    seconds_before = killed.seconds.copy()
    assert np.isfinite(killed.values["m_cued.final"][done_before]).all()
    assert np.isnan(killed.values["m_cued.final"][killed.status == PENDING]).all()
    # resume (in this process): only the missing points run
    sweep = loads_sweep(text, "s.toml")
    final = run_sweep(sweep, store, scheduler=cluster)
    res = open_results(store)
    assert final.state == "finished" and res.done == res.total
    assert final.skipped == int(done_before.sum())
    np.testing.assert_array_equal(res.seconds[done_before], seconds_before[done_before])  # not recomputed
    assert len(res.attrs["runs"]) == 2
    # a resumed store holds exactly what one uninterrupted run gives (same seeds)
    fresh = tmp_path / "fresh.zarr"
    run_sweep(sweep, fresh, scheduler=cluster)
    np.testing.assert_array_equal(open_results(fresh).values["m_cued.final"], res.values["m_cued.final"])


def test_a_resumed_store_refuses_another_sweep(cluster, tmp_path):
    from attractor_lab.engine.sweep.store import StoreError

    sweep = loads_sweep(SMALL.replace("count = 5", "count = 2"), "s.toml")
    run_sweep(sweep, tmp_path / "r.zarr", scheduler=cluster)
    other = loads_sweep(SMALL.replace("count = 5", "count = 2").replace("steps = 40", "steps = 41"), "t.toml")
    with pytest.raises(StoreError, match="different sweep.*'steps'"):
        run_sweep(other, tmp_path / "r.zarr", scheduler=cluster)


def test_failing_points_are_recorded_and_the_sweep_goes_on(cluster, tmp_path):
    """cue_pattern = 3 needs 3 patterns: at load 0.001 × 400 neurons there is 1, so those points fail."""
    text = SMALL.replace('[y]\nparam = "cue_noise"\nvalues = [0.1, 0.3]', '[y]\nparam = "load"\nvalues = [0.001, 0.05]')
    text = text.replace("cue_noise = 0.15", "cue_noise = 0.15\ncue_pattern = 3").replace("count = 5", "count = 2")
    sweep = loads_sweep(text, "s.toml")
    final = run_sweep(sweep, tmp_path / "r.zarr", scheduler=cluster)
    res = open_results(tmp_path / "r.zarr")
    assert final.failed == 4 and res.done == 4  # the low-load row failed, the other ran
    assert (res.status[0] == 2).all() and (res.status[1] == DONE).all()
    assert all("only 1 patterns are stored" in msg for msg in res.errors.values())


def test_embedded_and_separate_dask_processes_give_identical_results(cluster, tmp_path):
    """The same sweep on the module's LocalCluster and on `dask scheduler` + two `dask worker`
    processes started separately on loopback: identical numbers (same seeds)."""
    sweep = loads_sweep(SMALL, "s.toml")
    run_sweep(sweep, tmp_path / "local.zarr", scheduler=cluster)
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    port_file = tmp_path / "scheduler.json"
    env = {**os.environ, "ATTRACTOR_LAB_THREADS": "1"}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(port_file)], stderr=subprocess.DEVNULL, env=env)]
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(port_file.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                           "--no-dashboard", "--host", "127.0.0.1"], stderr=subprocess.DEVNULL,
                                          env=env))
        final = run_sweep(sweep, tmp_path / "remote.zarr", scheduler=address, workers=2)
        assert final.workers == 2
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    local, remote = open_results(tmp_path / "local.zarr"), open_results(tmp_path / "remote.zarr")
    assert local.done == remote.done == sweep.n_points
    for name in ("m_cued.final", "energy.mean"):
        np.testing.assert_array_equal(local.values[name], remote.values[name])
    assert np.ptp(local.values["m_cued.final"]) > 0.5  # the numbers compared are not all alike
    assert remote.attrs["runs"][0]["scheduler"] == address


def test_a_fused_sweep_on_dask_gives_the_unfused_numbers(cluster, tmp_path):
    """--fuse 4 on CPU workers (the default fuses only on a GPU): tasks of at least 4 points,
    batches of equal-P networks, and the same numbers as one network at a time."""
    sweep = loads_sweep(SMALL, "s.toml")
    run_sweep(sweep, tmp_path / "alone.zarr", scheduler=cluster, fuse=1)
    final = run_sweep(sweep, tmp_path / "fused.zarr", scheduler=cluster, fuse=4)
    assert final.done == sweep.n_points
    alone, fused = open_results(tmp_path / "alone.zarr"), open_results(tmp_path / "fused.zarr")
    for name in ("m_cued.final", "energy.mean"):
        np.testing.assert_array_equal(alone.values[name], fused.values[name])
    assert np.ptp(fused.values["m_cued.final"]) > 0.5
    assert fused.attrs["runs"][0]["fused"] == 4 and alone.attrs["runs"][0]["fused"] == 1
