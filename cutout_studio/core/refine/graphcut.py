"""One graph cut around a mark, on the working copy: which connected region the mark flips.

OpenCV's GrabCut with frozen colour models (see :mod:`.colour_model`) runs on a region of
interest around the mark, reduced when it is large so that a stroke stays within the ~150 ms
that still feels instant. What the mark takes is the region that

- is connected to the mark,
- the cut gives to the mark's side (so it stops at the photo's edges: GrabCut's smoothness
  term is cheap to cut only there), and
- the mark's colour model explains better than the other side's once the model's own
  probability is counted (a pixel the automatic mask is sure about needs stronger colour
  evidence to flip than one it hesitated on).

There is no fixed reach: when what flipped touches the region of interest's edge, the region
grows and the cut runs again, up to the whole working copy, so a click on a missed part takes
the whole part however large; a small mark near the outline takes only the stretch of
boundary that its colours and the photo's edges delimit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from cutout_studio.core.refine.colour_model import fit_colour_model, log_density
from cutout_studio.core.refine.marks import Footprint
from cutout_studio.core.refine.strokes import LABEL_BG, LABEL_FG

#: Largest region (pixels) handed to one graph cut: bigger regions of interest are reduced to
#: it. OpenCV's GrabCut costs a few microseconds per free pixel; this keeps a stroke within the
#: ~150 ms that still feels instant.
DEFAULT_MAX_SOLVE_PIXELS = 16_000
#: Region of interest around a mark, in working pixels: its box grown by this much (at least).
_MIN_MARGIN = 32.0
_MARGIN_THICKNESS = 1.5  # times the mark's smaller side (3 radii for a dot)
#: How many times the region may grow (×2.5 each) when what flipped reaches its edge; the last
#: attempt covers the whole working copy.
_GROWTH_ATTEMPTS = 4
#: Pixels closer to the mark than this fraction of the region are left out of the model of
#: "the other side": the area the mark should flip lies there and must not vote against it.
_NEAR_FRACTION = 0.3
#: Weight of the automatic mask's log-odds against the colour log-likelihood ratio, and the
#: probabilities it is clipped to. A mark painted where the mask already agrees with it
#: confirms it rather than asks for more, so the model's word counts more the larger the share
#: of the mark that agreed (from PRIOR_WEIGHT to PRIOR_WEIGHT + CONFIRM_WEIGHT). Measured with
#: the click protocol (core/clicks.py) on DAVIS, where clicks always disagree: a weight of 0.3
#: cost a click of NoC@90 (4.2 vs 3.2 at 0.15) and most of the first click's gain; strokes
#: along a dark subject next to dark pavement (tests) flood it below 0.3.
#: Alpha within this of 0 or 1: what the automatic mask is sure about (see graph_cut).
_SURE = 0.02
#: Colours of the mark's side near it taken into its model (see graph_cut).
_CONTEXT_SAMPLES = 1500
PRIOR_WEIGHT = 0.1
CONFIRM_WEIGHT = 0.9
_PRIOR_CLIP = 1e-3


@dataclass
class Solution:
    """One graph cut on a (possibly reduced) crop of the working copy."""

    roi: tuple[int, int, int, int]  # (y0, y1, x0, x1) in working pixels
    rgb: np.ndarray  # the crop on the solve grid
    labels: np.ndarray  # mark labels on the solve grid (including the new mark)
    alpha: np.ndarray  # float: the current alpha on the grid (the model's probability, as edited)
    stroke: np.ndarray  # bool: the new mark's pixels
    new_fg: np.ndarray = field(init=False)  # bool: foreground after this mark
    changed: np.ndarray = field(init=False)  # bool: flipped by this mark (connected to it)

    @property
    def current_fg(self) -> np.ndarray:
        result: np.ndarray = self.alpha >= 0.5
        return result


def solve(
    work_rgb: np.ndarray,
    work_alpha: np.ndarray,
    work_labels: np.ndarray,
    label: int,
    mark: Footprint,
    max_solve_pixels: int = DEFAULT_MAX_SOLVE_PIXELS,
) -> Solution:
    """One graph cut around the mark on the working copy (``changed`` is empty when nothing flips).

    ``work_*`` are the working copy's photo, alpha and labels (the new mark already painted),
    ``mark`` the new mark's pixels there. The region of interest is the mark's box plus a
    margin; while what flipped reaches its edge, the region grows and the cut runs again.
    """
    wh, ww = work_alpha.shape
    by0, by1, bx0, bx1 = mark.box
    size = max(by1 - by0, bx1 - bx0)
    margin = max(_MIN_MARGIN, _MARGIN_THICKNESS * min(by1 - by0, bx1 - bx0))
    context = _context(work_rgb, work_alpha, work_labels, label, mark)
    for attempt in range(_GROWTH_ATTEMPTS):
        if attempt == _GROWTH_ATTEMPTS - 1:
            margin = float(max(wh, ww))
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
        stroke = np.zeros((crop_h, crop_w), np.float32)
        stroke[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] = mark.mask
        if (gh, gw) != (crop_h, crop_w):
            rgb = cv2.resize(rgb, (gw, gh), interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(alpha, (gw, gh), interpolation=cv2.INTER_AREA)
            labels = cv2.resize(labels, (gw, gh), interpolation=cv2.INTER_NEAREST)
            stroke = cv2.resize(stroke, (gw, gh), interpolation=cv2.INTER_AREA)
        else:
            labels = labels.copy()
        grid_stroke = stroke > 0
        if not grid_stroke.any():  # a mark thinner than a grid cell still seeds its cell
            grid_stroke[np.unravel_index(int(np.argmax(stroke)), stroke.shape)] = True
        labels[grid_stroke] = label  # the reduced grid must still see the new mark
        solution = Solution(
            (y0, y1, x0, x1), np.ascontiguousarray(rgb), labels, np.asarray(alpha, np.float32), grid_stroke
        )
        graph_cut(solution, label, context)
        changed = solution.changed
        touches_edge = (
            (y0 > 0 and changed[0].any())
            or (y1 < wh and changed[-1].any())
            or (x0 > 0 and changed[:, 0].any())
            or (x1 < ww and changed[:, -1].any())
        )
        if not touches_edge:
            break
        margin = 2.5 * margin + 0.5 * size
    return solution


def _context(
    work_rgb: np.ndarray, work_alpha: np.ndarray, work_labels: np.ndarray, label: int, mark: Footprint
) -> np.ndarray:
    """Colours of the other side over the whole working copy, away from the mark (about 20,000
    samples): a small region of interest on a wrongly included object would otherwise model
    "the other side" with the object's own colours, and the mark would flip nothing."""
    by0, by1, bx0, bx1 = mark.box
    cy, cx = (by0 + by1) / 2, (bx0 + bx1) / 2
    step = max(1, int(math.sqrt(work_alpha.size / 20_000)))
    alpha = work_alpha[::step, ::step]
    labels = work_labels[::step, ::step]
    yy, xx = np.mgrid[0 : work_alpha.shape[0] : step, 0 : work_alpha.shape[1] : step]
    near = np.hypot(yy - cy, xx - cx) < 0.15 * max(work_alpha.shape)
    other = (alpha <= _SURE) if label == LABEL_FG else (alpha >= 1.0 - _SURE)
    other &= labels != label
    pick = other & ~near
    if pick.sum() < 50:
        pick = other
    result: np.ndarray = work_rgb[::step, ::step][pick]
    return result


