"""Training a neural operator in the engine (``operator_training``): it learns, it saves into the
user's library, and ``neural_operator`` races what it saved."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import attractor_lab.engine.models as models
from attractor_lab.engine.models.neural_operator import _library
from attractor_lab.engine.models.neural_operator._checkpoint import read_card


def _train(max_steps: int = 5000, **params):
    m = models.get("operator_training")(seed=3, **params)
    for _ in range(max_steps):  # bounded: the run ends at its iteration limit
        if m.phase == "done":
            break
        m.step(1)
    assert m.phase == "done", f"training did not finish in {max_steps} steps ({m.phase}, {m.iteration})"
    return m


@pytest.fixture
def library(tmp_path, monkeypatch):
    """The user's data folder (platformdirs honours XDG_DATA_HOME) in a temporary place."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return _library.library_dir()


def test_reduced_training_beats_persistence_threefold():
    m = _train(system="burgers", grid=64, trajectories=24, iterations=150, eval_every=25, race_every=50)
    o = m.observables()
    assert o["iteration"] == 150
    assert o["data_done"] == o["data_total"] == 24 + 16
    # the held-out one-step error against persistence u(t+Δt) = u(t) on the same pairs
    assert o["beats_persistence"] >= 3.0, o
    s = m.state()
    assert len(s["loss_curve"]) == 150 and np.all(np.isfinite(s["loss_curve"]))
    assert s["eval_iteration"][0] == 0 and s["eval_iteration"][-1] == 150
    assert s["eval_curve"][-1] < 0.5 * s["eval_curve"][0]  # it learned
    # the race on the held-out start: the operator now beats the operator at the first race
    assert s["race_error"][0] < s["race_first"][0]
    assert s["race_solver"].shape == s["race_operator"].shape == (17, 64)


def test_navier_stokes_trains_on_the_2d_grid():
    m = _train(system="navier_stokes", grid=16, trajectories=4, width=8, modes=4, layers=1, iterations=6,
               batch=4, eval_every=3, race_every=3)
    s = m.state()
    assert s["race_solver"].shape == (16, 16)
    assert len(s["race_error"]) == 25 and np.all(np.isfinite(s["race_error"]))
    assert list(s["eval_iteration"]) == [0, 3, 6]


def test_steps_are_bounded_in_time_and_training_stops_at_the_limit():
    m = models.get("operator_training")(seed=0, system="burgers", grid=32, trajectories=8, width=8, modes=4,
                                        layers=1, iterations=5)
    m.step(1)
    assert m.phase == "data" and m.iteration == 0  # the first step made the held-out data only
    for _ in range(20):
        m.step(1)
    assert m.iteration == 5 and m.phase == "done"
    m.set(iterations=7)  # live: training goes on
    m.step(3)
    assert m.iteration == 7


def test_save_into_the_library_and_race_at_once(library):
    m = _train(system="burgers", grid=64, trajectories=16, width=16, modes=8, iterations=40)
    with pytest.raises(ValueError, match="taken by a shipped"):
        m.save_weights("burgers")
    with pytest.raises(ValueError, match="not allowed"):
        m.save_weights("x y")
    folder = m.save_weights("my_burgers")
    assert folder == library / "my_burgers"
    card = read_card(folder)
    assert card["grid"] == 64 and card["training"]["iterations"] == 40
    assert 0 < card["errors"]["one_step"] < card["errors"]["persistence_one_step"]
    assert "my_burgers" in _library.checkpoint_choices()
    race_cls = models.get("neural_operator")
    schema = {p.name: p for p in race_cls.params_for({})}
    assert "my_burgers" in schema["checkpoint"].choices
    race = race_cls(system="burgers", checkpoint="my_burgers", viscosity=0.05, seed=1)
    assert race.checkpoint_path == folder and race.n == 64
    race.step(3)
    assert math.isfinite(race.observables()["rel_error"])
    assert "my_burgers" in [p for p in race.declaration()["params"] if p["name"] == "checkpoint"][0]["choices"]


def test_nothing_to_save_before_training(library):
    m = models.get("operator_training")(seed=0, system="burgers", grid=32, trajectories=8)
    with pytest.raises(ValueError, match="nothing to save yet"):
        m.save_weights("early")


def _check_device(device: str):
    m = models.get("operator_training")(device=device, seed=0, system="burgers", grid=32, trajectories=8, width=8,
                                        modes=4, layers=1, iterations=3)
    for _ in range(10):
        m.step(1)
    want = torch.device(device).type
    assert m.iteration == 3
    assert {p.device.type for p in m.op.parameters()} == {want}
    assert m.train.fields.device.type == want and m.test.fields.device.type == want
    assert m.race["pred"].device.type == want
    for group in m.opt.state.values():
        assert all(v.device.type == want for v in group.values() if isinstance(v, torch.Tensor) and v.ndim)


def test_tensors_stay_on_the_cpu():
    _check_device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine: the GPU path is "
                    "checked where torch.cuda.is_available() (the device machine)")
def test_tensors_stay_on_the_gpu():
    _check_device("cuda")
