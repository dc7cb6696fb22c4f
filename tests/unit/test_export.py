"""The one export path (cutout_studio.core.export): formats, metadata, geometry, safe writing."""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, features

from cutout_studio.core import export
from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.errors import ExportError
from cutout_studio.core.export import (
    FORMATS,
    ExportOptions,
    encode_to_bytes,
    export_cutout,
    find_format,
    output_suffix,
    parse_color,
    register_format,
    remove_stale_temp_files,
    render_cutout,
)
from cutout_studio.core.image_io import LoadedImage, load_image
from cutout_studio.core.options import BatchOptions, OptionsError, Range, spec
from tests.unit.format_files import read_rgba16, write_png16

DATA = Path(__file__).resolve().parents[1] / "data"
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
ORIENTATION, MAKE = 0x0112, 0x010F
X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT = 0x011A, 0x011B, 0x0128


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedImage, np.ndarray]:
    """A real photo saved with an ICC profile, EXIF (orientation 6: stored sideways) and 300 dpi,
    loaded back upright, and its mask turned the same way."""
    folder = tmp_path_factory.mktemp("source")
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[MAKE] = "TestCam"
    with Image.open(DATA / "people-ccp__ccp0003.jpg") as photo:
        photo.save(folder / "photo.jpg", quality=95, icc_profile=SRGB, exif=exif.tobytes(), dpi=(300, 300))
    image = load_image(folder / "photo.jpg")
    mask = cv2.imread(str(DATA / "people-ccp__ccp0003.png"), cv2.IMREAD_GRAYSCALE)
    alpha = np.ascontiguousarray(np.rot90(mask, -1)).astype(np.float32) / 255
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)  # soft edges, as a model gives
    assert image.rgb.shape[:2] == alpha.shape
    return image, alpha


@pytest.fixture
def image(source: tuple[LoadedImage, np.ndarray]) -> LoadedImage:
    return source[0]


@pytest.fixture
def alpha(source: tuple[LoadedImage, np.ndarray]) -> np.ndarray:
    return source[1]


def alpha8(alpha: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(alpha, 0, 1) * 255).astype(np.uint8)


def subject_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(alpha > export.SUBJECT_THRESHOLD)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def read_rgba(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == "RGBA"
        return np.asarray(im)


# --- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#ff8800", (255, 136, 0)),
        ("#F80", (255, 136, 0)),
        ("white", (255, 255, 255)),
        ("255,136,0", (255, 136, 0)),
        (" 0 , 10 ,20 ", (0, 10, 20)),
    ],
)
def test_parse_color_accepts_usual_spellings(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_color(text) == expected


@pytest.mark.parametrize("text", ["notacolour", "256,0,0", "1,2", "#12345", "#ff000080", ""])
def test_parse_color_refuses_the_rest(text: str) -> None:
    with pytest.raises(ValueError):
        parse_color(text)


def test_output_suffix() -> None:
    assert output_suffix(ExportOptions()) == ".png"
    assert output_suffix(ExportOptions(format="webp")) == ".webp"
    assert output_suffix(ExportOptions(format="jpeg", background="white")) == ".jpg"
    assert output_suffix(ExportOptions(format="webp", output="mask")) == ".png"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"format": "gif"},
        {"format": "webp", "quality": 0},
        {"format": "jpeg", "quality": 101},
        {"padding": -1},
        {"padding_unit": "cm"},
        {"output": "both"},
        {"background": (0, 0, 300)},
        {"background": 7},
    ],
)
def test_bad_options_raise_export_error(kwargs: dict) -> None:
    with pytest.raises(ExportError):
        ExportOptions(**kwargs)