def _dilate_disc(mask: np.ndarray, reach: int) -> np.ndarray:
    """``mask`` dilated by OpenCV's elliptic kernel of radius ``reach``, computed on the mask's
    box grown by ``reach`` only (nothing farther can be reached): the same pixels at a
    fraction of the cost of a large kernel over the whole region."""
    out = np.zeros(mask.shape, bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return out
    y0, y1 = max(0, int(rows[0]) - reach), min(mask.shape[0], int(rows[-1]) + reach + 1)
    x0, x1 = max(0, int(cols[0]) - reach), min(mask.shape[1], int(cols[-1]) + reach + 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)
    out[y0:y1, x0:x1] = cv2.dilate(mask[y0:y1, x0:x1].astype(np.uint8), kernel) > 0
    return out


def graph_cut(solution: Solution, label: int, context: np.ndarray | None = None) -> None:
    """GrabCut with colour models built from the user's intent; fills ``new_fg`` and ``changed``.

    For a foreground mark the foreground model is the colours marked as foreground in the
    region, the background model the colours of the current background away from the mark
    (the area the mark should pull in lies near it and must not vote for "background"). The
    current foreground is fixed (a foreground mark only adds), the current background is
    free: the cut decides which of it joins. A background mark is the mirror image. Marks of
    either kind are hard labels, so a mark never flips pixels marked as the other kind.
    """
    rgb, labels, current_fg = solution.rgb, solution.labels, solution.current_fg
    fg_label, bg_label = labels == LABEL_FG, labels == LABEL_BG
    size = max(current_fg.shape)
    reach = max(3, round(_NEAR_FRACTION * size))
    near = _dilate_disc(solution.stroke, reach)
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
    # What the mark joins counts too: the same side's colours near the mark (the subject
    # around a missed part, the background around a stray blob), as much as the mark's own.
    same = (current_fg if adding else ~current_fg) & near & ~(fg_label | bg_label)
    if same.any() and len(intent):
        context = rgb[same][:: max(1, int(same.sum()) // _CONTEXT_SAMPLES)]
        repeat = max(1, round(len(context) / len(intent)))
        intent = np.concatenate([np.repeat(intent, repeat, axis=0), context])
    # The other side's model is weighted by the model's probability too: only pixels it is
    # sure about speak for the other side (a wrongly included part is where it hesitated).
    sure = (solution.alpha <= _SURE) if adding else (solution.alpha >= 1.0 - _SURE)
    if (other_pool & sure).sum() >= 50:
        other_pool = other_pool & sure
    far = other_pool & ~near
    other = rgb[far] if far.sum() >= 50 else rgb[other_pool]
    if context is not None and len(context):
        other = np.concatenate([other, context])
    # Earlier marks of the other kind are explicit statements about the other side too.
    other = np.concatenate([other, rgb[bg_label if adding else fg_label]])
    intent_model, other_model = fit_colour_model(intent), fit_colour_model(other)

    fg_model, bg_model = (intent_model, other_model) if adding else (other_model, intent_model)
    # the rectangle is read only by GC_INIT_WITH_RECT: an empty one stands for "none"
    cv2.grabCut(rgb, gc, (0, 0, 0, 0), bg_model, fg_model, 1, cv2.GC_EVAL_FREEZE_MODEL)
    result_fg = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)

    flipped = (result_fg & ~current_fg) if adding else (current_fg & ~result_fg)
    flipped &= ~(bg_label if adding else fg_label)
    if flipped.any():
        # The model's probability weighs in: a pixel flips only where the mark's colours explain
        # it better than the other side's once the automatic mask's log-odds are counted.
        p = np.clip(solution.alpha[flipped], _PRIOR_CLIP, 1.0 - _PRIOR_CLIP)
        log_odds = np.log(p / (1.0 - p))
        colours = rgb[flipped]
        ratio = log_density(intent_model, colours) - log_density(other_model, colours)
        stroke = solution.stroke
        agreed = float((stroke & (current_fg if adding else ~current_fg)).sum()) / max(int(stroke.sum()), 1)
        weight = PRIOR_WEIGHT + CONFIRM_WEIGHT * agreed
        score = ratio + weight * (log_odds if adding else -log_odds)
        flipped[flipped] = score > 0
        flipped |= solution.stroke & ((~current_fg) if adding else current_fg)
    count, components = cv2.connectedComponents(flipped.astype(np.uint8), connectivity=8)
    changed = np.zeros_like(flipped)
    if count > 1:
        touching = cv2.dilate(solution.stroke.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        ids = np.unique(components[touching & flipped])
        ids = ids[ids > 0]
        if ids.size:
            changed = np.isin(components, ids)
    solution.changed = changed
    solution.new_fg = (current_fg | changed) if adding else (current_fg & ~changed)
