"""GUI benchmark, per family: frames displayed per second against the rate the preset
asks for, slider-to-screen latency (median and p95), and the engine's rate with the GUI
attached against the same engine headless, in one run.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui.py [--seconds 5] [--only gray_scott_spots]
    xvfb-run -a -s "-screen 0 1920x1080x24" env QT_QPA_PLATFORM=xcb ATTRACTOR_LAB_3D=window \\
        .venv/bin/python benchmarks/bench_gui.py

Each family runs a shipped preset as a user opens it (its fps, steps per frame,
grid). Headless: the same engine with the same preset and no window attached
(nobody subscribes to its frames). Ratios are measured in the same run (the
machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# eager kernels in both runs: a background torch.compile would land in one of them
os.environ.setdefault("ATTRACTOR_LAB_COMPILE", "0")
os.environ.setdefault("ATTRACTOR_LAB_SETTINGS_DIR", tempfile.mkdtemp(prefix="bench-gui-settings-"))

FAMILIES = [  # (family, shipped preset, parameter the latency probe moves)
    ("Gray–Scott", "gray_scott_spots", "F"),
    ("Hopfield", "hopfield_retrieval", None),
    ("Lorenz", "ode_lorenz_butterfly", None),
    ("rate network", "rate_network_chaos", None),
    ("Navier–Stokes", "navier_stokes_forced", None),
    ("operator race", "neural_operator_navier_stokes_forced", None),
]


def _preset(name):
    from attractor_lab.engine.presets import load_preset

    return load_preset(ROOT / "presets" / f"{name}.toml")


def _settle(read_step, wait, max_s=20.0):
    """Wait until the engine's rate settles (two 1-s rates within 15 %)."""
    rates = []
    t_end = time.perf_counter() + max_s
    while time.perf_counter() < t_end:
        a = read_step()
        wait(1.0)
        rates.append(read_step() - a)
        if len(rates) >= 2 and abs(rates[-1] - rates[-2]) <= 0.15 * max(rates[-1], 1):
            break


def headless_rate(preset_name: str, seconds: float) -> float:
    from tests.engine_helpers import start_engine, stop_engine

    p = _preset(preset_name)
    proc, client = start_engine(Path(tempfile.mkdtemp()))
    try:
        client.request("load", {"model": p.model, "params": p.params, "seed": p.seed}, timeout=120)
        client.request("set_speed", {"steps_per_frame": p.run.get("steps_per_frame", 0)})
        client.request("run", {"fps": p.run.get("fps", 30)})
        step = lambda: client.request("get_state")["step"]  # noqa: E731
        _settle(step, time.sleep)
        s0, t0 = step(), time.perf_counter()
        time.sleep(seconds)
        return (step() - s0) / (time.perf_counter() - t0)
    finally:
        stop_engine(proc, client)


def _latency_param(win, preferred):
    """A live float parameter of the panel: the preferred one, else the first the preset sets."""
    specs = win.panel.specs
    names = ([preferred] if preferred else []) + list(win.preset.params if win.preset else []) + list(specs)
    for name in names:
        spec = specs.get(name)
        if spec and spec["kind"] == "float" and spec.get("live", True) and name in win.panel.editors:
            return name
    return None


