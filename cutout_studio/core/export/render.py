"""Rendering: the exact pixels of an output, so that the editor can preview what is written.

Memory: a 100-megapixel photo is composited strip by strip in uint8/uint16 and float32 strips;
besides the caller's photo and alpha, the output canvas is the only full-size array (plus the
encoder's own copy for RGB output), so peak memory stays in the low gigabytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from cutout_studio.core.edges import ForegroundPatch, apply_edges, foreground_patches
from cutout_studio.core.errors import ExportError, ImageLoadError
from cutout_studio.core.export.clip_path import ClipPath, fit_clip_path
from cutout_studio.core.export.colour import output_colours
from cutout_studio.core.export.options import ExportOptions
from cutout_studio.core.export.psd import PsdLayer
from cutout_studio.core.export.shadow import Shadow, compute_shadow
from cutout_studio.core.image_io import DEFAULT_MAX_PIXELS, LoadedImage, load_image

__all__ = ["MAX_CANVAS_SIDE", "SUBJECT_THRESHOLD", "RenderedCutout", "render_cutout"]

#: Crop to subject: pixels with alpha above this belong to the subject. Not 0: models leave
#: faint noise (alpha ~0.005) over the background that would stretch the box to the whole photo.
SUBJECT_THRESHOLD = 0.02
#: The largest canvas side (JPEG's own limit; PNG could hold more, no viewer opens it) and, in
#: pixels, the loader's limit: padding or a square canvas may grow the output past the photo,
#: and the canvas is the one full-size array export allocates.
MAX_CANVAS_SIDE = 65535
_STRIP_PIXELS = 2_000_000  # pixels per compositing strip: ~50 MB of float32 scratch


@dataclass
class RenderedCutout:
    """The pixels export writes, with the metadata that goes with them."""

    pixels: np.ndarray  #: H×W×4 RGBA, H×W×3 RGB or H×W grey; uint8, or uint16 for 16-bit PNG
    mode: Literal["RGBA", "RGB", "L"]
    box: tuple[int, int, int, int]  #: the canvas in photo pixels (x0, y0, x1, y1); may reach outside
    icc_profile: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)
    clip_path: ClipPath | None = None  #: the outline, when ``options.clip_path`` asks for it
    layers: list[PsdLayer] | None = None  #: bottom first, for formats with layers (PSD)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def bit_depth(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8



# --- rendering --------------------------------------------------------------------------------


def render_cutout(image: LoadedImage, alpha: np.ndarray, options: ExportOptions) -> RenderedCutout:
    """The exact pixels :func:`export_cutout` writes for ``image`` with ``alpha``.

    ``alpha`` is the mask before the edge settings (``options.edges`` are applied here).
    Raises :class:`ExportError` for a crop of an empty mask or a canvas too large to allocate.
    """
    alpha = _as_alpha(alpha, image)
    if options.edges.changes_alpha:
        alpha = apply_edges(image.rgb, alpha, options.edges)
    # a mask has no shadow, but its canvas is the cutout's (the marketplace check relies on it)
    shadow = None
    if options.shadow_options.active and (options.output == "cutout" or options.crop):
        shadow = compute_shadow(image.rgb, alpha, options.shadow_options)
    box = _canvas_box(alpha, options, shadow)
    x0, y0, x1, y1 = box
    canvas_h, canvas_w = y1 - y0, x1 - x0
    # The part of the canvas that shows the photo; the rest is padding (transparent or filled).
    px0, py0, px1, py1 = max(0, x0), max(0, y0), min(image.width, x1), min(image.height, y1)
    view = (slice(py0, py1), slice(px0, px1))
    at = (slice(py0 - y0, py1 - y0), slice(px0 - x0, px1 - x0))

    if options.output == "mask":
        pixels = np.zeros((canvas_h, canvas_w), np.uint8)
        _quantize_into(alpha[view], pixels[at], 255)
        return RenderedCutout(pixels=pixels, mode="L", box=box, dpi=image.dpi)  # an RGB ICC profile is invalid on grey
    outline = None
    if options.writes_clip_path:  # fitted to the output's own alpha: after crop, padding and square
        opacity = np.zeros((canvas_h, canvas_w), np.uint8)
        _quantize_into(alpha[view], opacity[at], 255)
        outline = fit_clip_path(opacity, options.clip_path_tolerance)

    # The one place an output's colours are chosen: the part of the photo it shows, in the
    # colour space asked for (the mask, the edges and the shadow were worked out on the photo as it is).
    rgb16 = image.rgb16[view] if options.file_format.deep and image.rgb16 is not None else None
    colours = output_colours(image.rgb[view], rgb16, image.icc_profile, options.colour_space)
    deep = colours.rgb16 is not None
    dtype, top = (np.uint16, 65535) if deep else (np.uint8, 255)
    source = colours.rgb if colours.rgb16 is None else colours.rgb16
    patches = list(foreground_patches(colours.rgb, alpha[view])) if options.edges.decontaminate else []
    if options.background is None:  # transparent
        pixels = np.zeros((canvas_h, canvas_w, 4), dtype)
        _fill_transparent(pixels[at], source, alpha[view], patches, top)
        if shadow is not None:
            _shadow_under(pixels, shadow, box, top)
        mode: Literal["RGBA", "RGB"] = "RGBA"
    else:
        pixels = _background_canvas(options.background, canvas_w, canvas_h, deep)
        if shadow is not None:
            _darken(pixels, shadow, box)
        _composite(pixels[at], source, alpha[view], patches, top)
        mode = "RGB"
    layers = None
    if options.file_format.layers:
        layers = _layers(colours.rgb, alpha, (view, at), patches, options, pixels, _shadow_layer(shadow, box))
    return RenderedCutout(pixels=pixels, mode=mode, box=box, icc_profile=colours.icc_profile, exif=image.exif,
                          dpi=image.dpi, notes=colours.notes, clip_path=outline, layers=layers)


def _layers(rgb: np.ndarray, alpha: np.ndarray, where: tuple[tuple[slice, slice], tuple[slice, slice]],
            patches: list[ForegroundPatch], options: ExportOptions, canvas: np.ndarray,
            shadow: PsdLayer | None) -> list[PsdLayer]:
    """8-bit layers, bottom first: the background (when there is one), the photo (hidden), the
    shadow (when there is one) and the cutout, whose user mask is the alpha. The cutout layer holds the photo's colours where
    the mask hides it, so that painting the mask back reveals the photo, not black. ``rgb``: the
    photo's part in view, in the output's colour space."""
    view, at = where
    height, width = canvas.shape[:2]
    photo = np.zeros((height, width, 4), np.uint8)
    photo[at] = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
    cutout = np.zeros_like(photo)
    _fill_transparent(cutout[at], rgb, alpha[view], patches, 255)
    mask = cutout[..., 3].copy()
    np.copyto(cutout, photo, where=(mask == 0)[..., None])
    cutout[..., 3] = photo[..., 3]  # the layer itself covers the photo; the padding stays empty
    layers = [PsdLayer("Photo", photo, visible=False), PsdLayer("Cutout", cutout, mask=mask)]
    if shadow is not None:
        layers.insert(1, shadow)
    if options.background is not None:
        fill = _background_canvas(options.background, width, height, False)
        layers.insert(0, PsdLayer("Background", cv2.cvtColor(fill, cv2.COLOR_RGB2RGBA)))
    return layers


def _shadow_layer(shadow: Shadow | None, box: tuple[int, int, int, int]) -> PsdLayer | None:
    """The shadow as its own layer: black, its opacity in the layer's transparency."""
    window = shadow.window(box) if shadow is not None else None
    if shadow is None or window is None:
        return None
    x0, y0, x1, y1 = box
    pixels = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
    src, dst = window
    _quantize_into(shadow.opacity[src], pixels[dst][..., 3], 255)
    return PsdLayer("Shadow", pixels)


