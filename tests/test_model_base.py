"""The Model base class contract: validation, live vs structural, transactional set and reset."""

import pytest
import torch

from attractor_lab.engine.models.base import Model
from attractor_lab.engine.params import Param


class Toy(Model):
    name = "toy"
    params = (
        Param("rate", "float", 0.5, 0.0, 1.0, help="growth per step"),
        Param("size", "int", 8, 2, 64, live=False),
        Param("limit", "float", 1.0, 0.0, 10.0),
    )

    def _reset(self):
        if self.p["size"] == 13:
            raise RuntimeError("out of memory (pretend)")
        self.x = torch.ones(self.p["size"])

    def _step(self, n):
        self.x = self.x * (1 + self.p["rate"]) ** n

    def _on_live_change(self, changed):
        if self.p["rate"] > self.p["limit"]:
            raise ValueError(f"rate {self.p['rate']} above limit {self.p['limit']}")

    def state(self):
        return {"x": self.x}


def test_live_and_structural():
    m = Toy()
    assert m.set(rate=0.25) == [] and m.p["rate"] == 0.25
    assert m.set(size=16) == ["size"] and m.p["size"] == 8 and m.pending == {"size": 16}
    m.reset()
    assert m.p["size"] == 16 and m.state()["x"].shape == (16,) and m.pending == {}


def test_refused_live_change_keeps_nothing_of_the_call():
    m = Toy(limit=0.6)
    with pytest.raises(ValueError, match="above limit"):
        m.set(size=32, rate=0.9)
    assert m.p["rate"] == 0.5 and m.pending == {}


def test_failed_reset_keeps_the_running_state():
    m = Toy()
    m.step(3)
    x = m.state()["x"].clone()
    m.set(size=13)
    with pytest.raises(RuntimeError, match="out of memory"):
        m.reset(seed=5)
    assert m.p["size"] == 8 and m.pending == {"size": 13} and m.seed == 0 and m.steps == 3
    assert torch.equal(m.state()["x"], x)
    m.step(1)  # still usable


def test_unknown_and_out_of_range_values_name_the_parameter():
    with pytest.raises(ValueError, match="unknown parameter 'speed'"):
        Toy(speed=1)
    with pytest.raises(ValueError, match=r"'size'.*\[2, 64\]"):
        Toy(size=100)
    with pytest.raises(ValueError, match="'rate'"):
        Toy().set(rate=float("nan"))
