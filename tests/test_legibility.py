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

from attractor_lab.engine.storage.presets import shipped_presets_dir

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
    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow

    engine = QtEngine(device="cpu")
    win = MainWindow(engine, fps=30)
    win.resize(*SIZES[0])
    win.show()
    engine.start()
    _wait(qapp, lambda: win.current is not None, 90)
    yield win
    from PySide6 import QtCore

    win.close()  # stops the engine; then delete the window now, not in a later test's garbage collection
    win.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)
    qapp.processEvents()
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
    from attractor_lab.widgets.gl_frame import GLFrame
    from attractor_lab.widgets.views import TimeSeriesView

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
    from attractor_lab.widgets.views import _is_log

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


# ---- the named presets show what their titles say ------------------------------------
def _open(qapp, win, preset: str, frames: int = FRAMES):
    win.sweep_dock.hide()
    _settle(qapp, win, SIZES[0])
    start = win._frames_drawn
    assert win.load_preset_file(str(shipped_presets_dir() / f"{preset}.toml"))
    assert _wait(qapp, lambda: win.current is not None and win.preset is not None
                 and win.current["name"] == win.preset.model and win._frames_drawn >= start + frames, 90)
    for _ in range(3):
        qapp.processEvents()


def test_pendulum_shows_a_rotation_inside_the_view_and_the_separatrix(qapp, window):
    """θ wrapped to (−π, π]: a rotating orbit (E = ω²/2 − cos θ > 1) stays inside the view,
    and the separatrix E = 1 is drawn."""
    from attractor_lab.widgets.phase_view import PhaseView

    _open(qapp, window, "ode_pendulum_separatrix", frames=30)
    phase = next(v for v in window.grid.visible_views() if isinstance(v, PhaseView))
    (x0, x1), (y0, y1) = phase.view_box.viewRange()
    names = [t.get("name") for t in phase.spec["trajectories"]]
    tails = phase.trajectory_items[names.index("trajectories")][0]
    sep = phase.trajectory_items[names.index("separatrix")][0]
    th, om = np.asarray(tails.xData, float), np.asarray(tails.yData, float)
    ok = np.isfinite(th) & np.isfinite(om)
    inside = ok & (th >= x0) & (th <= x1) & (om >= y0) & (om <= y1)
    energy = 0.5 * om ** 2 - np.cos(th)
    assert (inside & (energy > 1.05)).sum() >= 20, "no rotating orbit drawn inside the view"
    assert np.all(np.abs(th[ok]) <= np.pi + 1e-9) and x0 <= -3.0 and x1 >= 3.0
    sx, sy = np.asarray(sep.xData, float), np.asarray(sep.yData, float)
    fin = np.isfinite(sx) & np.isfinite(sy)
    assert fin.sum() >= 20, "the separatrix is not drawn"
    assert np.allclose(0.5 * sy[fin] ** 2 - np.cos(sx[fin]), 1.0, atol=1e-6)  # E = 1 on it


def test_rate_network_edge_raster_uses_its_colour_range(qapp, window):
    from attractor_lab.widgets.views import ImageView

    _open(qapp, window, "rate_network_edge", frames=20)
    raster = next(v for v in window.grid.visible_views() if isinstance(v, ImageView) and v.spec["array"] == "rates")
    a = np.asarray(raster.current_image(), float)
    lo, hi = raster.bar.levels()
    used = (np.nanpercentile(a, 99) - np.nanpercentile(a, 1)) / (hi - lo)
    assert used >= 0.5, f"the raster uses {100 * used:.0f} % of its colour range (levels {lo:.3g}..{hi:.3g})"


def test_painted_operator_race_on_a_still_canvas_is_drawn_at_its_declared_scale(qapp, window):
    """Both sides at rest: the operator's small drift is drawn pale on the field's declared
    scale, not stretched to full saturation."""
    from attractor_lab.widgets.views import ImageView

    _open(qapp, window, "neural_operator_painted", frames=10)
    op = next(v for v in window.grid.visible_views() if isinstance(v, ImageView) and v.spec["array"] == "operator")
    lo, hi = op.bar.levels()
    assert hi - lo >= op.spec["min_range"] * 0.999
    a = np.asarray(op.current_image(), float)
    assert np.nanmax(np.abs(a)) < 0.1 * hi, "a still canvas's drift is drawn near full colour"


@pytest.mark.parametrize("preset", ["barkley_spiral", "barkley_meander"])
def test_barkley_shows_no_dispersion_relation(qapp, window, preset):
    _open(qapp, window, preset, frames=5)
    titles = [v.title for v in window.grid.visible_views()]
    assert not any("dispersion" in t.lower() for t in titles), titles
    assert any("phase plane" in t.lower() for t in titles), titles  # what means something there