def test_options_normalise_format_and_background(tmp_path: Path) -> None:
    assert ExportOptions(format="JPG", background="white").format == "jpeg"
    assert ExportOptions(background="#000").background == (0, 0, 0)
    Image.new("RGB", (8, 8), "red").save(tmp_path / "bg.jpg")
    assert ExportOptions(background=str(tmp_path / "bg.jpg")).background == tmp_path / "bg.jpg"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"edges": {"shift": 1e9}}, "shift must be -100 to 100 px, got 1e+09"),
        ({"edges": {"shift": 2000}}, "shift must be -100 to 100 px, got 2000"),
        ({"edges": {"feather": 1e9}}, "feather must be 0 to 100 px, got 1e+09"),
        ({"edges": {"feather": float("inf")}}, "feather must be 0 to 100 px"),
        ({"edges": {"band": 2.5}}, "band must be a whole number"),
        ({"edges": {"matting": "yes"}}, "matting must be true or false"),
        ({"padding": 1e6}, "padding must be 0 to 10000 px"),
        ({"padding": 5000, "padding_unit": "%"}, "padding must be 0 to 1000 %"),
        ({"quality": 80.5, "format": "webp"}, "quality must be a whole number"),
        ({"quality": 1e9, "format": "webp"}, "quality must be 1 to 100, got 1e+09 (WEBP quality: 1–99 lossy"),
        ({"quality": "high", "format": "jpeg", "background": "white"}, "quality must be a number"),
        ({"crop": "no"}, "crop must be true or false"),
    ],
)
def test_every_numeric_option_has_a_range_checked_on_construction(kwargs: dict, message: str) -> None:
    # case 5 (issue 8): these values hung, filled memory or ended in an OpenCV traceback
    if "edges" in kwargs:
        with pytest.raises(OptionsError, match=re.escape(message)) as info:
            EdgeOptions(**kwargs["edges"])
    else:
        with pytest.raises(OptionsError, match=re.escape(message)) as info:
            ExportOptions(**kwargs)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ExportError)


def test_schema_ranges_are_what_the_fronts_show() -> None:
    assert spec(EdgeOptions, "shift") == Range(-100, 100, "px")
    assert spec(EdgeOptions, "feather").describe() == "0 to 100 px"
    assert spec(BatchOptions, "batch_size").integer
    for bad in (0, -3, 65, 2.5):
        with pytest.raises(OptionsError, match="batch size"):
            BatchOptions(batch_size=bad)
    assert BatchOptions(batch_size=8, workers=2) == BatchOptions(8, 2)


def test_a_format_without_transparency_needs_a_background_one_line() -> None:
    # case 13 (issue 8): the rule lives in the options, so every front refuses the same way
    with pytest.raises(OptionsError, match="JPEG has no transparency") as info:
        ExportOptions(format="jpeg")
    assert info.value.field == "format" and "\n" not in str(info.value)
    assert ExportOptions(format="jpeg", output="mask").file_format.name == "png"  # a mask is a PNG


def test_a_broken_background_image_is_refused_when_the_options_are_built(tmp_path: Path) -> None:
    # case 6 (issue 8): checked once here, not for every photo of a batch
    (tmp_path / "bg.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(OptionsError, match=r"background image bg\.jpg: ") as info:
        ExportOptions(background=tmp_path / "bg.jpg")
    assert info.value.field == "background"
    with pytest.raises(OptionsError, match="neither a colour"):
        ExportOptions(background="not-a-colour")


def test_the_format_table_drives_suffixes_quality_and_encoding(
    image: LoadedImage, alpha: np.ndarray, tmp_path: Path
) -> None:
    avif = {"avif"} if features.check("avif") else set()  # registered only where Pillow has it
    assert set(FORMATS) == {"png", "webp", "jpeg", "tiff", "psd"} | avif
    assert find_format("JPG") is FORMATS["jpeg"] and find_format("gif") is None
    assert [f.name for f in FORMATS.values() if not f.alpha] == ["jpeg"]
    # a new format is one entry plus its encoder: here a second name for PNG's encoder
    register_format(dataclasses.replace(FORMATS["png"], name="testpng", suffixes=(".tpng",)))
    try:
        options = ExportOptions(format="testpng")
        assert output_suffix(options) == ".tpng"
        path = export_cutout(image, alpha, tmp_path / "cut", options)
        assert path.name == "cut.tpng"
        with Image.open(path) as im:
            assert im.format == "PNG" and im.mode == "RGBA"
    finally:
        del FORMATS["testpng"]


def test_options_round_trip_through_their_dict_form(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8), "red").save(tmp_path / "bg.png")
    options = ExportOptions(format="webp", quality=80, background=tmp_path / "bg.png", crop=True, padding=5,
                            padding_unit="%", overwrite=True, edges=EdgeOptions(feather=1.5, shift=-2))
    data = options.to_dict()
    assert "overwrite" not in data  # a per-run choice, never stored
    assert data["background"] == str(tmp_path / "bg.png") and data["edges"]["shift"] == -2
    assert ExportOptions.from_dict(data) == dataclasses.replace(options, overwrite=False)
    coloured = ExportOptions(background=(255, 136, 0))
    assert coloured.to_dict()["background"] == "#ff8800"
    assert ExportOptions.from_dict(coloured.to_dict()) == coloured


