"""Encoders: the bytes of a PNG, WebP, JPEG, TIFF, PSD or AVIF file from a :class:`RenderedCutout`.

Each encoder writes to a binary stream and is registered in :mod:`.formats`, which is what the
writer, the command line and the export dialog read; adding a format is one table entry plus
its encoder here (the way Pillow registers a plugin per format).
"""

from __future__ import annotations

import io
import logging
import struct
import zlib
from typing import TYPE_CHECKING, BinaryIO

import cv2
import numpy as np
from PIL import Image

from cutout_studio.core.errors import ExportError
from cutout_studio.core.export.psd import PsdLayer, icc_resource, resolution_resource, write_psd
from cutout_studio.core.export.tiff import write_tiff

if TYPE_CHECKING:
    from cutout_studio.core.export.render import RenderedCutout

__all__ = [
    "DEFAULT_AVIF_QUALITY", "DEFAULT_JPEG_QUALITY", "encode_avif", "encode_jpeg", "encode_png", "encode_psd",
    "encode_tiff", "encode_webp",
]

_log = logging.getLogger(__name__)

DEFAULT_JPEG_QUALITY = 92
#: AVIF: at 85 a 0.5 MP cutout was a quarter of the size of quality 100 with alpha within 5/255
DEFAULT_AVIF_QUALITY = 85
# libavif's speed 8 encoded 3-4x faster than Pillow's default 6 for files 5 % larger
_AVIF_SPEED = 8
_JPEG_APP13 = b"\xff\xed"
_PHOTOSHOP_3 = b"Photoshop 3.0\x00"
_JPEG_MAX_SEGMENT = 65533 - len(_PHOTOSHOP_3)  # the data one APPn segment holds after its signature
# PNG deflate: run-length matching after PNG's row filters. On cutouts of 1–24 MP photos it
# encoded 2× faster than zlib's default (level 6, what Pillow and rembg write) for files 6–22 %
# larger: encoding was the largest single cost of a batch after the model.
_PNG_COMPRESS_LEVEL = 6
_PNG_STRATEGY = zlib.Z_RLE
_JPEG_MAX_EXIF = 65533  # one APP1 segment
# EXIF tags that carry the resolution: WebP has no density field of its own, so the DPI
# travels in the EXIF chunk, where image viewers and editors read it.
_X_RESOLUTION, _Y_RESOLUTION, _RESOLUTION_UNIT, _INCH = 0x011A, 0x011B, 0x0128, 2


def _metadata(rendered: RenderedCutout) -> dict[str, object]:
    params: dict[str, object] = {}
    if rendered.icc_profile:
        params["icc_profile"] = rendered.icc_profile
    if rendered.exif:
        params["exif"] = rendered.exif
    return params


def encode_png(stream: BinaryIO, rendered: RenderedCutout, quality: int | None) -> None:
    """PNG (quality is not used): 8-bit through Pillow, 16-bit through OpenCV."""
    if rendered.bit_depth == 16:
        _write_png16(stream, rendered)
        return
    params = _metadata(rendered)
    if rendered.dpi:
        params["dpi"] = rendered.dpi
    picture = Image.fromarray(rendered.pixels)
    picture.save(stream, "PNG", compress_level=_PNG_COMPRESS_LEVEL, compress_type=_PNG_STRATEGY, **params)


def encode_webp(stream: BinaryIO, rendered: RenderedCutout, quality: int | None) -> None:
    """WebP: lossless for quality None or 100, else lossy; the DPI goes into the EXIF chunk."""
    params = _metadata(rendered)
    if rendered.dpi:
        params["exif"] = _exif_with_dpi(rendered.exif, rendered.dpi)
    picture = Image.fromarray(rendered.pixels)
    if quality in (None, 100):
        # exact: keep the colours we chose under transparent pixels. Effort 10 with method 1
        # encoded cutouts of 1.4 MP photos 2× faster than effort 30 with method 3 (itself half
        # the time of Pillow's default 80/4) for files 4 % larger.
        picture.save(stream, "WEBP", lossless=True, quality=10, method=1, exact=True, **params)
    else:
        # method 3: the same size as the default method 4 in three quarters of the time
        picture.save(stream, "WEBP", quality=quality, method=3, alpha_quality=100, **params)


def encode_jpeg(stream: BinaryIO, rendered: RenderedCutout, quality: int | None) -> None:
    """JPEG (RGB only: the options refuse a transparent JPEG); EXIF over 64 KB is dropped with a note."""
    params = _metadata(rendered)
    if rendered.dpi:
        params["dpi"] = tuple(round(v) for v in rendered.dpi)
    if rendered.exif and len(rendered.exif) > _JPEG_MAX_EXIF:
        params.pop("exif")
        note = "EXIF too large for JPEG (over 64 KB): not written"
        rendered.notes.append(note)
        _log.warning(note)
    picture = Image.fromarray(rendered.pixels)
    if rendered.clip_path is None:
        picture.save(stream, "JPEG", quality=quality or DEFAULT_JPEG_QUALITY, **params)
        return
    encoded = io.BytesIO()
    picture.save(encoded, "JPEG", quality=quality or DEFAULT_JPEG_QUALITY, **params)
    stream.write(_with_app13(encoded.getvalue(), rendered.clip_path.photoshop_resources()))