def gui_rates(preset_name: str, seconds: float, probe: str | None, n_latency: int = 20, profile: int = 0):
    from PySide6 import QtCore, QtWidgets

    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    paints = _time_paints() if profile else {}
    engine = QtEngine(device="cpu")
    win = MainWindow(engine, preset_path=str(ROOT / "presets" / f"{preset_name}.toml"))
    win.resize(1400, 900)
    win.show()
    engine.start()

    def spin_until(cond, timeout=60.0):
        # wait in a real event loop (idle between events, as app.exec() is),
        # not in a busy processEvents() loop that would eat the engine's core
        deadline = time.perf_counter() + timeout
        loop = QtCore.QEventLoop()
        timer = QtCore.QTimer(interval=2)
        timer.timeout.connect(lambda: (cond() or time.perf_counter() > deadline) and loop.quit())
        timer.start()
        if not cond():
            loop.exec()
        timer.stop()
        if not cond():
            raise TimeoutError

    def run_for(seconds):
        loop = QtCore.QEventLoop()
        QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    try:
        spin_until(lambda: win.current is not None and win.last_frame is not None
                   and win.last_frame[0].get("model") == win.current["name"] and win.last_frame[0]["step"] > 0,
                   timeout=120)
        asked = win.fps
        _settle(lambda: win.last_frame[0]["step"], run_for)
        f0, s0, t0 = win._frames_drawn, win.last_frame[0]["step"], time.perf_counter()
        c0 = time.process_time()
        if profile:
            import cProfile

            paints.clear()

            prof = cProfile.Profile()
            prof.enable()
        run_for(seconds)
        dt = time.perf_counter() - t0
        if profile:
            prof.disable()
            import pstats

            pstats.Stats(prof).sort_stats("tottime").print_stats(profile)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(profile)
            frames = max(1, win._frames_drawn - f0)
            print("  paint time per frame drawn, by view (ms; paints per frame):")
            for title, (n, total) in sorted(paints.items(), key=lambda kv: -kv[1][1]):
                print(f"    {1000 * total / frames:6.2f}  ({n / frames:.2f})  {title}")
        print(f"  GUI CPU {1000 * (time.process_time() - c0) / max(1, win._frames_drawn - f0):.1f} ms per frame drawn")
        frames_per_s = (win._frames_drawn - f0) / dt
        steps_per_s = (win.last_frame[0]["step"] - s0) / dt
        # slider-to-screen: set a parameter through the panel, time until a frame computed with it is drawn
        latencies = []
        name = _latency_param(win, probe)
        if name is not None:
            editor = win.panel.editors[name]
            base = editor.box.value()
            for i in range(n_latency):
                value = base * (1 + 0.002 * (i % 2 + 1)) if base else 1e-3 * (i % 2 + 1)
                value = min(max(value, editor.box.minimum()), editor.box.maximum())
                run_for(0.05 + 0.01 * (i % 3))  # not in phase with the frames
                t = time.perf_counter()
                editor.box.setValue(value)
                shown = editor.box.value()  # as the box rounds it
                spin_until(lambda: abs(win.last_frame[0]["params"][name] - shown) <= 1e-12 * max(1, abs(shown)))
                latencies.append(time.perf_counter() - t)
        return asked, frames_per_s, steps_per_s, latencies, name
    finally:
        win.close()
        engine.shutdown()
        app.processEvents()


def _time_paints() -> dict:
    """Time every pyqtgraph view's paint, by the title of the view it belongs to."""
    import pyqtgraph as pg

    from attractor_lab.widgets.view_base import View

    totals: dict = {}
    original = pg.GraphicsView.paintEvent

    def timed(self, event):
        t = time.perf_counter()
        try:
            return original(self, event)
        finally:
            w, title = self, type(self).__name__
            while w is not None:
                if isinstance(w, View):
                    title = f"{type(w).__name__} {w.title!r}"
                    break
                w = w.parentWidget()
            n, total = totals.get(title, (0, 0.0))
            totals[title] = (n + 1, total + time.perf_counter() - t)

    pg.GraphicsView.paintEvent = timed
    return totals


def _p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--only", nargs="*", help="presets to run (default: one per family)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="cProfile the window while it runs: print the N costliest functions")
    args = ap.parse_args()
    families = [f for f in FAMILIES if not args.only or f[1] in args.only]
    import platform

    print(f"platform {os.environ['QT_QPA_PLATFORM']}, 3D {os.environ.get('ATTRACTOR_LAB_3D', 'default')}, "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), engine on CPU, "
          f"compile {os.environ['ATTRACTOR_LAB_COMPILE']}")
    rows = []
    for family, preset, probe in families:
        headless = headless_rate(preset, args.seconds)
        asked, frames, attached, lat, name = gui_rates(preset, args.seconds, probe, profile=args.profile)
        rows.append((family, preset, asked, frames, lat, name, headless, attached))
        print(f"{family:14s} {preset}: {frames:5.1f}/{asked} frames/s; latency "
              + (f"{statistics.median(lat) * 1000:.0f} ms median, {_p95(lat) * 1000:.0f} ms p95 ({name})"
                 if lat else "– (no live float parameter)")
              + f"; engine {attached:.0f} steps/s with GUI, {headless:.0f} headless (ratio {attached / headless:.2f})",
              flush=True)
    print()
    print("| family (preset) | frames/s shown / asked | latency median / p95 | engine with GUI / headless (ratio) |")
    print("|---|---|---|---|")
    for family, preset, asked, frames, lat, name, headless, attached in rows:
        latency = f"{statistics.median(lat) * 1000:.0f} / {_p95(lat) * 1000:.0f} ms ({name})" if lat else "–"
        print(f"| {family} (`{preset}`) | {frames:.1f} / {asked} | {latency} | "
              f"{attached:.0f} / {headless:.0f} steps/s ({attached / headless:.2f}) |")


if __name__ == "__main__":
    main()
