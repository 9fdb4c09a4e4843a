"""The window's status bar and what the engine reports: rates, states, errors, a dead or restarted engine.

A mixin of :class:`~app.main_window.MainWindow` (app/main_window.py wires it).
"""

from __future__ import annotations

import time

from PySide6 import QtWidgets

from attractor_lab.widgets.elided import ElidedLabel


class StatusMixin:
    """The status bar and the engine's reports: a mixin of :class:`~app.main_window.MainWindow`."""

    #: a "Simulation stopped" dialog is open (errors that come meanwhile go to the status bar)
    _stop_dialog_open = False
    _stops_unshown = 0
    _last_unshown_stop = ""

    def _build_statusbar(self):
        sb = self.statusBar()
        self.device_label = ElidedLabel("device: –")
        self.rate_label = ElidedLabel("engine: – steps/s", template="engine: 123,456 steps/s")
        self.fps_label = ElidedLabel("display: – frames/s", template="display: 30 frames/s")
        self.time_label = ElidedLabel("t = 0", template="t = 1234.56 (step 1234567)")
        self.state_label = ElidedLabel("")
        # each field as wide as its text when there is room; elided (with the whole text as
        # a tooltip) when the window is narrow, never cut mid-word without a trace
        for w, stretch in ((self.device_label, 0), (self.rate_label, 0), (self.fps_label, 0),
                           (self.time_label, 0), (self.state_label, 1)):
            sb.addPermanentWidget(w, stretch)

    def _on_status(self, s: dict):
        if self.current is not None and s.get("model") == self.current["name"]:
            self._follow_engine_pending(s.get("pending"))
        self.rate_label.setText(f"engine: {s.get('steps_per_second', 0):,.0f} steps/s")
        self._show_frame_steps(s)
        rec = s.get("recording")
        state = s.get("state", "")
        job = s.get("job")
        if state == "busy" and job:
            state = f"busy: {job['verb']} ({job['seconds']:.0f} s; Esc cancels)"
        self.state_label.setText(state + (f" · rec {rec}" if rec is not None and self.recording else ""))
        # follow the engine (it pauses itself on errors), but not a status sent
        # before the user's own run/pause reached it
        recent = time.monotonic() - self._toggled_at < 1.5
        if not recent and self.running != (state == "running") and state in ("running", "paused"):
            self._show_running(state == "running")

    def _show_frame_steps(self, s: dict) -> None:
        """When the device cannot do the steps per frame asked, the frames keep their rate
        and carry fewer steps (the engine adapts): the display field says how many."""
        done, asked = s.get("frame_steps"), s.get("steps_per_frame") or 0
        text = "" if s.get("keeps_up", True) or done is None else \
            f" · {done:.{1 if done < 10 else 0}f} of {asked} steps/frame"
        self._frame_steps_text = text

    def _on_engine_error(self, message: str, where: str):
        self.statusBar().showMessage(f"{where}: {message}", 15000)
        if where == "step":  # the engine paused itself (diverged or failed)
            self._show_running(False)
            if self._stop_dialog_open:  # a flood of errors: one dialog, the rest in the status bar
                self._stops_unshown += 1
                self._last_unshown_stop = message
                return
            self._stop_dialog_open, self._stops_unshown = True, 0
            try:
                QtWidgets.QMessageBox.warning(self, "Simulation stopped", message)
            finally:
                self._stop_dialog_open = False
            if self._stops_unshown:
                self.statusBar().showMessage(f"{self._stops_unshown} more stop(s) while the dialog was open; "
                                             f"the last: {self._last_unshown_stop}", 15000)
            self._refocus()  # after the dialog: keys go to the window's shortcuts

    def _on_events_lost(self, missed: int, missed_errors: int, message: str):
        """Engine events the window could no longer fetch: a lasting mark in the status bar
        (the total so far; the message as its tooltip) besides the passing message."""
        if getattr(self, "lost_events_label", None) is None:
            self.lost_events_label = QtWidgets.QLabel()
            self.statusBar().addPermanentWidget(self.lost_events_label)
        errors = self.engine.errors_lost_total
        self.lost_events_label.setText(f"⚠ {errors} engine errors lost" if errors else
                                       f"⚠ {self.engine.events_lost_total} engine events lost")
        self.lost_events_label.setToolTip(message)
        self.statusBar().showMessage(message, 30000)

    def _on_dead(self, message: str):
        self.state_label.setText("engine dead")
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Critical, "Engine", message.split("\n\n")[0],
                                    QtWidgets.QMessageBox.Close, self)
        if "\n\n" in message:  # the engine's stderr tail
            box.setDetailedText(message.split("\n\n", 1)[1])
            box.setInformativeText(message.split("\n\n", 1)[1].splitlines()[-1])
        restart = box.addButton("Restart engine", QtWidgets.QMessageBox.AcceptRole)
        box.setModal(False)
        box.buttonClicked.connect(lambda b: self.restart_engine() if b is restart else None)
        box.show()
        self.dead_box = box

    def _on_liveness(self, verdict: str, message: str):
        if verdict == "alive":
            self.statusBar().showMessage("the engine answers again", 5000)
        else:
            self.state_label.setText("engine not answering" if verdict == "dead" else "engine busy")
            self.statusBar().showMessage(message, 15000)

    def restart_engine(self):
        """Start the engine again; the run continues from the last frame received."""
        self.state_label.setText("restarting engine…")
        self.engine.restart()

    def cancel_job(self):
        self.engine.request("cancel", {}, lambda c: self.statusBar().showMessage(
            f"cancelled: {', '.join(c['cancelled'])}" if c.get("cancelled") else "nothing to cancel", 5000))