def test_from_dict_drops_only_the_refused_values() -> None:
    restored = ExportOptions.from_dict(
        {"format": "webp", "quality": 0, "crop": True, "edges": {"shift": 2000, "feather": 2}, "unknown": 1}
    )
    assert restored == ExportOptions(format="webp", crop=True, edges=EdgeOptions(feather=2))
    # JPEG over a background image that is gone: the background, then the format fall back
    assert ExportOptions.from_dict({"format": "jpeg", "background": "/gone/bg.jpg"}) == ExportOptions()
    # settings written before the edges were nested kept them flat
    legacy = ExportOptions.from_dict({"format": "png", "feather": 1.5, "matting": True})
    assert legacy.edges == EdgeOptions(feather=1.5, matting=True)


def test_a_canvas_too_large_is_refused_before_allocating(image: LoadedImage, alpha: np.ndarray) -> None:
    # 10000 px of padding on every side: ~20500² pixels, over the 250 MP the loader accepts
    with pytest.raises(ExportError, match="the canvas would be .* use less padding"):
        render_cutout(image, alpha, ExportOptions(crop=True, padding=10000))


# --- formats and pixels -----------------------------------------------------------------------


def test_transparent_png_carries_the_mask_and_the_exact_opaque_colours(
    image: LoadedImage, alpha: np.ndarray, tmp_path: Path
) -> None:
    path = export_cutout(image, alpha, tmp_path / "cut.png", ExportOptions())
    rgba = read_rgba(path)
    np.testing.assert_array_equal(rgba[..., 3], alpha8(alpha))
    opaque = rgba[..., 3] == 255
    np.testing.assert_array_equal(rgba[..., :3][opaque], image.rgb[opaque])  # decontamination spares them
    np.testing.assert_array_equal(rgba, render_cutout(image, alpha, ExportOptions()).pixels)  # preview = file


def test_transparent_pixels_hold_no_trace_of_the_old_background(
    image: LoadedImage, alpha: np.ndarray
) -> None:
    pixels = render_cutout(image, alpha, ExportOptions(edges=EdgeOptions(decontaminate=False))).pixels
    assert not pixels[..., :3][pixels[..., 3] == 0].any()


def test_webp_lossless_is_exact_and_lossy_is_close(
    image: LoadedImage, alpha: np.ndarray, tmp_path: Path
) -> None:
    lossless = read_rgba(export_cutout(image, alpha, tmp_path / "a.webp", ExportOptions(format="webp")))
    np.testing.assert_array_equal(lossless[..., 3], alpha8(alpha))
    opaque = lossless[..., 3] == 255
    np.testing.assert_array_equal(lossless[..., :3][opaque], image.rgb[opaque])

    lossy_path = export_cutout(image, alpha, tmp_path / "b.webp", ExportOptions(format="webp", quality=80))
    lossy = read_rgba(lossy_path)
    assert np.abs(lossy[..., 3].astype(int) - alpha8(alpha)).mean() < 1.0
    assert np.abs(lossy[..., :3][opaque].astype(int) - image.rgb[opaque]).mean() < 8
    assert lossy_path.stat().st_size < (tmp_path / "a.webp").stat().st_size / 2


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        at += 12 + length
    return chunks


