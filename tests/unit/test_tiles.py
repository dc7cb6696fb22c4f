"""The near-edge tile engine (cutout_studio.core.tiles) shared by edges, guided and refine."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cutout_studio.core.tiles import active_boxes, fixed_spans, runs, spread, tile_extrema

DATA = Path(__file__).resolve().parents[1] / "data"


def test_runs_partition_the_image_and_merge_equal_neighbours() -> None:
    rng = np.random.default_rng(3)
    verdict = rng.integers(0, 3, (7, 11)).astype(np.int8)
    verdict[2] = 1  # one whole row of the same verdict becomes one rectangle
    rows, cols = fixed_spans(100, 16), fixed_spans(170, 16)
    covered = np.full((100, 170), -1, np.int16)
    found = list(runs(verdict, rows, cols))
    for (y0, y1, x0, x1), value in found:
        assert (covered[y0:y1, x0:x1] == -1).all()  # no overlap
        covered[y0:y1, x0:x1] = value
    expected = np.repeat(np.repeat(verdict, 16, axis=0), 16, axis=1)[:100, :170]
    assert np.array_equal(covered, expected)
    # Left to right in a row, neighbouring rectangles always differ (else they were merged).
    for (a, va), (b, vb) in zip(found, found[1:], strict=False):
        if a[0] == b[0]:
            assert va != vb and a[3] == b[2]
    assert [box for box, _ in found if box[0] == 32] == [(32, 48, 0, 170)]


def test_active_boxes_cover_the_near_edge_tiles_of_a_real_mask_in_capped_runs() -> None:
    mask = cv2.imread(str(DATA / "people-ccp__ccp0001.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    tile = 32
    mins, maxs = tile_extrema(mask, tile)
    active = spread(maxs, 1, grow=True) > spread(mins, 1, grow=False)
    assert 0 < active.sum() < active.size  # the outline, not the whole photo

    boxes = list(active_boxes(active, tile, mask.shape, max_run=3))
    hit = np.zeros(mask.shape, bool)
    for y0, y1, x0, x1 in boxes:
        assert not hit[y0:y1, x0:x1].any()
        assert x1 - x0 <= 3 * tile
        hit[y0:y1, x0:x1] = True
    expected = np.repeat(np.repeat(active, tile, axis=0), tile, axis=1)[: mask.shape[0], : mask.shape[1]]
    assert np.array_equal(hit, expected)
    # Every pixel where the mask changes value lies in a box (nothing near an edge is skipped).
    edge = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    assert hit[edge].all()
