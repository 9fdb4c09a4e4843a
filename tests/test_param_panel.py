"""The parameter panel built from declarations."""

import pytest

pytestmark = pytest.mark.gui

SCHEMA = [
    {"name": "Du", "kind": "float", "default": 2e-5, "min": 0.0, "max": 1000.0, "unit": "length²/time",
     "help": "diffusion of u", "live": True, "choices": [], "log": False, "step": None},
    {"name": "dt", "kind": "float", "default": 0.5, "min": 1e-3, "max": 1.0, "unit": "", "help": "",
     "live": True, "choices": [], "log": True, "step": None},
    {"name": "grid", "kind": "int", "default": 64, "min": 16, "max": 4096, "unit": "cells", "help": "cells",
     "live": False, "choices": [], "log": False, "step": None},
    {"name": "scheme", "kind": "choice", "default": "euler", "min": None, "max": None, "unit": "", "help": "",
     "live": True, "choices": ["euler", "rk4"], "log": False, "step": None},
]


def test_panel_shows_small_values_and_emits_changes(qtbot):
    from attractor_lab.widgets.param_panel import ParamPanel

    panel = ParamPanel()
    qtbot.addWidget(panel)
    panel.set_schema(SCHEMA)
    assert panel.editors["Du"].box.text().startswith("2e-05")  # not rounded to 0.0000
    assert panel.values()["Du"] == pytest.approx(2e-5)
    got = []
    panel.value_changed.connect(lambda n, v: got.append((n, v)))
    panel.editors["Du"].box.stepBy(1)  # a tenth of the decade
    assert got[-1][0] == "Du" and got[-1][1] == pytest.approx(2.1e-5)
    panel.editors["dt"].slider.setValue(1000)  # log slider's top is the maximum
    assert got[-1] == ("dt", pytest.approx(1.0))
    panel.editors["scheme"].setCurrentText("rk4")
    assert got[-1] == ("scheme", "rk4")
    n = len(got)
    panel.set_values({"grid": 128, "Du": 1.5})  # programmatic: no signal
    assert len(got) == n and panel.values()["grid"] == 128
    assert "⟳" in panel.labels["grid"].text() and "reset" in panel.labels["grid"].toolTip()
    assert "[0.0, 1000.0]" in panel.editors["Du"].toolTip()


def test_rows_show_only_where_they_apply(qtbot):
    """A system's parameters show only for that system (shown_when), in the panel built from the
    real declarations: Van der Pol shows μ and not Lotka–Volterra's α; choosing Lotka–Volterra
    swaps them; Hopfield's subset_fraction shows only for random_subset updates."""
    from attractor_lab.engine.models import get
    from attractor_lab.widgets.param_panel import ParamPanel

    panel = ParamPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_schema(get("ode_system").describe()["params"])
    panel.set_values({"system": "van_der_pol"})
    assert panel.editors["mu"].isVisible() and not panel.editors["alpha"].isVisible()
    assert not panel.labels["alpha"].isVisible()  # the whole row, label too
    assert panel.editors["solver"].isVisible()  # parameters of every system stay
    panel.editors["system"].setCurrentText("lotka_volterra")  # the user's choice
    assert panel.editors["alpha"].isVisible() and panel.editors["gamma"].isVisible()
    assert not panel.editors["mu"].isVisible() and not panel.editors["rho"].isVisible()
    assert panel.editors["beta"].isVisible()  # Lotka–Volterra's β (Lorenz reads it too)
    assert "mu" in panel.values()  # hidden is not gone: presets and resets still get every value
    panel.set_schema(get("neural_ode").describe()["params"])
    panel.set_values({"target": "duffing", "regularise": False})
    assert panel.editors["damping"].isVisible() and not panel.editors["sigma"].isVisible()
    assert not panel.editors["reg_weight"].isVisible()
    panel.editors["regularise"].setChecked(True)
    assert panel.editors["reg_weight"].isVisible() and panel.editors["stiffness_weight"].isVisible()
    panel.set_schema(get("hopfield").describe()["params"])
    assert not panel.editors["subset_fraction"].isVisible()
    panel.editors["update"].setCurrentText("random_subset")
    assert panel.editors["subset_fraction"].isVisible()