def _shadow_strips(shadow: Shadow, box: tuple[int, int, int, int], canvas: np.ndarray
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(canvas rows, shadow opacity rows) strip by strip where the shadow meets the canvas."""
    window = shadow.window(box)
    if window is None:
        return []
    src, dst = window
    region, opacity = canvas[dst], shadow.opacity[src]
    step = _row_step(opacity.shape[1])
    return [(region[y : y + step], opacity[y : y + step]) for y in range(0, opacity.shape[0], step)]


def _darken(canvas: np.ndarray, shadow: Shadow, box: tuple[int, int, int, int]) -> None:
    """The background under the shadow: black at the shadow's opacity over it."""
    for rows, opacity in _shadow_strips(shadow, box, canvas):
        light = np.float32(1) - opacity
        shaded = rows.astype(np.float32)
        shaded *= light[..., None]
        np.rint(shaded, out=shaded)
        rows[...] = shaded


def _shadow_under(canvas: np.ndarray, shadow: Shadow, box: tuple[int, int, int, int], top: int) -> None:
    """RGBA: the cutout over black at the shadow's opacity (straight alpha): alpha ``a + s(1 − a)``,
    colour ``c·a / (a + s(1 − a))``; where the cutout is opaque nothing changes."""
    for rows, opacity in _shadow_strips(shadow, box, canvas):  # in place, float32: 24 MP in well under a second
        a = rows[..., 3].astype(np.float32)  # in levels: merged = A + s·(top − A)
        merged = np.float32(top) - a
        merged *= opacity
        merged += a
        keep = np.maximum(merged, np.float32(1e-3))
        np.divide(a, keep, out=keep)
        colour = rows[..., :3].astype(np.float32)
        colour *= keep[..., None]
        np.rint(colour, out=colour)
        rows[..., :3] = colour
        np.rint(merged, out=merged)
        rows[..., 3] = merged


def _as_alpha(alpha: np.ndarray, image: LoadedImage) -> np.ndarray:
    alpha = np.asarray(alpha)
    if alpha.shape != image.rgb.shape[:2]:
        raise ValueError(f"alpha {alpha.shape} does not match the photo {image.rgb.shape[:2]}")
    if alpha.dtype == np.uint8:
        scaled: np.ndarray = alpha.astype(np.float32) * np.float32(1 / 255)
        return scaled
    return alpha if alpha.dtype == np.float32 else alpha.astype(np.float32)


def _row_step(width: int) -> int:
    return max(1, _STRIP_PIXELS // max(1, width))


def _subject_box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of alpha > SUBJECT_THRESHOLD, or None when empty."""
    rows = np.zeros(alpha.shape[0], bool)
    cols = np.zeros(alpha.shape[1], bool)
    step = _row_step(alpha.shape[1])
    for y in range(0, alpha.shape[0], step):
        inside = alpha[y : y + step] > SUBJECT_THRESHOLD
        rows[y : y + step] = inside.any(axis=1)
        cols |= inside.any(axis=0)
    if not rows.any():
        return None
    ys, xs = np.flatnonzero(rows), np.flatnonzero(cols)
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _canvas_box(alpha: np.ndarray, options: ExportOptions, shadow: Shadow | None = None
                ) -> tuple[int, int, int, int]:
    """The canvas in photo pixels: the photo, or with crop the subject's box padded, grown where
    the shadow reaches past it (a drop shadow is never cut off; a contact shadow within the
    padding leaves the canvas, and so a preset's fill, as it is), then squared."""
    height, width = alpha.shape
    if options.crop:
        subject = _subject_box(alpha)
        if subject is None:
            raise ExportError("nothing to export: the mask is empty")
        x0, y0, x1, y1 = subject
        if options.padding_unit == "%":
            pad_x = round((x1 - x0) * options.padding / 100)
            pad_y = round((y1 - y0) * options.padding / 100)
        else:
            pad_x = pad_y = round(options.padding)
        x0, y0, x1, y1 = x0 - pad_x, y0 - pad_y, x1 + pad_x, y1 + pad_y
        if shadow is not None:
            sx0, sy0, sx1, sy1 = shadow.box
            x0, y0, x1, y1 = min(x0, sx0), min(y0, sy0), max(x1, sx1), max(y1, sy1)
    else:
        x0, y0, x1, y1 = 0, 0, width, height
    if options.square:
        side = max(x1 - x0, y1 - y0)
        extra_x, extra_y = side - (x1 - x0), side - (y1 - y0)
        x0, x1 = x0 - extra_x // 2, x1 + (extra_x - extra_x // 2)
        y0, y1 = y0 - extra_y // 2, y1 + (extra_y - extra_y // 2)
    width, height = x1 - x0, y1 - y0
    if max(width, height) > MAX_CANVAS_SIDE or width * height > DEFAULT_MAX_PIXELS:
        raise ExportError(
            f"the canvas would be {width}×{height} pixels (at most {MAX_CANVAS_SIDE} per side and "
            f"{DEFAULT_MAX_PIXELS / 1e6:g} MP): use less padding"
        )
    return x0, y0, x1, y1


def _quantize_into(alpha: np.ndarray, out: np.ndarray, top: int) -> None:
    """``out = round(alpha · top)`` strip by strip (no full-size float temporary)."""
    step = _row_step(alpha.shape[1])
    for y in range(0, alpha.shape[0], step):
        scaled = alpha[y : y + step] * np.float32(top)
        np.clip(scaled, 0, top, out=scaled)
        np.rint(scaled, out=scaled)
        out[y : y + step] = scaled


def _patch_rows(patches: list[ForegroundPatch], y0: int, y1: int) -> list[ForegroundPatch]:
    return [p for p in patches if p.y0 < y1 and p.y1 > y0]


def _paste_patch(target: np.ndarray, patch: ForegroundPatch, y0: int, y1: int, top: int) -> None:
    """Write the patch's colours (scaled to ``top``) into ``target``, which holds rows y0..y1."""
    a, b = max(y0, patch.y0), min(y1, patch.y1)
    mask = patch.mask[a - patch.y0 : b - patch.y0]
    colour = patch.colour[a - patch.y0 : b - patch.y0]
    region = target[a - y0 : b - y0, patch.x0 : patch.x1]
    values = colour[mask] * np.float32(top)
    region[mask] = values if target.dtype == np.float32 else np.rint(values)


def _fill_transparent(
    out: np.ndarray, source: np.ndarray, alpha: np.ndarray, patches: list[ForegroundPatch], top: int
) -> None:
    """RGBA: the photo's colours (decontaminated at soft edges), alpha quantised to the depth.
    Colour under fully transparent pixels is cleared: smaller files, and the old background is
    not hidden in the file (decontaminated pixels beside the edge are kept for resamplers)."""
    step = _row_step(alpha.shape[1])
    opacity = np.empty((min(step, alpha.shape[0]), alpha.shape[1]), out.dtype)
    for y in range(0, alpha.shape[0], step):
        rows = out[y : y + step]
        n = rows.shape[0]
        _quantize_into(alpha[y : y + n], opacity[:n], top)
        # OpenCV's masked copy and channel merge: numpy's boolean indexing and strided channel
        # writes took over a second at 24 MP
        # OpenCV takes a scalar for src2; its stubs list arrays only
        visible = cv2.compare(opacity[:n], 0, cv2.CMP_GT)  # type: ignore[call-overload]
        colour = cv2.bitwise_and(source[y : y + n], source[y : y + n], mask=visible)
        # OpenCV writes in place only into a contiguous array (a padded crop's rows are not)
        rgba = cv2.cvtColor(colour, cv2.COLOR_RGB2RGBA, dst=rows if rows.flags.c_contiguous else None)
        rgba[..., 3] = opacity[:n]
        if not np.shares_memory(rgba, rows):
            rows[...] = rgba
        for patch in _patch_rows(patches, y, y + n):
            _paste_patch(rows[..., :3], patch, y, y + n, top)


def _composite(
    out: np.ndarray, source: np.ndarray, alpha: np.ndarray, patches: list[ForegroundPatch], top: int
) -> None:
    """``out = fg·a + out·(1 − a)`` in float32 strips; ``out`` holds the background."""
    step = _row_step(alpha.shape[1])
    for y in range(0, alpha.shape[0], step):
        rows = out[y : y + step]
        n = rows.shape[0]
        fg = source[y : y + n].astype(np.float32)
        for patch in _patch_rows(patches, y, y + n):
            _paste_patch(fg, patch, y, y + n, top)
        bg = rows.astype(np.float32)
        fg -= bg
        fg *= np.clip(alpha[y : y + n, :, None], 0.0, 1.0)
        fg += bg
        np.rint(fg, out=fg)
        np.clip(fg, 0, top, out=fg)  # float rounding must not wrap around in the integer cast
        rows[...] = fg


def _background_canvas(
    background: tuple[int, int, int] | str | Path, width: int, height: int, deep: bool
) -> np.ndarray:
    dtype = np.uint16 if deep else np.uint8
    if isinstance(background, tuple):
        canvas = np.empty((height, width, 3), dtype)
        canvas[...] = np.array(background, np.uint32) * (257 if deep else 1)
        return canvas
    picture = _load_background(Path(background)).rgb  # ExportOptions made a text a Path already
    # Scale to cover the canvas, centre-cropped: take the centred part of the picture with the
    # canvas's aspect ratio, then resize only that part.
    ph, pw = picture.shape[:2]
    scale = max(width / pw, height / ph)
    crop_w, crop_h = min(pw, max(1, round(width / scale))), min(ph, max(1, round(height / scale)))
    cx, cy = (pw - crop_w) // 2, (ph - crop_h) // 2
    part = picture[cy : cy + crop_h, cx : cx + crop_w]
    shrinking = crop_w > width or crop_h > height
    resized = cv2.resize(part, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    return resized.astype(np.uint16) * np.uint16(257) if deep else resized


def _load_background(path: Path) -> LoadedImage:
    try:
        return load_image(path)
    except ImageLoadError as exc:
        raise ExportError(f"background image {exc}") from None
