"""``attractor-lab sweep``: write a sweep file, run it on Dask, show the results.

    attractor-lab sweep new --from PRESET --x temperature:0:1.5:31 --y load:0.01:0.2:20 --out s.toml
    attractor-lab sweep run s.toml --out results.zarr [--scheduler tcp://HOST:PORT] [--workers N]
    attractor-lab sweep show results.zarr [--output NAME] [--png map.png]

``run`` checks everything before it starts (the file against the model's
parameters and observables, the store against the file), shows a progress bar
with points/s and an ETA, and stops cleanly on Ctrl+C or SIGTERM keeping what
is done; the same command resumes it. These commands import torch (``new``
and ``run``) in their own process, never the window's.
"""

from __future__ import annotations

import json
import math
import signal
import sys
from pathlib import Path

from attractor_lab.app.cli_help import CliParser
from attractor_lab.engine.sweep import EXTRA_HINT


def _fail(command: str, message: str, code: int = 2) -> int:
    print(f"attractor-lab sweep {command}: {message}", file=sys.stderr)
    return code


def cmd_sweep(argv) -> int:
    commands = {"new": cmd_new, "run": cmd_run, "show": cmd_show}
    if not argv or argv[0] not in commands:
        if argv and argv[0] in ("-h", "--help"):
            print(__doc__)
            return 0
        return _fail("", f"expected one of {', '.join(commands)} (attractor-lab sweep CMD --help)")
    return commands[argv[0]](argv[1:])


# ---- new ---------------------------------------------------------------------------------------
def parse_axis(text: str) -> dict:
    """``temperature:0:1.5:31`` (``:log`` for log spacing) or ``load=0.01,0.05,0.1`` as an axis table."""
    if "=" in text:
        name, _, values = text.partition("=")
        try:
            return {"param": name.strip(), "values": [_number(v) for v in values.split(",") if v.strip()]}
        except ValueError:
            raise ValueError(f"{text!r}: values must be numbers, e.g. load=0.01,0.05,0.1") from None
    parts = text.split(":")
    if len(parts) not in (4, 5) or (len(parts) == 5 and parts[4] not in ("log", "linear")):
        raise ValueError(f"{text!r}: expected PARAM:START:STOP:COUNT[:log] or PARAM=V1,V2,…")
    try:
        axis = {"param": parts[0], "start": _number(parts[1]), "stop": _number(parts[2]), "count": int(parts[3])}
    except ValueError:
        raise ValueError(f"{text!r}: START and STOP must be numbers and COUNT an integer") from None
    if len(parts) == 5:
        axis["spacing"] = parts[4]
    return axis


def _number(text: str):
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def parse_keep(text: str) -> dict:
    """``m_cued`` (final), ``m_cued:mean``, ``m_cued:above:0.5``, ``pattern:v``."""
    parts = text.split(":")
    if parts[0] == "pattern" and len(parts) == 2:
        return {"pattern": parts[1]}
    if len(parts) == 1:
        return {"observable": parts[0], "reduce": "final"}
    if len(parts) == 2 and parts[1] in ("final", "mean"):
        return {"observable": parts[0], "reduce": parts[1]}
    if len(parts) == 3 and parts[1] == "above":
        try:
            return {"observable": parts[0], "reduce": "fraction_above", "threshold": float(parts[2])}
        except ValueError:
            pass
    raise ValueError(f"{text!r}: expected OBS, OBS:final, OBS:mean, OBS:above:THRESHOLD or pattern:FIELD")


def default_keep(model_views: list[dict]) -> list[dict]:
    """The first observable of the model's first time series, final and mean (declarations only)."""
    for view in model_views:
        if view.get("kind") == "timeseries" and view.get("observables"):
            obs = view["observables"][0]
            return [{"observable": obs, "reduce": "final"}, {"observable": obs, "reduce": "mean"}]
    return []


