"""The command line fails cleanly and keeps what it computed (issue 10).

Each case: one line on stderr, no traceback, the exit code, and no temporary
files left behind. A full disk is a file-size limit (RLIMIT_FSIZE: writes past
it fail with EFBIG, which killed libhdf5 with a segfault before).
"""

import json
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from attractor_lab.engine.storage.recorder import load_trajectory

PRESET = """
format_version = 1
model = "gray_scott"
title = "test spots"
seed = 4
[params]
grid = 64
[view]
field = "u"
"""


def _cli(*args, timeout=180, limit_bytes=None, cwd=None, data_home=None):
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    if data_home is not None:  # where a run that cannot write its --out keeps its result
        env["XDG_DATA_HOME"] = str(data_home)
    return subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit if limit_bytes else None, cwd=cwd, env=env)


def _one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if not ln.startswith(("engine ", "  warnings."))]
    assert "Traceback" not in stderr
    assert len(lines) == 1, lines
    return lines[0]


def _temps(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".tmp")]


@pytest.fixture
def preset(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(PRESET)
    return path


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "--seed must be an integer from 0 to 2147483647, not -1"),
    (["--seed", str(2**70)], f"--seed must be an integer from 0 to 2147483647, not {2**70}"),
    (["--max-memory-gb", "nan"], "--max-memory-gb must be a positive finite number of GiB, not nan"),
    (["--max-memory-gb", "inf"], "--max-memory-gb must be a positive finite number of GiB, not inf"),
    (["--out", "missing/t.npz"], "cannot write --out 'missing/t.npz': the folder 'missing' does not exist"),
    (["--out", "d.npz"], "cannot write --out 'd.npz': 'd.npz' is a folder"),
])
def test_bad_arguments_are_refused_before_computing(preset, tmp_path, args, message):
    (tmp_path / "d.npz").mkdir()
    out = _cli("run", str(preset), "--steps", "10", "--out", "t.npz", "--quiet", *args, cwd=tmp_path)
    assert out.returncode == 2
    assert _one_line(out.stderr) == f"attractor-lab run: {message}"
    assert not (tmp_path / "t.npz").exists() and not _temps(tmp_path)


def test_ctrl_c_keeps_what_was_recorded(preset, tmp_path):
    out_file = tmp_path / "t.npz"
    proc = subprocess.Popen([sys.executable, "-m", "attractor_lab.app.cli", "run", str(preset), "--steps", "2000000",
                             "--every", "50", "--out", str(out_file), "--device", "cpu"],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    # wait for the progress bar to show steps being done
    text = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "step/s" not in text and proc.poll() is None:
        text += os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in rest
    assert "interrupted (Ctrl+C) at step" in rest and "wrote" in rest
    data = load_trajectory(out_file)
    assert len(data["step"]) >= 2 and data["state/v"].shape[1:] == (64, 64)
    assert np.all(np.diff(data["step"]) == 50)
    assert not _temps(tmp_path)


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_a_full_disk_fails_with_one_line_and_leaves_nothing(preset, tmp_path, suffix):
    out_file = tmp_path / f"t{suffix}"
    data = tmp_path / "data"
    out = _cli("run", str(preset), "--steps", "200", "--every", "5", "--out", str(out_file), "--quiet",
               limit_bytes=200_000, data_home=data)
    assert out.returncode == 1, out.stderr  # not 139: libhdf5 no longer meets the full disk
    # the limit is on every file, so the rescue places (beside it, the data folder) fail too, and say so
    rescued = data / "attractor-lab" / "rescued"
    assert _one_line(out.stderr) == (f"attractor-lab run: cannot write {str(out_file)!r}: File too large; nor could "
                                     f"the result be kept elsewhere ({str(tmp_path)!r}: File too large; "
                                     f"{str(rescued)!r}: File too large); nothing was written")
    assert not out_file.exists() and not _temps(tmp_path) and not _temps(rescued)
    assert [p.name for p in tmp_path.iterdir() if "rescued" in p.name] == []


def test_csv_streams_observables_and_leftovers_of_killed_runs_go(preset, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    left = tmp_path / f".tmp-attractor-{dead}-abc123-t.csv"  # a run killed while writing
    left.write_text("half")
    alive = tmp_path / f".tmp-attractor-{os.getpid()}-def456-t.csv"  # a writer still at work
    alive.write_text("busy")
    out_file = tmp_path / "t.csv"
    # states of 400 001 snapshots would need 12 GiB: observables alone need none
    out = _cli("run", str(preset), "--steps", "4000", "--every", "1", "--out", str(out_file), "--quiet",
               "--max-memory-gb", "0.01")
    assert out.returncode == 0, out.stderr
    rows = out_file.read_text().splitlines()
    assert rows[0].startswith("step,time,") and len(rows) == 4002 and rows[-1].startswith("4000,")
    assert not left.exists() and alive.exists()


def test_movie_uses_the_main_field_refuses_csv_and_keeps_every_frame(preset, tmp_path):
    import imageio.v3 as iio

    traj = tmp_path / "t.npz"
    assert _cli("run", str(preset), "--steps", "40", "--every", "2", "--out", str(traj), "--quiet").returncode == 0
    out = _cli("movie", str(traj), "--out", str(tmp_path / "m.gif"), "--quiet")
    assert out.returncode == 0, out.stderr
    assert "of 'u'" in out.stderr  # the preset's view.field, not the first array recorded
    assert len(iio.imread(tmp_path / "m.gif", index=None)) == 21  # every snapshot, even the still ones
    (tmp_path / "t.csv").write_text("step,time\n0,0.0\n")
    out = _cli("movie", str(tmp_path / "t.csv"), "--out", str(tmp_path / "m2.gif"))
    assert out.returncode == 2
    assert "is a CSV of observables" in _one_line(out.stderr)


def test_connection_file_problems_are_one_line(tmp_path):
    bad = tmp_path / "e.json"
    bad.write_text(json.dumps({"transport": "tcp", "ip": "127.0.0.1", "command_port": 1, "state_port": 2,
                               "key": 1234567890123456789012345678901234567890}))
    os.chmod(bad, 0o600)
    out = _cli("--connect", str(bad))
    assert out.returncode == 2 and "'key' must be a string" in _one_line(out.stderr)
    out = _cli("engine", "--connection-file", str(tmp_path / "no" / "e.json"))
    assert out.returncode == 2
    assert "the folder" in _one_line(out.stderr) and "does not exist" in out.stderr
