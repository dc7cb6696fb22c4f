"""What a brush stroke reports and reuses for speed (issue 10, item 6): the box of the mask that
each change wrote (the editor recomposites only that box), and the exactness of the shortcuts
taken on the way."""

from __future__ import annotations

import cv2
import numpy as np

from cutout_studio.core.refine import RefineSession
from tests.unit.test_refine import PHOTOS, load, missed_chunk, soften, wrong_blob


def test_each_change_reports_a_box_around_every_pixel_it_changed():
    """The editor recomposites only the box the session reports: it must hold every changed
    pixel (full resolution larger than the working copy, so the snap's tiles are exercised)."""
    rgb, truth = load(PHOTOS[1], max_side=1500)
    chunk, (cx, cy), radius = missed_chunk(truth)
    blob, centre, blob_radius = wrong_blob(truth)
    session = RefineSession(rgb, soften((truth & ~chunk) | blob))
    start, start_alpha = session.version, session.refine().copy()

    def check(box: tuple[int, int, int, int] | None, before: np.ndarray) -> None:
        assert box == session.last_change
        changed = session.refine() != before
        if box is None:
            assert not changed.any()
            return
        y0, y1, x0, x1 = box
        inside = np.zeros_like(changed)
        inside[y0:y1, x0:x1] = True
        assert changed.any() and not (changed & ~inside).any()
        assert (y1 - y0) * (x1 - x0) < 0.5 * changed.size  # a box, not the whole photo

    fg_path = [(cx - radius / 3, cy), (cx + radius / 3, cy)]
    for kind, points, size in [
        ("fg", fg_path, radius / 5),
        ("bg", [centre], blob_radius / 4),
        ("erase", fg_path, radius / 5 + 2),
    ]:
        before = session.refine().copy()
        check(session.add_stroke(kind, points, size), before)
    for action in ("undo", "undo", "redo"):
        before = session.refine().copy()
        assert getattr(session, action)()
        check(session.last_change, before)
    # Nothing there to erase: no change, no box.
    before = session.refine().copy()
    assert session.add_stroke("erase", [(3.0, 3.0)], 2) is None and session.last_change is None
    # Over several changes: changed_since() holds every pixel that differs from then.
    y0, y1, x0, x1 = session.changed_since(start)
    differs = session.refine() != start_alpha
    assert differs.any() and not differs[:y0].any() and not differs[y1:].any()
    assert not differs[:, :x0].any() and not differs[:, x1:].any()
    assert session.changed_since(session.version) is None
    for action in ("reset", "undo"):
        before = session.refine().copy()
        getattr(session, action)()
        check(session.last_change, before)


def test_the_cropped_disc_dilation_equals_opencvs_on_the_whole_region():
    """graph_cut's "near the mark" zone is dilated on the mark's box only: the same pixels."""
    from cutout_studio.core.refine.graphcut import _dilate_disc

    rng = np.random.default_rng(3)
    for _ in range(100):
        mask = rng.random((int(rng.integers(1, 90)), int(rng.integers(1, 90)))) > rng.choice([0.99, 0.999, 1.0])
        reach = int(rng.integers(1, 45))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)
        assert np.array_equal(_dilate_disc(mask, reach), cv2.dilate(mask.astype(np.uint8), kernel) > 0)
