"""A graphics view that zooms within limits and pans by dragging: the canvas's navigation."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QGraphicsView

MIN_ZOOM, MAX_ZOOM = 0.02, 32.0


class ZoomingView(QGraphicsView):
    """Zoom (clamped to MIN_ZOOM..MAX_ZOOM) and drag-panning; subclasses hear of each zoom
    through :meth:`_after_zoom`."""

    _pan_anchor: QPoint | None = None

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float) -> None:
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        self.scale(zoom / self.zoom, zoom / self.zoom)
        self._after_zoom()

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.zoom * factor)

    def actual_size(self) -> None:
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.set_zoom(1.0)
        self.setTransformationAnchor(anchor)

    def _after_zoom(self) -> None:
        """The zoom changed (the canvas redraws its brush cursor and says so)."""

    def _pan_to(self, pos: QPoint) -> None:
        assert self._pan_anchor is not None
        delta = pos - self._pan_anchor
        self._pan_anchor = pos
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
