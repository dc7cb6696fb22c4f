"""Brush strokes: what the user painted (kind, polyline, radius) and the exact pixels it covers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

StrokeKind = Literal["fg", "bg", "erase"]

#: Stroke labels, as stored in :attr:`RefineSession.labels`.
LABEL_NONE = 0
LABEL_FG = 1
LABEL_BG = 2
_KIND_LABEL: dict[str, int] = {"fg": LABEL_FG, "bg": LABEL_BG}

#: Points in full-resolution (x, y), N×2 float64.
Points = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Stroke:
    """One brush stroke as the user painted it: replaying a session's strokes, in order, with
    :meth:`RefineSession.add_stroke` on the same photo and automatic mask gives the same mask.

    ``points`` is the polyline in full-resolution (x, y) (one point is a dot); ``radius`` the
    brush radius in full-resolution pixels.
    """

    kind: StrokeKind
    points: tuple[tuple[float, float], ...]
    radius: float

    @property
    def label(self) -> int:
        """LABEL_FG, LABEL_BG, or LABEL_NONE for an erase."""
        return _KIND_LABEL.get(self.kind, LABEL_NONE)

    def array(self) -> Points:
        """The points as an N×2 float64 array."""
        return np.array(self.points, dtype=np.float64).reshape(-1, 2)


def parse_stroke(kind: str, points: Sequence[tuple[float, float]], radius: float) -> Stroke:
    """A checked :class:`Stroke`; ValueError with a one-line reason for anything unusable."""
    if kind not in ("fg", "bg", "erase"):
        raise ValueError(f"stroke kind must be 'fg', 'bg' or 'erase', got {kind!r}")
    try:
        radius = float(radius)
    except (TypeError, ValueError):
        raise ValueError(f"stroke radius must be a number, got {radius!r}") from None
    if not math.isfinite(radius) or radius <= 0:
        raise ValueError(f"stroke radius must be a positive number of pixels, got {radius}")
    try:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise ValueError("stroke points must be a sequence of (x, y) pairs") from None
    if len(pts) == 0:
        raise ValueError("a stroke needs at least one (x, y) point")
    if not np.isfinite(pts).all():
        raise ValueError("stroke points must be finite numbers")
    as_tuples = tuple((float(x), float(y)) for x, y in pts.tolist())
    return Stroke(cast(StrokeKind, kind), as_tuples, radius)


def stroke_mask(
    points: np.ndarray, radius: float, x0: int, y0: int, width: int, height: int
) -> npt.NDArray[np.bool_]:
    """Pixels of the rectangle (x0, y0, width, height) whose centre lies within ``radius`` of the polyline.

    Pixel (col, row) has its centre at (col, row) in image coordinates. One point is a dot.
    Exact, not a rasterisation approximation: the stroke the user sees is the stroke applied.
    """
    mask = np.zeros((height, width), bool)
    if len(points) == 0 or width <= 0 or height <= 0:
        return mask
    pts = np.asarray(points, dtype=np.float64)
    starts, ends = (pts, pts) if len(pts) == 1 else (pts[:-1], pts[1:])
    # Long segments are cut into pieces about a diameter long: each piece only examines the
    # pixels of its own small bounding box, so the cost follows the stroke's area.
    piece_len = max(2.0 * radius, 4.0)
    r2 = radius * radius
    for a, b in zip(starts, ends, strict=True):
        pieces = max(1, math.ceil(float(np.hypot(*(b - a))) / piece_len))
        for k in range(pieces):
            p = a + (b - a) * (k / pieces)
            q = a + (b - a) * ((k + 1) / pieces)
            bx0 = max(x0, math.floor(min(p[0], q[0]) - radius))
            bx1 = min(x0 + width, math.ceil(max(p[0], q[0]) + radius) + 1)
            by0 = max(y0, math.floor(min(p[1], q[1]) - radius))
            by1 = min(y0 + height, math.ceil(max(p[1], q[1]) + radius) + 1)
            if bx0 >= bx1 or by0 >= by1:
                continue
            xs = np.arange(bx0, bx1, dtype=np.float64)[None, :] - p[0]
            ys = np.arange(by0, by1, dtype=np.float64)[:, None] - p[1]
            d = q - p
            length2 = float(d @ d)
            if length2 > 0:
                t = np.clip((xs * d[0] + ys * d[1]) / length2, 0.0, 1.0)
                dist2 = (xs - t * d[0]) ** 2 + (ys - t * d[1]) ** 2
            else:
                dist2 = xs**2 + ys**2
            mask[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] |= dist2 <= r2
    return mask


def stroke_bounds(points: np.ndarray, radius: float, height: int, width: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) bounding the stroke, clipped to the image (may be empty)."""
    x0 = max(0, math.floor(points[:, 0].min() - radius))
    x1 = min(width, math.ceil(points[:, 0].max() + radius) + 1)
    y0 = max(0, math.floor(points[:, 1].min() - radius))
    y1 = min(height, math.ceil(points[:, 1].max() + radius) + 1)
    return y0, max(y0, y1), x0, max(x0, x1)
