"""Preset files: validation messages, round trip, and every shipped preset."""

import pytest

from attractor_lab import engine
from attractor_lab.engine.storage.presets import (
    PresetError,
    Preset,
    list_presets,
    load_preset,
    save_preset,
    shipped_presets_dir,
)


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


# ---- [view] (issue 18: view.field = "nope" was accepted by run) -------------------------------------
@pytest.mark.parametrize("field, model, needle", [
    ('"nope"', "gray_scott", "key 'view.field': 'nope' is not a field of gray_scott; expected one of 'v', 'u'"),
    ("3", "gray_scott", "key 'view.field': expected one of 'v', 'u', got 3"),
    ('""', "hopfield", "key 'view.field': expected one of 'spins', 'cued_pattern', got ''"),
    ('"x"', "ode_system", "key 'view.field': ode_system has no image field to show"),
])
def test_view_field_must_name_one_of_the_models_image_fields(tmp_path, field, model, needle):
    from attractor_lab.engine.models import get
    from attractor_lab.engine.storage.presets import schemas_from_descriptions

    path = _write(tmp_path, f'format_version = 1\nmodel = "{model}"\n[view]\nfield = {field}\n')
    with pytest.raises(PresetError) as exc:
        load_preset(path)  # run, thumbnails, sweeps: schemas from the registry
    assert str(exc.value).startswith(f"{path}: {needle}")
    # the window checks against the models the engine described to it: the same refusal
    described = schemas_from_descriptions({model: get(model).describe()})
    with pytest.raises(PresetError) as again:
        load_preset(path, schemas=described)
    assert str(again.value) == str(exc.value)


def test_view_field_of_an_image_field_loads_and_other_view_keys_are_kept(tmp_path):
    path = _write(tmp_path, 'format_version = 1\nmodel = "gray_scott"\n[view]\nfield = "u"\ncolormap = "magma"\n')
    assert load_preset(path).view == {"field": "u", "colormap": "magma"}


def test_run_refuses_a_preset_whose_view_field_is_not_a_field(tmp_path, capsys):
    from attractor_lab.app.cli import main

    path = _write(tmp_path, 'format_version = 1\nmodel = "gray_scott"\n[params]\ngrid = 16\n[view]\nfield = "nope"\n')
    code = main(["run", str(path), "--steps", "2", "--out", str(tmp_path / "t.npz"), "--quiet", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip() == (f"attractor-lab run: {path}: key 'view.field': 'nope' is not a field of gray_scott; "
                           "expected one of 'v', 'u'")
    assert not (tmp_path / "t.npz").exists()


def test_shipped_ode_files_are_listed_with_their_titles():
    """The Presets menu and the browser list the shipped XPPAUT files beside the TOML presets,
    titled by their first comment line, as custom_ode presets (what loading them gives)."""
    from attractor_lab.engine.storage.presets import preset_header

    odes = [p for p in list_presets() if p.suffix == ".ode"]
    assert {p.name for p in odes} >= {"fitzhugh_nagumo.ode", "morris_lecar.ode", "lotka_volterra.ode"}
    for path in odes:
        model, title, _ = preset_header(path)
        preset = load_preset(path)
        assert model == preset.model == "custom_ode" and title == preset.title
