"""The image loader: pixels, metadata, every kind of bad file, and fuzzed bytes.

The files themselves are made by the factories in ``image_files.py`` beside this module; the
fixtures below hand each test a fresh folder of them.
"""

from __future__ import annotations

import functools
import io
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageOps

from cutout_studio.core.errors import CutoutError, ImageLoadError
from cutout_studio.core.image_io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    LoadedImage,
    is_image_path,
    load_image,
)
from tests.unit.image_files import REAL_PHOTO_NAMES, TEST_DATA_DIR, BadImages, SampleImages

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
EXIF_ORIENTATION, EXIF_MAKE, EXIF_IFD, EXIF_DATETIME_ORIGINAL = 0x0112, 0x010F, 0x8769, 0x9003


@pytest.fixture
def real_photo_path() -> Path:
    """A real JPEG (640×428, with an ICC profile and 300 DPI). Read it; never write to it."""
    return TEST_DATA_DIR / REAL_PHOTO_NAMES[0]


@pytest.fixture
def real_photo_paths() -> list[Path]:
    return [TEST_DATA_DIR / name for name in REAL_PHOTO_NAMES]


@pytest.fixture
def sample_images(tmp_path: Path, real_photo_path: Path) -> SampleImages:
    folder = tmp_path / "samples"
    folder.mkdir()
    return SampleImages(folder, real_photo_path)


@pytest.fixture
def bad_images(tmp_path: Path, real_photo_path: Path) -> BadImages:
    folder = tmp_path / "bad"
    folder.mkdir()
    return BadImages(folder, real_photo_path)


@pytest.fixture
def bad_image_paths(bad_images: BadImages) -> dict[str, Path]:
    """Every kind of bad file, written once: ``{kind: path}``."""
    return bad_images.all()


def read_exif(loaded: LoadedImage) -> Image.Exif:
    assert loaded.exif is not None
    exif = Image.Exif()
    exif.load(loaded.exif)
    return exif


def file_state(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def assert_valid_rgb(loaded: LoadedImage) -> None:
    rgb = loaded.rgb
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.shape[0] > 0 and rgb.shape[1] > 0
    assert rgb.flags.c_contiguous and rgb.flags.writeable
    if loaded.rgb16 is not None:
        assert loaded.rgb16.dtype == np.uint16 and loaded.rgb16.shape == rgb.shape
    assert all(isinstance(note, str) and "\n" not in note for note in loaded.notes)


def assert_one_line_naming(err: ImageLoadError, name: str) -> None:
    message = str(err)
    assert name in message
    assert "\n" not in message and "\r" not in message
    assert "Traceback" not in message


def near(pixel: np.ndarray, colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(colour)) <= tolerance))


# ---------------------------------------------------------------------------------------------
# Real photos
# ---------------------------------------------------------------------------------------------
def test_real_photos_decode_like_an_independent_decoder(real_photo_paths: list[Path]) -> None:
    for path in real_photo_paths:
        loaded = load_image(path)
        assert_valid_rgb(loaded)
        reference = cv2.cvtColor(
            cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
        )
        assert loaded.rgb.shape == reference.shape
        # libjpeg builds differ by a level or two in IDCT rounding, never more on average.
        assert np.abs(loaded.rgb.astype(int) - reference).mean() < 2.0
        assert loaded.format == "JPEG"
        assert loaded.path == path and loaded.name == path.name
        assert loaded.rgb16 is None and not loaded.is_16bit
        assert (loaded.width, loaded.height) == (reference.shape[1], reference.shape[0])
        assert loaded.notes == []


def test_real_photo_keeps_icc_profile_and_dpi(real_photo_path: Path) -> None:
    with Image.open(real_photo_path) as original:
        original_icc = original.info["icc_profile"]
    loaded = load_image(real_photo_path)
    assert loaded.icc_profile == original_icc
    assert loaded.dpi == (300.0, 300.0)


def test_loads_from_bytes_and_binary_file_objects(real_photo_path: Path) -> None:
    from_path = load_image(real_photo_path)
    from_bytes = load_image(real_photo_path.read_bytes())
    with real_photo_path.open("rb") as handle:
        from_file = load_image(handle)
    np.testing.assert_array_equal(from_bytes.rgb, from_path.rgb)
    np.testing.assert_array_equal(from_file.rgb, from_path.rgb)
    assert from_bytes.path is None and from_bytes.name == "<image>"
    assert from_file.path == real_photo_path


def test_text_mode_file_object_is_a_programming_error(real_photo_path: Path) -> None:
    with real_photo_path.open("r", encoding="latin-1") as handle, pytest.raises(TypeError, match="binary"):
        load_image(handle)  # type: ignore[arg-type]


def test_unicode_and_spaces_in_the_path(sample_images) -> None:
    path = sample_images.unicode_named_photo()
    before = file_state(path)
    loaded = load_image(path)
    assert_valid_rgb(loaded)
    assert loaded.name == "Ünïcødé photo 写真.jpg"
    assert file_state(path) == before


# ---------------------------------------------------------------------------------------------
# EXIF orientation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow_exif_transpose(sample_images, orientation: int) -> None:
    path = sample_images.oriented_png(orientation)  # lossless, so the comparison is exact
    loaded = load_image(path)
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    np.testing.assert_array_equal(loaded.rgb, expected)
    assert read_exif(loaded)[EXIF_ORIENTATION] == 1


def test_orientation_6_rotates_clockwise_for_display(sample_images) -> None:
    # Stored 40 wide × 30 high; orientation 6 means "rotate 90° clockwise to display".
    loaded = load_image(sample_images.oriented_jpeg(6))
    assert (loaded.width, loaded.height) == (30, 40)
    rgb = loaded.rgb
    assert near(rgb[0, -1], RED)  # stored top-left ends up top-right
    assert near(rgb[0, 0], BLUE)  # stored bottom-left ends up top-left
    assert near(rgb[-1, -1], GREEN)
    assert near(rgb[-1, 0], WHITE)


def test_orientation_8_rotates_anticlockwise_for_display(sample_images) -> None:
    loaded = load_image(sample_images.oriented_jpeg(8))
    assert (loaded.width, loaded.height) == (30, 40)
    rgb = loaded.rgb
    assert near(rgb[0, 0], GREEN)  # stored top-right ends up top-left
    assert near(rgb[-1, 0], RED)  # stored top-left ends up bottom-left
    assert near(rgb[0, -1], WHITE)
    assert near(rgb[-1, -1], BLUE)


@pytest.mark.parametrize(("orientation", "turns"), [(6, -1), (8, 1)])
def test_real_photo_orientation_is_an_exact_rotation(
    sample_images, real_photo_path: Path, orientation: int, turns: int
) -> None:
    upright = load_image(real_photo_path).rgb
    rotated = load_image(sample_images.real_photo_with_orientation(orientation))
    np.testing.assert_array_equal(rotated.rgb, np.rot90(upright, turns))
    assert rotated.rgb.flags.c_contiguous and rotated.rgb.flags.writeable
    exif = read_exif(rotated)
    assert exif[EXIF_ORIENTATION] == 1
    assert exif[EXIF_MAKE] == "CutoutStudioTest"


# ---------------------------------------------------------------------------------------------
# Formats and bit depths
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP"])
def test_lossless_8bit_formats_are_pixel_exact(sample_images, fmt: str) -> None:
    path, written = sample_images.rgb(fmt)
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.rgb, written)
    assert loaded.format == fmt and loaded.rgb16 is None


def test_16bit_png_rgb_keeps_full_precision(sample_images) -> None:
    path, written = sample_images.png16()
    loaded = load_image(path)
    assert loaded.is_16bit
    np.testing.assert_array_equal(loaded.rgb16, written)
    np.testing.assert_array_equal(loaded.rgb, (written >> 8).astype(np.uint8))
    assert_valid_rgb(loaded)


def test_16bit_png_grey(sample_images) -> None:
    path, written = sample_images.png16(grey=True)
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.rgb16, np.dstack([written] * 3))
    np.testing.assert_array_equal(loaded.rgb, np.dstack([written >> 8] * 3).astype(np.uint8))


