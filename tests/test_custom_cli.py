"""attractor-lab run --equations FILE, and .ode files where a preset path goes."""

from __future__ import annotations

import subprocess
import sys

from attractor_lab.engine.storage.presets import shipped_presets_dir
from attractor_lab.engine.storage.recorder import load_trajectory


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_run_equations_file_and_ode_file(tmp_path):
    eqs = tmp_path / "vdp.txt"
    eqs.write_text("dx/dt = y\ndy/dt = mu*(1 - x^2)*y - x\npar mu = 2 [0, 10]\ninit x = 2, y = 0\n")
    out = tmp_path / "vdp.npz"
    r = _cli("run", "--equations", str(eqs), "--steps", "20", "--every", "10", "--out", str(out), "--device", "cpu",
             "--quiet")
    assert r.returncode == 0, r.stderr
    data = load_trajectory(out)
    assert data["state/x_now"].shape == (3, 4, 2) and list(data["step"]) == [0, 10, 20]
    ode = shipped_presets_dir() / "ode" / "lotka_volterra.ode"
    out2 = tmp_path / "lv.npz"
    r = _cli("run", str(ode), "--steps", "10", "--out", str(out2), "--device", "cpu", "--quiet")
    assert r.returncode == 0, r.stderr
    assert load_trajectory(out2)["state/x_now"].shape[-1] == 2
    rd = tmp_path / "gs.txt"
    rd.write_text("du/dt = 0.16*lap(u) - u*v^2 + F*(1 - u)\ndv/dt = 0.08*lap(v) + u*v^2 - (F + k)*v\n"
                  "par F = 0.035, k = 0.065\ninit u = 1, v = 0\nseed u = 0.5, v = 0.25\n")
    r = _cli("run", "--equations", str(rd), "--steps", "5", "--out", str(tmp_path / "gs.npz"), "--device", "cpu",
             "--quiet")
    assert r.returncode == 0, r.stderr
    assert load_trajectory(tmp_path / "gs.npz")["state/v"].shape[-1] == 256


def test_bad_equations_file_fails_with_one_line_naming_line_and_column(tmp_path):
    eqs = tmp_path / "bad.ode"
    eqs.write_text("x' = y\ny' = -x\nwiener w\ndone\n")
    r = _cli("run", "--equations", str(eqs), "--out", str(tmp_path / "o.npz"), "--device", "cpu")
    assert r.returncode != 0
    assert "line 3, col 1: 'wiener' is not supported" in r.stderr
    assert "Traceback" not in r.stderr
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"dx/dt = y\ndy/dt = \xff\n")
    r = _cli("run", "--equations", str(bad), "--out", str(tmp_path / "o.npz"), "--device", "cpu")
    assert r.returncode != 0 and "line 2, col 9: the text is not UTF-8" in r.stderr and "Traceback" not in r.stderr
