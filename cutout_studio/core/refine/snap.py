"""Snapping a graph cut's result to the full-resolution photo.

The cut decides on a reduced grid which area flips; a guided filter fitted there (``q = a·I + b``)
is evaluated on the full-resolution photo, so the new edges follow the photo's real edges.
Only what changed is touched: a blend weight fades from 1 on and around the flipped area to 0
a few grid pixels away, where the previous alpha (and the model's soft edges) is kept.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from cutout_studio.core.guided import bilinear_strips, guided_coefficients
from cutout_studio.core.refine.graphcut import Solution
from cutout_studio.core.refine.strokes import LABEL_BG, LABEL_FG
from cutout_studio.core.tiles import Box, all_cells, runs, support_spans

# Guided snapping of the cut's result, in grid pixels of the solve: a window of 5 grid pixels
# finds the photo edge that a binary grid boundary stands for; a small eps keeps edges crisp.
_SNAP_RADIUS = 2
_SNAP_EPS = 1e-3

_TILE = 128  # full-resolution pixels: the unit in which snap_to_full decides what to compute

# Verdicts of a full-resolution tile (see snap_to_full).
_KEEP, _ONE, _ZERO, _SNAP = 0, 1, 2, 3


def blend_weight(solution: Solution) -> npt.NDArray[np.float32]:
    """1 on and around what flipped, fading to 0 within a few grid pixels: elsewhere the
    previous alpha (and the model's soft edges) is kept untouched."""
    reach = 2 * _SNAP_RADIUS + 1
    zone = cv2.dilate(
        solution.changed.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)
    )
    # Integer box sums divided once: exactly 0 outside and exactly 1 inside (tested as such).
    sums = cv2.boxFilter(zone, cv2.CV_32F, (3, 3), normalize=False, borderType=cv2.BORDER_REPLICATE)
    weight: npt.NDArray[np.float32] = sums / np.float32(9)
    return weight


