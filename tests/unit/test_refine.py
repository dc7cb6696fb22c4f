"""Brush refinement (cutout_studio.core.refine.RefineSession) on real photos with simulated model errors.

The automatic mask is the ground truth damaged the way a model goes wrong: a chunk of the
subject missed, or a background blob included, with soft edges. Strokes are then painted where
a user would paint them, and the result is compared with the ground truth.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from cutout_studio.core.refine import LABEL_BG, LABEL_FG, LABEL_NONE, RefineSession, Stroke, stroke_mask

DATA = Path(__file__).resolve().parents[1] / "data"
# people-ccp__ccp0001 is this module's; the other two pairs are shared with the segmenter tests.
PHOTOS = ["people-ccp__ccp0001", "people-ccp__ccp0003", "davis__davis032"]


def load(name: str, max_side: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Photo (RGB uint8) and ground truth (bool), reduced to ``max_side`` to keep tests fast."""
    rgb = cv2.imread(str(DATA / f"{name}.jpg"), cv2.IMREAD_COLOR)[:, :, ::-1]
    truth = cv2.imread(str(DATA / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
    scale = max_side / max(truth.shape)
    if scale < 1:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        truth = cv2.resize(truth, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb), truth > 127


def soften(mask: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.5)


#: What the model says on a part it missed: measured on U²-Netp masks of DAVIS and people
#: photos, the missed pixels' median alpha is 0.1-0.35 (true background is exactly 0).
HESITATION = 0.2


def missed(truth: np.ndarray, chunk: np.ndarray) -> np.ndarray:
    """An automatic mask that missed ``chunk`` of the subject, hesitating there as models do."""
    auto = soften(truth & ~chunk)
    auto[chunk] = np.maximum(auto[chunk], HESITATION)
    return auto


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def disc(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2


def missed_chunk(truth: np.ndarray) -> tuple[np.ndarray, tuple[float, float], float]:
    """A disc of the subject around its most interior point: the part the model missed."""
    depth = cv2.distanceTransform(truth.astype(np.uint8), cv2.DIST_L2, 5)
    cy, cx = np.unravel_index(np.argmax(depth), depth.shape)
    radius = 0.12 * max(truth.shape)
    return disc(truth.shape, (cx, cy), radius) & truth, (float(cx), float(cy)), radius


def wrong_blob(truth: np.ndarray) -> tuple[np.ndarray, tuple[float, float], float]:
    """A background disc touching the subject: what the model wrongly included."""
    radius = 0.08 * max(truth.shape)
    distance = cv2.distanceTransform((~truth).astype(np.uint8), cv2.DIST_L2, 5)
    candidates = np.argwhere((distance > 0.6 * radius) & (distance < 0.9 * radius))
    cy, cx = candidates[len(candidates) // 2]
    return disc(truth.shape, (cx, cy), radius) & ~truth, (float(cx), float(cy)), radius


@pytest.fixture(scope="module", params=PHOTOS)
def photo(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    return load(request.param)


# ------------------------------------------------------------------------------ GrabCut behaviour


def test_fg_stroke_pulls_in_the_missed_region(photo):
    rgb, truth = photo
    chunk, (cx, cy), radius = missed_chunk(truth)
    auto = missed(truth, chunk)
    session = RefineSession(rgb, auto)
    session.add_stroke("fg", [(cx - radius / 3, cy), (cx + radius / 3, cy)], radius / 4)
    alpha = session.refine()

    painted = session.labels == LABEL_FG
    assert painted.any() and np.all(alpha[painted] == 1.0)
    assert iou(alpha >= 0.5, truth) > iou(auto >= 0.5, truth) + 0.05
    # GrabCut, not just paint: the stroke brings in several times its own area, and what it
    # brings in is the subject.
    added = (alpha >= 0.5) & (auto < 0.5) & ~painted
    assert added.sum() > 3 * painted.sum()
    assert (added & truth).sum() / added.sum() > 0.85
    assert (alpha >= 0.5)[chunk].mean() > 0.9


def test_bg_stroke_removes_the_wrongly_included_region(photo):
    rgb, truth = photo
    blob, centre, radius = wrong_blob(truth)
    auto = soften(truth | blob)
    session = RefineSession(rgb, auto)
    session.add_stroke("bg", [centre], radius / 5)
    alpha = session.refine()

    painted = session.labels == LABEL_BG
    assert painted.any() and np.all(alpha[painted] == 0.0)
    false_before = ((auto >= 0.5) & ~truth).sum()
    false_after = ((alpha >= 0.5) & ~truth).sum()
    assert false_after < 0.75 * false_before
    removed = (alpha < 0.5) & (auto >= 0.5) & ~painted
    assert removed.sum() > 3 * painted.sum()
    assert (removed & ~truth).sum() / removed.sum() > 0.95  # the subject itself stays
    assert iou(alpha >= 0.5, truth) > iou(auto >= 0.5, truth)


@pytest.mark.parametrize(
    ("name", "points", "radius"),
    [
        # a stroke along the fire hydrant's chain cap, over a dark gap next to dark pavement
        ("objects-coco__fire_hydrant02_000000020107", [(136, 262), (133, 285), (139, 312)], 6),
        # a stroke across the teddy bear's dark arm, next to the box's dark shadow
        ("objects-coco__teddy_bear04_000000325527", [(232, 232), (250, 246), (268, 252)], 9),
    ],
)
def test_fg_stroke_does_not_flood_a_similar_coloured_background(name, points, radius):
    """Found in the editor: these strokes once pulled in 5,000-22,000 px of shadow and pavement."""
    rgb, truth = load(name, max_side=10_000)
    auto = soften(truth)
    session = RefineSession(rgb, auto)
    session.add_stroke("fg", points, radius)
    alpha = session.refine()
    painted = session.labels == LABEL_FG
    added_wrongly = (alpha >= 0.5) & (auto < 0.5) & ~truth & ~painted
    # at most a thin fringe: nothing like the area of the stroke itself
    assert added_wrongly.sum() < 0.5 * painted.sum()
    # The stroke confirmed what the mask already said: it takes little beyond its own pixels.
    assert ((alpha >= 0.5) & (auto < 0.5) & ~painted).sum() < 2 * painted.sum()


def test_stroke_changes_nothing_far_away():
    rgb, truth = load(PHOTOS[0])
    chunk, (cx, cy), radius = missed_chunk(truth)
    auto = soften(truth & ~chunk)
    session = RefineSession(rgb, auto)
    session.add_stroke("fg", [(cx, cy)], radius / 6)
    changed = session.refine() != auto
    ys, xs = np.nonzero(changed)
    # Everything that changed lies within the stroke's neighbourhood (the missed chunk).
    assert np.hypot(xs - cx, ys - cy).max() < 2.5 * radius


def test_works_when_the_photo_is_larger_than_the_working_copy():
    """Full-resolution mapping (guided snapping, tiles) when solving on a reduced copy."""
    rgb, truth = load(PHOTOS[0], max_side=640)
    big = cv2.resize(rgb, None, fx=2.5, fy=2.5, interpolation=cv2.INTER_CUBIC)
    big_truth = (
        cv2.resize(truth.astype(np.uint8), (big.shape[1], big.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    )
    chunk, (cx, cy), radius = missed_chunk(big_truth)
    auto = soften(big_truth & ~chunk)
    session = RefineSession(big, auto, work_max_side=400)
    session.add_stroke("fg", [(cx - radius / 3, cy), (cx + radius / 3, cy)], radius / 4)
    alpha = session.refine()

    assert alpha.shape == big_truth.shape and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    assert np.all(alpha[session.labels == LABEL_FG] == 1.0)
    assert (alpha >= 0.5)[chunk].mean() > 0.9
    assert iou(alpha >= 0.5, big_truth) > iou(auto >= 0.5, big_truth) + 0.05
    # The new outline follows the photo's edge (snapped at full resolution), not the working
    # copy's blocky pixels: the disagreement with the truth is a thin line around the chunk.
    wrong = (alpha >= 0.5) != big_truth
    assert wrong[disc(big_truth.shape, (cx, cy), radius * 1.2)].mean() < 0.04


# ------------------------------------------------------------------------------ history


def test_undo_restores_exactly_and_redo_reapplies():
    rgb, truth = load(PHOTOS[1])
    chunk, (cx, cy), radius = missed_chunk(truth)
    blob, centre, blob_radius = wrong_blob(truth)
    auto = soften((truth & ~chunk) | blob)
    session = RefineSession(rgb, auto)
    assert not session.can_undo and not session.can_redo
    assert session.undo() is False and session.redo() is False

    session.add_stroke("fg", [(cx, cy)], radius / 5)
    after_first = session.refine().copy()
    labels_first = session.labels.copy()
    session.add_stroke("bg", [centre], blob_radius / 4)
    after_second = session.refine().copy()
    labels_second = session.labels.copy()
    assert not np.array_equal(after_first, after_second)

    assert session.undo() and session.can_redo
    assert np.array_equal(session.refine(), after_first)
    assert np.array_equal(session.labels, labels_first)
    assert session.undo() and not session.can_undo
    assert np.array_equal(session.refine(), auto)
    assert not session.labels.any()

    assert session.redo() and session.redo() and not session.can_redo
    assert np.array_equal(session.refine(), after_second)
    assert np.array_equal(session.labels, labels_second)

    # A new stroke after an undo drops the redo branch.
    session.undo()
    session.add_stroke("bg", [(5.0, 5.0)], 3)
    assert not session.can_redo and session.redo() is False


def test_reset_returns_to_the_automatic_mask_and_is_undoable():
    rgb, truth = load(PHOTOS[0])
    chunk, (cx, cy), radius = missed_chunk(truth)
    auto = soften(truth & ~chunk)
    session = RefineSession(rgb, auto)
    session.add_stroke("fg", [(cx, cy)], radius / 5)
    stroked = session.refine().copy()
    session.reset()
    assert np.array_equal(session.refine(), auto) and not session.labels.any()
    assert session.undo()
    assert np.array_equal(session.refine(), stroked)



def test_strokes_list_what_made_the_mask_and_replay_to_the_same_mask():
    rgb, truth = load(PHOTOS[1])
    chunk, (cx, cy), radius = missed_chunk(truth)
    blob, centre, blob_radius = wrong_blob(truth)
    auto = soften((truth & ~chunk) | blob)
    session = RefineSession(rgb, auto)
    assert session.strokes == ()

    session.add_stroke("fg", np.array([[cx, cy], [cx + 4, cy + 2]]), radius / 5)
    session.add_stroke("bg", [centre], blob_radius / 4)
    session.add_stroke("erase", [(cx, cy)], 3)
    session.add_stroke("bg", [(5.0, 5.0)], 3)
    session.undo()  # the last bg dot is not part of the mask any more
    assert [s.kind for s in session.strokes] == ["fg", "bg", "erase"]
    first = session.strokes[0]
    assert first == Stroke("fg", ((cx, cy), (cx + 4, cy + 2)), radius / 5)
    assert all(isinstance(v, float) for point in first.points for v in point)

    session.reset()
    assert session.strokes == ()
    session.undo()  # undoing the reset brings its strokes back
    assert [s.kind for s in session.strokes] == ["fg", "bg", "erase"]
    session.redo()
    session.undo()

    replayed = RefineSession(rgb, auto)
    for stroke in session.strokes:
        replayed.add_stroke(stroke.kind, stroke.points, stroke.radius)
    assert np.array_equal(replayed.refine(), session.refine())
    assert np.array_equal(replayed.labels, session.labels)


def test_partial_erase_removes_the_marks_under_it_and_recomputes_from_the_rest():
    rgb, truth = load(PHOTOS[0])
    chunk, (cx, cy), radius = missed_chunk(truth)
    auto = missed(truth, chunk)
    session = RefineSession(rgb, auto)
    session.add_stroke("fg", [(cx - radius / 2, cy), (cx + radius / 2, cy)], radius / 5)
    labels_before = session.labels.copy()

    eraser = (cx + radius / 2, cy)
    session.add_stroke("erase", [eraser], radius / 4)
    erased = disc(auto.shape, eraser, radius / 4)
    alpha = session.refine()
    # The marks under the eraser are gone; the rest of the stroke stays a mark and still
    # decides the mask (its effect is recomputed from what remains).
    assert not session.labels[erased].any()
    assert np.array_equal(session.labels[~erased], labels_before[~erased])
    remaining = session.labels == LABEL_FG
    assert remaining.any() and np.all(alpha[remaining] == 1.0)
    assert (alpha >= 0.5)[chunk].mean() > 0.8
    # Erasing an area without marks changes nothing and is still one undo step.
    before = alpha.copy()
    session.add_stroke("erase", [(5.0, 5.0)], 3)
    assert np.array_equal(session.refine(), before) and session.undo()


# ------------------------------------------------------------------------------ labels


def test_dot_labels_exactly_the_disc():
    rgb, truth = load(PHOTOS[0])
    session = RefineSession(rgb, soften(truth))
    centre, radius = (100.3, 80.7), 6.5
    session.add_stroke("bg", [centre], radius)
    expected = disc(truth.shape, centre, radius)
    assert np.array_equal(session.labels == LABEL_BG, expected)
    assert np.array_equal(session.labels == LABEL_NONE, ~expected)
    assert np.all(session.refine()[expected] == 0.0)


def test_polyline_labels_exactly_the_pixels_within_radius():
    rgb, truth = load(PHOTOS[0])
    session = RefineSession(rgb, soften(truth))
    points = [(20.0, 30.0), (140.5, 60.25), (150.0, 160.0), (60.0, 150.0)]
    radius = 4.2
    session.add_stroke("fg", points, radius)
    # Brute force: distance of every pixel centre to every segment.
    yy, xx = np.mgrid[: truth.shape[0], : truth.shape[1]].astype(np.float64)
    best = np.full(truth.shape, np.inf)
    for (ax, ay), (bx, by) in zip(points[:-1], points[1:], strict=True):
        dx, dy = bx - ax, by - ay
        t = np.clip(((xx - ax) * dx + (yy - ay) * dy) / (dx * dx + dy * dy), 0, 1)
        best = np.minimum(best, np.hypot(xx - ax - t * dx, yy - ay - t * dy))
    expected = best <= radius
    assert np.array_equal(session.labels == LABEL_FG, expected)
    assert np.all(session.refine()[expected] == 1.0)


def test_later_stroke_overrides_labels_and_alpha():
    rgb, truth = load(PHOTOS[0])
    session = RefineSession(rgb, soften(truth))
    session.add_stroke("fg", [(50.0, 50.0), (90.0, 50.0)], 5)
    session.add_stroke("bg", [(70.0, 50.0)], 5)
    overlap = disc(truth.shape, (70.0, 50.0), 5)
    assert np.all(session.labels[overlap] == LABEL_BG)
    assert np.all(session.refine()[overlap] == 0.0)
    assert np.all(session.refine()[session.labels == LABEL_FG] == 1.0)


def test_stroke_mask_clips_to_the_rectangle():
    mask = stroke_mask(np.array([[5.0, 5.0]]), 3.0, 4, 4, 10, 10)
    assert mask.shape == (10, 10)
    expected = disc((14, 14), (5.0, 5.0), 3.0)[4:, 4:]
    assert np.array_equal(mask, expected)


def test_stroke_outside_the_photo_changes_nothing_but_is_one_undo_step():
    rgb, truth = load(PHOTOS[0])
    auto = soften(truth)
    session = RefineSession(rgb, auto)
    session.add_stroke("fg", [(-100.0, -100.0), (-50.0, -80.0)], 10)
    assert np.array_equal(session.refine(), auto) and not session.labels.any()
    assert session.can_undo and session.undo()


# ------------------------------------------------------------------------------ contract


def test_refine_returns_a_read_only_view_that_is_cached():
    rgb, truth = load(PHOTOS[0])
    session = RefineSession(rgb, soften(truth))
    first = session.refine()
    assert first is session.refine() or np.shares_memory(first, session.refine())
    with pytest.raises(ValueError):
        first[0, 0] = 0.5
    with pytest.raises(ValueError):
        session.labels[0, 0] = 1


def test_uint8_alpha_is_accepted():
    rgb, truth = load(PHOTOS[0])
    auto8 = (truth * 255).astype(np.uint8)
    session = RefineSession(rgb, auto8)
    alpha = session.refine()
    assert alpha.dtype == np.float32
    assert np.array_equal(alpha, auto8.astype(np.float32) / 255)


@pytest.mark.parametrize(
    ("rgb_shape", "rgb_dtype", "alpha_shape"),
    [
        ((40, 50, 3), np.float32, (40, 50)),
        ((40, 50), np.uint8, (40, 50)),
        ((40, 50, 4), np.uint8, (40, 50)),
        ((40, 50, 3), np.uint8, (50, 40)),
        ((40, 50, 3), np.uint8, (40, 50, 1)),
    ],
)
def test_bad_inputs_are_refused(rgb_shape, rgb_dtype, alpha_shape):
    with pytest.raises(ValueError):
        RefineSession(np.zeros(rgb_shape, rgb_dtype), np.zeros(alpha_shape, np.float32))


@pytest.mark.parametrize(
    ("kind", "points", "radius", "message"),
    [
        ("paint", [(1, 1)], 3, "kind"),
        ("fg", [(1, 1)], 0, "radius"),
        ("bg", [(1, 1)], -2, "radius"),
        ("fg", [(1, 1)], float("nan"), "radius"),
        ("fg", [], 3, "point"),
        ("fg", [(1, float("inf"))], 3, "finite"),
    ],
)
def test_bad_strokes_are_refused_with_a_clear_message(kind, points, radius, message):
    session = RefineSession(np.zeros((40, 50, 3), np.uint8), np.zeros((40, 50), np.float32))
    with pytest.raises(ValueError, match=message):
        session.add_stroke(kind, points, radius)
    assert not session.can_undo


def test_concurrent_strokes_are_serialised():
    rgb, truth = load(PHOTOS[0])
    session = RefineSession(rgb, soften(truth))
    errors: list[BaseException] = []

    def paint(kind: str, y: float) -> None:
        try:
            for x in range(20, 200, 40):
                session.add_stroke(kind, [(float(x), y)], 4)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=paint, args=("fg", 40.0)),
        threading.Thread(target=paint, args=("bg", 200.0)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    alpha = session.refine()
    assert np.all(alpha[session.labels == LABEL_FG] == 1.0)
    assert np.all(alpha[session.labels == LABEL_BG] == 0.0)
    count = 0
    while session.undo():
        count += 1
    assert count == 10
    assert not session.labels.any()
