"""A small Photoshop (PSD) writer: layers with a user mask, after Adobe's "Photoshop File
Formats Specification".

Only the sections a layered cutout needs are written: the file header (RGB, 8 bits per
channel), an empty colour mode data section, the image resources (resolution, ICC profile,
a clipping path), the layer and mask information (each layer with its own transparency, and
optionally a user mask that a retoucher paints in Photoshop) and the merged image, which
viewers without layer support show. Channel data is PackBits-compressed per row (RLE, what
Photoshop itself writes), vectorised over strips of rows: masks, transparency and the white
around a cutout shrink to almost nothing, photo colours stay about their size.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

import cv2
import numpy as np

from cutout_studio.core.errors import ExportError

__all__ = ["MAX_SIDE", "PsdLayer", "resolution_resource", "icc_resource", "write_psd"]

MAX_SIDE = 30000  #: PSD's own limit (larger images need the PSB variant)
_RLE = 1
_STRIP_PIXELS = 1 << 20  # PackBits works on strips of about a megapixel: bounded scratch memory
_RESOLUTION_INFO, _ICC_PROFILE = 1005, 1039
_HIDDEN = 0x02  # layer flags: bit 1 set = not visible
_TRANSPARENCY, _USER_MASK = -1, -2
_LIMIT = 2**32 - 1  # section lengths are 32-bit
#: blending ranges that blend everything (source and destination 0..255), for the composite
#: grey and each channel, as Photoshop writes them
_BLEND_ALL = b"\x00\x00\xff\xff" * 2 * 5


@dataclass(frozen=True)
class PsdLayer:
    """One layer covering the whole canvas, listed bottom first."""

    name: str
    rgba: np.ndarray  #: H×W×4 uint8: colour and the layer's own transparency
    visible: bool = True
    mask: np.ndarray | None = None  #: H×W uint8 user mask (255 shows the layer), or None


def write_psd(stream: BinaryIO, layers: list[PsdLayer], composite: np.ndarray, resources: bytes = b"") -> None:
    """Write a PSD of ``layers`` (bottom first) whose merged image is ``composite`` (H×W×3 or
    H×W×4 uint8, unpremultiplied; its alpha becomes the merged transparency); ``resources``: image resource
    blocks (see :func:`resolution_resource`, :func:`icc_resource`)."""
    height, width, channels = composite.shape
    if max(width, height) > MAX_SIDE:
        raise ExportError(f"PSD cannot hold {width}×{height} pixels (at most {MAX_SIDE} per side): export TIFF")
    stream.write(b"8BPS" + struct.pack(">H6xHIIHH", 1, channels, height, width, 8, 3))  # RGB, 8 bits
    stream.write(struct.pack(">I", 0))  # colour mode data: none for RGB
    stream.write(struct.pack(">I", len(resources)) + resources)
    _write_layer_info(stream, layers, width, height, transparent_merge=channels == 4)
    packed = [_packbits(_over_white(composite, c)) for c in range(channels)]
    stream.write(struct.pack(">H", _RLE) + b"".join(counts for counts, _ in packed))  # all row counts first
    for _, data in packed:
        stream.write(data)


def _over_white(composite: np.ndarray, c: int) -> np.ndarray:
    """Channel ``c`` of the merged image as Photoshop stores it: colours over white where the
    image is transparent (readers take the white back out), transparency as it is."""
    plane = composite[..., c]
    if composite.shape[2] < 4 or c == 3:
        return np.ascontiguousarray(plane)
    alpha = np.ascontiguousarray(composite[..., 3])
    # round(c·a/255) + (255 − a), which stays within 0..255; OpenCV rounds as it multiplies
    matted: np.ndarray = cv2.add(cv2.multiply(np.ascontiguousarray(plane), alpha, scale=1 / 255),
                                 cv2.bitwise_not(alpha))
    return matted


def _write_layer_info(stream: BinaryIO, layers: list[PsdLayer], width: int, height: int, *,
                      transparent_merge: bool) -> None:
    """The layer and mask information: the layer count (negative: the merged image's first
    extra channel is its transparency), the records, then each layer's channels in the records'
    order (streamed: no copy of the pixels is built), then an empty global layer mask."""
    channels = [[(ident, _packbits(plane)) for ident, plane in _planes(layer)] for layer in layers]
    records = b"".join(
        _record(layer, [(ident, 2 + len(counts) + len(data)) for ident, (counts, data) in own], width, height)
        for layer, own in zip(layers, channels))
    size = 2 + len(records) + sum(2 + len(counts) + len(data) for own in channels for _, (counts, data) in own)
    padding = size % 2  # the layer info's length is rounded up to even
    if size + padding + 8 > _LIMIT:
        raise ExportError(f"the PSD's layers would be over 4 GB ({width}×{height} pixels): export TIFF")
    stream.write(struct.pack(">II", 4 + size + padding + 4, size + padding))
    stream.write(struct.pack(">h", -len(layers) if transparent_merge else len(layers)) + records)
    for own in channels:
        for _, (counts, data) in own:
            stream.write(struct.pack(">H", _RLE) + counts + data)
    stream.write(b"\0" * padding + struct.pack(">I", 0))  # global layer mask info: none


def _planes(layer: PsdLayer) -> list[tuple[int, np.ndarray]]:
    """The layer's channels by their PSD ids, in Photoshop's own order: transparency, red,
    green, blue, user mask."""
    planes = [(_TRANSPARENCY, layer.rgba[..., 3])] + [(c, layer.rgba[..., c]) for c in range(3)]
    return planes + ([(_USER_MASK, layer.mask)] if layer.mask is not None else [])


def _packbits(plane: np.ndarray) -> tuple[bytes, bytes]:
    """Each row of an H×W uint8 plane PackBits-encoded: (the rows' byte counts, 16-bit big-endian;
    the packed rows)."""
    height, width = plane.shape
    rows = max(1, _STRIP_PIXELS // width)
    counts, data = [], []
    for y in range(0, height, rows):
        strip_counts, strip_data = _packbits_strip(np.ascontiguousarray(plane[y : y + rows]))
        counts.append(strip_counts)
        data.append(strip_data)
    return np.concatenate(counts).astype(">u2").tobytes(), b"".join(data)


def _packbits_strip(strip: np.ndarray) -> tuple[np.ndarray, bytes]:
    """PackBits of a strip's rows at once. A packet is a header byte n, then either n + 1 literal
    bytes (n 0..127) or one byte repeated 1 − n times (n −1..−127). Runs of three or more equal
    bytes become repeat packets; the bytes between them, within a row, literal packets; both
    are cut into packets of at most 128 bytes."""
    height, width = strip.shape
    flat = strip.ravel()
    begins = np.ones(flat.size, bool)  # a run begins where the byte changes, and at every row
    begins[1:] = flat[1:] != flat[:-1]
    begins[::width] = True
    starts = np.flatnonzero(begins)
    repeat = np.diff(np.r_[starts, flat.size]) >= 3
    # a packet sequence (a segment) begins at each repeat run, at each row, and after a repeat
    # run; short runs in between join the literal segment before them
    segment = repeat | (starts % width == 0) | np.r_[True, repeat[:-1]]
    seg_start = starts[segment]
    seg_len = np.diff(np.r_[seg_start, flat.size])
    seg_repeat = repeat[segment]
    pieces = (seg_len + 127) // 128
    owner = np.repeat(np.arange(len(seg_start)), pieces)
    index = np.arange(int(pieces.sum())) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    start = seg_start[owner] + 128 * index
    length = np.minimum(128, seg_len[owner] - 128 * index)
    runs = seg_repeat[owner] & (length >= 2)  # a repeat's last byte alone is a 1-byte literal
    header = np.where(runs, 1 - length, length - 1).astype(np.int8).view(np.uint8)
    payload = np.where(runs, 1, length)
    size = payload + 1
    at = np.cumsum(size) - size
    out = np.empty(int(size.sum()), np.uint8)
    out[at] = header
    packet = np.repeat(np.arange(len(payload)), payload)
    offset = np.arange(int(payload.sum())) - np.repeat(np.cumsum(payload) - payload, payload)
    out[at[packet] + 1 + offset] = flat[start[packet] + offset]
    row_bytes = np.bincount(start // width, weights=size, minlength=height).astype(np.int64)
    return row_bytes, out.tobytes()


def _record(layer: PsdLayer, channels: Iterable[tuple[int, int]], width: int, height: int) -> bytes:
    channels = list(channels)
    head = struct.pack(">iiiiH", 0, 0, height, width, len(channels))
    head += b"".join(struct.pack(">hI", ident, length) for ident, length in channels)
    flags = 0 if layer.visible else _HIDDEN
    head += b"8BIMnorm" + struct.pack(">BBBx", 255, 0, flags)  # opacity, clipping: base, flags, filler
    if layer.mask is not None:  # the mask's rectangle, default colour outside it (0: hidden), flags
        mask = struct.pack(">I", 20) + struct.pack(">iiiiBBxx", 0, 0, height, width, 0, 0)
    else:
        mask = struct.pack(">I", 0)
    blending = struct.pack(">I", len(_BLEND_ALL)) + _BLEND_ALL
    name = layer.name.encode("latin-1", "replace")[:255]
    pascal = bytes([len(name)]) + name
    pascal += b"\0" * (-len(pascal) % 4)  # padded to a multiple of 4 bytes
    extra = mask + blending + pascal
    return head + struct.pack(">I", len(extra)) + extra


def _block(ident: int, data: bytes) -> bytes:
    """An 8BIM image resource block with an empty name."""
    return b"8BIM" + struct.pack(">HxxI", ident, len(data)) + data + b"\0" * (len(data) % 2)


def resolution_resource(dpi: tuple[float, float]) -> bytes:
    """ResolutionInfo (1005): pixels per inch as 16.16 fixed point, shown in inches."""
    h, v = (max(1, round(d * 65536)) for d in dpi)
    return _block(_RESOLUTION_INFO, struct.pack(">IHHIHH", h, 1, 1, v, 1, 1))


def icc_resource(profile: bytes) -> bytes:
    return _block(_ICC_PROFILE, profile)
