"""GUI benchmark, per family: frames displayed per second against the rate the preset
asks for, slider-to-screen latency (median and p95), the engine's rate with the GUI
attached against the same engine headless, and the window's CPU time per frame, in one
run; then Gray–Scott's second launch: seconds until it runs at 80 % of its compiled rate.

    .venv/bin/python benchmarks/bench_gui.py                 # Qt offscreen (no OpenGL: 3D views off)
    .venv/bin/python benchmarks/bench_gui.py --xvfb          # under Xvfb: xcb, Mesa llvmpipe, 3D in its window
    .venv/bin/python benchmarks/bench_gui.py --only gray_scott_spots --second-launch no --profile 30

Each family runs a shipped preset as a user opens it (its fps, steps per frame,
grid), eager kernels (``ATTRACTOR_LAB_COMPILE=0``, so that a background compile
lands in neither run). Headless: the same engine with the same preset and no window
attached. Latency: a live float parameter set through the panel → the first frame
computed with it handed to the views (20 changes). "GUI CPU per frame" (the window
process's CPU time per frame drawn) is the figure that holds on a loaded machine;
frames/s and latency do not: the load average is printed at the start and the end,
compare ratios within one run. ``--profile N`` adds cProfile's N costliest functions
and the paint time per view. The second launch compiles the kernel in a first engine
(inductor's on-disk cache, ``TORCHINDUCTOR_CACHE_DIR`` or /tmp/torchinductor_$USER;
minutes if it is cold), then times a fresh engine with the default policy.
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
    from attractor_lab.engine.storage.presets import load_preset

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
        c0, d0 = time.process_time(), _draws_3d(win)
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
        gui_ms = 1000 * (time.process_time() - c0) / max(1, win._frames_drawn - f0)
        draws3d = (_draws_3d(win) - d0) / dt
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
        return {"asked": asked, "frames": frames_per_s, "attached": steps_per_s, "latency": latencies,
                "probe": name, "gui_ms": gui_ms, "draws3d": draws3d,
                "frame_steps": win._frame_steps_text.strip(" ·")}
    finally:
        win.close()
        engine.shutdown()
        app.processEvents()


def _draws_3d(win) -> int:
    """3D (OpenGL) draws made so far by the window's 3D views."""
    from attractor_lab.widgets.gl_frame import GLFrame

    return sum(v.draws for v in win.grid.views if isinstance(v, GLFrame))


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


def second_launch(preset_name: str = "gray_scott_spots", share: float = 0.8, max_s: float = 90.0) -> dict:
    """Seconds from an engine's start to ``share`` of the compiled rate, on a second launch.

    First launch: the kernel compiled at its first step (``ATTRACTOR_LAB_COMPILE=1``; inductor
    writes its on-disk cache, the engine remembers the kernel), then its compiled rate
    measured. Second launch: a new engine process with the default policy (``auto``),
    which compiles a kernel it compiled before at load, in the background, stepping
    eagerly meanwhile; its rate is read every 0.25 s (over the last second). Both run
    uncapped (steps per frame 0): the preset's own cap would hide the compiled rate.
    """
    from tests.engine_helpers import start_engine, stop_engine

    p = _preset(preset_name)
    load = {"model": p.model, "params": p.params, "seed": p.seed}

    def launch(policy):
        t0 = time.perf_counter()
        proc, client = start_engine(Path(tempfile.mkdtemp()), env={"ATTRACTOR_LAB_COMPILE": policy})
        client.request("load", load, timeout=600)  # policy 1: the compile happens at the first step
        client.request("set_speed", {"steps_per_frame": 0})
        client.request("run", {"fps": 30})
        return t0, proc, client

    t0, proc, client = launch("1")
    try:
        step = lambda: client.request("get_state", timeout=600)["step"]  # noqa: E731
        deadline = time.perf_counter() + 600
        while step() < 10 and time.perf_counter() < deadline:  # the compile, at the first step
            time.sleep(0.5)
        first_s = time.perf_counter() - t0
        _settle(step, time.sleep)
        s0, ts = step(), time.perf_counter()
        time.sleep(3.0)
        compiled = (step() - s0) / (time.perf_counter() - ts)
    finally:
        stop_engine(proc, client)
    t0, proc, client = launch("auto")
    try:
        history = [(time.perf_counter() - t0, client.request("get_state")["step"])]
        reached = None
        while history[-1][0] < max_s:
            time.sleep(0.25)
            history.append((time.perf_counter() - t0, client.request("get_state")["step"]))
            back = [h for h in history if h[0] <= history[-1][0] - 1.0]
            if back and (history[-1][1] - back[-1][1]) / (history[-1][0] - back[-1][0]) >= share * compiled:
                reached = history[-1][0]
                break
        eager_rate = (history[min(8, len(history) - 1)][1] - history[0][1]) / max(
            1e-9, history[min(8, len(history) - 1)][0] - history[0][0])
    finally:
        stop_engine(proc, client)
    return {"compiled": compiled, "first_launch_s": first_s, "reached_s": reached, "share": share,
            "early_rate": eager_rate, "max_s": max_s}


