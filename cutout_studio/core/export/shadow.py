"""Shadows under the cutout: a synthesised contact or drop shadow, or the photo's own shadow kept.

A shadow is an opacity map (0..1, black at that opacity) in photo pixels, with its own box
that may reach past the photo (a drop shadow falls beside the subject). It is never part of
the mask: :func:`~.render.render_cutout` draws it under the cutout, on the background or as
semi-transparent black in a transparent output, and as its own "Shadow" layer in a PSD.

- ``contact``: the subject's footprint (the columns its bottom rows cover) as a dark, soft,
  vertically squashed blob centred on its base: the e-commerce "grounded" look. ``distance``
  is how far it spreads below the base, ``softness`` its horizontal blur; no angle.
- ``drop``: the subject's silhouette moved ``distance`` along ``angle`` and blurred by
  ``softness``.
- ``keep``: the photo's real shadow, read from the backdrop around the subject (see
  :func:`_kept`); ``softness`` smooths it further.

Distances and softness are % of the subject's height, so that a recipe looks alike on photos
of any size. Shadows are soft by nature: each is computed on a copy of at most
:data:`WORK_SIDE` px on the long side and scaled up over its own box, so a shadow costs the
same on a 24 MP photo as on the editor's preview.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["DEFAULT_OPACITY", "SHADOW_KINDS", "WORK_SIDE", "Shadow", "ShadowOptions", "compute_shadow"]

#: what ``--shadow`` accepts
SHADOW_KINDS = ("none", "contact", "drop", "keep")
#: the opacity of each kind when none is given: the photo's own shadow as photographed, the
#: synthesised ones at what e-commerce tools use
DEFAULT_OPACITY = {"none": 0.0, "contact": 0.6, "drop": 0.5, "keep": 1.0}
#: shadows are computed on a copy of at most this many pixels on the long side
WORK_SIDE = 1024
_SUBJECT = 0.5  # the silhouette: alpha above this
_VISIBLE = 1.5 / 255  # shadow opacity of at most one 8-bit level (unseen): outside the shadow's box


@dataclass(frozen=True)
class ShadowOptions:
    """What shadow to make (``ExportOptions.shadow_options`` gives these from the export options)."""

    kind: str = "none"  #: one of SHADOW_KINDS
    angle: float = 45.0  #: degrees clockwise from pointing right (0 right, 90 down): where a drop shadow falls
    distance: float = 5.0  #: % of the subject's height: the drop's offset, the contact shadow's spread
    softness: float = 3.0  #: % of the subject's height: the blur
    opacity: float | None = None  #: 0..1; None: the kind's :data:`DEFAULT_OPACITY`

    @property
    def strength(self) -> float:
        return DEFAULT_OPACITY[self.kind] if self.opacity is None else float(self.opacity)

    @property
    def active(self) -> bool:
        return self.kind != "none" and self.strength > 0


@dataclass(frozen=True)
class Shadow:
    """A shadow's opacity (float32, 0..1, the options' opacity applied) over its box in photo
    pixels: ``opacity[y - y0, x - x0]`` is the shadow at photo pixel (x, y)."""

    opacity: np.ndarray
    x0: int
    y0: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in photo pixels; may reach outside the photo."""
        height, width = self.opacity.shape
        return self.x0, self.y0, self.x0 + width, self.y0 + height

    def window(self, box: tuple[int, int, int, int]) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
        """Where the shadow meets the canvas ``box`` (photo pixels): (the shadow's slices, the
        canvas's slices), or None when they do not meet."""
        cx0, cy0, cx1, cy1 = box
        sx0, sy0, sx1, sy1 = self.box
        x0, y0, x1, y1 = max(cx0, sx0), max(cy0, sy0), min(cx1, sx1), min(cy1, sy1)
        if x0 >= x1 or y0 >= y1:
            return None
        return ((slice(y0 - sy0, y1 - sy0), slice(x0 - sx0, x1 - sx0)),
                (slice(y0 - cy0, y1 - cy0), slice(x0 - cx0, x1 - cx0)))


def compute_shadow(rgb: np.ndarray, alpha: np.ndarray, options: ShadowOptions) -> Shadow | None:
    """The shadow ``options`` ask for under the subject ``alpha`` (H×W float32) of photo ``rgb``;
    None when there is none (no shadow asked for, an empty mask, nothing found to keep)."""
    if not options.active:
        return None
    height, width = alpha.shape
    scale = min(1.0, WORK_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA) if scale < 1 else alpha
    subject = small > _SUBJECT
    rows = np.flatnonzero(subject.any(axis=1))
    if not rows.size:
        return None
    cols = np.flatnonzero(subject.any(axis=0))
    bbox = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    tall = bbox[3] - bbox[1]  # the subject's height in working pixels: the unit of the options
    found: tuple[np.ndarray, int, int] | None
    if options.kind == "contact":
        found = _contact(subject, bbox, tall, options)
    elif options.kind == "drop":
        found = _drop(small, bbox, tall, options)
    else:
        work_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        found = _kept(work_rgb, small, bbox, options)
    if found is None:
        return None
    opacity, ox, oy = found
    opacity *= np.float32(options.strength)
    return _to_photo(opacity, ox, oy, scale)


