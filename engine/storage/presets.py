"""Presets: TOML files that say which model, with which parameters, seed and settings.

A preset is data only; loading one never executes code. Bad presets are
refused with a message naming the file, the key and what was expected.

Format (version 1)::

    format_version = 1
    model = "gray_scott"
    title = "Spots (Pearson α)"
    description = "..."
    seed = 0
    [params]            # validated against the model's declared parameters
    F = 0.035
    [run]               # fps (display rate), steps_per_frame (speed cap, 0 = none), steps (CLI default)
    fps = 30
    [view]              # view settings: field = the image field shown first (one of the
    field = "v"         # model's image views' arrays, checked); other keys are kept as given
    [contract]          # what the preset shows, checked by tests/test_preset_contracts.py
    steps = 8000        # engine steps from the preset's seed, then the checks below
    pattern = "spots"   # class of `field` (uniform, spots, stripes, waves, chaos)
    grid_scale_max = 1e-4
    [contract.observables]
    mean_v = [0.05, 0.2]

The contract's keys (all but ``steps`` optional; see :class:`Contract`):
``steps``, ``field``, ``pattern``, ``probe_steps``, ``grid_scale_max``,
``observables`` (name = [low, high]; ``inf`` and ``-inf`` allowed) and
``agree`` (name = [other observable, tolerance]).

This module imports neither torch nor Qt: the GUI validates presets against
the parameter declarations it received from the engine.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from attractor_lab.engine.analysis import PATTERN_CLASSES
from attractor_lab.engine.analysis_spec import check_analysis, check_claims, stored
from attractor_lab.engine.equations import EquationError, expand_schema, parse_ode, parse_rd, parse_xpp
from attractor_lab.engine.params import Param, validate_params
from attractor_lab.engine.files import atomic_write_bytes
from attractor_lab.engine.shipped import shipped_presets_dir

FORMAT_VERSION = 1
#: a preset is a few hundred bytes: larger files are refused before parsing
MAX_PRESET_BYTES = 1 << 20
#: tables and arrays nested deeper than this are refused (Python's parser recurses)
MAX_PRESET_DEPTH = 16
#: seeds shown and edited in the window are 31-bit; presets keep to the same range
MAX_SEED = 2**31 - 1
_TOP_KEYS = {"format_version", "model", "title", "description", "seed", "params", "run", "view", "contract",
             "analysis"}
_CONTRACT_KEYS = {"steps", "field", "pattern", "probe_steps", "grid_scale_max", "observables", "agree", "analysis"}
#: contracts run in the test suite: keep each one short
MAX_CONTRACT_STEPS = 10**7
_RUN_KEYS = {
    "fps": Param("fps", "int", 30, 1, 240, help="display rate (frames/s)"),
    "steps_per_frame": Param("steps_per_frame", "int", 0, 0, 10_000_000,
                             help="at most this many steps between displayed frames (0: as fast as possible)"),
    "steps": Param("steps", "int", 1000, 0, 10**12, help="steps for a headless run"),
    "every": Param("every", "int", 1, 1, 10**9, help="record every K steps"),
}


class PresetError(ValueError):
    """A preset that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Contract:
    """What a preset promises to show, as data (the ``[contract]`` table).

    The checker (:func:`engine.storage.contracts.check_contract`) creates the model from
    the preset exactly as the window would (its parameters and seed, on the
    CPU), runs ``steps`` engine steps and then checks every claim:

    ``field`` (default: the preset's ``view.field``)
        the 2D array of ``state()`` whose pattern is classified;
    ``pattern``
        its class by :func:`engine.analysis.morphology.classify_pattern`
        (one of ``PATTERN_CLASSES``), from the state after ``steps`` and the one
        ``probe_steps`` before it (default ``max(1, steps // 20)``: moving
        patterns are told from static ones by the change in between);
    ``grid_scale_max``
        every array of ``state()`` with the field's shape holds at most this
        fraction of its power on the Nyquist modes
        (:func:`engine.analysis.morphology.nyquist_fraction`);
    ``observables``
        ``name = [low, high]``: the observable after ``steps`` lies in the range
        (``inf``/``-inf`` for one-sided ranges);
    ``agree``
        ``name = [other, tolerance]``: ``|name − other| ≤ tolerance`` (a
        measurement against the theory's prediction, for instance).
    """

    steps: int
    field: str | None = None
    pattern: str | None = None
    probe_steps: int | None = None
    grid_scale_max: float | None = None
    # (``field`` above shadows dataclasses.field inside this class body)
    observables: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    agree: dict[str, tuple[str, float]] = dataclasses.field(default_factory=dict)
    #: claims about the preset's ``[analysis]`` (engine.analysis_spec.check_claims): hopf = [lo, hi], …
    analysis: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def probe(self) -> int:
        """Steps between the two snapshots the pattern class is read from."""
        return self.probe_steps if self.probe_steps is not None else max(1, self.steps // 20)

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"steps": self.steps}
        for key in ("field", "pattern", "probe_steps", "grid_scale_max"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.observables:
            d["observables"] = {k: [lo, hi] for k, (lo, hi) in self.observables.items()}
        if self.agree:
            d["agree"] = {k: [other, tol] for k, (other, tol) in self.agree.items()}
        if self.analysis:
            d["analysis"] = {k: v for k, v in self.analysis.items()}
        return d

    def describe(self, dt: float | None = None) -> str:
        """The claim in words, for the window (``dt``: simulated time per step, if known)."""
        when = f"after {self.steps:,} steps".replace(",", " ")
        if dt is not None and dt > 0:
            when += f" (t = {self.steps * dt:.4g})"
        claims = []
        if self.pattern:
            claims.append(f"{self.field or 'the field'} shows {self.pattern}")
        for name, (lo, hi) in self.observables.items():
            if math.isinf(lo):
                claims.append(f"{name} ≤ {hi:g}")
            elif math.isinf(hi):
                claims.append(f"{name} ≥ {lo:g}")
            else:
                claims.append(f"{name} in [{lo:g}, {hi:g}]")
        for name, (other, tol) in self.agree.items():
            claims.append(f"{name} within {tol:g} of {other}")
        if self.grid_scale_max is not None:
            claims.append(f"grid-scale power ≤ {self.grid_scale_max:g}")
        for name, value in self.analysis.items():
            if name == "maxima":
                claims.append("the orbit diagram has " + ", ".join(f"{n} value{'s' * (n != 1)} at {p:g}"
                                                                   for p, n in value))
            else:
                claims.append(f"analysis: {name.replace('_', ' ')} in [{value[0]:g}, {value[1]:g}]")
        return f"{when}: " + "; ".join(claims) if claims else when


def parse_contract(data: Any, view: dict, where: str) -> Contract:
    """Validate a ``[contract]`` table (see :class:`Contract`)."""

    def fail(key: str, msg: str) -> PresetError:
        return PresetError(f"{where}: key 'contract.{key}': {msg}")

    def number(x) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    if not isinstance(data, dict):
        raise PresetError(f"{where}: key 'contract': expected a table")
    unknown = set(data) - _CONTRACT_KEYS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown key; allowed keys are {', '.join(sorted(_CONTRACT_KEYS))}")
    steps = data.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_CONTRACT_STEPS:
        raise fail("steps", f"expected an integer from 1 to {MAX_CONTRACT_STEPS}, got {steps!r}")
    name = data.get("field", view.get("field"))
    if "field" in data and not (isinstance(name, str) and name):
        raise fail("field", f"expected the name of a 2D array of the model's state, got {name!r}")
    pattern = data.get("pattern")
    if pattern is not None:
        if pattern not in PATTERN_CLASSES:
            raise fail("pattern", f"expected one of {', '.join(PATTERN_CLASSES)}, got {pattern!r}")
    if (pattern is not None or "grid_scale_max" in data) and not isinstance(name, str):
        raise fail("field", "a pattern or grid_scale_max claim needs the field it is about "
                   "(contract.field, or view.field)")
    probe = data.get("probe_steps")
    if probe is not None and (not isinstance(probe, int) or isinstance(probe, bool) or not 1 <= probe <= steps):
        raise fail("probe_steps", f"expected an integer from 1 to steps = {steps}, got {probe!r}")
    grid = data.get("grid_scale_max")
    if grid is not None and not (number(grid) and 0.0 <= grid <= 1.0):
        raise fail("grid_scale_max", f"expected a fraction in [0, 1], got {grid!r}")
    observables = {}
    table = data.get("observables", {})
    if not isinstance(table, dict):
        raise fail("observables", "expected a table of name = [low, high]")
    for key, rng in table.items():
        if not (isinstance(rng, list) and len(rng) == 2 and all(number(x) and not math.isnan(x) for x in rng)
                and rng[0] <= rng[1]):
            raise fail(f"observables.{key}", f"expected [low, high] with low <= high (inf allowed), got {rng!r}")
        observables[key] = (float(rng[0]), float(rng[1]))
    agree = {}
    table = data.get("agree", {})
    if not isinstance(table, dict):
        raise fail("agree", "expected a table of name = [other observable, tolerance]")
    for key, pair in table.items():
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and number(pair[1])
                and pair[1] >= 0):
            raise fail(f"agree.{key}", f"expected [other observable, tolerance >= 0], got {pair!r}")
        agree[key] = (pair[0], float(pair[1]))
    analysis = {}
    if "analysis" in data:
        try:
            analysis = check_claims(data["analysis"], "contract.analysis")
        except ValueError as exc:
            raise PresetError(f"{where}: {exc}") from None
    if pattern is None and grid is None and not observables and not agree and not analysis:
        raise PresetError(f"{where}: key 'contract': claims nothing; give a pattern, grid_scale_max, "
                          "observables, agree or analysis")
    return Contract(steps=steps, field=name if isinstance(name, str) else None, pattern=pattern,
                    probe_steps=probe, grid_scale_max=None if grid is None else float(grid),
                    observables=observables, agree=agree, analysis=analysis)


