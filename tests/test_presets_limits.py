"""Hostile preset files are refused quickly with a message (issue 10): too large, nested too deep."""

import time

import pytest

from attractor_lab.engine.storage.presets import MAX_PRESET_BYTES, PresetError, load_preset

SCHEMAS = {"gray_scott": {}}


def test_a_preset_over_the_size_cap_is_refused_without_being_parsed(tmp_path):
    big = tmp_path / "big.toml"
    with open(big, "wb") as f:  # 100 MB of a valid-looking comment: parsing it took minutes and gigabytes
        f.write(b'format_version = 1\nmodel = "gray_scott"\n')
        chunk = b"# " + b"x" * (1 << 20) + b"\n"
        for _ in range(100):
            f.write(chunk)
    t0 = time.monotonic()
    with pytest.raises(PresetError, match=f"big.toml: a preset may hold at most {MAX_PRESET_BYTES >> 10} KiB"):
        load_preset(big, schemas=SCHEMAS)
    assert time.monotonic() - t0 < 1.0


@pytest.mark.parametrize("body", [
    'x = ' + "[" * 5000 + "]" * 5000,
    'x = ' + "{a = " * 3000 + "1" + "}" * 3000,
])
def test_deeply_nested_presets_are_refused_with_a_message(tmp_path, body):
    deep = tmp_path / "deep.toml"
    deep.write_text(f'format_version = 1\nmodel = "gray_scott"\n[view]\n{body}\n')
    with pytest.raises(PresetError, match=r"deep.toml: arrays or tables nested \d+ deep; a preset allows 16"):
        load_preset(deep, schemas=SCHEMAS)


def test_brackets_inside_strings_and_comments_do_not_count(tmp_path):
    ok = tmp_path / "ok.toml"
    ok.write_text('format_version = 1\nmodel = "gray_scott"\ntitle = "[[[[[[[[[[[[[[[[[[[["  # [[[[[[[[[[[[[[[[[[\n'
                  "description = '{{{{{{{{{{{{{{{{{{{{{'\n")
    assert load_preset(ok, schemas=SCHEMAS).title.startswith("[[[[")
