"""The model interface every simulation implements.

A model is a small class that declares its parameters, the arrays it can show
and the views that show them; the engine server, the scripting API, presets
and the GUI are all built from these declarations. Register a model with
:func:`engine.models.register`; the registry finds every module in
``engine/models/`` by itself, so adding a model never means editing the GUI.

Views (``Model.views``) are plain dicts, sent to the GUI as JSON:

``{"kind": "image", "array": "v", "title": ..., "colormap": "viridis", "levels": [0, 1]}``
    a 2D array from ``state()``; ``levels`` fixed, or ``None`` for auto.
    Optional ``"mask": name`` highlights cells where that array is non-zero,
    ``"paint": True`` lets the user paint on it; with auto levels,
    ``"symmetric": True`` centres a diverging map on zero and ``"levels_from":
    [names]`` puts arrays shown side by side on one scale; ``"aspect"``:
    ``"equal"`` (default), ``"free"`` or ``"auto"`` (square unless long and thin).
``{"kind": "surface", "array": "v", "title": ..., "zscale": 0.12, "levels": [0, 1]}``
    ``zscale``: height of the level range as a fraction of the grid side.
    a 3D height map (vispy).
``{"kind": "timeseries", "observables": ["mean_u", ...], "title": ...}``
    observables against simulation time.
``{"kind": "bars", "array": "overlaps", "title": ..., "ylim": [-1, 1]}``
    a 1D array as a bar chart.
``{"kind": "lines", "title": ..., "xlabel": ..., "ylabel": ...,
   "series": [{"x": "alpha_line", "y": "T_line", "name": "T_g"}],
   "points": [{"x": "load", "y": "temperature", "name": "now"}]}``
    curves from arrays in ``state()`` (theory, dispersion relations), with
    live markers whose coordinates are observables or parameters. Lines and
    time series take ``"empty_note"``: a sentence shown while they have
    nothing to draw (why a theory is absent, how to turn a measurement on).
``{"kind": "text", "array": "equations"}``
    a static text panel; ``array`` names a key of :meth:`Model.texts`.

Every view may declare (see ``widgets/views.py`` for every option of each kind):

``"role"``
    ``"primary"`` (the field or portrait the model is about: most of the window's
    area), ``"secondary"`` (plots beside it) or ``"info"`` (tables and text, beside
    the parameters). Defaults: image, surface, phase and trajectory3d primary; text
    and values info; the rest secondary. One or two primaries per model.
``"shown_when": [[name, [values…]], …]``
    shown only while every ``name`` (a parameter, else an observable) has one of
    its values: a panel that means nothing for the current parameters takes no
    space (an observable flag such as ``diluted`` or ``conservative`` can say so).
``"follow"`` (time series; default true), ``"band"`` and ``"aspect": "equal"``
(lines), ``"min_range"``, ``"robust"`` and ``"extent"`` with ``"xlabel"``/``"ylabel"``
(images): ranges and colour levels that show the current behaviour.

Views the neural-ODE family added:

``{"kind": "phase", ...}``
    a 2D phase portrait: vector fields on a grid, trajectories, fixed points
    coloured by stability; ``"click": target`` sends clicks to :meth:`Model.click`.
``{"kind": "trajectory3d", "array": "traj3d", ...}``
    curves in 3D (vispy), an array (B, T, 3) NaN-padded.
``{"kind": "values", "observables": [...], ...}``
    the current values of observables as a table.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import numpy as np
import torch

from attractor_lab.engine.params import Param, check_seed, validate_params


#: :meth:`Model.estimate_bytes` of a model that does not say
DEFAULT_MODEL_BYTES = 256 << 20
#: numpy dtype kinds a tensor of each kind accepts in set_state
_DTYPE_KINDS = {"float": "fiub", "complex": "fciub", "int": "iub", "bool": "b"}


def _kind(dtype: torch.dtype) -> str:
    if dtype.is_complex:
        return "complex"
    if dtype.is_floating_point:
        return "float"
    return "bool" if dtype == torch.bool else "int"


class SimulationDiverged(RuntimeError):
    """Raised by ``step`` when the state stopped being finite.

    The model restores its last good state before raising; the message tells
    the user which parameter to change.
    """


class Model:
    """Base class: parameter handling, seeding, device and simulated time.

    Subclasses set the class attributes and implement :meth:`_reset`,
    :meth:`_step`, :meth:`state` and :meth:`observables`.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    equations: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    views: ClassVar[tuple[dict, ...]] = ()
    #: default simulated time advanced by one step, for models without ``dt``
    time_per_step: ClassVar[float] = 1.0
    #: default cap on steps between displayed frames in the GUI (0: as fast as possible);
    #: models whose single steps are worth watching (a Hopfield sweep) set 1
    steps_per_frame: ClassVar[int] = 0
    #: ``state()`` arrays a recording keeps by default (None: all); display-only
    #: arrays (vector-field grids, trail buffers, histograms) need not fill files
    record_fields: ClassVar[tuple[str, ...] | None] = None
    #: ``state()`` arrays that are the model's dynamical state, which the generic
    #: :meth:`set_state` writes back (None: the generic one takes none). A dict maps
    #: a ``state()`` name to the keyword of a model's own ``set_state``.
    state_fields: ClassVar[tuple[str, ...] | dict[str, str] | None] = None
    #: ``state()`` arrays that are theory: they follow from the parameters alone, never
    #: from the dynamical state (dispersion relations, nullclines, phase diagrams,
    #: closed-form curves). A recording keeps them once, in the file's ``theory``
    #: group, apart from the states (per snapshot only if a parameter changed them
    #: while recording). Names a model's ``state()`` lacks are ignored.
    theory_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, device: str | torch.device = "cpu", seed: int = 0, **params: Any):
        self.device = torch.device(device)
        if type(self).params_for.__func__ is not Model.params_for.__func__:
            self.params = type(self).params_for(params)  # this instance's own schema
        self.schema = {p.name: p for p in self.params}
        self.p: dict[str, Any] = {p.name: p.default for p in self.params}
        self.p.update(validate_params(self.schema, params, where=self.name))
        self._pending: dict[str, Any] = {}
        #: True while an engine draws live frames: models may then reuse costly
        #: observables for a moment (the scripting API and recordings get exact ones)
        self.display_mode = False
        self.seed = check_seed(seed, f"{self.name}: seed")
        self.steps = 0
        self.time = 0.0
        self.reset(seed)

    # ---- parameters -------------------------------------------------
    def set(self, **params: Any) -> list[str]:
        """Change parameters. Live ones apply at once; structural ones wait for
        :meth:`reset`. Returns the names that wait for a reset."""
        values = validate_params(self.schema, params, where=self.name)
        live = {k: v for k, v in values.items() if self.schema[k].live}
        structural = {k: v for k, v in values.items() if not self.schema[k].live}
        if live:
            before = {k: self.p[k] for k in live}
            self.p.update(live)
            try:
                self._on_live_change(live)
            except Exception:
                self.p.update(before)  # refused: nothing of this call is kept
                raise
        self._pending.update(structural)
        return list(structural)

    def _on_live_change(self, changed: dict[str, Any]) -> None:
        """Hook: recompute cached quantities after live parameter changes.

        Raise ``ValueError`` to refuse the change (e.g. an unstable time step);
        :meth:`set` then restores the previous values."""

    @contextlib.contextmanager
    def exact_observables(self):
        """Within this block, observables are computed for the current state even
        in ``display_mode`` (recordings and scripts must not get reused values)."""
        previous, self.display_mode = self.display_mode, False
        try:
            yield self
        finally:
            self.display_mode = previous

    @property
    def pending(self) -> dict[str, Any]:
        """Structural changes that apply at the next reset."""
        return dict(self._pending)

    # ---- lifecycle --------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Apply pending structural parameters and start again from ``seed``."""
        # _reset builds the new state; if it fails (a refused grid, memory), every
        # attribute it replaced is put back, so the model keeps running what it had
        # and the refused structural values stay pending
        saved = dict(self.__dict__)
        saved_p, saved_pending = dict(self.p), dict(self._pending)
        if seed is not None:
            self.seed = check_seed(seed, f"{self.name}: seed")
        self.p.update(self._pending)
        self._pending.clear()
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        try:
            self._reset()
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            self.p, self._pending = saved_p, saved_pending
            raise
        self.steps = 0
        self.time = 0.0

    def step(self, n: int = 1) -> None:
        """Advance ``n`` steps on the device."""
        n = int(n)
        if n < 0:
            raise ValueError(f"step: n must be >= 0, not {n}")
        if n == 0:
            return
        self._step(n)
        self.steps += n
        self.time += n * self.dt

    @property
    def dt(self) -> float:
        return float(self.p.get("dt", self.time_per_step))

    # ---- setting the state ----------------------------------------------
    def set_state(self, **arrays) -> None:
        """Set the dynamical state from arrays named as in :meth:`state` (those in
        ``state_fields``): each is checked for shape, a compatible dtype and finite
        values before anything changes, then written into the model's own tensors.

        Models whose state is not a plain tensor override this (``ode_system``,
        ``burgers``, ``navier_stokes``); an override stays authoritative.
        """
        allowed = tuple(self.state_fields or ())
        if not allowed:
            raise ValueError(f"{self.name}: this model's state cannot be set (it declares no state_fields)")
        if not arrays:
            raise ValueError(f"{self.name}: set_state needs arrays, e.g. {allowed[0]}=...")
        unknown = sorted(set(arrays) - set(allowed))
        if unknown:
            raise ValueError(f"{self.name}: set_state takes {', '.join(allowed)}, not {', '.join(unknown)}")
        current = self.state()
        planned = []
        for name, value in arrays.items():
            target = current[name]
            if not isinstance(target, torch.Tensor):
                raise ValueError(f"{self.name}: {name!r} is computed from the state and cannot be set")
            a = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
            if a.shape != tuple(target.shape):
                raise ValueError(f"{self.name}: set_state: {name!r} must have shape {tuple(target.shape)}, "
                                 f"not {a.shape}")
            if a.dtype.kind not in _DTYPE_KINDS[_kind(target.dtype)]:
                raise ValueError(f"{self.name}: set_state: {name!r} must be {_kind(target.dtype)} "
                                 f"({target.dtype}), not {a.dtype}")
            if a.dtype.kind in "fc" and not np.isfinite(a).all():
                raise ValueError(f"{self.name}: set_state: {name!r} must be finite; found "
                                 f"{int((~np.isfinite(a)).sum())} NaN/inf values")
            planned.append((name, target, torch.as_tensor(np.ascontiguousarray(a)).to(target.device, target.dtype)))
        before = [(target, target.clone()) for _, target, _ in planned]
        for _, target, value in planned:
            target.copy_(value)
        after = self.state()
        for name, _, value in planned:  # a state() that returns a copy would not keep what we wrote
            if not torch.equal(torch.as_tensor(after[name]).to(value.device, value.dtype), value):
                for target, old in before:
                    target.copy_(old)
                raise ValueError(f"{self.name}: {name!r} is a copy of the state, not the state itself; "
                                 "this model needs a set_state of its own")
        self._on_state_set()

    def _on_state_set(self) -> None:
        """Hook: refresh what is derived from the state after :meth:`set_state`."""

    def restore_state(self, arrays: dict, step: int, time: float) -> list[str]:
        """Continue a run from arrays of its frames (a window after an engine crash):
        the ``state_fields`` among ``arrays`` go to :meth:`set_state`, then the step
        count and the simulated time are set. Returns the names restored."""
        fields = self.state_fields
        if fields is None and type(self).set_state is not Model.set_state:
            # a model's own set_state: its keywords that name arrays of its state()
            import inspect

            keywords = [p for p in inspect.signature(self.set_state).parameters.values()
                        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            fields = {k.name: k.name for k in keywords if k.name in arrays}
        mapping = fields if isinstance(fields, dict) else {n: n for n in (fields or ())}
        if not mapping:
            raise ValueError(f"{self.name}: this model cannot take its state back from frames "
                             "(no state_fields, no set_state of its own)")
        given = {key: arrays[name] for name, key in mapping.items() if name in arrays}
        if not given:
            raise ValueError(f"{self.name}: none of its state arrays ({', '.join(mapping)}) was sent")
        self.set_state(**given)
        self.steps = int(step)
        self.time = float(time)
        self._on_state_set()
        return sorted(name for name, key in mapping.items() if key in given)

    # ---- memory --------------------------------------------------------
    @classmethod
    def estimate_bytes(cls, params: dict[str, Any]) -> int:
        """Memory a reset with ``params`` (every parameter, validated) needs at its peak,
        in bytes: the engine refuses a reset whose estimate exceeds its budget before
        allocating anything. The default is a conservative 256 MiB; models whose size
        grows with their parameters override it."""
        return DEFAULT_MODEL_BYTES

    # ---- to implement -----------------------------------------------
    def _reset(self) -> None:
        raise NotImplementedError

    def _step(self, n: int) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, torch.Tensor | np.ndarray]:
        """Arrays to display, keyed by the names the views use."""
        raise NotImplementedError

    def observables(self) -> dict[str, float]:
        """Scalars describing the current state."""
        return {}

    def texts(self) -> dict[str, str]:
        """Static texts for ``text`` views (equations, regime)."""
        return {"equations": self.equations}

    # ---- optional interaction -----------------------------------------
    def paint(self, field: str, x: float, y: float, radius: float, value: float, mode: str = "set") -> None:
        """Paint a disc on a field (cell coordinates). Models that support it override."""
        raise ValueError(f"model {self.name!r} does not support painting")

    def click(self, target: str, x: float, y: float) -> None:
        """A click at data coordinates (x, y) on a view declaring ``"click": target``
        (e.g. launch a trajectory from that point). Models that support it override."""
        raise ValueError(f"model {self.name!r} does not take clicks on {target!r}")

    # ---- several runs as one batch (sweep points on a GPU) -------------------
    @classmethod
    def fuse_key(cls, params: dict[str, Any]) -> tuple | None:
        """Runs with equal keys can step together as one batch (:meth:`fused`); ``params``
        holds every parameter, validated. None (the default): this run steps alone.

        A model returns a key only where its fused stepping gives each member exactly the
        states that member's own :meth:`step` would (same seed, same random numbers, same
        decisions), so a sweep's numbers never depend on which points shared a batch."""
        return None

    @classmethod
    def fused(cls, members: list["Model"]) -> "FusedRuns":
        """A batch of models of this class with equal :meth:`fuse_key`; its ``step(n)``
        advances each as ``member.step(n)`` would. The default steps them one by one."""
        return FusedRuns(members)

    # ---- theory for sweeps ----------------------------------------------
    @classmethod
    def theory_lines(cls, x: str, y: str | None, params: dict[str, Any], x_range: tuple[float, float],
                     y_range: tuple[float, float] | None = None) -> list[dict]:
        """Theory to draw over a sweep of parameter ``x`` (and ``y``) with the other
        parameters at ``params`` (every parameter, validated), over the axes' ranges.

        Returns a list of ``{"name": str, "x": [...], "y": [...]}`` in parameter units
        (NaN separates pieces of one line). On a plane (``y`` given) both coordinates
        are parameters; for a 1D sweep ``y`` is a predicted observable, named by the
        line's ``"observable"`` key. The default: no theory (``[]``); models whose
        theory applies at these parameters override it."""
        return []

    # ---- description --------------------------------------------------
    @classmethod
    def params_for(cls, values: dict[str, Any]) -> tuple[Param, ...]:
        """The parameters a model created with ``values`` has: ``cls.params`` for every model
        whose parameters are fixed; models whose parameters follow from a structural value
        (``custom_ode``'s ``equations`` text declares its ``par``s) override it. Raises
        ``ValueError`` where ``values`` cannot give a schema."""
        return cls.params

    def declaration(self) -> dict:
        """:meth:`describe` for this instance: its own parameters (``params_for``) and equations."""
        d = type(self).describe()
        d["params"] = [p.to_json() for p in self.schema.values()]
        d["equations"] = self.texts().get("equations", d["equations"])
        return d

    @classmethod
    def describe(cls) -> dict:
        """JSON-able declaration sent to the GUI and printed by the CLI."""
        return {
            "name": cls.name,
            "title": cls.title or cls.name,
            # the package in engine/models/ (hopfield, neural_ode, reaction_diffusion, ...)
            "family": cls.__module__.split(".")[3] if cls.__module__.startswith("attractor_lab.engine.models.") else "",
            "description": cls.description,
            "equations": cls.equations,
            "params": [p.to_json() for p in cls.params],
            "views": [dict(v) for v in cls.views],
            "steps_per_frame": cls.steps_per_frame,
            "record_fields": list(cls.record_fields) if cls.record_fields is not None else None,
        }

    def numpy_state(self) -> dict[str, np.ndarray]:
        """``state()`` as contiguous numpy arrays on the host."""
        out = {}
        for key, value in self.state().items():
            if isinstance(value, torch.Tensor):
                value = value.detach().to("cpu").numpy()
            out[key] = np.ascontiguousarray(value)
        return out


class FusedRuns:
    """Models stepped together (:meth:`Model.fused`). This base steps them one after the
    other; a model's subclass steps all members in one batch of tensor operations and
    leaves every member's state, step count and time as its own ``step`` would."""

    def __init__(self, members: list[Model]):
        self.members = list(members)

    def step(self, n: int = 1) -> None:
        n = int(n)
        if n < 0:
            raise ValueError(f"step: n must be >= 0, not {n}")
        if n == 0 or not self.members:
            return
        self._step(n)
        for m in self.members:
            m.steps += n
            m.time += n * m.dt

    def _step(self, n: int) -> None:
        for m in self.members:
            m._step(n)
