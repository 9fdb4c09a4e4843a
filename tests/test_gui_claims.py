"""The window shows a preset's claim (its contract, in words) beside its description."""

import pytest

from attractor_lab.engine.storage.presets import shipped_presets_dir
from tests.gui_helpers import open_window

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):
    win, _engine = open_window(qtbot)
    yield win
    win.close()


def _load(qtbot, win, path):
    with qtbot.waitSignal(win.model_loaded, timeout=30_000):
        assert win.load_preset_file(path)
    return win.about_label.text()


def test_claim_shown_beside_the_description(qtbot, window, tmp_path):
    text = _load(qtbot, window, shipped_presets_dir() / "hopfield_retrieval.toml")
    assert "Retrieval deep in the phase" in text  # title and description as before
    assert "Checked claim" in text
    assert "after 20 steps: m_cued in [0.99, 1]" in text and "m_cued within 0.01 of m_theory" in text

    # a reaction–diffusion preset: the pattern, with the simulated time from its dt
    text = _load(qtbot, window, shipped_presets_dir() / "brusselator_spots.toml")
    assert "after 5 000 steps (t = 20): u shows spots" in text
    assert "grid-scale power ≤ 0.0001" in text

    # a preset without a contract claims nothing
    mine = tmp_path / "mine.toml"
    mine.write_text('format_version = 1\nmodel = "gray_scott"\ntitle = "mine"\n[params]\ngrid = 64\n')
    text = _load(qtbot, window, mine)
    assert "mine" in text and "Checked claim" not in text


def test_a_description_with_a_less_than_sign_is_shown_whole(qtbot, window):
    """Rich text read "(|λ| < 1 …" as the start of a tag and cut the rest (rate_network_edge)."""
    from PySide6 import QtGui

    _load(qtbot, window, shipped_presets_dir() / "rate_network_edge.toml")
    doc = QtGui.QTextDocument()
    doc.setHtml(window.about_label.text())
    shown = doc.toPlainText()
    assert "<" in window.preset.description and window.preset.description in shown
