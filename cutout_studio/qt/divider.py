"""Split view's divider: where it cuts the photo, the two halves, and where the mouse grabs it.

The canvas draws the original photo in the left half and the cutout in the right one
(:mod:`canvas`); the divider is the line between them, kept as a fraction of the photo's
width so that it stays in place across zooms and photos.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsLineItem, QGraphicsView

#: how close (screen pixels) the mouse must be to grab the divider
GRAB_PX = 6.0


class Divider(QGraphicsLineItem):
    """The line of split view, at :attr:`fraction` of the photo's width."""

    def __init__(self) -> None:
        super().__init__()
        pen = QPen(QColor(255, 255, 255), 2)
        pen.setCosmetic(True)  # two screen pixels at any zoom
        self.setPen(pen)
        self.setZValue(5)
        self.setVisible(False)
        self.fraction = 0.5
        self.dragging = False  #: a drag started on the divider is moving it

    def halves(self, photo: QRectF) -> tuple[QRectF, QRectF]:
        """The photo's parts left and right of the divider (scene coordinates)."""
        x = photo.width() * self.fraction
        return QRectF(0, 0, x, photo.height()), QRectF(x, 0, photo.width() - x, photo.height())

    def place(self, photo: QRectF, visible: bool) -> None:
        x = photo.width() * self.fraction
        self.setLine(x, 0, x, photo.height())
        self.setVisible(visible)

    def near(self, view: QGraphicsView, photo: QRectF, view_pos: QPointF) -> bool:
        """``view_pos`` is within :data:`GRAB_PX` screen pixels of the line (over the photo's height)."""
        box = view.mapFromScene(photo).boundingRect()
        if not box.top() - GRAB_PX <= view_pos.y() <= box.bottom() + GRAB_PX:
            return False
        x = view.mapFromScene(QPointF(photo.width() * self.fraction, 0)).x()
        return abs(view_pos.x() - x) <= GRAB_PX

    def drag_to(self, scene_x: float, photo: QRectF) -> None:
        self.fraction = min(max(scene_x / max(photo.width(), 1.0), 0.0), 1.0)
