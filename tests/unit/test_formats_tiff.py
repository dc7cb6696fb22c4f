"""TIFF and AVIF outputs (issue 13, item 5): through the format table, with alpha and metadata."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from cutout_studio.core.export import FORMATS, ExportOptions, export_cutout, find_format, render_cutout
from cutout_studio.core.image_io import LoadedImage, load_image
from tests.unit.format_files import SRGB, alpha8, photo_with_metadata, read_rgba16, write_png16


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedImage, np.ndarray]:
    return photo_with_metadata(tmp_path_factory.mktemp("photo"))


def test_tiff_is_in_the_table_with_its_spellings() -> None:
    tiff = FORMATS["tiff"]
    assert find_format("TIF") is tiff and tiff.suffixes == (".tif", ".tiff")
    assert tiff.alpha and tiff.deep and tiff.quality is None


def test_8bit_tiff_keeps_alpha_colours_icc_and_dpi(source: tuple[LoadedImage, np.ndarray], tmp_path: Path) -> None:
    image, alpha = source
    path = export_cutout(image, alpha, tmp_path / "cut", ExportOptions(format="tif"))
    assert path.name == "cut.tif"
    with Image.open(path) as im:
        assert im.format == "TIFF" and im.mode == "RGBA"
        assert im.info["compression"] == "tiff_adobe_deflate"
        assert im.info["icc_profile"] == SRGB
        assert im.info["dpi"] == pytest.approx((300, 150), abs=0.01)
        rgba = np.asarray(im)
    np.testing.assert_array_equal(rgba[..., 3], alpha8(alpha))
    opaque = rgba[..., 3] == 255
    np.testing.assert_array_equal(rgba[..., :3][opaque], image.rgb[opaque])
    # what the editor previews is what the file holds
    np.testing.assert_array_equal(rgba, render_cutout(image, alpha, ExportOptions(format="tiff")).pixels)


def test_16bit_source_gives_16bit_tiff_with_alpha_and_metadata(
    source: tuple[LoadedImage, np.ndarray], tmp_path: Path
) -> None:
    image, alpha = source
    rgb16 = (image.rgb.astype(np.uint16) * 257 + np.uint16(100)).astype(np.uint16)  # 8 bits cannot hold these
    write_png16(tmp_path / "deep.png", rgb16)
    deep = dataclasses.replace(load_image(tmp_path / "deep.png"), icc_profile=SRGB, dpi=(300.0, 150.0))
    assert deep.rgb16 is not None

    path = export_cutout(deep, alpha, tmp_path / "cut16.tiff", ExportOptions(format="tiff"))
    read_rgba16(path, alpha, rgb16)
    with Image.open(path) as im:  # Pillow reads the tags of a 16-bit RGBA TIFF, not its pixels
        assert im.tag_v2[258] == (16, 16, 16, 16) and im.tag_v2[338] == (2,)  # unassociated alpha
        assert im.tag_v2[34675] == SRGB
        assert float(im.tag_v2[282]) == pytest.approx(300) and float(im.tag_v2[283]) == pytest.approx(150)
    # and the loader takes it back at full depth
    again = load_image(path)
    assert again.rgb16 is not None and again.icc_profile == SRGB


def test_tiff_on_a_background_is_rgb(source: tuple[LoadedImage, np.ndarray], tmp_path: Path) -> None:
    image, alpha = source
    path = export_cutout(image, alpha, tmp_path / "white.tif", ExportOptions(format="tiff", background="white"))
    with Image.open(path) as im:
        assert im.mode == "RGB"
        pixels = np.asarray(im)
    assert (pixels[alpha < 0.001] == 255).all()


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF support")
def test_avif_keeps_alpha_and_quality_sets_the_size(source: tuple[LoadedImage, np.ndarray], tmp_path: Path) -> None:
    image, alpha = source
    assert FORMATS["avif"].alpha and FORMATS["avif"].quality
    default = export_cutout(image, alpha, tmp_path / "cut", ExportOptions(format="avif"))
    small = export_cutout(image, alpha, tmp_path / "small.avif", ExportOptions(format="avif", quality=30))
    assert default.suffix == ".avif" and small.stat().st_size < default.stat().st_size
    with Image.open(default) as im:
        assert im.format == "AVIF" and im.mode == "RGBA"
        assert im.info.get("icc_profile") == SRGB
        exif = im.getexif()  # no density field: the DPI is in the EXIF, as for WebP
        assert (exif[0x011A], exif[0x011B], exif[0x0128]) == (300, 150, 2)
        rgba = np.asarray(im)
    error = np.abs(rgba[..., 3].astype(int) - alpha8(alpha))
    assert error.mean() < 0.5 and error.max() <= 24  # lossy alpha too, worst at the soft edge
    opaque = alpha8(alpha) == 255
    assert np.abs(rgba[..., :3][opaque].astype(int) - image.rgb[opaque]).mean() < 4
