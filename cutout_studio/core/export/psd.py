"""A small Photoshop (PSD) writer: layers with a user mask, after Adobe's "Photoshop File
Formats Specification".

Only the sections a layered cutout needs are written: the file header (RGB, 8 bits per
channel), an empty colour mode data section, the image resources (resolution, ICC profile,
a clipping path), the layer and mask information (each layer with its own transparency, and
optionally a user mask that a retoucher paints in Photoshop) and the merged image, which
viewers without layer support show. Channel data is uncompressed: PackBits would cost a
Python loop per row, and a PSD is a working file rather than a deliverable.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from cutout_studio.core.errors import ExportError

__all__ = ["MAX_SIDE", "PsdLayer", "resolution_resource", "icc_resource", "write_psd"]

MAX_SIDE = 30000  #: PSD's own limit (larger images need the PSB variant)
_RAW = 0
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
    stream.write(struct.pack(">H", _RAW))
    for c in range(channels):
        stream.write(_over_white(composite, c).tobytes())


def _over_white(composite: np.ndarray, c: int) -> np.ndarray:
    """Channel ``c`` of the merged image as Photoshop stores it: colours over white where the
    image is transparent (readers take the white back out), transparency as it is."""
    plane = composite[..., c]
    if composite.shape[2] < 4 or c == 3:
        return np.ascontiguousarray(plane)
    alpha = composite[..., 3].astype(np.uint32)
    matted = (plane * alpha + 255 * (255 - alpha) + 127) // 255
    return matted.astype(np.uint8)


def _write_layer_info(stream: BinaryIO, layers: list[PsdLayer], width: int, height: int, *,
                      transparent_merge: bool) -> None:
    """The layer and mask information: the layer count (negative: the merged image's first
    extra channel is its transparency), the records, then each layer's channels in the records'
    order (streamed: no copy of the pixels is built), then an empty global layer mask."""
    planes = [_planes(layer) for layer in layers]
    records = b"".join(_record(layer, [(ident, 2 + plane.size) for ident, plane in own], width, height)
                       for layer, own in zip(layers, planes))
    size = 2 + len(records) + sum(2 + plane.size for own in planes for _, plane in own)
    padding = size % 2  # the layer info's length is rounded up to even
    if size + padding + 8 > _LIMIT:
        raise ExportError(f"the PSD's layers would be over 4 GB ({width}×{height} pixels): export TIFF")
    stream.write(struct.pack(">II", 4 + size + padding + 4, size + padding))
    stream.write(struct.pack(">h", -len(layers) if transparent_merge else len(layers)) + records)
    for own in planes:
        for _, plane in own:
            stream.write(struct.pack(">H", _RAW))
            stream.write(np.ascontiguousarray(plane).tobytes())
    stream.write(b"\0" * padding + struct.pack(">I", 0))  # global layer mask info: none


def _planes(layer: PsdLayer) -> list[tuple[int, np.ndarray]]:
    """The layer's channels by their PSD ids, in Photoshop's own order: transparency, red,
    green, blue, user mask."""
    planes = [(_TRANSPARENCY, layer.rgba[..., 3])] + [(c, layer.rgba[..., c]) for c in range(3)]
    return planes + ([(_USER_MASK, layer.mask)] if layer.mask is not None else [])


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
