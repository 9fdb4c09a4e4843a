"""What a local and a remote ``Simulation`` share for notebooks: ``record`` and ``_repr_png_``.

Both only use the public methods (``step``, ``state``, ``observables``, ``time``,
``steps``, ``params``, ``describe``), so a simulation in this process
(``attractor_lab.create``) and the engine of a running window
(``attractor_lab.connect``) record and draw the same way. No torch, no Qt.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

#: keys of a recording that are not arrays of the state
TIME_KEYS = ("t", "step")


class NotebookMixin:
    """``record`` and ``_repr_png_`` over a simulation's public methods."""

    def record(self, steps: int, every: int = 1, arrays: Iterable[str] | None = None, observables: bool = True,
               as_xarray: bool = False) -> Any:
        """Advance ``steps`` steps and return what happened as arrays with a leading time axis.

        A snapshot is taken at the start and after every ``every`` steps, so a
        recording has ``steps // every + 1`` entries (``steps`` must be a multiple of
        ``every``).

        Parameters
        ----------
        steps, every : int
            How far to go, and the interval between snapshots, in model steps.
        arrays : list of str, optional
            Names of state arrays to keep (as in :meth:`state`). Default: the model's
            ``record_fields`` (what the window records), else every state array.
        observables : bool
            Also keep every observable, one value per snapshot.
        as_xarray : bool
            Return an ``xarray.Dataset`` (dimension ``t``; coordinates ``t`` and ``step``)
            instead of a dict; needs xarray installed.

        Returns
        -------
        dict of numpy arrays
            ``t`` (model time, shape (K,)), ``step`` (int64, (K,)), each array named in
            ``arrays`` with shape (K, *shape), and each observable with shape (K,). An
            observable named like a state array is stored as ``obs_<name>``.
        """
        steps, every = _positive(steps, "steps"), _positive(every, "every")
        if steps % every:
            raise ValueError(f"record: steps = {steps} is not a multiple of every = {every}; "
                             f"ask for steps = {steps - steps % every or every}, or choose another interval")
        snap = self._snapshot()
        state = snap["state"]
        if arrays is None:
            declared = self.describe().get("record_fields")
            names = [a for a in declared if a in state] if declared else sorted(state)
        else:
            names = [arrays] if isinstance(arrays, str) else list(arrays)
            unknown = [a for a in names if a not in state]
            if unknown:
                raise ValueError(f"record: no state array named {', '.join(map(repr, unknown))}; "
                                 f"this model's arrays: {', '.join(sorted(state))}")
        columns: dict[str, list] = {k: [] for k in (*TIME_KEYS, *names)}
        obs_columns: dict[str, list] = {}
        for i in range(steps // every + 1):
            if i:
                self.step(every)
                snap = self._snapshot()
            columns["t"].append(float(snap["time"]))
            columns["step"].append(int(snap["step"]))
            for name in names:
                a = np.asarray(snap["state"][name])
                if columns[name] and a.shape != columns[name][0].shape:
                    raise ValueError(f"record: array {name!r} changed shape from {columns[name][0].shape} to "
                                     f"{a.shape} at step {snap['step']}; leave it out (arrays=[...])")
                columns[name].append(np.array(a, copy=True))
            if observables:
                for key, value in snap["observables"].items():
                    obs_columns.setdefault(key, [np.nan] * i).append(value)
                for values in obs_columns.values():  # an observable that came and went
                    values.extend([np.nan] * (i + 1 - len(values)))
        out = {"t": np.asarray(columns.pop("t"), float), "step": np.asarray(columns.pop("step"), np.int64)}
        out.update({name: np.stack(values) for name, values in columns.items()})
        for key, values in obs_columns.items():
            out[f"obs_{key}" if key in out else key] = np.asarray(values)
        return to_xarray(out) if as_xarray else out

    def _snapshot(self) -> dict:
        """``state``, ``time``, ``step``, ``observables`` and ``params`` at one moment."""
        return {"state": self.state(), "time": self.time, "step": self.steps, "observables": self.observables(),
                "params": self.params}

    def _repr_png_(self) -> bytes:
        """The primary view as a PNG (what Jupyter shows for a ``Simulation``)."""
        from attractor_lab.engine.picture import png_bytes

        return png_bytes(self.picture())

    def picture(self):
        """The primary view as a ``PIL.Image`` (save it with ``.save("view.png")``)."""
        from attractor_lab.engine.picture import render_primary

        snap = self._snapshot()
        return render_primary(self.describe(), snap["params"], snap["state"], snap["observables"])


def to_xarray(recording: dict):
    """A recording (dict of arrays with a leading time axis) as an ``xarray.Dataset``."""
    try:
        import xarray as xr
    except ImportError:
        raise ImportError("record(as_xarray=True) needs xarray: `pip install xarray`, or leave as_xarray out "
                          "for a dict of numpy arrays") from None
    data = {}
    for name, a in recording.items():
        if name in TIME_KEYS:
            continue
        data[name] = (("t",) + tuple(f"{name}_dim_{i}" for i in range(a.ndim - 1)), a)
    return xr.Dataset(data, coords={"t": recording["t"], "step": ("t", recording["step"])})


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"record: {name} must be a positive integer, not {value!r}")
    return int(value)
