"""attractor-lab analyse: each kind writes its NPZ/CSV; bad input gets a message and exit code 2."""

import numpy as np

from attractor_lab.app.cli import main

BRUSSELATOR = """dx/dt = a - (b+1)*x + x^2*y
dy/dt = b*x - x^2*y
par a = 1 [0, 5]
par b = 1 [0, 5]
init x = 1, y = 1
"""


def test_continuation_csv_from_equations(tmp_path, capsys):
    eq = tmp_path / "brusselator.txt"
    eq.write_text(BRUSSELATOR)
    out = tmp_path / "b.csv"
    assert main(["analyse", "continuation", "--equations", str(eq), "--param", "b", "--range", "0.5", "2.2",
                 "--cycles", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "hopf at b = 2" in said and "period 6.2832" in said
    cycles = (tmp_path / "b_cycles1.csv").read_text().splitlines()
    assert cycles[0].startswith("# kind: continuation") and len(cycles) > 8
    text = out.read_text()
    hopf = [line for line in text.splitlines() if line.startswith("# hopf b = ")]
    assert len(hopf) == 1 and abs(float(hopf[0].split()[4]) - 2.0) < 1e-6
    rows = [line for line in text.splitlines() if not line.startswith("#")]
    head = rows[0].split(",")
    table = np.array([[float(v) for v in r.split(",")] for r in rows[1:]])
    assert head[:4] == ["b", "x", "y", "stable"] and table.shape[1] == len(head)
    np.testing.assert_array_equal(table[:, 3].astype(bool), table[:, 0] < 2.0)
    assert table[:, 0].min() < 0.6 and table[:, 0].max() > 2.15


def test_basins_and_orbit_npz(tmp_path):
    out = tmp_path / "basins.npz"
    assert main(["analyse", "basins", "ode_system", "--set", "system=duffing", "--set", "forcing=0",
                 "--set", "damping=0.25", "--box", "-2", "2", "-2", "2", "--resolution", "30",
                 "--out", str(out)]) == 0
    data = np.load(out)
    np.testing.assert_allclose(data["fractions"], [0.5, 0.5], atol=0.02)
    assert data["labels"].shape == (30, 30)
    out = tmp_path / "orbit.npz"
    assert main(["analyse", "orbit", "custom_rossler", "--param", "c", "--range", "2.5", "4.0", "--count", "2",
                 "--variable", "x", "--trajectories", "2", "--transient", "150", "--record", "60",
                 "--dt", "0.05", "--out", str(out)]) == 0
    data = np.load(out)
    np.testing.assert_allclose(data["values"], [2.5, 4.0])
    at = lambda k: np.unique(np.round(data["point_value"][data["point_trajectory"] // 2 == k], 2))  # noqa: E731
    assert at(0).size == 1 and 3 <= at(1).size <= 8


def test_errors_say_what_is_wrong(tmp_path, capsys):
    out = str(tmp_path / "x.npz")
    assert main(["analyse", "orbit", "custom_rossler", "--out", out]) == 2
    assert "needs --param NAME and --range A B" in capsys.readouterr().err
    assert main(["analyse", "orbit", "custom_rossler", "--param", "q", "--range", "1", "2", "--out", out]) == 2
    assert "no parameter 'q'" in capsys.readouterr().err
    assert main(["analyse", "nullclines", "custom_rossler", "--out", str(tmp_path / "x.txt")]) == 2
    assert "must end in .npz or .csv" in capsys.readouterr().err
    assert main(["analyse", "basins", "--out", out]) == 2
    assert "give a source" in capsys.readouterr().err


def test_refined_basins_and_rd_kinetics(tmp_path, capsys):
    out = tmp_path / "basins.npz"
    assert main(["analyse", "basins", "ode_system", "--set", "system=duffing", "--set", "forcing=0",
                 "--set", "damping=0.25", "--box", "-2", "2", "-2", "2", "--resolution", "20", "--refine", "1",
                 "--out", str(out)]) == 0
    data = np.load(out)
    assert data["labels"].shape == (40, 40) and data["refined_cells"].size == 1
    assert 0 < int(data["refined_cells"][0]) < 400
    assert f"refined {int(data['refined_cells'][0])} boundary cell(s)" in capsys.readouterr().out
    # a reaction–diffusion model: its kinetics, the Brusselator's Hopf point at b = 1 + a²
    out = tmp_path / "b.csv"
    assert main(["analyse", "continuation", "brusselator", "--set", "a=1", "--set", "b=1", "--param", "b",
                 "--range", "0.5", "3", "--out", str(out)]) == 0
    hopf = [line for line in out.read_text().splitlines() if line.startswith("# hopf b = ")]
    assert len(hopf) == 1 and abs(float(hopf[0].split()[4]) - 2.0) < 1e-6
