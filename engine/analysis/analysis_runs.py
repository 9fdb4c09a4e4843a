"""An analysis (:mod:`engine.analysis_spec`) run in pieces: what the engine streams to the window.

:func:`run_analysis` computes a bifurcation diagram, an orbit diagram or a
basin map of a :class:`~attractor_lab.engine.analysis.fields.VectorField` with
the functions of :mod:`attractor_lab.engine.analysis` (nothing is computed
here that they do not), in pieces, handing each piece to ``emit(content,
arrays)`` as soon as it is done:

bifurcation
    the branch of equilibria in segments of :data:`SEGMENT` points (down from
    the parameter's value, then up), each with its folds, Hopf and branch
    points; the other branch through each branch point; then the periodic
    orbits born at each Hopf point (their maxima and minima of each variable).
orbit
    parameter values in chunks (each chunk one batch).
basins
    the grid in blocks of rows; each block's attractors are matched to those
    found before by their envelopes, so labels agree across blocks.

``cancelled`` (a :class:`threading.Event`) is checked inside every
integration and between pieces; when set, :class:`AnalysisCancelled` ends
the run.
"""

from __future__ import annotations

import copy
import math
import threading

import numpy as np
import torch

from attractor_lab.engine import analysis
from attractor_lab.engine.analysis.fields import VectorField, vector_field
from attractor_lab.engine.analysis.integrate import integrate

#: points per streamed segment of a branch of equilibria
SEGMENT = 40
#: most points on a branch (all its segments)
MAX_BRANCH_POINTS = 3000
#: cycles from a Hopf point: how many, and RK4 steps per period (the onset period is then
#: within ~1e-5 of 2π/ω)
CYCLE_POINTS, CYCLE_STEPS = 24, 100
#: orbit diagram: most trajectories in one batch (parameter values × starts)
ORBIT_BATCH = 4096
#: basins: most starts in one block of rows
BASIN_BLOCK = 4096


class AnalysisCancelled(Exception):
    """The run was cancelled."""


def field_of(model) -> VectorField:
    """The analysed field of a model as it is now (a snapshot: a learned field is copied, so
    training that goes on does not change it under a running analysis)."""
    net = getattr(model, "field", None)
    if isinstance(net, torch.nn.Module):
        model = copy.copy(model)
        model.field = copy.deepcopy(net)
    return vector_field(model)


def describe_field(vf: VectorField) -> dict:
    """What the window needs to offer an analysis of ``vf``: its parameters, variables, window."""
    return {"name": vf.name, "params": {k: float(v) for k, v in vf.params.items()}, "active": active_params(vf),
            "labels": list(vf.labels), "plane": [int(i) for i in vf.plane],
            "window": None if vf.window is None else [float(v) for v in vf.window]}