def cmd_new(argv) -> int:
    ap = CliParser(prog="attractor-lab sweep new",
                                 description="Write a sweep file from a preset and one or two axes.")
    ap.add_argument("--from", dest="preset", required=True, help="the base preset (TOML)")
    ap.add_argument("--x", required=True, help="first axis: PARAM:START:STOP:COUNT[:log] or PARAM=V1,V2,…")
    ap.add_argument("--y", help="second axis, same syntax")
    ap.add_argument("--seeds", type=int, default=1, help="seeds per point (from the preset's seed on)")
    ap.add_argument("--steps", type=int, help="steps per point (default: the preset's run.steps, its contract's "
                    "steps, or 1000)")
    ap.add_argument("--burn-in", type=int, help="steps before averaging (default: half of --steps)")
    ap.add_argument("--sample-every", type=int, default=1, help="steps between samples after burn-in")
    ap.add_argument("--keep", action="append", default=[],
                    help="an output: OBS, OBS:mean, OBS:above:THRESHOLD or pattern:FIELD (repeat; default: the "
                         "first observable the model plots, final and mean)")
    ap.add_argument("--early-stop", metavar="OBS:WINDOW:TOL", help="stop a point once OBS varies by at most TOL "
                    "over WINDOW samples after burn-in")
    ap.add_argument("--title", default=None, help="title of the sweep")
    ap.add_argument("--out", required=True, help="sweep file to write (.toml)")
    ap.add_argument("--force", action="store_true", help="overwrite --out")
    args = ap.parse_args(argv)

    out = Path(args.out)
    if out.suffix.lower() != ".toml":
        return _fail("new", f"--out {args.out!r}: sweep files are .toml")
    if out.exists() and not args.force:
        return _fail("new", f"--out {args.out!r} exists; use --force to overwrite it")
    from attractor_lab.engine import models
    from attractor_lab.engine.storage.presets import PresetError, load_preset
    from attractor_lab.engine.sweep.execute import check_sweep
    from attractor_lab.engine.sweep.spec import SweepError, parse_sweep

    try:
        preset = load_preset(args.preset)
    except PresetError as exc:
        return _fail("new", str(exc))
    try:
        axes = {"x": parse_axis(args.x)}
        if args.y:
            axes["y"] = parse_axis(args.y)
        keep = [parse_keep(k) for k in args.keep] or default_keep(list(models.get(preset.model).views))
        early = None
        if args.early_stop:
            obs, window, tol = args.early_stop.rsplit(":", 2)
            early = {"observable": obs, "window": int(window), "tolerance": float(tol)}
    except ValueError as exc:
        return _fail("new", str(exc))
    steps = args.steps or preset.run.get("steps") or (preset.contract.steps if preset.contract else 1000)
    base = preset.to_dict()
    base.pop("contract", None)
    base.pop("format_version", None)
    data = {"format_version": 1, "title": args.title or f"{preset.title or preset.model}: "
            f"{' × '.join(a['param'] for a in axes.values())}",
            "seeds": args.seeds, "steps": steps, "burn_in": args.burn_in if args.burn_in is not None else steps // 2,
            "sample_every": args.sample_every, "base": base, **axes, "keep": keep}
    if early:
        data["early_stop"] = early
    try:
        sweep = parse_sweep(data, where=str(out))
        check_sweep(sweep)
    except SweepError as exc:
        return _fail("new", str(exc))
    from attractor_lab.engine.files import atomic_write_bytes

    command = "attractor-lab sweep new " + " ".join(argv)
    text = f"# {command}\n# base preset: {args.preset}\n" + sweep.dumps()
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, text.encode())
    print(f"wrote {out}: {sweep.model}, {' × '.join(f'{a.param} ({a.count})' for a in sweep.axes)} × "
          f"{len(sweep.seeds)} seed(s) = {sweep.n_points} points of {sweep.steps} steps", file=sys.stderr)
    return 0


