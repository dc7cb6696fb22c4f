"""A graphics item that paints a finished :class:`Layer`, choosing its reduced copy by zoom."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from cutout_studio.qt.render import Layer


class ImageItem(QGraphicsItem):
    """Paints a :class:`Layer` at scene (0, 0), one scene unit per pixel, optionally clipped.

    When zoomed out it paints the layer's nearest reduced copy, so the cost follows the screen
    size, not the photo's megapixels.
    """

    def __init__(self) -> None:
        super().__init__()
        self._layer: Layer | None = None
        self._clip: QRectF | None = None
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def set_layer(self, layer: Layer | None) -> None:
        self.prepareGeometryChange()
        self._layer = layer
        self.update()

    @property
    def layer(self) -> Layer | None:
        return self._layer

    @property
    def image(self) -> QImage | None:
        return self._layer.image if self._layer is not None else None

    @property
    def clip(self) -> QRectF | None:
        return self._clip

    def set_clip(self, clip: QRectF | None) -> None:
        if clip != self._clip:
            self._clip = clip
            self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        if self._layer is None:
            return QRectF()
        return QRectF(0, 0, self._layer.image.width(), self._layer.image.height())

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self._layer is None:
            return
        rect = option.exposedRect.intersected(self.boundingRect())
        if self._clip is not None:
            rect = rect.intersected(self._clip)
        if rect.isEmpty():
            return
        zoom = painter.worldTransform().m11()
        scale, image = self._layer.level_for(zoom)
        # Smooth when zoomed out (no aliasing), crisp pixels when zoomed in to inspect edges.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom < 1.0)
        source = QRectF(rect.x() * scale, rect.y() * scale, rect.width() * scale, rect.height() * scale)
        painter.drawImage(rect, image, source)