@dataclass
class Preset:
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    title: str = ""
    description: str = ""
    run: dict[str, Any] = field(default_factory=dict)
    view: dict[str, Any] = field(default_factory=dict)
    contract: Contract | None = None
    path: Path | None = None
    #: what the Analysis dock computes for it (engine.analysis_spec.check_analysis, normalised)
    analysis: dict[str, Any] | None = None

    def to_dict(self) -> dict:
        d = {"format_version": FORMAT_VERSION, "model": self.model}
        if self.title:
            d["title"] = self.title
        if self.description:
            d["description"] = self.description
        d["seed"] = int(self.seed)
        d["params"] = dict(self.params)
        if self.run:
            d["run"] = dict(self.run)
        if self.view:
            d["view"] = dict(self.view)
        if self.analysis is not None:
            d["analysis"] = stored(self.analysis)
        if self.contract is not None:
            d["contract"] = self.contract.to_dict()
        return d

    def dumps(self) -> str:
        return tomli_w.dumps(self.to_dict())


class Schemas(dict):
    """Model name → its parameter schema (name → :class:`Param`), with what else a preset
    is checked against: ``views``, model name → its view declarations (``[view] field``
    must name one of their image fields)."""

    def __init__(self, params: dict[str, dict[str, Param]], views: dict[str, list[dict]]):
        super().__init__(params)
        self.views = views