def test_16bit_png_with_alpha_keeps_colour_and_says_alpha_is_unused(sample_images) -> None:
    path, written = sample_images.png16(alpha=True)
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.rgb16, written[..., :3])
    assert any("transparent" in note for note in loaded.notes)


def test_16bit_png_orientation_from_an_exif_chunk_after_the_pixels(sample_images) -> None:
    path, written = sample_images.png16_with_orientation(6)
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.rgb16, np.rot90(written, -1))
    np.testing.assert_array_equal(loaded.rgb, np.rot90(written >> 8, -1).astype(np.uint8))
    assert read_exif(loaded)[EXIF_ORIENTATION] == 1


@pytest.mark.parametrize("grey", [False, True], ids=["rgb", "grey"])
def test_16bit_tiff(sample_images, grey: bool) -> None:
    path, written = sample_images.tiff16(grey=grey)
    loaded = load_image(path)
    expected16 = np.dstack([written] * 3) if grey else written
    np.testing.assert_array_equal(loaded.rgb16, expected16)
    np.testing.assert_array_equal(loaded.rgb, (expected16 >> 8).astype(np.uint8))
    assert loaded.format == "TIFF"


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG"])
def test_8bit_grey_becomes_equal_rgb_channels(sample_images, fmt: str) -> None:
    path, written = sample_images.grey(fmt)
    loaded = load_image(path)
    assert loaded.rgb16 is None
    tolerance = 0 if fmt != "JPEG" else 3
    for channel in range(3):
        assert np.abs(loaded.rgb[..., channel].astype(int) - written).max() <= tolerance


def test_palette_png_with_transparency(sample_images) -> None:
    path, expected = sample_images.palette_png(transparent_index=0)
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.rgb, expected)
    assert any("transparent" in note for note in loaded.notes)


def test_palette_png_without_transparency_has_no_note(sample_images) -> None:
    path, expected = sample_images.palette_png(transparent_index=None)
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.rgb, expected)
    assert loaded.notes == []


def test_grey_alpha_png(sample_images) -> None:
    path, grey, _alpha = sample_images.grey_alpha_png()
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.rgb, np.dstack([grey] * 3))
    assert any("transparent" in note for note in loaded.notes)


# Patches in the order sample_images.cmyk_jpeg writes them, 16 px wide each.
CMYK_PATCHES = ["white", "cyan", "magenta", "yellow", "black", "grey"]


def patch_colours(rgb: np.ndarray) -> dict[str, np.ndarray]:
    return {
        name: rgb[4:12, 16 * i + 4 : 16 * i + 12].reshape(-1, 3).mean(axis=0)
        for i, name in enumerate(CMYK_PATCHES)
    }


