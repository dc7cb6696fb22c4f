"""The one image loader: every photo enters Cutout Studio through :func:`load_image`.

Pillow reads the file and its metadata; pixels come out upright (EXIF orientation applied) as
8-bit RGB, plus a 16-bit copy when the source has 16 bits per channel (Pillow truncates 16-bit
colour to 8 bits, so those pixels are decoded by OpenCV from the same bytes). The ICC profile,
the EXIF block (orientation reset to 1) and the DPI travel with the pixels so that export can
write them back.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from cutout_studio.core.errors import ImageLoadError

# The loader enforces its own, configurable limit before any pixel is decoded (see
# _check_size), so Pillow's fixed bomb guard would only refuse photos that we accept.
Image.MAX_IMAGE_PIXELS = None

#: Refuse images with more pixels than this unless the caller raises the limit (250 MP holds
#: every camera on sale; a forged header claiming 10 gigapixels is refused before decoding).
DEFAULT_MAX_PIXELS = int(os.environ.get("CUTOUT_STUDIO_MAX_PIXELS", 250_000_000))

#: File name suffixes the loader is meant for (folders are scanned for these).
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
)

_EXIF_ORIENTATION = 0x0112


@dataclass
class LoadedImage:
    """An upright photo with the metadata that export writes back."""

    rgb: np.ndarray  #: H×W×3 uint8, upright
    rgb16: np.ndarray | None = None  #: H×W×3 uint16 when the source has 16 bits per channel
    icc_profile: bytes | None = None
    exif: bytes | None = None  #: EXIF with orientation reset to 1, or None
    dpi: tuple[float, float] | None = None
    format: str = ""  #: Pillow's name of the source format: "JPEG", "PNG", …
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
    path, data = _read_source(source)
    label = path.name if path else "image"
    try:
        return _decode(data, path, max_pixels)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"{label}: not an image file, or a format Cutout Studio cannot read") from None
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{label}: refused as a decompression bomb ({exc})") from None
    except MemoryError:
        raise ImageLoadError(f"{label}: not enough memory to decode this image") from None
    except (OSError, SyntaxError, ValueError, EOFError, cv2.error) as exc:
        raise ImageLoadError(f"{label}: damaged or truncated image ({_short(exc)})") from None


def _read_source(source: str | os.PathLike[str] | bytes | BinaryIO) -> tuple[Path | None, bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, path = bytes(source), None
    elif hasattr(source, "read"):
        data, path = source.read(), None  # type: ignore[union-attr]
    else:
        path = Path(source)
        if path.is_dir():
            raise ImageLoadError(f"{path.name}: is a folder, not an image")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageLoadError(f"{path.name}: file not found") from None
        except PermissionError:
            raise ImageLoadError(f"{path.name}: permission denied") from None
        except OSError as exc:
            raise ImageLoadError(f"{path.name}: cannot be read ({_short(exc)})") from None
    if not data:
        raise ImageLoadError(f"{path.name if path else 'image'}: empty file (0 bytes)")
    return path, data


def _decode(data: bytes, path: Path | None, max_pixels: int) -> LoadedImage:
    label = path.name if path else "image"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's EXIF/ICC chatter is not the user's problem
        im = Image.open(io.BytesIO(data))
        _check_size(im, label, max_pixels)
        notes: list[str] = []
        frames = getattr(im, "n_frames", 1)
        if frames > 1:
            notes.append(f"animated {im.format}: used the first of {frames} frames")
            im.seek(0)
        im.load()

        icc = im.info.get("icc_profile") or None
        exif = im.getexif()
        orientation = int(exif.get(_EXIF_ORIENTATION, 1) or 1)
        exif_bytes: bytes | None = None
        if len(exif):
            exif[_EXIF_ORIENTATION] = 1
            exif_bytes = exif.tobytes()
        dpi = _dpi(im)

        rgb16 = _decode_16bit(data, im, label)
        if im.mode == "CMYK":
            rgb, icc = _cmyk_to_rgb(im, icc)
        elif im.mode in ("RGB",):
            rgb = np.asarray(im)
        elif im.mode.startswith("I;16") or im.mode in ("I", "F"):
            rgb = _wide_grey_to_rgb8(im)
        else:
            rgb = np.asarray(im.convert("RGB"))
        fmt = im.format or ""
        im.close()

    rgb = _orient(rgb, orientation)
    if rgb16 is not None:
        rgb16 = _orient(rgb16, orientation)
    return LoadedImage(
        rgb=np.ascontiguousarray(rgb),
        rgb16=None if rgb16 is None else np.ascontiguousarray(rgb16),
        icc_profile=icc,
        exif=exif_bytes,
        dpi=dpi,
        format=fmt,
        path=path,
        notes=notes,
    )


def _check_size(im: Image.Image, label: str, max_pixels: int) -> None:
    width, height = im.size
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"{label}: image has no pixels ({width}×{height})")
    if width * height > max_pixels:
        raise ImageLoadError(
            f"{label}: {width}×{height} = {width * height / 1e6:.0f} megapixels exceeds the limit of "
            f"{max_pixels / 1e6:.0f} MP (a decompression bomb or a corrupt header; raise max_pixels to allow it)"
        )


def _dpi(im: Image.Image) -> tuple[float, float] | None:
    dpi = im.info.get("dpi")
    if not dpi:
        return None
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _source_bit_depth(data: bytes, im: Image.Image) -> int:
    if im.format == "PNG" and len(data) > 25:
        return data[24]  # IHDR bit depth, right after the 8-byte signature and the IHDR header
    if im.format == "TIFF":
        bits = getattr(im, "tag_v2", {}).get(258)
        if isinstance(bits, (tuple, list)) and bits:
            return int(bits[0])
        if isinstance(bits, int):
            return bits
    return 8


def _decode_16bit(data: bytes, im: Image.Image, label: str) -> np.ndarray | None:
    """16-bit colour pixels, which Pillow would truncate; None for 8-bit sources."""
    if _source_bit_depth(data, im) != 16 or im.mode in ("P", "1"):
        return None
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None or arr.dtype != np.uint16:
        return None
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def _wide_grey_to_rgb8(im: Image.Image) -> np.ndarray:
    grey = np.asarray(im).astype(np.float32)
    top = 65535.0 if im.mode.startswith("I;16") or grey.max() > 255 else 255.0
    grey8 = np.clip(grey * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(grey8[:, :, None], 3, axis=2)


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> tuple[np.ndarray, bytes | None]:
    """CMYK → RGB through the embedded profile when there is one (then the result is sRGB)."""
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            out = ImageCms.profileToProfile(im, src, srgb, outputMode="RGB")
            return np.asarray(out), ImageCms.ImageCmsProfile(srgb).tobytes()
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken profile: fall back to the naive conversion below
    return np.asarray(im.convert("RGB")), None


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1–8) so the pixels are upright."""
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1]
    if orientation == 5:
        return np.swapaxes(arr, 0, 1)
    if orientation == 6:
        return np.rot90(arr, -1)
    if orientation == 7:
        return np.swapaxes(arr[::-1, ::-1], 0, 1)
    if orientation == 8:
        return np.rot90(arr, 1)
    return arr


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES
