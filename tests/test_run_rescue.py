"""`attractor-lab run` keeps a finished run whose output cannot be written at the end.

The tests run as root in CI, where chmod does not stop a write: the failures are made
in-process instead — the target becomes a folder just before it is written (a real
IsADirectoryError from the rename), or the writer meets a read-only folder (EROFS).
"""

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from attractor_lab.app.cli import main
from attractor_lab.engine.storage import recorder
from attractor_lab.engine.storage.recorder import CsvStream, load_trajectory

PRESET = """
format_version = 1
model = "gray_scott"
title = "test spots"
seed = 4
[params]
grid = 32
[view]
field = "u"
"""


@pytest.fixture
def preset(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # platformdirs' user data folder
    path = tmp_path / "p.toml"
    path.write_text(PRESET)
    return path


def _line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith(("engine ", "  warnings."))]
    assert len(lines) == 1, lines
    return lines[0]


def _kept_path(line: str) -> Path:
    assert "the run finished and its " in line and " were kept in '" in line, line
    return Path(line.rsplit(" were kept in '", 1)[1].rstrip("'"))


def test_a_folder_turned_read_only_sends_the_run_to_the_data_folder(preset, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    real = recorder.write_atomically

    def read_only_folder(path, *a, **k):
        if Path(path).parent == folder:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(path, *a, **k)

    monkeypatch.setattr(recorder, "write_atomically", read_only_folder)
    out = folder / "t.npz"
    code = main(["run", str(preset), "--steps", "40", "--every", "2", "--out", str(out), "--quiet", "--device", "cpu"])
    line = _line(capsys)
    assert code == 1
    assert line.startswith(f"attractor-lab run: cannot write {str(out)!r}: Read-only file system; ")
    kept = _kept_path(line)
    assert kept.parent == tmp_path / "data" / "attractor-lab" / "rescued"
    assert kept.name.startswith("t.rescued-") and kept.suffix == ".npz"
    assert "21 snapshots of gray_scott" in line
    data = load_trajectory(kept)
    assert data["step"].tolist() == list(range(0, 41, 2)) and data["state/u"].shape == (21, 32, 32)
    assert 'model = "gray_scott"' in data["preset_toml"]
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_a_target_that_became_a_folder_keeps_the_run_beside_it(preset, tmp_path, monkeypatch, capsys, suffix):
    out = tmp_path / f"t{suffix}"
    real = recorder.write_atomically

    def target_becomes_a_folder(path, *a, **k):
        if Path(path) == out:
            out.mkdir()  # the real rename then fails: IsADirectoryError
        return real(path, *a, **k)

    monkeypatch.setattr(recorder, "write_atomically", target_becomes_a_folder)
    code = main(["run", str(preset), "--steps", "20", "--every", "5", "--out", str(out), "--quiet", "--csv",
                 "--device", "cpu"])
    line = _line(capsys)
    assert code == 1
    assert line.startswith(f"attractor-lab run: cannot write {str(out)!r}: Is a directory; ")
    kept = _kept_path(line)
    assert kept.parent == tmp_path and kept.name.startswith("t.rescued-") and kept.suffix == suffix
    assert load_trajectory(kept)["state/v"].shape == (5, 32, 32)
    assert (tmp_path / "t.csv").read_text().startswith("step,time,")  # the --csv companion was written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_a_streamed_csv_whose_target_became_a_folder_is_kept(preset, tmp_path, monkeypatch, capsys):
    out = tmp_path / "t.csv"
    real_capture = CsvStream.capture

    def capture(self, *a, **k):
        out.mkdir(exist_ok=True)
        return real_capture(self, *a, **k)

    monkeypatch.setattr(CsvStream, "capture", capture)
    code = main(["run", str(preset), "--steps", "30", "--every", "1", "--out", str(out), "--quiet", "--device", "cpu"])
    line = _line(capsys)
    assert code == 1 and "31 rows of gray_scott" in line
    rows = _kept_path(line).read_text().splitlines()
    assert rows[0].startswith("step,time,") and len(rows) == 32 and rows[-1].startswith("30,")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]
    assert np.isfinite(float(rows[-1].split(",")[1]))