def _schemas_from_registry() -> Schemas:
    from attractor_lab.engine import models  # imports torch: only in the engine or CLI process

    return Schemas({n: {p.name: p for p in models.get(n).params} for n in models.names()},
                   {n: [dict(v) for v in models.get(n).views] for n in models.names()})


def schemas_from_descriptions(descriptions: dict[str, dict]) -> Schemas:
    """Parameter schemas (and view declarations) from ``list_models`` replies (the GUI's view of the models)."""
    return Schemas({n: {p["name"]: Param.from_json(p) for p in d["params"]} for n, d in descriptions.items()},
                   {n: list(d.get("views") or []) for n, d in descriptions.items()})


def view_fields(views: list[dict]) -> list[str]:
    """The fields a preset's ``[view] field`` may name: the arrays of the model's image and
    surface views, in declaration order."""
    names = []
    for v in views:
        name = v.get("array") if isinstance(v, dict) and v.get("kind") in ("image", "surface") else None
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


def _check_view(view: dict, model: str, views: list[dict] | None, fail) -> None:
    """``[view]``: values of simple types; ``field`` a string naming one of :func:`view_fields`
    (checked where the model's views are known: schemas from the registry or from the engine)."""
    for k, v in view.items():
        if not isinstance(v, (str, int, float, bool, list)):
            raise fail(f"view.{k}", f"expected a string, number, boolean or list, got {type(v).__name__}")
    if "field" not in view:
        return
    name = view["field"]
    allowed = view_fields(views) if views is not None else None
    if allowed is not None and not allowed:
        raise fail("view.field", f"{model} has no image field to show (it draws plots and portraits); "
                   "remove view.field")
    choices = f"one of {', '.join(repr(a) for a in allowed)}" if allowed else "the name of a field"
    if not isinstance(name, str) or not name:
        raise fail("view.field", f"expected {choices}, got {name!r}")
    if allowed is not None and name not in allowed:
        raise fail("view.field", f"{name!r} is not a field of {model}; expected {choices}")


