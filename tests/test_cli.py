"""The headless command line: models, run, engine."""

import subprocess
import sys
import tomllib

import numpy as np

from attractor_lab.engine.storage.presets import load_preset
from attractor_lab.engine.storage.recorder import load_trajectory

PRESET = """
format_version = 1
model = "gray_scott"
title = "test spots"
seed = 4
[params]
F = 0.035
k = 0.065
grid = 48
"""


def _cli(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_models_lists_parameters():
    out = _cli("models")
    assert out.returncode == 0, out.stderr
    assert "gray_scott" in out.stdout and "F" in out.stdout and "on reset" in out.stdout


def test_run_writes_trajectory_with_preset(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text(PRESET)
    out_file = tmp_path / "t.npz"
    r = _cli("run", str(preset), "--steps", "200", "--every", "50", "--out", str(out_file), "--device", "cpu", "--csv")
    assert r.returncode == 0, r.stderr
    assert "200/200" in r.stderr  # the progress bar reached the end
    data = load_trajectory(out_file)
    embedded = tomllib.loads(data["preset_toml"])
    assert embedded["model"] == "gray_scott" and embedded["params"]["F"] == 0.035 and embedded["seed"] == 4
    assert list(data["step"]) == [0, 50, 100, 150, 200]
    assert data["state/v"].shape == (5, 48, 48)
    # the same preset through the scripting API gives the same final state
    from attractor_lab import engine

    p = load_preset(preset)
    sim = engine.create(p.model, seed=p.seed, device="cpu", **p.params)
    sim.step(200)
    np.testing.assert_allclose(sim.state()["v"], data["state/v"][-1], rtol=1e-6, atol=1e-7)
    csv = out_file.with_suffix(".csv").read_text().splitlines()
    assert csv[0].startswith("step,time") and len(csv) == 6


def test_run_hdf5(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text(PRESET)
    r = _cli("run", str(preset), "--steps", "20", "--every", "10", "--out", str(tmp_path / "t.h5"), "--quiet")
    assert r.returncode == 0, r.stderr
    data = load_trajectory(tmp_path / "t.h5")
    assert "gray_scott" in data["preset_toml"] and data["state/u"].shape == (3, 48, 48)


def test_bad_preset_is_refused_with_file_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('format_version = 1\nmodel = "gray_scott"\n[params]\nk = 3.0\n')
    r = _cli("run", str(bad), "--steps", "10", "--out", str(tmp_path / "x.npz"))
    assert r.returncode == 2
    assert "bad.toml" in r.stderr and "'k'" in r.stderr and "[0, 0.1]" in r.stderr
    assert not (tmp_path / "x.npz").exists()


def test_run_refuses_what_would_not_fit_in_memory(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text(PRESET)
    r = _cli("run", str(preset), "--steps", "100000", "--every", "1", "--out", str(tmp_path / "t.npz"),
             "--max-memory-gb", "0.01")
    assert r.returncode == 2 and "--every" in r.stderr and not (tmp_path / "t.npz").exists()


def test_smoke_test_report_has_rates_step_time_and_asked_frame_rate(tmp_path):
    """``attractor-lab --smoke-test N`` reports what a benchmark reads: frames displayed per
    second, engine steps per second, the last step and simulated time, and the frame rate the
    preset asks for (here 20, not the default 30)."""
    import json
    import os

    preset = tmp_path / "p.toml"
    preset.write_text(PRESET + "[run]\nfps = 20\nsteps_per_frame = 5\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ATTRACTOR_LAB_3D": "off", "ATTRACTOR_LAB_COMPILE": "0",
           "ATTRACTOR_LAB_SETTINGS_DIR": str(tmp_path / "settings")}
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", str(preset), "--smoke-test", "8", "--device", "cpu"],
                       capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["frames"] >= 8 and report["model"] == "gray_scott"
    assert report["fps_asked"] == 20
    assert report["frames_per_second"] > 0 and report["steps_per_second"] > 0
    assert report["step"] > 0
    assert report["time"] > 0
    assert report["engine_steps_per_second"] is None or report["engine_steps_per_second"] >= 0
