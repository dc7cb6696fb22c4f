"""The one image loader: every photo enters Cutout Studio through :func:`load_image`.

Pillow reads the file and its metadata; pixels come out upright (EXIF orientation applied) as
8-bit RGB, plus a 16-bit copy when the source has 16 bits per channel (Pillow truncates 16-bit
colour to 8 bits, so those pixels are decoded by OpenCV from the same bytes). The ICC profile,
the EXIF block (orientation reset to 1) and the DPI travel with the pixels so that export can
write them back.

Memory: a 100-megapixel photo costs Pillow's decoded image (4 bytes a pixel) plus the 3-byte
result array, never a float copy: pixels are converted to RGB a strip at a time.

Anything wrong with the bytes becomes an :class:`ImageLoadError` whose message is one line naming
the file. Pillow's and OpenCV's decoders raise a zoo of exception types on malformed input
(``struct.error``, ``IndexError``, ``TypeError``, …), so those are translated, but only around
the calls that parse untrusted bytes (:func:`_decoder_errors`), so a bug in this module still
surfaces as itself.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

import cv2
import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from cutout_studio.core.errors import ImageLoadError

# The loader enforces its own, configurable limit before any pixel is decoded (see
# _check_size), so Pillow's fixed bomb guard (179 MP) would only refuse photos that we accept.
Image.MAX_IMAGE_PIXELS = None

_FALLBACK_MAX_PIXELS = 250_000_000


def _max_pixels_from_env() -> int:
    value = os.environ.get("CUTOUT_STUDIO_MAX_PIXELS", "")
    if not value:
        return _FALLBACK_MAX_PIXELS
    try:
        limit = int(float(value))  # accept "300000000" and "3e8"
    except ValueError:
        limit = 0
    if limit <= 0:
        # A typo in an environment variable must not stop the application from starting.
        warnings.warn(
            f"CUTOUT_STUDIO_MAX_PIXELS={value!r} is not a positive number; using {_FALLBACK_MAX_PIXELS}",
            stacklevel=2,
        )
        return _FALLBACK_MAX_PIXELS
    return limit


#: Refuse images with more pixels than this unless the caller raises the limit (250 MP holds
#: every camera on sale; a forged header claiming 10 gigapixels is refused before decoding).
DEFAULT_MAX_PIXELS = _max_pixels_from_env()

#: File name suffixes the loader is meant for (folders are scanned for these).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"})

# Only these Pillow plugins may claim a file. Pillow knows ~40 formats, some without a magic
# number (TGA), so random bytes could otherwise "decode" as garbage; EPS would run Ghostscript.
_PILLOW_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")
_FORMAT_NAMES = "JPEG, PNG, WebP, TIFF, BMP, GIF"

# What Pillow, its C decoders, LittleCMS and OpenCV raise on malformed input.
_DECODER_EXCEPTIONS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    TypeError,
    IndexError,
    KeyError,
    ZeroDivisionError,
    RuntimeError,
    ImageCms.PyCMSError,
    cv2.error,
)

_EXIF_ORIENTATION = 0x0112
# In a TIFF the "EXIF" Pillow returns is the file's own first IFD (strip offsets, bit depth…);
# only these descriptive tags and the real EXIF/GPS sub-IFDs are worth writing into an export.
_TIFF_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x013C, 0x8298)
_EXIF_SUB_IFDS = (0x8769, 0x8825)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pixels converted per strip: small enough that the strip copies stay in the CPU cache (4 MB
# strips made a 100 MP load 3× slower) and bound the temporaries whatever the photo size.
_STRIP_PIXELS = 262_144


@dataclass
class LoadedImage:
    """An upright photo with the metadata that export writes back."""

    rgb: np.ndarray  #: H×W×3 uint8, upright, C-contiguous and writeable
    rgb16: np.ndarray | None = None  #: H×W×3 uint16 when the source has 16 bits per channel
    icc_profile: bytes | None = None  #: describes ``rgb`` (sRGB after a CMYK/grey conversion)
    exif: bytes | None = None  #: EXIF with orientation reset to 1, or None
    dpi: tuple[float, float] | None = None
    format: str = ""  #: Pillow's name of the source format: "JPEG" (also for MPO), "PNG", …
    path: Path | None = None
    notes: list[str] = field(default_factory=list)  #: things the user should know ("first frame of 12")

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def name(self) -> str:
        return self.path.name if self.path else "<image>"

    @property
    def is_16bit(self) -> bool:
        return self.rgb16 is not None


def load_image(
    source: str | os.PathLike[str] | bytes | BinaryIO,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Read a photo from a path, bytes or a binary file object.

    Raises :class:`ImageLoadError` with a one-line reason naming the file for anything that
    is not a readable image: empty, truncated, corrupt, too large, or of an unknown format.
    The source file is only ever opened for reading.
    """
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    path, data = _read_source(source)
    label = _label(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's EXIF/ICC/palette chatter is not the user's problem
            return _decode(data, path, label, max_pixels)
    except MemoryError as exc:
        raise ImageLoadError(f"{label}: not enough memory to decode this image") from exc


@contextmanager
def _decoder_errors(label: str) -> Iterator[None]:
    """Turn what a decoder raises on bad bytes into a one-line :class:`ImageLoadError`."""
    try:
        yield
    except ImageLoadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageLoadError(
            f"{label}: not an image file, or a format Cutout Studio cannot read (it reads {_FORMAT_NAMES})"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{label}: refused as a decompression bomb ({_short(exc)})") from exc
    except _DECODER_EXCEPTIONS as exc:
        raise ImageLoadError(f"{label}: damaged, truncated or unsupported image ({_short(exc)})") from exc


def _read_source(source: str | os.PathLike[str] | bytes | BinaryIO) -> tuple[Path | None, bytes]:
    path: Path | None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, path = bytes(source), None
    elif hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("load_image needs a file object opened in binary mode ('rb')")
        name = getattr(source, "name", None)
        path = Path(name) if isinstance(name, str) and name else None
        data = bytes(data)
    else:
        path = Path(source)
        label = _label(path)
        # Only regular files: reading a FIFO or /dev/zero would block or never end.
        if path.is_dir():
            raise ImageLoadError(f"{label}: is a folder, not an image")
        if path.exists() and not path.is_file():
            raise ImageLoadError(f"{label}: not a regular file")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageLoadError(f"{label}: file not found") from None
        except PermissionError:
            raise ImageLoadError(f"{label}: permission denied") from None
        except OSError as exc:
            raise ImageLoadError(f"{label}: cannot be read ({_short(exc)})") from None
    if not data:
        raise ImageLoadError(f"{_label(path)}: empty file (0 bytes)")
    return path, data


def _decode(data: bytes, path: Path | None, label: str, max_pixels: int) -> LoadedImage:
    png_exif = _check_png_chunks(data, label) if data.startswith(_PNG_SIGNATURE) else None
    notes: list[str] = []
    with _decoder_errors(label):
        im = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS)
    try:
        _check_size(im, label, max_pixels)
        with _decoder_errors(label):
            _use_first_frame(im, notes)
        icc: bytes | None = im.info.get("icc_profile") or None
        dpi = _dpi(im)

        with _decoder_errors(label):  # TIFF tags are parsed lazily and may be malformed
            is_16bit = _is_16bit_colour(data, im)
        rgb16 = _decode_16bit(data, im, label, notes) if is_16bit else None
        if rgb16 is not None:
            rgb = np.empty(rgb16.shape, np.uint8)
            np.right_shift(rgb16, 8, out=rgb, casting="unsafe")  # no full-size uint16 temporary
            if icc and _icc_colour_space(icc) != b"RGB ":
                notes.append(_mismatched_profile_note(icc))
                icc = None
            if im.format == "PNG" and "exif" not in im.info and png_exif is not None:
                im.info["exif"] = png_exif  # eXIf after the pixels: spare Pillow a full decode
        else:
            with _decoder_errors(label):
                im.load()
            rgb, icc = _to_rgb8(im, icc, label, notes)
            _note_transparency(im, notes)
        exif, orientation = _exif_and_orientation(im, notes)
        fmt = "JPEG" if im.format == "MPO" else (im.format or "")
    finally:
        im.close()  # frees the decoded image now (leaving a `with` block would not), before rotating

    return LoadedImage(
        rgb=_upright(rgb, orientation),
        rgb16=None if rgb16 is None else _upright(rgb16, orientation),
        icc_profile=icc,
        exif=exif,
        dpi=dpi,
        format=fmt,
        path=path,
        notes=notes,
    )


def _check_png_chunks(data: bytes, label: str) -> bytes | None:
    """Verify every chunk's CRC and return the eXIf payload, if any.

    Pillow checks the CRC of every chunk except the pixel data (IDAT), so a flipped bit in the
    pixels would otherwise load silently as wrong colours. A chunk cut short by truncation is
    left for the decoder to report.
    """
    view = memoryview(data)
    exif: bytes | None = None
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, chunk_type = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            break
        if not chunk_type.isalpha():
            raise ImageLoadError(f"{label}: damaged PNG (broken chunk structure at byte {pos})")
        (stored_crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(view[pos + 4 : end - 4]) != stored_crc:
            raise ImageLoadError(f"{label}: damaged PNG (checksum error in the {chunk_type.decode()} chunk)")
        if chunk_type == b"eXIf":
            exif = b"Exif\x00\x00" + bytes(view[pos + 8 : end - 4])  # as Pillow stores it in info
        if chunk_type == b"IEND":
            break
        pos = end
    return exif


def _check_size(im: Image.Image, label: str, max_pixels: int) -> None:
    width, height = im.size
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"{label}: image has no pixels ({width}×{height})")
    if width * height > max_pixels:
        raise ImageLoadError(
            f"{label}: {width}×{height} = {_megapixels(width * height)} megapixels exceeds the limit of "
            f"{_megapixels(max_pixels)} MP (a decompression bomb or a corrupt header; raise max_pixels to allow it)"
        )


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:,.1f}".removesuffix(".0")


