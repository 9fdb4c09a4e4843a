"""View benchmark: the cost of one frame of a phase portrait (update, and
update + paint), against a 256² image view's frame measured in the same run.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_views.py [--frames 40] [--quick]

The load is the neural-ODE one: 8 trajectories × 2000 points (NaN-padded
tails) and a 25×25 vector field, a new field every frame (the worst case: an
unchanged field is not redrawn), plus a second, dashed set of trajectories and
a second field (true against learned).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def frames(n: int, rng) -> list[dict]:
    gx, gy = np.linspace(-3, 3, 25), np.linspace(-3, 3, 25)
    x, y = np.meshgrid(gx, gy)
    t = np.linspace(0.0, 20.0, 2000)
    out = []
    for k in range(n):
        r = rng.uniform(0.5, 3.0, (8, 1))
        traj = np.stack([r * np.cos(t + 0.01 * k), r * np.sin(t + 0.01 * k)], -1)
        traj[:, 1500 + 50 * (k % 5):] = np.nan
        out.append({"gx": gx, "gy": gy, "u": y, "v": -x - 0.1 * y + 0.01 * k, "u2": 1.05 * y, "v2": -x,
                    "traj": traj, "traj2": 0.95 * traj, "fp": np.zeros((1, 2)), "kinds": np.array([0]),
                    "field": rng.random((256, 256)).astype(np.float32)})
    return out


def per_frame_ms(app, view, data, paint: bool) -> float:
    times = []
    target = view.glw if hasattr(view, "glw") else view.plot  # the QGraphicsView that paints
    for arrays in data:
        t0 = time.perf_counter()
        view.update_frame(arrays, {}, {}, 0.0)
        if paint:
            target.viewport().repaint()
        times.append(time.perf_counter() - t0)
    app.processEvents()
    return 1e3 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--quick", action="store_true", help="10 frames")
    args = ap.parse_args()
    if args.quick:
        args.frames = 10
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from attractor_lab.widgets.views import make_view

    phase_spec = {"kind": "phase", "title": "phase",
                  "fields": [{"x": "gx", "y": "gy", "u": "u", "v": "v", "name": "true"},
                             {"x": "gx", "y": "gy", "u": "u2", "v": "v2", "name": "learned"}],
                  "trajectories": [{"array": "traj", "name": "true"},
                                   {"array": "traj2", "name": "learned", "style": "dash"}],
                  "fixed_points": [{"array": "fp", "kinds": "kinds", "name": "fixed points"}], "click": "launch"}
    views = {"phase": make_view(phase_spec), "image 256²": make_view({"kind": "image", "array": "field"})}
    for v in views.values():
        v.resize(800, 600)
        v.show()
    app.processEvents()
    data = frames(args.frames, np.random.default_rng(0))
    rows = {}
    for name, view in views.items():
        per_frame_ms(app, view, data[:5], paint=True)  # warm up
        rows[name] = (per_frame_ms(app, view, data, paint=False), per_frame_ms(app, view, data, paint=True))
    ref = rows["image 256²"][1]
    print(f"{'view':<12} {'update ms':>10} {'update+paint ms':>16} {'÷ image frame':>14}")
    for name, (update, total) in rows.items():
        print(f"{name:<12} {update:>10.2f} {total:>16.2f} {total / ref:>14.2f}")


if __name__ == "__main__":
    main()
