"""The Python API shown in README.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout_studio.api import RefineSession, Segmenter, cutout, load_image

DATA = Path(__file__).resolve().parents[1] / "data"
PHOTO = DATA / "objects-coco__fire_hydrant02_000000020107.jpg"


def test_cutout_returns_rgba_pixels_and_writes_files(model_home, tmp_path):
    rgba = cutout(str(PHOTO), device="cpu")
    size = Image.open(PHOTO).size
    assert rgba.shape == (size[1], size[0], 4) and rgba.dtype == np.uint8
    assert rgba[..., 3].min() == 0 and rgba[..., 3].max() == 255
    out = cutout(PHOTO, tmp_path / "h.webp", format="webp", crop=True, padding=10, feather=1.0)
    with Image.open(out) as im:
        assert im.mode == "RGBA" and im.size[0] < size[0]


def test_cutout_accepts_arrays_and_a_refined_mask(model_home):
    rgb = load_image(PHOTO).rgb
    alpha = Segmenter(device="cpu").predict(rgb)
    session = RefineSession(rgb, alpha)
    session.add_stroke("bg", [(5, 5), (60, 5)], radius=4)
    refined = session.refine()
    rgba = cutout(rgb, alpha=refined, background=(255, 255, 255))
    assert rgba.shape == rgb.shape  # filled background: RGB
    assert (rgba[5, 5:60] == 255).all()


def test_cutout_rejects_unknown_options():
    with pytest.raises(TypeError, match="unknown option"):
        cutout(np.zeros((8, 8, 3), np.uint8), colour="red")


def test_a_marketplace_preset_sets_its_values_beneath_the_options_given():
    """As `--preset` does: the API used to take the preset as a bare name and apply nothing."""
    photo = DATA / "people-ccp__ccp0041.jpg"
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    alpha = np.asarray(Image.open(photo.with_suffix(".png")).convert("L"), np.float32) / 255.0
    pixels = cutout(rgb, alpha=alpha, preset="amazon")
    assert pixels.ndim == 3 and pixels.shape[2] == 3  # on its white background, not transparent
    assert pixels.shape[0] == pixels.shape[1]  # its square canvas
    assert (pixels[0, 0] == 255).all() and (pixels[-1, -1] == 255).all()
    given = cutout(rgb, alpha=alpha, preset="amazon", background="#000000")  # a given value wins
    assert (given[0, 0] == 0).all()