def test_16bit_source_gives_16bit_png_with_alpha_and_metadata(
    image: LoadedImage, alpha: np.ndarray, tmp_path: Path
) -> None:
    # Values that are not multiples of 257: 8 bits could not hold them.
    rgb16 = (image.rgb.astype(np.uint16) * 257 + np.uint16(100)).astype(np.uint16)
    write_png16(tmp_path / "deep.png", rgb16)
    deep = load_image(tmp_path / "deep.png")
    assert deep.rgb16 is not None
    deep = dataclasses.replace(deep, icc_profile=SRGB, exif=image.exif, dpi=(300.0, 300.0))
    path = export_cutout(deep, alpha, tmp_path / "out" / "cut16.png", ExportOptions())

    read_rgba16(path, alpha, rgb16)

    kinds = [kind for kind, _ in png_chunks(path.read_bytes())]  # CRCs checked too
    assert kinds.index(b"iCCP") < kinds.index(b"IDAT") and kinds.index(b"eXIf") < kinds.index(b"IDAT")
    with Image.open(path) as im:
        assert im.info["icc_profile"] == SRGB
        assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert im.getexif()[ORIENTATION] == 1 and im.getexif()[MAKE] == "TestCam"


@pytest.mark.parametrize(
    "options",
    [
        ExportOptions(),
        ExportOptions(format="webp"),
        ExportOptions(format="webp", quality=75),
        ExportOptions(format="jpeg", background="white"),
    ],
    ids=["png", "webp-lossless", "webp-lossy", "jpeg"],
)
def test_icc_exif_and_dpi_survive(
    image: LoadedImage, alpha: np.ndarray, tmp_path: Path, options: ExportOptions
) -> None:
    path = export_cutout(image, alpha, tmp_path / f"cut{output_suffix(options)}", options)
    with Image.open(path) as im:
        assert im.size == (image.width, image.height)
        assert im.info.get("icc_profile") == SRGB
        exif = im.getexif()
        assert exif[ORIENTATION] == 1  # the pixels are upright now
        assert exif[MAKE] == "TestCam"
        if options.format == "webp":
            # case 11 (issue 8): WebP has no density field; the DPI is in its EXIF chunk
            assert (exif[X_RESOLUTION], exif[Y_RESOLUTION], exif[RESOLUTION_UNIT]) == (300, 300, 2)
        else:
            assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_webp_of_a_photo_without_exif_still_carries_its_dpi(tmp_path: Path) -> None:
    with Image.open(DATA / "people-ccp__ccp0003.jpg") as photo:
        photo.save(tmp_path / "plain.png", dpi=(150, 72))  # a density but no EXIF
    plain = load_image(tmp_path / "plain.png")
    assert plain.exif is None and plain.dpi
    alpha = np.ones(plain.rgb.shape[:2], np.float32)
    path = export_cutout(plain, alpha, tmp_path / "cut.webp", ExportOptions(format="webp"))
    with Image.open(path) as im:
        exif = im.getexif()
        assert float(exif[X_RESOLUTION]) == pytest.approx(150, abs=0.05)  # PNG stores px per metre
        assert float(exif[Y_RESOLUTION]) == pytest.approx(72, abs=0.05) and exif[RESOLUTION_UNIT] == 2


def test_background_colour_fills_where_the_subject_is_not(
    image: LoadedImage, alpha: np.ndarray, tmp_path: Path
) -> None:
    options = ExportOptions(background="#00ff00")
    path = export_cutout(image, alpha, tmp_path / "green.png", options)
    with Image.open(path) as im:
        assert im.mode == "RGB"
        pixels = np.asarray(im)
    assert (pixels[alpha == 0] == (0, 255, 0)).all()
    opaque = alpha >= 1.0
    np.testing.assert_array_equal(pixels[opaque], image.rgb[opaque])

    jpeg = export_cutout(image, alpha, tmp_path / "green.jpg", dataclasses.replace(options, format="jpeg"))
    with Image.open(jpeg) as im:
        corner = np.asarray(im)[:20, :20].reshape(-1, 3).astype(int)
    assert np.abs(corner - (0, 255, 0)).max() <= 6


