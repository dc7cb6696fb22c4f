"""The refine-edge brush: matting applied only where the user paints (hair, fur).

The edge option ``matting`` re-estimates alpha along the whole outline, which makes hard
product edges noisy. This brush runs the same closed-form matting
(:func:`cutout_studio.core.edges.apply_edges` with only ``matting`` on) on the painted
stroke's bounding box alone, and blends the matted alpha into the mask inside the stroke's
footprint only: a pixel farther than the radius from the stroke's path never changes.

**Hardness** shapes that footprint: the weight of the matted alpha is 1 within
``hardness × radius`` of the path and falls linearly to 0 at the radius (hardness 1: a hard
disk; 0: a cone). The graph-cut brushes (``fg``/``bg``/``erase``) are hard labels and take
no hardness.

Each stroke becomes an :class:`EdgePatch` (its box, matted alpha and weights) kept by
:class:`EdgeEdits`, which lays the patches over the mask that the marks produce, in order,
and keeps one undo order for patches and the session's own steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from cutout_studio.core.edges import EdgeOptions, apply_edges

__all__ = ["EdgeEdits", "EdgePatch", "footprint_weights", "refine_edge"]

#: Matting band (px) used for a brush of radius r: the painted width, within the option's range.
_MIN_BAND, _MAX_BAND = 2, 64


@dataclass(frozen=True)
class EdgePatch:
    """Matted alpha for the box (y0:y0+h, x0:x0+w), blended with ``weight`` (0 outside the stroke)."""

    y0: int
    x0: int
    alpha: np.ndarray  #: h×w float32, the matted alpha
    weight: np.ndarray  #: h×w float32 in [0, 1], the stroke's soft footprint

    def apply(self, alpha: np.ndarray) -> None:
        """Blend the patch into ``alpha`` in place (only where the weight is positive)."""
        h, w = self.weight.shape
        target = alpha[self.y0 : self.y0 + h, self.x0 : self.x0 + w]
        inside = self.weight > 0
        target[inside] += (self.alpha[inside] - target[inside]) * self.weight[inside]


def footprint_weights(
    points: Sequence[tuple[float, float]], radius: float, hardness: float, box: tuple[int, int, int, int]
) -> np.ndarray:
    """Weights in the box (y0, y1, x0, x1): 1 within hardness × radius of the path, 0 beyond
    the radius, linear in between. Points are (x, y) with pixel centres at integers."""
    y0, y1, x0, x1 = box
    path = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    shift = 4  # sub-pixel positions for cv2 drawing (1/16 px)
    pts = np.round((np.asarray(points, np.float64) - (x0, y0)) * (1 << shift)).astype(np.int32)
    cv2.polylines(path, [pts.reshape(-1, 1, 2)], False, 0, 1, cv2.LINE_8, shift)
    if len(pts) == 1:
        cv2.circle(path, (int(pts[0, 0]), int(pts[0, 1])), 0, 0, -1, cv2.LINE_8, shift)
    distance = cv2.distanceTransform(path, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    hardness = float(min(max(hardness, 0.0), 1.0))
    core = hardness * radius
    if radius - core < 1e-6:
        return (distance <= radius).astype(np.float32)
    weight: np.ndarray = np.clip((radius - distance) / np.float32(radius - core), 0.0, 1.0)
    return weight.astype(np.float32)


def refine_edge(
    rgb: np.ndarray,
    alpha: np.ndarray,
    points: Sequence[tuple[float, float]],
    radius: float,
    hardness: float = 1.0,
) -> EdgePatch | None:
    """Matte the painted region: the patch for a stroke along ``points`` (None if it misses the photo).

    The matting runs on the stroke's bounding box plus a margin that gives it known
    foreground and background around the band; only the footprint is blended back.
    """
    if radius <= 0 or not len(points):
        raise ValueError("a refine-edge stroke needs points and a positive radius")
    height, width = alpha.shape
    xy = np.asarray(points, np.float64)
    band = int(min(max(math.ceil(radius), _MIN_BAND), _MAX_BAND))
    reach = math.ceil(radius) + 1
    x0, y0 = (max(0, math.floor(v) - reach) for v in xy.min(axis=0))
    x1 = min(width, math.ceil(xy[:, 0].max()) + reach + 1)
    y1 = min(height, math.ceil(xy[:, 1].max()) + reach + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    weight = footprint_weights(points, radius, hardness, (y0, y1, x0, x1))
    if not weight.any():
        return None
    margin = 2 * band + 8  # context: known pixels on both sides of the band
    cy0, cx0 = max(0, y0 - margin), max(0, x0 - margin)
    cy1, cx1 = min(height, y1 + margin), min(width, x1 + margin)
    matted = apply_edges(
        rgb[cy0:cy1, cx0:cx1], alpha[cy0:cy1, cx0:cx1], EdgeOptions(matting=True, decontaminate=False, band=band)
    )
    crop = np.ascontiguousarray(matted[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0], dtype=np.float32)
    return EdgePatch(y0, x0, crop, weight)


@dataclass
class EdgeEdits:
    """The refine-edge patches of one photo, laid over the marks' mask, and the shared undo order.

    ``order`` lists every undoable step, oldest first: ``("session", None)`` for a step of
    the refine session (a stroke, an erase), ``("edge", patch)`` for a refine-edge stroke and
    ``("reset", patches)`` for a reset, which drops the patches and gives them back on undo.
    """

    patches: list[EdgePatch] = field(default_factory=list)
    order: list[tuple[str, object]] = field(default_factory=list)
    undone: list[tuple[str, object]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.patches

    def session_step(self) -> None:
        self._push(("session", None))

    def add(self, patch: EdgePatch) -> None:
        self.patches.append(patch)
        self._push(("edge", patch))

    def reset(self) -> None:
        self._push(("reset", list(self.patches)))
        self.patches = []

    def _push(self, entry: tuple[str, object]) -> None:
        self.order.append(entry)
        self.undone.clear()

    def next_undo(self) -> str | None:
        """What an undo would undo: "session", "edge", "reset" or None (session steps made
        before this object existed count as "session")."""
        return self.order[-1][0] if self.order else "session"

    def next_redo(self) -> str | None:
        return self.undone[-1][0] if self.undone else "session"

    def undo(self) -> None:
        """Undo the last step's patch part (the caller undoes the session's part)."""
        if not self.order:  # a session step older than the patches
            self.undone.append(("session", None))
            return
        kind, data = entry = self.order.pop()
        if kind == "edge":
            self.patches.pop()
        elif kind == "reset":
            self.patches = list(data)  # type: ignore[call-overload]
        self.undone.append(entry)

    def redo(self) -> None:
        if not self.undone:
            return
        kind, data = entry = self.undone.pop()
        if kind == "edge":
            self.patches.append(data)  # type: ignore[arg-type]
        elif kind == "reset":
            self.patches = []
        self.order.append(entry)

    def apply(self, alpha: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``alpha`` with every patch blended in, oldest first, into ``out`` (default: a new
        array; ``alpha`` is unchanged)."""
        if out is None:
            out = np.array(alpha, dtype=np.float32)
        else:
            np.copyto(out, alpha)
        for patch in self.patches:
            patch.apply(out)
        return out
