"""Help → Connect from Python: the two lines that attach a notebook to this window's engine."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets


def connect_lines(connection_file) -> str:
    """The code to paste into Python or Jupyter (``repr`` quotes the path safely)."""
    return f"import attractor_lab as al\nsim = al.connect({str(connection_file)!r})"


class ConnectDialog(QtWidgets.QDialog):
    """Shows the lines to paste, with a Copy button. ``engine`` is the window's
    :class:`~attractor_lab.app.engine_client.QtEngine`: a local engine's file is in
    the runtime folder; an engine attached with ``--connect`` has the file given."""

    def __init__(self, window: QtWidgets.QWidget, engine):
        super().__init__(window)
        self.setWindowTitle("Connect from Python")
        path = engine.remote_file or getattr(engine, "connection_file", None)
        self.code = QtWidgets.QPlainTextEdit()
        self.code.setReadOnly(True)
        self.code.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.FixedFont))
        if path is not None:
            self.text = connect_lines(path)
            intro = ("Paste these lines into Python or a Jupyter notebook on this machine: <code>sim</code> is "
                     "the run you are watching. <code>sim.set(F=0.04)</code> changes a parameter (the panel "
                     "follows), <code>sim.step(100)</code> pauses the live run and advances 100 steps, "
                     "<code>sim.run()</code> runs it again, <code>sim.state()</code> and "
                     "<code>sim.record(steps=…, every=…)</code> return numpy arrays. "
                     "<code>al.connect()</code> with no argument finds the window started last.")
        else:
            self.text = ""
            intro = "No engine is running yet: wait until the window shows a model."
        self.code.setPlainText(self.text)
        lines = max(2, self.text.count("\n") + 1)
        self.code.setFixedHeight(self.code.fontMetrics().lineSpacing() * (lines + 1) + 12)
        label = QtWidgets.QLabel(intro)
        label.setWordWrap(True)
        label.setTextFormat(QtCore.Qt.RichText)
        self.copy_button = QtWidgets.QPushButton("Copy")
        self.copy_button.setToolTip("Copy the two lines to the clipboard")
        self.copy_button.setEnabled(bool(self.text))
        self.copy_button.clicked.connect(self.copy)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Close)
        buttons.addButton(self.copy_button, QtWidgets.QDialogButtonBox.ActionRole)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(label)
        lay.addWidget(self.code)
        lay.addWidget(buttons)
        self.resize(640, self.sizeHint().height())

    def copy(self) -> None:
        QtWidgets.QApplication.clipboard().setText(self.text)
        self.copy_button.setText("Copied")
