"""Marketplace presets (issue 13, item 3): what a preset sets, the per-photo check and its
reasons in the batch report, and flags given with --preset overriding its values."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from cutout_studio.cli import build_parser, export_options_from_args, main
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.export.compliance import check_compliance
from cutout_studio.core.export.presets import PRESETS, preset_values
from cutout_studio.core.image_io import load_image
from cutout_studio.core.report import REPORT_NAME

DATA = Path(__file__).resolve().parents[1] / "data"
PERSON = DATA / "people-ccp__ccp0041.jpg"  # a whole person with space around: a "product" that fits
TEDDY = DATA / "objects-coco__teddy_bear04_000000325527.jpg"  # 500x374: the bear is ~140 px tall
HYDRANT = DATA / "objects-coco__fire_hydrant02_000000020107.jpg"  # the hydrant runs off the photo's right edge
DAVIS = DATA / "davis__davis032.jpg"


def _mask(photo: Path) -> np.ndarray:
    return np.asarray(Image.open(photo.with_suffix(".png")).convert("L"))


@pytest.fixture(scope="module")
def amazon_run(model_home, tmp_path_factory) -> tuple[Path, dict[str, dict[str, str]]]:
    """One Amazon batch over a camera-sized photo and a photo that cannot comply.

    Our real photos are at most 872 px; a 2x enlargement of one stands in for a camera's
    resolution (the *input* is enlarged, the export never is: that is what is checked)."""
    folder = tmp_path_factory.mktemp("amazon")
    src = folder / "in"
    src.mkdir()
    with Image.open(PERSON) as im:
        im.resize((im.width * 2, im.height * 2), Image.Resampling.LANCZOS).save(src / "person.jpg", quality=95)
    (src / "teddy.jpg").write_bytes(TEDDY.read_bytes())
    out = folder / "out"
    assert main(["batch", str(src), "-o", str(out), "--preset", "amazon", "--device", "cpu"]) == 0
    with (out / REPORT_NAME).open(encoding="utf-8") as fh:
        rows = {Path(r["file"]).name: r for r in csv.DictReader(fh)}
    return out, rows


def test_amazon_output_meets_every_rule_it_checks(amazon_run):
    out, rows = amazon_run
    assert rows["person.jpg"]["status"] == "done" and rows["person.jpg"]["compliance"] == "ok"
    path = out / "person.jpg"
    with Image.open(path) as im:
        assert im.format == "JPEG" and im.mode == "RGB"  # JPEG, no alpha
        icc = im.info.get("icc_profile")
        pixels = np.asarray(im)
    assert icc is None or "sRGB" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    height, width = pixels.shape[:2]
    assert width == height >= 1600  # square, 1600 px on the long side, from a 1100x1640 photo: not upscaled
    assert (pixels[:8] == 255).all() and (pixels[-8:] == 255).all()  # pure white (255, 255, 255) ...
    assert (pixels[:, :8] == 255).all() and (pixels[:, -8:] == 255).all()  # ... all around
    # the product, measured on the file itself: whatever is not (near) white
    ys, xs = np.nonzero((pixels < 250).any(axis=2))
    fill = max(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) / width
    assert 0.85 <= fill <= 0.95  # fills the frame as Amazon wants, with a margin
    assert xs.min() > 0 and ys.min() > 0 and xs.max() < width - 1 and ys.max() < height - 1  # not touching


def test_a_photo_that_cannot_comply_gets_the_reason_in_the_report(amazon_run):
    out, rows = amazon_run
    row = rows["teddy.jpg"]
    assert row["status"] == "warning"  # written, but not fit for the listing
    assert row["compliance"].startswith("resolution too low: ")
    assert "not upscaled" in row["compliance"]
    assert "Amazon: resolution too low" in row["message"]
    with Image.open(out / "teddy.jpg") as im:
        assert max(im.size) < 1600  # it was not enlarged to pass


def test_check_names_each_rule_that_fails():
    image = load_image(DAVIS)
    alpha = _mask(DAVIS)
    amazon = ExportOptions(**preset_values("amazon"))
    result = check_compliance(image, alpha, amazon)
    assert result is not None and result.preset == "Amazon"
    assert result.reasons == (result.reasons[0],) and result.reasons[0].startswith("resolution too low")
    # the user's own values over the preset: each broken rule is its own reason
    uncropped = dataclasses.replace(amazon, crop=False, square=False)
    reasons = check_compliance(image, alpha, uncropped).reasons
    assert any(r.startswith("subject too small: fills 57% of the frame") for r in reasons)
    assert "not square: 854x480 px" in reasons
    grey = dataclasses.replace(amazon, background="#fafafa", format="webp")
    assert {"background not pure white (#fafafa)", "wrong format: WEBP (use JPEG or PNG)"} <= set(
        check_compliance(image, alpha, grey).reasons)
    transparent = dataclasses.replace(amazon, background=None, format="png")
    assert "background not pure white (transparent)" in check_compliance(image, alpha, transparent).reasons
    tight = dataclasses.replace(amazon, padding=0)
    assert any(r.startswith("subject too big: fills 100%") for r in check_compliance(image, alpha, tight).reasons)
    # the subject is wider than tall: the square canvas leaves room above and below only
    assert "subject touches the frame (left, right)" in check_compliance(image, alpha, tight).reasons
    assert check_compliance(image, alpha, ExportOptions()) is None  # no preset, no check


def test_check_sees_a_subject_cut_off_by_the_photo():
    image = load_image(HYDRANT)
    alpha = _mask(HYDRANT)
    cropped = check_compliance(image, alpha, ExportOptions(**preset_values("amazon")))
    # the white padding hides nothing: the hydrant is cut off at the photo's right edge
    assert "subject cut off by the photo's edge (right)" in cropped.reasons
    whole = check_compliance(image, alpha, dataclasses.replace(ExportOptions(**preset_values("ebay")), crop=False,
                                                               square=False))
    assert any(r.startswith("subject touches the frame (right") for r in whole.reasons)


def test_check_wants_srgb():
    image = load_image(DAVIS)
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    tagged = dataclasses.replace(image, icc_profile=lab)
    reasons = check_compliance(tagged, _mask(DAVIS), ExportOptions(**preset_values("amazon"))).reasons
    assert "colour space not sRGB (Lab identity built-in: cannot be converted)" in reasons
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    reasons = check_compliance(dataclasses.replace(image, icc_profile=srgb), _mask(DAVIS),
                               ExportOptions(**preset_values("amazon"))).reasons
    assert not any("colour space" in r for r in reasons)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_makes_what_it_checks_on_a_fitting_subject(name):
    """A preset's own values pass its own fill, framing, format, background and square rules
    (resolution aside: the photo is small)."""
    image = load_image(DAVIS)
    reasons = check_compliance(image, _mask(DAVIS), ExportOptions(**preset_values(name))).reasons
    assert [r for r in reasons if not r.startswith("resolution too low")] == []


def test_flags_given_with_a_preset_override_its_values():
    parse = build_parser().parse_args
    options = export_options_from_args(parse(["batch", "in", "-o", "out", "--preset", "amazon"]))
    assert options == ExportOptions(**preset_values("amazon"))
    options = export_options_from_args(parse(["batch", "in", "-o", "out", "--preset", "amazon", "--format", "png",
                                              "--no-square", "--padding", "40", "--background", "#eeeeee"]))
    assert (options.format, options.square, options.padding, options.padding_unit) == ("png", False, 40, "px")
    assert options.background == (0xEE, 0xEE, 0xEE) and options.crop and options.preset == "amazon"


def test_help_says_flags_override_the_preset(capsys):
    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--preset {amazon,ebay,shopify,etsy}" in text
    assert "the flags given here override their values" in text