def parse_preset(data: dict, where: str = "<preset>", schemas: dict[str, dict[str, Param]] | None = None) -> Preset:
    """Validate a preset's parsed TOML table and return a :class:`Preset`."""

    def fail(key: str, msg: str) -> PresetError:
        return PresetError(f"{where}: key {key!r}: {msg}")

    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown key; allowed top-level keys are {', '.join(sorted(_TOP_KEYS))}")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise fail("format_version", f"expected an integer from 1 to {FORMAT_VERSION}, got {version!r}")
    model = data.get("model")
    if schemas is None:
        schemas = _schemas_from_registry()
    if not isinstance(model, str) or model not in schemas:
        raise fail("model", f"expected one of {', '.join(sorted(schemas))}, got {model!r}")
    for key in ("title", "description"):
        if key in data and not isinstance(data[key], str):
            raise fail(key, f"expected a string, got {data[key]!r}")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise fail("seed", f"expected an integer from 0 to {MAX_SEED}, got {seed!r}")
    for table in ("params", "run", "view"):
        if table in data and not isinstance(data[table], dict):
            raise fail(table, "expected a table")
    try:
        # a custom model's parameters are the ones its equations text declares
        schema = expand_schema(model, schemas[model], data.get("params", {}))
    except ValueError as exc:
        raise PresetError(f"{where}: [params] equations: {exc}") from None
    try:
        params = validate_params(schema, data.get("params", {}))
    except ValueError as exc:
        raise PresetError(f"{where}: [params] {exc}") from None
    try:
        run = validate_params(_RUN_KEYS, data.get("run", {}))
    except ValueError as exc:
        raise PresetError(f"{where}: [run] {exc}") from None
    view = data.get("view", {})
    _check_view(view, model, getattr(schemas, "views", {}).get(model), fail)
    contract = parse_contract(data["contract"], view, where) if "contract" in data else None
    analysis = None
    if "analysis" in data:
        try:
            analysis = check_analysis(data["analysis"], "[analysis]")
        except ValueError as exc:
            raise PresetError(f"{where}: {exc}") from None
    if contract is not None and contract.analysis and analysis is None:
        raise PresetError(f"{where}: key 'contract.analysis': claims about an analysis need the [analysis] "
                          f"table that says what to compute")
    return Preset(
        model=model,
        params=params,
        seed=seed,
        title=data.get("title", ""),
        description=data.get("description", ""),
        run=run,
        view=dict(view),
        contract=contract,
        analysis=analysis,
    )


def load_preset(path: str | os.PathLike, schemas: dict[str, dict[str, Param]] | None = None) -> Preset:
    """Read and validate a preset file.

    Raises
    ------
    PresetError
        With the file name, the key and what is allowed.
    """
    path = Path(path)
    raw = read_capped(path, "preset", PresetError)
    if path.suffix.lower() == ".ode":
        preset = preset_from_ode(raw, str(path))
        preset.path = path
        return preset
    depth = _nesting(raw)
    if depth > MAX_PRESET_DEPTH:
        raise PresetError(f"{path}: arrays or tables nested {depth} deep; a preset allows {MAX_PRESET_DEPTH}")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PresetError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise PresetError(f"{path}: nested too deeply to read") from None
    preset = parse_preset(data, where=str(path), schemas=schemas)
    preset.path = path
    return preset


def preset_from_ode(raw: bytes | str, where: str = "<.ode>") -> Preset:
    """A ``custom_ode`` preset from an XPPAUT ``.ode`` file's text: its title from the first
    comment line, its equations the file itself, ``@ total`` as the headless run's length.

    Raises
    ------
    PresetError
        Naming the file, the line, the column and what is allowed.
    """
    try:
        spec = parse_xpp(raw)
    except EquationError as exc:
        raise PresetError(f"{where}: {exc}") from None
    text = spec.text
    first = next((ln.strip().lstrip("#").strip() for ln in text.splitlines() if ln.strip()), "")
    title = first if text.lstrip().startswith("#") and first else Path(where).stem
    run = {}
    if "total" in spec.options:
        run["steps"] = max(1, int(round(spec.options["total"] / 0.05)))  # custom_ode's dt = 0.05 per step
    return Preset(model="custom_ode", params={"equations": text}, title=title[:200],
                  description=f"XPPAUT file {Path(where).name}", run=run)


