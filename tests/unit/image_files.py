"""Files for the image loader's tests (``test_image_io.py``): real photos, deterministic pixels,
ICC profiles, PNG chunks, JPEG segments, and two factories.

1. Checked-in data    — small real photos in ``tests/data`` (copied from the shared data sets).
2. Helpers            — deterministic pixels, ICC profiles, PNG chunks, JPEG segments.
3. Image factories    — ``SampleImages``: valid files of every kind the loader must read
                         (16-bit, CMYK, palette, animated, EXIF orientation, ICC + DPI, …).
4. Bad-file factories — ``BadImages``: files the loader must refuse (empty, truncated, bad
                         CRC, text named .jpg, forged huge headers).

The factories write into the folder they are given (pytest's ``tmp_path`` in the tests), so
tests never touch ``tests/data``. The fixtures that build them live in ``test_image_io.py``.
"""

from __future__ import annotations

import io
import itertools
import shutil
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms

# ---------------------------------------------------------------------------------------------
# 1. Checked-in data
# ---------------------------------------------------------------------------------------------
TEST_DATA_DIR = Path(__file__).resolve().parents[1] / "data"

# 640×428 and 640×425 COCO photos; both carry an ICC profile and 300 DPI.
REAL_PHOTO_NAMES = (
    "objects-coco__scissors02_000000348012.jpg",
    "objects-coco__cell_phone00_000000396729.jpg",
)




# ---------------------------------------------------------------------------------------------
# 2. Helpers: deterministic pixels, ICC profiles, PNG chunks, JPEG segments
# ---------------------------------------------------------------------------------------------
QUADRANT_COLOURS = {
    "top_left": (255, 0, 0),
    "top_right": (0, 255, 0),
    "bottom_left": (0, 0, 255),
    "bottom_right": (255, 255, 255),
}


def quadrant_rgb(width: int = 40, height: int = 30) -> np.ndarray:
    """Four flat quadrants of distinct colours: any rotation or flip is obvious from the corners."""
    rgb = np.zeros((height, width, 3), np.uint8)
    half_y, half_x = height // 2, width // 2
    rgb[:half_y, :half_x] = QUADRANT_COLOURS["top_left"]
    rgb[:half_y, half_x:] = QUADRANT_COLOURS["top_right"]
    rgb[half_y:, :half_x] = QUADRANT_COLOURS["bottom_left"]
    rgb[half_y:, half_x:] = QUADRANT_COLOURS["bottom_right"]
    return rgb


