"""The marketplace check: does one photo's output meet its preset's rules, and if not, why.

:func:`check_compliance` measures what the export writes for a photo, without writing it: the
canvas and where the subject lies on it come from rendering the mask with the same options
(:func:`~.render.render_cutout`, so crop, padding, square canvas and the edge settings are
exactly the export's), the rest from the options and the photo's colour profile. Every rule
that fails gives one short reason; the batch report, the batch's message and the editor show
them joined on one line ("ok" when there are none).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from cutout_studio.core.errors import CutoutError
from cutout_studio.core.export.colour import colour_space_name, is_srgb, output_profile
from cutout_studio.core.export.options import ExportOptions
from cutout_studio.core.export.presets import PRESETS, Preset
from cutout_studio.core.export.render import SUBJECT_THRESHOLD, render_cutout
from cutout_studio.core.image_io import LoadedImage

__all__ = ["Compliance", "check_compliance"]

_SIDES = ("left", "top", "right", "bottom")


@dataclass(frozen=True)
class Compliance:
    """The result of checking one photo against one preset."""

    preset: str  #: the preset's label ("Amazon")
    reasons: tuple[str, ...] = ()  #: why it fails, one short phrase each; empty: it complies

    @property
    def ok(self) -> bool:
        return not self.reasons

    def line(self) -> str:
        """"ok" or the reasons on one line (the report's ``compliance`` column)."""
        return "ok" if self.ok else "; ".join(self.reasons)

    def label(self) -> str:
        """"Amazon: ok" / "Amazon: subject too small (…)": what the editor shows."""
        return f"{self.preset}: {self.line()}"


def check_compliance(image: LoadedImage, alpha: np.ndarray, options: ExportOptions) -> Compliance | None:
    """Check what exporting ``image`` with ``alpha`` under ``options`` makes against
    ``options.preset`` (None when no preset is chosen). ``alpha`` is the mask before the edge
    settings, as :func:`~.write.export_cutout` takes it. Costs one render of the 8-bit mask (the
    edge settings applied again when they change the alpha) and no encoding."""
    if options.preset is None:
        return None
    preset = PRESETS[options.preset]
    reasons = [*_format_reasons(options, preset), *_colour_reasons(image, options, preset)]
    if options.output == "mask":
        return Compliance(preset.label, tuple(reasons))
    # the mask canvas is the cutout's canvas: same box, same edges; no background image is read
    mask_options = dataclasses.replace(options, output="mask", background=None, preset=None)
    try:
        rendered = render_cutout(image, alpha, mask_options)
    except CutoutError as exc:  # "the mask is empty", a canvas too large
        return Compliance(preset.label, (*reasons, str(exc)))
    reasons += _size_reasons(rendered.width, rendered.height, preset)
    reasons += _subject_reasons(rendered.pixels, rendered.box, (image.width, image.height), preset)
    return Compliance(preset.label, tuple(reasons))


def _format_reasons(options: ExportOptions, preset: Preset) -> list[str]:
    if options.output == "mask":
        return ["a mask is not a listing image: export the cutout"]
    reasons = []
    if options.format not in preset.formats:
        accepted = " or ".join(f.upper() for f in preset.formats)
        reasons.append(f"wrong format: {options.format.upper()} (use {accepted})")
    background = options.background
    if background != preset.white:
        if background is None:
            shown = "transparent"
        elif isinstance(background, tuple):
            shown = "#{:02x}{:02x}{:02x}".format(*background)
        else:
            shown = "an image"
        reasons.append(f"background not pure white ({shown})")
    if options.shadow != "none" and not preset.shadows:  # the background check is of the options, never the shadow's pixels
        reasons.append(f"shadow not allowed ({options.shadow}: {preset.label}'s main image is the product alone)")
    return reasons


def _colour_reasons(image: LoadedImage, options: ExportOptions, preset: Preset) -> list[str]:
    """The output's colour profile (the photo's, or sRGB where it is converted) must be sRGB (or
    none, read as sRGB)."""
    profile = output_profile(image.icc_profile, options.colour_space)
    if not preset.srgb or is_srgb(profile):
        return []
    assert profile is not None  # no profile is sRGB
    # converting was asked for and the profile refused it (broken), or it was not asked for
    hint = ": cannot be converted" if options.colour_space == "srgb" else ": convert it (colour space sRGB)"
    return [f"colour space not sRGB ({colour_space_name(profile)}{hint})"]


def _size_reasons(width: int, height: int, preset: Preset) -> list[str]:
    long_side, short_side = max(width, height), min(width, height)
    reasons = []
    if long_side < preset.min_long_side or short_side < preset.min_short_side:
        need = f"{preset.min_long_side} px on the long side"
        if preset.min_short_side:
            need = f"{preset.min_short_side} px on each side"
        reasons.append(f"resolution too low: {width}x{height} px, needs {need} (not upscaled)")
    if preset.max_long_side and long_side > preset.max_long_side:
        reasons.append(f"resolution too high: {width}x{height} px, at most {preset.max_long_side} px")
    if preset.square and width != height:
        reasons.append(f"not square: {width}x{height} px")
    return reasons


def _subject_reasons(mask: np.ndarray, box: tuple[int, int, int, int], photo_size: tuple[int, int],
                     preset: Preset) -> list[str]:
    """Fill and framing, from the mask canvas (``box``: the canvas in photo pixels)."""
    inside = mask > round(SUBJECT_THRESHOLD * 255)  # the subject as crop-to-subject sees it
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    if not rows.size:
        return ["no subject: the mask is empty"]
    height, width = mask.shape
    x0, y0, x1, y1 = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    # the product's long side against the frame (the tighter of the two axes)
    fill = max((x1 - x0) / width, (y1 - y0) / height)
    reasons = []
    if fill < preset.min_fill:
        reasons.append(f"subject too small: fills {fill:.0%} of the frame, needs {preset.min_fill:.0%}")
    elif fill > preset.max_fill:
        reasons.append(f"subject too big: fills {fill:.0%} of the frame, at most {preset.max_fill:.0%}")
    frame = [x0 == 0, y0 == 0, x1 == width, y1 == height]
    # where the canvas reaches past the photo, a subject running up to the photo's edge is cut off
    bx0, by0, bx1, by1 = box
    photo_w, photo_h = photo_size
    cut = [bx0 < 0 and x0 == -bx0, by0 < 0 and y0 == -by0,
           bx1 > photo_w and x1 == photo_w - bx0, by1 > photo_h and y1 == photo_h - by0]
    if any(frame):
        reasons.append(f"subject touches the frame ({', '.join(s for s, t in zip(_SIDES, frame) if t)})")
    if any(cut):
        reasons.append(f"subject cut off by the photo's edge ({', '.join(s for s, t in zip(_SIDES, cut) if t)})")
    return reasons