def test_background_image_covers_the_canvas(image: LoadedImage, alpha: np.ndarray, tmp_path: Path) -> None:
    # A landscape picture behind a portrait photo: scaled to cover, the centre is kept, so the
    # left half of the output shows blue and the right half yellow.
    picture = np.zeros((100, 200, 3), np.uint8)
    picture[:, :100] = (0, 0, 255)
    picture[:, 100:] = (255, 255, 0)
    Image.fromarray(picture).save(tmp_path / "bg.png")
    options = ExportOptions(background=tmp_path / "bg.png")
    pixels = render_cutout(image, alpha, options).pixels
    assert pixels.shape == image.rgb.shape
    clear = alpha == 0
    left, right = clear.copy(), clear.copy()
    # Away from the colour split, which the upscaling (8×) blurs over a few source pixels.
    left[:, image.width // 2 - 30 :] = False
    right[:, : image.width // 2 + 30] = False
    assert np.abs(pixels[left].astype(int) - (0, 0, 255)).max() <= 2
    assert np.abs(pixels[right].astype(int) - (255, 255, 0)).max() <= 2

    with pytest.raises(ExportError, match="background image"):
        render_cutout(image, alpha, ExportOptions(background=tmp_path / "missing.jpg"))


def test_jpeg_needs_a_background(image: LoadedImage, alpha: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="background"):
        export_cutout(image, alpha, tmp_path / "x.jpg", ExportOptions(format="jpeg"))
    assert not (tmp_path / "x.jpg").exists()


def test_decontamination_removes_the_red_halo(image: LoadedImage, alpha: np.ndarray, tmp_path: Path) -> None:
    # The subject photographed in front of red: soft edge pixels mix in red.
    soft_alpha = cv2.GaussianBlur(alpha, (0, 0), 2.5)
    red = np.array([230, 20, 20], np.float32)
    mixed = image.rgb * soft_alpha[..., None] + red * (1 - soft_alpha[..., None])
    on_red = dataclasses.replace(image, rgb=np.rint(mixed).astype(np.uint8), path=None)
    soft = (soft_alpha > 0.1) & (soft_alpha < 0.9)

    def redness(pixels: np.ndarray) -> float:
        pixels = pixels.astype(np.float32)
        return float((pixels[..., 0] - (pixels[..., 1] + pixels[..., 2]) / 2).mean())

    cut = read_rgba(export_cutout(on_red, soft_alpha, tmp_path / "cut.png", ExportOptions()))
    assert redness(cut[..., :3][soft]) < redness(on_red.rgb[soft]) - 20

    plain = ExportOptions(background="white", edges=EdgeOptions(decontaminate=False))
    naive = render_cutout(on_red, soft_alpha, plain).pixels
    clean = render_cutout(on_red, soft_alpha, dataclasses.replace(plain, edges=EdgeOptions())).pixels
    assert redness(clean[soft]) < redness(naive[soft]) - 10


def test_edge_settings_are_applied_on_export(image: LoadedImage, alpha: np.ndarray) -> None:
    grown = render_cutout(image, alpha, ExportOptions(edges=EdgeOptions(shift=4))).pixels[..., 3]
    plain = render_cutout(image, alpha, ExportOptions()).pixels[..., 3]
    assert np.count_nonzero(grown > 127) > np.count_nonzero(plain > 127) * 1.02


# --- geometry ---------------------------------------------------------------------------------


def test_crop_with_padding_in_px(image: LoadedImage, alpha: np.ndarray) -> None:
    x0, y0, x1, y1 = subject_box(alpha)
    rendered = render_cutout(image, alpha, ExportOptions(crop=True, padding=20))
    assert (rendered.width, rendered.height) == (x1 - x0 + 40, y1 - y0 + 40)
    assert rendered.box == (x0 - 20, y0 - 20, x1 + 20, y1 + 20)
    inside = rendered.pixels[..., 3] > 0.02 * 255
    rows, cols = np.nonzero(inside)
    assert (cols.min(), rows.min()) == (20, 20)  # the subject starts after the padding


def test_crop_with_padding_in_percent(image: LoadedImage, alpha: np.ndarray) -> None:
    x0, y0, x1, y1 = subject_box(alpha)
    width, height = x1 - x0, y1 - y0
    rendered = render_cutout(image, alpha, ExportOptions(crop=True, padding=10, padding_unit="%"))
    assert (rendered.width, rendered.height) == (
        width + 2 * round(width * 0.1),
        height + 2 * round(height * 0.1),
    )


def test_padding_past_the_photo_border_is_transparent() -> None:
    rgb = np.full((60, 80, 3), 200, np.uint8)
    alpha = np.zeros((60, 80), np.float32)
    alpha[0:30, 0:40] = 1  # touches the top-left corner
    rendered = render_cutout(LoadedImage(rgb=rgb), alpha, ExportOptions(crop=True, padding=5))
    assert (rendered.width, rendered.height) == (50, 40)
    assert not rendered.pixels[:5].any() and not rendered.pixels[:, :5].any()
    assert (rendered.pixels[5:35, 5:45, 3] == 255).all()


def test_square_canvas_is_square_with_the_subject_centred(image: LoadedImage, alpha: np.ndarray) -> None:
    x0, y0, x1, y1 = subject_box(alpha)
    rendered = render_cutout(image, alpha, ExportOptions(crop=True, square=True, background=(10, 20, 30)))
    assert rendered.width == rendered.height == max(x1 - x0, y1 - y0)
    visible = np.any(rendered.pixels != (10, 20, 30), axis=2)
    cols = np.nonzero(visible.any(axis=0))[0]
    left, right = cols.min(), rendered.width - 1 - cols.max()
    assert abs(left - right) <= 1

    whole = render_cutout(image, alpha, ExportOptions(square=True))
    assert whole.width == whole.height == max(image.width, image.height)


def test_mask_output_is_8bit_grey_with_the_same_geometry(
    image: LoadedImage, alpha: np.ndarray, tmp_path: Path
) -> None:
    options = ExportOptions(output="mask", crop=True, padding=7)
    path = export_cutout(image, alpha, tmp_path / "mask.png", options)
    with Image.open(path) as im:
        assert im.mode == "L"
        mask = np.asarray(im)
    cutout = render_cutout(image, alpha, dataclasses.replace(options, output="cutout")).pixels
    np.testing.assert_array_equal(mask, cutout[..., 3])


def test_empty_mask(image: LoadedImage, tmp_path: Path) -> None:
    empty = np.zeros(image.rgb.shape[:2], np.float32)
    with pytest.raises(ExportError, match="nothing to export: the mask is empty"):
        export_cutout(image, empty, tmp_path / "crop.png", ExportOptions(crop=True))
    assert not list(tmp_path.iterdir())
    rgba = read_rgba(export_cutout(image, empty, tmp_path / "all.png", ExportOptions()))
    assert rgba.shape == image.rgb.shape[:2] + (4,) and not rgba.any()


# --- writing ----------------------------------------------------------------------------------


def test_refuses_to_write_over_the_source(image: LoadedImage, alpha: np.ndarray) -> None:
    assert image.path is not None
    before = image.path.read_bytes()
    options = ExportOptions(format="jpeg", background="white", overwrite=True)
    roundabout = image.path.parent / ".." / image.path.parent.name / "." / image.path.name
    for dest in (image.path, roundabout):
        with pytest.raises(ExportError, match="source"):
            export_cutout(image, alpha, dest, options)
    link = image.path.parent / "hardlink.jpg"
    os.link(image.path, link)
    try:
        with pytest.raises(ExportError, match="source"):
            export_cutout(image, alpha, link, options)
    finally:
        link.unlink()
    assert image.path.read_bytes() == before


def test_existing_output_needs_overwrite(image: LoadedImage, alpha: np.ndarray, tmp_path: Path) -> None:
    dest = tmp_path / "cut.png"
    export_cutout(image, alpha, dest, ExportOptions(background="white"))
    first = dest.read_bytes()
    with pytest.raises(ExportError, match=r"cut\.png.*exists \(use overwrite\)"):
        export_cutout(image, alpha, dest, ExportOptions(background="black"))
    assert dest.read_bytes() == first
    export_cutout(image, alpha, dest, ExportOptions(background="black", overwrite=True))
    assert dest.read_bytes() != first
    with Image.open(dest) as im:
        assert im.getpixel((0, 0)) == (0, 0, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.png"]  # no temporary files left


def test_missing_folders_are_created_and_suffix_checked(
    image: LoadedImage, alpha: np.ndarray, tmp_path: Path
) -> None:
    written = export_cutout(image, alpha, tmp_path / "a" / "b" / "cut", ExportOptions(format="webp"))
    assert written == tmp_path / "a" / "b" / "cut.webp" and written.is_file()
    with pytest.raises(ExportError, match=r"\.png"):
        export_cutout(image, alpha, tmp_path / "cut.png", ExportOptions(format="webp"))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_written_file_gets_ordinary_permissions(
    image: LoadedImage, alpha: np.ndarray, tmp_path: Path
) -> None:
    previous = os.umask(0o022)
    try:
        path = export_cutout(image, alpha, tmp_path / "cut.png", ExportOptions())
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root (and Windows) ignore read-only folder bits"
)
def test_read_only_folder(image: LoadedImage, alpha: np.ndarray, tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ExportError, match=r"cut\.png: cannot write: permission denied"):
            export_cutout(image, alpha, folder / "cut.png", ExportOptions())
        assert not list(folder.iterdir())
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        ("open", PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
        ("fsync", OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
        ("fsync", OSError(errno.EROFS, "Read-only file system"), "the disk is read-only"),
    ],
)
def test_write_failures_leave_nothing_behind(
    image: LoadedImage,
    alpha: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    error: OSError,
    message: str,
) -> None:
    real = getattr(os, target)

    def failing(*args: object, **kwargs: object) -> object:
        if target == "open" and not str(args[0]).endswith(".part"):
            return real(*args, **kwargs)  # only the temporary file's creation fails
        raise error

    monkeypatch.setattr(os, target, failing)
    with pytest.raises(ExportError, match=rf"cut\.png: cannot write: {message}"):
        export_cutout(image, alpha, tmp_path / "cut.png", ExportOptions())
    monkeypatch.undo()
    assert not list(tmp_path.iterdir())


def test_encoder_failure_midway_leaves_nothing_behind(
    image: LoadedImage, alpha: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_then_fail(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"\x89PNG half a file")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", half_then_fail)
    dest = tmp_path / "cut.png"
    with pytest.raises(ExportError, match="disk is full"):
        export_cutout(image, alpha, dest, ExportOptions())
    assert not list(tmp_path.iterdir())


def test_encode_to_bytes_matches_the_file(image: LoadedImage, alpha: np.ndarray, tmp_path: Path) -> None:
    options = ExportOptions(format="webp")
    path = export_cutout(image, alpha, tmp_path / "cut.webp", options)
    assert encode_to_bytes(render_cutout(image, alpha, options), options) == path.read_bytes()


def test_stale_temporary_files_of_killed_exports_are_removed_and_nothing_else(tmp_path: Path) -> None:
    stale = tmp_path / ".bag.png.0123abcd.part"  # what a kill during the write of bag.png leaves
    keep = [
        tmp_path / ".bag.png.not-hex!.part",  # not our naming
        tmp_path / ".shoe.png.0123abcd.part",  # another output's (not part of this batch)
        tmp_path / "bag.png.0123abcd.part",  # not hidden: not ours
        tmp_path / "bag.png",
    ]
    for path in [stale, *keep]:
        path.write_bytes(b"x")
    assert remove_stale_temp_files(tmp_path, {"bag.png"}) == 1
    assert not stale.exists() and all(p.exists() for p in keep)
    assert remove_stale_temp_files(tmp_path / "missing", {"bag.png"}) == 0
