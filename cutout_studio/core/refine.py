"""Brush refinement: foreground / background / erase strokes turned into a better mask by GrabCut.

The user paints a stroke where the automatic mask is wrong; :class:`RefineSession` then

1. paints the stroke as a hard label (full resolution, exactly the pixels within ``radius`` of the
   polyline) and forces the alpha there to 1 (foreground) or 0 (background);
2. runs one graph cut (OpenCV's GrabCut with frozen colour models) on a small region of interest
   around the stroke, on a reduced working copy of the photo: the stroke's colours are the
   model of what the user wants, the rest of the region's current state the model of what it
   is not, so the coherent, similar-coloured area that the stroke touches flips with it;
3. keeps only the flipped areas connected to the stroke (a stroke never changes a far part of
   the photo behind the user's back) and maps them to full resolution with guided-filter
   snapping, so the new edges follow the photo's real edges.

Everything happens inside the region of interest: the cost of a stroke depends on the stroke,
not on the photo's megapixels. Each stroke, erase or reset is one undo step that stores only
the pixels it changed, so undo and redo are exact and instant.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from cutout_studio.core.guided import bilinear_strips, guided_coefficients, working_size

StrokeKind = Literal["fg", "bg", "erase"]

LABEL_NONE = 0
LABEL_FG = 1
LABEL_BG = 2
_KIND_LABEL = {"fg": LABEL_FG, "bg": LABEL_BG}

#: Largest region (pixels) handed to one graph cut: bigger regions of interest are reduced to
#: it. OpenCV's max-flow costs roughly a microsecond per free pixel; this keeps a stroke within
#: the ~150 ms that still feels instant.
DEFAULT_MAX_SOLVE_PIXELS = 12_000
#: Undo history is trimmed (oldest first) beyond this many bytes of stored pixel changes.
DEFAULT_HISTORY_BYTES = 512 * 1024 * 1024

# Colour models: up to this many Gaussian components fitted to the samples, plus one broad
# "anything" component with a small weight. OpenCV's GrabCut has five slots per model.
_GMM_SLOTS = 5
_OUTLIER_WEIGHT = 0.02
_OUTLIER_SIGMA = 150.0
#: Variance (in 8-bit levels²) added to every fitted component: JPEG noise and the reduced
#: working copy blur colours, so a colour a few levels off the stroke's is still the stroke's.
_COLOUR_VARIANCE_FLOOR = 36.0
_MAX_GMM_SAMPLES = 3000
#: Multiplier of the colour (data) costs against GrabCut's fixed smoothness (see _sharpen).
_DATA_WEIGHT = 2.0
#: A stroke changes nothing further than this many brush radii from its painted pixels: measured
#: on real photos with simulated and real model errors, 4 keeps the gains of filling missed
#: regions while stopping floods into similar-coloured background (shadows, pavement).
_REACH_RADII = 4.0
#: Region of interest around a stroke, in working pixels: its box grown by this much (at least).
_MIN_MARGIN = 32.0
_MARGIN_RADII = 3.0
#: Pixels closer to the stroke than this fraction of the region are left out of the model of
#: "the other side": the area the stroke should flip lies there and must not vote against it.
_NEAR_FRACTION = 0.3


@dataclass
class _Patch:
    """The pixels of one array inside one rectangle that a step changed, before and after."""

    name: str
    y0: int
    x0: int
    width: int
    index: np.ndarray  # flat indices inside the rectangle (row * width + col)
    before: np.ndarray
    after: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.index.nbytes + self.before.nbytes + self.after.nbytes


@dataclass
class _Step:
    patches: list[_Patch] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.patches)


@dataclass
class _Stroke:
    label: int  # LABEL_FG, LABEL_BG or LABEL_NONE for erase
    points: np.ndarray  # N×2 float64, full-resolution (x, y)
    radius: float


def stroke_mask(points: np.ndarray, radius: float, x0: int, y0: int, width: int, height: int) -> np.ndarray:
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


def _stroke_bounds(points: np.ndarray, radius: float, height: int, width: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) bounding the stroke, clipped to the image (may be empty)."""
    x0 = max(0, math.floor(points[:, 0].min() - radius))
    x1 = min(width, math.ceil(points[:, 0].max() + radius) + 1)
    y0 = max(0, math.floor(points[:, 1].min() - radius))
    y1 = min(height, math.ceil(points[:, 1].max() + radius) + 1)
    return y0, max(y0, y1), x0, max(x0, x1)


