"""Sweep files: which points to run, how long, and what to keep (pure data, no torch).

Format (version 1)::

    format_version = 1
    title = "Hopfield T × α"
    description = "..."
    base = "../hopfield_retrieval.toml"   # a preset file (relative to this file), or a table:
    # [base]                              #   the keys of a preset file, inline
    # model = "hopfield"
    # seed = 0
    # [base.params]
    # neurons = 1000
    seeds = 4               # per point: base.seed, base.seed + 1, …; or a list of seeds
    steps = 200             # engine steps per point
    burn_in = 100           # steps before observables are averaged (0 <= burn_in < steps)
    sample_every = 1        # steps between two samples of the observables after burn-in

    [x]                     # first axis: a range …
    param = "temperature"
    start = 0.0
    stop = 1.5
    count = 31
    spacing = "linear"      # or "log" (start, stop > 0)
    [y]                     # optional second axis: … or a list
    param = "load"
    values = [0.01, 0.05, 0.1]

    [[keep]]                # an observable reduced over time
    observable = "m_cued"
    reduce = "mean"         # final | mean (after burn-in) | fraction_above (of the samples)
    [[keep]]
    observable = "m_cued"
    reduce = "fraction_above"
    threshold = 0.5
    [[keep]]                # the pattern class of a 2D state array at the end
    pattern = "v"           # (engine.analysis.morphology; probe_steps before the end for motion)

    [early_stop]            # optional: stop a point once this observable has settled
    observable = "m_cued"
    window = 20             # over the last `window` samples after burn-in …
    tolerance = 1e-3        # … max − min <= tolerance

Points are numbered in C order over ``shape`` — (y, x, seed) for two axes,
(x, seed) for one. Every point starts a fresh model from the base preset with
its axis values and its seed, so a point's result depends on nothing but the
file: the same file gives the same numbers on any cluster.

Validation happens before any work: :func:`parse_sweep` checks the file
against the model's declared parameters (unknown parameter, non-numeric axis,
empty axis, values out of the declared range, duplicate values, seeds, steps);
:func:`check_outputs` checks the kept observables and fields against what the
model really produces (the caller probes one model). Every message names the
file and the key.
"""

from __future__ import annotations

import copy
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from attractor_lab.engine.equations import expand_schema
from attractor_lab.engine.params import MAX_SEED, Param
from attractor_lab.engine.storage.presets import (
    FORMAT_VERSION as PRESET_FORMAT_VERSION,
    Preset,
    PresetError,
    load_preset,
    parse_preset,
    read_capped,
)

FORMAT_VERSION = 1
REDUCTIONS = ("final", "mean", "fraction_above")
SPACINGS = ("linear", "log")
#: pattern classes an output of kind "pattern" stores, by index (code −1: not computed)
PATTERN_CODES = ("uniform", "spots", "stripes", "waves", "chaos", "mixed")
MAX_POINTS = 1_000_000
MAX_SEEDS = 10_000
MAX_AXIS_VALUES = 100_000
MAX_STEPS = 10**12
_TOP_KEYS = {"format_version", "title", "description", "base", "seeds", "steps", "burn_in", "sample_every",
             "x", "y", "keep", "early_stop"}
_AXIS_KEYS = {"param", "start", "stop", "count", "spacing", "values"}
_KEEP_KEYS = {"observable", "reduce", "threshold", "pattern", "probe_steps", "name"}
_EARLY_KEYS = {"observable", "window", "tolerance"}


class SweepError(ValueError):
    """A sweep file that cannot be run; the message names the file and the key."""


@dataclass(frozen=True)
class Axis:
    """One swept parameter and its values (in the parameter's own type)."""

    param: str
    values: tuple
    spacing: str = "list"  # "linear", "log" (from a range) or "list"
    start: float | None = None
    stop: float | None = None

    @property
    def count(self) -> int:
        return len(self.values)

    def to_dict(self) -> dict:
        if self.spacing in SPACINGS:
            return {"param": self.param, "start": self.start, "stop": self.stop, "count": self.count,
                    "spacing": self.spacing}
        return {"param": self.param, "values": list(self.values)}


