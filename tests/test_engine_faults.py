"""A faulty engine (ATTRACTOR_LAB_FAULT) and the GUI client's recovery."""

import pytest

pytestmark = pytest.mark.gui


def _engine(monkeypatch, fault, **kw):
    from attractor_lab.app.engine_client import QtEngine

    monkeypatch.setenv("ATTRACTOR_LAB_FAULT", fault)
    return QtEngine(device="cpu", **kw)


def test_crash_on_start_hits_restart_limit(qtbot, monkeypatch):
    eng = _engine(monkeypatch, "crash_on_start", restart_limit=2)
    errors = []
    eng.engine_error.connect(lambda m, w: errors.append(m))
    with qtbot.waitSignal(eng.dead, timeout=60_000) as dead:
        eng.start()
    assert "restarted 2 times" in dead.args[0]
    assert sum("restarting" in e for e in errors) == 2
    eng.shutdown()


def test_no_reply_times_out_with_message(qtbot, monkeypatch):
    import attractor_lab.app.engine_client as ec

    monkeypatch.setattr(ec, "REPLY_TIMEOUT_S", 1.0)
    eng = _engine(monkeypatch, "no_reply")
    errors = []
    eng.engine_error.connect(lambda m, w: errors.append(m))
    eng.start()
    qtbot.waitUntil(lambda: any("did not answer info" in e for e in errors), timeout=60_000)
    eng.shutdown()
    assert eng.proc is None


def test_garbage_replies_are_dropped(qtbot, monkeypatch):
    eng = _engine(monkeypatch, "garbage")
    errors = []
    eng.engine_error.connect(lambda m, w: errors.append(m))
    eng.start()
    qtbot.waitUntil(lambda: any("dropped a reply" in e for e in errors), timeout=60_000)
    assert not eng.info  # nothing garbled was taken for an answer
    eng.shutdown()
