"""Small things in the window (issue 10): logarithmic sliders, 0 shown as 'auto', where 3D windows open."""

import pytest

pytestmark = pytest.mark.gui

DU = {"name": "Du", "kind": "float", "default": 0.16, "min": 0.0, "max": 1000.0, "unit": "length²/time",
      "help": "diffusion coefficient of u", "live": True, "choices": [], "log": False, "step": 0.01}
LENGTH = {"name": "length", "kind": "float", "default": 0.0, "min": 0.0, "max": 1e6, "unit": "",
          "help": "domain side length; 0 means grid × 1 (cell size h = length / grid)", "live": False,
          "choices": [], "log": False, "step": None}
TEMPERATURE = {"name": "temperature", "kind": "float", "default": 0.0, "min": 0.0, "max": 3.0, "unit": "",
               "help": "T; 0 is deterministic", "live": True, "choices": [], "log": False, "step": 0.05}
EVERY = {"name": "reset_every", "kind": "int", "default": 0, "min": 0, "max": 100000, "unit": "",
         "help": "re-sync every K steps (0 = never: a free rollout)", "live": True, "choices": [], "log": False,
         "step": None}


def test_parameters_spanning_decades_get_logarithmic_sliders(qtbot):
    from attractor_lab.widgets.param_panel import ParamPanel

    panel = ParamPanel()
    qtbot.addWidget(panel)
    panel.set_schema([DU, TEMPERATURE])
    du = panel.editors["Du"]
    assert du.log and not panel.editors["temperature"].log  # 0..3 by 0.05 stays linear
    got = []
    panel.value_changed.connect(lambda n, v: got.append(v))
    position = du.slider.value()
    assert 0 < position < 1000
    du.slider.setValue(position + 1)  # one notch near the default moves it by a few per cent
    assert got[-1] / 0.16 - 1 == pytest.approx(0.016, abs=0.01)
    du.slider.setValue(1)  # one notch above 0: a value three decades below the default, not 1.0
    assert 0 < got[-1] <= 1e-3
    du.slider.setValue(0)
    assert got[-1] == 0.0
    du.slider.setValue(1000)
    assert got[-1] == pytest.approx(1000.0)


def test_a_zero_that_means_something_is_shown_as_a_word(qtbot):
    from attractor_lab.widgets.param_panel import ParamPanel, zero_text

    panel = ParamPanel()
    qtbot.addWidget(panel)
    panel.set_schema([LENGTH, EVERY, TEMPERATURE])
    assert panel.editors["length"].box.text() == "auto"
    assert panel.editors["reset_every"].box.text() == "never"
    assert panel.editors["temperature"].box.text() == "0"
    panel.set_values({"length": 128.0})
    assert panel.editors["length"].box.text() == "128"
    assert zero_text({"min": 0, "help": "fires every this many time units (0: none)"}) == "none"
    assert zero_text({"min": 1, "help": "0 means auto"}) == ""


def test_a_3d_window_opens_beside_the_main_window_never_over_its_status_bar():
    from PySide6 import QtCore

    from attractor_lab.widgets.gl_frame import place_beside

    screen, size = QtCore.QRect(0, 0, 1920, 1080), QtCore.QSize(460, 420)
    main = QtCore.QRect(0, 0, 1400, 900)
    at = place_beside(main, size, screen)
    assert at.x() > main.right() and at.y() == main.top()  # right of it
    at = place_beside(QtCore.QRect(500, 100, 1400, 900), size, screen)
    assert at.x() + size.width() < 500  # left of it when the right has no room
    full = QtCore.QRect(0, 0, 1920, 1040)
    at = place_beside(full, size, screen)
    window = QtCore.QRect(at, size)
    assert window.bottom() < full.bottom() - 30 and screen.contains(window)  # clear of the status bar
    second = place_beside(main, size, screen, index=1)
    assert second != place_beside(main, size, screen)
