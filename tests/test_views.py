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
