"""The canvas: the photo, the mask layer and the brushes, in a zoomable QGraphicsView.

Scene coordinates are photo pixels: pixel (col, row) covers the square [col, col+1) ×
[row, row+1), so its centre is (col + 0.5, row + 0.5). The engine puts pixel centres at
integer coordinates, hence :meth:`Canvas.scene_to_image` subtracts half a pixel: the stroke
that the user sees painted is exactly the set of pixels the engine labels.

Painting is cheap on purpose: the layers are finished QImages made on a worker
(:mod:`render`), and items draw only the exposed part of them; an edit patches the layer's
pixels in a box and repaints that box (:meth:`Canvas.update_layer`).

The brush size is in screen pixels (:attr:`Canvas.brush_radius`): the brush looks the same at
any zoom, and each stroke gets its radius in photo pixels at the zoom its drag started with
(:attr:`Canvas.image_radius`). The edge outline (:mod:`outline`) is drawn above the layer in
every view but the original photo while it is switched on.

Split view shows the photo left of the :mod:`divider` and the cutout right of it in any view
(:func:`state.split_view_mode`); a drag on the divider moves it, never paints.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QFocusEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QWidget,
)

from cutout_studio.qt.brushes import BRUSH_TOOLS, GESTURES, STROKE_COLOURS
from cutout_studio.qt.divider import Divider
from cutout_studio.qt.image_item import ImageItem
from cutout_studio.qt.outline import OutlineItem, OutlineTiles
from cutout_studio.qt.painting import checker_brush, draw_placeholder
from cutout_studio.qt.render import CUTOUT_MODES, Layer
from cutout_studio.qt.state import split_view_mode
from cutout_studio.qt.zooming_view import MAX_ZOOM, MIN_ZOOM, ZoomingView

__all__ = ["BRUSH_TOOLS", "GESTURES", "STROKE_COLOURS", "Canvas"]

_BACKGROUND = QColor(43, 43, 46)
PLACEHOLDER = "Open photos (Ctrl+O) or drop photos and folders here"


class Canvas(ZoomingView):
    #: kind, [(x, y) photo pixels], radius in photo pixels, hardness (0..1)
    stroke_finished = Signal(str, list, float, float)
    zoom_changed = Signal(float)
    brush_resize_requested = Signal(int)  #: +1 / -1 (Ctrl+wheel)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setMouseTracking(True)
        self.setAcceptDrops(False)  # drops go to the main window, which opens them
        self.viewport().setAcceptDrops(False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        # Panning is by space/middle drag; the scroll bars would only take room from the photo.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.photo_item = ImageItem()
        self.layer_item = ImageItem()
        self.layer_item.setZValue(1)
        self.outline_item = OutlineItem()
        self.outline_item.setZValue(2)
        self.show_outline = True
        self._stroke_items: list[QGraphicsPathItem] = []
        self._cursor = QGraphicsEllipseItem()
        self._cursor.setZValue(10)
        pen = QPen(QColor(255, 255, 255), 1.5)
        pen.setCosmetic(True)
        self._cursor.setPen(pen)
        self._cursor.setVisible(False)
        self.divider = Divider()
        for item in (self.photo_item, self.layer_item, self.outline_item, self._cursor, self.divider):
            self.scene().addItem(item)

        self.tool = "fg"
        #: the brush radius in SCREEN pixels: the brush keeps its size on screen at any zoom
        self.brush_radius = 12.0
        self.brush_hardness = 1.0
        self._stroke_radius = 0.0  #: the photo-pixel radius of the stroke being painted
        self.mode = "overlay"  #: the chosen view mode (split view shows the cutout whatever it is)
        self.layer_mode: str | None = None  #: the view mode the shown layer was made for
        self.cutout_color = QColor(255, 255, 255)
        self.split = False
        self.comparing = False
        self.brushes_enabled = False
        self._stroke: list[tuple[float, float]] | None = None
        self._stroke_path: QPainterPath | None = None
        self._pan_anchor: QPoint | None = None
        self._space_held = False
        self._on_divider = False  #: the mouse is where a press grabs the divider
        self._checker = checker_brush()
        self.placeholder = PLACEHOLDER

        self._busy_label = QLabel(self.viewport())
        self._busy_label.setStyleSheet(
            "QLabel { background: rgba(20,20,20,200); color: white; padding: 6px 10px; border-radius: 4px; }"
        )
        self._busy_label.move(12, 12)
        self._busy_label.hide()

    # ------------------------------------------------------------------ content

    @property
    def has_photo(self) -> bool:
        return self.photo_item.image is not None

    @property
    def photo_rect(self) -> QRectF:
        return self.photo_item.boundingRect()

    def set_photo(self, photo: Layer | None, *, fit: bool = True) -> None:
        """Show a new photo (its layer is cleared until the next one arrives)."""
        self.cancel_stroke()
        self.clear_stroke_previews()
        self.photo_item.set_layer(photo)
        self.layer_item.set_layer(None)
        self.set_outline({})
        self.layer_mode = None
        rect = self.photo_rect
        self.scene().setSceneRect(rect.adjusted(-rect.width(), -rect.height(), rect.width(), rect.height()))
        self._update_clips()
        if fit and photo is not None:
            self.fit()
        self.viewport().update()

    def set_layer(self, layer: Layer | None, mode: str | None = None) -> None:
        """Show ``layer``, made for view ``mode`` (default: the current one).

        Until the layer for a newly chosen mode arrives, the previous one stays on screen and
        is drawn as what it is (an overlay above the photo, a cutout on its background), so the
        result never disappears while an update runs.
        """
        self.layer_item.set_layer(layer)
        self.layer_mode = (mode or self.mode) if layer is not None else None
        self._update_clips()

    def update_layer(self, box: tuple[int, int, int, int]) -> None:
        """Repaint the part (y0, y1, x0, x1) of the layer whose pixels were just patched."""
        y0, y1, x0, x1 = box
        self.layer_item.update(QRectF(x0, y0, x1 - x0, y1 - y0))

    def set_outline(self, tiles: OutlineTiles) -> None:
        """The mask's outline, drawn over the photo while the outline view is on."""
        rect = self.photo_rect
        self.outline_item.set_tiles(tiles, (round(rect.width()), round(rect.height())))

    def set_show_outline(self, on: bool) -> None:
        self.show_outline = on
        self._update_clips()

    @property
    def outline_visible(self) -> bool:
        return self.outline_item.isVisible()

    @property
    def view_mode(self) -> str:
        """The mode the layer should be made for: the chosen one, or split view's cutout."""
        return split_view_mode(self.mode) if self.split else self.mode

    @property
    def shown_mode(self) -> str:
        """The mode the canvas draws: its layer's while that is on screen, else the wanted one."""
        if self.layer_mode is not None and self.view_mode != "original":
            return self.layer_mode
        return self.view_mode

    def set_placeholder(self, text: str | None) -> None:
        """What the empty canvas says (a failed photo's reason, or how to open photos)."""
        self.placeholder = text or PLACEHOLDER
        self.viewport().update()

    def set_busy(self, text: str | None) -> None:
        if text:
            self._busy_label.setText(text)
            self._busy_label.adjustSize()
            self._busy_label.show()
        else:
            self._busy_label.hide()

    # ------------------------------------------------------------------ view modes

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._update_clips()

    def set_cutout_color(self, color: QColor) -> None:
        self.cutout_color = QColor(color)
        self.viewport().update()

    def set_split(self, on: bool) -> None:
        self.split = on
        self.divider.dragging = self.divider.dragging and on
        self._update_clips()
        self._update_cursor(self.mapFromGlobal(QCursor.pos()))

    def set_comparing(self, on: bool) -> None:
        """Show the original photo while a key is held (quick before/after)."""
        if on != self.comparing:
            self.comparing = on
            self._update_clips()

    def _update_clips(self) -> None:
        left, right = self.divider.halves(self.photo_rect)
        # No layer yet (a photo just opened): the photo itself, rather than an empty background.
        photo_under_layer = self.shown_mode in ("overlay", "original") or self.layer_item.image is None
        showing_original = self.comparing or self.view_mode == "original"
        self.layer_item.setVisible(not showing_original and self.layer_item.image is not None)
        self.layer_item.set_clip(right if self.split else None)
        self.photo_item.setVisible(photo_under_layer or showing_original or self.split)
        self.photo_item.set_clip(
            left if self.split and not photo_under_layer and not showing_original else None
        )
        self.outline_item.setVisible(self.show_outline and not showing_original and self.has_photo)
        self.divider.place(self.photo_rect, self.split and not showing_original and self.has_photo)
        self.viewport().update()

    def drawBackground(self, painter: QPainter, rect: QRectF | QRect) -> None:  # noqa: N802
        painter.fillRect(rect, _BACKGROUND)
        if not self.has_photo or self.comparing or self.shown_mode not in CUTOUT_MODES:
            return
        photo = self.divider.halves(self.photo_rect)[1] if self.split else self.photo_rect
        if self.shown_mode == "color":
            painter.fillRect(photo, self.cutout_color)
            return
        # The checkerboard is drawn in screen pixels so its squares keep their size at any zoom.
        painter.save()
        painter.resetTransform()
        device = self.mapFromScene(photo).boundingRect().intersected(self.viewport().rect())
        painter.fillRect(device, self._checker)
        painter.restore()

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:  # noqa: N802
        if not self.has_photo:
            draw_placeholder(painter, self.viewport().rect(), self.placeholder)

    # ------------------------------------------------------------------ zoom and pan

    def fit(self) -> None:
        if self.has_photo:
            self.fitInView(self.photo_rect, Qt.AspectRatioMode.KeepAspectRatio)
            if self.zoom > MAX_ZOOM or self.zoom < MIN_ZOOM:
                self.set_zoom(self.zoom)
            self._after_zoom()

    def _after_zoom(self) -> None:
        self._update_cursor(self.mapFromGlobal(self.cursor().pos()))
        self.zoom_changed.emit(self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if not steps:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.brush_resize_requested.emit(1 if steps > 0 else -1)
            return
        self.zoom_by(1.25**steps)  # AnchorUnderMouse keeps the point under the cursor in place
        event.accept()

    def _start_pan(self, pos: QPoint) -> None:
        self._pan_anchor = pos
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def _end_pan(self) -> None:
        self._pan_anchor = None
        self._update_cursor_shape()

    # ------------------------------------------------------------------ brushes

    def scene_to_image(self, point: QPointF) -> tuple[float, float]:
        return (point.x() - 0.5, point.y() - 0.5)

    def _event_scene_pos(self, event: QMouseEvent) -> QPointF:
        inverted, _ok = self.viewportTransform().inverted()
        return inverted.map(event.position())

    def set_tool(self, tool: str) -> None:
        self.tool = tool
        self._update_cursor_shape()
        self._update_cursor(self.mapFromGlobal(QCursor.pos()))

    def set_brush_radius(self, radius: float) -> None:
        """The brush radius in screen pixels (the state's size is a screen-pixel diameter)."""
        self.brush_radius = max(0.5, float(radius))
        self._update_cursor(self.mapFromGlobal(self.cursor().pos()))

    def set_brush_hardness(self, hardness: float) -> None:
        self.brush_hardness = float(min(max(hardness, 0.0), 1.0))

    @property
    def image_radius(self) -> float:
        """The brush radius in photo pixels at the current zoom (what a stroke is given)."""
        return max(0.5, self.brush_radius / max(self.zoom, 1e-6))

    def set_brushes_enabled(self, enabled: bool) -> None:
        self.brushes_enabled = enabled
        if not enabled:
            self.cancel_stroke()
        self._update_cursor_shape()

    def _brush_active(self) -> bool:
        return self.brushes_enabled and self.tool in BRUSH_TOOLS and self.has_photo and not self._space_held

    def _update_cursor_shape(self) -> None:
        if self._pan_anchor is not None:
            return
        if self._on_divider and not (self.tool == "pan" or self._space_held):
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor)
        elif self.tool == "pan" or self._space_held:
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        elif self._brush_active():
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.viewport().unsetCursor()

    def _update_cursor(self, view_pos: QPoint) -> None:
        inside = self.viewport().rect().contains(view_pos)
        on_divider = self.divider.dragging or (
            inside and self._stroke is None and self._grabs_divider(QPointF(view_pos))
        )
        if on_divider != self._on_divider:
            self._on_divider = on_divider
            self._update_cursor_shape()
        if on_divider or not (self._brush_active() and inside):
            self._cursor.setVisible(False)
            return
        centre = self.mapToScene(view_pos)
        r = self.image_radius
        self._cursor.setRect(centre.x() - r, centre.y() - r, 2 * r, 2 * r)
        self._cursor.setVisible(True)

    def _begin_stroke(self, scene_pos: QPointF) -> None:
        self._stroke = [self.scene_to_image(scene_pos)]
        self._stroke_radius = self.image_radius  # zooming during a drag keeps the stroke's size
        self._stroke_path = QPainterPath(scene_pos)
        self._stroke_path.lineTo(scene_pos)  # a click is a dot
        item = QGraphicsPathItem()
        pen = QPen(STROKE_COLOURS[self.tool], 2 * self._stroke_radius)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        item.setPen(pen)
        item.setZValue(3)
        item.setPath(self._stroke_path)
        self.scene().addItem(item)
        self._stroke_items.append(item)

    def _extend_stroke(self, scene_pos: QPointF) -> None:
        assert self._stroke is not None and self._stroke_path is not None
        point = self.scene_to_image(scene_pos)
        if point == self._stroke[-1]:
            return
        self._stroke.append(point)
        self._stroke_path.lineTo(scene_pos)
        self._stroke_items[-1].setPath(self._stroke_path)

    def _end_stroke(self) -> None:
        points, self._stroke, self._stroke_path = self._stroke, None, None
        if points:
            self.stroke_finished.emit(self.tool, points, float(self._stroke_radius), self.brush_hardness)

    def cancel_stroke(self) -> None:
        if self._stroke is not None:
            self._stroke = None
            self._stroke_path = None
            if self._stroke_items:
                self.scene().removeItem(self._stroke_items.pop())

    def clear_stroke_previews(self) -> None:
        """Remove the painted previews of strokes whose result is now on screen."""
        keep = self._stroke_items[-1:] if self._stroke is not None else []
        for item in self._stroke_items:
            if item not in keep:
                self.scene().removeItem(item)
        self._stroke_items = keep

    @property
    def pending_stroke_previews(self) -> int:
        return len(self._stroke_items)

    # ------------------------------------------------------------------ events

    def _grabs_divider(self, view_pos: QPointF) -> bool:
        """A left press here moves the divider: near it, and not panning (which comes first)."""
        if not self.split or not self.has_photo or self.comparing:
            return False
        panning = self._pan_anchor is not None or self._space_held or self.tool == "pan"
        return not panning and self.divider.near(self, self.photo_rect, view_pos)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position().toPoint()
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and (self._space_held or self.tool == "pan")
        ):
            self._start_pan(pos)
        elif event.button() == Qt.MouseButton.LeftButton and self._grabs_divider(event.position()):
            self.divider.dragging = True
        elif event.button() == Qt.MouseButton.LeftButton and self._brush_active():
            self._begin_stroke(self._event_scene_pos(event))
        else:
            super().mousePressEvent(event)
            return
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position().toPoint()
        if self._pan_anchor is not None:
            self._pan_to(pos)
        elif self.divider.dragging:
            self.divider.drag_to(self._event_scene_pos(event).x(), self.photo_rect)
            self._update_clips()
        elif self._stroke is not None:
            self._extend_stroke(self._event_scene_pos(event))
        self._update_cursor(pos)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_anchor is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._end_pan()
        elif self.divider.dragging and event.button() == Qt.MouseButton.LeftButton:
            self.divider.dragging = False
        elif self._stroke is not None and event.button() == Qt.MouseButton.LeftButton:
            self._extend_stroke(self._event_scene_pos(event))
            self._end_stroke()
        else:
            super().mouseReleaseEvent(event)
            return
        event.accept()

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802
        self._cursor.setVisible(False)
        if self._on_divider and not self.divider.dragging:
            self._on_divider = False
            self._update_cursor_shape()
        super().leaveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self._cursor.setVisible(False)
            self._update_cursor_shape()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape and self._stroke is not None:
            self.cancel_stroke()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self._update_cursor_shape()
            self._update_cursor(self.mapFromGlobal(QCursor.pos()))
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        self._space_held = False  # a release we never saw must not leave the pan mode stuck
        super().focusOutEvent(event)