def encode_tiff(stream: BinaryIO, rendered: RenderedCutout, quality: int | None) -> None:
    """TIFF (quality is not used): 8 or 16 bits, Deflate; ICC, DPI and a clipping path kept
    (EXIF is not written: it would need an IFD of its own)."""
    resources = rendered.clip_path.photoshop_resources() if rendered.clip_path else None
    write_tiff(stream, rendered.pixels, icc_profile=rendered.icc_profile, dpi=rendered.dpi, photoshop=resources)


def encode_psd(stream: BinaryIO, rendered: RenderedCutout, quality: int | None) -> None:
    """PSD (quality is not used): the render's layers (the cutout masked over the hidden photo),
    resolution, ICC profile and clipping path; the composite is what other formats write."""
    resources = resolution_resource(rendered.dpi) if rendered.dpi else b""
    if rendered.icc_profile:
        resources += icc_resource(rendered.icc_profile)
    if rendered.clip_path:
        resources += rendered.clip_path.photoshop_resources()
    pixels = rendered.pixels
    layers = rendered.layers or [PsdLayer("Cutout", pixels if pixels.shape[2] == 4 else np.dstack(
        [pixels, np.full(pixels.shape[:2], 255, np.uint8)]))]
    write_psd(stream, layers, pixels, resources)


def encode_avif(stream: BinaryIO, rendered: RenderedCutout, quality: int | None) -> None:
    """AVIF with alpha (where Pillow has libavif): quality 1–100, unset DEFAULT_AVIF_QUALITY; the
    DPI goes into the EXIF, as for WebP (neither has a density field)."""
    params = _metadata(rendered)
    if rendered.dpi:
        params["exif"] = _exif_with_dpi(rendered.exif, rendered.dpi)
    picture = Image.fromarray(rendered.pixels)
    picture.save(stream, "AVIF", quality=quality or DEFAULT_AVIF_QUALITY, speed=_AVIF_SPEED, **params)


def _with_app13(jpeg: bytes, resources: bytes) -> bytes:
    """``jpeg`` with Photoshop image resources in APP13 segments after its other APPn segments
    (JFIF, EXIF, ICC); resources over one segment's 64 KB continue in the next, as Photoshop does."""
    at = 2  # after SOI
    while jpeg[at] == 0xFF and 0xE0 <= jpeg[at + 1] <= 0xEF:
        at += 2 + struct.unpack(">H", jpeg[at + 2 : at + 4])[0]
    segments = b""
    for start in range(0, len(resources), _JPEG_MAX_SEGMENT):
        data = _PHOTOSHOP_3 + resources[start : start + _JPEG_MAX_SEGMENT]
        segments += _JPEG_APP13 + struct.pack(">H", len(data) + 2) + data
    return jpeg[:at] + segments + jpeg[at:]


def _exif_with_dpi(exif: bytes | None, dpi: tuple[float, float]) -> bytes:
    """The photo's EXIF (or a new one) with XResolution/YResolution in pixels per inch."""
    data = Image.Exif()
    if exif:
        data.load(exif)
    data[_X_RESOLUTION], data[_Y_RESOLUTION] = float(dpi[0]), float(dpi[1])
    data[_RESOLUTION_UNIT] = _INCH
    return data.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _png_metadata_chunks(rendered: RenderedCutout) -> bytes:
    """iCCP, eXIf and pHYs chunks: what Pillow would write, for PNGs that OpenCV encodes."""
    chunks = b""
    if rendered.icc_profile:
        chunks += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(rendered.icc_profile))
    if rendered.exif:
        exif = rendered.exif[6:] if rendered.exif.startswith(b"Exif\x00\x00") else rendered.exif
        chunks += _png_chunk(b"eXIf", exif)
    if rendered.dpi:
        per_metre = [max(1, round(v / 0.0254)) for v in rendered.dpi]
        chunks += _png_chunk(b"pHYs", struct.pack(">IIB", per_metre[0], per_metre[1], 1))
    return chunks


def _write_png16(stream: BinaryIO, rendered: RenderedCutout) -> None:
    """16-bit PNG through OpenCV (Pillow cannot write 16-bit RGBA), metadata chunks added
    right after IHDR: iCCP must precede the image data, and so should eXIf and pHYs."""
    code = cv2.COLOR_RGBA2BGRA if rendered.mode == "RGBA" else cv2.COLOR_RGB2BGR
    ok, encoded = cv2.imencode(
        ".png",
        cv2.cvtColor(rendered.pixels, code),
        [cv2.IMWRITE_PNG_COMPRESSION, _PNG_COMPRESS_LEVEL, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE],
    )
    data = encoded.data.cast("B")
    ihdr_end = 8 + 8 + 13 + 4  # signature, then IHDR: length, type, 13 bytes of data, CRC
    if not ok or bytes(data[12:16]) != b"IHDR":
        raise ExportError("the PNG encoder failed on this image")
    stream.write(data[:ihdr_end])
    stream.write(_png_metadata_chunks(rendered))
    stream.write(data[ihdr_end:])
