"""Preset thumbnails: rendered headless by the engine side (``attractor-lab thumbnails``), cached
by content, shown by the preset browser, which opens the preset chosen.

The module fixture renders the shipped presets (a copy taken when it runs: other work may add or
edit presets meanwhile, and thumbnails are keyed by content) once at the cheapest setting (one step each, ``--budget-s 0``), in
one process: about 8 s on 2 shared cores. The few presets whose model alone costs seconds to build
or step once (SLOW: neural ODEs building their training data, 4096 sequential Hopfield updates, a
256² Barkley grid) are not rendered here; the fixture caches a picture of another preset of their
model (or any) under their key, and the command must then report them cached rather than render them.
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attractor_lab.engine.storage.presets import shipped_presets_dir
from attractor_lab.engine.storage.thumbnail_cache import THUMBNAIL_SIZE, thumbnail_key, thumbnail_path

ROOT = Path(__file__).resolve().parent.parent
#: more than a second each at one step on the build machine (rendered for real by the app, not here)
SLOW = {"hopfield_edge_of_capacity", "neural_ode_ltc_van_der_pol", "neural_ode_spiral", "neural_ode_regulariser",
        "barkley_meander"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Every shipped preset's thumbnail in a temporary cache: (cache, one report per preset, the presets)."""
    from attractor_lab.app.preset_index import read_entry
    from attractor_lab.engine.storage.thumbnails import write_png

    # a copy of the shipped presets as they are now: other work may add or edit presets meanwhile, and
    # a thumbnail is keyed by the file's content
    snapshot = tmp_path_factory.mktemp("shipped") / "presets"
    shutil.copytree(shipped_presets_dir(), snapshot, ignore=shutil.ignore_patterns("__pycache__"))
    shipped = sorted(snapshot.glob("*.toml"))
    cache = tmp_path_factory.mktemp("cache") / "thumbnails"  # as ATTRACTOR_LAB_CACHE_DIR=<its parent> names it
    fast = [p for p in shipped if p.stem not in SLOW]
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "thumbnails", "--budget-s", "0", "--cache", str(cache),
                        "--progress", "json", *map(str, fast)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    seconds = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    reports = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert [Path(e["preset"]) for e in reports] == fast and not [e for e in reports if e["cached"]]
    slow = [p for p in shipped if p.stem in SLOW]
    for preset in slow:  # a picture of a sibling of the same model, under this preset's key
        model = read_entry(preset).model
        sibling = next((p for p in fast if read_entry(p).model == model), fast[0])
        with Image.open(thumbnail_path(sibling, cache)) as img:
            write_png(np.asarray(img.convert("RGB")), thumbnail_path(preset, cache))
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "thumbnails", "--budget-s", "0", "--cache", str(cache),
                        "--progress", "json", *map(str, shipped)], capture_output=True, text=True, timeout=120,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    again = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert all(e["cached"] for e in again)  # nothing rendered twice, the slow ones included
    print(f"\nthumbnails of {len(fast)} shipped presets: {seconds:.1f} s ({len(slow)} slow ones cached)")
    return cache, again, shipped


def _image(cache, preset) -> np.ndarray:
    with Image.open(thumbnail_path(preset, cache)) as img:
        assert img.size == (THUMBNAIL_SIZE, THUMBNAIL_SIZE) and img.mode == "RGB"
        return np.asarray(img)


def test_every_shipped_preset_gets_a_thumbnail(rendered):
    cache, reports, shipped = rendered
    assert len(shipped) >= 40 and [Path(r["preset"]) for r in reports] == shipped
    assert not [r for r in reports if "error" in r]
    for preset in shipped:
        _image(cache, preset)
    folder = shipped[0].parent
    # pictures of what the presets show: a field in its view's colour map, Hopfield spins in black and
    # white, a phase portrait on its dark ground with trajectories in colour
    spots = _image(cache, folder / "gray_scott_spots.toml")
    assert tuple(spots[0, 0]) == (68, 1, 84)  # v = 0 away from the seed: viridis' low end
    assert len(np.unique(spots.reshape(-1, 3), axis=0)) > 2  # and the seed in other colours
    spins = _image(cache, folder / "hopfield_retrieval.toml")
    assert set(np.unique(spins)) <= {0, 255} and 0.2 < (spins == 255).mean() < 0.8
    lorenz = _image(cache, folder / "ode_lorenz_butterfly.toml")
    assert tuple(lorenz[0, 0]) == (16, 22, 38)
    assert (np.abs(lorenz.astype(int) - (16, 22, 38)).sum(axis=2) > 150).mean() > 0.002  # something drawn


def test_thumbnails_are_cached_by_content(rendered, tmp_path):
    cache, _, shipped = rendered
    preset = shipped[0].parent / "gray_scott_spots.toml"
    target = thumbnail_path(preset, cache)
    before = target.stat().st_mtime_ns
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "thumbnails", "--cache", str(cache), "--progress", "json",
                        "gray_scott_spots"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["cached"] is True and target.stat().st_mtime_ns == before
    edited = tmp_path / "gray_scott_spots.toml"
    edited.write_text(preset.read_text().replace('title = "', 'title = "Edited: '))
    assert thumbnail_key(edited) != thumbnail_key(preset)  # an edited preset is drawn again


