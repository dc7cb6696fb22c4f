"""The output's colour space (issue 13, items 3 and 5): ``colour_space="srgb"`` converts a
Display P3 or Adobe RGB photo's pixels to sRGB and embeds sRGB, in every format that carries a
profile and at 16 bits; ``keep`` writes the photo's own profile and pixels as before; a preset
converts, so its check passes for such a photo.

The photos are real (tests/data) re-tagged with real profiles built from their published
primaries (tests/support/icc.py); the expected pixels come from an independent float64
conversion through the primaries' D65 matrices, not from LittleCMS or our code."""

from __future__ import annotations

import dataclasses
import io
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from cutout_studio.cli import build_parser, export_options_from_args
from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.export import FORMATS, ExportOptions, encode_to_bytes, export_cutout, render_cutout
from cutout_studio.core.export.colour import SRGB_PROFILE
from cutout_studio.core.export.compliance import check_compliance
from cutout_studio.core.export.presets import preset_values
from cutout_studio.core.image_io import LoadedImage, load_image
from cutout_studio.core.recipes import load_recipe, options_from_layers
from tests.support.icc import ADOBE_RGB, DISPLAY_P3, to_srgb_reference
from tests.unit.format_files import write_png16

DATA = Path(__file__).resolve().parents[1] / "data"
PERSON = "people-ccp__ccp0041"  # a whole person with space around: fits a preset
TEDDY = "objects-coco__teddy_bear04_000000325527"
HYDRANT = "objects-coco__fire_hydrant02_000000020107"  # saturated red and yellow: far from sRGB's numbers
PROFILES = {"p3": DISPLAY_P3, "adobe": ADOBE_RGB}
# lossless formats whose pixels are compared exactly (PSD: its composite), and the lossy ones
LOSSLESS = ("png", "webp", "tiff", "psd")
LOSSY = tuple(name for name in ("jpeg", "avif") if name in FORMATS)


