"""Movies of recorded fields: colours, formats, CLI."""

import subprocess
import sys

import numpy as np
import pytest


def _trajectory(tmp_path):
    from attractor_lab.engine.storage.recorder import Recorder

    rec = Recorder(every=1)
    y, x = np.mgrid[0:24, 0:30]
    for t in range(8):
        blob = np.exp(-((x - 3 * t - 4) ** 2 + (y - 12) ** 2) / 8.0).astype(np.float32)
        rec.capture(t, float(t), {"v": blob, "u": 1 - blob}, {"mean_v": float(blob.mean())})
    return rec.save(tmp_path / "t.npz", 'model = "gray_scott"')


def test_colorize_uses_fixed_levels():
    from attractor_lab.widgets.movie import colorize

    frames = np.stack([np.zeros((4, 4)), np.ones((4, 4))])
    rgb = colorize(frames, "gray", levels=(0.0, 2.0))
    assert rgb.shape == (2, 4, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0].max() < 10 and 110 < rgb[1, 0, 0, 0] < 145  # 1.0 sits mid-scale of [0, 2]


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_movie_cli_writes_playable_file(tmp_path, suffix):
    import imageio.v3 as iio

    traj = _trajectory(tmp_path)
    out = tmp_path / f"m{suffix}"
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "movie", str(traj), "--array", "v", "--out", str(out),
                        "--fps", "10", "--colormap", "gray", "--levels", "0", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    frames = iio.imread(out, index=None)
    assert len(frames) == 8
    # the bright blob moves right: its column of maximum brightness increases
    cols = [int(np.argmax(f[..., 0].astype(float).sum(0))) for f in frames]
    assert cols[-1] > cols[0] + 10
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_movie_cli_refuses_unknown_array(tmp_path):
    traj = _trajectory(tmp_path)
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "movie", str(traj), "--array", "w", "--out",
                        str(tmp_path / "m.gif")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "'w'" in r.stderr and "u" in r.stderr and "v" in r.stderr


def test_movies_only_of_image_fields_a_recording_keeps():
    from types import SimpleNamespace

    from attractor_lab.app.main_window import movie_views
    from attractor_lab.engine.models import get

    def offered(name):
        d = get(name).describe()
        return [v.spec["array"] for v in movie_views([SimpleNamespace(spec=s) for s in d["views"]],
                                                     d["record_fields"])]

    assert offered("gray_scott") == ["v", "u"]  # records everything: every image view
    assert offered("continuous_hopfield") == ["state"]  # records the outputs, not the static cued pattern
    assert offered("ode_system") == []  # no image views
