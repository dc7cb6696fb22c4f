"""Real wide-gamut ICC profiles for the colour space tests, built from their published numbers,
and an independent conversion to sRGB to check ours against.

- Display P3 (Apple; what phones embed): DCI-P3 primaries R (0.680, 0.320), G (0.265, 0.690),
  B (0.150, 0.060), white D65 (0.3127, 0.3290), the sRGB curve.
- Adobe RGB (1998) (Adobe's specification, 2005): R (0.64, 0.33), G (0.21, 0.71),
  B (0.15, 0.06), white D65, gamma 563/256.
- sRGB (IEC 61966-2-1): R (0.64, 0.33), G (0.30, 0.60), B (0.15, 0.06), white D65.

:func:`matrix_trc_profile` writes an ICC v4 display profile (header, tag table, ``desc``,
``cprt``, ``wtpt``, ``chad``, the colorants adapted to D50 with Bradford, the three TRCs), as
ICC.1:2010 lays it out. :func:`to_srgb_reference` converts in float64 straight through the D65
matrices made from the primaries: neither LittleCMS nor the code under test is used.
"""

from __future__ import annotations

import struct

import numpy as np

D65 = (0.3127, 0.3290)
D50_XYZ = np.array([0.9642, 1.0, 0.8249])
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
ADOBE_PRIMARIES = ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06))
ADOBE_GAMMA = 563 / 256
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz(primaries: tuple[tuple[float, float], ...], white: tuple[float, float] = D65) -> np.ndarray:
    """The 3×3 matrix from linear RGB to XYZ (white Y = 1) for these chromaticities."""
    columns = np.stack([_xyz(p) for p in primaries], axis=1)
    scale = np.linalg.solve(columns, _xyz(white))
    return columns * scale


def _adapt_to_d50(white: tuple[float, float]) -> np.ndarray:
    """Bradford chromatic adaptation from ``white`` to D50 (the ICC's ``chad``)."""
    source, target = _BRADFORD @ _xyz(white), _BRADFORD @ D50_XYZ
    return np.linalg.inv(_BRADFORD) @ np.diag(target / source) @ _BRADFORD


def srgb_decode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0, 1)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def to_srgb_reference(rgb: np.ndarray, space: str, top: int = 255) -> np.ndarray:
    """``rgb`` (integers up to ``top``) in Display P3 ("p3") or Adobe RGB ("adobe") as sRGB
    integers, relative colorimetric (out-of-gamut values clipped), all in float64."""
    values = rgb.astype(np.float64) / top
    if space == "p3":
        linear, primaries = srgb_decode(values), P3_PRIMARIES
    else:
        linear, primaries = values**ADOBE_GAMMA, ADOBE_PRIMARIES
    matrix = np.linalg.inv(rgb_to_xyz(SRGB_PRIMARIES)) @ rgb_to_xyz(primaries)
    return np.rint(srgb_encode(linear @ matrix.T) * top).astype(np.uint16 if top > 255 else np.uint8)


# --- the ICC writer ---------------------------------------------------------------------------


def _s15(values: np.ndarray | list[float]) -> bytes:
    return b"".join(struct.pack(">i", round(float(v) * 65536)) for v in values)


def _mluc(text: str) -> bytes:
    encoded = text.encode("utf-16-be")
    return b"mluc" + bytes(4) + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(encoded), 28) + encoded


def _xyz_tag(xyz: np.ndarray) -> bytes:
    return b"XYZ " + bytes(4) + _s15(xyz)


def _para_srgb() -> bytes:
    """The sRGB curve as a parametric curve of type 3: (aX + b)^g above d, else cX."""
    return b"para" + bytes(4) + struct.pack(">HH", 3, 0) + _s15([2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045])


def _curv_gamma(gamma: float) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)


def matrix_trc_profile(description: str, primaries: tuple[tuple[float, float], ...], trc: bytes,
                       white: tuple[float, float] = D65) -> bytes:
    """An ICC v4 matrix/TRC display profile (RGB -> XYZ PCS)."""
    chad = _adapt_to_d50(white)
    colorants = chad @ rgb_to_xyz(primaries, white)  # adapted to the PCS's D50, as ICC v4 wants
    tags = [
        (b"desc", _mluc(description)),
        (b"cprt", _mluc("No copyright, use freely")),
        (b"wtpt", _xyz_tag(D50_XYZ)),
        (b"chad", b"sf32" + bytes(4) + _s15(chad.ravel())),
        (b"rXYZ", _xyz_tag(colorants[:, 0])),
        (b"gXYZ", _xyz_tag(colorants[:, 1])),
        (b"bXYZ", _xyz_tag(colorants[:, 2])),
        (b"rTRC", trc),
        (b"gTRC", trc),
        (b"bTRC", trc),
    ]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, data = b"", b""
    for sig, body in tags:
        body += bytes(-len(body) % 4)  # tags start on 4-byte boundaries
        entries += struct.pack(">4sII", sig, offset + len(data), len(body))
        data += body
    size = 128 + table_size + len(data)
    header = struct.pack(">I4sI4s4s4s", size, b"none", 0x04300000, b"mntr", b"RGB ", b"XYZ ")
    header += struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"APPL" + bytes(4) + bytes(4) + bytes(4)
    header += bytes(8) + struct.pack(">I", 0) + _s15(D50_XYZ) + bytes(4) + bytes(16) + bytes(28)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + entries + data


DISPLAY_P3 = matrix_trc_profile("Display P3", P3_PRIMARIES, _para_srgb())
ADOBE_RGB = matrix_trc_profile("Adobe RGB (1998)", ADOBE_PRIMARIES, _curv_gamma(ADOBE_GAMMA))