# ---- run ----------------------------------------------------------------------------------------
def cmd_run(argv) -> int:
    ap = CliParser(prog="attractor-lab sweep run",
                                 description="Run a sweep on Dask (an embedded cluster, or --scheduler) into a "
                                             "Zarr store; rerun the same command to resume.")
    ap.add_argument("sweep", help="sweep file (TOML)")
    ap.add_argument("--out", required=True, help="results store (a .zarr folder; resumed if it exists)")
    ap.add_argument("--scheduler", metavar="ADDRESS", help="tcp://HOST:PORT of a running `dask scheduler` "
                    "(default: an embedded LocalCluster)")
    ap.add_argument("--workers", type=int, help="embedded cluster: worker processes (default one per core); "
                    "with --scheduler: workers to wait for")
    ap.add_argument("--device", default="auto", help="device on the workers: auto, cpu or cuda[:N]")
    ap.add_argument("--batch", type=int, help="points per task (default: adaptive, about 2 s of work)")
    ap.add_argument("--fuse", type=int, metavar="N", help="points a worker steps together as one batch where the "
                    "model allows, e.g. Hopfield networks of equal N and P (default: 64 on a GPU, 1 on a CPU; "
                    "results are the same either way)")
    ap.add_argument("--retry-failed", action="store_true", help="run the points that failed before again")
    ap.add_argument("--progress", choices=("bar", "json", "none"), default="bar",
                    help="a progress bar on stderr (default), JSON lines on stdout (for the window), or none")
    ap.add_argument("--quiet", action="store_true", help="same as --progress none")
    args = ap.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        return _fail("run", f"--workers must be >= 1, not {args.workers}")
    if args.batch is not None and args.batch < 1:
        return _fail("run", f"--batch must be >= 1, not {args.batch}")
    if args.fuse is not None and args.fuse < 1:
        return _fail("run", f"--fuse must be >= 1, not {args.fuse}")
    if Path(args.out).suffix.lower() != ".zarr":
        return _fail("run", f"--out {args.out!r}: results are Zarr stores, named *.zarr")
    if args.scheduler and not args.scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        return _fail("run", f"--scheduler {args.scheduler!r}: expected an address such as tcp://HOST:8786")
    mode = "none" if args.quiet else args.progress

    from attractor_lab.engine.sweep.execute import run_sweep
    from attractor_lab.engine.sweep.spec import SweepError, load_sweep
    from attractor_lab.engine.sweep.store import StoreError

    def on_term(signum, frame):  # the window's Cancel: stop like Ctrl+C, keeping what is done
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    bar = None
    try:
        sweep = load_sweep(args.sweep)

        def progress(p):
            nonlocal bar
            if mode == "json":
                print(json.dumps(p.as_dict()), flush=True)
            elif mode == "bar":
                if bar is None:  # after the checks: a refused sweep shows no bar
                    from tqdm import tqdm

                    # speed and ETA from run_sweep (tqdm's own would count the cluster's start-up)
                    bar = tqdm(total=sweep.n_points, unit="pt", file=sys.stderr, desc=sweep.model,
                               dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                               "points [{elapsed}{postfix}]")
                bar.n = p.done + p.failed
                eta = "—" if not math.isfinite(p.eta) else _duration(p.eta)
                bar.set_postfix_str(f"{p.rate:.3g} points/s, ETA {eta}, {p.failed} failed, {p.workers} workers",
                                    refresh=False)
                bar.refresh()

        final = run_sweep(sweep, args.out, scheduler=args.scheduler, workers=args.workers, device=args.device,
                          retry_failed=args.retry_failed, progress=progress, batch=args.batch,
                          fuse=args.fuse)
    except (SweepError, StoreError) as exc:
        return _fail("run", str(exc))
    except KeyboardInterrupt:  # before run_sweep could catch it (start-up)
        return _fail("run", f"interrupted; what is done is kept in {args.out}", 130)
    finally:
        if bar is not None:
            bar.close()
    if final.state == "stopped":
        print(f"attractor-lab sweep run: stopped with {final.done} of {final.total} points done; run the same "
              "command again to continue", file=sys.stderr)
        return 130
    note = f", {final.failed} failed (see `attractor-lab sweep show {args.out}`)" if final.failed else ""
    print(f"{args.out}: {final.done} of {final.total} points done{note}", file=sys.stderr)
    return 1 if final.failed else 0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


