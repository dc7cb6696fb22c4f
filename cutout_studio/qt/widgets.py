"""Small widgets shared by the panels and dialogs."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QPushButton, QWidget


class ColorButton(QPushButton):
    """A button showing a colour swatch; clicking it opens a colour picker."""

    color_changed = Signal(QColor)

    def __init__(self, color: QColor, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self._color = QColor(color)
        self.setFixedWidth(56)
        self.clicked.connect(self._pick)
        self._paint()

    @property
    def color(self) -> QColor:
        return QColor(self._color)

    def set_color(self, color: QColor) -> None:
        if color.isValid() and color != self._color:
            self._color = QColor(color)
            self._paint()
            self.color_changed.emit(QColor(color))

    def _paint(self) -> None:
        self.setStyleSheet(
            f"QPushButton {{ background: {self._color.name()}; border: 1px solid #777; min-height: 18px; }}"
        )

    def _pick(self) -> None:
        self.set_color(QColorDialog.getColor(self._color, self, self._title))
