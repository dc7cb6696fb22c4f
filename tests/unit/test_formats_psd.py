"""PSD output (issue 13, item 5): the cutout as a layer with a layer mask over the hidden
photo, read back with psd-tools (an independent reader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage

from cutout_studio.core.errors import ExportError
from cutout_studio.core.export import FORMATS, ExportOptions, export_cutout, render_cutout
from cutout_studio.core.image_io import LoadedImage
from tests.unit.format_files import SRGB, alpha8, photo_with_metadata


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedImage, np.ndarray]:
    return photo_with_metadata(tmp_path_factory.mktemp("photo"))


def as_uint8(picture: np.ndarray) -> np.ndarray:
    """psd-tools composites in float 0..1."""
    return np.rint(picture * 255).astype(np.uint8) if picture.dtype != np.uint8 else picture


def test_psd_holds_the_cutout_masked_over_the_hidden_photo(
    source: tuple[LoadedImage, np.ndarray], tmp_path: Path
) -> None:
    image, alpha = source
    assert FORMATS["psd"].layers
    path = export_cutout(image, alpha, tmp_path / "cut", ExportOptions(format="psd"))
    assert path.name == "cut.psd"
    psd = PSDImage.open(path)
    assert psd.size == (image.width, image.height) and psd.depth == 8

    assert len(psd) == 2
    photo, cutout = psd[0], psd[1]  # bottom first
    assert not photo.visible and not photo.has_mask()
    np.testing.assert_array_equal(np.asarray(photo.topil())[..., :3], image.rgb)
    assert cutout.visible and cutout.has_mask()
    assert cutout.mask.bbox == (0, 0, image.width, image.height)
    mask = np.asarray(cutout.mask.topil())
    assert np.abs(mask.astype(int) - alpha8(alpha)).max() <= 1
    # under the mask the layer holds the photo: painting the mask back shows it
    layer = np.asarray(cutout.topil())
    assert (layer[..., 3] == 255).all()
    hidden = mask == 0
    np.testing.assert_array_equal(layer[..., :3][hidden], image.rgb[hidden])

    # the composite (psd-tools' own, from the layers) and the merged image are the cutout
    expected = render_cutout(image, alpha, ExportOptions(format="psd")).pixels
    shown = expected[..., 3] > 0
    for picture in (as_uint8(np.asarray(psd.composite())), np.asarray(psd.topil())):
        assert picture.shape == expected.shape
        assert np.abs(picture[..., 3].astype(int) - expected[..., 3]).max() <= 1
        opaque = expected[..., 3] == 255
        assert np.abs(picture[..., :3][opaque].astype(int) - expected[..., :3][opaque]).max() <= 1
        assert (picture[..., 3][~shown] == 0).all()


def test_psd_keeps_icc_and_resolution(source: tuple[LoadedImage, np.ndarray], tmp_path: Path) -> None:
    image, alpha = source
    psd = PSDImage.open(export_cutout(image, alpha, tmp_path / "cut.psd", ExportOptions(format="psd")))
    resolution = psd.image_resources.get_data(1005)
    assert (resolution.horizontal / 65536, resolution.vertical / 65536) == pytest.approx((300, 150))
    assert psd.image_resources.get_data(1039) == SRGB


def test_psd_on_a_background_has_its_own_layer_under_the_photo(
    source: tuple[LoadedImage, np.ndarray], tmp_path: Path
) -> None:
    image, alpha = source
    options = ExportOptions(format="psd", background="#3366cc", crop=True, padding=30)
    psd = PSDImage.open(export_cutout(image, alpha, tmp_path / "blue.psd", options))
    rendered = render_cutout(image, alpha, options)
    expected = rendered.pixels  # RGB, on blue, padded
    assert psd.size == (expected.shape[1], expected.shape[0])
    assert [(layer.name, layer.visible) for layer in psd] == [("Background", True), ("Photo", False), ("Cutout", True)]
    assert (np.asarray(psd[0].topil())[..., :3] == (0x33, 0x66, 0xCC)).all()
    x0, y0, x1, y1 = rendered.box  # the canvas in photo pixels: past the photo is padding
    inside = np.zeros(expected.shape[:2], bool)
    inside[max(0, -y0) : image.height - y0, max(0, -x0) : image.width - x0] = True
    assert not inside.all()
    for layer in psd[1:]:  # the photo and the cutout cover the photo, not the padding
        np.testing.assert_array_equal(np.asarray(layer.topil())[..., 3], np.where(inside, 255, 0))
    merged = np.asarray(psd.topil().convert("RGB"))
    assert np.abs(merged.astype(int) - expected).max() <= 1
    composite = as_uint8(np.asarray(psd.composite()))[..., :3]
    assert np.abs(composite.astype(int) - expected).mean() < 0.5


def test_psd_too_large_for_the_format_is_one_line(tmp_path: Path) -> None:
    rgb = np.zeros((2, 30001, 3), np.uint8)
    image = LoadedImage(rgb=rgb, path=None)
    with pytest.raises(ExportError, match="PSD cannot hold 30001×2 pixels"):
        export_cutout(image, np.ones((2, 30001), np.float32), tmp_path / "wide.psd", ExportOptions(format="psd"))
    assert not list(tmp_path.iterdir())


def test_pillow_reads_the_merged_image(source: tuple[LoadedImage, np.ndarray], tmp_path: Path) -> None:
    """Viewers without layer support show the merged image: Pillow reads that one."""
    image, alpha = source
    path = export_cutout(image, alpha, tmp_path / "cut.psd", ExportOptions(format="psd"))
    with Image.open(path) as im:
        assert im.format == "PSD" and im.size == (image.width, image.height)


@pytest.mark.parametrize("width", [1, 2, 3, 129, 700])
def test_packbits_rows_decode_exactly(width: int, tmp_path: Path) -> None:
    """Rows of runs of every awkward length (1, 2, 3, around 128 and 256) and of noise, through
    the PSD writer and back through psd-tools' own decoder, bit for bit."""
    from cutout_studio.core.export.psd import PsdLayer, write_psd

    rng = np.random.default_rng(width)
    pattern = np.concatenate([np.full(n, v, np.uint8) for n, v in zip(
        [1, 2, 3, 127, 128, 129, 130, 255, 256, 257, 1, 1, 2], range(13))] + [rng.integers(0, 256, 500, np.uint8)])
    rows = [np.roll(pattern, -17 * y)[:width] for y in range(40)]
    plane = np.array(rows, np.uint8)
    rgba = np.stack([plane, plane[::-1], np.full_like(plane, 255), np.full_like(plane, 255)], axis=-1)
    mask = np.ascontiguousarray(plane[::-1, ::-1])
    with open(tmp_path / "runs.psd", "wb") as stream:
        write_psd(stream, [PsdLayer("Runs", rgba, mask=mask)], rgba[..., :3])
    psd = PSDImage.open(tmp_path / "runs.psd")
    np.testing.assert_array_equal(np.asarray(psd[0].topil()), rgba)
    np.testing.assert_array_equal(np.asarray(psd[0].mask.topil()), mask)
    np.testing.assert_array_equal(np.asarray(psd.topil()), rgba[..., :3])


def test_psd_channels_are_compressed(source: tuple[LoadedImage, np.ndarray], tmp_path: Path) -> None:
    image, alpha = source
    path = export_cutout(image, alpha, tmp_path / "cut.psd", ExportOptions(format="psd"))
    raw = image.width * image.height * (4 + 5 + 4)  # photo, cutout with its mask, merged
    assert path.stat().st_size < 0.8 * raw
