"""What an analysis computes, as data: the ``[analysis]`` table of a preset and the ``analyse`` request.

Torch-free (the window validates presets with it). :func:`check_analysis`
takes a table and returns it normalised (every key present, numbers as
floats or ints), or raises ``ValueError`` naming the key, what it was and
what is allowed::

    [analysis]
    kind = "orbit"            # "bifurcation", "orbit" or "basins"
    param = "c"               # bifurcation, orbit: the parameter on the horizontal axis
    range = [2.0, 6.0]        # bifurcation, orbit: its range
    variable = "x"            # bifurcation, orbit: the variable on the vertical axis (name or index)
    count = 200               # orbit: parameter values
    trajectories = 8          # orbit: starts per value
    transient = 200.0         # orbit: time dropped
    record = 100.0            # orbit: time recorded
    dt = 0.02                 # orbit, basins: the RK4 step
    section = ["y", 0.0]      # orbit, optional: crossings of y = 0 upwards instead of maxima
    plane = ["x", "y"]        # basins: the plane of starts
    box = [-2, 2, -2, 2]      # basins: its extent (default: the model's phase window)
    resolution = 100          # basins: grid points per axis
    time = 100.0              # basins: time to settle
    start = [0, 0, 0]         # bifurcation, optional: a guess of the first equilibrium
    cycles = true             # bifurcation: also the periodic orbits born at each Hopf point

A preset's ``[contract.analysis]`` (:func:`check_analysis_claims`) says what the analysis finds:
``hopf``, ``fold``, ``branch``, ``period_doubling`` = [low, high] (a point of that kind with its
parameter in the range), ``attractors`` = [low, high] (basins: how many), ``fractions`` =
[low, high] (basins: every basin's share), ``maxima`` = [[value, n], …] (orbit: n distinct values
at that parameter value), ``onset_period`` = [low, high] (the first cycle from a Hopf point).
"""

from __future__ import annotations

import math
from typing import Any

KINDS = ("bifurcation", "orbit", "basins")
#: keys each kind uses (with their defaults); ``kind`` is always there
DEFAULTS: dict[str, Any] = {
    "param": None, "range": None, "variable": 0, "count": 200, "trajectories": 8, "transient": 200.0,
    "record": 100.0, "dt": 0.02, "section": None, "plane": None, "box": None, "resolution": 100, "time": 100.0,
    "start": None, "cycles": True,
}
USES = {
    "bifurcation": ("param", "range", "variable", "start", "cycles"),
    "orbit": ("param", "range", "variable", "count", "trajectories", "transient", "record", "dt", "section"),
    "basins": ("plane", "box", "resolution", "time", "dt"),
}
#: the most a request may ask (one batch must fit the engine's memory)
LIMITS = {"count": (2, 4000), "trajectories": (1, 1024), "resolution": (4, 1000)}
CLAIMS = ("hopf", "fold", "branch", "period_doubling", "attractors", "fractions", "maxima", "onset_period")


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _var(x) -> bool:
    return (isinstance(x, str) and 0 < len(x) <= 64) or (isinstance(x, int) and not isinstance(x, bool) and x >= 0)


