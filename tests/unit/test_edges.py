"""Edge settings: shift, feather, matting and colour decontamination (cutout_studio.core.edges)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from cutout_studio.core import edges
from cutout_studio.core.edges import EdgeOptions, apply_edges, estimate_foreground, foreground_patches

DATA = Path(__file__).resolve().parents[1] / "data"


def disk(height: int, width: int, radius: float, centre: tuple[float, float] | None = None) -> np.ndarray:
    cy, cx = centre or (height / 2, width / 2)
    yy, xx = np.mgrid[:height, :width]
    return (((yy - cy) ** 2 + (xx - cx) ** 2) <= radius**2).astype(np.float32)


def blank(alpha: np.ndarray) -> np.ndarray:
    return np.zeros(alpha.shape + (3,), np.uint8)


def distance_to_outline(alpha: np.ndarray) -> np.ndarray:
    """Distance of each pixel to the 0.5 outline (inside pixels next to it: 1)."""
    hard = (alpha >= 0.5).astype(np.uint8)
    inside = cv2.distanceTransform(hard, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - hard, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(hard > 0, inside, outside)


@pytest.fixture(scope="module")
def photo() -> tuple[np.ndarray, np.ndarray]:
    rgb = cv2.imread(str(DATA / "people-ccp__ccp0003.jpg"))[:, :, ::-1].copy()
    mask = cv2.imread(str(DATA / "people-ccp__ccp0003.png"), cv2.IMREAD_GRAYSCALE)
    return rgb, mask.astype(np.float32) / 255


def test_options_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        EdgeOptions(feather=-1)
    with pytest.raises(ValueError):
        EdgeOptions(band=0)
    with pytest.raises(ValueError):
        EdgeOptions(shift=float("nan"))
    assert not EdgeOptions().changes_alpha
    assert EdgeOptions(shift=-2).changes_alpha and EdgeOptions(feather=1).changes_alpha


def test_no_edge_setting_returns_an_equal_copy() -> None:
    alpha = disk(100, 120, 30)
    out = apply_edges(blank(alpha), alpha, EdgeOptions())
    assert out.dtype == np.float32 and out is not alpha
    np.testing.assert_array_equal(out, alpha)


def test_wrong_shapes_are_refused() -> None:
    alpha = disk(50, 60, 10)
    with pytest.raises(ValueError):
        apply_edges(np.zeros((50, 61, 3), np.uint8), alpha, EdgeOptions(shift=2))
    with pytest.raises(ValueError):
        apply_edges(np.zeros((50, 60), np.uint8), alpha, EdgeOptions(shift=2))


@pytest.mark.parametrize("shift", [3, 8, 2.5, -3, -8])
def test_shift_changes_area_by_perimeter_times_shift(shift: float) -> None:
    radius = 90
    alpha = disk(300, 340, radius)
    out = apply_edges(blank(alpha), alpha, EdgeOptions(shift=shift))
    # A disk grown by s: π(R+s)² − πR² = perimeter·s + πs² (s < 0 shrinks).
    expected = math.pi * ((radius + shift) ** 2 - radius**2)
    assert out.sum() - alpha.sum() == pytest.approx(expected, rel=0.06)


def test_shift_of_a_square_grows_each_side_by_the_shift() -> None:
    alpha = np.zeros((300, 300), np.float32)
    alpha[100:200, 100:200] = 1
    out = apply_edges(blank(alpha), alpha, EdgeOptions(shift=6))
    rows, cols = np.nonzero(out >= 0.5)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (94, 205, 94, 205)
    # Rounded corners: 4·side·s + π·s² (a square grows into a rounded square, not a bigger square).
    assert out.sum() - alpha.sum() == pytest.approx(4 * 100 * 6 + math.pi * 36, rel=0.04)


def test_shift_moves_a_soft_edge_without_hardening_it() -> None:
    radius, shift = 80, 6
    alpha = cv2.GaussianBlur(disk(260, 260, radius), (0, 0), 2.0)
    out = apply_edges(blank(alpha), alpha, EdgeOptions(shift=shift))
    soft_before = np.count_nonzero((alpha > 0.05) & (alpha < 0.95))
    soft_after = np.count_nonzero((out > 0.05) & (out < 0.95))
    # The ramp keeps its width; its length grows with the radius.
    assert soft_after / soft_before == pytest.approx((radius + shift) / radius, rel=0.1)
    new_radius = math.sqrt(np.count_nonzero(out >= 0.5) / math.pi)
    assert new_radius == pytest.approx(radius + shift, abs=0.7)


def test_shift_in_tiles_equals_a_whole_image_dilation() -> None:
    # Shapes that cross many tile borders (tiles are 256 px): every tile must be exact.
    rng = np.random.default_rng(3)
    alpha = np.zeros((700, 900), np.float32)
    for _ in range(25):
        cy, cx, r = rng.integers(0, 700), rng.integers(0, 900), rng.integers(5, 60)
        alpha = np.maximum(alpha, disk(700, 900, r, (cy, cx)))
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.5)
    for shift in (7, -7):
        out = apply_edges(blank(alpha), alpha, EdgeOptions(shift=shift))
        morph = cv2.dilate if shift > 0 else cv2.erode
        # Equal up to the snapping of float residue (< 1e-6) to exact 0 and 1.
        np.testing.assert_allclose(out, morph(alpha, edges._disk(abs(shift))), rtol=0, atol=1e-6)


def test_feather_softens_but_keeps_interior_and_far_exterior() -> None:
    alpha = disk(400, 400, 120)
    feather = 8
    out = apply_edges(blank(alpha), alpha, EdgeOptions(feather=feather))
    soft = (out > 0.01) & (out < 0.99)
    assert np.count_nonzero(soft) > 2 * math.pi * 120 * feather * 0.8  # a ramp ~feather px each side
    assert np.count_nonzero((alpha > 0) & (alpha < 1)) == 0
    # Beyond the kernel's reach: 3 sigma along an axis, a square kernel reaches √2 farther diagonally.
    far = distance_to_outline(alpha) > 3 * (feather / 2) * math.sqrt(2) + 1
    np.testing.assert_array_equal(out[far], alpha[far])
    assert out[200, 200] == 1.0 and out[0, 0] == 0.0
    assert out.sum() == pytest.approx(alpha.sum(), rel=0.01)  # blurring moves no mass
    assert out.min() >= 0 and out.max() <= 1


def test_feather_in_tiles_equals_a_whole_image_blur() -> None:
    alpha = np.zeros((600, 800), np.float32)
    alpha[40:560, 250:270] = 1  # crosses tile rows
    alpha[300:320, 0:800] = 1  # touches the photo's left and right borders
    alpha = np.maximum(alpha, disk(600, 800, 100, (256, 512)))  # centred on a tile corner
    out = apply_edges(blank(alpha), alpha, EdgeOptions(feather=10))
    expected = cv2.GaussianBlur(alpha, (31, 31), 5.0, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def _two_tone_scene(offset: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A yellow disk on blue with a natural soft edge, and a mask `offset` px too large."""
    true_alpha = cv2.GaussianBlur(disk(240, 260, 70), (0, 0), 1.2)
    fg, bg = np.array([220, 190, 40], np.float32), np.array([30, 60, 140], np.float32)
    rgb = np.rint(fg * true_alpha[..., None] + bg * (1 - true_alpha[..., None])).astype(np.uint8)
    wrong = disk(240, 260, 70 + offset)
    return rgb, true_alpha, wrong


