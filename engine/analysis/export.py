"""Write an analysis result as NPZ (every array) or CSV (its main table), atomically.

CSV files start with ``#`` comment lines saying what was computed (the special
points of a branch, the attractors and fractions of a basin map), then one
header row and one row per point.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from attractor_lab.engine.files import write_atomically


def save(result, path, meta: dict | None = None) -> Path:
    """Save ``result`` (a Branch, CycleBranch, OrbitDiagram, Basins or Nullclines) to ``path`` (.npz or .csv)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise ValueError(f"{path}: the output must end in .npz or .csv, not {path.suffix or 'nothing'!r}")
    meta = dict(meta or {})
    if suffix == ".npz":
        arrays = result.arrays()
        arrays.update({f"meta_{k}": np.array(str(v)) for k, v in meta.items()})
        return write_atomically(path, lambda f: np.savez(f, **arrays))
    text = _csv(result, meta)
    return write_atomically(path, lambda f: f.write(text.encode()))


def _csv(result, meta: dict) -> str:
    from attractor_lab.engine.analysis.attractors import Basins
    from attractor_lab.engine.analysis.cycles import CycleBranch
    from attractor_lab.engine.analysis.equilibria import Branch
    from attractor_lab.engine.analysis.orbit import OrbitDiagram
    from attractor_lab.engine.analysis.phase_plane import Nullclines

    out = io.StringIO()
    for k, v in meta.items():
        out.write(f"# {k}: {v}\n")
    if isinstance(result, Branch):
        for p in result.points:
            extra = f" frequency {p.frequency:.12g}" if p.kind == "hopf" else ""
            out.write(f"# {p.kind} {result.param_name} = {p.param:.12g} state {' '.join(f'{v:.12g}' for v in p.state)}"
                      f"{extra}\n")
        d = result.states.shape[1]
        head = [result.param_name, *result.labels, "stable", "unstable_dims",
                *[f"eig{k}_re" for k in range(d)], *[f"eig{k}_im" for k in range(d)]]
        table = np.column_stack([result.params, result.states, result.stable, result.unstable_dims,
                                 result.eigenvalues.real, result.eigenvalues.imag])
    elif isinstance(result, CycleBranch):
        for kind, value in result.points:
            out.write(f"# {kind} {result.param_name} = {value:.12g}\n")
        d = result.states.shape[1]
        head = [result.param_name, "period", *result.labels, *[f"amplitude_{n}" for n in result.labels], "stable",
                *[f"multiplier{k}_abs" for k in range(d)]]
        table = np.column_stack([result.params, result.periods, result.states, result.amplitudes, result.stable,
                                 np.abs(result.multipliers)])
    elif isinstance(result, OrbitDiagram):
        head = [result.param_name, result.variable, "trajectory"]
        table = np.column_stack([result.point_param, result.point_value, result.point_trajectory])
    elif isinstance(result, Basins):
        for k, (frac, kind) in enumerate(zip(result.fractions, result.kinds)):
            out.write(f"# attractor {k}: {kind}, fraction {frac:.6g}, envelope {result.lower[k].tolist()} .. "
                      f"{result.upper[k].tolist()}\n")
        gx, gy = np.meshgrid(result.xs, result.ys)
        head = [*result.plane, "attractor"]
        table = np.column_stack([gx.ravel(), gy.ravel(), result.labels.ravel()])
    elif isinstance(result, Nullclines):
        for p, kind in zip(result.fixed_points, result.kinds):
            out.write(f"# fixed point {p.tolist()} kind {int(kind)} (0 stable, 1 unstable, 2 saddle, 3 marginal)\n")
        rows = [np.column_stack([np.full(len(line), k), line]) for k, line in
                enumerate((result.x_nullcline, result.y_nullcline))]
        head = ["nullcline", *result.plane]
        table = np.concatenate(rows) if rows else np.zeros((0, 3))
    else:
        raise TypeError(f"save: cannot write a {type(result).__name__}")
    out.write(",".join(head) + "\n")
    np.savetxt(out, table, delimiter=",", fmt="%.12g")
    return out.getvalue()
