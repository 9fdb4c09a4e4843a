"""The window training a neural operator with a real engine: the run starts and its curves fill
in, Pause stops it and Run resumes it, Cancel ends a long Step, and Save and race puts the
checkpoint into the user's library, lists it in neural_operator's checkpoints and races it at once."""

import math

import numpy as np
import pytest

pytestmark = pytest.mark.gui

SMALL = """format_version = 1
model = "operator_training"
title = "small training run (test)"
seed = 0

[params]
system = "burgers"
grid = 32
trajectories = 8
width = 8
modes = 4
layers = 1
iterations = 1000000
batch = 8
eval_every = 5
race_every = 10
"""


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from attractor_lab.app.engine_client import QtEngine
    from attractor_lab.app.main_window import MainWindow

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the engine's user library (platformdirs)
    preset = tmp_path / "small_training.toml"
    preset.write_text(SMALL)
    engine = QtEngine(device="cpu")
    win = MainWindow(engine, preset_path=str(preset), fps=30)
    qtbot.addWidget(win)
    win.show()
    engine.start()
    with qtbot.waitSignal(win.model_loaded, timeout=60_000) as loaded:
        pass
    assert loaded.args == ["operator_training"]
    yield win
    win.close()


def _observable(win, name):
    return win.last_frame[0]["observables"][name] if win.last_frame is not None else math.nan


def _iteration(win):
    value = _observable(win, "iteration")
    return -1 if value is None or value != value else int(value)


def test_train_pause_cancel_save_and_race(qtbot, window, tmp_path):
    win = window
    actions = win.training_actions
    assert actions.toolbar.isVisibleTo(win) and actions.act_save.isEnabled()
    win.set_running(True)
    # training starts and its curves fill in
    qtbot.waitUntil(lambda: _iteration(win) >= 30, timeout=120_000)
    curves = next(v for v in win.grid.views if v.spec.get("title", "").startswith("training loss"))
    qtbot.waitUntil(lambda: all(len(c.getData()[1] if c.getData()[1] is not None else ()) >= 2
                                for _, c in curves.curves), timeout=20_000)
    drawn = {s["name"]: c.getData() for s, c in curves.curves}
    arrays = win.last_frame[1]
    assert len(drawn["held-out one-step error"][1]) == len(arrays["eval_curve"])
    race = next(v for v in win.grid.views if v.spec.get("title", "").startswith("race on a held-out start: error"))
    assert len({s["name"]: c.getData() for s, c in race.curves}["now"][1]) == 16
    assert np.isfinite(win.last_frame[1]["race_operator"]).all()
    # Pause: the iteration stands still
    win.set_running(False)
    qtbot.waitUntil(lambda: not win.last_frame[0]["running"], timeout=10_000)
    paused = _iteration(win)
    qtbot.wait(1500)
    assert _iteration(win) == paused
    # Run again: it goes on
    win.set_running(True)
    qtbot.waitUntil(lambda: _iteration(win) > paused, timeout=20_000)
    win.set_running(False)
    qtbot.waitUntil(lambda: not win.last_frame[0]["running"], timeout=10_000)
    # Cancel (Esc) ends a long Step: the iteration stands still again
    replies = []
    win.engine.request("step", {"n": 1_000_000}, replies.append)
    before = _iteration(win)
    qtbot.waitUntil(lambda: _iteration(win) > before, timeout=20_000)
    win.act_cancel.trigger()
    qtbot.waitUntil(lambda: bool(replies) and bool(replies[0].get("cancelled")), timeout=20_000)
    qtbot.wait(300)
    stopped = _iteration(win)
    qtbot.wait(1500)
    assert _iteration(win) == stopped
    # Save and race: the checkpoint is in the library, neural_operator lists it and races it
    actions.name_edit.setText("gui_checkpoint")
    with qtbot.waitSignal(win.model_loaded, timeout=60_000) as loaded:
        actions.act_race.trigger()
    assert loaded.args == ["neural_operator"]
    folder = tmp_path / "data" / "attractor-lab" / "operators" / "gui_checkpoint"
    assert (folder / "weights.safetensors").is_file() and (folder / "card.json").is_file()
    assert actions.last_saved == str(folder)
    assert win.params["checkpoint"] == "gui_checkpoint" and win.params["system"] == "burgers"
    combo = win.panel.editors["checkpoint"]
    assert "gui_checkpoint" in [combo.itemText(i) for i in range(combo.count())]
    assert not actions.toolbar.isVisibleTo(win)
    qtbot.waitUntil(lambda: win.last_frame[0]["model"] == "neural_operator"
                    and win.last_frame[0]["step"] >= 3, timeout=30_000)
    obs = win.last_frame[0]["observables"]
    assert obs["grid"] == 32 and math.isfinite(obs["rel_error"])
    assert "gui_checkpoint" in win.last_frame[0]["texts"]["checkpoint"]