# ---- show ---------------------------------------------------------------------------------------
def cmd_show(argv) -> int:
    ap = CliParser(prog="attractor-lab sweep show",
                                 description="Print a sweep's results as a table and write a PNG map.")
    ap.add_argument("store", help="results store (.zarr) from `sweep run`")
    ap.add_argument("--output", help="which kept output (default: the first)")
    ap.add_argument("--png", help="PNG file (default: the store's name with .png)")
    ap.add_argument("--no-png", action="store_true", help="print the table only")
    args = ap.parse_args(argv)
    from attractor_lab.engine.sweep.store import StoreError, open_results

    try:
        res = open_results(args.store)
    except StoreError as exc:
        return _fail("show", str(exc))
    names = [o["name"] for o in res.outputs]
    name = args.output or names[0]
    if name not in names:
        return _fail("show", f"--output {name!r}: the store keeps {', '.join(names)}")
    print(format_table(res, name))
    if args.no_png:
        return 0
    png = Path(args.png) if args.png else Path(args.store).with_suffix(".png")
    try:
        from attractor_lab.app.sweep_figure import write_png

        write_png(res, name, png)
    except ImportError:
        return _fail("show", f"writing the PNG needs matplotlib; {EXTRA_HINT} (or use --no-png)", 1)
    except OSError as exc:
        return _fail("show", f"cannot write {str(png)!r}: {exc.strerror or exc}", 1)
    print(f"wrote {png}", file=sys.stderr)
    return 0


def _fmt(v: float) -> str:
    return "—" if not math.isfinite(v) else f"{v:.3g}"


def format_table(res, name: str) -> str:
    """The output ``name`` over the grid (mean over seeds; the majority class for patterns)."""
    import numpy as np

    out = res.output(name)
    lines = [f"{res.attrs.get('title') or res.model}  ({res.model}, {res.path})",
             f"points: {res.done} done, {res.failed} failed, {res.total - res.done - res.failed} pending of "
             f"{res.total}; seeds {res.seeds[0]}…{res.seeds[-1]} ({len(res.seeds)}); "
             f"{res.attrs.get('steps')} steps, burn-in {res.attrs.get('burn_in')}"]
    versions = res.attrs.get("versions", {})
    lines.append("made with " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    centre, spread, count = res.over_seeds(name)
    classes = out.get("classes")
    what = "majority class over seeds" if classes else "mean over seeds"
    lines.append(f"\n{name} ({what}):")

    def cell(v):
        if classes:
            return "—" if not math.isfinite(v) else classes[int(v)]
        return _fmt(v)

    ax = res.axes
    if len(ax) == 1:
        lines.append(f"{ax[0]['param']:>12}  {name:>12}  {'± s.e.m.' if not classes else 'agree':>9}  seeds")
        for i, x in enumerate(ax[0]["values"]):
            lines.append(f"{x:>12.5g}  {cell(centre[i]):>12}  {_fmt(spread[i]):>9}  {int(count[i])}")
    else:
        xs, ys = ax[0]["values"], ax[1]["values"]
        width = max(7, max(len(cell(v)) for v in np.ravel(centre)) + 1)
        lines.append(f"rows: {ax[1]['param']} (y), columns: {ax[0]['param']} (x)")
        lines.append(" " * 10 + "".join(f"{x:>{width}.4g}" for x in xs))
        for j in reversed(range(len(ys))):
            lines.append(f"{ys[j]:>10.4g}" + "".join(f"{cell(centre[j, i]):>{width}}" for i in range(len(xs))))
    if res.errors:
        lines.append(f"\n{len(res.errors)} failed point(s), first ones:")
        for index in sorted(res.errors)[:5]:
            where = np.unravel_index(index, res.status.shape)
            label = ", ".join(f"{a['param']} = {a['values'][k]:g}" for a, k in zip(ax, reversed(where[:-1])))
            lines.append(f"  #{index} ({label}, seed {res.seeds[where[-1]]}): {res.errors[index]}")
    return "\n".join(lines)
