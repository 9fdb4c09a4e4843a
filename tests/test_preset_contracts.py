"""Every shipped preset shows what it promises: its [contract], checked by running it headless.

The slow tests run each shipped preset that has a contract exactly as shipped
(engine.storage.contracts.check_contract). The fast ones check the contract format:
validation messages that name the file and the key, the claim in words, and
that the checker fails a preset whose claim is false or whose run is paused.

Every shipped preset, of every family, must carry a contract.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from attractor_lab.engine import models
from attractor_lab.engine.storage.contracts import check_contract
from attractor_lab.engine.storage.presets import PresetError, load_preset, shipped_presets_dir

PRESETS = sorted(shipped_presets_dir().glob("*.toml"))


def _family(model: str) -> str:
    return models.get(model).__module__.split(".")[3]


def _contracted() -> list[Path]:
    return [p for p in PRESETS if load_preset(p).contract is not None]


@pytest.mark.slow
@pytest.mark.parametrize("path", _contracted(), ids=lambda p: p.stem)
def test_preset_keeps_its_contract(path):
    result = check_contract(path)
    print(result.report())
    assert result.passed, result.report()


def test_every_shipped_preset_has_a_contract():
    missing = sorted(f"{p.name} ({_family(load_preset(p).model)})" for p in PRESETS if load_preset(p).contract is None)
    assert not missing, f"these presets must say what they show in a [contract] table: {', '.join(missing)}"


# ---- the format ----------------------------------------------------------------------
BASE = 'format_version = 1\nmodel = "gray_scott"\n[params]\ngrid = 32\n[view]\nfield = "v"\n'


def _write(tmp_path, text, name="p.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "contract, key",
    [
        ("[contract]\npattern = 'spots'", "contract.steps"),
        ("[contract]\nsteps = 0\npattern = 'spots'", "contract.steps"),
        ("[contract]\nsteps = 10\npattern = 'dots'", "contract.pattern"),
        ("[contract]\nsteps = 10\ncolour = 1", "contract.colour"),
        ("[contract]\nsteps = 10\ngrid_scale_max = 2.0", "contract.grid_scale_max"),
        ("[contract]\nsteps = 10\nprobe_steps = 11\npattern = 'spots'", "contract.probe_steps"),
        ("[contract]\nsteps = 10\n[contract.observables]\nmean_v = [0.3, 0.1]", "contract.observables.mean_v"),
        ("[contract]\nsteps = 10\n[contract.observables]\nmean_v = 0.3", "contract.observables.mean_v"),
        ("[contract]\nsteps = 10\n[contract.agree]\nmean_v = ['mean_u', -1]", "contract.agree.mean_v"),
        ("[contract]\nsteps = 10", "'contract'"),
        ("[contract]\nsteps = 10\nfield = ''\npattern = 'spots'", "contract.field"),
    ],
)
def test_bad_contracts_name_file_and_key(tmp_path, contract, key):
    path = _write(tmp_path, BASE + contract)
    with pytest.raises(PresetError) as exc:
        load_preset(path)
    assert str(path) in str(exc.value) and key in str(exc.value), str(exc.value)


def test_a_pattern_claim_needs_a_field(tmp_path):
    text = 'format_version = 1\nmodel = "gray_scott"\n[contract]\nsteps = 5\npattern = "spots"\n'
    with pytest.raises(PresetError, match="contract.field"):
        load_preset(_write(tmp_path, text))


def test_contract_round_trip_and_words(tmp_path):
    from attractor_lab.engine.storage.presets import save_preset

    text = (BASE + "[contract]\nsteps = 300\npattern = 'spots'\ngrid_scale_max = 1e-4\n"
            "[contract.observables]\nmean_v = [0.1, 0.3]\nmean_u = [-inf, 0.9]\n"
            "[contract.agree]\nlambda_measured = ['lambda_predicted', 0.5]\n")
    preset = load_preset(_write(tmp_path, text))
    c = preset.contract
    assert (c.steps, c.field, c.pattern, c.probe) == (300, "v", "spots", 15)
    again = load_preset(save_preset(preset, tmp_path / "again.toml"))
    assert again.contract == c
    words = c.describe(dt=1.0)
    for piece in ("after 300 steps (t = 300)", "v shows spots", "mean_v in [0.1, 0.3]", "mean_u ≤ 0.9",
                  "lambda_measured within 0.5 of lambda_predicted", "grid-scale power ≤ 0.0001"):
        assert piece in words, words


def test_the_checker_fails_a_false_claim(tmp_path):
    # Gray–Scott from the centre square: v has a few spots, not stripes, and its mean is small
    text = (BASE.replace("grid = 32", "grid = 48") + "[contract]\nsteps = 300\npattern = 'stripes'\n"
            "[contract.observables]\nmean_v = [0.5, 1.0]\nno_such = [0, 1]\n")
    result = check_contract(_write(tmp_path, text))
    assert not result.passed
    failures = "\n".join(result.failures)
    assert "pattern: claimed stripes" in failures
    assert "mean_v = " in failures and "outside [0.5, 1]" in failures
    assert "'no_such' is not an observable" in failures


def test_the_checker_fails_a_run_that_pauses(tmp_path):
    # the Brusselator artefact: the explicit step outgrows the stiff state and the run is paused
    text = ('format_version = 1\nmodel = "brusselator"\n[params]\na = 3.0\nb = 9.0\ngrid = 64\nlength = 32.0\n'
            'dt = 0.007\nscheme = "euler"\nnoise = 0.05\n[view]\nfield = "u"\n'
            '[contract]\nsteps = 2000\npattern = "stripes"\n')
    result = check_contract(_write(tmp_path, text))
    assert not result.passed
    assert "the run stopped" in result.failures[0] and "dt = 0.007 exceeds the stability limit" in result.failures[0]


def test_the_checker_passes_a_true_claim_and_reports_measurements(tmp_path):
    text = (BASE + "[contract]\nsteps = 50\ngrid_scale_max = 1e-3\n[contract.observables]\nmean_u = [0.9, 1.0]\n")
    result = check_contract(_write(tmp_path, text))
    assert result.passed, result.report()
    assert "mean_u" in result.measured and "grid-scale power of v" in result.measured