def _mask(name: str) -> np.ndarray:
    return cv2.imread(str(DATA / f"{name}.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255


def _tagged_photo(folder: Path, name: str, profile: bytes, scale: int = 1) -> LoadedImage:
    """The real photo saved as a PNG tagged with ``profile`` (the same pixels, now meant in that
    colour space), read back by the loader."""
    with Image.open(DATA / f"{name}.jpg") as photo:
        if scale != 1:
            photo = photo.resize((photo.width * scale, photo.height * scale), Image.Resampling.LANCZOS)
        photo.convert("RGB").save(folder / f"{name}.png", icc_profile=profile)
    image = load_image(folder / f"{name}.png")
    assert image.icc_profile == profile
    return image


def _written(path: Path) -> tuple[np.ndarray, bytes | None]:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA")), im.info.get("icc_profile")


def _description(icc: bytes | None) -> str:
    assert icc, "no profile embedded"
    return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()


@pytest.mark.parametrize("space", sorted(PROFILES))
@pytest.mark.parametrize("fmt", LOSSLESS + LOSSY)
def test_a_wide_gamut_photo_is_converted_to_srgb_in_every_format(tmp_path, space, fmt):
    image = _tagged_photo(tmp_path, HYDRANT, PROFILES[space])
    alpha = _mask(HYDRANT)
    background = "white" if not FORMATS[fmt].alpha else None
    options = ExportOptions(format=fmt, background=background, colour_space="srgb")
    out = export_cutout(image, alpha, tmp_path / f"out{FORMATS[fmt].suffix}", options)
    pixels, icc = _written(out)
    assert "sRGB" in _description(icc)
    expected = to_srgb_reference(image.rgb, space)
    opaque = alpha == 1  # where the output is the photo's own colour
    difference = np.abs(pixels[..., :3][opaque].astype(int) - expected[opaque])
    if fmt in LOSSLESS:
        assert difference.max() <= 1  # LittleCMS's 8-bit transform against float64 maths
    else:  # the encoder's own loss is noise per pixel (chroma subsampling): the mean colour is sRGB's
        shift = np.abs(pixels[..., :3][opaque].mean(axis=0) - expected[opaque].mean(axis=0))
        assert shift.max() < 1.5, shift
    # the conversion did something: in P3 and Adobe RGB the hydrant's red is far from sRGB's numbers
    unconverted = np.abs(image.rgb[opaque].mean(axis=0) - expected[opaque].mean(axis=0))
    assert unconverted.max() > 4, unconverted
    np.testing.assert_array_equal(pixels[..., 3], 255 if not FORMATS[fmt].alpha else np.rint(alpha * 255))


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_16_bit_photos_are_converted_at_16_bits(tmp_path, fmt):
    base = load_image(DATA / f"{PERSON}.jpg").rgb.astype(np.uint16) * 257
    # a real photo at 16 bits with detail below the 8th bit (a gentle ramp added)
    ramp = np.linspace(0, 200, base.shape[1], dtype=np.uint16)[None, :, None]
    rgb16 = np.minimum(base + ramp, 65535).astype(np.uint16)
    write_png16(tmp_path / "photo16.png", rgb16)
    image = dataclasses.replace(load_image(tmp_path / "photo16.png"), icc_profile=DISPLAY_P3)
    assert image.is_16bit
    alpha = _mask(PERSON)
    out = export_cutout(image, alpha, tmp_path / f"out{FORMATS[fmt].suffix}",
                        ExportOptions(format=fmt, colour_space="srgb"))
    written = cv2.cvtColor(cv2.imread(str(out), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    assert written.dtype == np.uint16
    with Image.open(out) as im:
        assert "sRGB" in _description(im.info.get("icc_profile"))
    opaque = alpha == 1
    expected = to_srgb_reference(rgb16, "p3", 65535)
    difference = np.abs(written[..., :3][opaque].astype(int) - expected[opaque])
    # within one 8-bit level (s15Fixed16 matrices in the profiles), far better on average
    assert difference.max() <= 257 and difference.mean() < 8
    assert (written[..., :3][opaque] % 257).any()  # real 16-bit values, not 8-bit ones widened
    # the same as LittleCMS's 8-bit conversion of the photo's 8-bit pixels, within a level
    eight = render_cutout(dataclasses.replace(image, rgb16=None), alpha, ExportOptions(colour_space="srgb"))
    assert np.abs((written[..., :3][opaque] >> 8).astype(int) - eight.pixels[..., :3][opaque]).max() <= 1


def test_keep_writes_the_photos_own_profile_and_pixels(tmp_path):
    image = _tagged_photo(tmp_path, TEDDY, DISPLAY_P3)
    alpha = _mask(TEDDY)
    default = ExportOptions(format="png")
    assert default.colour_space == "keep"
    rendered = render_cutout(image, alpha, default)
    assert rendered.icc_profile == DISPLAY_P3  # byte for byte
    opaque = alpha == 1
    np.testing.assert_array_equal(rendered.pixels[..., :3][opaque], image.rgb[opaque])
    assert encode_to_bytes(rendered, default) == encode_to_bytes(
        render_cutout(image, alpha, ExportOptions(format="png", colour_space="keep")), default)


def test_an_untagged_photo_is_taken_as_srgb_and_says_so(tmp_path):
    image = dataclasses.replace(load_image(DATA / f"{TEDDY}.jpg"), icc_profile=None)
    alpha = _mask(TEDDY)
    rendered = render_cutout(image, alpha, ExportOptions(colour_space="srgb"))
    assert rendered.icc_profile == SRGB_PROFILE
    np.testing.assert_array_equal(rendered.pixels[..., :3][alpha == 1], image.rgb[alpha == 1])
    srgb_tagged = dataclasses.replace(image, icc_profile=SRGB_PROFILE)  # sRGB already: kept as it is
    assert render_cutout(srgb_tagged, alpha, ExportOptions(colour_space="srgb")).icc_profile == SRGB_PROFILE


def test_a_broken_profile_is_kept_with_a_one_line_warning(tmp_path, caplog):
    broken = DISPLAY_P3[:40] + bytes(len(DISPLAY_P3) - 40)  # the header says RGB, the tags are gone
    image = dataclasses.replace(load_image(DATA / f"{TEDDY}.jpg"), icc_profile=broken)
    alpha = _mask(TEDDY)
    with caplog.at_level(logging.WARNING):
        rendered = render_cutout(image, alpha, ExportOptions(colour_space="srgb"))
    assert rendered.icc_profile == broken
    np.testing.assert_array_equal(rendered.pixels[..., :3][alpha == 1], image.rgb[alpha == 1])
    assert len(rendered.notes) == 1 and "\n" not in rendered.notes[0] and "kept as it is" in rendered.notes[0]
    assert rendered.notes[0] in caplog.text
    reasons = check_compliance(image, alpha, ExportOptions(**preset_values("amazon"))).reasons
    assert "colour space not sRGB (unnamed profile: cannot be converted)" in reasons


@pytest.mark.parametrize("space", sorted(PROFILES))
def test_a_preset_output_of_a_wide_gamut_photo_passes_the_check(tmp_path, space):
    # 2x: our photos are small; the preset never enlarges, so the input stands in for a camera's
    image = _tagged_photo(tmp_path, PERSON, PROFILES[space], scale=2)
    alpha = cv2.resize(_mask(PERSON), (image.width, image.height), interpolation=cv2.INTER_LINEAR)
    amazon = ExportOptions(**preset_values("amazon"))
    assert amazon.colour_space == "srgb"
    check = check_compliance(image, alpha, amazon)
    assert check is not None and check.ok, check.line()
    out = export_cutout(image, alpha, tmp_path / "amazon.jpg", amazon)
    with Image.open(out) as im:
        assert im.format == "JPEG" and "sRGB" in _description(im.info.get("icc_profile"))
    # kept in its own colour space, the check names it (what every preset did before converting)
    kept = check_compliance(image, alpha, dataclasses.replace(amazon, colour_space="keep"))
    name = "Display P3" if space == "p3" else "Adobe RGB (1998)"
    assert kept.reasons == (f"colour space not sRGB ({name}: convert it (colour space sRGB))",)


def test_the_flag_the_recipe_and_the_dialog_share_the_option(tmp_path):
    parse = build_parser().parse_args
    assert export_options_from_args(parse(["cut", "in.jpg", "--colour-space", "srgb"])).colour_space == "srgb"
    assert export_options_from_args(parse(["cut", "in.jpg"])).colour_space == "keep"
    assert export_options_from_args(parse(["batch", "in", "-o", "out", "--preset", "etsy"])).colour_space == "srgb"
    over = export_options_from_args(parse(["batch", "in", "-o", "out", "--preset", "etsy", "--colour-space", "keep"]))
    assert over.colour_space == "keep" and over.preset == "etsy"
    recipe = tmp_path / "shop.toml"
    recipe.write_text('colour_space = "srgb"\nformat = "tiff"\n', encoding="utf-8")
    assert options_from_layers(load_recipe(recipe)) == ExportOptions(format="tiff", colour_space="srgb")
    recipe.write_text('colour_space = "p3"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="colour_space"):
        load_recipe(recipe)
    assert ExportOptions(colour_space="srgb", edges=EdgeOptions()).to_dict()["colour_space"] == "srgb"