def check_analysis(table: Any, where: str = "analysis") -> dict:
    """Validate an analysis table; returns it with every key of its kind (defaults filled in)."""

    def fail(key: str, msg: str) -> ValueError:
        return ValueError(f"{where}: key {key!r}: {msg}")

    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table (kind = \"bifurcation\", \"orbit\" or \"basins\", …)")
    kind = table.get("kind")
    if kind not in KINDS:
        raise fail("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
    allowed = {"kind", *USES[kind]}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise fail(unknown[0], f"not used by a {kind} analysis; its keys are {', '.join(sorted(allowed))}")
    out = {"kind": kind, **{k: DEFAULTS[k] for k in USES[kind]}, **table}
    if kind in ("bifurcation", "orbit"):
        if not isinstance(out["param"], str) or not out["param"]:
            raise fail("param", f"a {kind} analysis needs the parameter's name (a string), got {out['param']!r}")
        rng = out["range"]
        if not (isinstance(rng, (list, tuple)) and len(rng) == 2 and all(_number(v) for v in rng) and rng[0] < rng[1]):
            raise fail("range", f"expected [low, high] with low < high (finite numbers), got {rng!r}")
        out["range"] = [float(rng[0]), float(rng[1])]
        if not _var(out["variable"]):
            raise fail("variable", f"expected a variable's name or index (>= 0), got {out['variable']!r}")
    for key in ("count", "trajectories", "resolution"):
        if key in out:
            lo, hi = LIMITS[key]
            v = out[key]
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise fail(key, f"expected an integer from {lo} to {hi}, got {v!r}")
    for key in ("transient", "record", "dt", "time"):
        if key in out:
            v = out[key]
            positive = key != "transient"
            if not _number(v) or v < 0 or (positive and v == 0) or v > 1e6:
                raise fail(key, f"expected a number {'>' if positive else '>='} 0 (at most 1e6), got {v!r}")
            out[key] = float(v)
    if kind in ("orbit", "basins") and out["dt"] > out.get("record", out.get("time")):
        raise fail("dt", f"the step {out['dt']:g} is longer than the time recorded")
    if out.get("section") is not None:
        s = out["section"]
        if not (isinstance(s, (list, tuple)) and len(s) == 2 and _var(s[0]) and _number(s[1])):
            raise fail("section", f"expected [variable, level], e.g. [\"y\", 0.0], got {s!r}")
        out["section"] = [s[0], float(s[1])]
    if kind == "basins":
        plane = out["plane"]
        if plane is not None and not (isinstance(plane, (list, tuple)) and len(plane) == 2 and all(_var(v) for v in plane)
                                      and plane[0] != plane[1]):
            raise fail("plane", f"expected two different variables [x, y], got {plane!r}")
        out["plane"] = None if plane is None else list(plane)
        box = out["box"]
        if box is not None and not (isinstance(box, (list, tuple)) and len(box) == 4 and all(_number(v) for v in box)
                                    and box[0] < box[1] and box[2] < box[3]):
            raise fail("box", f"expected [x0, x1, y0, y1] with x0 < x1 and y0 < y1, got {box!r}")
        out["box"] = None if box is None else [float(v) for v in box]
    if kind == "bifurcation":
        st = out["start"]
        if st is not None and not (isinstance(st, (list, tuple)) and 0 < len(st) <= 4096 and all(_number(v) for v in st)):
            raise fail("start", f"expected a list of numbers (a guess of the equilibrium), got {str(st)[:60]}")
        out["start"] = None if st is None else [float(v) for v in st]
        if not isinstance(out["cycles"], bool):
            raise fail("cycles", f"expected true or false, got {out['cycles']!r}")
    return out


def stored(spec: dict) -> dict:
    """The table a preset keeps: the keys of its kind, without the unset optional ones."""
    return {k: v for k, v in spec.items() if k in ("kind", *USES[spec["kind"]]) and v is not None}


def check_claims(table: Any, where: str = "contract.analysis") -> dict:
    """Validate a ``[contract.analysis]`` table (see the module's doc)."""

    def fail(key: str, msg: str) -> ValueError:
        return ValueError(f"{where}: key {key!r}: {msg}")

    if not isinstance(table, dict) or not table:
        raise ValueError(f"{where}: expected a table of claims ({', '.join(CLAIMS)})")
    out = {}
    for key, v in table.items():
        if key not in CLAIMS:
            raise fail(key, f"unknown claim; allowed: {', '.join(CLAIMS)}")
        if key == "maxima":
            if not (isinstance(v, list) and v and all(isinstance(r, list) and len(r) == 2 and _number(r[0])
                                                     and isinstance(r[1], int) and r[1] >= 0 for r in v)):
                raise fail(key, f"expected [[parameter value, distinct count], …], got {str(v)[:60]}")
            out[key] = [[float(r[0]), int(r[1])] for r in v]
            continue
        if not (isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v) and v[0] <= v[1]):
            raise fail(key, f"expected [low, high] with low <= high, got {v!r}")
        out[key] = [float(v[0]), float(v[1])]
    return out
