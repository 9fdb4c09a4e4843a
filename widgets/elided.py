"""A label that elides its text (…) when short of space and then shows it whole as a tooltip."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets


class ElidedLabel(QtWidgets.QLabel):
    """One line of plain text: as wide as the text when there is room, elided at the right
    when there is not (never clipped mid-letter), with the whole text as the tooltip then."""

    def __init__(self, text: str = "", parent=None, template: str = ""):
        super().__init__(text, parent)
        self.template = template  # a text as long as the longest usual one: the width does not jitter
        self.setSizePolicy(QtWidgets.QSizePolicy.Preferred, QtWidgets.QSizePolicy.Preferred)
        self.setMinimumWidth(40)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt API)
        width = self.sizeHint().width()
        super().setText(text)
        if self.sizeHint().width() != width:  # the status bar is laid out again only then (not every frame)
            self.updateGeometry()
        self._update_tip()

    def sizeHint(self):  # noqa: N802 (Qt API)
        fm = self.fontMetrics()
        width = max(fm.horizontalAdvance(self.text()), fm.horizontalAdvance(self.template))
        return QtCore.QSize(width + 12, fm.height() + 2)

    def minimumSizeHint(self):  # noqa: N802 (Qt API)
        fm = self.fontMetrics()
        return QtCore.QSize(min(self.sizeHint().width(), fm.horizontalAdvance("…") * 6), fm.height() + 2)

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def shown_text(self) -> str:
        """The text as drawn now (elided or whole)."""
        return self.fontMetrics().elidedText(self.text(), QtCore.Qt.ElideRight, self.contentsRect().width())

    def _update_tip(self) -> None:
        self.setToolTip(self.text() if self.is_elided() else "")

    def resizeEvent(self, event):  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._update_tip()

    def paintEvent(self, event):  # noqa: N802 (Qt API)
        painter = QtGui.QPainter(self)
        painter.setPen(self.palette().color(QtGui.QPalette.WindowText))
        painter.drawText(self.contentsRect(), int(self.alignment() | QtCore.Qt.AlignVCenter), self.shown_text())
        painter.end()
