"""The output's colour space: the photo's own ICC profile kept, or its pixels converted to sRGB.

Photographers shoot in Adobe RGB, phones embed Display P3; marketplaces and browsers expect
sRGB. With ``colour_space="srgb"`` :func:`output_colours` converts the pixels of the part of
the photo an output shows from the photo's embedded profile to sRGB and gives the sRGB profile
to embed; render calls it once for every format, so PNG, WebP, JPEG, TIFF, PSD and AVIF agree.

- Intent: relative colorimetric. Colours inside sRGB's gamut keep their exact measured values
  (the product's colour is what a listing sells) and the photo's white stays white; only the
  few colours outside sRGB are clipped to its edge. Perceptual would shift every colour to make
  room for those few, and the matrix-based profiles cameras and phones embed have no perceptual
  tables anyway (LittleCMS then falls back to the colorimetric matrix). No black-point
  compensation: the same profiles have a zero black point, where it changes nothing.
- 8-bit pixels go through Pillow's ImageCms (LittleCMS), which takes any RGB profile. Pillow's
  ImageCms has no 16-bit modes, so 16-bit pixels of a matrix/TRC profile (Adobe RGB, Display P3,
  ProPhoto: what cameras and phones embed) are converted here with the same matrix maths in
  float32, read from the profile's own tags; a 16-bit photo whose profile is table-based is
  converted at 8 bits with a note.
- No profile: the pixels are taken as sRGB (what browsers assume) and the sRGB profile is
  embedded. A profile that says sRGB is kept as it is. A broken profile: one-line note, the
  pixels and the profile are kept as they are (the marketplace check then names it).
"""

from __future__ import annotations

import functools
import io
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageCms

__all__ = [
    "COLOUR_SPACES", "SRGB_PROFILE", "OutputColours", "colour_space_name", "is_srgb", "output_colours",
    "output_profile",
]

_log = logging.getLogger(__name__)

#: keep: the photo's own profile is embedded as it is; srgb: the pixels are converted to sRGB
COLOUR_SPACES = ("keep", "srgb")
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
#: the profile embedded in converted outputs (LittleCMS's built-in sRGB, "sRGB built-in")
SRGB_PROFILE: bytes = _SRGB.tobytes()
_INTENT = ImageCms.Intent.RELATIVE_COLORIMETRIC  # why: see the module's docstring
_STRIP_PIXELS = 1_000_000  # pixels converted at a time: bounded float32 temporaries at any size


@dataclass
class OutputColours:
    """The pixels an output shows, in the colour space it is written in, and its profile."""

    rgb: np.ndarray  #: H×W×3 uint8
    rgb16: np.ndarray | None  #: H×W×3 uint16 when written at 16 bits
    icc_profile: bytes | None  #: what describes them (embedded in the output)
    notes: list[str] = field(default_factory=list)  #: a broken profile, a 16-bit photo converted at 8 bits


