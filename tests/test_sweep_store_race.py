"""Two writers racing to create the same new sweep store: one wins, the other gets one line.

The race is forced, not hoped for: ``os.rename`` of the build folder is wrapped so that, just
before it, a second *process* creates the same store and keeps it open (as a second
``sweep run`` started at the same moment would), and only then does the real rename run.
"""

import os
import subprocess
import sys
import textwrap

import pytest

ATTRS = {"model": "hopfield", "axes": [{"param": "temperature", "values": [0.0, 1.0], "spacing": "linear"}],
         "seeds": [0], "outputs": [{"name": "m.mean", "kind": "observable", "observable": "m"}],
         "base_params": {"neurons": 64}, "theory": []}

# the other process: creates the store, holds it open as a writer, says "ready", waits for stdin to close
HOLDER = textwrap.dedent(f"""
    import sys
    from attractor_lab.engine.sweep.store import StoreWriter, create_store
    create_store(sys.argv[1], (2, 1), ["m.mean"], {ATTRS!r})
    with StoreWriter(sys.argv[1]):
        print("ready", flush=True)
        sys.stdin.read()
""")


def _start_holder(path: str) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "ready"
    return holder


def test_create_store_that_loses_the_rename_race_says_who_holds_it(tmp_path, monkeypatch):
    from attractor_lab.engine.sweep import store as store_module
    from attractor_lab.engine.sweep.store import StoreError, create_store, open_results

    path = tmp_path / "c2.zarr"
    real_rename = os.rename
    holders = []

    def rename(src, dst, *a, **k):
        if os.fspath(dst) == os.fspath(path) and not holders:
            holders.append(_start_holder(os.fspath(path)))  # the other sweep gets there first
        return real_rename(src, dst, *a, **k)

    monkeypatch.setattr(store_module.os, "rename", rename)
    try:
        with pytest.raises(StoreError) as info:
            create_store(path, (2, 1), ["m.mean"], ATTRS)
        holder = holders[0]
        message = str(info.value)
        assert "\n" not in message
        assert f"being written by process {holder.pid} on " in message
        assert not isinstance(info.value.__cause__, OSError)  # no chained traceback from the rename
        # the loser's build folder is gone; the winner's store is whole and still its own
        assert sorted(p.name for p in tmp_path.iterdir()) == ["c2.zarr"]
        assert open_results(path).status.shape == (2, 1)
        assert f'"pid": {holder.pid}' in (path / "writer.lock").read_text()
    finally:
        for h in holders:
            h.stdin.close()
            h.wait(timeout=60)
    assert not (path / "writer.lock").exists()  # the winner released it on close


def test_a_store_is_locked_by_its_creator_from_the_moment_it_appears(tmp_path):
    """No window between create_store's rename and the writer's lock: another process sees it held."""
    from attractor_lab.engine.sweep.store import StoreError, StoreWriter, create_store

    path = tmp_path / "r.zarr"
    create_store(path, (2, 1), ["m.mean"], ATTRS)
    probe = subprocess.run([sys.executable, "-c", "import sys\nfrom attractor_lab.engine.sweep.store import StoreWriter\n"
                            "StoreWriter(sys.argv[1])", str(path)], capture_output=True, text=True, timeout=120)
    assert probe.returncode != 0 and f"being written by process {os.getpid()}" in probe.stderr
    with StoreWriter(path) as w:  # the creator takes its own lock over
        with pytest.raises(StoreError, match="being written by process"):
            StoreWriter(path)  # but only once
        w.flush()
    with StoreWriter(path):  # released on close
        pass


SWEEP = """
format_version = 1
seeds = 1
steps = 4
burn_in = 2
[base]
model = "hopfield"
seed = 5
[base.params]
neurons = 64
load = 0.05
[x]
param = "temperature"
values = [0.0, 1.0]
[[keep]]
observable = "m_cued"
reduce = "mean"
"""

# `attractor-lab sweep run`, with the rename of its new store forced to collide with a second process
CLI = textwrap.dedent("""
    import os, sys
    from attractor_lab.engine.sweep import store
    from attractor_lab.app.cli import main
    real_rename, holder_code, target, holders = os.rename, sys.argv[1], sys.argv[2], []
    def rename(src, dst, *a, **k):
        if os.fspath(dst) == target and not holders:
            import subprocess
            holders.append(subprocess.Popen([sys.executable, "-c", holder_code, target], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True))
            assert holders[0].stdout.readline().strip() == "ready"
            print(f"holder {holders[0].pid}", flush=True)
        return real_rename(src, dst, *a, **k)
    store.os.rename = rename
    sys.argv = ["attractor-lab"] + sys.argv[3:]
    code = main(sys.argv[1:])
    for h in holders:
        h.stdin.close()
        h.wait()
    sys.exit(code)
""")


def test_second_sweep_run_started_at_the_same_moment_gets_one_line_and_exit_code_2(tmp_path):
    (tmp_path / "s.toml").write_text(SWEEP)
    out = tmp_path / "c2.zarr"
    r = subprocess.run([sys.executable, "-c", CLI, HOLDER, str(out), "sweep", "run", str(tmp_path / "s.toml"),
                        "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.stdout.startswith("holder "), (r.stdout, r.stderr)
    pid = int(r.stdout.split()[1])
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()], r.stderr  # one line
    assert r.stderr.startswith(f"attractor-lab sweep run: {out} is being written by process {pid} on "), r.stderr
    assert r.returncode == 2
