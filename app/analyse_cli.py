"""``attractor-lab analyse``: continuation, orbit diagrams, basins and nullclines without a window.

    attractor-lab analyse continuation custom_rossler --param c --range 0.5 6 --start 0 0 0 --out b.csv
    attractor-lab analyse orbit custom_rossler --param c --range 2 6 --count 400 --variable x --out o.npz
    attractor-lab analyse basins ode_system --set system=duffing --set forcing=0 --box -2 2 -2 2 --out b.npz
    attractor-lab analyse nullclines --equations vdp.txt --out n.csv

The source is a preset (file or shipped name), a model name, or ``--equations
FILE`` (typed equations or an XPPAUT .ode file). These import torch, in their
own process (never the window's).
"""

from __future__ import annotations

import sys

from attractor_lab.app.cli_help import CliParser

KINDS = ("continuation", "orbit", "basins", "nullclines")


def _fail(message: str, code: int = 2) -> int:
    print(f"attractor-lab analyse: {message}", file=sys.stderr)
    return code


def _parser() -> CliParser:
    ap = CliParser(prog="attractor-lab analyse",
                   description="Dynamical-systems analysis of an ODE model, written as NPZ or CSV: continuation "
                               "of equilibria (folds, Hopf and branch points), orbit diagrams, basins of "
                               "attraction, nullclines.")
    ap.add_argument("kind", choices=KINDS, help="what to compute")
    ap.add_argument("source", nargs="?", default=None,
                    help="a preset (file or shipped name) or a model name (ode_system, custom_ode, neural_ode)")
    ap.add_argument("--equations", metavar="FILE", default=None,
                    help="your own equations (text or an XPPAUT .ode file) instead of a source")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a parameter value (repeatable), e.g. --set system=lorenz --set rho=0.5")
    ap.add_argument("--out", required=True, help="output file: .npz (every array) or .csv (the main table)")
    ap.add_argument("--param", help="the parameter to vary (continuation, orbit)")
    ap.add_argument("--range", nargs=2, type=float, metavar=("A", "B"), help="the parameter's range")
    ap.add_argument("--start", nargs="+", type=float, help="continuation: a guess of the first equilibrium")
    ap.add_argument("--direction", choices=("up", "down", "both"), default="both",
                    help="continuation: which way along the parameter from its start (default both)")
    ap.add_argument("--ds", type=float, default=0.01, help="continuation: first arclength step")
    ap.add_argument("--cycles", action="store_true",
                    help="continuation: also the periodic orbits born at each Hopf point (shooting), written "
                         "beside OUT as OUT-STEM_cycles1.npz/.csv, …")
    ap.add_argument("--count", type=int, default=200, help="orbit: parameter values over the range")
    ap.add_argument("--trajectories", type=int, default=8, help="orbit: starts per parameter value")
    ap.add_argument("--variable", default="0", help="orbit: whose maxima are recorded (name or index)")
    ap.add_argument("--section", nargs=2, metavar=("VAR", "LEVEL"),
                    help="orbit: record at upward crossings of VAR = LEVEL instead of maxima")
    ap.add_argument("--transient", type=float, default=200.0, help="orbit: time dropped")
    ap.add_argument("--record", type=float, default=100.0, help="orbit: time recorded")
    ap.add_argument("--time", type=float, default=100.0, help="basins: time to settle")
    ap.add_argument("--dt", type=float, default=0.02, help="orbit, basins: RK4 step")
    ap.add_argument("--plane", nargs=2, metavar=("X", "Y"), help="basins, nullclines: the plane's variables")
    ap.add_argument("--box", nargs=4, type=float, metavar=("X0", "X1", "Y0", "Y1"),
                    help="basins, nullclines: the extent (default: the model's phase window)")
    ap.add_argument("--resolution", type=int, default=200, help="basins, nullclines: grid points per axis")
    ap.add_argument("--refine", type=int, default=0,
                    help="basins: levels of boundary refinement (each doubles the grid, re-integrating only "
                         "the cells whose neighbours disagree)")
    ap.add_argument("--device", default="cpu", help="orbit, basins: cpu or cuda[:N]")
    return ap


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _var(text: str):
    return int(text) if text.lstrip("-").isdigit() else text