def colour_space_name(icc_profile: bytes) -> str:
    """The profile's description ("sRGB IEC61966-2.1", "Adobe RGB (1998)"), or "unreadable profile"."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        return ImageCms.getProfileDescription(profile).strip() or "unnamed profile"
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError):
        return "unreadable profile"


def is_srgb(icc_profile: bytes | None) -> bool:
    """No profile (read as sRGB) or one whose description says sRGB."""
    return not icc_profile or "srgb" in colour_space_name(icc_profile).lower().replace(" ", "")


def output_profile(icc_profile: bytes | None, colour_space: str) -> bytes | None:
    """The profile an output of a photo tagged ``icc_profile`` embeds (without converting anything)."""
    if colour_space == "keep" or (icc_profile and is_srgb(icc_profile)):
        return icc_profile
    if not icc_profile:
        return SRGB_PROFILE
    return SRGB_PROFILE if _transform(icc_profile) is not None else icc_profile


def output_colours(rgb: np.ndarray, rgb16: np.ndarray | None, icc_profile: bytes | None,
                   colour_space: str) -> OutputColours:
    """``rgb`` (and ``rgb16``, the same pixels at 16 bits, when the output has 16) in the colour
    space ``colour_space`` asks for. "keep" and a photo already in sRGB return the arrays
    themselves; a conversion returns new arrays (the photo is never changed)."""
    if colour_space == "keep" or (icc_profile and is_srgb(icc_profile)):
        return OutputColours(rgb, rgb16, icc_profile)
    if not icc_profile:  # untagged: sRGB already, now said so
        return OutputColours(rgb, rgb16, SRGB_PROFILE)
    transform = _transform(icc_profile)
    if transform is None:
        note = f"the embedded colour profile ({colour_space_name(icc_profile)}) cannot be converted: kept as it is"
        _log.warning(note)
        return OutputColours(rgb, rgb16, icc_profile, [note])
    notes = []
    if rgb16 is not None:
        shaper = _matrix_shaper(icc_profile)
        if shaper is not None:
            converted16 = _convert_matrix(rgb16, shaper)
            # the 8-bit pixels (edge colours, PSD layers) from the 16-bit ones, as the loader makes them
            return OutputColours((converted16 >> 8).astype(np.uint8), converted16, SRGB_PROFILE)
        notes.append(f"16-bit photo converted to sRGB at 8 bits: its profile ({colour_space_name(icc_profile)}) "
                     "is table-based")
        _log.warning(notes[0])
    return OutputColours(_convert_8bit(rgb, transform), None, SRGB_PROFILE, notes)


@functools.lru_cache(maxsize=8)
def _transform(icc_profile: bytes) -> ImageCms.ImageCmsTransform | None:
    """The 8-bit photo-to-sRGB transform (cached: a shoot's photos share a profile), None when
    the profile cannot be read or converted from."""
    if icc_profile[16:20] != b"RGB ":  # a Lab or CMYK profile does not describe RGB pixels
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        return ImageCms.buildTransform(source, _SRGB, "RGB", "RGB", renderingIntent=_INTENT)
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError):
        return None


def _strips(height: int, width: int) -> range:
    return range(0, height, max(1, _STRIP_PIXELS // max(1, width)))


def _convert_8bit(rgb: np.ndarray, transform: ImageCms.ImageCmsTransform) -> np.ndarray:
    out = np.empty(rgb.shape, np.uint8)
    height, width = rgb.shape[:2]
    step = _strips(height, width).step
    for y in _strips(height, width):
        strip = Image.fromarray(np.ascontiguousarray(rgb[y : y + step]), "RGB")
        out[y : y + step] = np.asarray(ImageCms.applyTransform(strip, transform))
    return out


# --- 16 bits: matrix/TRC profiles ------------------------------------------------------------

Curve = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class _Shaper:
    """photo RGB -> linear (the profile's curves, tabulated at every 16-bit code) -> sRGB linear
    (one matrix through the PCS)."""

    decode: np.ndarray  #: 3×65536 float32: each channel's curve at every 16-bit value
    to_srgb: np.ndarray  #: 3×3 float32


def _convert_matrix(rgb16: np.ndarray, shaper: _Shaper) -> np.ndarray:
    """Tables both ways (the curves at every code, sRGB's encoding on a fine linear grid): 24 MP
    in seconds, where evaluating the curves per pixel took over a minute."""
    out = np.empty(rgb16.shape, np.uint16)
    height, width = rgb16.shape[:2]
    step = _strips(height, width).step
    top = np.float32(len(_SRGB_ENCODE) - 1)
    for y in _strips(height, width):
        strip = rgb16[y : y + step]
        linear = np.empty(strip.shape, np.float32)
        for c in range(3):
            np.take(shaper.decode[c], strip[..., c], out=linear[..., c])
        linear = linear @ shaper.to_srgb.T
        np.clip(linear, 0, 1, out=linear)  # relative colorimetric: out of gamut to its edge
        linear *= top
        np.rint(linear, out=linear)
        out[y : y + step] = np.take(_SRGB_ENCODE, linear.astype(np.int32))
    return out


@functools.lru_cache(maxsize=8)
def _matrix_shaper(icc: bytes) -> _Shaper | None:
    """The profile's curves and its matrix to sRGB, None when it is not a matrix/TRC profile."""
    parsed = _read_matrix_profile(icc)
    if parsed is None:
        return None
    curves, matrix = parsed
    codes = np.arange(65536, dtype=np.float32) / np.float32(65535)
    decode = np.stack([curve(codes) for curve in curves]).astype(np.float32)
    return _Shaper(decode, (np.linalg.inv(_SRGB_MATRIX) @ matrix).astype(np.float32))


def _tags(icc: bytes) -> dict[bytes, bytes]:
    count = struct.unpack_from(">I", icc, 128)[0]
    tags = {}
    for i in range(min(count, 200)):
        sig, offset, size = struct.unpack_from(">4sII", icc, 132 + 12 * i)
        tags[sig] = icc[offset : offset + size]
    return tags


def _read_matrix_profile(icc: bytes) -> tuple[tuple[Curve, Curve, Curve], np.ndarray] | None:
    """(curves, colorant matrix to the D50 PCS) of a matrix/TRC RGB profile; None otherwise."""
    try:
        tags = _tags(icc)
        columns = []
        for name in (b"rXYZ", b"gXYZ", b"bXYZ"):
            data = tags[name]
            if data[:4] != b"XYZ ":
                return None
            columns.append([v / 65536 for v in struct.unpack_from(">3i", data, 8)])
        curves = tuple(_curve(tags[name]) for name in (b"rTRC", b"gTRC", b"bTRC"))
    except (KeyError, struct.error, ValueError):
        return None
    if any(c is None for c in curves):
        return None
    return curves, np.array(columns, np.float64).T  # type: ignore[return-value]


# the parametric curves' parameter counts, by function type (ICC.1:2010, 10.18)
_PARA_COUNTS = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}


def _curve(data: bytes) -> Curve | None:
    """A 'curv' or 'para' tag as a function on [0, 1] (float32 arrays)."""
    if data[:4] == b"curv":
        n = struct.unpack_from(">I", data, 8)[0]
        if n == 0:
            return lambda x: x
        if n == 1:
            gamma = np.float32(struct.unpack_from(">H", data, 12)[0] / 256)
            return lambda x: np.power(np.maximum(x, 0), gamma)
        table = np.frombuffer(data, ">u2", n, 12).astype(np.float32) / np.float32(65535)
        grid = np.linspace(0, 1, n, dtype=np.float32)
        return lambda x: np.interp(x, grid, table).astype(np.float32)
    if data[:4] == b"para":
        kind = struct.unpack_from(">H", data, 8)[0]
        if kind not in _PARA_COUNTS:
            return None
        p = [v / 65536 for v in struct.unpack_from(f">{_PARA_COUNTS[kind]}i", data, 12)]
        g, (a, b, c, d, e, f) = p[0], (p[1:] + [0.0] * 6)[:6]
        if kind == 0:  # X^g
            a = 1.0
        elif kind == 1:  # (aX + b)^g above -b/a, else 0
            d = -b / a
        elif kind == 2:  # (aX + b)^g + c above -b/a, else c
            d, e, f, c = -b / a, c, c, 0.0
        return _parametric(g, a, b, c, d, e, f)
    return None


def _parametric(g: float, a: float, b: float, c: float, d: float, e: float, f: float) -> Curve:
    """Y = (aX + b)^g + e for X >= d, else cX + f (ICC type 4, which the other types are cases of)."""
    def curve(x: np.ndarray) -> np.ndarray:
        high = np.power(np.maximum(np.float32(a) * x + np.float32(b), 0), np.float32(g)) + np.float32(e)
        return np.where(x >= d, high, np.float32(c) * x + np.float32(f)).astype(np.float32)

    return curve


#: sRGB's encoding on a linear grid this fine is within half a 16-bit level even near black,
#: where the curve is steepest (a 2 MB table)
_ENCODE_STEPS = 1 << 20


def _srgb_parts() -> tuple[np.ndarray, np.ndarray]:
    """The built-in sRGB profile's matrix (the same numbers LittleCMS converts with) and its
    encoding as a table: 16-bit values at ``_ENCODE_STEPS`` linear steps (the curve inverted)."""
    parsed = _read_matrix_profile(SRGB_PROFILE)
    assert parsed is not None, "LittleCMS's built-in sRGB is a matrix/TRC profile"
    curves, matrix = parsed
    samples = np.linspace(0, 1, 65536, dtype=np.float64)
    decoded = curves[0](samples.astype(np.float32)).astype(np.float64)
    grid = np.linspace(0, 1, _ENCODE_STEPS, dtype=np.float64)
    encode = np.rint(np.interp(grid, decoded, samples) * 65535).astype(np.uint16)
    return matrix, encode


_SRGB_MATRIX, _SRGB_ENCODE = _srgb_parts()
