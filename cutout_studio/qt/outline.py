"""The edge-outline view: the mask's 0.5 outline drawn over the photo as a black-and-white
dashed line ("marching ants", still), so stray bits and holes show in any view at any zoom.

The outline is kept per square tile of the photo: a full pass traces only tiles near the
outline, and an edit re-traces only the tiles its changed box touches, so the cost follows
the outline's length and the edit's size, not the photo's megapixels. Each tile's contours
are traced on the tile plus a one-pixel margin and drawn clipped to the tile, so a boundary
between two tiles is drawn once. Where the subject runs past the traced crop, OpenCV closes its
contour along the crop's border: those edges are dropped before drawing (clipping alone is not
enough: zoomed out, the border lies a fraction of a screen pixel outside the tile and the pen
drew a grid of tile edges across the subject).

Paths are built on the worker (QPainterPath is a plain value type); the item only draws them.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QByteArray, QDataStream, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from cutout_studio.core.tiles import Box, spread, tile_extrema

OUTLINE_TILE = 512
#: (tile row, tile column) -> its contours in scene coordinates (empty: no outline there)
OutlineTiles = dict[tuple[int, int], QPainterPath]


def _tile_path(alpha: np.ndarray, ty: int, tx: int) -> QPainterPath:
    height, width = alpha.shape
    y0, x0 = ty * OUTLINE_TILE, tx * OUTLINE_TILE
    cy0, cx0 = max(0, y0 - 1), max(0, x0 - 1)
    cy1, cx1 = min(height, y0 + OUTLINE_TILE + 1), min(width, x0 + OUTLINE_TILE + 1)
    hard = (alpha[cy0:cy1, cx0:cx1] >= 0.5).astype(np.uint8)
    path = QPainterPath()
    low, high = cv2.minMaxLoc(hard)[:2]
    if low == high:
        return path
    contours, _ = cv2.findContours(hard, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    lines = [line for c in contours for line in _without_crop_border(c.reshape(-1, 2), hard.shape)]
    # Pixel (col, row) covers [col, col + 1) in the scene: its centre is col + 0.5.
    return polyline_path([line + (cx0 + 0.5, cy0 + 0.5) for line in lines])


def _without_crop_border(loop: np.ndarray, shape: tuple[int, ...]) -> list[np.ndarray]:
    """The closed contour ``loop`` (N×2 x, y) as open polylines without its edges that run along
    the crop's border (OpenCV's closing of a region cut by the crop, not an edge of the mask)."""
    height, width = shape[:2]
    ring = np.vstack([loop, loop[:1]])
    a, b = ring[:-1], ring[1:]
    vertical = (a[:, 0] == b[:, 0]) & ((a[:, 0] == 0) | (a[:, 0] == width - 1))
    horizontal = (a[:, 1] == b[:, 1]) & ((a[:, 1] == 0) | (a[:, 1] == height - 1))
    border = vertical | horizontal
    if not border.any():
        return [ring]
    # start the walk just after a border edge, so that no kept run wraps around the loop's end
    first = int(np.argmax(border)) + 1
    order = np.roll(np.arange(len(border)), -first)
    lines: list[np.ndarray] = []
    run: list[int] = []
    for edge in order:
        if border[edge]:
            if run:
                lines.append(np.vstack([a[run], b[run[-1]]]))
            run = []
        else:
            run.append(edge)
    if run:
        lines.append(np.vstack([a[run], b[run[-1]]]))
    return lines


#: One element of QPainterPath's serialised form: type (0 move, 1 line), x, y; big-endian.
_ELEMENT = np.dtype([("type", ">i4"), ("x", ">f8"), ("y", ">f8")])


def polyline_path(lines: list[np.ndarray]) -> QPainterPath:
    """A path of polylines (each N×2 x, y; a closed one repeats its first point), built in one
    go from QPainterPath's binary form: thousands of outline points would otherwise cost a
    Python object each."""
    count = sum(len(line) for line in lines)
    elements = np.empty(count, _ELEMENT)
    start = 0
    for line in lines:
        end = start + len(line)
        elements["type"][start] = 0
        elements["type"][start + 1 : end] = 1
        elements["x"][start:end], elements["y"][start:end] = line[:, 0], line[:, 1]
        start = end
    data = np.array([count], ">i4").tobytes() + elements.tobytes() + np.array([0], ">i4").tobytes()
    path = QPainterPath()
    QDataStream(QByteArray(data)) >> path  # the count, the elements, the fill rule (0: odd-even)
    return path


def trace_outline(alpha: np.ndarray, box: Box | None = None) -> OutlineTiles:
    """The outline's tiles: all of them (``box`` None; tiles far from the outline are left out),
    or every tile touching ``box`` (y0, y1, x0, x1), each with its fresh path (maybe empty)."""
    height, width = alpha.shape
    rows, cols = -(-height // OUTLINE_TILE), -(-width // OUTLINE_TILE)
    if box is None:
        mins, maxs = tile_extrema(alpha, OUTLINE_TILE)
        above = (maxs >= 0.5).astype(np.uint8)
        # A neighbour's edge one pixel away still shows in this tile: spread by one tile.
        active = spread(above, 1, grow=True) != spread((mins >= 0.5).astype(np.uint8), 1, grow=False)
        cells = [(int(ty), int(tx)) for ty, tx in zip(*np.nonzero(active))]
    else:
        y0, y1, x0, x1 = box
        # One pixel around the box: a tile whose margin changed re-traces too.
        ty0, ty1 = max(0, (y0 - 1) // OUTLINE_TILE), min(rows - 1, y1 // OUTLINE_TILE)
        tx0, tx1 = max(0, (x0 - 1) // OUTLINE_TILE), min(cols - 1, x1 // OUTLINE_TILE)
        cells = [(ty, tx) for ty in range(ty0, ty1 + 1) for tx in range(tx0, tx1 + 1)]
    return {cell: _tile_path(alpha, *cell) for cell in cells}


class OutlineItem(QGraphicsItem):
    """Draws the outline tiles with a cosmetic (screen-pixel) pen, above the layer."""

    def __init__(self) -> None:
        super().__init__()
        self._tiles: OutlineTiles = {}
        self._size = (0, 0)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self._dark = QPen(QColor(0, 0, 0), 1.0)
        self._light = QPen(QColor(255, 255, 255), 1.0)
        self._light.setDashPattern([4.0, 4.0])
        for pen in (self._dark, self._light):
            pen.setCosmetic(True)
            pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)

    def set_tiles(self, tiles: OutlineTiles, size: tuple[int, int]) -> None:
        """Show ``tiles`` (empty paths are skipped) for a photo of ``size`` (w, h)."""
        self.prepareGeometryChange()
        self._tiles = {cell: path for cell, path in tiles.items() if not path.isEmpty()}
        self._size = size
        self.update()

    @property
    def tile_count(self) -> int:
        return len(self._tiles)

    def path(self) -> QPainterPath:
        """Every tile's contours as one path (tests and tools; painting uses the tiles)."""
        whole = QPainterPath()
        for path in self._tiles.values():
            whole.addPath(path)
        return whole

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return QRectF(0, 0, *self._size)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        exposed = option.exposedRect
        for (ty, tx), path in self._tiles.items():
            tile = QRectF(tx * OUTLINE_TILE, ty * OUTLINE_TILE, OUTLINE_TILE, OUTLINE_TILE)
            if not tile.intersects(exposed):
                continue
            painter.save()
            painter.setClipRect(tile)
            for pen in (self._dark, self._light):
                painter.setPen(pen)
                painter.drawPath(path)
            painter.restore()