def test_cmyk_jpeg_without_profile_converts_to_plausible_rgb(sample_images) -> None:
    path, _cmyk = sample_images.cmyk_jpeg(with_icc=False)
    loaded = load_image(path)
    assert_valid_rgb(loaded)
    assert loaded.icc_profile is None
    colours = patch_colours(loaded.rgb)
    assert near(colours["white"], WHITE, 8)
    assert near(colours["cyan"], (0, 255, 255), 16)
    assert near(colours["magenta"], (255, 0, 255), 16)
    assert near(colours["yellow"], (255, 255, 0), 16)
    assert near(colours["black"], (0, 0, 0), 16)
    assert near(colours["grey"], (127, 127, 127), 16)
    # OpenCV's decoder (libjpeg's own CMYK handling) agrees with the loader.
    reference = cv2.cvtColor(cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.abs(loaded.rgb.astype(int) - reference).mean() < 3


def test_cmyk_jpeg_with_profile_converts_through_it_to_srgb(sample_images) -> None:
    # The test profile has dull inks (80 % of the naive formula): if the loader ignored the
    # profile, solid cyan would come out (0, 255, 255) instead of about (0, 204, 204).
    path, _cmyk = sample_images.cmyk_jpeg(with_icc=True)
    loaded = load_image(path)
    colours = patch_colours(loaded.rgb)
    assert near(colours["white"], WHITE, 8)  # paper white maps to display white
    assert near(colours["cyan"], (0, 204, 204), 12)
    assert near(colours["magenta"], (204, 0, 204), 12)
    assert near(colours["black"], (0, 0, 0), 16)
    assert loaded.icc_profile is not None
    profile = ImageCms.ImageCmsProfile(io.BytesIO(loaded.icc_profile))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    assert loaded.icc_profile[16:20] == b"RGB "


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_grey_with_its_own_profile_is_converted_to_srgb(sample_images, fmt: str) -> None:
    # Grey 128 in linear light is half the light: about 188 in sRGB; 128 would mean the
    # profile was ignored while the pixels became RGB.
    loaded = load_image(sample_images.grey_with_linear_profile(fmt))
    assert near(loaded.rgb.reshape(-1, 3).mean(axis=0), (188, 188, 188), 4)
    assert loaded.icc_profile is not None and loaded.icc_profile[16:20] == b"RGB "


def test_profile_that_cannot_describe_the_pixels_is_dropped_with_a_note(sample_images) -> None:
    path = sample_images.rgb_with_cmyk_profile()
    loaded = load_image(path)
    with Image.open(path) as image:
        np.testing.assert_array_equal(loaded.rgb, np.asarray(image.convert("RGB")))
    assert loaded.icc_profile is None
    assert any("CMYK colour profile" in note for note in loaded.notes), loaded.notes


# ---------------------------------------------------------------------------------------------
# Metadata: ICC, DPI, EXIF
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP"])
def test_icc_dpi_and_exif_survive(sample_images, fmt: str) -> None:
    path = sample_images.with_icc_and_dpi(fmt, dpi=(300, 150))
    loaded = load_image(path)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert loaded.icc_profile == srgb
    if fmt == "WEBP":
        assert loaded.dpi is None  # WebP has no resolution field
    else:
        assert loaded.dpi == pytest.approx((300, 150), abs=0.05)  # PNG stores whole pixels per metre
    exif = read_exif(loaded)
    assert exif[EXIF_MAKE] == "CutoutStudioTest"
    assert exif[EXIF_ORIENTATION] == 1
    assert exif.get_ifd(EXIF_IFD)[EXIF_DATETIME_ORIGINAL] == "2024:05:06 07:08:09"


def test_tiff_exif_keeps_description_but_not_the_file_structure(sample_images) -> None:
    loaded = load_image(sample_images.tiff_with_exif(orientation=6))
    assert (loaded.width, loaded.height) == (30, 40)  # orientation applied
    exif = read_exif(loaded)
    assert exif[EXIF_MAKE] == "CutoutStudioTest"
    assert exif[EXIF_ORIENTATION] == 1
    assert exif.get_ifd(EXIF_IFD)[EXIF_DATETIME_ORIGINAL] == "2024:05:06 07:08:09"
    for structural_tag in (256, 257, 258, 273, 279):  # width, height, bits, strip offsets/counts
        assert structural_tag not in exif


def test_image_without_exif_has_none(sample_images) -> None:
    path, _ = sample_images.rgb("PNG")
    assert load_image(path).exif is None


# ---------------------------------------------------------------------------------------------
# Animation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animation_uses_the_first_frame_and_says_so(sample_images, fmt: str) -> None:
    loaded = load_image(sample_images.animated(fmt, frames=3))
    assert (loaded.width, loaded.height) == (32, 24)
    assert near(loaded.rgb.reshape(-1, 3).mean(axis=0), RED, 2)
    assert any("first of 3 frames" in note for note in loaded.notes), loaded.notes


def test_multi_picture_jpeg_is_a_jpeg_without_a_note(sample_images) -> None:
    path, first = sample_images.mpo()
    with Image.open(path) as image:
        assert image.format == "MPO"  # what Pillow calls it; the loader reports the file's format
    loaded = load_image(path)
    assert loaded.format == "JPEG" and loaded.notes == []
    # The first picture (quadrants), not the flat grey second one.
    assert near(loaded.rgb[0, 0], tuple(first[0, 0])) and near(loaded.rgb[-1, -1], tuple(first[-1, -1]))


def test_multipage_tiff_uses_the_first_page_and_says_so(sample_images) -> None:
    loaded = load_image(sample_images.multipage_tiff(pages=2))
    assert loaded.rgb.max() == 0  # page 0 is black, page 1 white
    assert loaded.notes == ["multi-page TIFF: used the first of 2 pages"]


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------
BAD_KINDS = list(BadImages.KINDS)


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_gives_one_line_error_naming_it_and_is_not_modified(bad_images, kind: str) -> None:
    path: Path = getattr(bad_images, kind)()
    before = file_state(path)
    with pytest.raises(ImageLoadError) as caught:
        load_image(path)
    assert_one_line_naming(caught.value, path.name)
    assert isinstance(caught.value, CutoutError)
    assert file_state(path) == before


def test_bad_kinds_cover_every_factory_kind(bad_image_paths: dict[str, Path]) -> None:
    assert sorted(bad_image_paths) == sorted(BAD_KINDS)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("zero_byte", "empty file"),
        ("text_named_jpg", "not an image"),
        ("random_bytes_png", "not an image"),
        ("png_bad_crc", "checksum error in the IDAT chunk"),
        ("truncated_jpeg", "truncated"),
        ("huge_header_png", "100000×100000"),
        ("huge_header_jpeg", "65500×65500"),
    ],
)
def test_bad_file_reasons(bad_images, kind: str, reason: str) -> None:
    with pytest.raises(ImageLoadError, match=reason):
        load_image(getattr(bad_images, kind)())


