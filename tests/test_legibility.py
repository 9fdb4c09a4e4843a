"""Every shipped preset, as a user sees it: the window gives the space to the physics.

One window (with its own CPU engine) per test process opens each preset, lets it draw,
and measures, at 1400×900 and at 1024×700, and again with the Sweep dock open:

* every primary view's plot area is at least 300×220 px, every secondary one's 160×120;
* no key (legend) covers more than 2 % of any drawn item's points;
* every time series' visible data of the last half of its window spans at least 25 % of its
  y range, or its title says the value is constant to rounding;
* no status-bar field is elided without a tooltip holding its whole text, and the model box
  shows its whole title;
* a 3D view has a grid slot only when its canvas is inside the grid.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.presets import shipped_presets_dir

pytestmark = pytest.mark.gui

PRESETS = sorted(p.stem for p in shipped_presets_dir().glob("*.toml"))
SIZES = ((1400, 900), (1024, 700))
PRIMARY_MIN = (300, 220)
SECONDARY_MIN = (160, 120)
#: frames drawn before measuring (time series need a window of history)
FRAMES = 12


@pytest.fixture(scope="module")
def window(qapp):
    import os

    os.environ["ATTRACTOR_LAB_3D"] = "off"  # 3D views start hidden: no llvmpipe window over the tests
    from app.engine_client import QtEngine
    from app.main_window import MainWindow

    engine = QtEngine(device="cpu")
    win = MainWindow(engine, fps=30)
    win.resize(*SIZES[0])
    win.show()
    engine.start()
    _wait(qapp, lambda: win.current is not None, 90)
    yield win
    win.close()
    os.environ.pop("ATTRACTOR_LAB_3D", None)


def _wait(qapp, cond, seconds: float) -> bool:
    from PySide6 import QtCore

    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > seconds:
            return False
        qapp.processEvents(QtCore.QEventLoop.AllEvents, 20)
        time.sleep(0.005)
    return True


def _settle(qapp, win, size):
    win.resize(*size)
    for _ in range(3):
        qapp.processEvents()
        time.sleep(0.02)


def _plot_area(view):
    """The view's drawing area in px (its ViewBox), or None for views without one."""
    plot = getattr(view, "plot", None)
    if plot is None:
        return None
    vb = plot.getViewBox() if hasattr(plot, "getViewBox") else plot.getPlotItem().getViewBox()
    r = vb.sceneBoundingRect()
    return r.width(), r.height()


def _on_screen(view) -> bool:
    return view.isVisible() and view.visibleRegion().boundingRect().width() > 0


def _check_layout(win, where: str) -> list[str]:
    from widgets.gl_frame import GLFrame
    from widgets.views import TimeSeriesView

    problems = []
    grid = win.grid
    for view in grid.visible_views():
        role = grid.role(view)
        if role == "info" or not _on_screen(view):
            continue  # beside the parameters, or a tab page not in front
        area = _plot_area(view)
        if area is None:
            continue
        need = PRIMARY_MIN if role == "primary" else SECONDARY_MIN
        if area[0] < need[0] or area[1] < need[1]:
            problems.append(f"{where}: {role} view {view.title!r} has a plot area of {area[0]:.0f}×{area[1]:.0f} px "
                            f"(at least {need[0]}×{need[1]})")
        problems += _legend_covers(view, where)
        if isinstance(view, TimeSeriesView):
            problems += _recent_span(view, where)
    # a 3D view gets a grid slot only when its canvas is inside the grid
    for view in grid.views:
        if isinstance(view, GLFrame) and not view.embedded() and grid.splitter.isAncestorOf(view):
            problems.append(f"{where}: the 3D view {view.title!r} holds a grid slot but is not in the grid")
    for label in (win.device_label, win.rate_label, win.fps_label, win.time_label, win.state_label):
        if label.is_elided() and label.toolTip() != label.text():
            problems.append(f"{where}: status field {label.text()!r} is elided without a tooltip")
    combo = win.model_combo
    text_width = combo.fontMetrics().horizontalAdvance(combo.currentText())
    if combo.width() < text_width + 20:
        problems.append(f"{where}: the model box ({combo.width()} px) cuts {combo.currentText()!r}")
    return problems


def _legend_covers(view, where: str) -> list[str]:
    """Keys may not sit on more than 2 % of any drawn item's points."""
    item = view.plot.getPlotItem() if hasattr(view.plot, "getPlotItem") else None
    legend = getattr(item, "legend", None)
    if legend is None or not legend.isVisible() or not legend.items:
        return []
    rect = legend.sceneBoundingRect()
    plot_rect = item.vb.sceneBoundingRect()  # points outside it are not drawn (clipped)
    out = []
    for data_item in item.listDataItems():
        x, y = data_item.getData() if hasattr(data_item, "getData") else (None, None)
        if x is None or len(x) == 0:
            continue
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            continue
        pts = [data_item.mapToScene(float(a), float(b)) for a, b in
               zip(np.asarray(x)[ok][::max(1, ok.sum() // 200)], np.asarray(y)[ok][::max(1, ok.sum() // 200)])]
        pts = [p for p in pts if plot_rect.contains(p)]
        if not pts:
            continue
        inside = sum(rect.contains(p) for p in pts) / len(pts)
        if inside > 0.02:
            out.append(f"{where}: the key of {view.title!r} covers {100 * inside:.0f} % of a curve's points")
    return out


def _recent_span(view, where: str) -> list[str]:
    if "constant to rounding" in view.title_label.text():
        return []
    v = view.recent_values()
    if v.size < 2:
        return []
    (y0, y1) = view.plot.getViewBox().viewRange()[1]
    from widgets.views import _is_log

    if _is_log(view.plot)[1]:
        v = np.log10(v[v > 0])
        if v.size < 2:
            return []
    shown = v[(v >= y0) & (v <= y1)]
    span = (shown.max() - shown.min()) if shown.size else 0.0
    if span < 0.25 * (y1 - y0):
        return [f"{where}: time series {view.title!r}: the last half window spans {span:.3g} of a y range "
                f"{y1 - y0:.3g} (< 25 %) and the title does not say it is constant"]
    return []


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_is_legible(qapp, window, preset):
    win = window
    win.sweep_dock.hide()
    _settle(qapp, win, SIZES[0])
    start = win._frames_drawn
    assert win.load_preset_file(str(shipped_presets_dir() / f"{preset}.toml"))
    loaded = _wait(qapp, lambda: win.current is not None and win.preset is not None
                   and win.current["name"] == win.preset.model and win._frames_drawn >= start + FRAMES, 90)
    assert loaded, f"{preset}: fewer than {FRAMES} frames drawn within 90 s"
    problems = []
    for size in SIZES:
        _settle(qapp, win, size)
        problems += _check_layout(win, f"{preset} at {size[0]}×{size[1]}")
    win.sweep_dock.show()
    _settle(qapp, win, SIZES[1])
    problems += _check_layout(win, f"{preset} at {SIZES[1][0]}×{SIZES[1][1]} with the Sweep dock open")
    win.sweep_dock.hide()
    win.set_running(False)
    assert not problems, "\n".join(problems)