def active_params(vf: VectorField) -> list:
    """The parameters the field depends on (``ode_system`` carries every system's values; a change
    of each is tried at a few random states)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((8, vf.dim), generator=gen, dtype=torch.float64) * 2
    out = []
    with torch.no_grad():
        base = vf.f(x, dict(vf.params))
        for name, value in vf.params.items():
            try:
                moved = vf.f(x, {**vf.params, name: float(value) + 0.1 * (1 + abs(float(value)))})
            except Exception:  # noqa: BLE001 - a value the field refuses still counts as used
                out.append(name)
                continue
            if not torch.equal(torch.nan_to_num(moved), torch.nan_to_num(base)):
                out.append(name)
    return out


def _checker(cancelled: threading.Event | None, progress, lo: float, span: float):
    def check(f: float = 0.0) -> None:
        if cancelled is not None and cancelled.is_set():
            raise AnalysisCancelled()
        if progress is not None:
            progress(min(1.0, lo + span * f))
    return check


def run_analysis(vf: VectorField, spec: dict, emit, progress=None, cancelled: threading.Event | None = None,
                 device: str = "cpu") -> dict:
    """Run ``spec`` (checked by :func:`engine.analysis_spec.check_analysis`) on ``vf``, emitting pieces;
    returns the summary (special points, attractors and fractions, …)."""
    kind = spec["kind"]
    if cancelled is not None:
        vf = _cancellable(vf, cancelled)
    if kind in ("bifurcation", "orbit"):
        vf.check_param(spec["param"])
    if kind == "bifurcation":
        return _bifurcation(vf, spec, emit, progress, cancelled)
    if kind == "orbit":
        return _orbit(vf, spec, emit, progress, cancelled, device)
    return _basins(vf, spec, emit, progress, cancelled, device)


def _cancellable(vf: VectorField, cancelled: threading.Event) -> VectorField:
    """``vf`` whose field raises :class:`AnalysisCancelled` once ``cancelled`` is set: every analysis
    evaluates the field all the time, so a cancel ends even a shooting Newton step at once."""
    f = vf.f

    def checked(x, p):
        if cancelled.is_set():
            raise AnalysisCancelled()
        return f(x, p)
    return VectorField(checked, dict(vf.params), vf.labels, vf.jac, vf.start, vf.window, vf.plane, vf.name)


# ---- bifurcation ----------------------------------------------------------------------
def _point_dict(p) -> dict:
    return {"kind": p.kind, "param": float(p.param), "state": [float(v) for v in p.state],
            "frequency": None if not math.isfinite(p.frequency) else float(p.frequency)}


def _bifurcation(vf, spec, emit, progress, cancelled) -> dict:
    name, (lo, hi) = spec["param"], spec["range"]
    k = vf.index(spec["variable"])
    value = min(max(float(vf.params[name]), lo), hi)  # start inside the range
    start = spec["start"]
    if start is not None and len(start) != vf.dim:
        raise ValueError(f"{vf.name}: start needs {vf.dim} values ({', '.join(vf.labels)}), not {len(start)}")
    ds_max = max((hi - lo) / 80.0, 1e-4)
    branches, points = [], []
    state = {"branch": 0}

    def segments(field, x0, direction, tangent=None, ds=None, part=(0.0, 0.4)):
        """One branch, streamed in segments; returns the Branch objects of its segments."""
        done = []
        total = 0
        ds = ds or ds_max / 10
        check = _checker(cancelled, progress, part[0], part[1])
        while total < MAX_BRANCH_POINTS:
            check(min(1.0, total / 400))
            b = analysis.continuation(field, name, x0, range=(lo, hi), ds=ds, ds_max=ds_max, max_points=SEGMENT,
                                      direction=direction, tangent=tangent,
                                      progress=lambda n, lam: check(min(1.0, (total + n) / 400)))
            done.append(b)
            total += b.params.size
            emit({"what": "equilibria", "branch": state["branch"], "points": [_point_dict(p) for p in b.points]},
                 {"param": b.params, "value": b.states[:, k].copy(), "states": b.states, "stable": b.stable})
            if b.params.size < SEGMENT:
                break
            y1 = np.append(b.states[-1], b.params[-1])
            y0 = np.append(b.states[-2], b.params[-2])
            step = y1 - y0
            if not np.linalg.norm(step) > 0:
                break
            tangent, ds = step / np.linalg.norm(step), float(np.linalg.norm(step))
            field, x0 = vector_field(vf, **{name: float(b.params[-1])}), b.states[-1]
        state["branch"] += 1
        return done

    base = vector_field(vf, **{name: value})
    for direction in (-1, 1):
        segs = segments(base, start, direction, part=(0.0 if direction < 0 else 0.2, 0.2))
        branches += segs
        points += [p for b in segs for p in b.points]
    # the other branch through each branch point (both halves of a pitchfork)
    for seg in list(branches):
        for bp in seg.special("branch"):
            for direction in (1, -1):
                _checker(cancelled, None, 0, 0)()
                try:
                    other = analysis.switch_branch(vf, seg, bp, ds=ds_max / 10, direction=direction, range=(lo, hi),
                                                   ds_max=ds_max, max_points=SEGMENT)
                except ValueError:
                    continue
                y1 = np.append(other.states[-1], other.params[-1])
                segs = [other]
                emit({"what": "equilibria", "branch": state["branch"], "points": [_point_dict(p) for p in other.points]},
                     {"param": other.params, "value": other.states[:, k].copy(), "states": other.states,
                      "stable": other.stable})
                if other.params.size >= SEGMENT:
                    y0 = np.append(other.states[-2], other.params[-2])
                    step = y1 - y0
                    segs += segments(vector_field(vf, **{name: float(other.params[-1])}), other.states[-1], 1,
                                     tangent=step / np.linalg.norm(step), ds=float(np.linalg.norm(step)),
                                     part=(0.4, 0.2))
                    state["branch"] -= 1  # the continuation is the same branch
                state["branch"] += 1
                points += [p for b in segs for p in b.points]
    hopfs = []
    for p in points:  # one cycle branch per Hopf parameter (Lorenz's two symmetric points share one)
        if p.kind == "hopf" and all(abs(p.param - q.param) > 1e-6 for q in hopfs):
            hopfs.append(p)
    cycles = []
    if spec["cycles"]:
        for i, h in enumerate(hopfs):
            _checker(cancelled, progress, 0.6 + 0.4 * i / max(1, len(hopfs)), 0)()
            try:
                c = analysis.cycles_from_hopf(vf, name, h, range=(lo, hi), max_points=CYCLE_POINTS,
                                              steps=CYCLE_STEPS, ds=0.1)
            except ValueError as exc:
                emit({"what": "note", "text": str(exc)}, {})
                continue
            vmin, vmax = _cycle_extent(vf, name, c, cancelled)
            cycles.append({"hopf": float(h.param), "period": float(c.periods[0]),
                           "points": [{"kind": kd, "param": float(v)} for kd, v in c.points]})
            emit({"what": "cycles", "hopf": float(h.param), "points": cycles[-1]["points"]},
                 {"param": c.params, "period": c.periods, "min": vmin[:, k].copy(), "max": vmax[:, k].copy(),
                  "stable": c.stable})
    if progress is not None:
        progress(1.0)
    kept = {}
    for p in points:  # one entry per special point (a segment boundary may repeat none; branches may)
        kept.setdefault((p.kind, round(p.param, 9)), _point_dict(p))
    return {"points": sorted(kept.values(), key=lambda q: q["param"]), "cycles": cycles,
            "branches": state["branch"]}


def _cycle_extent(vf, name, c, cancelled, steps: int = 400):
    """Each cycle's minimum and maximum of every variable over one period (one batch)."""
    x = torch.as_tensor(c.states, dtype=torch.float64)
    p = {**vf.params, name: torch.as_tensor(c.params, dtype=torch.float64)}
    lo, hi = x.clone(), x.clone()
    # each cycle has its own period: integrate in the cycle's own time, s ∈ [0, 1], f scaled by T
    periods = torch.as_tensor(c.periods, dtype=torch.float64)[:, None]
    scaled = VectorField(lambda y, q: periods * vf.f(y, q), p, vf.labels)

    def track(y):
        torch.minimum(lo, y, out=lo)
        torch.maximum(hi, y, out=hi)
    integrate(scaled, x, p, 1.0 / steps, steps, on_step=track, progress=_checker(cancelled, None, 0, 0))
    return lo.numpy(), hi.numpy()


