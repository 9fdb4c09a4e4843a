"""Every registered model's declared views build and draw its real frames."""

import numpy as np
import pytest

import engine
from engine.models import get, names

pytestmark = pytest.mark.gui

SMALL = {"grid": 32, "neurons": 256}


def _small_params(name):
    schema = {p.name for p in get(name).params}
    return {k: v for k, v in SMALL.items() if k in schema}


@pytest.mark.parametrize("name", names())
def test_views_draw_model_frames(qtbot, name):
    from widgets.views import ImageView, ViewGrid

    d = get(name).describe()
    grid = ViewGrid()
    qtbot.addWidget(grid)
    grid.set_views(d["views"])
    grid.resize(900, 600)
    grid.show()
    sim = engine.create(name, seed=0, device="cpu", **_small_params(name))
    for _ in range(3):
        sim.step(2)
        m = sim.model
        grid.update_frame(sim.state(), sim.observables(), sim.params, m.time)
        grid.set_texts(m.texts())
        qtbot.wait(10)
    state = sim.state()
    for view in grid.views:
        if isinstance(view, ImageView):
            shown = view.current_image()
            assert shown is not None, f"{name}: image view {view.title!r} got no data"
            src = np.asarray(state[view.spec["array"]])
            assert shown.size == src.size
    # arrays and observables the views name exist in the model's output
    obs = sim.observables()
    for spec in d["views"]:
        for key in ("array", "mask"):
            if key in spec and spec["kind"] != "text":
                assert spec[key] in state, f"{name}: view names array {spec[key]!r} that state() lacks"
        for o in spec.get("observables", []):
            assert o in obs, f"{name}: view names observable {o!r} that observables() lacks"
        for s in spec.get("series", []):
            assert s["x"] in state and s["y"] in state, f"{name}: series {s} not in state()"
    grid.set_views([])


def test_colormap_aliases_resolve():
    from widgets.views import colormap

    grey = colormap("gray").map(np.array([0.0, 1.0]), mode="byte")
    assert grey[0][:3].tolist() != grey[1][:3].tolist()
    assert colormap("no-such-map").name == colormap("viridis").name


@pytest.mark.gl
def test_surface_frame_toggle_and_following_levels(qtbot, monkeypatch):
    from PySide6 import QtGui

    from widgets.views import SurfaceFrame

    if QtGui.QGuiApplication.platformName() in ("offscreen", "minimal"):
        pytest.fail("OpenGL tests need QT_QPA_PLATFORM=xcb under Xvfb (make test sets it)")
    monkeypatch.setenv("ATTRACTOR_LAB_3D", "off")
    frame = SurfaceFrame({"kind": "surface", "array": "u", "levels": None, "title": "u"})
    qtbot.addWidget(frame)
    frame.resize(500, 400)
    frame.show()
    qtbot.waitExposed(frame)
    assert frame.surface is None and frame.toggle.text() == "Show 3D"
    y, x = np.mgrid[0:64, 0:64]
    bump = np.exp(-((x - 32) ** 2 + (y - 32) ** 2) / 60.0).astype(np.float32)
    frame.update_frame({"u": 0.01 * bump}, {}, {}, 0.0)
    frame.toggle.setChecked(True)  # the user asks for 3D: canvas made, last field drawn
    assert frame.surface is not None
    assert (frame.window3d is not None) == frame.detached  # software OpenGL: a window of its own
    qtbot.waitExposed(frame.surface)
    assert frame.surface.levels == pytest.approx((0.0, 0.01), abs=1e-4)
    frame._last = 0.0
    frame.update_frame({"u": 5.0 * bump}, {}, {}, 1.0)  # the pattern grew: levels follow
    assert frame.surface.levels == pytest.approx((0.0, 5.0), abs=1e-3)
    img = frame.surface.render_image()
    assert img[..., :3].std() > 5  # a relief, not a blank canvas
    frame.toggle.setChecked(False)
    assert frame.surface is None and frame.window3d is None and frame.note.isVisible()


def test_image_levels_fixed_or_following(qtbot):
    from widgets.views import ImageView

    view = ImageView({"kind": "image", "array": "u", "levels": [0.0, 1.0]})
    qtbot.addWidget(view)
    assert not view.auto_box.isChecked()
    view.update_frame({"u": np.full((8, 8), 0.5)}, {}, {}, 0.0)
    view.update_frame({"u": np.linspace(0, 5, 64).reshape(8, 8)}, {}, {}, 1.0)
    assert tuple(view.bar.levels()) == pytest.approx((0.0, 1.0))  # fixed: declared levels kept
    view.auto_box.setChecked(True)
    view.update_frame({"u": np.linspace(2, 5, 64).reshape(8, 8)}, {}, {}, 2.0)
    assert tuple(view.bar.levels()) == pytest.approx((2.0, 5.0))  # following the frame
    view.auto_box.setChecked(False)  # freeze what is shown
    view.update_frame({"u": np.linspace(0, 9, 64).reshape(8, 8)}, {}, {}, 3.0)
    assert tuple(view.bar.levels()) == pytest.approx((2.0, 5.0))
