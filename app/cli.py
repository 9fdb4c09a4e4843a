"""``attractor-lab``: the desktop app, the engine process and the headless commands.

    attractor-lab [--preset FILE] [--device D] [--connect FILE]   open the window
    attractor-lab models [--json]                                  list models and parameters
    attractor-lab run PRESET --steps N --out FILE [--every K]      headless run to NPZ/HDF5/CSV
    attractor-lab movie TRAJ --array v --out movie.mp4             a movie of a recorded field
    attractor-lab engine --connection-file FILE [--ip ADDR]        start an engine (e.g. on a GPU box)
    attractor-lab train-operator --system S --out DIR              train a Fourier neural operator
    attractor-lab sweep new|run|show …                             parameter sweeps on Dask (app/sweep_cli.py)
    attractor-lab analyse continuation|orbit|basins|nullclines SRC dynamical-systems analysis (app/analyse_cli.py)
    attractor-lab presets [--paths]                                shipped and user presets by model
    attractor-lab thumbnails [PRESET …]                            render preset thumbnails (cached)
    attractor-lab install-desktop [--uninstall]                    menu entry, icons, AppStream metadata
    attractor-lab --version

The window's process never imports torch; ``models``, ``run`` and ``train-operator`` do, in their own process.
"""

from __future__ import annotations

import json
import sys

from attractor_lab.app.cli_help import CliParser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl+C anywhere else: no traceback (run handles its own)
        print("attractor-lab: interrupted", file=sys.stderr)
        return 130


def _fail(command: str, message: str, code: int = 2) -> int:
    """One line on stderr, for errors the user can act on."""
    print(f"attractor-lab {command}: {message}", file=sys.stderr)
    return code


def _main(argv: list[str]) -> int:
    if argv[:1] in (["--version"], ["-V"]):
        from attractor_lab.app.desktop_cli import version_text

        print(version_text())
        return 0
    commands = _commands()
    if argv and argv[0] in commands:
        return commands[argv[0]](argv[1:])
    return cmd_gui(argv)


def _commands() -> dict:
    """Subcommand name -> function(argv) -> exit code (``gui`` is the default)."""
    from attractor_lab.app import desktop_cli

    return {
        "models": cmd_models,
        "run": cmd_run,
        "movie": cmd_movie,
        "engine": cmd_engine,
        "gui": cmd_gui,
        "train-operator": cmd_train_operator,
        "sweep": cmd_sweep,
        "analyse": cmd_analyse,
        "presets": desktop_cli.cmd_presets,
        "thumbnails": desktop_cli.cmd_thumbnails,
        "install-desktop": desktop_cli.cmd_install_desktop,
    }


def cmd_sweep(argv) -> int:
    from attractor_lab.app.sweep_cli import cmd_sweep as sweep_main

    return sweep_main(argv)


def cmd_analyse(argv) -> int:
    from attractor_lab.app.analyse_cli import cmd_analyse as analyse_main

    return analyse_main(argv)


def cmd_engine(argv) -> int:
    from attractor_lab.engine.transport.server import main as engine_main

    return engine_main(argv)


def cmd_models(argv) -> int:
    ap = CliParser(prog="attractor-lab models", description="List models and their parameters.")
    ap.add_argument("--json", action="store_true", help="print the declarations as JSON")
    args = ap.parse_args(argv)
    from attractor_lab.engine import api

    descriptions = {n: api.describe(n) for n in api.list_models()}
    if args.json:
        print(json.dumps(descriptions, indent=2))
        return 0
    for name, d in descriptions.items():
        print(f"{name}: {d['title']} — {d['description']}")
        for p in d["params"]:
            rng = ", ".join(p["choices"]) if p["kind"] == "choice" else (
                f"[{p['min']}, {p['max']}]" if p["kind"] in ("float", "int") else
                "text" if p["kind"] == "text" else "true/false")
            unit = f" {p['unit']}" if p["unit"] else ""
            live = "live" if p["live"] else "on reset"
            default = f"({len(p['default'].splitlines())} lines)" if p["kind"] == "text" else p["default"]
            print(f"    {p['name']:<20} {p['kind']:<6} default {default!s:<10} {rng}{unit} ({live}) {p['help']}")
        print()
    return 0


