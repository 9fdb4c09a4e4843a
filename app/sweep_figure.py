"""A sweep's map as a PNG (matplotlib, Agg): heat map in parameter units with a colour bar and
the model's theory lines, or curves with error bars across seeds for one axis."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: colours of the pattern classes (engine.sweep.spec.PATTERN_CODES order)
CLASS_COLORS = ["#3b3b3b", "#4cc9f0", "#f8961e", "#06d6a0", "#f72585", "#9d9d9d"]
LINE_COLORS = ["#ffffff", "#ff3b30", "#ffd166", "#06d6a0", "#b5179e"]


def cell_edges(values, log: bool) -> np.ndarray:
    """Edges of the cells around ``values`` (midpoints; geometric ones on a log axis)."""
    v = np.asarray(values, dtype=float)
    if v.size == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1]) if log else np.array([v[0] - 0.5, v[0] + 0.5])
    if log:
        lv = np.log(v)
        mid = 0.5 * (lv[1:] + lv[:-1])
        return np.exp(np.concatenate([[2 * lv[0] - mid[0]], mid, [2 * lv[-1] - mid[-1]]]))
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


def _label(axis: dict) -> str:
    return f"{axis['param']} ({axis['unit']})" if axis.get("unit") else axis["param"]


def _line(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def write_png(res, name: str, path: str | os.PathLike) -> Path:
    """Draw output ``name`` of ``res`` (:class:`engine.sweep.store.SweepResults`) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    path = Path(path)
    out = res.output(name)
    centre, spread, count = res.over_seeds(name)
    axes = res.axes
    fig, ax = plt.subplots(figsize=(7.5, 5.5), dpi=110)
    title = res.attrs.get("title") or res.model
    done = f"{res.done}/{res.total} points"
    if len(axes) == 1:
        x = np.asarray(axes[0]["values"], float)
        ax.errorbar(x, centre, yerr=np.where(np.isfinite(spread), spread, 0.0), fmt="o-", capsize=3,
                    label=f"{name} (mean ± s.e.m. over {len(res.seeds)} seeds)")
        for i, line in enumerate(res.theory):
            if line.get("observable") in (None, out.get("observable")):
                ax.plot(_line(line["x"]), _line(line["y"]), "--", color=LINE_COLORS[(i + 1) % len(LINE_COLORS)],
                        label=line["name"])
        if axes[0].get("spacing") == "log":
            ax.set_xscale("log")
        ax.set_xlabel(_label(axes[0]))
        ax.set_ylabel(name)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    else:
        xlog, ylog = (a.get("spacing") == "log" for a in axes)
        xe, ye = cell_edges(axes[0]["values"], xlog), cell_edges(axes[1]["values"], ylog)
        data = np.ma.masked_invalid(centre)
        if out.get("classes"):
            classes = out["classes"]
            cmap = ListedColormap(CLASS_COLORS[:len(classes)])
            norm = BoundaryNorm(np.arange(len(classes) + 1) - 0.5, cmap.N)
            ax.pcolormesh(xe, ye, data, cmap=cmap, norm=norm)
            present = sorted({int(v) for v in np.ravel(centre) if np.isfinite(v)})
            handles = [Patch(color=CLASS_COLORS[c], label=classes[c]) for c in present]
        else:
            mesh = ax.pcolormesh(xe, ye, data, cmap="viridis")
            fig.colorbar(mesh, ax=ax, label=f"{name} (mean over {len(res.seeds)} seeds)")
            handles = []
        for i, line in enumerate(res.theory):
            (h,) = ax.plot(_line(line["x"]), _line(line["y"]), color=LINE_COLORS[i % len(LINE_COLORS)], lw=1.6,
                           label=line["name"])
            handles.append(h)
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        if xlog:
            ax.set_xscale("log")
        if ylog:
            ax.set_yscale("log")
        ax.set_xlabel(_label(axes[0]))
        ax.set_ylabel(_label(axes[1]))
        if handles:
            ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.8)
    ax.set_title(f"{title}\n{name}, {done}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path