def grid_to_full(
    solution: Solution, full_shape: tuple[int, int], scale: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinate maps: full-resolution row/column index -> position on the solution's grid.

    ``full_shape`` is the photo's (H, W), ``scale`` the working copy's (y, x) size over it.
    """
    y0, y1, x0, x1 = solution.roi
    gh, gw = solution.changed.shape

    def full_to_grid(n_full: int, scale: float, start: int, crop: int, grid: int) -> np.ndarray:
        work = (np.arange(n_full, dtype=np.float64) + 0.5) * scale - 0.5
        return (work - start + 0.5) * (grid / crop) - 0.5

    return (
        full_to_grid(full_shape[0], scale[0], y0, y1 - y0, gh),
        full_to_grid(full_shape[1], scale[1], x0, x1 - x0, gw),
    )


def snap_to_full(
    solution: Solution,
    rgb: np.ndarray,
    base: Callable[[Box], np.ndarray],
    scale: tuple[float, float],
    soft_edge: float = 0.0,
) -> tuple[Box, npt.NDArray[np.float32]]:
    """Full-resolution alpha for the area that flipped: the cut's binary result on the grid,
    snapped to the photo's edges by a guided filter evaluated at full resolution.

    ``rgb`` is the full-resolution photo, ``base(box)`` a fresh copy of the alpha the mark is
    applied to inside a rectangle, ``scale`` the working copy's (y, x) size over the photo's. Returns the rectangle that may change and its
    new values. The area is cut into tiles (:mod:`cutout_studio.core.tiles`); only tiles near
    a new edge evaluate ``a·I + b`` (the costly part at tens of megapixels), tiles inside what
    flipped are filled with 0 or 1, and tiles outside the blend zone are left as they were.
    With ``soft_edge`` > 0, the computed tiles lose their haze (:func:`remove_haze`): only
    they can hold it, so the clean-up costs what the outline's length does.
    """
    target = solution.new_fg.astype(np.float32)
    target[solution.labels == LABEL_FG] = 1.0
    target[solution.labels == LABEL_BG] = 0.0
    a, b = guided_coefficients(solution.rgb, target, _SNAP_RADIUS, _SNAP_EPS)
    weight = blend_weight(solution)

    rows, cols = grid_to_full(solution, (rgb.shape[0], rgb.shape[1]), scale)
    gy, gx = np.nonzero(weight > 0)
    # Full-resolution pixels whose bilinear support touches the blend zone.
    ys = np.flatnonzero((rows > gy.min() - 1) & (rows < gy.max() + 1))
    xs = np.flatnonzero((cols > gx.min() - 1) & (cols < gx.max() + 1))
    fy0, fy1, fx0, fx1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
    rows, cols = rows[fy0:fy1], cols[fx0:fx1]
    result = base((fy0, fy1, fx0, fx1))

    # Per grid cell: untouched (weight 0), or deep inside (weight 1, flat target: a = 0, b = 0 or 1).
    flat = np.abs(a).max(axis=2) < 1e-6
    inside = flat & (weight == 1.0)
    classes = {
        _KEEP: weight == 0.0,
        _ONE: inside & (np.abs(b - 1.0) < 1e-5),
        _ZERO: inside & (np.abs(b) < 1e-5),
    }
    row_spans, row_support = support_spans(rows, weight.shape[0], _TILE)
    col_spans, col_support = support_spans(cols, weight.shape[1], _TILE)
    verdict = np.full((len(row_spans), len(col_spans)), _SNAP, dtype=np.int8)
    for kind, cells in classes.items():
        verdict[all_cells(cells, row_support, col_support)] = kind

    planes = np.empty((5,) + b.shape, np.float32)
    for c in range(3):
        np.multiply(a[..., c], np.float32(1 / 255), out=planes[c])
    planes[3] = b
    planes[4] = weight
    computed: list[tuple[Box, np.ndarray]] = []  # each computed run, with its values before
    for (r0, r1, c0, c1), kind in runs(verdict, row_spans, col_spans):
        if kind == _ONE:
            result[r0:r1, c0:c1] = 1.0
        elif kind == _ZERO:
            result[r0:r1, c0:c1] = 0.0
        elif kind == _SNAP:
            if soft_edge > 0:
                computed.append(((r0, r1, c0, c1), result[r0:r1, c0:c1].copy()))
            _snap_region(
                planes,
                rgb[fy0 + r0 : fy0 + r1, fx0 + c0 : fx0 + c1],
                result[r0:r1, c0:c1],
                rows[r0:r1],
                cols[c0:c1],
            )
    if soft_edge > 0:
        pad = int(np.ceil(soft_edge)) + 2  # the crops see the outline up to the soft edge's width
        height, width = result.shape
        for (r0, r1, c0, c1), before in computed:
            cy0, cx0 = max(0, r0 - pad), max(0, c0 - pad)
            crop = result[cy0 : min(height, r1 + pad), cx0 : min(width, c1 + pad)]
            remove_haze(crop, before, soft_edge, (slice(r0 - cy0, r1 - cy0), slice(c0 - cx0, c1 - cx0)))
    return (fy0, fy1, fx0, fx1), result


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


#: Half width (full-resolution px) of the soft edge: farther from the outline, what a mark
#: changes is exactly 0 or 1 (no haze of faintly opaque pixels around the subject).
SOFT_EDGE = 3.0


def remove_haze(
    values: np.ndarray, old: np.ndarray, width: float, inner: tuple[slice, slice] | None = None
) -> None:
    """Round, in place, the pixels of ``values[inner]`` that differ from ``old`` (the values of
    ``inner`` before) and lie farther than ``width`` px (the soft edge) from the 0.5 outline;
    the rest of ``values`` is context that shows where the outline runs. The guided snapping's
    ``a·I + b`` leaves faint values in textured areas away from any edge: haze, not edge."""
    inner = inner or (slice(None), slice(None))
    target = values[inner]
    soft = (target > 0.0) & (target < 1.0)
    soft &= target != old
    if not soft.any():
        return
    hard = (values >= 0.5).astype(np.uint8)
    # Within ``width`` of the outline: both sides occur in the disc around the pixel.
    radius = int(np.ceil(width))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    far = soft & (cv2.dilate(hard, disc) == cv2.erode(hard, disc))[inner]
    target[far] = hard[inner][far]