@dataclass(frozen=True)
class Output:
    """What one point keeps: an observable reduced over time, or a pattern class."""

    name: str
    observable: str | None = None
    reduce: str | None = None
    threshold: float | None = None
    pattern: str | None = None  # a 2D array of the state, classified at the end
    probe_steps: int | None = None

    @property
    def kind(self) -> str:
        return "pattern" if self.pattern is not None else "observable"

    def to_dict(self) -> dict:
        if self.pattern is not None:
            d: dict[str, Any] = {"pattern": self.pattern}
            if self.probe_steps is not None:
                d["probe_steps"] = self.probe_steps
        else:
            d = {"observable": self.observable, "reduce": self.reduce}
            if self.threshold is not None:
                d["threshold"] = self.threshold
        if self.name != default_output_name(d):
            d["name"] = self.name
        return d


@dataclass(frozen=True)
class EarlyStop:
    observable: str
    window: int
    tolerance: float

    def to_dict(self) -> dict:
        return {"observable": self.observable, "window": self.window, "tolerance": self.tolerance}


@dataclass
class Sweep:
    """A validated sweep file."""

    base: Preset
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    steps: int
    burn_in: int
    outputs: tuple[Output, ...]
    sample_every: int = 1
    early_stop: EarlyStop | None = None
    title: str = ""
    description: str = ""
    path: Path | None = None

    # ---- geometry of the grid --------------------------------------------------
    @property
    def model(self) -> str:
        return self.base.model

    @property
    def shape(self) -> tuple[int, ...]:
        """(y, x, seed) for two axes, (x, seed) for one."""
        return tuple(a.count for a in reversed(self.axes)) + (len(self.seeds),)

    @property
    def n_points(self) -> int:
        return int(np.prod(self.shape))

    def point(self, index: int) -> tuple[dict[str, Any], int]:
        """(parameters, seed) of point ``index`` (C order over :attr:`shape`)."""
        if not 0 <= index < self.n_points:
            raise IndexError(f"point {index} is outside the sweep's {self.n_points} points")
        where = np.unravel_index(index, self.shape)
        params = dict(self.base.params)
        for axis, i in zip(reversed(self.axes), where[:-1]):
            params[axis.param] = axis.values[i]
        return params, self.seeds[where[-1]]

    def point_label(self, index: int) -> str:
        params, seed = self.point(index)
        values = ", ".join(f"{a.param} = {params[a.param]:g}" for a in self.axes)
        return f"{values}, seed {seed}"

    # ---- files ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The sweep as a TOML table, with the base preset inline (self-contained)."""
        base = self.base.to_dict()
        base.pop("contract", None)  # what the preset promises as shipped; a sweep changes it
        d: dict[str, Any] = {"format_version": FORMAT_VERSION}
        if self.title:
            d["title"] = self.title
        if self.description:
            d["description"] = self.description
        d.update(seeds=list(self.seeds), steps=self.steps, burn_in=self.burn_in, sample_every=self.sample_every)
        d["base"] = base
        for name, axis in zip(("x", "y"), self.axes):
            d[name] = axis.to_dict()
        d["keep"] = [o.to_dict() for o in self.outputs]
        if self.early_stop is not None:
            d["early_stop"] = self.early_stop.to_dict()
        return d

    def dumps(self) -> str:
        return tomli_w.dumps(self.to_dict())


def default_output_name(entry: dict) -> str:
    """``m_cued.mean``, ``m_cued.final``, ``m_cued.above_0.5``, ``pattern.v``."""
    if entry.get("pattern") is not None:
        return f"pattern.{entry['pattern']}"
    reduce = entry.get("reduce", "final")
    if reduce == "fraction_above":
        return f"{entry.get('observable')}.above_{entry.get('threshold'):g}"
    return f"{entry.get('observable')}.{reduce}"