def test_forged_header_is_refused_by_the_pixel_limit(bad_images) -> None:
    # The file is a few hundred bytes: the limit is checked on the header, before any pixel
    # buffer is allocated (this would be 30 GB).
    path = bad_images.huge_header_png()
    assert path.stat().st_size < 1000
    with pytest.raises(ImageLoadError, match="exceeds the limit") as caught:
        load_image(path, max_pixels=250_000_000)
    assert "10,000 megapixels" in str(caught.value) and "250 MP" in str(caught.value)
    assert "decompression bomb" in str(caught.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="file not found") as caught:
        load_image(tmp_path / "no such photo.jpg")
    assert_one_line_naming(caught.value, "no such photo.jpg")
    folder = tmp_path / "holiday.jpg"
    folder.mkdir()
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(folder)


def test_newline_in_file_name_does_not_break_the_one_line_message(tmp_path: Path) -> None:
    path = tmp_path / "two\nlines.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError) as caught:
        load_image(path)
    assert "\n" not in str(caught.value) and "lines.jpg" in str(caught.value)


def test_bad_bytes_without_a_path_are_called_image() -> None:
    with pytest.raises(ImageLoadError, match="^image: "):
        load_image(b"GIF89a this is not really a GIF")


# ---------------------------------------------------------------------------------------------
# Pixel limit
# ---------------------------------------------------------------------------------------------
def test_max_pixels_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "megapixel.png"
    Image.new("RGB", (1000, 1000), (30, 60, 90)).save(path)
    with pytest.raises(ImageLoadError, match="exceeds the limit of 0.5 MP") as caught:
        load_image(path, max_pixels=500_000)
    assert_one_line_naming(caught.value, "megapixel.png")
    loaded = load_image(path)
    assert (loaded.width, loaded.height) == (1000, 1000)
    assert load_image(path, max_pixels=1_000_000).width == 1000  # the limit itself is allowed


def test_default_limit_admits_100_megapixel_photos() -> None:
    assert DEFAULT_MAX_PIXELS >= 100_000_000


def test_non_positive_limit_is_a_programming_error(real_photo_path: Path) -> None:
    with pytest.raises(ValueError, match="max_pixels"):
        load_image(real_photo_path, max_pixels=0)


def test_is_image_path() -> None:
    assert is_image_path(Path("photo.JPG")) and is_image_path("scan.tiff") and is_image_path("a.webp")
    assert not is_image_path(Path("notes.txt")) and not is_image_path(Path("README"))
    assert {".jpg", ".png", ".webp", ".tif", ".bmp"} <= IMAGE_SUFFIXES


# ---------------------------------------------------------------------------------------------
# Fuzzing: random and damaged bytes give a LoadedImage or an ImageLoadError, nothing else
# ---------------------------------------------------------------------------------------------
# A hung decoder must fail the test rather than hang the suite; the limit is generous because
# this machine may be slow and busy. After one hang, later examples get less patience.
_hang_limit_s = [60.0]


