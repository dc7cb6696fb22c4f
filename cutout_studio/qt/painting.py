"""What the canvas paints that is not a layer: the checkerboard behind transparent pixels and
the placeholder text of an empty canvas."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPixmap

_CHECKER_LIGHT, _CHECKER_DARK = QColor(204, 204, 204), QColor(150, 150, 150)


def checker_brush(square: int = 10) -> QBrush:
    """A brush of light and dark squares ``square`` px wide, for transparent areas."""
    tile = QPixmap(2 * square, 2 * square)
    tile.fill(_CHECKER_LIGHT)
    painter = QPainter(tile)
    painter.fillRect(0, 0, square, square, _CHECKER_DARK)
    painter.fillRect(square, square, square, square, _CHECKER_DARK)
    painter.end()
    return QBrush(tile)


def draw_placeholder(painter: QPainter, viewport: QRect, text: str) -> None:
    """``text`` centred and wrapped in ``viewport``, in screen pixels whatever the zoom."""
    painter.save()
    painter.resetTransform()
    painter.setPen(QColor(190, 190, 190))
    font = painter.font()
    font.setPointSizeF(font.pointSizeF() * 1.3)
    painter.setFont(font)
    painter.drawText(viewport.adjusted(20, 20, -20, -20),
                     Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
    painter.restore()
