"""A small baseline TIFF writer: 8- or 16-bit RGB(A), Deflate-compressed, with the metadata
print and prepress workflows read (ICC profile, resolution, Photoshop image resources).

Pillow cannot write 16-bit RGB(A) and OpenCV writes no ICC profile nor custom tags, so the
file is written here: one IFD, chunky samples, strips of about a megabyte compressed with
zlib ("Adobe Deflate", compression 8) after TIFF's horizontal predictor (2), which makes photos
about a third smaller. Alpha is unassociated (ExtraSamples = 2), as the cutout's colours are
not premultiplied. Little-endian; classic TIFF, so at most 4 GB.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

import numpy as np

from cutout_studio.core.errors import ExportError

__all__ = ["write_tiff"]

_STRIP_BYTES = 1 << 20
_DEFLATE_LEVEL = 6
_SHORT, _LONG, _RATIONAL, _BYTE, _UNDEFINED = 3, 4, 5, 1, 7
_DEFLATE, _RGB, _HORIZONTAL, _INCH, _UNASSOCIATED_ALPHA = 8, 2, 2, 2, 2
_LIMIT = 2**32 - 1


def write_tiff(stream: BinaryIO, pixels: np.ndarray, *, icc_profile: bytes | None = None,
               dpi: tuple[float, float] | None = None, photoshop: bytes | None = None) -> None:
    """Write ``pixels`` (H×W×3 or H×W×4, uint8 or uint16) as a TIFF to ``stream``;
    ``photoshop``: image resource blocks (tag 34377), e.g. a clipping path."""
    height, width, samples = pixels.shape
    bits = 16 if pixels.dtype == np.uint16 else 8
    rows = max(1, _STRIP_BYTES // (width * samples * bits // 8))
    strips = [_compress(pixels[y : y + rows]) for y in range(0, height, rows)]
    offset = 8
    offsets = []
    for strip in strips:
        offsets.append(offset)
        offset += len(strip) + len(strip) % 2  # word-aligned, as TIFF 6.0 recommends
    tags: list[tuple[int, int, list[int] | bytes]] = [
        (256, _LONG, [width]), (257, _LONG, [height]), (258, _SHORT, [bits] * samples),
        (259, _SHORT, [_DEFLATE]), (262, _SHORT, [_RGB]), (273, _LONG, offsets), (277, _SHORT, [samples]),
        (278, _LONG, [rows]), (279, _LONG, [len(s) for s in strips]), (284, _SHORT, [1]),
        (317, _SHORT, [_HORIZONTAL]),
    ]
    if dpi:
        tags += [(282, _RATIONAL, _rational(dpi[0])), (283, _RATIONAL, _rational(dpi[1])),
                 (296, _SHORT, [_INCH])]
    if samples == 4:
        tags.append((338, _SHORT, [_UNASSOCIATED_ALPHA]))
    if photoshop:
        tags.append((34377, _BYTE, photoshop))
    if icc_profile:
        tags.append((34675, _UNDEFINED, icc_profile))
    ifd = _ifd(sorted(tags), offset)
    if offset + len(ifd) > _LIMIT:
        raise ExportError("the TIFF would be over 4 GB: export PNG")
    stream.write(b"II*\0" + struct.pack("<I", offset))
    for strip in strips:
        stream.write(strip + b"\0" * (len(strip) % 2))
    stream.write(ifd)


def _compress(rows: np.ndarray) -> bytes:
    """Horizontal differencing (per sample, wrapping around like the reader's sums), then zlib."""
    diff = rows.copy()
    diff[:, 1:] -= rows[:, :-1]
    return zlib.compress(diff.astype(diff.dtype.newbyteorder("<"), copy=False).tobytes(), _DEFLATE_LEVEL)


def _rational(value: float) -> list[int]:
    return [max(1, round(value * 100)), 100]


def _ifd(tags: list[tuple[int, int, list[int] | bytes]], at: int) -> bytes:
    """The IFD at offset ``at``, its values that do not fit in four bytes right after it."""
    entries, extra = b"", b""
    extra_at = at + 2 + 12 * len(tags) + 4
    for tag, kind, values in tags:
        if isinstance(values, bytes):
            data, count = values, len(values)
        else:
            code = {_SHORT: "H", _LONG: "I", _RATIONAL: "I"}[kind]
            data = struct.pack(f"<{len(values)}{code}", *values)
            count = len(values) // 2 if kind == _RATIONAL else len(values)
        if len(data) <= 4:
            entries += struct.pack("<HHI", tag, kind, count) + data.ljust(4, b"\0")
        else:
            entries += struct.pack("<HHII", tag, kind, count, extra_at + len(extra))
            extra += data + b"\0" * (len(data) % 2)
    return struct.pack("<H", len(tags)) + entries + b"\0\0\0\0" + extra
