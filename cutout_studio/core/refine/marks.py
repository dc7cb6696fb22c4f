"""Marks: the user's foreground and background input, and the alpha each one's effect writes.

A :class:`Mark` is what remains of one painted stroke: its footprint (the pixels it labels, at
full and at working resolution) and its effect (the alpha values its graph cut wrote, as a
sparse :class:`Layer`). The mask is a function of the marks: the automatic mask, then each
mark's effect in order, then every mark's footprint forced to 1 (foreground) or 0 (background).
:func:`compose` evaluates that on any rectangle, so that removing a mark (the eraser) gives
back exactly what the other marks make, and a mark can never flip pixels painted by a mark of
the other kind (footprints are forced last).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cutout_studio.core.refine.strokes import LABEL_BG, LABEL_FG, stroke_bounds, stroke_mask
from cutout_studio.core.tiles import Box

Resolution = Literal["full", "work"]


@dataclass(frozen=True)
class Footprint:
    """Pixels of a rectangle ``box`` = (y0, y1, x0, x1): ``mask`` is its bool (y1−y0)×(x1−x0) array."""

    box: Box
    mask: np.ndarray

    @property
    def empty(self) -> bool:
        return not bool(self.mask.any())

    def minus(self, other: Footprint) -> Footprint:
        """These pixels without ``other``'s."""
        inter = intersect(self.box, other.box)
        if inter is None:
            return self
        mask = self.mask.copy()
        mask[_rel(inter, self.box)] &= ~other.mask[_rel(inter, other.box)]
        return Footprint(self.box, mask)

    def overlaps(self, other: Footprint) -> bool:
        inter = intersect(self.box, other.box)
        return inter is not None and bool(
            (self.mask[_rel(inter, self.box)] & other.mask[_rel(inter, other.box)]).any()
        )


@dataclass(frozen=True)
class Layer:
    """Alpha values written inside ``box`` where ``mask`` is set (``values`` in row-major order)."""

    box: Box
    mask: np.ndarray
    values: np.ndarray

    @staticmethod
    def from_change(box: Box, old: np.ndarray, new: np.ndarray) -> Layer | None:
        """The pixels of ``new`` that differ from ``old`` (None when none do)."""
        mask = new != old
        if not mask.any():
            return None
        return Layer(box, mask, np.ascontiguousarray(new[mask], dtype=np.float32))

    def paste(self, target: np.ndarray, region: Box) -> None:
        """Write this layer's values into ``target``, the array of rectangle ``region``."""
        inter = intersect(self.box, region)
        if inter is None:
            return
        dense = np.zeros(self.mask.shape, np.float32)
        dense[self.mask] = self.values
        sel = self.mask[_rel(inter, self.box)]
        target[_rel(inter, region)][sel] = dense[_rel(inter, self.box)][sel]


@dataclass(frozen=True)
class Mark:
    """One foreground or background mark: footprints and effects at full and working resolution."""

    label: int
    full: Footprint
    work: Footprint
    effect_full: Layer | None = None
    effect_work: Layer | None = None

    def footprint(self, res: Resolution) -> Footprint:
        return self.full if res == "full" else self.work

    def effect(self, res: Resolution) -> Layer | None:
        return self.effect_full if res == "full" else self.effect_work

    def boxes(self, res: Resolution) -> list[Box]:
        """The rectangles this mark writes to (footprint and effect)."""
        effect = self.effect(res)
        return [self.footprint(res).box] + ([effect.box] if effect is not None else [])


def footprint(points: np.ndarray, radius: float, shape: tuple[int, int]) -> Footprint:
    """The pixels of an image of ``shape`` within ``radius`` of the polyline (possibly empty)."""
    y0, y1, x0, x1 = stroke_bounds(points, radius, shape[0], shape[1])
    return Footprint((y0, y1, x0, x1), stroke_mask(points, radius, x0, y0, x1 - x0, y1 - y0))


def compose(
    region: Box, auto: np.ndarray, marks: tuple[Mark, ...], res: Resolution
) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, labels) of ``region`` as the marks make them: the automatic mask, each mark's
    effect in order, then every footprint forced (later marks over earlier ones)."""
    y0, y1, x0, x1 = region
    alpha: np.ndarray = auto[y0:y1, x0:x1].astype(np.float32, copy=True)
    labels = np.zeros(alpha.shape, np.uint8)
    for mark in marks:
        effect = mark.effect(res)
        if effect is not None:
            effect.paste(alpha, region)
    for mark in marks:
        paint_labels(labels, region, mark.footprint(res), mark.label)
    force_labels(alpha, labels)
    return alpha, labels


def paint_labels(labels: np.ndarray, region: Box, fp: Footprint, label: int) -> None:
    """Write ``label`` into ``labels`` (the array of ``region``) under the footprint."""
    inter = intersect(fp.box, region)
    if inter is not None:
        labels[_rel(inter, region)][fp.mask[_rel(inter, fp.box)]] = label


def force_labels(alpha: np.ndarray, labels: np.ndarray) -> None:
    """Marks always win where painted."""
    alpha[labels == LABEL_FG] = 1.0
    alpha[labels == LABEL_BG] = 0.0


def intersect(a: Box, b: Box) -> Box | None:
    y0, y1, x0, x1 = max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3])
    return (y0, y1, x0, x1) if y0 < y1 and x0 < x1 else None


def union(boxes: list[Box]) -> Box | None:
    """The rectangle around all non-empty boxes (None when there is none)."""
    boxes = [b for b in boxes if b[0] < b[1] and b[2] < b[3]]
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        max(b[1] for b in boxes),
        min(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _rel(inner: Box, outer: Box) -> tuple[slice, slice]:
    """Slices of ``inner`` within an array that covers ``outer``."""
    return slice(inner[0] - outer[0], inner[1] - outer[0]), slice(inner[2] - outer[2], inner[3] - outer[2])
