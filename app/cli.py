"""``attractor-lab``: the desktop app, the engine process and the headless commands.

    attractor-lab [--preset FILE] [--device D] [--connect FILE]   open the window
    attractor-lab models [--json]                                  list models and parameters
    attractor-lab run PRESET --steps N --out FILE [--every K]      headless run to NPZ/HDF5/CSV
    attractor-lab movie TRAJ --array v --out movie.mp4             a movie of a recorded field
    attractor-lab engine --connection-file FILE [--ip ADDR]        start an engine (e.g. on a GPU box)

The window's process never imports torch; ``models`` and ``run`` do, in their own process.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"models": cmd_models, "run": cmd_run, "movie": cmd_movie, "engine": cmd_engine, "gui": cmd_gui}
    if argv and argv[0] in commands:
        return commands[argv[0]](argv[1:])
    return cmd_gui(argv)


def cmd_engine(argv) -> int:
    from engine.server import main as engine_main

    return engine_main(argv)


def cmd_models(argv) -> int:
    ap = argparse.ArgumentParser(prog="attractor-lab models", description="List models and their parameters.")
    ap.add_argument("--json", action="store_true", help="print the declarations as JSON")
    args = ap.parse_args(argv)
    from engine import api

    descriptions = {n: api.describe(n) for n in api.list_models()}
    if args.json:
        print(json.dumps(descriptions, indent=2))
        return 0
    for name, d in descriptions.items():
        print(f"{name}: {d['title']} — {d['description']}")
        for p in d["params"]:
            rng = ", ".join(p["choices"]) if p["kind"] == "choice" else (
                f"[{p['min']}, {p['max']}]" if p["kind"] in ("float", "int") else "true/false")
            unit = f" {p['unit']}" if p["unit"] else ""
            live = "live" if p["live"] else "on reset"
            print(f"    {p['name']:<20} {p['kind']:<6} default {p['default']!s:<10} {rng}{unit} ({live}) {p['help']}")
        print()
    return 0


def cmd_run(argv) -> int:
    ap = argparse.ArgumentParser(prog="attractor-lab run",
                                 description="Run a preset without a window and write the trajectory.")
    ap.add_argument("preset", help="preset TOML file")
    ap.add_argument("--steps", type=int, default=None, help="steps to run (default: the preset's run.steps or 1000)")
    ap.add_argument("--out", required=True, help="output file: .npz, .h5 or .csv (observables only)")
    ap.add_argument("--every", type=int, default=None,
                    help="record a snapshot every K steps (default: the preset's run.every, else steps/100)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    ap.add_argument("--seed", type=int, default=None, help="override the preset's seed")
    ap.add_argument("--csv", action="store_true", help="also write the observables as CSV beside --out")
    ap.add_argument("--max-memory-gb", type=float, default=4.0,
                    help="refuse runs whose snapshots would need more memory than this (default 4)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    from pathlib import Path

    from tqdm import tqdm

    from engine.api import create
    from engine.models.base import SimulationDiverged
    from engine.presets import PresetError, load_preset
    from engine.recorder import FORMATS, Recorder, RecordingFull

    out = Path(args.out)
    if out.suffix.lower() not in FORMATS:
        print(f"attractor-lab run: --out {out.name!r}: use one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    try:
        preset = load_preset(args.preset)
    except PresetError as exc:
        print(f"attractor-lab run: {exc}", file=sys.stderr)
        return 2
    if args.seed is not None:
        preset.seed = args.seed
    steps = args.steps if args.steps is not None else preset.run.get("steps", 1000)
    # default: the preset's run.every, else about 100 snapshots over the run
    every = args.every if args.every is not None else preset.run.get("every", max(1, -(-steps // 100)))
    if steps < 0 or every < 1:
        print("attractor-lab run: --steps must be >= 0 and --every >= 1", file=sys.stderr)
        return 2
    try:
        sim = create(preset.model, seed=preset.seed, device=args.device, **preset.params)
    except ValueError as exc:
        print(f"attractor-lab run: {exc}", file=sys.stderr)
        return 2
    m = sim.model
    # the arrays a trajectory is made of (models may leave out display-only ones)
    keep = m.record_fields
    first = {k: v for k, v in m.numpy_state().items() if keep is None or k in keep}
    snapshots = steps // every + 1
    per_snapshot = sum(a.nbytes for a in first.values()) + 8 * (len(m.observables()) + 2)
    need = snapshots * per_snapshot
    budget = max(args.max_memory_gb * 2**30, 1)
    if need > budget:
        print(f"attractor-lab run: {snapshots} snapshots of {preset.model} need {need / 2**30:.2f} GiB, more than "
              f"--max-memory-gb {args.max_memory_gb:g}; record less often (--every {int(every * need / budget) + 1}) "
              f"or raise --max-memory-gb", file=sys.stderr)
        return 2
    rec = Recorder(every=every, arrays=keep, max_bytes=int(budget) + 2**20)
    rec.capture(m.steps, m.time, first, m.observables())
    stopped = None
    with tqdm(total=steps, unit="step", disable=args.quiet, file=sys.stderr, desc=preset.model) as bar:
        done = 0
        while done < steps:
            n = min(every, steps - done)
            try:
                sim.step(n)
            except SimulationDiverged as exc:  # keep what was recorded up to here
                stopped = f"stopped at step {m.steps}: {exc}"
                break
            done += n
            bar.update(n)
            if m.steps % every == 0:
                try:
                    rec.capture(m.steps, m.time, m.numpy_state(), m.observables())
                except RecordingFull as exc:  # keep what was recorded up to here
                    stopped = str(exc)
                    break
    if stopped:
        print(f"attractor-lab run: {stopped}", file=sys.stderr)
    meta = {"device": sim.device, "steps": steps, "preset_file": str(args.preset)}
    rec.save(out, preset.dumps(), meta)
    if args.csv and out.suffix.lower() != ".csv":
        rec.save(out.with_suffix(".csv"))
    print(f"wrote {len(rec)} snapshots of {preset.model} to {out}", file=sys.stderr)
    return 1 if stopped else 0


def cmd_movie(argv) -> int:
    ap = argparse.ArgumentParser(prog="attractor-lab movie",
                                 description="Write a movie (MP4 or GIF) of one field of a recorded trajectory.")
    ap.add_argument("trajectory", help="trajectory file (.npz or .h5) from `run` or the window's recorder")
    ap.add_argument("--array", default=None, help="which recorded field (default: the first 2D one)")
    ap.add_argument("--out", required=True, help="movie file: .mp4 or .gif")
    ap.add_argument("--fps", type=float, default=30.0, help="frames per second of the movie")
    ap.add_argument("--colormap", default="viridis", help="colour map (pyqtgraph/matplotlib names)")
    ap.add_argument("--levels", type=float, nargs=2, metavar=("LO", "HI"), help="fixed colour levels")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    from tqdm import tqdm

    from engine.recorder import load_trajectory
    from widgets.movie import colorize, write_movie

    try:
        data = load_trajectory(args.trajectory)
    except (OSError, ValueError, KeyError) as exc:
        print(f"attractor-lab movie: cannot read {args.trajectory!r}: {exc}", file=sys.stderr)
        return 2
    fields = {k.removeprefix("state/"): v for k, v in data.items() if k.startswith("state/") and v.ndim == 3}
    if not fields:
        print(f"attractor-lab movie: {args.trajectory!r} holds no recorded 2D field", file=sys.stderr)
        return 2
    name = args.array or next(iter(fields))
    if name not in fields:
        print(f"attractor-lab movie: --array {name!r} not recorded; choose one of {', '.join(fields)}", file=sys.stderr)
        return 2
    try:
        rgb = colorize(fields[name], args.colormap, args.levels)
        with tqdm(total=len(rgb), unit="frame", disable=args.quiet, file=sys.stderr, desc=name) as bar:
            write_movie(args.out, rgb, args.fps, progress=bar.update)
    except ValueError as exc:
        print(f"attractor-lab movie: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(rgb)} frames of {name!r} to {args.out}", file=sys.stderr)
    return 0


def cmd_gui(argv) -> int:
    ap = argparse.ArgumentParser(prog="attractor-lab", description="Attractor Lab desktop app.",
                                 epilog="Subcommands: models, run, engine (see attractor-lab CMD --help).")
    ap.add_argument("--preset", help="preset TOML to open")
    ap.add_argument("--device", default="auto", help="engine device: auto, cpu or cuda[:N]")
    ap.add_argument("--connect", metavar="FILE", help="attach to a running engine through its connection file")
    ap.add_argument("--fps", type=int, default=30, help="display rate (frames/s)")
    ap.add_argument("--smoke-test", type=int, default=0, metavar="N",
                    help="(testing) quit after N frames and print a JSON report")
    args = ap.parse_args(argv)

    from PySide6 import QtCore, QtWidgets

    from app.engine_client import QtEngine
    from app.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("Attractor Lab")
    engine = QtEngine(connection_file=args.connect, device=args.device)
    win = MainWindow(engine, preset_path=args.preset, fps=args.fps)
    win.show()
    engine.start()
    if args.smoke_test:
        report = {}

        def on_frame(n):
            if n >= args.smoke_test:
                report.update(frames=n, torch_loaded="torch" in sys.modules, model=win.current["name"],
                              engine_pid=engine.proc.pid if engine.proc else None)
                win.close()

        win.frame_drawn.connect(on_frame)
        QtCore.QTimer.singleShot(120_000, win.close)
        code = app.exec()
        print(json.dumps(report))
        return code if report else 1
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
