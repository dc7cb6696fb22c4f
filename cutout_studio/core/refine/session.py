"""RefineSession: the brush strokes of one photo, their undo history and the refined mask."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from cutout_studio.core.guided import working_size
from cutout_studio.core.refine.graphcut import DEFAULT_MAX_SOLVE_PIXELS, Solution, solve
from cutout_studio.core.refine.history import DEFAULT_HISTORY_BYTES, History, Step
from cutout_studio.core.refine.snap import blend_weight, snap_to_full
from cutout_studio.core.refine.strokes import (
    LABEL_BG,
    LABEL_FG,
    LABEL_NONE,
    Points,
    Stroke,
    StrokeKind,
    parse_stroke,
    stroke_bounds,
    stroke_mask,
)
from cutout_studio.core.tiles import Box


class RefineSession:
    """Brush refinement of one photo's automatic mask.

    ``rgb`` (H×W×3 uint8) is kept by reference: do not modify it while the session lives.
    ``alpha`` is the automatic mask, H×W float in [0, 1] (uint8 0..255 accepted); it is copied.

    Thread-safety: every public method takes an internal lock, so concurrent calls are
    serialised, but the session is meant to be driven by one worker thread at a time (the GUI's
    refinement worker). Arrays returned by :meth:`refine` and :attr:`labels` are read-only
    views of live buffers: they change with the next stroke, undo, redo or reset, so copy
    them (``np.array(x)``) to keep a snapshot or to read them from another thread while the
    worker may be writing.
    """

    def __init__(
        self,
        rgb: np.ndarray,
        alpha: np.ndarray,
        *,
        work_max_side: int = 1024,
        max_solve_pixels: int = DEFAULT_MAX_SOLVE_PIXELS,
        history_bytes: int = DEFAULT_HISTORY_BYTES,
    ) -> None:
        rgb = np.asarray(rgb)
        if (
            rgb.dtype != np.uint8
            or rgb.ndim != 3
            or rgb.shape[2] != 3
            or rgb.shape[0] < 1
            or rgb.shape[1] < 1
        ):
            raise ValueError(f"rgb must be an H×W×3 uint8 array, got {rgb.dtype} with shape {rgb.shape}")
        auto = _automatic_alpha(alpha, rgb.shape[:2])
        if max_solve_pixels < 1024:
            raise ValueError(f"max_solve_pixels must be >= 1024, got {max_solve_pixels}")

        self._lock = threading.Lock()
        self._rgb = np.ascontiguousarray(rgb)
        self._height, self._width = int(rgb.shape[0]), int(rgb.shape[1])
        self._auto = auto
        self._auto.setflags(write=False)
        self._max_solve_pixels = max_solve_pixels

        # The working copy: every graph cut runs on it (or on a reduced crop of it).
        work_h, work_w = working_size(self._height, self._width, work_max_side)
        self._scale = (work_h / self._height, work_w / self._width)
        same = (work_h, work_w) == (self._height, self._width)
        self._work_rgb = (
            self._rgb if same else cv2.resize(self._rgb, (work_w, work_h), interpolation=cv2.INTER_AREA)
        )
        work_auto = auto if same else cv2.resize(auto, (work_w, work_h), interpolation=cv2.INTER_AREA)
        self._work_auto = np.array(work_auto, np.float32)
        self._work_auto.setflags(write=False)

        # Live state: full-resolution alpha and labels, and their working-resolution twins
        # (the graph cut's seeds). Undo steps record changes to all four.
        self._history = History(
            {
                "alpha": auto.copy(),
                "labels": np.zeros((self._height, self._width), np.uint8),
                "work_alpha": self._work_auto.copy(),
                "work_labels": np.zeros((work_h, work_w), np.uint8),
            },
            history_bytes,
        )
        self._arrays = self._history.arrays
        self._strokes: list[Stroke] = []
        self._alpha_view: np.ndarray = self._arrays["alpha"].view()
        self._alpha_view.setflags(write=False)
        self._labels_view: np.ndarray = self._arrays["labels"].view()
        self._labels_view.setflags(write=False)

    # ----------------------------------------------------------------- public API

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the photo."""
        return self._height, self._width

    @property
    def labels(self) -> np.ndarray:
        """H×W uint8 read-only view: 0 no stroke, 1 foreground stroke, 2 background stroke."""
        return self._labels_view

    @property
    def strokes(self) -> tuple[Stroke, ...]:
        """The strokes behind the current mask, oldest first: undone ones are left out and a
        reset starts the list afresh. Replaying them with :meth:`add_stroke` on a new session
        of the same photo and automatic mask gives the same mask (a saved edit's record)."""
        with self._lock:
            return tuple(self._strokes)

    @property
    def can_undo(self) -> bool:
        return self._history.can_undo

    @property
    def can_redo(self) -> bool:
        return self._history.can_redo

    def add_stroke(self, kind: StrokeKind, points: Sequence[tuple[float, float]], radius: float) -> None:
        """Apply one brush stroke (one undo step).

        ``kind``: "fg" (this is the subject), "bg" (this is not) or "erase" (back to the
        automatic mask under the brush, labels removed). ``points``: the stroke's polyline in
        full-resolution (x, y); a single point is a dot. ``radius``: brush radius in
        full-resolution pixels, > 0.
        """
        stroke = parse_stroke(kind, points, radius)
        with self._lock:
            step = Step(added=stroke)
            if stroke.kind == "erase":
                self._erase(stroke, step)
            else:
                self._paint(stroke, step)
            self._history.push(step)
            self._strokes.append(stroke)

    def undo(self) -> bool:
        """Revert the last stroke, erase or reset; False when there is nothing to undo."""
        with self._lock:
            step = self._history.undo()
            if step is None:
                return False
            if step.added is not None:
                self._strokes.pop()
            if step.cleared is not None:
                self._strokes[:] = step.cleared
            return True

    def redo(self) -> bool:
        """Re-apply the last undone step; False when there is nothing to redo."""
        with self._lock:
            step = self._history.redo()
            if step is None:
                return False
            if step.added is not None:
                self._strokes.append(step.added)
            if step.cleared is not None:
                self._strokes.clear()
            return True

    def reset(self) -> None:
        """Back to the automatic mask with no strokes (one undo step)."""
        with self._lock:
            step = Step(cleared=tuple(self._strokes))
            write = self._history.write
            write(step, "alpha", 0, 0, self._auto)
            write(step, "labels", 0, 0, np.zeros_like(self._arrays["labels"]))
            write(step, "work_alpha", 0, 0, self._work_auto)
            write(step, "work_labels", 0, 0, np.zeros_like(self._arrays["work_labels"]))
            self._history.push(step)
            self._strokes.clear()

    def refine(self) -> np.ndarray:
        """The current H×W float32 alpha in [0, 1] (a read-only view of the live buffer).

        Strokes are solved when added, so this is free; it is exactly 1 under foreground
        strokes and exactly 0 under background strokes.
        """
        with self._lock:
            return self._alpha_view

    # ----------------------------------------------------------------- strokes

    def _to_work(self, points: Points, radius: float) -> tuple[Points, float]:
        """A stroke's points and radius in working pixels (half-pixel-centre mapping)."""
        scale_y, scale_x = self._scale
        pts = (points + 0.5) * (scale_x, scale_y) - 0.5
        # At least ~one working pixel, so that a thin stroke still seeds the graph cut.
        return pts, max(radius * min(scale_x, scale_y), 0.75)

    def _erase(self, stroke: Stroke, step: Step) -> None:
        """Remove labels under the brush and return the alpha there to the automatic mask, at
        full resolution and on the working copy alike."""
        points = stroke.array()
        self._erase_in(step, points, stroke.radius, "labels", "alpha", self._auto)
        work_pts, work_radius = self._to_work(points, stroke.radius)
        self._erase_in(step, work_pts, work_radius, "work_labels", "work_alpha", self._work_auto)

    def _erase_in(
        self, step: Step, points: Points, radius: float, labels_name: str, alpha_name: str, auto: np.ndarray
    ) -> None:
        height, width = self._arrays[labels_name].shape
        y0, y1, x0, x1 = stroke_bounds(points, radius, height, width)
        if y1 <= y0 or x1 <= x0:
            return
        inside = stroke_mask(points, radius, x0, y0, x1 - x0, y1 - y0)
        labels = self._arrays[labels_name][y0:y1, x0:x1].copy()
        labels[inside] = LABEL_NONE
        alpha = self._arrays[alpha_name][y0:y1, x0:x1].copy()
        alpha[inside] = auto[y0:y1, x0:x1][inside]
        self._history.write(step, labels_name, y0, x0, labels)
        self._history.write(step, alpha_name, y0, x0, alpha)

    def _paint(self, stroke: Stroke, step: Step) -> None:
        points, label = stroke.array(), stroke.label
        labels = self._arrays["labels"]
        fy0, fy1, fx0, fx1 = stroke_bounds(points, stroke.radius, self._height, self._width)
        if fy1 <= fy0 or fx1 <= fx0:
            return  # entirely outside the photo: nothing to paint, an empty undo step
        inside = stroke_mask(points, stroke.radius, fx0, fy0, fx1 - fx0, fy1 - fy0)
        painted = labels[fy0:fy1, fx0:fx1].copy()
        painted[inside] = label
        self._history.write(step, "labels", fy0, fx0, painted)

        work_pts, work_radius = self._to_work(points, stroke.radius)
        work_labels = self._arrays["work_labels"]
        wy0, wy1, wx0, wx1 = stroke_bounds(work_pts, work_radius, *work_labels.shape)
        solution: Solution | None = None
        if wy1 > wy0 and wx1 > wx0:
            work_inside = stroke_mask(work_pts, work_radius, wx0, wy0, wx1 - wx0, wy1 - wy0)
            work_painted = work_labels[wy0:wy1, wx0:wx1].copy()
            work_painted[work_inside] = label
            self._history.write(step, "work_labels", wy0, wx0, work_painted)
            solution = solve(
                self._work_rgb,
                self._arrays["work_alpha"],
                work_labels,
                label,
                work_pts,
                work_radius,
                (wy0, wy1, wx0, wx1),
                self._max_solve_pixels,
            )

        rect: Box = (fy0, fy1, fx0, fx1)
        snapped = None
        if solution is not None and solution.changed.any():
            snapped = snap_to_full(solution, self._rgb, self._arrays["alpha"], self._scale)
            self._write_work(step, solution)
            rect = _union(rect, snapped[0])
        y0, y1, x0, x1 = rect
        new_alpha = self._arrays["alpha"][y0:y1, x0:x1].copy()
        if snapped is not None:
            (sy0, sy1, sx0, sx1), values = snapped
            new_alpha[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = values
        # Strokes always win where painted, whatever the cut or the snapping decided.
        region_labels = labels[y0:y1, x0:x1]
        new_alpha[region_labels == LABEL_FG] = 1.0
        new_alpha[region_labels == LABEL_BG] = 0.0
        self._history.write(step, "alpha", y0, x0, new_alpha)

    def _write_work(self, step: Step, solution: Solution) -> None:
        """Carry the cut's result into the working-resolution alpha (the next stroke's seeds)."""
        y0, y1, x0, x1 = solution.roi
        new: np.ndarray = solution.new_fg.astype(np.float32)
        weight: np.ndarray = blend_weight(solution)
        if new.shape != (y1 - y0, x1 - x0):
            new = cv2.resize(new, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
            weight = cv2.resize(weight, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        old = self._arrays["work_alpha"][y0:y1, x0:x1]
        updated = old + weight * (new - old)
        labels = self._arrays["work_labels"][y0:y1, x0:x1]
        updated[labels == LABEL_FG] = 1.0
        updated[labels == LABEL_BG] = 0.0
        self._history.write(step, "work_alpha", y0, x0, updated.astype(np.float32))


def _automatic_alpha(alpha: np.ndarray, shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """The automatic mask as a float32 copy in [0, 1]; ValueError for a wrong shape or type."""
    alpha = np.asarray(alpha)
    if alpha.shape != shape:
        raise ValueError(f"alpha must be H×W = {shape} like the photo, got shape {alpha.shape}")
    if alpha.dtype == np.uint8:
        auto = alpha.astype(np.float32)
        auto *= np.float32(1 / 255)
        return auto
    if alpha.dtype == bool or np.issubdtype(alpha.dtype, np.floating):
        # One copy, then in place: at 24 MP every extra float32 temporary is 96 MB.
        auto = np.array(alpha, dtype=np.float32, order="C")
        np.nan_to_num(auto, copy=False)
        np.clip(auto, 0.0, 1.0, out=auto)
        return auto
    raise ValueError(f"alpha must be float in [0, 1] or uint8 0..255, got {alpha.dtype}")


def _union(r1: Box, r2: Box) -> Box:
    return min(r1[0], r2[0]), max(r1[1], r2[1]), min(r1[2], r2[2]), max(r1[3], r2[3])