def cmd_run(argv) -> int:
    ap = CliParser(prog="attractor-lab run",
                                 description="Run a preset without a window and write the trajectory.")
    ap.add_argument("preset", nargs="?", default=None,
                    help="preset TOML file, an XPPAUT .ode file, or the name of a shipped or user preset")
    ap.add_argument("--equations", metavar="FILE", default=None,
                    help="run your own equations instead of a preset: a text file (custom_rd when it uses "
                         "lap(), else custom_ode) or an XPPAUT .ode file")
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
    return _run(args)


def _run(args) -> int:
    """``run``: everything that can be checked is checked before computing; what was
    computed is written even when the run stops early (a diverged model, a full
    recording, Ctrl+C: exit 130); a file that cannot be written at the end is written
    beside it or in the data folder instead (:func:`_save_or_rescue`), with one line
    saying where, and exit code 1."""
    import math
    from pathlib import Path

    from attractor_lab.engine.files import check_writable_target, remove_stale_temps
    from attractor_lab.engine.params import MAX_SEED

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".npz", ".h5", ".hdf5", ".csv"):
        return _fail("run", f"--out {out.name!r}: use one of .npz, .h5, .hdf5, .csv")
    if not math.isfinite(args.max_memory_gb) or args.max_memory_gb <= 0:
        return _fail("run", f"--max-memory-gb must be a positive finite number of GiB, not {args.max_memory_gb}")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        return _fail("run", f"--seed must be an integer from 0 to {MAX_SEED}, not {args.seed}")
    if args.steps is not None and args.steps < 0:
        return _fail("run", f"--steps must be >= 0, not {args.steps}")
    if args.every is not None and args.every < 1:
        return _fail("run", f"--every must be >= 1, not {args.every}")
    targets = [out] + ([out.with_suffix(".csv")] if args.csv and suffix != ".csv" else [])
    for target in targets:
        try:
            check_writable_target(target)
        except OSError as exc:
            return _fail("run", f"cannot write --out {str(target)!r}: {exc.strerror or exc}")
        remove_stale_temps(target.parent if str(target.parent) else ".")

    from tqdm import tqdm

    from attractor_lab.engine.api import create
    from attractor_lab.engine.transport.memory import MemoryBudget, check_model_memory
    from attractor_lab.engine.models import get as get_model
    from attractor_lab.engine.models.base import SimulationDiverged
    from attractor_lab.engine.storage.presets import PresetError, find_preset, load_preset, preset_from_equations
    from attractor_lab.engine.storage.recorder import CsvStream, Recorder, RecordingFull

    if (args.preset is None) == (args.equations is None):
        return _fail("run", "give a preset or --equations FILE (one of them)")
    try:
        preset = (preset_from_equations(args.equations) if args.equations is not None
                  else load_preset(find_preset(args.preset)))
    except PresetError as exc:
        return _fail("run", str(exc))
    if args.seed is not None:
        preset.seed = args.seed
    steps = args.steps if args.steps is not None else preset.run.get("steps", 1000)
    # default: the preset's run.every, else about 100 snapshots over the run
    every = args.every if args.every is not None else preset.run.get("every", max(1, -(-steps // 100)))
    try:
        check_model_memory(get_model(preset.model), preset.params, MemoryBudget(), what="run")
        sim = create(preset.model, seed=preset.seed, device=args.device, **preset.params)
    except (ValueError, RuntimeError) as exc:  # RuntimeError: e.g. CUDA asked for and unusable
        return _fail("run", str(exc))
    m = sim.model
    snapshots = steps // every + 1
    if suffix == ".csv":  # observables only: streamed to the file, nothing held in memory
        rec = CsvStream(out)
        capture = lambda: rec.capture(m.steps, m.time, m.observables())  # noqa: E731
    else:
        # the arrays a trajectory is made of (models may leave out display-only ones)
        keep = m.record_fields
        first = {k: v for k, v in m.numpy_state().items() if keep is None or k in keep}
        per_snapshot = sum(a.nbytes for a in first.values()) + 8 * (len(m.observables()) + 2)
        need = snapshots * per_snapshot
        budget = max(args.max_memory_gb * 2**30, 1)
        if need > budget:
            return _fail("run", f"{snapshots} snapshots of {preset.model} need {need / 2**30:.2f} GiB, more than "
                         f"--max-memory-gb {args.max_memory_gb:g}; record less often "
                         f"(--every {int(every * need / budget) + 1}), raise --max-memory-gb, or write "
                         "observables only (--out FILE.csv)")
        rec = Recorder(every=every, arrays=keep, max_bytes=int(budget) + 2**20)
        capture = lambda: rec.capture(m.steps, m.time, m.numpy_state(), m.observables())  # noqa: E731
    stopped, code = None, 0
    try:
        with m.exact_observables():
            capture()
        with tqdm(total=steps, unit="step", disable=args.quiet, file=sys.stderr, desc=preset.model) as bar:
            done = 0
            while done < steps:
                n = min(every, steps - done)
                try:
                    sim.step(n)
                except SimulationDiverged as exc:  # keep what was recorded up to here
                    stopped, code = f"stopped at step {m.steps}: {exc}", 1
                    break
                done += n
                bar.update(n)
                if m.steps % every == 0:
                    try:
                        capture()
                    except RecordingFull as exc:  # keep what was recorded up to here
                        stopped, code = str(exc), 1
                        break
    except KeyboardInterrupt:
        stopped, code = f"interrupted (Ctrl+C) at step {m.steps}; keeping the {len(rec)} snapshots recorded", 130
    except OSError as exc:  # the CSV stream's disk
        if isinstance(rec, CsvStream):
            rec.discard()
        return _fail("run", f"cannot write {str(out)!r}: {exc.strerror or exc}", 1)
    if stopped:
        print(f"attractor-lab run: {stopped}", file=sys.stderr)
    meta = {"device": sim.device, "steps": steps, "preset_file": str(args.preset or args.equations)}
    what = f"{len(rec)} {'rows' if isinstance(rec, CsvStream) else 'snapshots'} of {preset.model}"
    try:
        if isinstance(rec, CsvStream):
            problems = [_finish_stream_or_rescue(rec, what)]
        else:
            problems = [_save_or_rescue(out, lambda p: rec.save(p, preset.dumps(), meta), what)]
            if args.csv:
                problems.append(_save_or_rescue(out.with_suffix(".csv"), lambda p: rec.save(p), "observables"))
    except KeyboardInterrupt:
        return _fail("run", f"interrupted (Ctrl+C) while writing {str(out)!r}; nothing was written", 130)
    problems = [p for p in problems if p]
    if problems:
        for problem in problems[:-1]:
            print(f"attractor-lab run: {problem}", file=sys.stderr)
        return _fail("run", problems[-1], 1)
    print(f"wrote {what} to {out}", file=sys.stderr)
    return code


def _rescue_places(target) -> list:
    """Where a finished run goes when ``target`` cannot be written: beside it (the target
    may have become a folder or a file that cannot be replaced), else the platform's data
    folder (the target's folder may have become read-only, or its disk full)."""
    import os
    import time
    from pathlib import Path

    import platformdirs

    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{target.stem}.rescued-{stamp}-{os.getpid()}{target.suffix}"
    data = Path(platformdirs.user_data_dir("attractor-lab", appauthor=False)) / "rescued"
    return [target.with_name(name), data / name]


def _save_or_rescue(target, write, what: str, failed: OSError | None = None) -> str | None:
    """``write(path)`` to ``target`` (unless it ``failed`` already); if that fails with an
    ``OSError``, to the first of :func:`_rescue_places` that takes it. Returns ``None`` when
    ``target`` was written, else the one line to print (where the result was kept, or that
    it could not be)."""
    if failed is None:
        try:
            write(target)
            return None
        except OSError as exc:
            failed = exc
    reason = failed.strerror or str(failed)
    tried = []
    for place in _rescue_places(target):
        try:
            place.parent.mkdir(parents=True, exist_ok=True)
            write(place)
        except OSError as exc:
            tried.append(f"{str(place.parent)!r}: {exc.strerror or exc}")
            continue
        return f"cannot write {str(target)!r}: {reason}; the run finished and its {what} were kept in {str(place)!r}"
    return (f"cannot write {str(target)!r}: {reason}; nor could the result be kept elsewhere "
            f"({'; '.join(tried)}); nothing was written")


def _finish_stream_or_rescue(rec, what: str) -> str | None:
    """Close a :class:`CsvStream` into place; if the rename fails (the target became a folder,
    its folder read-only), copy the complete rows to a rescue place instead. Rows that never
    reached the disk (a full disk while flushing) cannot be kept."""
    import os

    from attractor_lab.engine.files import write_atomically

    try:
        rec.file.flush()
        os.fsync(rec.file.fileno())
        rec.file.close()
    except OSError as exc:
        rec.discard()
        return f"cannot write {str(rec.path)!r}: {exc.strerror or exc}; nothing was written"
    try:
        os.replace(rec.tmp, rec.path)
        return None
    except OSError as exc:
        failed = exc
    try:
        rows = rec.tmp.read_bytes()
    except OSError as exc:
        rec.discard()
        return f"cannot write {str(rec.path)!r}: {failed.strerror or failed}; nothing was written ({exc.strerror})"
    try:
        return _save_or_rescue(rec.path, lambda p: write_atomically(p, lambda f: f.write(rows)), what, failed)
    finally:
        rec.discard()


def cmd_movie(argv) -> int:
    ap = CliParser(prog="attractor-lab movie",
                                 description="Write a movie (MP4 or GIF) of one field of a recorded trajectory.")
    ap.add_argument("trajectory", help="trajectory file (.npz or .h5) from `run` or the window's recorder")
    ap.add_argument("--array", default=None,
                    help="which recorded field (default: the preset's main field, else the first 2D one)")
    ap.add_argument("--out", required=True, help="movie file: .mp4 or .gif")
    ap.add_argument("--fps", type=float, default=30.0, help="frames per second of the movie")
    ap.add_argument("--colormap", default="viridis", help="colour map (pyqtgraph/matplotlib names)")
    ap.add_argument("--levels", type=float, nargs=2, metavar=("LO", "HI"), help="fixed colour levels")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    from tqdm import tqdm

    from attractor_lab.engine.storage.recorder import load_trajectory
    from attractor_lab.widgets.movie import colorize, write_movie

    from pathlib import Path

    suffix = Path(args.trajectory).suffix.lower()
    if suffix == ".csv":
        return _fail("movie", f"{args.trajectory!r} is a CSV of observables, with no fields to film; "
                     "give the trajectory's .npz or .h5 file")
    if suffix not in (".npz", ".h5", ".hdf5"):
        return _fail("movie", f"{args.trajectory!r}: expected a trajectory file (.npz, .h5 or .hdf5)")
    if Path(args.out).suffix.lower() not in (".mp4", ".gif"):
        return _fail("movie", f"--out {args.out!r}: use .mp4 or .gif")
    try:
        data = load_trajectory(args.trajectory)
    except (OSError, ValueError, KeyError) as exc:
        return _fail("movie", f"cannot read {args.trajectory!r}: {exc}")
    fields = {k.removeprefix("state/"): v for k, v in data.items() if k.startswith("state/") and v.ndim == 3}
    if not fields:
        return _fail("movie", f"{args.trajectory!r} holds no recorded 2D field")
    name = args.array or _main_field(data.get("preset_toml", ""), fields) or next(iter(fields))
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


def cmd_train_operator(argv) -> int:
    ap = CliParser(
        prog="attractor-lab train-operator",
        description="Generate data with the engine's own solver (seeded), train a Fourier neural operator "
                    "u(t) -> u(t + dt) with the viscosity (and forcing) as inputs, measure it on a held-out test "
                    "split and write DIR/weights.safetensors and DIR/card.json.")
    ap.add_argument("--system", required=True, choices=("burgers", "navier_stokes"))
    ap.add_argument("--out", required=True, metavar="DIR", help="checkpoint folder (created if missing)")
    ap.add_argument("--samples", type=int, default=None, help="training trajectories (default per system)")
    ap.add_argument("--test-samples", type=int, default=None, help="held-out test trajectories")
    ap.add_argument("--epochs", type=int, default=None, help="passes over the training pairs")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (data generation and training)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the training data and the initialisation")
    ap.add_argument("--test-seed", type=int, default=1_000_003, help="seed of the test split (not --seed)")
    ap.add_argument("--steps", type=int, default=None, help="snapshots per trajectory after the start")
    ap.add_argument("--grid", type=int, default=None, help="training grid (default: 256 Burgers, 64 Navier–Stokes)")
    ap.add_argument("--batch", type=int, default=None, help="pairs per optimiser step")
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (one-cycle schedule)")
    ap.add_argument("--unroll", type=int, default=None, help="steps the loss follows the operator's own output")
    ap.add_argument("--width", type=int, default=None, help="channels of the Fourier layers")
    ap.add_argument("--modes", type=int, default=None, help="Fourier modes kept per axis")
    ap.add_argument("--layers", type=int, default=None, help="Fourier layers")
    ap.add_argument("--pushforward", type=int, default=0,
                    help="train from up to P steps of the operator's own rollout (no gradient through them)")
    ap.add_argument("--noise", type=float, default=0.0, help="input noise, in units of each sample's RMS")
    ap.add_argument("--init", default=None, metavar="DIR", help="fine-tune this checkpoint instead of a new network")
    ap.add_argument("--remeasure", action="store_true",
                    help="train nothing: measure the checkpoint in DIR again (its card's test split, rollout curves "
                         "over --rollout-steps, default 40) and rewrite its card's errors")
    ap.add_argument("--rollout-steps", type=int, default=0,
                    help="also record rollout curves over this many steps on held-out starts in the card")
    ap.add_argument("--weights-dtype", choices=("float32", "float16"), default="float32",
                    help="precision the weights are stored in")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (default: the engine's rule, 1 on machines with <= 4 cores)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)

    import shlex
    import time

    from attractor_lab.engine.device import choose_device, configure_torch
    from attractor_lab.engine.models.neural_operator._training import train_operator

    try:
        device = choose_device(args.device)
        configure_torch(args.threads)  # flush subnormals; threads as asked, else the engine's rule
        command = "attractor-lab train-operator " + shlex.join(argv)
        started = time.perf_counter()
        if args.remeasure:
            from attractor_lab.engine.models.neural_operator._training import remeasure

            remeasure(args.out, rollout_steps=args.rollout_steps or 40, device=device, command=command,
                      message=lambda text: print(text, file=sys.stderr))
            print(f"rewrote {args.out}/card.json in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            return 0
        train_operator(args.system, args.out, samples=args.samples, test_samples=args.test_samples,
                       epochs=args.epochs, device=device, seed=args.seed, test_seed=args.test_seed,
                       grid=args.grid, steps=args.steps, batch=args.batch, lr=args.lr, unroll=args.unroll,
                       width=args.width, modes=args.modes, layers=args.layers, weights_dtype=args.weights_dtype,
                       command=command, show_progress=not args.quiet, pushforward=args.pushforward,
                       noise=args.noise, init=args.init, rollout_steps=args.rollout_steps,
                       message=lambda text: print(text, file=sys.stderr))
    except ValueError as exc:
        print(f"attractor-lab train-operator: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}/weights.safetensors and card.json in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    return 0


def _main_field(preset_toml: str, fields: dict) -> str | None:
    """The preset's main field (``view.field``), or the first field of its model's
    first image view, if recorded."""
    import tomllib

    try:
        preset = tomllib.loads(preset_toml)
    except (tomllib.TOMLDecodeError, RecursionError):
        return None
    field = preset.get("view", {}).get("field") if isinstance(preset.get("view"), dict) else None
    if isinstance(field, str) and field in fields:
        return field
    try:
        from attractor_lab.engine import models

        views = models.get(preset.get("model")).views
    except (ValueError, KeyError, TypeError):
        return None
    return next((v["array"] for v in views if v.get("kind") == "image" and v.get("array") in fields), None)


def _display_problem() -> str | None:
    """Why Qt could not open a window here (it would abort the process), or None."""
    import os

    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if sys.platform != "linux" or platform.split(":")[0] in ("offscreen", "minimal", "vnc", "eglfs", "linuxfb"):
        return None
    if platform.startswith("wayland") or (not platform and os.environ.get("WAYLAND_DISPLAY")):
        return None
    display = os.environ.get("DISPLAY", "")
    if not display:
        return ("no display: DISPLAY is not set (run it in a desktop session, over `ssh -X`, or under xvfb-run; "
                "the headless commands are `run`, `movie`, `models` and `engine`)")
    host, _, number = display.rpartition(":")
    if not host and number.split(".")[0].isdigit() and os.path.isdir("/tmp/.X11-unix"):
        if not os.path.exists(f"/tmp/.X11-unix/X{number.split('.')[0]}"):
            return f"no display: DISPLAY={display} names no running X server (/tmp/.X11-unix/X{number.split('.')[0]})"
    return None


def cmd_gui(argv) -> int:
    names = ", ".join(c for c in _commands() if c != "gui")
    ap = CliParser(prog="attractor-lab", description=f"Attractor Lab desktop app. Subcommands: {names} "
                   "(attractor-lab CMD --help). It remembers the window's layout, the last preset and the recent "
                   "files between sessions.")
    ap.add_argument("--version", "-V", action="version", version=_version())
    ap.add_argument("preset_arg", nargs="?", metavar="PRESET", default=None,
                    help="preset to open: a file or the name of a shipped or user preset (same as --preset)")
    ap.add_argument("--preset", help="preset to open (default: the one open when the window last closed)")
    ap.add_argument("--device", default="auto", help="engine device: auto, cpu or cuda[:N]")
    ap.add_argument("--connect", metavar="FILE", help="attach to a running engine through its connection file")
    ap.add_argument("--fps", type=int, default=30, help="display rate (frames/s)")
    ap.add_argument("--reset-settings", action="store_true",
                    help="forget the window's layout, the last model and preset and the recent files, then start")
    ap.add_argument("--smoke-test", type=int, default=0, metavar="N",
                    help="(testing) quit after N frames and print a JSON report; leaves the user's settings alone")
    ap.add_argument("--screenshot", metavar="PNG", default=None,
                    help="save a picture of the window after --smoke-test frames (default 60) and quit")
    ap.add_argument("--export-view", metavar="PNG", default=None,
                    help="(testing) export the main view as PNG or SVG after --smoke-test frames (default 60) and quit")
    args = ap.parse_args(argv)
    if args.preset_arg and args.preset:
        print(f"attractor-lab: give the preset once: {args.preset_arg!r} or --preset {args.preset!r}", file=sys.stderr)
        return 2
    preset = args.preset or args.preset_arg
    if preset:
        from attractor_lab.engine.storage.presets import PresetError, find_preset

        try:
            preset = str(find_preset(preset))
        except PresetError as exc:
            if args.preset_arg and "/" not in preset and "." not in preset:  # a mistyped subcommand?
                names = ", ".join(c for c in _commands() if c != "gui")
                print(f"attractor-lab: {preset!r} is neither a command ({names}) nor a preset file or name "
                      "(`attractor-lab presets` lists them)", file=sys.stderr)
                return 2
            return _fail("--preset", str(exc))
    if args.connect:
        from attractor_lab.engine.transport.protocol import ConnectionFileError, read_connection_file
        from attractor_lab.engine.transport.security import pid_state

        try:
            info = read_connection_file(args.connect)
        except ConnectionFileError as exc:
            return _fail("--connect", str(exc))
        if pid_state(info) == "gone":
            return _fail("--connect", f"connection file {args.connect!r} is stale: its engine (pid {info['pid']}) "
                         "is gone; start a new engine")
    problem = _display_problem()
    if problem:
        print(f"attractor-lab: {problem}", file=sys.stderr)
        return 1
    if args.screenshot or args.export_view:
        args.smoke_test = args.smoke_test or 60
    if args.smoke_test:
        import os
        import tempfile

        from attractor_lab.app.settings import SETTINGS_DIR_ENV

        if not os.environ.get(SETTINGS_DIR_ENV):  # a test run neither reads nor changes the user's settings
            os.environ[SETTINGS_DIR_ENV] = tempfile.mkdtemp(prefix="attractor-lab-settings-")

    from PySide6 import QtCore, QtWidgets

    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow
    from attractor_lab.app.settings import configure_application, reset_settings

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    configure_application(app)
    if args.reset_settings:
        print(f"attractor-lab: settings reset ({reset_settings()})", file=sys.stderr)
    engine = QtEngine(connection_file=args.connect, device=args.device)
    win = MainWindow(engine, preset_path=preset, fps=args.fps)
    win.show()
    engine.start()
    if args.smoke_test:
        report = {}
        first = []  # (clock, frames drawn, step) at the first frame drawn: rates leave the start-up out

        def on_frame(n):
            import time

            content = win.last_frame[0] if win.last_frame is not None else {}
            now = time.perf_counter()
            if not first or content.get("step", 0) < first[0][2]:  # the first frame, or a new run
                first[:] = [(now, n, content.get("step", 0))]
            if n >= args.smoke_test and not report:
                t0, n0, s0 = first[0]
                span = now - t0
                report.update(frames=n, torch_loaded="torch" in sys.modules, model=win.current["name"],
                              preset=str(win.preset.path) if win.preset is not None and win.preset.path else None,
                              engine_pid=engine.proc.pid if engine.proc else None,
                              # over the frames after the first one drawn; None when only one was seen
                              frames_per_second=round((n - n0) / span, 2) if span > 0 and n > n0 else None,
                              steps_per_second=round((content.get("step", 0) - s0) / span, 1)
                              if span > 0 and n > n0 else None,
                              engine_steps_per_second=status.get("steps_per_second"),
                              step=int(content.get("step", 0)), time=float(content.get("time", 0.0)),
                              fps_asked=win.fps)
                if args.screenshot:
                    report["screenshot"] = args.screenshot if win.grab().save(args.screenshot) else None
                if args.export_view:
                    report["export_view"] = _export_main_view(win, args.export_view)
                win.close()

        status = {}  # the engine's last status (its own steps/s over the last half second)
        engine.status.connect(status.update)
        win.frame_drawn.connect(on_frame)
        QtCore.QTimer.singleShot(120_000, win.close)
        code = app.exec()
        print(json.dumps(report))
        return code if report and all(report.get(k, "") is not None for k in ("screenshot", "export_view")) else 1
    return app.exec()


def _version() -> str:
    from attractor_lab.app.desktop_cli import version_text

    return version_text()


def _export_main_view(win, path: str) -> str | None:
    """Export the window's main view (the preset's field, else the first exportable view); the
    file's name, or None when it failed (the reason on stderr)."""
    from attractor_lab.app.main_window import export_view

    field = win.preset.view.get("field") if win.preset is not None else None
    views = [v for v in win.grid.views if v.export_item() is not None]
    view = next((v for v in views if v.spec.get("array") == field), views[0] if views else None)
    if view is None:
        print("attractor-lab: --export-view: no view to export", file=sys.stderr)
        return None
    try:
        return str(export_view(view, path))
    except (OSError, ValueError) as exc:
        print(f"attractor-lab: --export-view: {exc}", file=sys.stderr)
        return None


if __name__ == "__main__":
    sys.exit(main())
