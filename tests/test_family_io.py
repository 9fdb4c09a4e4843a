"""The newer families through the same doors as the old ones: the scripting
API, presets that round-trip and replay, the CLI's run and its recordings."""

import math

import numpy as np
import pytest

from attractor_lab import engine
from attractor_lab.engine.models import get
from attractor_lab.engine.storage.presets import Preset, load_preset, save_preset
from attractor_lab.engine.storage.recorder import load_trajectory

# small but real configurations (each a few seconds at most)
SMALL = {
    "ode_system": {"system": "lorenz", "trajectories": 2, "dt": 0.05},
    "rate_network": {"neurons": 64},
    "continuous_hopfield": {"neurons": 64, "pattern_source": "random"},
    "neural_ode": {"samples": 200, "batch": 16},
    "burgers": {"grid": 64},
    "navier_stokes": {"grid": 32},
}


@pytest.mark.parametrize("name", SMALL)
def test_api_preset_round_trip_replay_and_cli_recording(name, tmp_path):
    from attractor_lab.app.cli import main

    sim = engine.create(name, seed=3, device="cpu", **SMALL[name])
    sim.step(3)
    obs = sim.observables()
    assert obs and all(isinstance(v, float) for v in obs.values())
    assert any(math.isfinite(v) for v in obs.values())

    # a preset of the run as it is round-trips exactly, and replays the same states
    path = save_preset(Preset(model=name, params=sim.params, seed=3, title="mine"), tmp_path / "p.toml")
    again = load_preset(path)
    assert (again.model, again.params, again.seed) == (name, sim.params, 3)
    replay = engine.create(name, seed=again.seed, device="cpu", **again.params)
    replay.step(3)
    keep = get(name).record_fields or tuple(sim.state())
    for key in keep:
        assert np.allclose(sim.state()[key], replay.state()[key], equal_nan=True), f"{name}: {key} differs on replay"

    # the CLI runs the preset and records what the model's recordings keep
    out = tmp_path / "run.npz"
    assert main(["run", str(path), "--steps", "4", "--every", "2", "--out", str(out)]) == 0
    t = load_trajectory(out)
    assert list(t["step"]) == [0, 2, 4]
    recorded = {k.removeprefix("state/") for k in t if k.startswith("state/")}
    assert recorded == set(keep), f"{name}: recorded {recorded}, the model keeps {keep}"
    assert any(k.startswith("obs/") for k in t)
    assert f'model = "{name}"' in str(t["preset_toml"])
