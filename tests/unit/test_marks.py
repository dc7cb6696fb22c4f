"""Issue 10, engine side: marks are the input, their effect follows the image, results are clean.

Real photos (tests/data) with the model's errors simulated as in test_refine: a missed part
(where the model hesitated) or a wrongly included background blob.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cutout_studio.core.refine import LABEL_BG, LABEL_FG, RefineSession
from tests.unit.test_refine import PHOTOS, iou, load, missed, missed_chunk, soften, wrong_blob


@pytest.fixture(scope="module", params=PHOTOS)
def photo(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    return load(request.param)


def changed_count(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.count_nonzero(np.abs(a - b) > 1 / 255))


# ------------------------------------------------------------------------------ 1. marks


def test_erasing_a_stroke_along_its_path_gives_back_the_mask_before_it(photo):
    rgb, truth = photo
    chunk, (cx, cy), radius = missed_chunk(truth)
    blob, centre, blob_radius = wrong_blob(truth)
    auto = missed(truth | blob, chunk)
    session = RefineSession(rgb, auto)
    session.add_stroke("bg", [centre], blob_radius / 4)  # an earlier mark that must survive
    before = session.refine().copy()
    labels_before = session.labels.copy()

    path = [(cx - radius / 2, cy - radius / 4), (cx, cy), (cx + radius / 2, cy + radius / 4)]
    session.add_stroke("fg", path, radius / 5)
    stroked = session.refine().copy()
    changed = changed_count(stroked, before)
    assert changed > 4 * np.count_nonzero(session.labels == LABEL_FG)  # it did spread

    session.add_stroke("erase", path, radius / 5)
    assert changed_count(session.refine(), before) <= 0.01 * changed
    assert np.array_equal(session.labels, labels_before)
    # Undo and redo act on marks: the stroke comes back, and goes again.
    assert session.undo() and np.array_equal(session.refine(), stroked)
    assert session.redo() and changed_count(session.refine(), before) <= 0.01 * changed


def test_erasing_an_earlier_stroke_keeps_the_later_one():
    rgb, truth = load(PHOTOS[1])
    chunk, (cx, cy), radius = missed_chunk(truth)
    blob, centre, blob_radius = wrong_blob(truth)
    auto = missed(truth | blob, chunk)
    only_bg = RefineSession(rgb, auto)
    only_bg.add_stroke("bg", [centre], blob_radius / 4)

    session = RefineSession(rgb, auto)
    session.add_stroke("fg", [(cx, cy)], radius / 5)
    session.add_stroke("bg", [centre], blob_radius / 4)
    with_both = session.refine().copy()
    session.add_stroke("erase", [(cx, cy)], radius / 5 + 1)
    assert not (session.labels == LABEL_FG).any()
    alpha = session.refine()
    # The fg mark's effect is gone: the missed part is missed again, as the model had it...
    assert (alpha >= 0.5)[chunk].mean() < 0.1 < (with_both >= 0.5)[chunk].mean()
    # ...and the later bg mark keeps its own (which was solved with the fg effect in place).
    assert np.array_equal(session.labels == LABEL_BG, only_bg.labels == LABEL_BG)
    assert np.array_equal((alpha < 0.5) & blob, (with_both < 0.5) & blob)


# ------------------------------------------------------------------------------ 2. effect


def test_a_click_inside_a_missed_part_restores_most_of_it(photo):
    rgb, truth = photo
    chunk, (cx, cy), _ = missed_chunk(truth)
    auto = missed(truth, chunk)
    session = RefineSession(rgb, auto)
    session.add_stroke("fg", [(cx, cy)], 5)  # one click, a 5-px dot: ~1 % of the part
    alpha = session.refine()
    assert (alpha >= 0.5)[chunk].mean() > 0.7
    added = (alpha >= 0.5) & (auto < 0.5)
    assert (added & truth).sum() / added.sum() > 0.85
    assert iou(alpha >= 0.5, truth) > iou(auto >= 0.5, truth) + 0.03


def test_a_click_on_a_wrongly_included_blob_removes_most_of_it(photo):
    rgb, truth = photo
    blob, centre, _ = wrong_blob(truth)
    auto = soften(truth | blob)
    session = RefineSession(rgb, auto)
    session.add_stroke("bg", [centre], 5)
    alpha = session.refine()
    # The blob is a disc of textured background, not an object: the click takes the
    # colour-coherent stretch around it, many times its own area, and no subject.
    removed = (alpha < 0.5) & (auto >= 0.5)
    assert removed.sum() > 5 * (session.labels == LABEL_BG).sum()
    assert (removed & ~truth).sum() / removed.sum() > 0.9
    assert iou(alpha >= 0.5, truth) > iou(auto >= 0.5, truth)


def test_a_mark_never_flips_pixels_painted_by_the_other_kind(photo):
    rgb, truth = photo
    chunk, (cx, cy), radius = missed_chunk(truth)
    auto = missed(truth, chunk)
    session = RefineSession(rgb, auto)
    # Background dots inside the missed part, then a foreground stroke across it.
    for dx in (-radius / 2, radius / 2):
        session.add_stroke("bg", [(cx + dx, cy + radius / 3)], radius / 8)
    bg_marked = session.labels == LABEL_BG
    session.add_stroke("fg", [(cx - radius / 2, cy), (cx + radius / 2, cy)], radius / 6)
    assert np.all(session.refine()[bg_marked & (session.labels == LABEL_BG)] == 0.0)
    assert np.array_equal(session.labels == LABEL_BG, bg_marked)
    # And the mirror image: a background click does not take foreground marks.
    fg_marked = session.labels == LABEL_FG
    session.add_stroke("bg", [(cx, cy + radius / 3)], radius / 6)
    assert np.all(session.refine()[fg_marked & (session.labels == LABEL_FG)] == 1.0)


# ------------------------------------------------------------------------------ 4. clean results


def test_no_haze_outside_the_soft_edge(photo):
    rgb, truth = photo
    chunk, (cx, cy), radius = missed_chunk(truth)
    blob, centre, blob_radius = wrong_blob(truth)
    auto = ((truth & ~chunk) | blob).astype(np.float32)  # a hard mask: any soft pixel is the engine's
    session = RefineSession(rgb, auto)
    session.add_stroke("bg", [centre], blob_radius / 4)
    session.add_stroke("bg", [(centre[0] + blob_radius / 3, centre[1])], 4)
    session.add_stroke("fg", [(cx, cy)], radius / 5)
    alpha = session.refine()
    assert changed_count(alpha, auto) > 1000
    hard = (alpha >= 0.5).astype(np.uint8)
    distance = np.where(
        hard > 0,
        cv2.distanceTransform(hard, cv2.DIST_L2, cv2.DIST_MASK_PRECISE),
        cv2.distanceTransform(1 - hard, cv2.DIST_L2, cv2.DIST_MASK_PRECISE),
    )
    soft = (alpha > 0.0) & (alpha < 1.0)
    # 3-px masks approximate distances within a few percent: a pixel of slack.
    assert not (soft & (distance > session.soft_edge + 1)).any()