def _use_first_frame(im: Image.Image, notes: list[str]) -> None:
    frames = int(getattr(im, "n_frames", 1))  # counting walks GIF frames: may raise on damage
    if frames <= 1:
        return
    if im.tell() != 0:
        im.seek(0)
    if im.format == "MPO":
        return  # a camera JPEG with a preview picture appended: the first one is the photo
    if im.format == "TIFF":
        notes.append(f"multi-page TIFF: used the first of {frames} pages")
    else:
        notes.append(f"animated {im.format}: used the first of {frames} frames")


def _dpi(im: Image.Image) -> tuple[float, float] | None:
    dpi = im.info.get("dpi")
    if not dpi:
        return None
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return None  # a malformed resolution tag is not worth refusing the photo for
    return (x, y) if x > 0 and y > 0 and np.isfinite(x) and np.isfinite(y) else None


def _exif_and_orientation(im: Image.Image, notes: list[str]) -> tuple[bytes | None, int]:
    """The EXIF block to write back (orientation reset to 1) and the orientation to apply."""
    try:
        exif = im.getexif()
        orientation = exif.get(_EXIF_ORIENTATION, 1)
        orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
        if im.format == "TIFF":
            exif = _descriptive_tiff_exif(exif)
        if not len(exif):
            return None, orientation
        exif[_EXIF_ORIENTATION] = 1
        return exif.tobytes(), orientation
    except _DECODER_EXCEPTIONS as exc:
        # The pixels are fine; only the metadata is unreadable, so keep the photo and say so.
        notes.append(f"EXIF metadata is damaged and was dropped ({_short(exc)})")
        return None, 1