def _loadavg() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def _under_xvfb(argv) -> None:
    """Run this script again under Xvfb (xcb platform, Mesa's software OpenGL, 3D in a window)."""
    import shutil

    if shutil.which("xvfb-run") is None:
        sys.exit("--xvfb needs xvfb-run (apt-get install xvfb)")
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "ATTRACTOR_LAB_3D": "window", "_BENCH_GUI_XVFB": "1"}
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", sys.executable, str(Path(__file__).resolve()),
           *[a for a in argv if a != "--xvfb"]]
    os.execvpe("xvfb-run", cmd, env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="measuring time per family (default 5)")
    ap.add_argument("--only", nargs="*", help="presets to run (default: one per family)")
    ap.add_argument("--xvfb", action="store_true",
                    help="run under Xvfb (xvfb-run): Qt xcb, Mesa software OpenGL, 3D views in their own window")
    ap.add_argument("--second-launch", choices=("yes", "no", "only"), default="yes",
                    help="also time Gray–Scott's second launch to 80%% of its compiled rate (default yes)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="cProfile the window while it runs: print the N costliest functions and paint time per view")
    args = ap.parse_args()
    if args.xvfb and os.environ.get("_BENCH_GUI_XVFB") != "1":
        _under_xvfb(sys.argv[1:])
    families = [f for f in FAMILIES if not args.only or f[1] in args.only]
    if args.second_launch == "only":
        families = []
    import platform

    from attractor_lab.widgets.gl_frame import opengl_renderer

    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])  # noqa: F841 (kept alive)
    renderer = opengl_renderer() or "none"
    print(f"platform {os.environ['QT_QPA_PLATFORM']} (OpenGL: {renderer}), "
          f"3D {os.environ.get('ATTRACTOR_LAB_3D', 'auto')}, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}), engine on CPU, compile {os.environ['ATTRACTOR_LAB_COMPILE']}; "
          f"{_loadavg()} at the start", flush=True)
    rows = []
    for family, preset, probe in families:
        headless = headless_rate(preset, args.seconds)
        r = gui_rates(preset, args.seconds, probe, profile=args.profile)
        r.update(family=family, preset=preset, headless=headless)
        rows.append(r)
        lat = r["latency"]
        print(f"{family:14s} {preset}: {r['frames']:5.1f}/{r['asked']} frames/s; latency "
              + (f"{statistics.median(lat) * 1000:.0f} ms median, {_p95(lat) * 1000:.0f} ms p95 ({r['probe']})"
                 if lat else "– (no live float parameter)")
              + f"; engine {r['attached']:.0f} steps/s with GUI, {headless:.0f} headless "
              f"(ratio {r['attached'] / headless:.2f}); GUI CPU {r['gui_ms']:.1f} ms/frame"
              + (f"; 3D {r['draws3d']:.1f} draws/s" if r["draws3d"] else "")
              + (f"; {r['frame_steps']}" if r["frame_steps"] else ""), flush=True)
    launch = None
    if args.second_launch != "no":
        launch = second_launch()
        reached = (f"{launch['reached_s']:.1f} s" if launch["reached_s"] is not None
                   else f"not within {launch['max_s']:.0f} s")
        print(f"second launch (gray_scott_spots, uncapped): {launch['share']:.0%} of the compiled rate "
              f"({launch['compiled']:.0f} steps/s) reached {reached} after the engine's start "
              f"(first 2 s: {launch['early_rate']:.0f} steps/s; the first launch compiled in "
              f"{launch['first_launch_s']:.0f} s)", flush=True)
    print(f"\n{_loadavg()} at the end\n")
    if rows:
        print("| family (preset) | frames/s shown / asked | latency median / p95 | engine with GUI / headless (ratio) "
              "| GUI CPU per frame |")
        print("|---|---|---|---|---|")
    for r in rows:
        lat = r["latency"]
        latency = f"{statistics.median(lat) * 1000:.0f} / {_p95(lat) * 1000:.0f} ms ({r['probe']})" if lat else "–"
        print(f"| {r['family']} (`{r['preset']}`) | {r['frames']:.1f} / {r['asked']} | {latency} | "
              f"{r['attached']:.0f} / {r['headless']:.0f} steps/s ({r['attached'] / r['headless']:.2f}) "
              f"| {r['gui_ms']:.1f} ms |")


if __name__ == "__main__":
    main()
