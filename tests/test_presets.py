"""Preset files: validation messages, round trip, and every shipped preset."""

import pytest

from attractor_lab import engine
from attractor_lab.engine.presets import PresetError, Preset, list_presets, load_preset, save_preset, shipped_presets_dir


def _write(tmp_path, text, name="p.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "text, needle",
    [
        ('model = "gray_scott"', "format_version"),
        ('format_version = 1\nmodel = "nope"', "'model'"),
        ('format_version = 1\nmodel = "gray_scott"\n[params]\nF = 0.5', "'F'"),
        ('format_version = 1\nmodel = "gray_scott"\n[params]\nZ = 1', "unknown parameter 'Z'"),
        ('format_version = 1\nmodel = "gray_scott"\ncolour = 1', "unknown key"),
        ('format_version = 1\nmodel = "gray_scott"\nseed = -3', "'seed'"),
        ('format_version = 1\nmodel = "gray_scott"\n[run]\nfps = 0', "'fps'"),
        ("format_version = = 1", "not valid TOML"),
    ],
)
def test_bad_presets_name_file_and_key(tmp_path, text, needle):
    path = _write(tmp_path, text)
    with pytest.raises(PresetError) as exc:
        load_preset(path)
    assert str(path) in str(exc.value) and needle in str(exc.value)


def test_round_trip_is_atomic_and_exact(tmp_path):
    preset = Preset(model="gray_scott", params={"F": 0.03, "grid": 64}, seed=9, title="mine", run={"fps": 20})
    path = save_preset(preset, tmp_path / "sub" / "mine.toml")
    again = load_preset(path)
    assert (again.model, again.params, again.seed, again.title, again.run) == (
        "gray_scott", {"F": 0.03, "grid": 64}, 9, "mine", {"fps": 20})
    assert [p.name for p in path.parent.iterdir()] == ["mine.toml"]  # no temp file left


def test_shipped_presets_all_load_and_run():
    paths = sorted(shipped_presets_dir().glob("*.toml"))
    assert len(paths) >= 3
    assert {"gray_scott_spots.toml", "gray_scott_mitosis.toml", "gray_scott_worms.toml"} <= {p.name for p in paths}
    for path in paths:
        preset = load_preset(path)
        assert preset.title and preset.description, f"{path.name}: give it a title and a description"
        small = dict(preset.params)
        if "grid" in small:
            small["grid"] = min(small["grid"], 32)
        sim = engine.create(preset.model, seed=preset.seed, device="cpu", **small)
        sim.step(1)
    assert set(list_presets()) >= set(paths)