def _descriptive_tiff_exif(tiff_tags: Image.Exif) -> Image.Exif:
    exif = Image.Exif()
    for tag in _TIFF_DESCRIPTIVE_TAGS:
        if tag in tiff_tags:
            exif[tag] = tiff_tags[tag]
    for tag in _EXIF_SUB_IFDS:
        if tag in tiff_tags and (sub_ifd := tiff_tags.get_ifd(tag)):
            exif[tag] = dict(sub_ifd)
    return exif


def _is_16bit_colour(data: bytes, im: Image.Image) -> bool:
    """True when the file stores 16 bits per channel of grey or RGB (what OpenCV can decode)."""
    if im.format == "PNG":
        # IHDR bit depth sits right after the signature, chunk header, width and height;
        # palette PNGs (colour type 3) cannot be 16-bit.
        return len(data) > 25 and data[24] == 16 and data[25] != 3
    if im.format == "TIFF":
        tags = getattr(im, "tag_v2", {})
        bits = _tag_values(tags.get(258))
        sample_formats = _tag_values(tags.get(339, 1))  # 1: unsigned integers
        photometric = tags.get(262)  # 1: grey, black is zero; 2: RGB
        return bool(bits) and set(bits) == {16} and set(sample_formats) == {1} and photometric in (1, 2)
    return False


def _tag_values(value: object) -> tuple[object, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _decode_16bit(data: bytes, im: Image.Image, label: str, notes: list[str]) -> np.ndarray | None:
    """16-bit colour pixels, which Pillow would truncate; None when OpenCV cannot decode them."""
    with _decoder_errors(label):
        arr = cv2.imdecode(
            np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
        )
    if arr is None or arr.dtype != np.uint16 or arr.shape[:2] != (im.height, im.width):
        notes.append("16-bit pixels could not be decoded in full precision: read as 8-bit")
        return None
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] in (2, 4):  # grey or colour with alpha
        if arr[:, :, -1].min() < np.iinfo(np.uint16).max:
            notes.append(_TRANSPARENCY_NOTE)
        if arr.shape[2] == 2:
            return np.repeat(arr[:, :, :1], 3, axis=2)
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB, dst=arr)  # in place: no second 16-bit copy


_TRANSPARENCY_NOTE = "the image has transparent areas: its alpha channel is not used"


def _band_extrema(band: Image.Image) -> tuple[float, float]:
    """(min, max) of a one-band image: Pillow types ``getextrema`` for many bands too."""
    low, high = cast("tuple[float, float]", band.getextrema())
    return float(low), float(high)