def random_rgb(width: int, height: int, *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def random_rgb16(width: int, height: int, *, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Full-range 16-bit values, so that a loader that drops the low byte is caught."""
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 65536, shape, dtype=np.uint16)


def exif_block(*, orientation: int | None = None, make: str = "CutoutStudioTest") -> bytes:
    """EXIF bytes with a camera make, a DateTimeOriginal in the Exif sub-IFD and an orientation."""
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x8769] = {0x9003: "2024:05:06 07:08:09"}
    if orientation is not None:
        exif[0x0112] = orientation
    return exif.tobytes()


def srgb_icc_bytes() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _s15fixed16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


# The test CMYK profile models dull inks: sRGB = TEST_CMYK_DULLNESS × the naive CMYK formula.
# Colour management maps paper white to display white (relative intent), but solid cyan comes
# out about (0, 204, 204) instead of the naive (0, 255, 255): a test can tell whether the loader
# converted through the embedded profile or ignored it.
TEST_CMYK_DULLNESS = 0.8


def cmyk_icc_bytes(grid_points: int = 9) -> bytes:
    """A valid ICC v2 CMYK output profile (lut8 A2B0 to Lab), built here so no file is needed.

    It models dull inks: sRGB = TEST_CMYK_DULLNESS × the naive CMYK formula.
    """
    srgb = ImageCms.createProfile("sRGB")
    to_lab = ImageCms.buildTransform(srgb, ImageCms.createProfile("LAB", 5000), "RGB", "LAB")
    levels = np.linspace(0.0, 1.0, grid_points)
    cmyk = np.array(list(itertools.product(levels, repeat=4)))  # first channel varies slowest
    c, m, y, k = cmyk.T
    rgb = TEST_CMYK_DULLNESS * np.stack([(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)], axis=1)
    rgb8 = np.round(rgb * 255).astype(np.uint8).reshape(1, -1, 3)
    lab = np.asarray(ImageCms.applyTransform(Image.fromarray(rgb8, "RGB"), to_lab)).reshape(-1, 3).copy()
    lab[:, 1:] ^= 0x80  # Pillow stores a*, b* as signed bytes; ICC lut8 wants them offset by 128
    ramp = bytes(range(256))
    identity = b"".join(_s15fixed16(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    a2b0 = b"mft1" + bytes(4) + bytes([4, 3, grid_points, 0]) + identity + ramp * 4 + lab.tobytes() + ramp * 3
    return _icc_profile(b"prtr", b"CMYK", b"Lab ", "Cutout Studio test CMYK", [(b"A2B0", a2b0)])


def grey_icc_bytes(gamma: float = 1.0) -> bytes:
    """A valid ICC v2 grey display profile with a pure gamma curve.

    With gamma 1.0 (linear light) grey 128 is half the light, which sRGB writes as about 188:
    a test can tell whether the loader converted through the profile (188) or ignored it (128).
    """
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    return _icc_profile(
        b"mntr", b"GRAY", b"XYZ ", f"Cutout Studio test grey, gamma {gamma}", [(b"kTRC", curve)]
    )


def _icc_profile(
    device_class: bytes, colour_space: bytes, pcs: bytes, description: str, tags: list[tuple[bytes, bytes]]
) -> bytes:
    """Assemble an ICC v2 profile: header, tag table, then the tags (plus desc, wtpt and cprt)."""
    text = description.encode("ascii") + b"\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(8) + bytes(3) + bytes(67)
    d50 = _s15fixed16(0.9642) + _s15fixed16(1.0) + _s15fixed16(0.8249)
    tags = [
        (b"desc", desc),
        (b"wtpt", b"XYZ " + bytes(4) + d50),
        (b"cprt", b"text" + bytes(4) + b"Public domain test data\0"),
        *tags,
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, blob in tags:
        body += bytes(-(offset + len(body)) % 4)  # tags start on 4-byte boundaries
        table += signature + struct.pack(">II", offset + len(body), len(blob))
        body += blob
    size = offset + len(body)
    header = (
        struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + device_class + colour_space + pcs
        + bytes(12) + b"acsp" + bytes(28) + d50 + bytes(48)
    )  # fmt: skip
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def png_chunk(chunk_type: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + chunk_type
        + payload
        + struct.pack(">I", zlib.crc32(chunk_type + payload))
    )


def png_with_chunk(png: bytes, chunk: bytes, *, before: bytes = b"IEND") -> bytes:
    """Insert a complete chunk (from :func:`png_chunk`) in front of the first ``before`` chunk."""
    position = png.index(before) - 4  # the chunk starts with its 4-byte length
    return png[:position] + chunk + png[position:]


def insert_jpeg_segment(jpeg: bytes, segment: bytes) -> bytes:
    """Insert a marker segment right after SOI (and JFIF APP0): metadata changes, pixels stay bit-exact."""
    assert jpeg[:2] == b"\xff\xd8"
    pos = 2
    if jpeg[2:4] == b"\xff\xe0":  # keep JFIF first, as the standard asks
        pos = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:pos] + segment + jpeg[pos:]


def jpeg_segment_offset(jpeg: bytes, marker: int) -> int:
    """Offset of the first marker segment of this type (walking segment lengths, not searching bytes)."""
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF:
        if jpeg[pos + 1] == marker:
            return pos
        pos += 2 + struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
    raise ValueError(f"no 0xFF{marker:02X} segment before the image data")


def jpeg_with_exif(jpeg: bytes, exif: bytes) -> bytes:
    """The same JPEG stream with an EXIF APP1 segment (``exif`` starts with b"Exif\\0\\0")."""
    return insert_jpeg_segment(jpeg, b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def cv2_encode(array: np.ndarray, suffix: str) -> bytes:
    """Encode with OpenCV (Pillow cannot write 16-bit RGB); ``array`` is RGB or grey."""
    bgr = array[:, :, ::-1] if array.ndim == 3 else array
    ok, buffer = cv2.imencode(suffix, np.ascontiguousarray(bgr))
    assert ok, f"OpenCV could not encode {suffix}"
    return buffer.tobytes()


# ---------------------------------------------------------------------------------------------
# 3. Image factories: valid files the loader must read
# ---------------------------------------------------------------------------------------------
class _FileFactory:
    """Writes test files into ``folder``; ``real_photo`` is a checked-in JPEG to derive from."""

    def __init__(self, folder: Path, real_photo: Path) -> None:
        self.folder = folder
        self.real_photo = real_photo

    def write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path


class SampleImages(_FileFactory):
    """Writes valid test images into a folder; each method returns the new file's path.

    Methods that write known pixels also return them, so tests can compare exactly.
    """


    def rgb(
        self, fmt: str = "PNG", *, width: int = 32, height: int = 24, **options: object
    ) -> tuple[Path, np.ndarray]:
        """Random 8-bit RGB in a lossless format (PNG, BMP, TIFF, lossless WebP)."""
        pixels = random_rgb(width, height, seed=1)
        if fmt == "WEBP":
            options.setdefault("lossless", True)
        suffix = {"PNG": "png", "BMP": "bmp", "TIFF": "tif", "WEBP": "webp"}[fmt]
        return self.write(f"rgb.{suffix}", encode(Image.fromarray(pixels), fmt, **options)), pixels

    def png16(self, *, grey: bool = False, alpha: bool = False) -> tuple[Path, np.ndarray]:
        """16-bit PNG; returns the written values (H×W grey or H×W×3/4 RGB[A])."""
        channels = 1 if grey else (4 if alpha else 3)
        pixels = random_rgb16(24, 18, channels=channels, seed=2)
        if alpha:
            pixels[..., 3] = 65535
            pixels[0, 0, 3] = 0
        return self.write(f"sixteen_{'grey' if grey else 'rgb'}.png", _cv2_encode_any(pixels, ".png")), pixels

    def png16_with_orientation(self, orientation: int) -> tuple[Path, np.ndarray]:
        """16-bit RGB PNG with an EXIF orientation in an eXIf chunk placed after the pixel data."""
        pixels = random_rgb16(24, 18, seed=11)
        exif_payload = exif_block(orientation=orientation)[len(b"Exif\0\0") :]
        data = png_with_chunk(_cv2_encode_any(pixels, ".png"), png_chunk(b"eXIf", exif_payload))
        return self.write(f"sixteen_orientation_{orientation}.png", data), pixels

    def tiff16(self, *, grey: bool = False) -> tuple[Path, np.ndarray]:
        pixels = random_rgb16(20, 14, channels=1 if grey else 3, seed=3)
        return self.write(
            f"sixteen_{'grey' if grey else 'rgb'}.tif", _cv2_encode_any(pixels, ".tiff")
        ), pixels

    def grey(self, fmt: str = "PNG") -> tuple[Path, np.ndarray]:
        pixels = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (10, 1))
        suffix = {"PNG": "png", "JPEG": "jpg", "TIFF": "tif"}[fmt]
        return self.write(f"grey.{suffix}", encode(Image.fromarray(pixels, "L"), fmt)), pixels

    def grey_with_linear_profile(self, fmt: str = "PNG") -> Path:
        """Flat grey 128 tagged with a linear-light (gamma 1.0) grey ICC profile."""
        image = Image.new("L", (16, 8), 128)
        suffix = {"PNG": "png", "JPEG": "jpg"}[fmt]
        return self.write(f"grey_linear.{suffix}", encode(image, fmt, icc_profile=grey_icc_bytes(1.0)))

    def rgb_with_cmyk_profile(self) -> Path:
        """An RGB PNG carrying a CMYK profile, which cannot describe its pixels (a broken export)."""
        image = Image.fromarray(random_rgb(16, 8, seed=12))
        return self.write(
            "rgb_cmyk_profile.png", encode(image, "PNG", icc_profile=cmyk_icc_bytes(grid_points=2))
        )

    def grey_alpha_png(self) -> tuple[Path, np.ndarray, np.ndarray]:
        """Grey + alpha PNG; the left half is fully transparent."""
        grey = np.tile(np.arange(0, 240, 10, dtype=np.uint8), (12, 1))
        alpha = np.full_like(grey, 255)
        alpha[:, : grey.shape[1] // 2] = 0
        image = Image.fromarray(np.dstack([grey, alpha]), "LA")
        return self.write("grey_alpha.png", encode(image, "PNG")), grey, alpha

    def palette_png(self, *, transparent_index: int | None = 0) -> tuple[Path, np.ndarray]:
        """Palette PNG; index 0 (used in the top-left pixels) is transparent unless told otherwise."""
        palette = [(10, 20, 30), (200, 40, 40), (40, 200, 40), (40, 40, 200)]
        indices = np.zeros((16, 16), np.uint8)
        indices[:, 4:] = 1
        indices[8:, 4:] = 2
        indices[8:, 12:] = 3
        image = Image.fromarray(indices, "P")
        image.putpalette([value for colour in palette for value in colour])
        options = {} if transparent_index is None else {"transparency": transparent_index}
        expected = np.array(palette, np.uint8)[indices]
        return self.write("palette.png", encode(image, "PNG", **options)), expected

    def cmyk_jpeg(self, *, with_icc: bool) -> tuple[Path, np.ndarray]:
        """Patches of white, cyan, magenta, yellow, black and 50 % grey ink; returns the CMYK values."""
        patches = np.array(
            [
                [0, 0, 0, 0],
                [255, 0, 0, 0],
                [0, 255, 0, 0],
                [0, 0, 255, 0],
                [0, 0, 0, 255],
                [128, 128, 128, 0],
            ],
            np.uint8,
        )
        cmyk = np.repeat(np.repeat(patches[None], 16, axis=0), 16, axis=1)  # 16×96, 16 px per patch
        image = Image.fromarray(cmyk, "CMYK")
        options: dict[str, object] = {"quality": 95}
        if with_icc:
            options["icc_profile"] = cmyk_icc_bytes()
        name = "cmyk_icc.jpg" if with_icc else "cmyk.jpg"
        return self.write(name, encode(image, "JPEG", **options)), cmyk

    def oriented_png(self, orientation: int) -> Path:
        """Lossless quadrant pattern (40×30 as stored) with an EXIF orientation in an eXIf chunk."""
        image = Image.fromarray(quadrant_rgb())
        return self.write(
            f"orientation_{orientation}.png", encode(image, "PNG", exif=exif_block(orientation=orientation))
        )

    def oriented_jpeg(self, orientation: int) -> Path:
        """Quadrant pattern JPEG (40×30 as stored) with an EXIF orientation."""
        image = Image.fromarray(quadrant_rgb())
        data = encode(image, "JPEG", quality=95, exif=exif_block(orientation=orientation))
        return self.write(f"orientation_{orientation}.jpg", data)

    def real_photo_with_orientation(self, orientation: int) -> Path:
        """The real photo's exact JPEG stream with an EXIF orientation spliced in (no re-encoding)."""
        data = jpeg_with_exif(self.real_photo.read_bytes(), exif_block(orientation=orientation))
        return self.write(f"photo_orientation_{orientation}.jpg", data)

    def with_icc_and_dpi(self, fmt: str, dpi: tuple[int, int] = (300, 150)) -> Path:
        """A small RGB image with the sRGB ICC profile, a DPI (not for WebP) and EXIF."""
        image = Image.fromarray(random_rgb(24, 16, seed=4))
        options: dict[str, object] = {"icc_profile": srgb_icc_bytes(), "exif": exif_block()}
        if fmt != "WEBP":
            options["dpi"] = dpi
        if fmt == "JPEG":
            options["quality"] = 95
        suffix = {"JPEG": "jpg", "PNG": "png", "TIFF": "tif", "WEBP": "webp"}[fmt]
        return self.write(f"icc_dpi.{suffix}", encode(image, fmt, **options))

    def tiff_with_exif(self, orientation: int = 6) -> Path:
        image = Image.fromarray(quadrant_rgb())
        return self.write("exif.tif", encode(image, "TIFF", exif=exif_block(orientation=orientation)))

    def animated(self, fmt: str, frames: int = 3) -> Path:
        """Animated GIF or WebP: frame 0 red, then green, blue, … (32×24)."""
        colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
        images = [Image.new("RGB", (32, 24), colours[i % len(colours)]) for i in range(frames)]
        options: dict[str, object] = {
            "save_all": True,
            "append_images": images[1:],
            "duration": 100,
            "loop": 0,
        }
        if fmt == "WEBP":
            options["lossless"] = True
        suffix = {"GIF": "gif", "WEBP": "webp", "PNG": "png"}[fmt]
        return self.write(f"animated.{suffix}", encode(images[0], fmt, **options))

    def mpo(self) -> tuple[Path, np.ndarray]:
        """A multi-picture JPEG (as cameras write: the photo plus a second picture); returns picture 1."""
        first = quadrant_rgb()
        second = Image.new("RGB", (40, 30), (128, 128, 128))
        data = encode(Image.fromarray(first), "MPO", save_all=True, append_images=[second], quality=95)
        return self.write("camera.jpg", data), first

    def multipage_tiff(self, pages: int = 2) -> Path:
        """A multi-page TIFF: page 0 black, the others white."""
        images = [np.full((24, 32, 3), 0 if page == 0 else 255, np.uint8) for page in range(pages)]
        ok, buffer = cv2.imencodemulti(".tiff", images)
        assert ok
        return self.write("pages.tif", buffer.tobytes())

    def unicode_named_photo(self, name: str = "Ünïcødé photo 写真.jpg") -> Path:
        """A copy of the real photo under a name with accents, CJK characters and spaces."""
        path = self.folder / name
        shutil.copyfile(self.real_photo, path)
        return path


def _cv2_encode_any(pixels: np.ndarray, suffix: str) -> bytes:
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        ok, buffer = cv2.imencode(suffix, cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA))
        assert ok
        return buffer.tobytes()
    return cv2_encode(pixels, suffix)



# ---------------------------------------------------------------------------------------------
# 4. Bad-file factories: files the loader must refuse with a one-line ImageLoadError
# ---------------------------------------------------------------------------------------------
class BadImages(_FileFactory):
    """Writes damaged or hostile files into a folder; each method returns the new file's path."""

    #: Methods that need no argument, in the order ``all()`` writes them.
    KINDS: Sequence[str] = (
        "zero_byte",
        "truncated_jpeg",
        "truncated_png",
        "png_bad_crc",
        "png_bad_header_crc",
        "text_named_jpg",
        "random_bytes_png",
        "png_signature_only",
        "huge_header_png",
        "huge_header_jpeg",
        "truncated_gif",
        "unicode_named_truncated_jpeg",
    )

    def all(self) -> dict[str, Path]:
        return {kind: getattr(self, kind)() for kind in self.KINDS}

    def zero_byte(self) -> Path:
        return self.write("empty.jpg", b"")

    def truncated_jpeg(self, keep: float = 0.6, name: str = "truncated.jpg") -> Path:
        """The real photo cut off part-way through its entropy-coded data."""
        data = self.real_photo.read_bytes()
        return self.write(name, data[: int(len(data) * keep)])

    def truncated_png(self) -> Path:
        data = encode(Image.fromarray(random_rgb(64, 48, seed=5)), "PNG")
        return self.write("truncated.png", data[: len(data) // 2])

    def png_bad_crc(self) -> Path:
        """A valid PNG whose IDAT (pixel data) checksum is wrong: Pillow alone does not check it."""
        data = bytearray(encode(Image.fromarray(random_rgb(16, 12, seed=6)), "PNG"))
        idat = data.index(b"IDAT")
        (length,) = struct.unpack(">I", data[idat - 4 : idat])
        data[idat + 4 + length] ^= 0xFF  # first byte of the stored CRC
        return self.write("bad_crc.png", bytes(data))

    def png_bad_header_crc(self) -> Path:
        data = bytearray(encode(Image.fromarray(random_rgb(16, 12, seed=7)), "PNG"))
        data[8 + 8 + 13] ^= 0x01  # IHDR's CRC follows its 13-byte payload
        return self.write("bad_header_crc.png", bytes(data))

    def text_named_jpg(self) -> Path:
        return self.write("notes.jpg", b"Shopping list:\n- milk\n- a better product photo\n")

    def random_bytes_png(self) -> Path:
        return self.write(
            "noise.png", np.random.default_rng(8).integers(0, 256, 4096, dtype=np.uint8).tobytes()
        )

    def png_signature_only(self) -> Path:
        return self.write("signature_only.png", b"\x89PNG\r\n\x1a\n")

    def huge_header_png(self, width: int = 100_000, height: int = 100_000) -> Path:
        """A tiny, well-formed PNG whose IHDR claims width×height (8-bit RGB) with valid CRCs."""
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        idat = zlib.compress(b"\x00" * 64)  # far too little data, as a bomb would be
        data = (
            b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b"")
        )
        return self.write("huge_header.png", data)

    def huge_header_jpeg(self, width: int = 65_500, height: int = 65_500) -> Path:
        """A small JPEG whose SOF claims width×height (JPEG's maximum is 65535 a side)."""
        data = bytearray(encode(Image.fromarray(random_rgb(16, 16, seed=9)), "JPEG"))
        sof = jpeg_segment_offset(bytes(data), 0xC0)  # SOF0: length(2) precision(1) height(2) width(2)
        struct.pack_into(">HH", data, sof + 5, height, width)
        return self.write("huge_header.jpg", bytes(data))

    def truncated_gif(self) -> Path:
        """A GIF cut off in the middle of its (only) frame's pixel data."""
        data = encode(Image.fromarray(random_rgb(32, 24, seed=10)), "GIF")
        return self.write("truncated.gif", data[: len(data) // 2])

    def unicode_named_truncated_jpeg(self) -> Path:
        return self.truncated_jpeg(name="Ünïcødé broken 写真.jpg")