def test_a_broken_preset_is_reported_and_the_others_rendered(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('format_version = 1\nmodel = "gray_scott"\n[params]\nk = 3.0\n')
    good = tmp_path / "small.toml"
    good.write_text('format_version = 1\nmodel = "gray_scott"\n[params]\ngrid = 32\n')
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "thumbnails", "--budget-s", "0", "--cache",
                        str(tmp_path / "c"), str(bad), str(good)], capture_output=True, text=True, timeout=120,
                       cwd=ROOT)
    assert r.returncode == 1
    assert "bad.toml" in r.stderr and "'k'" in r.stderr and "1 presets failed" in r.stderr
    assert thumbnail_path(good, tmp_path / "c").is_file()


def test_kymographs_show_their_filled_rows():
    from attractor_lab.engine.storage.thumbnails import picture

    kymo = np.full((100, 50), np.nan)
    kymo[:4] = np.linspace(-1, 1, 50)  # four rows filled so far
    rgb = picture([{"kind": "image", "array": "k", "colormap": "RdBu"}], {"k": kymo}, size=40)
    assert rgb.shape == (40, 40, 3)
    left, right = rgb[20, 0].astype(int), rgb[20, -1].astype(int)
    assert left[0] > left[2] + 50 and right[2] > right[0] + 50  # red to blue across every row drawn


# ---- the preset browser (GUI process; thumbnails read from the cache) ---------------------------------
@pytest.mark.gui
def test_browser_shows_every_thumbnail_and_opens_the_chosen_preset(qtbot, rendered, monkeypatch):
    cache, _, shipped = rendered
    monkeypatch.setenv("ATTRACTOR_LAB_CACHE_DIR", str(cache.parent))
    from PySide6 import QtCore

    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow
    from attractor_lab.app.preset_browser import PATH_ROLE, THUMB_ROLE
    from attractor_lab.app.preset_index import preset_entries

    engine = QtEngine(device="cpu")
    win = MainWindow(engine, fps=30)
    qtbot.addWidget(win)
    win.show()
    engine.start()
    try:
        with qtbot.waitSignal(win.model_loaded, timeout=60_000):
            pass
        browser = win.preset_browser
        # the shipped presets as the fixture copied them (others may appear or change meanwhile)
        browser.entries_source = lambda: preset_entries(shipped)
        with qtbot.waitSignal(browser.thumbnails_done, timeout=10_000):
            browser.toggleViewAction().trigger()
        assert browser.isVisible() and browser.proc is None  # nothing to render: every thumbnail cached
        items = {Path(item.data(0, PATH_ROLE)): item for item in browser.items.values()}
        for preset in shipped:
            item = items[preset]
            assert item.data(0, THUMB_ROLE) == str(thumbnail_path(preset, cache)), preset.name
            assert not item.icon(0).isNull()
        # a group per model, titled by the model; a preset's row: its title and its summary
        groups = [browser.tree.topLevelItem(i).text(0) for i in range(browser.tree.topLevelItemCount())]
        assert win.models["hopfield"]["title"] in groups
        chosen = shipped[0].parent / "brusselator_stripes.toml"
        item = items[chosen]
        assert item.text(0).splitlines()[0] == "Turing stripes just past threshold (b = 4.6)"
        browser.tree.scrollToItem(item)
        rect = browser.tree.visualItemRect(item)
        with qtbot.waitSignal(win.model_loaded, timeout=60_000) as loaded:
            # a double-click as a mouse makes it: QTest's mouseDClick alone sends only its second
            # press, and the view ignores a double-click on an item it did not see pressed
            qtbot.mouseClick(browser.tree.viewport(), QtCore.Qt.LeftButton, pos=rect.center())
            qtbot.mouseDClick(browser.tree.viewport(), QtCore.Qt.LeftButton, pos=rect.center())
        assert loaded.args == ["brusselator"]
        assert win.preset.path == chosen and "Turing stripes" in win.windowTitle()
        browser.filter.setText("barkley rigid")  # words of the group, title or file, in any order
        visible = [i for i in browser.items.values() if not i.isHidden()]
        assert [Path(i.data(0, PATH_ROLE)).name for i in visible] == ["barkley_spiral.toml"]
    finally:
        win.close()


@pytest.mark.gui
def test_missing_thumbnails_render_in_the_background(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTRACTOR_LAB_CACHE_DIR", str(tmp_path))
    from PySide6 import QtCore

    from attractor_lab.app.preset_browser import THUMB_ROLE, PresetBrowser
    from attractor_lab.app.preset_index import preset_entries

    chosen = [shipped_presets_dir() / "gray_scott_spots.toml", shipped_presets_dir() / "ode_spiral_demo.toml"]
    browser = PresetBrowser(entries=lambda: preset_entries(chosen), budget_s=0)
    qtbot.addWidget(browser)
    ticks = []
    timer = QtCore.QTimer(interval=20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    with qtbot.waitSignal(browser.thumbnails_done, timeout=120_000):
        browser.show()
        assert browser.proc is not None  # rendering started, the placeholders show meanwhile
        assert all(item.data(0, THUMB_ROLE) == "" for item in browser.items.values())
    timer.stop()
    for preset in chosen:
        item = browser.items[str(preset)]
        assert item.data(0, THUMB_ROLE) == str(thumbnail_path(preset)), preset
        assert thumbnail_path(preset).parent == tmp_path / "thumbnails"
    assert len(ticks) > 10 and max(np.diff(ticks)) < 0.5  # the event loop never waited for the renderer
