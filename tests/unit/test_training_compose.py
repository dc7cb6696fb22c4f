"""The synthetic product-photo compositor and the augmentations, on real objects from tests/data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from cutout_studio.core.training.compose import augment, compose, random_recipe

DATA = Path(__file__).resolve().parents[1] / "data"
CANVAS = (240, 300)


@pytest.fixture(scope="module")
def teddy() -> tuple[np.ndarray, np.ndarray]:
    stem = DATA / "objects-coco__teddy_bear04_000000325527"
    rgb = cv2.imread(str(stem.with_suffix(".jpg")))[..., ::-1].copy()
    return rgb, cv2.imread(str(stem.with_suffix(".png")), cv2.IMREAD_GRAYSCALE)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return cv2.imread(str(DATA / "objects-coco__scissors02_000000348012.jpg"))[..., ::-1].copy()


def recipe(**changes):
    """A fixed, ordinary recipe (object on the floor, no camera noise) with ``changes`` applied."""
    base = random_recipe(np.random.default_rng(3), CANVAS, has_scene=True)
    base = replace(base, case="plain", backdrop="sweep", shadow="none", reflection=False, noise_sigma=0.0,
                   jpeg_quality=0, height_frac=0.6, x_frac=0.5, floor_frac=0.85)
    return replace(base, **changes)


def test_mask_is_the_placed_object_mask(teddy):
    rgb, mask = teddy
    image, label = compose(rgb, mask, recipe())
    assert image.shape == (*CANVAS, 3) and label.shape == CANVAS
    ys, xs = np.nonzero(mask > 127)
    crop = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    ly, lx = np.nonzero(label)
    placed = label[ly.min() : ly.max() + 1, lx.min() : lx.max() + 1]
    # 60 % of the canvas height, centred horizontally, standing at 85 % of the height
    assert abs(placed.shape[0] - 0.6 * CANVAS[0]) <= 2
    assert abs((lx.min() + lx.max()) / 2 - CANVAS[1] / 2) <= 3
    assert abs(ly.max() + 1 - 0.85 * CANVAS[0]) <= 2
    expected = cv2.resize(crop, (placed.shape[1], placed.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(placed.astype(int) - expected.astype(int)).mean() < 3.0
    # the object's own pixels are in the photo where the mask says
    inside = label > 250
    assert np.abs(image[inside].astype(int).mean(0) - rgb[mask > 250].mean(0)).max() < 25


@pytest.mark.parametrize("shadow", ["contact", "cast", "drop"])
def test_shadows_darken_the_backdrop_and_stay_background(teddy, shadow):
    rgb, mask = teddy
    plain, plain_label = compose(rgb, mask, recipe())
    shaded, label = compose(rgb, mask, recipe(shadow=shadow, shadow_strength=0.6, shadow_offset=(0.06, 0.05)))
    assert np.array_equal(label, plain_label)  # a shadow never enters the mask
    darker = plain.astype(int).sum(2) - shaded.astype(int).sum(2)
    changed = darker > 15
    assert changed.sum() > 50, "the shadow is visible"
    assert (darker >= -1).all(), "a shadow only darkens"
    # darkened pixels are background; only the object's soft rim (partly transparent) shows some of it
    assert (label[changed] < 255).all()
    assert (label[changed] == 0).mean() > 0.9


def test_reflection_on_a_glossy_floor_is_background(teddy):
    rgb, mask = teddy
    plain, plain_label = compose(rgb, mask, recipe(floor_frac=0.6))
    mirrored, label = compose(rgb, mask, recipe(floor_frac=0.6, reflection=True, reflection_strength=0.4))
    assert np.array_equal(label, plain_label)
    changed = np.abs(plain.astype(int) - mirrored.astype(int)).sum(2) > 10
    rows = np.nonzero(changed.any(1))[0]
    assert changed.sum() > 100 and rows.min() >= np.nonzero(label.any(1))[0].max() - 1  # below the base
    assert (label[changed] < 255).all() and (label[changed] == 0).mean() > 0.9


def drawn(case: str, seed: int = 0):
    """The first recipe the random draw makes for ``case`` (its backdrop and colours as drawn), unshadowed."""
    rng = np.random.default_rng(seed)
    while (r := random_recipe(rng, CANVAS, has_scene=True)).case != case:
        pass
    return replace(r, shadow="none", reflection=False)


def test_white_on_white_and_dark_on_dark(teddy):
    rgb, mask = teddy
    for seed in range(3):
        white = drawn("white_on_white", seed)
        assert white.backdrop == "white"
        image, label = compose(rgb, mask, white)
        backdrop, obj = image[label == 0].astype(float), image[label == 255].astype(float)
        assert backdrop.mean() > 225 and np.percentile(backdrop.min(1), 5) > 210  # near white
        assert obj.mean() > 170 and backdrop.mean() - obj.mean() < 60  # a light object: little contrast left
        dark = drawn("dark_on_dark", seed)
        assert dark.backdrop == "dark"
        image, label = compose(rgb, mask, dark)
        assert image[label == 0].mean() < 50 and image[label == 255].mean() < 60


def test_the_recipe_draw_makes_every_hard_case(teddy):
    rng = np.random.default_rng(1)
    drawn = [random_recipe(rng, CANVAS, has_scene=True) for _ in range(300)]
    assert {r.case for r in drawn} == {"plain", "white_on_white", "dark_on_dark", "glass"}
    assert {r.backdrop for r in drawn} == {"white", "sweep", "paper", "scene", "dark"}
    assert {r.shadow for r in drawn} == {"none", "contact", "cast", "drop"} and any(r.reflection for r in drawn)
    assert all(r.backdrop == "white" for r in drawn if r.case == "white_on_white")
    assert not any(r.backdrop == "scene" for r in (random_recipe(rng, CANVAS, has_scene=False) for _ in range(100)))


def test_glass_lets_the_backdrop_show_through_but_stays_foreground(teddy, scene):
    rgb, mask = teddy
    red, blue = (200.0, 30.0, 30.0), (30.0, 30.0, 200.0)
    glass_red, label = compose(rgb, mask, recipe(case="glass", backdrop="paper", colour=red))
    glass_blue, label_blue = compose(rgb, mask, recipe(case="glass", backdrop="paper", colour=blue))
    plain_red, _ = compose(rgb, mask, recipe(backdrop="paper", colour=red))
    plain_blue, _ = compose(rgb, mask, recipe(backdrop="paper", colour=blue))
    assert np.array_equal(label, label_blue) and (label == 255).sum() > 1000
    core = cv2.erode((label == 255).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    shift = lambda a, b: np.abs(a[core].astype(int) - b[core].astype(int)).mean()  # noqa: E731
    assert shift(plain_red, plain_blue) < 1.0  # an opaque object hides its backdrop
    assert shift(glass_red, glass_blue) > 20.0  # glass shows it
    # and on a blurred real scene
    scened, scene_label = compose(rgb, mask, recipe(backdrop="scene", scene_blur=0.01), scene)
    assert np.array_equal(scene_label, label) and scened[label == 0].std() > 10


def test_camera_noise_and_jpeg_change_pixels_not_the_mask(teddy):
    rgb, mask = teddy
    clean, label = compose(rgb, mask, recipe())
    noisy, noisy_label = compose(rgb, mask, recipe(noise_sigma=4.0, jpeg_quality=60))
    assert np.array_equal(label, noisy_label)
    diff = clean.astype(float) - noisy.astype(float)
    assert 1.0 < np.abs(diff).mean() < 8.0


def test_same_recipe_same_photo(teddy, scene):
    rgb, mask = teddy
    r = random_recipe(np.random.default_rng(42), CANVAS, has_scene=True)
    a, b = compose(rgb, mask, r, scene), compose(rgb, mask, r, scene)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert random_recipe(np.random.default_rng(42), CANVAS, has_scene=True) == r


def test_augment_keeps_photo_and_mask_aligned(teddy):
    _, mask = teddy
    # a photo that is its own mask: after any flip, rotation, crop and jitter they must still agree
    photo = np.repeat(np.where(mask > 127, 230, 25).astype(np.uint8)[..., None], 3, axis=2)
    flips = set()
    for seed in range(12):
        rng = np.random.default_rng(seed)
        out, out_mask = augment(photo, mask, rng, 96)
        assert out.shape == (96, 96, 3) and out_mask.shape == (96, 96)
        bright = out.mean(2) > 127
        agree = (bright == (out_mask > 127)).mean()
        assert agree > 0.97, (seed, agree)
        again = augment(photo, mask, np.random.default_rng(seed), 96)
        assert np.array_equal(again[0], out) and np.array_equal(again[1], out_mask)
        flips.add(out_mask[:, :48].sum() > out_mask[:, 48:].sum())
    assert len(flips) == 2  # the object ends up on either side: flips happen