def _to_photo(opacity: np.ndarray, ox: int, oy: int, scale: float) -> Shadow | None:
    """The working-scale map (origin ``ox, oy``) trimmed to where it shows, in photo pixels."""
    shows = opacity > _VISIBLE
    rows, cols = np.flatnonzero(shows.any(axis=1)), np.flatnonzero(shows.any(axis=0))
    if not rows.size:
        return None
    # a pixel's margin, so that interpolation fades out inside the box rather than at its edge
    r0, r1 = max(0, int(rows[0]) - 1), min(opacity.shape[0], int(rows[-1]) + 2)
    c0, c1 = max(0, int(cols[0]) - 1), min(opacity.shape[1], int(cols[-1]) + 2)
    part = np.ascontiguousarray(opacity[r0:r1, c0:c1])
    if scale >= 1:
        return Shadow(part, ox + c0, oy + r0)
    x0, y0 = math.floor((ox + c0) / scale), math.floor((oy + r0) / scale)
    x1, y1 = math.ceil((ox + c1) / scale), math.ceil((oy + r1) / scale)
    full = cv2.resize(part, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return Shadow(np.clip(full, 0, 1, out=full), x0, y0)


def _sigma(percent: float, tall: int) -> float:
    return percent / 100 * tall


def _blur(values: np.ndarray, sigma_x: float, sigma_y: float) -> tuple[np.ndarray, int, int]:
    """``values`` padded by three sigmas and blurred: (result, pad x, pad y)."""
    pad_x, pad_y = math.ceil(3 * sigma_x) + 1, math.ceil(3 * sigma_y) + 1
    padded = cv2.copyMakeBorder(values, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=0)
    if sigma_x > 0.3 or sigma_y > 0.3:
        padded = cv2.GaussianBlur(padded, (0, 0), sigmaX=max(sigma_x, 0.3), sigmaY=max(sigma_y, 0.3))
    return padded, pad_x, pad_y


def _contact(subject: np.ndarray, bbox: tuple[int, int, int, int], tall: int,
             options: ShadowOptions) -> tuple[np.ndarray, int, int]:
    """The footprint of the bottom rows (5 % of the height), as one row on the base line,
    spread below it by ``distance`` and sideways by ``softness``: a squashed soft ellipse."""
    x0, _y0, x1, y1 = bbox
    band = max(2, round(0.05 * tall))
    footprint = np.asarray(subject[y1 - band : y1, x0:x1].any(axis=0), np.float32)[None, :]
    sigma_x = max(1.0, _sigma(options.softness, tall))
    sigma_y = max(1.0, _sigma(options.distance, tall) / 2)  # seen to about ``distance`` below
    blob, pad_x, pad_y = _blur(footprint, sigma_x, sigma_y)
    peak = float(blob.max())
    if peak > 0:
        blob /= np.float32(peak)  # the darkest point is the opacity asked for
    return blob, x0 - pad_x, y1 - 1 - pad_y


def _drop(alpha: np.ndarray, bbox: tuple[int, int, int, int], tall: int,
          options: ShadowOptions) -> tuple[np.ndarray, int, int]:
    """The silhouette moved by ``distance`` along ``angle`` and blurred by ``softness``."""
    x0, y0, x1, y1 = bbox
    silhouette = np.ascontiguousarray(np.clip(alpha[y0:y1, x0:x1], 0, 1))
    sigma = _sigma(options.softness, tall)
    blurred, pad_x, pad_y = _blur(silhouette, sigma, sigma)
    offset = _sigma(options.distance, tall)
    dx = round(offset * math.cos(math.radians(options.angle)))
    dy = round(offset * math.sin(math.radians(options.angle)))  # clockwise: y grows downwards
    return blurred, x0 - pad_x + dx, y0 - pad_y + dy


def _kept(rgb: np.ndarray, alpha: np.ndarray, bbox: tuple[int, int, int, int],
          options: ShadowOptions) -> tuple[np.ndarray, int, int] | None:
    """The photo's own shadow in a band around the subject's lowest third (within a third
    of its height), where the subject casts its shadow on the surface it stands on.

    The backdrop's local colour is estimated by normalised convolution (a wide Gaussian mean
    of the backdrop's pixels, the subject and the darker pixels left out, twice), so that a
    shadow does not darken its own reference. A pixel's shadow is then ``1 − Y / Y_backdrop``
    where it is darker than the backdrop and has the backdrop's chromaticity (a shadow darkens,
    it does not change hue); a small noise floor is taken off, specks are removed, and the
    result is smoothed and carried under the subject's edge (it stays out of the mask). Only
    shadow that touches the subject's base (its lowest tenth) is kept: a darker patch of backdrop away from the subject
    (a wall, a fold) is not its shadow.
    """
    tall = bbox[3] - bbox[1]
    colour = rgb.astype(np.float32) + np.float32(1.0)
    luma = colour @ np.array([0.299, 0.587, 0.114], np.float32)
    near = cv2.dilate((alpha > 0.02).astype(np.uint8), np.ones((5, 5), np.uint8))
    outside = near == 0
    reach = max(8.0, 0.35 * tall)
    distance = cv2.distanceTransform(outside.astype(np.uint8), cv2.DIST_L2, 5)
    band = outside & (distance < reach)
    band[: bbox[1] + 2 * tall // 3] = False
    if not band.any():
        return None
    sigma = max(4.0, 0.2 * tall)
    weight = outside.astype(np.float32)
    for _ in range(3):  # leave out what looks shadowed, then estimate again
        backdrop = _local_mean(colour, weight, sigma)
        backdrop_luma = backdrop @ np.array([0.299, 0.587, 0.114], np.float32)
        weight = (outside & (luma > 0.92 * backdrop_luma)).astype(np.float32)
    darkening = np.clip(1 - luma / np.maximum(backdrop_luma, 1.0), 0, 1)
    chroma = colour / colour.sum(axis=2, keepdims=True)
    backdrop_chroma = backdrop / np.maximum(backdrop.sum(axis=2, keepdims=True), 1e-3)
    hue_shift = np.linalg.norm(chroma - backdrop_chroma, axis=2)
    same_hue = np.clip(1 - hue_shift / np.float32(0.08), 0, 1)
    floor = np.float32(0.06)  # sensor noise and paper texture are not a shadow
    # a shadow is smooth: where the ratio to the backdrop has texture (a pattern, an edge of
    # the backdrop itself), it is the backdrop, not a shadow
    # (the fine detail left after a small blur: a steep but smooth shadow edge leaves little)
    detail = cv2.blur(np.abs(darkening - cv2.GaussianBlur(darkening, (0, 0), 1.5)), (5, 5))
    smooth = np.clip(1 - (detail - 0.03) / 0.04, 0, 1)
    shade = np.clip((darkening - floor) / (1 - floor), 0, 1) * same_hue * smooth
    # full strength near the subject, fading out towards the band's outer edge
    falloff = np.clip(1.5 * (1 - distance / np.float32(reach)), 0, 1)
    shade = np.where(band, shade * falloff, np.float32(0)).astype(np.float32)
    shade = cv2.medianBlur(shade, 5)
    base = near > 0
    base[: bbox[3] - max(2, tall // 10)] = False  # cast on the surface it stands on: touching its base
    shade = shade * _touching(shade > 0.1, base)
    # run the shadow on under the subject's edge (hidden where the subject is opaque)
    under = cv2.dilate(shade, np.ones((9, 9), np.uint8))
    shade = np.where(outside, shade, under).astype(np.float32)
    shade = cv2.GaussianBlur(shade, (0, 0), sigmaX=max(1.0, _sigma(options.softness, tall) / 3))
    return shade, 0, 0


def _touching(found: np.ndarray, subject: np.ndarray) -> np.ndarray:
    """1 over the regions of ``found`` within 3 px of ``subject`` (and 4 px around them: their
    soft edges), 0 elsewhere; float32."""
    count, labels = cv2.connectedComponents(found.astype(np.uint8), connectivity=8)
    ring = cv2.dilate(subject.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    touching = np.zeros(count, bool)
    touching[np.unique(labels[ring & found])] = True
    touching[0] = False
    kept = touching[labels].astype(np.uint8)
    return cv2.dilate(kept, np.ones((9, 9), np.uint8)).astype(np.float32)


def _local_mean(colour: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """The Gaussian-weighted mean colour of the pixels where ``weight`` is 1 (normalised
    convolution): the backdrop's local colour, wherever some backdrop lies within reach."""
    # a wide blur is cheaper on a quarter-size copy; the backdrop varies slowly
    height, width = weight.shape
    small = (max(1, width // 4), max(1, height // 4))
    w = cv2.resize(weight, small, interpolation=cv2.INTER_AREA)
    c = cv2.resize(colour * weight[..., None], small, interpolation=cv2.INTER_AREA)
    w = cv2.GaussianBlur(w, (0, 0), sigmaX=sigma / 4)
    c = cv2.GaussianBlur(c, (0, 0), sigmaX=sigma / 4)
    mean = c / np.maximum(w, 1e-4)[..., None]
    resized: np.ndarray = cv2.resize(mean, (width, height), interpolation=cv2.INTER_LINEAR)
    return resized
