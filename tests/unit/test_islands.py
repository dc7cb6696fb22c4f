"""Island clean-up (EdgeOptions.min_island, `--min-island`): keep the main subject, drop small
islands and fill small holes, on a real photo's ground-truth mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cutout_studio.cli import build_parser, export_options_from_args
from cutout_studio.core.edges import EdgeOptions, apply_edges, remove_islands
from cutout_studio.core.options import OptionsError
from tests.unit.test_refine import disc, load, soften


@pytest.fixture(scope="module")
def photo() -> tuple[np.ndarray, np.ndarray]:
    return load("people-ccp__ccp0003")


def parts(alpha: np.ndarray) -> int:
    return cv2.connectedComponents((alpha >= 0.5).astype(np.uint8), connectivity=8)[0] - 1


def test_small_islands_go_small_holes_fill_and_the_subject_stays(photo):
    rgb, truth = photo
    inside = cv2.distanceTransform(truth.astype(np.uint8), cv2.DIST_L2, 5)
    cy, cx = np.unravel_index(np.argmax(inside), inside.shape)
    hole = disc(truth.shape, (cx, cy), 4)  # ~50 px: a speck the model left in the subject
    speck = disc(truth.shape, (8, 8), 4)  # a stray bit of background in a corner
    big = disc(truth.shape, (truth.shape[1] - 30, truth.shape[0] - 30), 15)  # ~700 px: a real part
    assert not (truth & (speck | big)).any()
    alpha = soften((truth & ~hole) | speck | big)
    assert parts(alpha) == 3

    out = apply_edges(rgb, alpha, EdgeOptions(min_island=200))
    assert parts(out) == 2 and np.all(out[speck] == 0.0) and np.all(out[big] == alpha[big])
    # the speck's soft rim went with it: no halo where it was
    assert (out[disc(truth.shape, (8, 8), 9)] < 0.5 / 255).all()
    assert np.all(out[hole] == 1.0)
    # the subject itself and its soft outline are untouched
    far = ~(disc(truth.shape, (8, 8), 9) | disc(truth.shape, (cx, cy), 9))
    assert np.abs(out[far] - alpha[far]).max() < 0.5 / 255

    # the largest part stays even when it is below the threshold; 0 keeps everything
    assert parts(remove_islands(alpha, 10**6)) == 1
    assert np.array_equal(apply_edges(rgb, alpha, EdgeOptions()), alpha)


def test_background_touching_the_border_is_never_filled(photo):
    rgb, truth = photo
    alpha = truth.astype(np.float32)
    out = remove_islands(alpha, 10**6)
    # the subject's largest part stays; the surroundings, however small a share, stay empty
    assert out[0, 0] == 0.0 and (out == 0.0).sum() >= ((alpha == 0.0).sum() - (truth == 0).sum() // 10)


def test_min_island_range_and_cli_flag():
    assert EdgeOptions(min_island=500).changes_alpha and not EdgeOptions().changes_alpha
    with pytest.raises(OptionsError, match="min island"):
        EdgeOptions(min_island=-1)
    args = build_parser().parse_args(["cut", "x.jpg", "--min-island", "400"])
    assert export_options_from_args(args).edges.min_island == 400
    with pytest.raises(SystemExit):
        build_parser().parse_args(["cut", "x.jpg", "--min-island", "2.5"])