def _fit_colour_model(samples: np.ndarray) -> np.ndarray:
    """A GrabCut colour model (1×65 float64: weights, means, covariances) fitted to N×3 colours.

    k-means starts from luminance quantiles, not random centres, so the same stroke always
    gives the same result. A broad low-weight component keeps every colour's likelihood above
    zero (an infinite data cost would make the cut meaningless for colours neither model knows).
    """
    model = np.zeros((1, 13 * _GMM_SLOTS), np.float64)
    weights = model[0, :_GMM_SLOTS]
    means = model[0, _GMM_SLOTS : 4 * _GMM_SLOTS].reshape(_GMM_SLOTS, 3)
    covs = model[0, 4 * _GMM_SLOTS :].reshape(_GMM_SLOTS, 3, 3)
    fitted = _GMM_SLOTS - 1

    samples = np.asarray(samples, dtype=np.float32).reshape(-1, 3)
    if len(samples) > _MAX_GMM_SAMPLES:
        samples = samples[:: math.ceil(len(samples) / _MAX_GMM_SAMPLES)]
    n = len(samples)
    if n:
        k = int(min(fitted, max(1, n // 24)))
        if k > 1:
            order = np.argsort(samples.sum(axis=1), kind="stable")
            initial = np.empty(n, np.int32)
            initial[order] = (np.arange(n) * k) // n
            criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 0.5)
            _, assigned, _ = cv2.kmeans(
                samples, k, initial.reshape(-1, 1), criteria, 1, cv2.KMEANS_USE_INITIAL_LABELS
            )
            assigned = assigned.ravel()
        else:
            assigned = np.zeros(n, np.int32)
        for c in range(k):
            members = samples[assigned == c].astype(np.float64)
            if len(members) < 2:
                continue
            weights[c] = len(members) / n
            means[c] = members.mean(axis=0)
            covs[c] = np.cov(members, rowvar=False) + np.eye(3) * _COLOUR_VARIANCE_FLOOR
        weights *= (1.0 - _OUTLIER_WEIGHT) / max(weights.sum(), 1e-12)
    weights[fitted] = _OUTLIER_WEIGHT if n else 1.0
    means[fitted] = 127.5
    covs[fitted] = np.eye(3) * _OUTLIER_SIGMA**2
    return _sharpen(model, _DATA_WEIGHT)


def _sharpen(model: np.ndarray, power: float) -> np.ndarray:
    """The model whose density is (approximately) the ``power``-th power of ``model``'s.

    GrabCut's smoothness weight is fixed (γ = 50); colour evidence from a few stroke pixels is
    weak next to it, so the cut prefers "flip the whole connected region" or "flip nothing"
    when the colours are only somewhat different. Raising the densities to a power multiplies
    every data cost ``−log p`` by it. Exact per component: ``(w·N(x; μ, Σ))^k`` is
    ``w^k·|Σ|^((1−k)/2)·k^(−3/2)`` times OpenCV's component with covariance ``Σ/k``; the sum
    over components is then a close approximation, since one component dominates each colour.
    """
    if power == 1.0:
        return model
    out = model.copy()
    weights = out[0, :_GMM_SLOTS]
    covs = out[0, 4 * _GMM_SLOTS :].reshape(_GMM_SLOTS, 3, 3)
    for c in range(_GMM_SLOTS):
        if weights[c] <= 0:
            continue
        det = float(np.linalg.det(covs[c]))
        weights[c] = weights[c] ** power * det ** ((1.0 - power) / 2.0) * power**-1.5
        covs[c] /= power
    return out


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
        alpha = np.asarray(alpha)
        if alpha.shape != rgb.shape[:2]:
            raise ValueError(f"alpha must be H×W = {rgb.shape[:2]} like the photo, got shape {alpha.shape}")
        if alpha.dtype == np.uint8:
            auto = alpha.astype(np.float32)
            auto *= np.float32(1 / 255)
        elif alpha.dtype == bool or np.issubdtype(alpha.dtype, np.floating):
            # One copy, then in place: at 24 MP every extra float32 temporary is 96 MB.
            auto = np.array(alpha, dtype=np.float32, order="C")
            np.nan_to_num(auto, copy=False)
            np.clip(auto, 0.0, 1.0, out=auto)
        else:
            raise ValueError(f"alpha must be float in [0, 1] or uint8 0..255, got {alpha.dtype}")
        if max_solve_pixels < 1024:
            raise ValueError(f"max_solve_pixels must be >= 1024, got {max_solve_pixels}")

        self._lock = threading.Lock()
        self._rgb = np.ascontiguousarray(rgb)
        self._height, self._width = rgb.shape[:2]
        self._auto = auto
        self._auto.setflags(write=False)
        self._max_solve_pixels = max_solve_pixels
        self._history_bytes = history_bytes

        # The working copy: every graph cut runs on it (or on a reduced crop of it).
        work_h, work_w = working_size(self._height, self._width, work_max_side)
        self._scale_x = work_w / self._width
        self._scale_y = work_h / self._height
        same = (work_h, work_w) == (self._height, self._width)
        self._work_rgb = (
            self._rgb if same else cv2.resize(self._rgb, (work_w, work_h), interpolation=cv2.INTER_AREA)
        )
        work_auto = auto if same else cv2.resize(auto, (work_w, work_h), interpolation=cv2.INTER_AREA)
        self._work_auto = np.array(work_auto, np.float32)
        self._work_auto.setflags(write=False)

        # Live state: full-resolution alpha and labels, and their working-resolution twins
        # (the graph cut's seeds). Undo steps record changes to all four.
        self._arrays: dict[str, np.ndarray] = {
            "alpha": auto.copy(),
            "labels": np.zeros((self._height, self._width), np.uint8),
            "work_alpha": self._work_auto.copy(),
            "work_labels": np.zeros((work_h, work_w), np.uint8),
        }
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        self._alpha_view = self._arrays["alpha"].view()
        self._alpha_view.setflags(write=False)
        self._labels_view = self._arrays["labels"].view()
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
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def add_stroke(self, kind: StrokeKind, points: Sequence[tuple[float, float]], radius: float) -> None:
        """Apply one brush stroke (one undo step).

        ``kind``: "fg" (this is the subject), "bg" (this is not) or "erase" (back to the
        automatic mask under the brush, labels removed). ``points``: the stroke's polyline in
        full-resolution (x, y); a single point is a dot. ``radius``: brush radius in
        full-resolution pixels, > 0.
        """
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
        stroke = _Stroke(_KIND_LABEL.get(kind, LABEL_NONE), pts, radius)
        with self._lock:
            step = _Step()
            if kind == "erase":
                self._erase(stroke, step)
            else:
                self._paint(stroke, step)
            self._push(step)

    def undo(self) -> bool:
        """Revert the last stroke, erase or reset; False when there is nothing to undo."""
        with self._lock:
            if not self._undo:
                return False
            step = self._undo.pop()
            for patch in reversed(step.patches):
                self._put(patch, patch.before)
            self._redo.append(step)
            return True

    def redo(self) -> bool:
        """Re-apply the last undone step; False when there is nothing to redo."""
        with self._lock:
            if not self._redo:
                return False
            step = self._redo.pop()
            for patch in step.patches:
                self._put(patch, patch.after)
            self._undo.append(step)
            return True

    def reset(self) -> None:
        """Back to the automatic mask with no strokes (one undo step)."""
        with self._lock:
            step = _Step()
            self._write(step, "alpha", 0, 0, self._auto)
            self._write(step, "labels", 0, 0, np.zeros_like(self._arrays["labels"]))
            self._write(step, "work_alpha", 0, 0, self._work_auto)
            self._write(step, "work_labels", 0, 0, np.zeros_like(self._arrays["work_labels"]))
            self._push(step)

    def refine(self) -> np.ndarray:
        """The current H×W float32 alpha in [0, 1] (a read-only view of the live buffer).

        Strokes are solved when added, so this is free; it is exactly 1 under foreground
        strokes and exactly 0 under background strokes.
        """
        with self._lock:
            return self._alpha_view

    # ----------------------------------------------------------------- history

    def _push(self, step: _Step) -> None:
        self._undo.append(step)
        self._redo.clear()
        total = sum(s.nbytes for s in self._undo)
        while len(self._undo) > 1 and total > self._history_bytes:
            total -= self._undo.pop(0).nbytes

    def _put(self, patch: _Patch, values: np.ndarray) -> None:
        rows, cols = np.divmod(patch.index, patch.width)
        self._arrays[patch.name][patch.y0 + rows, patch.x0 + cols] = values

    def _write(self, step: _Step, name: str, y0: int, x0: int, new: np.ndarray) -> None:
        """Write ``new`` into array ``name`` at (y0, x0), recording only the pixels that change."""
        h, w = new.shape
        region = self._arrays[name][y0 : y0 + h, x0 : x0 + w]
        changed = np.flatnonzero(region != new)
        if changed.size == 0:
            return
        index = changed.astype(np.int32 if h * w < 2**31 else np.int64)
        before = region.ravel()[changed]  # a copy for a strided region: taken before writing
        after = new.ravel()[changed]
        region[...] = new
        step.patches.append(_Patch(name, y0, x0, w, index, before, after))

    # ----------------------------------------------------------------- strokes

    def _to_work(self, stroke: _Stroke) -> tuple[np.ndarray, float]:
        """The stroke's points and radius in working pixels (half-pixel-centre mapping)."""
        pts = (stroke.points + 0.5) * (self._scale_x, self._scale_y) - 0.5
        # At least ~one working pixel, so that a thin stroke still seeds the graph cut.
        return pts, max(stroke.radius * min(self._scale_x, self._scale_y), 0.75)

    def _erase(self, stroke: _Stroke, step: _Step) -> None:
        """Remove labels under the brush and return the alpha there to the automatic mask, at
        full resolution and on the working copy alike."""
        self._erase_in(step, stroke.points, stroke.radius, "labels", "alpha", self._auto)
        work_pts, work_radius = self._to_work(stroke)
        self._erase_in(step, work_pts, work_radius, "work_labels", "work_alpha", self._work_auto)

    def _erase_in(
        self, step: _Step, points: np.ndarray, radius: float, labels_name: str, alpha_name: str, auto: np.ndarray
    ) -> None:
        height, width = self._arrays[labels_name].shape
        y0, y1, x0, x1 = _stroke_bounds(points, radius, height, width)
        if y1 <= y0 or x1 <= x0:
            return
        inside = stroke_mask(points, radius, x0, y0, x1 - x0, y1 - y0)
        labels = self._arrays[labels_name][y0:y1, x0:x1].copy()
        labels[inside] = LABEL_NONE
        alpha = self._arrays[alpha_name][y0:y1, x0:x1].copy()
        alpha[inside] = auto[y0:y1, x0:x1][inside]
        self._write(step, labels_name, y0, x0, labels)
        self._write(step, alpha_name, y0, x0, alpha)

    def _paint(self, stroke: _Stroke, step: _Step) -> None:
        labels = self._arrays["labels"]
        fy0, fy1, fx0, fx1 = _stroke_bounds(stroke.points, stroke.radius, self._height, self._width)
        if fy1 <= fy0 or fx1 <= fx0:
            return  # entirely outside the photo: nothing to paint, an empty undo step
        inside = stroke_mask(stroke.points, stroke.radius, fx0, fy0, fx1 - fx0, fy1 - fy0)
        painted = labels[fy0:fy1, fx0:fx1].copy()
        painted[inside] = stroke.label
        self._write(step, "labels", fy0, fx0, painted)

        work_pts, work_radius = self._to_work(stroke)
        work_labels = self._arrays["work_labels"]
        wy0, wy1, wx0, wx1 = _stroke_bounds(work_pts, work_radius, *work_labels.shape)
        if wy1 > wy0 and wx1 > wx0:
            work_inside = stroke_mask(work_pts, work_radius, wx0, wy0, wx1 - wx0, wy1 - wy0)
            work_painted = work_labels[wy0:wy1, wx0:wx1].copy()
            work_painted[work_inside] = stroke.label
            self._write(step, "work_labels", wy0, wx0, work_painted)
            solution = self._solve(stroke.label, work_pts, work_radius, (wy0, wy1, wx0, wx1))
        else:
            solution = None

        rect = (fy0, fy1, fx0, fx1)
        snapped = None
        if solution is not None and solution.changed.any():
            snapped = self._snap_to_full(solution)
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
        self._write(step, "alpha", y0, x0, new_alpha)

    def _solve(
        self, label: int, work_pts: np.ndarray, work_radius: float, bounds: tuple[int, int, int, int]
    ) -> _Solution | None:
        """One graph cut around the stroke on the working copy; None when nothing can change.

        The region of interest is the stroke's box plus a margin; when what flipped reaches its
        edge (the region the stroke pulls in is larger), the margin grows once and the cut runs
        again, so areas are not cut off by a straight line at the box's edge.
        """
        work_alpha = self._arrays["work_alpha"]
        work_labels = self._arrays["work_labels"]
        wh, ww = work_alpha.shape
        by0, by1, bx0, bx1 = bounds
        margin = max(_MIN_MARGIN, _MARGIN_RADII * work_radius)
        solution = None
        for _attempt in range(2):
            y0, y1 = max(0, math.floor(by0 - margin)), min(wh, math.ceil(by1 + margin))
            x0, x1 = max(0, math.floor(bx0 - margin)), min(ww, math.ceil(bx1 + margin))
            crop_h, crop_w = y1 - y0, x1 - x0
            # The cut's cost follows its pixel count: big regions are solved on a reduced grid
            # (the guided snapping restores the photo's edges at full resolution).
            shrink = min(1.0, math.sqrt(self._max_solve_pixels / (crop_h * crop_w)))
            gh, gw = max(1, round(crop_h * shrink)), max(1, round(crop_w * shrink))
            rgb = self._work_rgb[y0:y1, x0:x1]
            alpha = work_alpha[y0:y1, x0:x1]
            labels = work_labels[y0:y1, x0:x1]
            if (gh, gw) != (crop_h, crop_w):
                rgb = cv2.resize(rgb, (gw, gh), interpolation=cv2.INTER_AREA)
                alpha = cv2.resize(alpha, (gw, gh), interpolation=cv2.INTER_AREA)
                labels = cv2.resize(labels, (gw, gh), interpolation=cv2.INTER_NEAREST)
            else:
                labels = labels.copy()
            grid_pts = (work_pts - (x0, y0) + 0.5) * (gw / crop_w, gh / crop_h) - 0.5
            grid_radius = max(work_radius * gw / crop_w, 0.75)
            stroke = stroke_mask(grid_pts, grid_radius, 0, 0, gw, gh)
            labels[stroke] = label  # the reduced grid must still see the new stroke
            solution = _Solution(
                (y0, y1, x0, x1), np.ascontiguousarray(rgb), labels, alpha >= 0.5, stroke, grid_radius
            )
            _cut(solution, label)
            changed = solution.changed
            touches_edge = (
                (y0 > 0 and changed[0].any())
                or (y1 < wh and changed[-1].any())
                or (x0 > 0 and changed[:, 0].any())
                or (x1 < ww and changed[:, -1].any())
            )
            if not touches_edge:
                break
            margin = 2.5 * margin + 0.5 * max(by1 - by0, bx1 - bx0)
        return solution

    def _grid_to_full(self, solution: _Solution) -> tuple[np.ndarray, np.ndarray]:
        """Coordinate maps: full-resolution column/row index -> position on the solution's grid."""
        y0, y1, x0, x1 = solution.roi
        gh, gw = solution.changed.shape

        def full_to_grid(n_full: int, scale: float, start: int, crop: int, grid: int) -> np.ndarray:
            work = (np.arange(n_full, dtype=np.float64) + 0.5) * scale - 0.5
            return (work - start + 0.5) * (grid / crop) - 0.5

        return (
            full_to_grid(self._height, self._scale_y, y0, y1 - y0, gh),
            full_to_grid(self._width, self._scale_x, x0, x1 - x0, gw),
        )

    def _snap_to_full(self, solution: _Solution) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """Full-resolution alpha for the area that flipped: the cut's binary result on the grid,
        snapped to the photo's edges by a guided filter evaluated at full resolution.

        The area is cut into tiles; only tiles near a new edge evaluate ``a·I + b`` (the costly
        part at tens of megapixels), tiles inside what flipped are filled with 0 or 1, and tiles
        outside the blend zone are left as they were.
        """
        target = solution.new_fg.astype(np.float32)
        target[solution.labels == LABEL_FG] = 1.0
        target[solution.labels == LABEL_BG] = 0.0
        a, b = guided_coefficients(solution.rgb, target, _SNAP_RADIUS, _SNAP_EPS)
        weight = solution.blend_weight()

        rows, cols = self._grid_to_full(solution)
        gy, gx = np.nonzero(weight > 0)
        # Full-resolution pixels whose bilinear support touches the blend zone.
        ys = np.flatnonzero((rows > gy.min() - 1) & (rows < gy.max() + 1))
        xs = np.flatnonzero((cols > gx.min() - 1) & (cols < gx.max() + 1))
        fy0, fy1, fx0, fx1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
        rows, cols = rows[fy0:fy1], cols[fx0:fx1]
        result = self._arrays["alpha"][fy0:fy1, fx0:fx1].copy()

        # Per grid cell: untouched (weight 0), or deep inside (weight 1, flat target: a = 0, b = 0 or 1).
        flat = np.abs(a).max(axis=2) < 1e-6
        inside = flat & (weight == 1.0)
        classes = {
            "keep": weight == 0.0,
            "one": inside & (np.abs(b - 1.0) < 1e-5),
            "zero": inside & (np.abs(b) < 1e-5),
        }
        row_tiles = _tile_support(rows, weight.shape[0])
        col_tiles = _tile_support(cols, weight.shape[1])
        verdict = np.full((len(row_tiles[0]), len(col_tiles[0])), "snap", dtype=object)
        for name, cells in classes.items():
            verdict[_all_cells(cells, row_tiles[1], col_tiles[1])] = name

        planes = np.empty((5,) + b.shape, np.float32)
        for c in range(3):
            np.multiply(a[..., c], np.float32(1 / 255), out=planes[c])
        planes[3] = b
        planes[4] = weight
        for i, (r0, r1) in enumerate(row_tiles[0]):
            band = result[r0:r1]
            for name, value in (("one", 1.0), ("zero", 0.0)):
                for c0, c1 in _runs(verdict[i] == name, col_tiles[0]):
                    band[:, c0:c1] = value
            for c0, c1 in _runs(verdict[i] == "snap", col_tiles[0]):
                _snap_region(
                    planes,
                    self._rgb[fy0 + r0 : fy0 + r1, fx0 + c0 : fx0 + c1],
                    band[:, c0:c1],
                    rows[r0:r1],
                    cols[c0:c1],
                )
        return (fy0, fy1, fx0, fx1), result

    def _write_work(self, step: _Step, solution: _Solution) -> None:
        """Carry the cut's result into the working-resolution alpha (the next stroke's seeds)."""
        y0, y1, x0, x1 = solution.roi
        new = solution.new_fg.astype(np.float32)
        weight = solution.blend_weight()
        if new.shape != (y1 - y0, x1 - x0):
            new = cv2.resize(new, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
            weight = cv2.resize(weight, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        old = self._arrays["work_alpha"][y0:y1, x0:x1]
        updated = old + weight * (new - old)
        labels = self._arrays["work_labels"][y0:y1, x0:x1]
        updated[labels == LABEL_FG] = 1.0
        updated[labels == LABEL_BG] = 0.0
        self._write(step, "work_alpha", y0, x0, updated.astype(np.float32))


_TILE = 128  # full-resolution pixels: the unit in which _snap_to_full decides what to compute


def _tile_support(coords: np.ndarray, n_cells: int) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Tiles of ``_TILE`` output pixels along one axis, and the grid cells each one samples.

    ``coords`` (increasing) are the output pixels' positions on the grid; returns the tiles'
    [start, stop) and an n×2 array of the first and last grid cell of their bilinear support.
    """
    starts = np.arange(0, len(coords), _TILE)
    stops = np.minimum(starts + _TILE, len(coords))
    first = np.floor(np.clip(coords[starts], 0, n_cells - 1)).astype(np.intp)
    last = np.ceil(np.clip(coords[stops - 1], 0, n_cells - 1)).astype(np.intp)
    return list(zip(starts.tolist(), stops.tolist(), strict=True)), np.stack([first, last], axis=1)


def _all_cells(cells: np.ndarray, row_support: np.ndarray, col_support: np.ndarray) -> np.ndarray:
    """tiles_y × tiles_x bool: every grid cell in the tile's support is set (summed-area table)."""
    table = cv2.integral(cells.astype(np.uint8))
    r0, r1 = row_support[:, 0, None], row_support[:, 1, None] + 1
    c0, c1 = col_support[None, :, 0], col_support[None, :, 1] + 1
    count = table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]
    return count == (r1 - r0) * (c1 - c0)


def _runs(selected: np.ndarray, tiles: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge consecutive selected tiles into [start, stop) pixel runs."""
    runs: list[tuple[int, int]] = []
    for flag, (start, stop) in zip(selected, tiles, strict=True):
        if not flag:
            continue
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], stop)
        else:
            runs.append((start, stop))
    return runs


def _snap_region(
    planes: np.ndarray, rgb: np.ndarray, out: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> None:
    """out ← out + w·(clip(a·I + b, 0, 1) − out), planes = (a/255 ×3, b, w) sampled bilinearly."""
    product = np.empty(out.shape, np.float32)
    for y0, y1, strip in bilinear_strips(planes, rows, cols, None):
        snapped = strip[3].copy()
        for c in range(3):
            np.multiply(strip[c], rgb[y0:y1, :, c], out=product[: y1 - y0])
            snapped += product[: y1 - y0]
        np.clip(snapped, 0.0, 1.0, out=snapped)
        old = out[y0:y1]
        snapped -= old
        snapped *= strip[4]
        old += snapped


def _union(r1: tuple[int, int, int, int], r2: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return min(r1[0], r2[0]), max(r1[1], r2[1]), min(r1[2], r2[2]), max(r1[3], r2[3])


# Guided snapping of the cut's result, in grid pixels of the solve: a window of 5 grid pixels
# finds the photo edge that a binary grid boundary stands for; a small eps keeps edges crisp.
_SNAP_RADIUS = 2
_SNAP_EPS = 1e-3


@dataclass
class _Solution:
    """One graph cut on a (possibly reduced) crop of the working copy."""

    roi: tuple[int, int, int, int]  # (y0, y1, x0, x1) in working pixels
    rgb: np.ndarray  # the crop on the solve grid
    labels: np.ndarray  # stroke labels on the solve grid (including the new stroke)
    current_fg: np.ndarray  # bool: foreground before this stroke
    stroke: np.ndarray  # bool: the new stroke's pixels
    radius: float  # the brush radius on the solve grid
    new_fg: np.ndarray = field(init=False)  # bool: foreground after this stroke
    changed: np.ndarray = field(init=False)  # bool: flipped by this stroke (connected to it)

    def blend_weight(self) -> np.ndarray:
        """1 on and around what flipped, fading to 0 within a few grid pixels: elsewhere the
        previous alpha (and the model's soft edges) is kept untouched."""
        reach = 2 * _SNAP_RADIUS + 1
        zone = cv2.dilate(
            self.changed.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)
        )
        # Integer box sums divided once: exactly 0 outside and exactly 1 inside (tested as such).
        sums = cv2.boxFilter(zone, cv2.CV_32F, (3, 3), normalize=False, borderType=cv2.BORDER_REPLICATE)
        return sums / np.float32(9)


def _cut(solution: _Solution, label: int) -> None:
    """GrabCut with colour models built from the user's intent; fills ``new_fg`` and ``changed``.

    For a foreground stroke the foreground model is the colours painted as foreground in the
    region, the background model the colours of the current background away from the stroke
    (the area the stroke should pull in lies near it and must not vote for "background"). The
    current foreground is fixed (a foreground stroke only adds), the current background is
    free: the cut decides which of it joins. A background stroke is the mirror image.
    """
    rgb, labels, current_fg = solution.rgb, solution.labels, solution.current_fg
    fg_label, bg_label = labels == LABEL_FG, labels == LABEL_BG
    size = max(current_fg.shape)
    reach = max(3, round(_NEAR_FRACTION * size))
    near = (
        cv2.dilate(
            solution.stroke.astype(np.uint8),
            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2),
        )
        > 0
    )
    adding = label == LABEL_FG
    if adding:
        gc = np.where(current_fg, cv2.GC_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        intent = rgb[fg_label]
        other_pool = ~current_fg & ~fg_label
    else:
        gc = np.where(current_fg, cv2.GC_PR_FGD, cv2.GC_BGD).astype(np.uint8)
        intent = rgb[bg_label]
        other_pool = current_fg & ~bg_label
    gc[fg_label] = cv2.GC_FGD
    gc[bg_label] = cv2.GC_BGD
    far = other_pool & ~near
    other = rgb[far] if far.sum() >= 50 else rgb[other_pool]
    # Earlier strokes of the other kind are explicit statements about the other side too.
    other = np.concatenate([other, rgb[bg_label if adding else fg_label]])
    intent_model, other_model = _fit_colour_model(intent), _fit_colour_model(other)

    fg_model, bg_model = (intent_model, other_model) if adding else (other_model, intent_model)
    cv2.grabCut(rgb, gc, None, bg_model, fg_model, 1, cv2.GC_EVAL_FREEZE_MODEL)
    result_fg = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)

    flipped = (result_fg & ~current_fg) if adding else (current_fg & ~result_fg)
    count, components = cv2.connectedComponents(flipped.astype(np.uint8), connectivity=8)
    changed = np.zeros_like(flipped)
    if count > 1:
        touching = cv2.dilate(solution.stroke.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        ids = np.unique(components[touching & flipped])
        if ids.size:
            changed = np.isin(components, ids)
    # The brush's reach: where a stroke's colours continue into a similar-looking area across
    # a weak edge (a dark subject on its own shadow), the cut would flood it. Nothing further
    # than a few brush radii from the stroke changes, so a bigger brush reaches further and a
    # stroke never surprises the user far from where it was painted.
    # Beyond that reach, flipped areas enclosed by what the stroke takes and by the side it adds
    # to (a hole in the subject) are still taken: they cannot spill anywhere.
    # A stroke painted mostly over what already is on its side confirms it rather than asks for
    # more, so the reach grows with the share of the stroke that disagreed with the mask.
    if changed.any():
        stroke = solution.stroke
        disagreed = float((stroke & (~current_fg if adding else current_fg)).sum()) / max(int(stroke.sum()), 1)
        reach = solution.radius * (1.0 + (_REACH_RADII - 1.0) * disagreed)
        distance = cv2.distanceTransform((~stroke).astype(np.uint8), cv2.DIST_L2, 5)
        within = distance <= reach
        beyond = changed & ~within
        changed &= within
        if beyond.any():
            changed |= _enclosed(beyond, unflipped=(~current_fg if adding else current_fg) & ~changed & ~beyond)
    solution.changed = changed
    solution.new_fg = (current_fg | changed) if adding else (current_fg & ~changed)


def _enclosed(candidates: np.ndarray, unflipped: np.ndarray) -> np.ndarray:
    """``candidates`` whose connected area, together with ``unflipped`` pixels of the same side,
    never reaches the region's border: a hole in what the stroke adds to, with nowhere to spill."""
    count, components = cv2.connectedComponents((candidates | unflipped).astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(candidates)
    border = np.concatenate([components[0], components[-1], components[:, 0], components[:, -1]])
    return candidates & ~np.isin(components, np.append(np.unique(border), 0))