def preset_from_equations(path: str | os.PathLike) -> Preset:
    """A preset that runs the equations in a text file (``attractor-lab run --equations``): an
    XPPAUT ``.ode`` file, or our own syntax (``custom_rd`` when the text uses ``lap()``, else
    ``custom_ode``), checked here so a bad file fails with its line and column."""
    path = Path(path)
    raw = read_capped(path, "equations file", PresetError)
    if path.suffix.lower() == ".ode":
        preset = preset_from_ode(raw, str(path))
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw  # the parser names the line and column of the bad byte
        model = "custom_rd" if isinstance(text, str) and "lap(" in text else "custom_ode"
        try:
            spec = (parse_rd if model == "custom_rd" else parse_ode)(text)
        except EquationError as exc:
            raise PresetError(f"{path}: {exc}") from None
        preset = Preset(model=model, params={"equations": spec.text}, title=path.stem,
                        description=f"equations from {path.name}")
    preset.path = path
    return preset


def read_capped(path: Path, what: str, error: type[Exception]) -> bytes:
    """The bytes of a data file (a preset, a sweep) of at most ``MAX_PRESET_BYTES``; ``error``
    names the file when it cannot be read or is larger (read no further than the cap)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_PRESET_BYTES + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(raw) > MAX_PRESET_BYTES:
        raise error(f"{path}: a {what} may hold at most {MAX_PRESET_BYTES >> 10} KiB; this file is larger")
    return raw


def _nesting(raw: bytes) -> int:
    """Deepest nesting of ``[``/``{`` outside strings and comments (an upper bound on
    the parsed depth: header brackets count too), without parsing."""
    depth = deepest = 0
    quote = None
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if quote is not None:
            if c == 0x5C and quote == 0x22:  # backslash escape in a basic string
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in (0x22, 0x27):  # " or '
            quote = c
        elif c == 0x23:  # comment to the end of the line
            end = raw.find(b"\n", i)
            i = n if end < 0 else end
            continue
        elif c in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif c in (0x5D, 0x7D):
            depth = max(0, depth - 1)
        i += 1
    return deepest


def save_preset(preset: Preset, path: str | os.PathLike) -> Path:
    """Write ``preset`` as TOML, atomically."""
    path = Path(path)
    if path.suffix.lower() != ".toml":
        raise PresetError(f"{path}: presets are saved as .toml files")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, preset.dumps().encode())
    return path


def user_presets_dir() -> Path:
    """Where the user's own presets are saved (the platform's user data folder)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("attractor-lab", appauthor=False)) / "presets"


def find_preset(name: str | os.PathLike) -> Path:
    """A preset file from a path, or from the name of a user or shipped preset
    (``gray_scott_spots``, with or without ``.toml``; the user's own first).

    Raises
    ------
    PresetError
        When ``name`` is neither a file nor a known preset's name.
    """
    path = Path(name)
    if path.is_file() or len(path.parts) > 1:
        return path  # a path: load_preset says what is wrong with it
    stem = path.name.removesuffix(".toml")
    for folder in (user_presets_dir(), shipped_presets_dir()):
        candidate = folder / f"{stem}.toml"
        if candidate.is_file():
            return candidate
    raise PresetError(f"{name}: no such file, and no shipped or user preset of that name "
                      "(`attractor-lab presets` lists them)")


def list_presets() -> list[Path]:
    """Shipped presets, then the user's, sorted by name; XPPAUT ``.ode`` files with them
    (the shipped ones in ``ode/``)."""
    out = []
    for folder in (shipped_presets_dir(), user_presets_dir()):
        if folder.is_dir():
            out.extend(sorted(folder.glob("*.toml")))
            odes = folder.glob("ode/*.ode") if folder == shipped_presets_dir() else folder.glob("*.ode")
            out.extend(sorted(odes))
    return out


def preset_header(path: Path) -> tuple[str, str, str] | None:
    """(model, title, description) of a preset file, read without validation (what menus and
    the browser show; loading checks the rest); None when it cannot be read. A ``.ode`` file is
    a ``custom_ode`` preset titled by its first comment line (as :func:`preset_from_ode`)."""
    try:
        if path.stat().st_size > MAX_PRESET_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".ode":
            first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
            title = first.lstrip("#").strip() if first.startswith("#") else ""
            return "custom_ode", (title or path.stem.replace("_", " "))[:200], f"XPPAUT file {path.name}"
        data = tomllib.loads(text)
    except (OSError, ValueError, RecursionError):
        return None
    model = data.get("model") if isinstance(data.get("model"), str) else "?"
    title = data.get("title") if isinstance(data.get("title"), str) and data.get("title") else \
        path.stem.replace("_", " ")
    description = data.get("description") if isinstance(data.get("description"), str) else ""
    return model, title, description
