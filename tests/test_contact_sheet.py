"""The contact sheet (app/contact_sheet.py): presets rendered in the real window, in one PNG."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui

QUICK = "hopfield_retrieval,ode_spiral_demo"


def _near(pixels: np.ndarray, rgb, tol: int = 12) -> np.ndarray:
    return np.all(np.abs(pixels.astype(int) - np.array(rgb)) <= tol, axis=-1)


def test_contact_sheet_of_quick_presets(qtbot, tmp_path, monkeypatch, capsys):
    from PIL import Image

    from attractor_lab.app import contact_sheet as cs

    monkeypatch.setenv("ATTRACTOR_LAB_3D", "off")
    # a preset the window refuses (a value out of range): its tile must say so, and the sheet is
    # written all the same
    bad = tmp_path / "broken_preset.toml"
    bad.write_text('format_version = 1\nmodel = "hopfield"\ntitle = "Broken"\nseed = 0\n'
                   '[params]\ntemperature = -5.0\n[contract]\nsteps = 10\npattern = "uniform"\n')
    out = tmp_path / "sheet.png"
    rc = cs.main(["--only", QUICK, str(bad), "--out", str(out), "--timeout", "60"])
    log = capsys.readouterr().out
    assert rc == 1, log  # one preset failed
    assert out.exists() and out.stat().st_size < 2_000_000

    meta = cs.read_meta(out)
    tw, th = meta["tile"]
    assert (tw, th) == (560, 360)  # 1400 x 900 at 0.4
    assert (meta["columns"], meta["rows"]) == (3, 1)
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.size == (3 * (tw + cs.GAP) + cs.GAP, th + cs.LABEL_HEIGHT + 2 * cs.GAP)
        pixels = np.asarray(img.convert("RGB"))

    stems = [t["stem"] for t in meta["tiles"]]
    assert stems == ["broken_preset", "hopfield_retrieval", "ode_spiral_demo"]
    by_stem = {t["stem"]: t for t in meta["tiles"]}
    for stem in QUICK.split(","):
        t = by_stem[stem]
        assert t["ok"], t["error"]
        assert t["reached"] == t["steps"] > 0  # the contract's step, exactly
        x, y, w, h = t["rect"]
        tile = pixels[y:y + h, x:x + w]
        assert _near(tile, cs.FAILED_RGB).mean() < 0.05
        assert t["primary"], f"{stem}: no primary view found"
        for px, py, pw, ph in t["primary"]:
            assert x <= px and px + pw <= x + w and y <= py and py + ph <= y + h
            assert pw > 80 and ph > 60, f"{stem}: primary view {pw}x{ph} px in a {w}x{h} tile"
            region = pixels[py:py + ph, px:px + pw].astype(float).mean(axis=-1)
            assert region.std() > 15, f"{stem}: primary view blank (grey std {region.std():.1f})"
        assert f"{stem}: step {t['steps']}" in log

    failed = by_stem["broken_preset"]
    assert not failed["ok"] and "temperature" in failed["error"]
    x, y, w, h = failed["rect"]
    assert _near(pixels[y:y + h, x:x + w], cs.FAILED_RGB).mean() > 0.5  # a red tile: visibly failed
    assert "broken_preset: FAILED" in log