def load_with_watchdog(data: bytes) -> LoadedImage | ImageLoadError:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(load_image(data))
        except ImageLoadError as exc:
            outcome.append(exc)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread to fail there
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(_hang_limit_s[0])
    if worker.is_alive():
        _hang_limit_s[0] = 5.0
        pytest.fail(f"load_image hung on {len(data)} bytes starting {data[:32]!r}")
    result = outcome[0]
    if isinstance(result, BaseException) and not isinstance(result, ImageLoadError):
        raise result
    assert isinstance(result, (LoadedImage, ImageLoadError))
    return result


def check_outcome(data: bytes) -> None:
    result = load_with_watchdog(data)
    if isinstance(result, LoadedImage):
        assert_valid_rgb(result)
    else:
        assert_one_line_naming(result, "image")


@functools.cache
def fuzz_seeds() -> dict[str, bytes]:
    """Small, valid files of every format, made from a real photo (so the data is photo-like)."""
    root = Path(__file__).resolve().parents[1] / "data"
    with Image.open(root / "objects-coco__scissors02_000000348012.jpg") as photo:
        small = photo.convert("RGB").resize((48, 32))
    frames = [small, small.rotate(90), small.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]

    def save(image: Image.Image, fmt: str, **options: object) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        return buffer.getvalue()

    exif = Image.Exif()
    exif[0x0112] = 6
    sixteen = np.asarray(small).astype(np.uint16) * 257
    return {
        "png": save(small, "PNG"),
        "png_palette": save(small.convert("P"), "PNG", transparency=0),
        "png16": cv2.imencode(".png", sixteen)[1].tobytes(),
        "jpeg": save(small, "JPEG", quality=85, exif=exif.tobytes()),
        "jpeg_progressive": save(small, "JPEG", progressive=True),
        "jpeg_cmyk": save(small.convert("CMYK"), "JPEG"),
        "webp": save(small, "WEBP", quality=80),
        "webp_lossless_animated": save(
            frames[0], "WEBP", lossless=True, save_all=True, append_images=frames[1:]
        ),
        "gif_animated": save(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "tiff_lzw": save(small, "TIFF", compression="tiff_lzw"),
        "tiff16": cv2.imencode(".tiff", sixteen)[1].tobytes(),
        "bmp": save(small, "BMP"),
    }


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    data = bytearray(fuzz_seeds()[draw(st.sampled_from(sorted(fuzz_seeds())))])
    damage = draw(st.sampled_from(["truncate", "flip bits", "overwrite", "flip and truncate"]))
    if "flip" in damage:
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    if damage == "overwrite":
        start = draw(st.integers(0, len(data) - 1))
        patch = draw(st.binary(min_size=1, max_size=32))
        data[start : start + len(patch)] = patch
    if "truncate" in damage:
        data = data[: draw(st.integers(0, len(data) - 1))]
    return bytes(data)


# Magic numbers get random bytes past format detection into each plugin's header parser.
MAGIC_NUMBERS = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF89a",
    b"RIFF\x00\x10\x00\x00WEBPVP8 ",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
]

FUZZ_SETTINGS = settings(max_examples=150, deadline=None)


@FUZZ_SETTINGS
@given(st.binary(max_size=2048))
def test_random_bytes_never_escape_as_another_exception(data: bytes) -> None:
    check_outcome(data)


@FUZZ_SETTINGS
@given(st.sampled_from(MAGIC_NUMBERS), st.binary(max_size=1024))
def test_random_bytes_behind_a_magic_number(magic: bytes, tail: bytes) -> None:
    check_outcome(magic + tail)


@settings(max_examples=400, deadline=None)
@given(damaged_files())
def test_damaged_real_files_never_escape_as_another_exception(data: bytes) -> None:
    check_outcome(data)


def test_fuzz_seeds_are_all_readable() -> None:
    # Otherwise the fuzz tests above would only ever exercise the error path.
    for name, data in fuzz_seeds().items():
        result = load_image(data)
        assert_valid_rgb(result)
        assert result.width in (32, 48), name
