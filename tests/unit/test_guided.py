"""Edge-aware upsampling (cutout_studio.core.guided): the guided filter and its strip-wise fast form."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cutout_studio.core.guided import (
    default_radius,
    guided_coefficients,
    guided_filter,
    guided_upsample,
    pixel_centre_coords,
    resample_bilinear,
    working_size,
)

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def photo() -> tuple[np.ndarray, np.ndarray]:
    rgb = cv2.imread(str(DATA / "people-ccp__ccp0001.jpg"), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
    mask = cv2.imread(str(DATA / "people-ccp__ccp0001.png"), cv2.IMREAD_GRAYSCALE)
    return rgb, mask.astype(np.float32) / 255


def circle_photo(size: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """A red disc on a blue-grey background with a little noise, and its exact mask."""
    yy, xx = np.mgrid[:size, :size]
    inside = (xx + 0.5 - size / 2) ** 2 + (yy + 0.5 - size / 2) ** 2 <= radius**2
    rgb = np.where(inside[..., None], np.array([200, 40, 30]), np.array([70, 90, 110])).astype(np.int16)
    rng = np.random.default_rng(0)
    rgb = np.clip(rgb + rng.integers(-3, 4, rgb.shape), 0, 255).astype(np.uint8)
    return rgb, inside


def transition_width(profile: np.ndarray) -> int:
    """Pixels between the last 0.1 and the first 0.9 along an increasing edge profile."""
    low = np.flatnonzero(profile <= 0.1).max()
    high = np.flatnonzero(profile >= 0.9).min()
    return int(high - low)


def test_output_is_full_size_float_in_unit_range(photo):
    rgb, mask = photo
    # What a model gives: the mask at 320 px, a little blurry.
    small = cv2.GaussianBlur(cv2.resize(mask, (320, 320), interpolation=cv2.INTER_AREA), (0, 0), 1.0)
    for alpha_small in (small, (small * 255).astype(np.uint8)):
        out = guided_upsample(alpha_small, rgb)
        assert out.shape == mask.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
    # Still the subject, about as close to the truth as a plain bilinear upsample: on a small
    # photo with a nearly exact mask snapping has little to gain (the circle test below shows
    # what it gains on a blurry mask), and it must not lose much.
    out = guided_upsample(small, rgb)
    plain = cv2.resize(small, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    assert np.abs(out - mask).mean() < 1.5 * np.abs(plain - mask).mean()
    iou = lambda a: ((a >= 0.5) & (mask >= 0.5)).sum() / ((a >= 0.5) | (mask >= 0.5)).sum()  # noqa: E731
    assert iou(out) > iou(plain) - 0.015


def test_blurry_tiny_mask_gets_a_sharp_edge_where_the_circle_is():
    size, radius = 2000, 600.0
    rgb, inside = circle_photo(size, radius)
    tiny = cv2.resize(inside.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    tiny = cv2.GaussianBlur(tiny, (0, 0), 1.0)
    out = guided_upsample(tiny, rgb)
    plain = cv2.resize(tiny, (size, size), interpolation=cv2.INTER_LINEAR)

    centre = size // 2
    edge = round(centre - radius)  # the circle's edge on the centre row / column (±0.5 px)
    for profile_of in (
        lambda a: a[centre, :centre],  # left edge, outside -> inside
        lambda a: a[centre, ::-1][:centre],  # right edge
        lambda a: a[:centre, centre],  # top edge
    ):
        assert transition_width(profile_of(plain)) > 100  # the input really is blurry
        snapped = profile_of(out)
        # A step where the circle's edge is: a third of the whole outside-to-inside change
        # happens within 5 px of it; bilinear spreads it over ~200 px (~1/40 per 5 px).
        step = snapped[edge + 2] - snapped[edge - 3]
        total = snapped[-1] - snapped[0]
        assert step > 0.3 * total
        assert profile_of(plain)[edge + 2] - profile_of(plain)[edge - 3] < 0.05 * total
        # ... and the step is the 0.5 crossing: the hard mask's edge is the circle's.
        assert snapped[edge - 3] < 0.5 < snapped[edge + 2]
    hard = out >= 0.5
    assert ((hard != inside).sum()) / inside.sum() < 0.01


def test_strips_join_seamlessly(photo):
    rgb, mask = photo
    rgb = rgb[:300, :200]
    small = cv2.resize(mask[:300, :200], (40, 60), interpolation=cv2.INTER_AREA)
    whole = guided_upsample(small, rgb, work_max_side=64, strip_rows=300)
    for strip_rows in (1, 7, 64):
        assert np.array_equal(guided_upsample(small, rgb, work_max_side=64, strip_rows=strip_rows), whole)
    # Independent reference: coefficients resized as whole images by OpenCV, applied in float.
    work_h, work_w = working_size(300, 200, 64)
    guide = cv2.resize(rgb, (work_w, work_h), interpolation=cv2.INTER_AREA)
    src = cv2.resize(small, (work_w, work_h), interpolation=cv2.INTER_LINEAR)
    a, b = guided_coefficients(guide, src, default_radius(max(work_h, work_w), 60), 1e-4)
    a_full = cv2.resize(a, (200, 300), interpolation=cv2.INTER_LINEAR)
    b_full = cv2.resize(b, (200, 300), interpolation=cv2.INTER_LINEAR)
    reference = np.clip((a_full * (rgb / 255.0)).sum(axis=2) + b_full, 0, 1)
    assert np.abs(whole - reference).max() < 1e-4


def test_resample_bilinear_matches_a_whole_image_resize_on_any_sub_rectangle():
    rng = np.random.default_rng(1)
    grid = rng.random((13, 17)).astype(np.float32)
    full = cv2.resize(grid, (170, 91), interpolation=cv2.INTER_LINEAR)
    rows = pixel_centre_coords(91, 13, 20, 61)
    cols = pixel_centre_coords(170, 17, 33, 170)
    part = resample_bilinear(grid, rows, cols, strip_rows=5)
    assert np.abs(part - full[20:61, 33:170]).max() < 1e-5


def test_guided_filter_follows_the_guide_edges():
    # A step edge in the guide, a blurred step in the source: the output is sharp again.
    guide = np.zeros((60, 80), np.float32)
    guide[:, 40:] = 1.0
    src = cv2.GaussianBlur(guide, (0, 0), 6)
    out = guided_filter(guide, src, 8, 1e-4)
    # Between the two pixels of the guide's edge the output jumps; the source barely moves.
    assert out[30, 40] - out[30, 39] > 0.4
    assert src[30, 40] - src[30, 39] < 0.1
    assert np.all(np.diff(out[30]) >= -1e-6)  # no overshoot ringing: still monotonic
    # A flat guide has nothing to follow: the filter is a box mean of the source.
    flat = guided_filter(np.full((60, 80, 3), 128, np.uint8), src, 3, 1e-4)
    box = cv2.boxFilter(src, -1, (7, 7), borderType=cv2.BORDER_REFLECT)
    box = cv2.boxFilter(box, -1, (7, 7), borderType=cv2.BORDER_REFLECT)
    assert np.abs(flat - box).max() < 1e-4


def test_grey_photo_is_accepted(photo):
    rgb, mask = photo
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    out = guided_upsample(cv2.resize(mask, (80, 80)), grey)
    assert out.shape == grey.shape and 0.0 <= out.min() and out.max() <= 1.0


def test_working_size_and_radius():
    assert working_size(6000, 4000, 1024) == (1024, 683)
    assert working_size(300, 200, 1024) == (300, 200)  # never upscaled
    assert default_radius(1024, 320) == 6
    assert default_radius(1024, 1024) == 2
    assert default_radius(1024, 32) == 64
    with pytest.raises(ValueError):
        working_size(10, 10, 0)


@pytest.mark.parametrize(
    ("alpha_small", "rgb"),
    [
        (np.zeros((8, 8), np.float32), np.zeros((20, 20, 3), np.float32)),
        (np.zeros((8, 8), np.float32), np.zeros((20, 20, 4), np.uint8)),
        (np.zeros((8, 8, 1), np.float32), np.zeros((20, 20, 3), np.uint8)),
        (np.zeros((0, 8), np.float32), np.zeros((20, 20, 3), np.uint8)),
    ],
)
def test_bad_inputs_are_refused(alpha_small, rgb):
    with pytest.raises(ValueError):
        guided_upsample(alpha_small, rgb)