def test_matting_pulls_a_wrong_edge_onto_the_photo_edge() -> None:
    rgb, true_alpha, wrong = _two_tone_scene(offset=5)
    band = 9
    out = apply_edges(rgb, wrong, EdgeOptions(matting=True, band=band))
    in_band = distance_to_outline(wrong) <= band
    assert np.abs(out - true_alpha)[in_band].mean() < 0.25 * np.abs(wrong - true_alpha)[in_band].mean()
    np.testing.assert_array_equal(out[~in_band], wrong[~in_band])


def test_matting_at_reduced_scale_still_changes_only_the_band(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tiny budget forces the reduced-scale path (crops solved small, guided back to full size).
    monkeypatch.setattr(edges, "_MATTING_BUDGET", 4000)
    rgb, true_alpha, wrong = _two_tone_scene(offset=4)
    band = 12
    assert edges._matting_scale(wrong, band) < 0.6
    out = apply_edges(rgb, wrong, EdgeOptions(matting=True, band=band))
    in_band = distance_to_outline(wrong) <= band
    np.testing.assert_array_equal(out[~in_band], wrong[~in_band])
    assert np.abs(out - true_alpha)[in_band].mean() < 0.5 * np.abs(wrong - true_alpha)[in_band].mean()


def test_matting_on_a_real_photo_changes_only_the_band(photo: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, mask = photo
    band = 8
    out = apply_edges(rgb, mask, EdgeOptions(matting=True, band=band))
    in_band = distance_to_outline(mask) <= band
    np.testing.assert_array_equal(out[~in_band], mask[~in_band])
    changed = np.count_nonzero(out != mask)
    assert changed > 0.2 * np.count_nonzero(in_band)  # the photo's soft edges (hair) come out
    assert out.min() >= 0 and out.max() <= 1


def test_decontamination_removes_the_old_background_colour(photo: tuple[np.ndarray, np.ndarray]) -> None:
    subject, mask = photo
    alpha = cv2.GaussianBlur(mask, (0, 0), 2.5)
    red = np.array([230, 20, 20], np.float32)
    on_red = np.rint(subject * alpha[..., None] + red * (1 - alpha[..., None])).astype(np.uint8)
    cleaned = estimate_foreground(on_red, alpha)

    def redness(pixels: np.ndarray) -> float:
        pixels = pixels.astype(np.float32)
        return float((pixels[:, 0] - (pixels[:, 1] + pixels[:, 2]) / 2).mean())

    soft = (alpha > 0.1) & (alpha < 0.9)
    assert redness(cleaned[soft]) < redness(on_red[soft]) - 20
    opaque = alpha >= edges.OPAQUE
    np.testing.assert_array_equal(cleaned[opaque], on_red[opaque])


def test_decontamination_recovers_the_subject_colour() -> None:
    # The subject's true colour is known everywhere: a smooth green-blue field.
    height, width = 240, 300
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    subject = np.stack([20 + 0 * xx, 120 + 100 * xx / width, 200 - 120 * yy / height], axis=-1)
    alpha = cv2.GaussianBlur(disk(height, width, 80), (0, 0), 3.0)
    red = np.array([240, 10, 10], np.float32)
    on_red = np.rint(subject * alpha[..., None] + red * (1 - alpha[..., None])).astype(np.uint8)
    cleaned = estimate_foreground(on_red, alpha).astype(np.float32)
    soft = (alpha > 0.05) & (alpha < 0.95)
    error_before = np.abs(on_red[soft] - subject[soft]).mean()
    error_after = np.abs(cleaned[soft] - subject[soft]).mean()
    assert error_after < 0.25 * error_before


def test_decontamination_tile_by_tile_equals_the_whole_photo(photo: tuple[np.ndarray, np.ndarray]) -> None:
    """Crops carry enough margin that working on tiles changes nothing."""
    subject, mask = photo
    alpha = cv2.GaussianBlur(mask, (0, 0), 2.0)
    whole = edges.blur_fusion(subject.astype(np.float32) / 255, alpha)
    tiled = estimate_foreground(subject, alpha)
    soft = (alpha >= edges.TRANSPARENT) & (alpha < edges.OPAQUE)
    assert soft.sum() > 1000
    np.testing.assert_allclose(tiled[soft], np.rint(whole[soft] * 255), atol=1)


def test_foreground_patches_cover_every_soft_pixel_and_no_opaque_one() -> None:
    alpha = cv2.GaussianBlur(disk(300, 520, 110), (0, 0), 2.0)
    rgb = np.full(alpha.shape + (3,), 128, np.uint8)
    covered = np.zeros(alpha.shape, bool)
    for patch in foreground_patches(rgb, alpha):
        assert not covered[patch.y0 : patch.y1, patch.x0 : patch.x1][patch.mask].any()  # disjoint
        covered[patch.y0 : patch.y1, patch.x0 : patch.x1] |= patch.mask
        assert patch.colour.shape == patch.mask.shape + (3,) and patch.colour.dtype == np.float32
    soft = (alpha >= edges.TRANSPARENT) & (alpha < edges.OPAQUE)
    assert covered[soft].all()
    assert not covered[alpha >= edges.OPAQUE].any()


def test_no_soft_pixels_means_nothing_to_decontaminate() -> None:
    alpha = disk(100, 100, 30)
    rgb = np.random.default_rng(0).integers(0, 256, alpha.shape + (3,), dtype=np.uint8)
    assert list(foreground_patches(rgb, alpha)) == []
    np.testing.assert_array_equal(estimate_foreground(rgb, alpha), rgb)
