"""RefineSession: the brush strokes of one photo, their undo history and the refined mask."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from cutout_studio.core.guided import working_size
from cutout_studio.core.refine.graphcut import DEFAULT_MAX_SOLVE_PIXELS, Solution, solve
from cutout_studio.core.refine.history import DEFAULT_HISTORY_BYTES, History, Step, union_box
from cutout_studio.core.refine.marks import (
    Footprint,
    Layer,
    Mark,
    Resolution,
    compose,
    footprint,
    force_labels,
    paint_labels,
    union,
)
from cutout_studio.core.refine.snap import SOFT_EDGE, blend_weight, snap_to_full
from cutout_studio.core.refine.strokes import Points, Stroke, StrokeKind, parse_stroke
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

    Each stroke, erase, undo, redo or reset advances :attr:`version` and reports the box of
    the mask it changed (:attr:`last_change`, :meth:`changed_since`), so that an editor
    recomposites and copies only that box instead of comparing whole masks.
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
        self._marks: tuple[Mark, ...] = ()
        # Beyond this soft edge around the outline, what a mark changes is exactly 0 or 1; at least
        # a couple of full-resolution pixels per working pixel, where edges come from the snap.
        self._soft_edge = max(SOFT_EDGE, 1.5 / min(self._scale))
        self._alpha_view: np.ndarray = self._arrays["alpha"].view()
        self._alpha_view.setflags(write=False)
        self._labels_view: np.ndarray = self._arrays["labels"].view()
        self._labels_view.setflags(write=False)
        # (version after the change, box of the alpha it changed or None) of the latest changes
        self._version = 0
        self._changes: deque[tuple[int, Box | None]] = deque(maxlen=_CHANGE_LOG)

    # ----------------------------------------------------------------- public API

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the photo."""
        return self._height, self._width

    @property
    def soft_edge(self) -> float:
        """Half width (px) of the soft edge: farther than this from the 0.5 outline, every pixel
        a mark changed is exactly 0 or 1 (see the glossary)."""
        return self._soft_edge

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
    def version(self) -> int:
        """How many strokes, erases, undos, redos and resets this session has applied."""
        return self._version

    @property
    def last_change(self) -> Box | None:
        """(y0, y1, x0, x1) around every pixel of the alpha that the last stroke, erase, undo,
        redo or reset wrote a new value to; None when it changed nothing (or before any)."""
        with self._lock:
            return self._changes[-1][1] if self._changes else None

    def changed_since(self, version: int) -> Box | None:
        """(y0, y1, x0, x1) around every pixel of the alpha that may differ from what it was at
        ``version`` (a value of :attr:`version`); None when none does. The whole photo when
        ``version`` is older than the changes remembered (the last 256) or unknown."""
        with self._lock:
            if version == self._version:
                return None
            whole = (0, self._height, 0, self._width)
            if version > self._version or not self._changes or self._changes[0][0] > version + 1:
                return whole
            box: Box | None = None
            for after, changed in reversed(self._changes):
                if after <= version:
                    break
                if changed is not None:
                    box = changed if box is None else union_box(box, changed)
            return box

    @property
    def can_undo(self) -> bool:
        return self._history.can_undo

    @property
    def can_redo(self) -> bool:
        return self._history.can_redo

    def add_stroke(
        self, kind: StrokeKind, points: Sequence[tuple[float, float]], radius: float
    ) -> Box | None:
        """Apply one brush stroke (one undo step).

        ``kind``: "fg" (this is the subject), "bg" (this is not) or "erase" (removes the
        marks, or the parts of marks, under the brush; the mask is recomputed from the marks
        that remain, so erasing a stroke along its path gives back the mask from before it). ``points``: the stroke's polyline in
        full-resolution (x, y); a single point is a dot. ``radius``: brush radius in
        full-resolution pixels, > 0. Returns the box of the alpha it changed (None: none),
        as :attr:`last_change` does.
        """
        stroke = parse_stroke(kind, points, radius)
        with self._lock:
            step = Step(added=stroke, marks_before=self._marks)
            if stroke.kind == "erase":
                self._erase(stroke, step)
            else:
                self._paint(stroke, step)
            step.marks_after = self._marks
            self._history.push(step)
            self._strokes.append(stroke)
            return self._changed(step)

    def undo(self) -> bool:
        """Revert the last stroke, erase or reset; False when there is nothing to undo."""
        with self._lock:
            step = self._history.undo()
            if step is None:
                return False
            self._marks = step.marks_before
            if step.added is not None:
                self._strokes.pop()
            if step.cleared is not None:
                self._strokes[:] = step.cleared
            self._changed(step)
            return True

    def redo(self) -> bool:
        """Re-apply the last undone step; False when there is nothing to redo."""
        with self._lock:
            step = self._history.redo()
            if step is None:
                return False
            self._marks = step.marks_after
            if step.added is not None:
                self._strokes.append(step.added)
            if step.cleared is not None:
                self._strokes.clear()
            self._changed(step)
            return True

    def reset(self) -> None:
        """Back to the automatic mask with no strokes (one undo step)."""
        with self._lock:
            step = Step(cleared=tuple(self._strokes), marks_before=self._marks)
            write = self._history.write
            write(step, "alpha", 0, 0, self._auto)
            write(step, "labels", 0, 0, np.zeros_like(self._arrays["labels"]))
            write(step, "work_alpha", 0, 0, self._work_auto)
            write(step, "work_labels", 0, 0, np.zeros_like(self._arrays["work_labels"]))
            self._history.push(step)
            self._strokes.clear()
            self._marks = ()
            self._changed(step)

    def refine(self) -> np.ndarray:
        """The current H×W float32 alpha in [0, 1] (a read-only view of the live buffer).

        Strokes are solved when added, so this is free; it is exactly 1 under foreground
        strokes and exactly 0 under background strokes.
        """
        with self._lock:
            return self._alpha_view

    def _changed(self, step: Step) -> Box | None:
        """Log a step just applied, undone or redone: the next version and the alpha's box."""
        box = step.boxes.get("alpha")
        self._version += 1
        self._changes.append((self._version, box))
        return box

    # ----------------------------------------------------------------- marks

    def _to_work(self, points: Points, radius: float) -> tuple[Points, float]:
        """A stroke's points and radius in working pixels (half-pixel-centre mapping)."""
        scale_y, scale_x = self._scale
        pts = (points + 0.5) * (scale_x, scale_y) - 0.5
        # At least ~one working pixel, so that a thin stroke still seeds the graph cut.
        return pts, max(radius * min(scale_x, scale_y), 0.75)

    def _footprints(self, stroke: Stroke) -> tuple[Footprint, Footprint]:
        """The stroke's pixels at full and at working resolution."""
        points = stroke.array()
        work_pts, work_radius = self._to_work(points, stroke.radius)
        return (
            footprint(points, stroke.radius, (self._height, self._width)),
            footprint(work_pts, work_radius, self._work_auto.shape),
        )

    def _paint(self, stroke: Stroke, step: Step) -> None:
        full, work = self._footprints(stroke)
        if not full.empty:  # entirely outside the photo: nothing to paint, an empty undo step
            self._add_mark(step, stroke.label, full, work)

    def _erase(self, stroke: Stroke, step: Step) -> None:
        """Remove the marks, or the parts of marks, under the eraser; the mask is recomposed from
        the marks that remain, and what is left of a partly erased mark is solved again (as if
        painted now, on top of the others)."""
        eraser_full, eraser_work = self._footprints(stroke)
        marks = self._marks
        hit = [i for i, mark in enumerate(marks) if mark.full.overlaps(eraser_full)]
        if not hit:
            return
        dirty: dict[Resolution, list[Box]] = {"full": [eraser_full.box], "work": [eraser_work.box]}
        remainders: list[tuple[int, Footprint, Footprint]] = []
        for i in hit:
            mark = marks[i]
            for res in _RESOLUTIONS:
                dirty[res].extend(mark.boxes(res))
            rest_full, rest_work = mark.full.minus(eraser_full), mark.work.minus(eraser_work)
            for later in marks[i + 1 :]:  # labels painted over it later stay theirs
                rest_full, rest_work = rest_full.minus(later.full), rest_work.minus(later.work)
            if not rest_full.empty:
                remainders.append((mark.label, rest_full, rest_work))
        self._marks = tuple(mark for i, mark in enumerate(marks) if i not in hit)
        for res in _RESOLUTIONS:
            region = union(dirty[res])
            if region is not None:
                self._recompose(step, region, res)
        for label, rest_full, rest_work in remainders:
            self._add_mark(step, label, rest_full, rest_work)

    def _add_mark(self, step: Step, label: int, full: Footprint, work: Footprint) -> None:
        """Solve a mark against the current state, lay its effect and footprint on top."""
        effect_full = effect_work = None
        dense: dict[Resolution, tuple[Box, np.ndarray]] = {}
        if not work.empty:
            work_labels = self._arrays["work_labels"].copy()
            wh, ww = work_labels.shape
            paint_labels(work_labels, (0, wh, 0, ww), work, label)
            solution = solve(
                self._work_rgb, self._arrays["work_alpha"], work_labels, label, work, self._max_solve_pixels
            )
            if solution.changed.any():
                alpha = self._arrays["alpha"]
                box, values = snap_to_full(
                    solution,
                    self._rgb,
                    lambda b: alpha[b[0] : b[1], b[2] : b[3]].copy(),
                    self._scale,
                    self._soft_edge,
                )
                effect_full = Layer.from_change(box, alpha[box[0] : box[1], box[2] : box[3]], values)
                dense["full"] = box, values
                roi, updated = self._work_effect(solution)
                effect_work = Layer.from_change(
                    roi, self._arrays["work_alpha"][roi[0] : roi[1], roi[2] : roi[3]], updated
                )
                dense["work"] = roi, updated
        mark = Mark(label, full, work, effect_full, effect_work)
        self._marks += (mark,)
        for res in _RESOLUTIONS:
            self._lay_on_top(step, mark, res, dense.get(res) if mark.effect(res) is not None else None)

    def _lay_on_top(
        self, step: Step, mark: Mark, res: Resolution, effect: tuple[Box, np.ndarray] | None
    ) -> None:
        """Write a new mark: its footprint's labels, its effect (the values of the rectangle
        it may change: equal to the current alpha except where the mark's effect layer is set)
        with every label forced (marks win where painted), then its footprint forced. Written as
        rectangles: the history keeps only the pixels that change, and dense comparisons cost
        a few ms per megapixel where gathering and scattering each changed pixel cost tens."""
        alpha_name, labels_name = _NAMES[res]
        all_labels = self._arrays[labels_name]
        fp = mark.footprint(res)
        y0, y1, x0, x1 = fp.box
        if fp.mask.any():
            labels = all_labels[y0:y1, x0:x1].copy()
            labels[fp.mask] = mark.label
            self._history.write(step, labels_name, y0, x0, labels)
        if effect is not None:
            (ey0, ey1, ex0, ex1), values = effect  # fresh arrays of _add_mark's: forced in place
            force_labels(values, all_labels[ey0:ey1, ex0:ex1])
            self._history.write(step, alpha_name, ey0, ex0, values)
        if fp.mask.any():
            alpha = self._arrays[alpha_name][y0:y1, x0:x1].copy()
            force_labels(alpha, all_labels[y0:y1, x0:x1])
            self._history.write(step, alpha_name, y0, x0, alpha)

    def _recompose(self, step: Step, region: Box, res: Resolution) -> None:
        """Rewrite a rectangle as the current marks make it."""
        alpha_name, labels_name = _NAMES[res]
        auto = self._auto if res == "full" else self._work_auto
        alpha, labels = compose(region, auto, self._marks, res)
        self._history.write(step, labels_name, region[0], region[2], labels)
        self._history.write(step, alpha_name, region[0], region[2], alpha)

    def _work_effect(self, solution: Solution) -> tuple[Box, np.ndarray]:
        """The cut's result on the working-resolution alpha (the next mark's seeds): the region
        of interest and its new values."""
        y0, y1, x0, x1 = solution.roi
        new: np.ndarray = solution.new_fg.astype(np.float32)
        weight: np.ndarray = blend_weight(solution)
        if new.shape != (y1 - y0, x1 - x0):
            new = cv2.resize(new, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
            weight = cv2.resize(weight, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        old = self._arrays["work_alpha"][y0:y1, x0:x1]
        updated = (old + weight * (new - old)).astype(np.float32)
        return (y0, y1, x0, x1), updated


_RESOLUTIONS: tuple[Resolution, ...] = ("full", "work")
#: How many changes :meth:`RefineSession.changed_since` remembers.
_CHANGE_LOG = 256
_NAMES: dict[str, tuple[str, str]] = {"full": ("alpha", "labels"), "work": ("work_alpha", "work_labels")}


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
