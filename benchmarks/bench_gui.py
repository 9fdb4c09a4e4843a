"""GUI benchmark: displayed frames/s, slider-to-screen latency, and engine
throughput with the GUI attached against the same engine headless.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui.py [--grid 256] [--seconds 5]

Ratios are measured in the same run (the machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# eager kernels in both runs: a background torch.compile would land in one of them
os.environ.setdefault("ATTRACTOR_LAB_COMPILE", "0")


def headless_rate(grid: int, seconds: float) -> float:
    from tests.engine_helpers import start_engine, stop_engine

    proc, client = start_engine(Path(tempfile.mkdtemp()))
    try:
        client.request("load", {"model": "gray_scott", "params": {"grid": grid}})
        client.request("run", {"fps": 30})
        rates = []  # warm up until the rate settles (a torch.compile, if asked for, is done)
        for _ in range(60):
            a = client.request("get_state")["step"]
            time.sleep(1.0)
            rates.append(client.request("get_state")["step"] - a)
            if len(rates) >= 3 and abs(rates[-1] - rates[-2]) <= 0.15 * max(rates[-1], 1):
                break
        s0 = client.request("get_state")["step"]
        t0 = time.perf_counter()
        time.sleep(seconds)
        s1 = client.request("get_state")["step"]
        return (s1 - s0) / (time.perf_counter() - t0)
    finally:
        stop_engine(proc, client)


def gui_rates(grid: int, seconds: float, fps: int):
    from PySide6 import QtCore, QtWidgets

    from app.engine_client import QtEngine
    from app.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    engine = QtEngine(device="cpu")
    win = MainWindow(engine, fps=fps)
    win.resize(1400, 900)
    win.show()
    engine.start()

    def spin_until(cond, timeout=60.0):
        # wait in a real event loop (idle between events, as app.exec() is),
        # not in a busy processEvents() loop that would eat the engine's core
        deadline = time.perf_counter() + timeout
        loop = QtCore.QEventLoop()
        timer = QtCore.QTimer(interval=5)
        timer.timeout.connect(lambda: (cond() or time.perf_counter() > deadline) and loop.quit())
        timer.start()
        if not cond():
            loop.exec()
        timer.stop()
        if not cond():
            raise TimeoutError
    spin_until(lambda: win.current is not None)
    win.load_model("gray_scott", {"grid": grid})
    spin_until(lambda: win.last_frame is not None and win.last_frame[1]["v"].shape == (grid, grid))
    def run_for(seconds):
        loop = QtCore.QEventLoop()
        QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    # warm up until the engine's rate settles (a torch.compile, if asked for, is done)
    rates = []
    for _ in range(60):
        s_a = win.last_frame[0]["step"]
        run_for(1.0)
        rates.append(win.last_frame[0]["step"] - s_a)
        if len(rates) >= 3 and abs(rates[-1] - rates[-2]) <= 0.15 * max(rates[-1], 1):
            break
    f0, s0, t0 = win._frames_drawn, win.last_frame[0]["step"], time.perf_counter()
    run_for(seconds)
    dt = time.perf_counter() - t0
    frames_per_s = (win._frames_drawn - f0) / dt
    steps_per_s = (win.last_frame[0]["step"] - s0) / dt
    # slider-to-screen: set F through the panel, time until a frame computed with it is drawn
    latencies = []
    editor = win.panel.editors["F"]
    for i in range(10):
        value = round(0.030 + 0.001 * (i % 2 + 1) + 0.0001 * i, 4)
        t = time.perf_counter()
        editor.box.setValue(value)
        spin_until(lambda: win.last_frame[0]["params"]["F"] == value)
        latencies.append(time.perf_counter() - t)
    win.close()
    return frames_per_s, steps_per_s, statistics.median(latencies)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--grid", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--fps", type=int, default=30)
    args = ap.parse_args()
    headless = headless_rate(args.grid, args.seconds)
    frames, attached, latency = gui_rates(args.grid, args.seconds, args.fps)
    print(f"Gray–Scott {args.grid}², CPU, display rate asked {args.fps} frames/s")
    print(f"  engine headless           {headless:10.0f} steps/s")
    print(f"  engine with GUI attached  {attached:10.0f} steps/s   ratio {attached / headless:.2f}")
    print(f"  GUI displayed             {frames:10.1f} frames/s  ({frames / args.fps:.2f} of asked)")
    print(f"  slider-to-screen latency  {latency * 1000:10.1f} ms (median of 10)")


if __name__ == "__main__":
    main()
