"""What the canvas shows, computed on a worker: NumPy arrays in, ready-to-paint QImages out.

QImage (unlike QPixmap) may be built off the GUI thread, so all the per-pixel work of a
24-megapixel photo (colour conversion, premultiplication, edge settings, decontaminated
cutout) happens here; the GUI thread only swaps the finished image into an item, and Qt's
raster engine paints just the visible part of it.

Images are made in the premultiplied 32-bit format Qt paints fastest, from arrays laid out
in the machine's byte order; each :class:`Layer` keeps its array alive for as long as the
QImage that wraps it (QImage does not copy the buffer).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field

import cv2
import numpy as np
from PySide6.QtGui import QImage

from cutout_studio.core.edges import EdgeOptions, apply_edges
from cutout_studio.core.edges import warm_up as warm_up_matting
from cutout_studio.core.export import ExportOptions, render_cutout
from cutout_studio.core.export.shadow import ShadowOptions
from cutout_studio.core.image_io import LoadedImage

VIEW_MODES = {
    "overlay": "Coloured overlay",
    "checker": "Cutout on checkerboard",
    "color": "Cutout on colour",
    "mask": "Mask only",
    "original": "Original photo",
}
CUTOUT_MODES = ("checker", "color")
THUMBNAIL_SIDE = 72

# ARGB32 is a native-endian 32-bit word: bytes B, G, R, A on little-endian machines.
_LITTLE_ENDIAN = sys.byteorder == "little"


@dataclass(frozen=True)
class ViewSettings:
    mode: str = "overlay"
    overlay_color: tuple[int, int, int] = (79, 107, 255)
    overlay_opacity: float = 0.55  #: 0..1, opacity of the overlay where the mask is background
    #: the export preset's shadow, drawn under the cutout in the cutout views (None: none)
    shadow: ShadowOptions | None = None


@dataclass
class Layer:
    """A QImage, the array that owns its pixels, and reduced copies for zoomed-out painting.

    Painting a 24 MP image scaled down to the screen costs time in proportion to the source
    pixels (a few hundred ms on the GUI thread); painting the nearest reduced copy costs in
    proportion to the screen. ``levels`` are (scale, QImage, array) with scale 1/2, 1/4, …
    """

    image: QImage
    buffer: np.ndarray
    levels: list[tuple[float, QImage, np.ndarray]] = field(default_factory=list)

    def apply_patch(self, patch: LayerPatch) -> None:
        """Write ``patch`` into the pixels (GUI thread: the QImages wrap these arrays)."""
        buffers = [self.buffer, *(buffer for _scale, _image, buffer in self.levels)]
        for level, (y0, x0, pixels) in enumerate(patch.levels):
            target = buffers[level][y0 : y0 + pixels.shape[0], x0 : x0 + pixels.shape[1]]
            target[...] = pixels[: target.shape[0], : target.shape[1]]

    def level_for(self, zoom: float) -> tuple[float, QImage]:
        """The smallest copy that still has at least one pixel per screen pixel at ``zoom``."""
        best = (1.0, self.image)
        for scale, image, _buffer in self.levels:
            if scale >= zoom:
                best = (scale, image)
        return best


@dataclass
class LayerPatch:
    """New pixels for a box of a :class:`Layer` and of each of its reduced copies."""

    box: tuple[int, int, int, int]  #: (y0, y1, x0, x1) in photo pixels
    levels: list[tuple[int, int, np.ndarray]]  #: (y0, x0, pixels) for the image, then each level


#: Reduced copies are made down to about this many pixels on the long side.
_PYRAMID_MIN_SIDE = 1024


def _qimage(buffer: np.ndarray, fmt: QImage.Format) -> QImage:
    height, width = buffer.shape[:2]
    return QImage(buffer.data, width, height, buffer.strides[0], fmt)


def _wrap(buffer: np.ndarray, fmt: QImage.Format) -> Layer:
    buffer = np.ascontiguousarray(buffer)
    layer = Layer(_qimage(buffer, fmt), buffer)
    level, scale = buffer, 1.0
    while max(level.shape[:2]) > 2 * _PYRAMID_MIN_SIDE:
        height, width = level.shape[:2]
        # Area averaging of premultiplied pixels is exact compositing-wise.
        level = np.ascontiguousarray(
            cv2.resize(level, ((width + 1) // 2, (height + 1) // 2), interpolation=cv2.INTER_AREA)
        )
        scale /= 2
        layer.levels.append((scale, _qimage(level, fmt), level))
    return layer


def _argb32(r: np.ndarray, g: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    planes = [b, g, r, a] if _LITTLE_ENDIAN else [a, r, g, b]
    return cv2.merge(planes)


def photo_layer(rgb: np.ndarray) -> Layer:
    """The photo as an opaque 32-bit image."""
    opaque = np.full(rgb.shape[:2], 255, np.uint8)
    r, g, b = cv2.split(rgb)
    return _wrap(_argb32(r, g, b, opaque), QImage.Format.Format_ARGB32_Premultiplied)


def thumbnail(rgb: np.ndarray, side: int = THUMBNAIL_SIDE) -> QImage:
    height, width = rgb.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    # copy(): the QImage must own its pixels once ``small`` goes away
    return QImage(small.data, size[0], size[1], small.strides[0], QImage.Format.Format_RGB888).copy()


def alpha_to_uint8(alpha: np.ndarray, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """round(|alpha × 255 × scale + 255 × offset|) as uint8, saturated, in one pass."""
    return cv2.convertScaleAbs(alpha, alpha=255.0 * scale, beta=255.0 * offset)


def overlay_layer(alpha: np.ndarray, color: tuple[int, int, int], opacity: float) -> Layer:
    """The colour laid over what the mask removes: opacity × (1 − alpha), premultiplied."""
    return _wrap(_overlay_pixels(alpha, color, opacity), QImage.Format.Format_ARGB32_Premultiplied)


def _overlay_pixels(alpha: np.ndarray, color: tuple[int, int, int], opacity: float) -> np.ndarray:
    opacity = float(min(max(opacity, 0.0), 1.0))
    cover = alpha_to_uint8(alpha, -opacity, opacity)
    # One 32-bit ARGB word per cover level; a native-endian uint32 is exactly Qt's ARGB32 layout.
    levels = np.arange(256, dtype=np.uint32)
    r, g, b = (np.round(levels * (c / 255.0)).astype(np.uint32) for c in color)
    table = (levels << 24) | (r << 16) | (g << 8) | b
    words: np.ndarray = table[cover]
    return words.view(np.uint8).reshape(*cover.shape, 4)


def mask_layer(alpha: np.ndarray) -> Layer:
    return _wrap(alpha_to_uint8(alpha), QImage.Format.Format_Grayscale8)


def cutout_layer(image: LoadedImage, alpha: np.ndarray, edges: EdgeOptions, shadow: ShadowOptions | None = None
                 ) -> Layer:
    """Exactly the pixels a transparent export writes (edges and decontamination included), with
    the shadow under the cutout as semi-transparent black (computed on a reduced copy, see
    :mod:`~cutout_studio.core.export.shadow`: a few ms on the edit lane)."""
    # The preview is 8-bit whatever the source depth: drop the 16-bit copy for the render.
    preview_source = dataclasses.replace(image, rgb16=None) if image.rgb16 is not None else image
    shadow = shadow or ShadowOptions()
    options = ExportOptions(format="png", edges=edges, shadow=shadow.kind, shadow_angle=shadow.angle,
                            shadow_distance=shadow.distance, shadow_softness=shadow.softness,
                            shadow_opacity=shadow.opacity)
    rendered = render_cutout(preview_source, alpha, options)
    r, g, b, a = cv2.split(rendered.pixels)
    r, g, b = (cv2.multiply(channel, a, scale=1 / 255.0) for channel in (r, g, b))
    return _wrap(_argb32(r, g, b, a), QImage.Format.Format_ARGB32_Premultiplied)


def display_alpha(rgb: np.ndarray, alpha: np.ndarray, edges: EdgeOptions) -> np.ndarray:
    """The mask as it will be exported: the edge settings applied (when they change the alpha)."""
    return apply_edges(rgb, alpha, edges) if edges.changes_alpha else alpha


def compose(image: LoadedImage, alpha: np.ndarray, edges: EdgeOptions, view: ViewSettings) -> Layer | None:
    """The layer the canvas draws above the photo for ``view`` (None for the original)."""
    if view.mode == "original":
        return None
    if view.mode in CUTOUT_MODES:
        return cutout_layer(image, alpha, edges, view.shadow)
    shown = display_alpha(image.rgb, alpha, edges)
    if view.mode == "mask":
        return mask_layer(shown)
    return overlay_layer(shown, view.overlay_color, view.overlay_opacity)


def changed_box(old: np.ndarray, new: np.ndarray) -> tuple[int, int, int, int] | None:
    """The bounding box (y0, y1, x0, x1) of the pixels where two masks differ (None: equal)."""
    differs = cv2.compare(old, new, cv2.CMP_NE)
    rows = np.flatnonzero(cv2.reduce(differs, 1, cv2.REDUCE_MAX).ravel())
    if not len(rows):
        return None
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(cv2.reduce(differs[y0:y1], 0, cv2.REDUCE_MAX).ravel())
    return y0, y1, int(cols[0]), int(cols[-1]) + 1


def _edge_reach(edges: EdgeOptions) -> int | None:
    """How far (px) the edge settings carry a change of the mask; None: anywhere (matting)."""
    if edges.matting:
        return None
    reach = 0
    if edges.shift:
        reach += math.ceil(abs(edges.shift)) + 1
    if edges.feather > 0:
        reach += math.ceil(3 * edges.feather / 2) + 1
    return reach


def compose_patch(
    image: LoadedImage,
    alpha: np.ndarray,
    edges: EdgeOptions,
    view: ViewSettings,
    box: tuple[int, int, int, int],
    level_count: int,
) -> LayerPatch | None:
    """New pixels for the part of the layer that a change of the mask within ``box`` touches.

    None when the view cannot be patched (cutout views, whose decontamination reaches far, and
    matting, whose result depends on the whole outline): the caller composes the whole layer.
    """
    reach = _edge_reach(edges)
    if view.mode not in ("overlay", "mask") or reach is None:
        return None
    height, width = alpha.shape
    step = 2**level_count  # boxes aligned on the coarsest level's pixels: its copies are exact
    y0, y1, x0, x1 = box
    y0, x0 = max(0, y0 - reach) // step * step, max(0, x0 - reach) // step * step
    y1, x1 = min(height, -(-(y1 + reach) // step) * step), min(width, -(-(x1 + reach) // step) * step)
    # The edge settings need their reach of context around the box to be exact inside it.
    cy0, cx0, cy1, cx1 = max(0, y0 - reach), max(0, x0 - reach), min(height, y1 + reach), min(width, x1 + reach)
    crop = alpha[cy0:cy1, cx0:cx1]
    if edges.changes_alpha:
        crop = display_alpha(image.rgb[cy0:cy1, cx0:cx1], crop, edges)
    shown = crop[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
    if view.mode == "mask":
        pixels = alpha_to_uint8(shown)
    else:
        pixels = _overlay_pixels(shown, view.overlay_color, view.overlay_opacity)
    patch = LayerPatch((y0, y1, x0, x1), [(y0, x0, pixels)])
    for level in range(1, level_count + 1):
        h, w = pixels.shape[:2]
        pixels = cv2.resize(pixels, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
        patch.levels.append((y0 >> level, x0 >> level, pixels))
    return patch


def warm_up() -> None:
    """Load the matting kernels once on a tiny image (worker thread, at start-up when matting is on).

    pymatting's first call in a process loads numba-compiled code while holding the GIL for a
    few hundred milliseconds (and compiles it, tens of seconds, the first time ever); doing
    that early keeps the first preview with matting on from freezing the GUI.
    """
    warm_up_matting()
