"""The equation dock's "Start from" systems: each is valid text for its model, and runs (with
the parameters it brings) without the engine pausing it: a start that stops at once teaches
nothing. The dock's check refuses what the engine would refuse at Apply."""

from __future__ import annotations

import math

import pytest

import attractor_lab as al
from attractor_lab.app.equation_dock import TEMPLATES, check_system
from attractor_lab.engine.models import get as get_model


@pytest.mark.parametrize("title", list(TEMPLATES))
def test_a_start_from_system_is_valid_and_runs(title):
    model, text, extra = TEMPLATES[title]
    own = {p.name for p in get_model(model).params}
    error, summary = check_system(model, text, own)
    assert error is None and "sliders:" in summary
    sim = al.create(model, device="cpu", seed=0, equations=text, **extra)
    sim.step(400 if model == "custom_rd" else 100)  # raises if the run diverges or the step is unstable
    obs = sim.observables()
    assert obs and not any(math.isinf(float(v)) for v in obs.values())  # nan: "not defined here"
    if title == "Gray–Scott spots":  # the centre square grows: the autocatalyst spreads
        assert float(obs["mean_v"]) > 1e-3


def test_the_dock_refuses_what_the_engine_refuses():
    own = {p.name for p in get_model("custom_ode").params}
    for text, expected in (("dx/dt = -x", "at least two variables"),
                           ("dx/dt = y\ndy/dt = -x\npar dt = 1 [0, 2]", "clashes with the model's own parameter")):
        error, _ = check_system("custom_ode", text, own)
        assert error is not None and expected in str(error)
        with pytest.raises(ValueError, match="two variables" if "two" in expected else "clashes"):
            al.create("custom_ode", device="cpu", equations=text)
