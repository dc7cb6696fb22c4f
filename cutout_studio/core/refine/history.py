"""Sparse undo history: each step stores only the pixels it changed, before and after.

A stroke on a 24-megapixel photo changes a few thousand pixels; storing those (their flat
indices inside the changed rectangle, their old and new values) instead of copies of the
arrays keeps hundreds of steps in memory and makes undo and redo exact and instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cutout_studio.core.refine.marks import Mark
from cutout_studio.core.refine.strokes import Stroke
from cutout_studio.core.tiles import Box

#: Undo history is trimmed (oldest first) beyond this many bytes of stored pixel changes.
DEFAULT_HISTORY_BYTES = 512 * 1024 * 1024


@dataclass
class Patch:
    """The pixels of one array inside one rectangle that a step changed, before and after."""

    name: str
    y0: int
    x0: int
    width: int
    #: flat indices inside the rectangle (row * width + col) of ``before`` and ``after``; None
    #: when they are the whole rectangle (2-D), for changes too dense to be worth listing
    index: np.ndarray | None
    before: np.ndarray
    after: np.ndarray

    @property
    def nbytes(self) -> int:
        listed = 0 if self.index is None else self.index.nbytes
        return int(listed + self.before.nbytes + self.after.nbytes)


@dataclass
class Step:
    """One undo step: the patches it wrote, in order, what it did to the list of strokes
    (a stroke added, or a reset that cleared the strokes listed) and the marks before and
    after it (undo and redo act on marks: the arrays follow them)."""

    patches: list[Patch] = field(default_factory=list)
    added: Stroke | None = None
    cleared: tuple[Stroke, ...] | None = None
    marks_before: tuple[Mark, ...] = ()
    marks_after: tuple[Mark, ...] = ()
    #: per array name: the bounding box of every pixel the step wrote a new value to (what an
    #: editor recomposites after the step, its undo or its redo, instead of diffing the array)
    boxes: dict[str, Box] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.patches)

    def grow(self, name: str, box: Box) -> None:
        old = self.boxes.get(name)
        self.boxes[name] = box if old is None else union_box(old, box)


def union_box(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


class History:
    """Named arrays that change only through :meth:`write`, with undo and redo of whole steps.

    Not thread-safe by itself: the owner serialises calls (RefineSession holds its lock).
    """

    def __init__(self, arrays: dict[str, np.ndarray], max_bytes: int = DEFAULT_HISTORY_BYTES) -> None:
        self.arrays = arrays
        self._max_bytes = max_bytes
        self._undo: list[Step] = []
        self._redo: list[Step] = []

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def write(self, step: Step, name: str, y0: int, x0: int, new: np.ndarray) -> None:
        """Write ``new`` into array ``name`` at (y0, x0), recording only the pixels that change."""
        h, w = new.shape
        region = self.arrays[name][y0 : y0 + h, x0 : x0 + w]
        differs = region != new
        rows = np.flatnonzero(differs.any(axis=1))
        if rows.size == 0:
            return
        cols = np.flatnonzero(differs.any(axis=0))
        step.grow(name, (y0 + int(rows[0]), y0 + int(rows[-1]) + 1, x0 + int(cols[0]), x0 + int(cols[-1]) + 1))
        changed = np.flatnonzero(differs)
        index_type = np.dtype(np.int32 if h * w < 2**31 else np.int64)
        if changed.size * (index_type.itemsize + 2 * new.itemsize) >= 2 * new.nbytes:
            # Most of the rectangle changes (a large area flipped): gathering and scattering
            # each pixel would cost more time and memory than keeping the rectangle.
            step.patches.append(Patch(name, y0, x0, w, None, region.copy(), new.copy()))
            region[...] = new
            return
        # Boolean indexing reads in row-major order, as flatnonzero lists; on the strided view
        # of a large array it touches only the box (ravel() would copy it).
        before = region[differs]
        after = new[differs]
        region[differs] = after
        step.patches.append(Patch(name, y0, x0, w, changed.astype(index_type), before, after))

    def push(self, step: Step) -> None:
        """Record a finished step; it clears the redo stack and may trim the oldest steps."""
        self._undo.append(step)
        self._redo.clear()
        total = sum(s.nbytes for s in self._undo)
        while len(self._undo) > 1 and total > self._max_bytes:
            total -= self._undo.pop(0).nbytes

    def undo(self) -> Step | None:
        """Revert the last step and return it; None when there is nothing to undo."""
        if not self._undo:
            return None
        step = self._undo.pop()
        for patch in reversed(step.patches):
            self._put(patch, patch.before)
        self._redo.append(step)
        return step

    def redo(self) -> Step | None:
        """Re-apply the last undone step and return it; None when there is nothing to redo."""
        if not self._redo:
            return None
        step = self._redo.pop()
        for patch in step.patches:
            self._put(patch, patch.after)
        self._undo.append(step)
        return step

    def _put(self, patch: Patch, values: np.ndarray) -> None:
        if patch.index is None:
            h, w = values.shape
            self.arrays[patch.name][patch.y0 : patch.y0 + h, patch.x0 : patch.x0 + w] = values
            return
        rows, cols = np.divmod(patch.index, patch.width)
        self.arrays[patch.name][patch.y0 + rows, patch.x0 + cols] = values