def cmd_analyse(argv) -> int:
    args = _parser().parse_args(argv)
    params = {}
    for item in args.set:
        name, eq, value = item.partition("=")
        if not eq or not name:
            return _fail(f"--set {item!r}: write NAME=VALUE")
        params[name.strip()] = _value(value.strip())
    if (args.source is None) == (args.equations is None):
        return _fail("give a source (preset or model name) or --equations FILE, one of them")
    if args.kind in ("continuation", "orbit") and not (args.param and args.range):
        return _fail(f"{args.kind} needs --param NAME and --range A B")
    try:
        from attractor_lab.engine import analysis
        from attractor_lab.engine.analysis.export import save

        source = args.source
        if args.equations is not None:
            from attractor_lab.engine.storage.presets import preset_from_equations

            preset = preset_from_equations(args.equations)
            source = analysis.vector_field(preset.model, **preset.params)
        else:
            # a model name: its own parameters (system=…, equations=…) go to the model
            from attractor_lab.engine import models

            if source in models.names():
                source, params = analysis.vector_field(source, **params), {}
        run = _runner(args, analysis)
        result = run(source, **params)
        meta = {"kind": args.kind, "source": args.source or args.equations, "set": " ".join(args.set)}
        path = save(result, args.out, meta)
        print(f"attractor-lab analyse: {_summary(args.kind, result)}; wrote {path}")
        if args.kind == "continuation" and args.cycles:
            vf = analysis.vector_field(source, **params)
            for k, hopf in enumerate(result.special("hopf"), 1):
                cycles = analysis.cycles_from_hopf(vf, args.param, hopf, range=tuple(args.range))
                out = path.with_name(f"{path.stem}_cycles{k}{path.suffix}")
                save(cycles, out, {**meta, "hopf": hopf.param})
                print(f"attractor-lab analyse: {cycles.params.size} cycles from the Hopf point at "
                      f"{args.param} = {hopf.param:.8g} (period {cycles.periods[0]:.6g} at onset); wrote {out}")
    except (ValueError, OSError, KeyError) as exc:
        return _fail(str(exc))
    return 0


def _runner(args, analysis):
    box = tuple(args.box) if args.box else None
    plane = tuple(_var(v) for v in args.plane) if args.plane else (0, 1)
    if args.kind == "continuation":
        direction = {"up": 1, "down": -1, "both": "both"}[args.direction]
        lo, hi = args.range

        def run(source, **params):
            vf = analysis.vector_field(source, **params)
            vf.check_param(args.param)
            if not lo <= vf.params[args.param] <= hi:  # start at the range's lower end
                vf = analysis.vector_field(vf, **{args.param: min(lo, hi)})
            return analysis.continuation(vf, args.param, args.start, range=(lo, hi), ds=args.ds,
                                         direction=direction)
        return run
    if args.kind == "orbit":
        section = (_var(args.section[0]), float(args.section[1])) if args.section else None
        return lambda source, **params: analysis.orbit_diagram(
            source, args.param, range=tuple(args.range), count=args.count, variable=_var(args.variable),
            trajectories=args.trajectories, transient=args.transient, record=args.record, dt=args.dt,
            section=section, device=args.device, **params)
    if args.kind == "basins":
        return lambda source, **params: analysis.basins(source, plane, box, args.resolution, time=args.time,
                                                        dt=args.dt, device=args.device, refine=args.refine,
                                                        **params)
    return lambda source, **params: analysis.nullclines(source, plane, box, args.resolution, **params)


def _summary(kind: str, r) -> str:
    if kind == "continuation":
        pts = ", ".join(f"{p.kind} at {r.param_name} = {p.param:.8g}" for p in r.points) or "no special points"
        return f"{r.params.size} points, {pts}"
    if kind == "orbit":
        return f"{r.values.size} values, {r.point_value.size} points"
    if kind == "basins":
        fr = ", ".join(f"{f:.3f}" for f in r.fractions)
        refined = f"; refined {', '.join(map(str, r.refined_cells))} boundary cell(s)" if r.refined_cells else ""
        return f"{r.count} attractor(s), fractions {fr}{refined}"
    return f"{len(r.fixed_points)} fixed point(s)"
