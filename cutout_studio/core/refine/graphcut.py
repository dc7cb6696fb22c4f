"""One graph cut around a stroke, on the working copy: which connected area the stroke flips.

OpenCV's GrabCut with frozen colour models (see :mod:`.colour_model`) runs on a small region of
interest around the stroke, reduced when it is large so that a stroke stays within the
~150 ms that still feels instant. Only flipped areas connected to the stroke and within its
**reach** (a few brush radii) are kept: a stroke never changes a far part of the photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from cutout_studio.core.refine.colour_model import fit_colour_model
from cutout_studio.core.refine.strokes import LABEL_BG, LABEL_FG, stroke_mask

#: Largest region (pixels) handed to one graph cut: bigger regions of interest are reduced to
#: it. OpenCV's max-flow costs roughly a microsecond per free pixel; this keeps a stroke within
#: the ~150 ms that still feels instant.
DEFAULT_MAX_SOLVE_PIXELS = 12_000
#: A stroke changes nothing further than this many brush radii from its painted pixels: measured
#: on real photos with simulated and real model errors, 4 keeps the gains of filling missed
#: regions while stopping floods into similar-coloured background (shadows, pavement).
REACH_RADII = 4.0
#: Region of interest around a stroke, in working pixels: its box grown by this much (at least).
_MIN_MARGIN = 32.0
_MARGIN_RADII = 3.0
#: Pixels closer to the stroke than this fraction of the region are left out of the model of
#: "the other side": the area the stroke should flip lies there and must not vote against it.
_NEAR_FRACTION = 0.3


@dataclass
class Solution:
    """One graph cut on a (possibly reduced) crop of the working copy."""

    roi: tuple[int, int, int, int]  # (y0, y1, x0, x1) in working pixels
    rgb: np.ndarray  # the crop on the solve grid
    labels: np.ndarray  # stroke labels on the solve grid (including the new stroke)
    current_fg: np.ndarray  # bool: foreground before this stroke
    stroke: np.ndarray  # bool: the new stroke's pixels
    radius: float  # the brush radius on the solve grid
    new_fg: np.ndarray = field(init=False)  # bool: foreground after this stroke
    changed: np.ndarray = field(init=False)  # bool: flipped by this stroke (connected to it)


def solve(
    work_rgb: np.ndarray,
    work_alpha: np.ndarray,
    work_labels: np.ndarray,
    label: int,
    work_pts: np.ndarray,
    work_radius: float,
    bounds: tuple[int, int, int, int],
    max_solve_pixels: int = DEFAULT_MAX_SOLVE_PIXELS,
) -> Solution:
    """One graph cut around the stroke on the working copy (``changed`` is empty when nothing flips).

    ``work_*`` are the working copy's photo, alpha and labels (the new stroke already painted),
    ``work_pts``/``work_radius`` the stroke in working pixels and ``bounds`` its box there.
    The region of interest is the stroke's box plus a margin; when what flipped reaches its
    edge (the region the stroke pulls in is larger), the margin grows once and the cut runs
    again, so areas are not cut off by a straight line at the box's edge.
    """
    wh, ww = work_alpha.shape
    by0, by1, bx0, bx1 = bounds
    margin = max(_MIN_MARGIN, _MARGIN_RADII * work_radius)
    for attempt in range(2):
        y0, y1 = max(0, math.floor(by0 - margin)), min(wh, math.ceil(by1 + margin))
        x0, x1 = max(0, math.floor(bx0 - margin)), min(ww, math.ceil(bx1 + margin))
        crop_h, crop_w = y1 - y0, x1 - x0
        # The cut's cost follows its pixel count: big regions are solved on a reduced grid
        # (the guided snapping restores the photo's edges at full resolution).
        shrink = min(1.0, math.sqrt(max_solve_pixels / (crop_h * crop_w)))
        gh, gw = max(1, round(crop_h * shrink)), max(1, round(crop_w * shrink))
        rgb = work_rgb[y0:y1, x0:x1]
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
        solution = Solution(
            (y0, y1, x0, x1), np.ascontiguousarray(rgb), labels, alpha >= 0.5, stroke, grid_radius
        )
        graph_cut(solution, label)
        changed = solution.changed
        touches_edge = (
            (y0 > 0 and changed[0].any())
            or (y1 < wh and changed[-1].any())
            or (x0 > 0 and changed[:, 0].any())
            or (x1 < ww and changed[:, -1].any())
        )
        if not touches_edge or attempt == 1:
            break
        margin = 2.5 * margin + 0.5 * max(by1 - by0, bx1 - bx0)
    return solution


def graph_cut(solution: Solution, label: int) -> None:
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
    intent_model, other_model = fit_colour_model(intent), fit_colour_model(other)

    fg_model, bg_model = (intent_model, other_model) if adding else (other_model, intent_model)
    # the rectangle is read only by GC_INIT_WITH_RECT: an empty one stands for "none"
    cv2.grabCut(rgb, gc, (0, 0, 0, 0), bg_model, fg_model, 1, cv2.GC_EVAL_FREEZE_MODEL)
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
        reach = solution.radius * (1.0 + (REACH_RADII - 1.0) * disagreed)
        distance = cv2.distanceTransform((~stroke).astype(np.uint8), cv2.DIST_L2, 5)
        within = distance <= reach
        beyond = changed & ~within
        changed &= within
        if beyond.any():
            changed |= enclosed(beyond, unflipped=(~current_fg if adding else current_fg) & ~changed & ~beyond)
    solution.changed = changed
    solution.new_fg = (current_fg | changed) if adding else (current_fg & ~changed)


def enclosed(candidates: np.ndarray, unflipped: np.ndarray) -> np.ndarray:
    """``candidates`` whose connected area, together with ``unflipped`` pixels of the same side,
    never reaches the region's border: a hole in what the stroke adds to, with nowhere to spill."""
    count, components = cv2.connectedComponents((candidates | unflipped).astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(candidates)
    border = np.concatenate([components[0], components[-1], components[:, 0], components[:, -1]])
    return candidates & ~np.isin(components, np.append(np.unique(border), 0))