# ---- orbit diagram ----------------------------------------------------------------------
def _orbit(vf, spec, emit, progress, cancelled, device) -> dict:
    name, (lo, hi) = spec["param"], spec["range"]
    values = np.linspace(lo, hi, spec["count"])
    b = spec["trajectories"]
    per = max(1, min(ORBIT_BATCH // b, math.ceil(values.size / 8)))
    chunks = [values[i:i + per] for i in range(0, values.size, per)]
    section = None if spec["section"] is None else tuple(spec["section"])
    points, diverged = 0, 0
    variable = vf.labels[vf.index(spec["variable"])]
    for i, chunk in enumerate(chunks):
        check = _checker(cancelled, progress, i / len(chunks), 1 / len(chunks))
        check()
        r = analysis.orbit_diagram(vf, name, chunk, variable=spec["variable"], trajectories=b,
                                   transient=spec["transient"], record=spec["record"], dt=spec["dt"], section=section,
                                   device=device, progress=check)
        points += r.point_value.size
        diverged += int(r.diverged.sum())
        emit({"what": "orbit", "chunk": i, "chunks": len(chunks), "variable": variable},
             {"values": r.values, "point_param": r.point_param, "point_value": r.point_value,
              "diverged": r.diverged.astype(np.int64)})
    if progress is not None:
        progress(1.0)
    return {"points": points, "diverged": diverged, "variable": variable, "values": int(values.size)}


# ---- basins -----------------------------------------------------------------------------
def _basins(vf, spec, emit, progress, cancelled, device) -> dict:
    plane = spec["plane"] or [int(vf.plane[0]), int(vf.plane[1])]
    i, j = vf.index(plane[0]), vf.index(plane[1])
    box = spec["box"] or (list(vf.window) if vf.window is not None else None)
    if box is None:
        raise ValueError(f"{vf.name}: give the basins' box (x0, x1, y0, y1); the model has no phase window")
    x0, x1, y0, y1 = box
    n = spec["resolution"]
    rows = max(2, min(n, BASIN_BLOCK // n, math.ceil(n / 8)))
    blocks = [[r, min(n, r + rows)] for r in range(0, n, rows)]
    if len(blocks) > 1 and blocks[-1][1] - blocks[-1][0] < 2:  # a block needs two rows
        blocks[-2][1] = blocks.pop()[1]
    h = (y1 - y0) / n
    span = max(x1 - x0, y1 - y0)
    heads: list[list] = []  # the attractors so far: [lower, upper, count, kind]
    labels = np.full((n, n), -1, dtype=np.int64)
    for b, (r0, r1) in enumerate(blocks):
        check = _checker(cancelled, progress, b / len(blocks), 1 / len(blocks))
        check()
        res = analysis.basins(vf, (i, j), (x0, x1, y0 + r0 * h, y0 + r1 * h), (n, r1 - r0), time=spec["time"],
                              dt=spec["dt"], device=device, progress=check)
        local = np.full(res.count, -1, dtype=np.int64)
        for a in range(res.count):
            lo_a, hi_a = res.lower[a], res.upper[a]
            scale = max(span, float(np.abs(hi_a).max()), 1.0)
            for g, (glo, ghi, _, _) in enumerate(heads):
                if max(np.abs(glo - lo_a).max(), np.abs(ghi - hi_a).max()) < 2e-2 * scale:
                    local[a] = g
                    break
            else:
                heads.append([lo_a, hi_a, 0, res.kinds[a]])
                local[a] = len(heads) - 1
        block = np.where(res.labels >= 0, local[np.clip(res.labels, 0, None)], -1)
        labels[r0:r1] = block
        for g in range(len(heads)):
            heads[g][2] = int((labels == g).sum())
        emit({"what": "basins", "rows": [r0, r1], "size": n, "box": [x0, x1, y0, y1],
              "plane": [vf.labels[i], vf.labels[j]], "attractors": _attractors(heads, labels)},
             {"labels": block})
    if progress is not None:
        progress(1.0)
    return {"attractors": _attractors(heads, labels), "plane": [vf.labels[i], vf.labels[j]], "box": [x0, x1, y0, y1],
            "size": n, "escaped": float((labels < 0).mean())}


def _attractors(heads, labels) -> list:
    total = labels.size
    return [{"index": g, "kind": kind, "count": int((labels == g).sum()), "fraction": float((labels == g).sum() / total),
             "lower": [float(v) for v in lo], "upper": [float(v) for v in hi]}
            for g, (lo, hi, _, kind) in enumerate(heads)]


# ---- contracts ----------------------------------------------------------------------------
def collect(vf: VectorField, spec: dict, device: str = "cpu") -> tuple[dict, list]:
    """Run ``spec`` to its end; returns the summary and the pieces [(content, arrays), …]."""
    pieces = []
    summary = run_analysis(vf, spec, lambda c, a: pieces.append((c, a)), device=device)
    return summary, pieces


def check_claims_against(spec: dict, claims: dict, summary: dict, pieces: list) -> tuple[dict, list]:
    """Compare a finished analysis with a preset's ``[contract.analysis]`` claims: (measured, failures)."""
    measured, failures = {}, []
    for kind in ("hopf", "fold", "branch", "period_doubling"):
        if kind not in claims:
            continue
        lo, hi = claims[kind]
        found = [p["param"] for p in summary.get("points", []) if p["kind"] == kind]
        found += [q["param"] for c in summary.get("cycles", []) for q in c["points"] if q["kind"] == kind]
        measured[kind] = ", ".join(f"{v:.8g}" for v in found) or "none"
        if not any(lo <= v <= hi for v in found):
            failures.append(f"no {kind} point with {spec.get('param')} in [{lo:g}, {hi:g}] (found {measured[kind]})")
    if "onset_period" in claims:
        lo, hi = claims["onset_period"]
        periods = [c["period"] for c in summary.get("cycles", [])]
        measured["onset_period"] = ", ".join(f"{v:.6g}" for v in periods) or "no cycles"
        if not any(lo <= v <= hi for v in periods):
            failures.append(f"no cycle branch with its onset period in [{lo:g}, {hi:g}] ({measured['onset_period']})")
    if "attractors" in claims:
        lo, hi = claims["attractors"]
        count = len(summary.get("attractors", []))
        measured["attractors"] = count
        if not lo <= count <= hi:
            failures.append(f"{count} attractors, not in [{lo:g}, {hi:g}]")
    if "fractions" in claims:
        lo, hi = claims["fractions"]
        fr = [a["fraction"] for a in summary.get("attractors", [])]
        measured["fractions"] = ", ".join(f"{v:.4f}" for v in fr)
        if not fr or not all(lo <= v <= hi for v in fr):
            failures.append(f"basin fractions {measured['fractions']} not all in [{lo:g}, {hi:g}]")
    if "maxima" in claims:
        params = np.concatenate([a["point_param"] for c, a in pieces if c.get("what") == "orbit"] or [np.zeros(0)])
        vals = np.concatenate([a["point_value"] for c, a in pieces if c.get("what") == "orbit"] or [np.zeros(0)])
        grid = np.unique(params)
        got = []
        for value, n in claims["maxima"]:
            if grid.size == 0:
                failures.append("the orbit diagram has no points")
                break
            at = grid[np.argmin(np.abs(grid - value))]
            distinct = analysis.distinct_values(vals[params == at])
            got.append(f"{distinct.size} at {at:.6g}")
            if distinct.size != n:
                failures.append(f"{distinct.size} distinct values at {spec.get('param')} = {at:.6g}, claimed {n}")
        measured["maxima"] = ", ".join(got)
    return measured, failures