# ---- parsing -------------------------------------------------------------------------
def _integer(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _schemas_from_registry() -> dict[str, dict[str, Param]]:
    from attractor_lab.engine import models  # imports torch: only in the engine or CLI process

    return {n: {p.name: p for p in models.get(n).params} for n in models.names()}


def parse_sweep(data: dict, where: str = "<sweep>", schemas: dict[str, dict[str, Param]] | None = None,
                base_dir: str | os.PathLike | None = None) -> Sweep:
    """Validate a sweep file's parsed TOML table and return a :class:`Sweep`.

    ``schemas`` are the models' parameter declarations (from the registry by
    default; the GUI passes the ones it received); ``base_dir`` is where a
    ``base`` file name is looked for (the sweep file's folder).
    """

    def fail(key: str, msg: str) -> SweepError:
        return SweepError(f"{where}: key {key!r}: {msg}")

    if not isinstance(data, dict):
        raise SweepError(f"{where}: expected a table")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown key; allowed top-level keys are {', '.join(sorted(_TOP_KEYS))}")
    version = data.get("format_version")
    if not _integer(version) or not 1 <= version <= FORMAT_VERSION:
        raise fail("format_version", f"expected an integer from 1 to {FORMAT_VERSION}, got {version!r}")
    for key in ("title", "description"):
        if key in data and not isinstance(data[key], str):
            raise fail(key, f"expected a string, got {data[key]!r}")
    if schemas is None:
        schemas = _schemas_from_registry()
    base = _parse_base(data.get("base"), where, schemas, base_dir)
    # a custom model's parameters are the ones its equations declare (validated by the base already)
    schema = expand_schema(base.model, schemas[base.model], base.params)

    steps = data.get("steps")
    if not _integer(steps) or not 1 <= steps <= MAX_STEPS:
        raise fail("steps", f"expected an integer from 1 to {MAX_STEPS}, got {steps!r}")
    burn_in = data.get("burn_in", 0)
    if not _integer(burn_in) or not 0 <= burn_in < steps:
        raise fail("burn_in", f"expected an integer from 0 to steps − 1 = {steps - 1}, got {burn_in!r}")
    every = data.get("sample_every", 1)
    if not _integer(every) or not 1 <= every <= steps:
        raise fail("sample_every", f"expected an integer from 1 to steps = {steps}, got {every!r}")

    seeds = _parse_seeds(data.get("seeds", 1), base.seed, fail)
    if "x" not in data:
        raise fail("x", "a sweep needs at least one axis: a table [x] with param and start/stop/count or values")
    axes = [_parse_axis(data["x"], "x", schema, base.model, fail)]
    if "y" in data:
        axes.append(_parse_axis(data["y"], "y", schema, base.model, fail))
        if axes[1].param == axes[0].param:
            raise fail("y.param", f"{axes[0].param!r} is already the x axis; choose another parameter")
    n_points = int(np.prod([a.count for a in axes])) * len(seeds)
    if n_points > MAX_POINTS:
        raise SweepError(f"{where}: {n_points} points (axes × seeds) is more than the {MAX_POINTS} a sweep "
                         "may hold; use fewer values or seeds")

    keep = data.get("keep")
    if not isinstance(keep, list) or not keep:
        raise fail("keep", "expected a list of tables [[keep]] with observable (and reduce), or pattern")
    outputs = [_parse_output(entry, f"keep[{i}]", steps, fail) for i, entry in enumerate(keep)]
    names = [o.name for o in outputs]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise fail(f"keep[{i}].name", f"output {name!r} is kept twice; give one of them another name")
        if name in ("status", "steps", "seconds") or name.startswith("__") or "/" in name:
            raise fail(f"keep[{i}].name", f"{name!r} is reserved or not a valid name (no '/', no leading '__')")
    early = _parse_early_stop(data["early_stop"], fail) if "early_stop" in data else None
    return Sweep(base=base, axes=tuple(axes), seeds=seeds, steps=steps, burn_in=burn_in, outputs=tuple(outputs),
                 sample_every=every, early_stop=early, title=data.get("title", ""),
                 description=data.get("description", ""))


def _parse_base(value, where: str, schemas, base_dir) -> Preset:
    if isinstance(value, str):
        path = Path(value)
        if not path.is_absolute():
            path = Path(base_dir or ".") / path
        if not path.is_file():
            raise SweepError(f"{where}: key 'base': preset file {value!r} not found (looked for {path})")
        try:
            return load_preset(path, schemas=schemas)
        except PresetError as exc:
            raise SweepError(f"{where}: key 'base': {exc}") from None
    if isinstance(value, dict):
        table = {"format_version": PRESET_FORMAT_VERSION, **value}
        try:
            return parse_preset(table, where=f"{where} [base]", schemas=schemas)
        except PresetError as exc:
            raise SweepError(str(exc)) from None
    raise SweepError(f"{where}: key 'base': expected a preset file name or an inline table "
                     f"[base] with model, seed and [base.params], got {value!r}")


def _parse_seeds(value, base_seed: int, fail) -> tuple[int, ...]:
    if _integer(value):
        if not 1 <= value <= MAX_SEEDS:
            raise fail("seeds", f"expected a number of seeds from 1 to {MAX_SEEDS}, or a list of seeds; got {value}")
        if base_seed + value - 1 > MAX_SEED:
            raise fail("seeds", f"seeds {base_seed} … {base_seed + value - 1} pass the largest seed {MAX_SEED}")
        return tuple(range(base_seed, base_seed + value))
    if isinstance(value, list):
        if not value:
            raise fail("seeds", "the list of seeds is empty; give at least one")
        for i, s in enumerate(value):
            if not _integer(s) or not 0 <= s <= MAX_SEED:
                raise fail(f"seeds[{i}]", f"expected an integer from 0 to {MAX_SEED}, got {s!r}")
        if len(set(value)) != len(value):
            raise fail("seeds", f"seeds repeat in {value}; each point's seeds must differ")
        if len(value) > MAX_SEEDS:
            raise fail("seeds", f"at most {MAX_SEEDS} seeds, got {len(value)}")
        return tuple(value)
    raise fail("seeds", f"expected a number of seeds or a list of seeds, got {value!r}")


def _parse_axis(table, key: str, schema: dict[str, Param], model: str, fail) -> Axis:
    if not isinstance(table, dict):
        raise fail(key, "expected a table with param and start/stop/count (or values)")
    unknown = set(table) - _AXIS_KEYS
    if unknown:
        raise fail(f"{key}.{sorted(unknown)[0]}", f"unknown key; an axis has {', '.join(sorted(_AXIS_KEYS))}")
    name = table.get("param")
    if not isinstance(name, str) or name not in schema:
        known = ", ".join(sorted(schema))
        raise fail(f"{key}.param", f"{name!r} is not a parameter of {model}; its parameters are: {known}")
    p = schema[name]
    if p.kind not in ("float", "int"):
        raise fail(f"{key}.param", f"{name!r} is a {p.kind} parameter; sweep axes take numeric (float or int) "
                   "parameters")
    has_range = any(k in table for k in ("start", "stop", "count", "spacing"))
    if "values" in table:
        if has_range:
            raise fail(f"{key}.values", "give either values or start/stop/count, not both")
        values = table["values"]
        if not isinstance(values, list) or not values:
            raise fail(f"{key}.values", "the axis is empty; give at least one value")
        if len(values) > MAX_AXIS_VALUES:
            raise fail(f"{key}.values", f"at most {MAX_AXIS_VALUES} values, got {len(values)}")
        out = []
        for i, v in enumerate(values):
            out.append(_check_value(p, v, f"{key}.values[{i}]", fail))
        if len(set(out)) != len(out):
            raise fail(f"{key}.values", f"values repeat in {values}")
        return Axis(name, tuple(out))
    for k in ("start", "stop", "count"):
        if k not in table:
            raise fail(f"{key}.{k}", "missing; an axis needs start, stop and count (or a list of values)")
    start, stop, count = table["start"], table["stop"], table["count"]
    spacing = table.get("spacing", "linear")
    if spacing not in SPACINGS:
        raise fail(f"{key}.spacing", f"expected one of {', '.join(SPACINGS)}, got {spacing!r}")
    if not _integer(count) or count < 1:
        raise fail(f"{key}.count", f"the axis is empty or malformed: expected an integer >= 1, got {count!r}")
    if count > MAX_AXIS_VALUES:
        raise fail(f"{key}.count", f"at most {MAX_AXIS_VALUES} values, got {count}")
    for k, v in (("start", start), ("stop", stop)):
        if not _number(v):
            raise fail(f"{key}.{k}", f"expected a finite number, got {v!r}")
        _check_value(p, v if p.kind == "float" else float(v), f"{key}.{k}", fail, exact_int=False)
    if spacing == "log" and (start <= 0 or stop <= 0):
        raise fail(f"{key}.spacing", f"log spacing needs start and stop > 0, got {start:g} and {stop:g}")
    if count == 1:
        grid = np.array([float(start)])
    elif spacing == "log":
        grid = np.geomspace(float(start), float(stop), count)
        grid[0], grid[-1] = start, stop  # exact ends (geomspace rounds them)
    else:
        grid = np.linspace(float(start), float(stop), count)
    if p.kind == "int":
        ints = [int(round(v)) for v in grid]
        if len(set(ints)) != len(ints):
            raise fail(f"{key}.count", f"{name!r} is an integer parameter and {count} values from {start:g} to "
                       f"{stop:g} repeat after rounding; use fewer values or a list")
        values = tuple(_check_value(p, v, f"{key}", fail) for v in ints)
    else:
        values = tuple(_check_value(p, float(v), f"{key}", fail) for v in grid)
        if len(set(values)) != len(values):
            raise fail(f"{key}.count", f"start = stop = {start:g} with {count} values repeats one value")
    return Axis(name, values, spacing, float(start), float(stop))


def _check_value(p: Param, value, key: str, fail, exact_int: bool = True):
    if p.kind == "int" and not exact_int and isinstance(value, float):
        value = round(value)
    try:
        return p.validate(value)
    except ValueError as exc:
        raise fail(key, str(exc)) from None


def _parse_output(entry, key: str, steps: int, fail) -> Output:
    if not isinstance(entry, dict):
        raise fail(key, "expected a table with observable (and reduce) or pattern")
    unknown = set(entry) - _KEEP_KEYS
    if unknown:
        raise fail(f"{key}.{sorted(unknown)[0]}", f"unknown key; a [[keep]] entry has {', '.join(sorted(_KEEP_KEYS))}")
    name = entry.get("name")
    if name is not None and not (isinstance(name, str) and name.strip()):
        raise fail(f"{key}.name", f"expected a non-empty string, got {name!r}")
    if "pattern" in entry:
        if "observable" in entry or "reduce" in entry or "threshold" in entry:
            raise fail(key, "an entry keeps either a pattern or an observable, not both")
        field_name = entry["pattern"]
        if not isinstance(field_name, str) or not field_name:
            raise fail(f"{key}.pattern", f"expected the name of a 2D array of the model's state, got {field_name!r}")
        probe = entry.get("probe_steps")
        if probe is not None and (not _integer(probe) or not 1 <= probe <= steps):
            raise fail(f"{key}.probe_steps", f"expected an integer from 1 to steps = {steps}, got {probe!r}")
        return Output(name or default_output_name(entry), pattern=field_name, probe_steps=probe)
    if "probe_steps" in entry:
        raise fail(f"{key}.probe_steps", "probe_steps belongs to a pattern entry")
    obs = entry.get("observable")
    if not isinstance(obs, str) or not obs:
        raise fail(f"{key}.observable", f"expected the name of an observable, got {obs!r}")
    reduce = entry.get("reduce", "final")
    if reduce not in REDUCTIONS:
        raise fail(f"{key}.reduce", f"expected one of {', '.join(REDUCTIONS)}, got {reduce!r}")
    threshold = entry.get("threshold")
    if reduce == "fraction_above":
        if not _number(threshold):
            raise fail(f"{key}.threshold", f"fraction_above needs a finite number threshold, got {threshold!r}")
        threshold = float(threshold)
    elif threshold is not None:
        raise fail(f"{key}.threshold", f"a threshold belongs to reduce = 'fraction_above', not {reduce!r}")
    d = {"observable": obs, "reduce": reduce, "threshold": threshold}
    return Output(name or default_output_name(d), observable=obs, reduce=reduce, threshold=threshold)


def _parse_early_stop(table, fail) -> EarlyStop:
    if not isinstance(table, dict):
        raise fail("early_stop", "expected a table with observable, window and tolerance")
    unknown = set(table) - _EARLY_KEYS
    if unknown:
        raise fail(f"early_stop.{sorted(unknown)[0]}", f"unknown key; early_stop has {', '.join(sorted(_EARLY_KEYS))}")
    obs = table.get("observable")
    if not isinstance(obs, str) or not obs:
        raise fail("early_stop.observable", f"expected the name of an observable, got {obs!r}")
    window = table.get("window", 10)
    if not _integer(window) or window < 2:
        raise fail("early_stop.window", f"expected an integer >= 2 (samples), got {window!r}")
    tol = table.get("tolerance")
    if not _number(tol) or tol < 0:
        raise fail("early_stop.tolerance", f"expected a number >= 0, got {tol!r}")
    return EarlyStop(obs, window, float(tol))


# ---- what the model must provide ------------------------------------------------------------
def check_outputs(sweep: Sweep, observables, state_shapes: dict[str, tuple], where: str | None = None) -> None:
    """Refuse (``SweepError`` naming the key) outputs and an early stop that ask for an
    observable the model does not have, or a pattern of an array that is not a 2D field.

    ``observables``: the names a model of this sweep reports; ``state_shapes``: the
    shapes of its ``state()`` arrays (from one probe model)."""
    where = where or (str(sweep.path) if sweep.path else "<sweep>")
    names = sorted(observables)
    for i, out in enumerate(sweep.outputs):
        if out.observable is not None and out.observable not in observables:
            raise SweepError(f"{where}: key 'keep[{i}].observable': {out.observable!r} is not an observable of "
                             f"{sweep.model}; it has: {', '.join(names)}")
        if out.pattern is not None:
            shape = state_shapes.get(out.pattern)
            fields = sorted(k for k, s in state_shapes.items() if len(s) == 2 and min(s) >= 4)
            if shape is None or len(shape) != 2 or min(shape) < 4:
                raise SweepError(f"{where}: key 'keep[{i}].pattern': {out.pattern!r} is not a 2D field of "
                                 f"{sweep.model}'s state; its 2D fields are: {', '.join(fields) or 'none'}")
    if sweep.early_stop is not None and sweep.early_stop.observable not in observables:
        raise SweepError(f"{where}: key 'early_stop.observable': {sweep.early_stop.observable!r} is not an "
                         f"observable of {sweep.model}; it has: {', '.join(names)}")


# ---- files -----------------------------------------------------------------------------------
def loads_sweep(text: str, where: str = "<sweep>", schemas=None, base_dir=None) -> Sweep:
    """Parse and validate sweep TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{where}: not valid TOML: {exc}") from None
    except RecursionError:
        raise SweepError(f"{where}: nested too deeply to read") from None
    return parse_sweep(data, where=where, schemas=schemas, base_dir=base_dir)


def load_sweep(path: str | os.PathLike, schemas=None) -> Sweep:
    """Read and validate a sweep file (``SweepError`` names the file and the key)."""
    path = Path(path)
    raw = read_capped(path, "sweep file", SweepError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SweepError(f"{path}: not UTF-8 text: {exc}") from None
    sweep = loads_sweep(text, where=str(path), schemas=schemas, base_dir=path.parent)
    sweep.path = path
    return sweep


def canonical(sweep: Sweep) -> dict:
    """The sweep as plain data for comparison (two files that run the same points are equal)."""
    d = copy.deepcopy(sweep.to_dict())
    for key in ("title", "description"):
        d.pop(key, None)
        d["base"].pop(key, None)
    d["base"].pop("run", None)
    d["base"].pop("view", None)
    return d


def first_difference(a, b, prefix: str = "") -> str | None:
    """The first key path where two plain-data trees differ (for messages), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return f"{prefix}{key}"
            found = first_difference(a[key], b[key], f"{prefix}{key}.")
            if found:
                return found
        return None
    if a != b:
        return prefix.rstrip(".") or "(the file)"
    return None
