"""The refine-edge brush: matting only inside the painted footprint, on a real photo's hair."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cutout_studio.core.edge_brush import EdgeEdits, footprint_weights, refine_edge
from cutout_studio.core.refine import stroke_mask

PERSON = Path(__file__).resolve().parents[1] / "data" / "people-ccp__ccp0041.jpg"


@pytest.fixture(scope="module")
def photo() -> tuple[np.ndarray, np.ndarray]:
    rgb = np.asarray(Image.open(PERSON).convert("RGB"))
    alpha = (np.asarray(Image.open(PERSON.with_suffix(".png")).convert("L")) > 127).astype(np.float32)
    return rgb, alpha


def _stroke_across_outline(alpha: np.ndarray) -> list[tuple[float, float]]:
    """Three points along the top of the subject (the hair), crossing its outline."""
    rows = np.flatnonzero(alpha.max(axis=1) > 0.5)
    top = int(rows[0]) + 6
    cols = np.flatnonzero(alpha[top] > 0.5)
    mid = float(cols[len(cols) // 2])
    return [(mid - 25.0, float(top) - 4), (mid, float(top) - 2), (mid + 25.0, float(top) - 4)]


def test_refine_edge_changes_alpha_only_inside_the_painted_footprint(photo):
    rgb, alpha = photo
    points = _stroke_across_outline(alpha)
    radius = 12.0
    patch = refine_edge(rgb, alpha, points, radius, hardness=1.0)
    assert patch is not None
    edits = EdgeEdits()
    edits.add(patch)
    out = edits.apply(alpha)
    h, w = alpha.shape
    footprint = stroke_mask(np.array(points), radius + 1.0, 0, 0, w, h)
    changed = out != alpha
    assert changed.sum() > 50  # matting really re-estimated the painted stretch of edge
    assert not (changed & ~footprint).any()  # and nothing beyond the brush
    soft = (out > 0.02) & (out < 0.98)
    assert soft[footprint].any() and not soft[~footprint].any()
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1

    # Undo gives back the mask exactly; redo the patch.
    edits.undo()
    assert np.array_equal(edits.apply(alpha), alpha)
    edits.redo()
    assert np.array_equal(edits.apply(alpha), out)


def test_hardness_shapes_the_footprint():
    box = (0, 41, 0, 41)
    hard = footprint_weights([(20.0, 20.0)], 10.0, 1.0, box)
    soft = footprint_weights([(20.0, 20.0)], 10.0, 0.0, box)
    half = footprint_weights([(20.0, 20.0)], 10.0, 0.5, box)
    assert hard[20, 20] == soft[20, 20] == half[20, 20] == 1.0
    assert hard[20, 29] == 1.0 and 0 < soft[20, 29] < 0.2  # near the rim: full vs faint
    assert half[20, 24] == 1.0 and 0 < half[20, 28] < 1  # full inside half the radius
    for weights in (hard, soft, half):
        assert weights[20, 31] == 0 and weights[0, 0] == 0  # nothing beyond the radius
    assert np.count_nonzero(hard) == np.count_nonzero(cv2.circle(np.zeros((41, 41), np.uint8), (20, 20), 10, 1, -1))


def test_reset_drops_patches_and_undo_gives_them_back(photo):
    rgb, alpha = photo
    patch = refine_edge(rgb, alpha, _stroke_across_outline(alpha), 10.0)
    assert patch is not None
    edits = EdgeEdits()
    edits.session_step()
    edits.add(patch)
    edited = edits.apply(alpha)
    edits.reset()
    assert np.array_equal(edits.apply(alpha), alpha)
    assert edits.next_undo() == "reset"
    edits.undo()
    assert np.array_equal(edits.apply(alpha), edited)
    assert edits.next_undo() == "edge"
    edits.undo()
    assert edits.next_undo() == "session"