def _note_transparency(im: Image.Image, notes: list[str]) -> None:
    if "A" in im.getbands():
        low, _high = _band_extrema(im.getchannel("A"))
        if low < 255:
            notes.append(_TRANSPARENCY_NOTE)
    elif im.mode == "P" and "transparency" in im.info:
        transparency = im.info["transparency"]
        counts = im.histogram()
        if isinstance(transparency, int):
            used = 0 <= transparency < len(counts) and counts[transparency] > 0
        else:
            used = any(counts[i] and a < 255 for i, a in enumerate(transparency[: len(counts)]))
        if used:
            notes.append(_TRANSPARENCY_NOTE)


def _to_rgb8(
    im: Image.Image, icc: bytes | None, label: str, notes: list[str]
) -> tuple[np.ndarray, bytes | None]:
    """The decoded image as H×W×3 uint8, converted a strip at a time, and the ICC that fits it."""
    convert, icc = _strip_converter(im, icc, notes)
    width, height = im.size
    out = np.empty((height, width, 3), np.uint8)
    rows = max(1, _STRIP_PIXELS // width)
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        with _decoder_errors(label):
            out[top:bottom] = convert(im.crop((0, top, width, bottom)))
    return out, icc


def _strip_converter(
    im: Image.Image, icc: bytes | None, notes: list[str]
) -> tuple[Callable[[Image.Image], np.ndarray], bytes | None]:
    """How to turn a strip of ``im`` into RGB uint8, and the ICC profile that describes the result."""
    mode = im.mode
    convert: Callable[[Image.Image], np.ndarray]
    if mode.startswith("I;16"):
        # Pillow's own I;16 → RGB conversion clips at 255 instead of scaling.
        convert = lambda strip: _grey_to_rgb(np.asarray(strip) >> 8)  # noqa: E731
    elif mode in ("I", "F"):
        scale = 255.0 / _full_scale(_band_extrema(im)[1])
        convert = lambda strip: _grey_to_rgb(np.clip(np.asarray(strip) * scale + 0.5, 0, 255))  # noqa: E731
    elif mode == "RGB":
        convert = np.asarray  # already RGB: converting would only add a copy
    else:
        convert = lambda strip: np.asarray(strip.convert("RGB"))  # noqa: E731
    if not icc or _icc_colour_space(icc) == b"RGB ":
        return convert, icc

    # Grey and CMYK pixels become RGB here: convert through their own profile to sRGB so the
    # colours stay right and the profile written back (sRGB) describes the new pixels.
    in_mode = {"CMYK": "CMYK", "L": "L", "LA": "L"}.get(mode)
    if in_mode and _icc_colour_space(icc) == (b"CMYK" if in_mode == "CMYK" else b"GRAY"):
        try:
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            transform = ImageCms.buildTransform(
                ImageCms.ImageCmsProfile(io.BytesIO(icc)), srgb, in_mode, "RGB"
            )
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            notes.append("the embedded colour profile is unusable: colours converted without it")
            return convert, None
        return (
            lambda strip: np.asarray(ImageCms.applyTransform(strip.convert(in_mode), transform))
        ), srgb.tobytes()
    notes.append(_mismatched_profile_note(icc))
    return convert, None


def _mismatched_profile_note(icc: bytes) -> str:
    space = _icc_colour_space(icc).decode("latin-1").strip()
    space = space if space.isalnum() else "unknown"  # the header may be garbage
    return f"ignored the embedded {space} colour profile: it does not describe the RGB pixels"


def _icc_colour_space(icc: bytes) -> bytes:
    return icc[16:20] if len(icc) >= 20 else b""


def _full_scale(high: float) -> float:
    """The value that means white in a 32-bit int or float grey image (files do not say)."""
    if high <= 1.0:
        return 1.0
    if high <= 255.0:
        return 255.0
    if high <= 65535.0:
        return 65535.0
    return high


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey.astype(np.uint8)[:, :, None], 3, axis=2)


def _upright(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1–8) so the pixels are upright; returns an owned, contiguous array.

    OpenCV's rotations are several times faster than copying a rotated NumPy view of a large photo.
    """
    if orientation == 2:
        return cv2.flip(arr, 1)
    if orientation == 3:
        return cv2.rotate(arr, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(arr, 0)
    if orientation == 5:
        return cv2.transpose(arr)
    if orientation == 6:
        return cv2.rotate(arr, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(arr), -1)
    if orientation == 8:
        return cv2.rotate(arr, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return np.ascontiguousarray(arr)


def _label(path: Path | None) -> str:
    """The file's name for messages, on one line whatever characters the name holds."""
    if path is None:
        return "image"
    name = path.name or str(path)
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in name)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # one line, even for multi-line decoder messages
    return (text or type(exc).__name__)[:160]


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True for a file name with one of the :data:`IMAGE_SUFFIXES` (the content is not checked)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
