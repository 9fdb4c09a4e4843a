"""Typed equations through a real engine process: hostile text is refused with the parser's
one-line message (line and column) and the engine keeps serving the model it had."""

from __future__ import annotations

import pytest

from attractor_lab.engine.transport.client import EngineError
from tests.engine_helpers import engine  # noqa: F401 (a fixture)

VDP = "dx/dt = y\ndy/dt = mu*(1 - x^2)*y - x\npar mu = 1.5 [0, 10]\ninit x = 2, y = 0\n"


def test_engine_refuses_hostile_equations_and_keeps_running(engine):
    reply = engine.request("load", {"model": "custom_ode", "params": {"equations": VDP, "mu": 2.0}, "seed": 0})
    params = {p["name"]: p for p in reply["describe"]["params"]}
    assert (params["mu"]["min"], params["mu"]["max"]) == (0.0, 10.0) and reply["params"]["mu"] == 2.0
    hostile = ["dx/dt = y\ndy/dt = __import__('os').getcwd()",
               "dx/dt = y\ndy/dt = " + "(" * 10_000 + "x" + ")" * 10_000,
               "dx/dt = y\ndy/dt = x^9^9^9",
               "dx/dt = y\ndy/dt = -k*x"]
    for text in hostile:
        with pytest.raises(EngineError, match=r"line 2, col \d+: "):
            engine.request("load", {"model": "custom_ode", "params": {"equations": text}})
    # a bad text set as a parameter is refused at the reset; the model keeps its equations
    engine.request("set_params", {"params": {"equations": "dx/dt = y\ndy/dt = sinn(x)"}})
    with pytest.raises(EngineError, match=r"line 2, col 9: unknown function 'sinn' — known: abs"):
        engine.request("reset", {"seed": 0})
    with pytest.raises(EngineError, match=r"'mu'.*\[0, 10\]"):
        engine.request("set_params", {"params": {"mu": 50.0}})
    engine.request("step", {"n": 3})
    info = engine.request("info")
    assert info["model"] == "custom_ode"
    state = engine.request("get_state")
    assert state["arrays"]["x_now"].shape == (4, 2)
    # a valid change of equations: the reset's reply declares the new sliders
    engine.request("set_params", {"params": {"equations": VDP.replace("mu", "eps")}})
    reply = engine.request("reset", {"seed": 0})
    assert "eps" in {p["name"] for p in reply["describe"]["params"]} and "eps" in reply["params"]
