"""Marketplace presets: one table of what each marketplace's main image needs.

A preset is data. ``sets`` are :class:`~cutout_studio.core.export.options.ExportOptions` values
(background, format, crop, padding, square canvas) applied beneath whatever the user gives
explicitly (:func:`preset_values`); the other fields are what :mod:`.compliance` checks on
every photo. Adding a marketplace is one :class:`Preset` entry here.

Sources (read 2026; none of the marketplaces publishes a machine-readable rule set, so each
rule cites the page it comes from, and where no rule could be found the choice is the
conservative one and says so):

- Amazon main image: pure white RGB 255,255,255; the product fills at least 85 % of the frame,
  measured on its longest side; the whole product in the frame (not cropped by the edges);
  JPEG preferred, PNG/TIFF/GIF accepted, WebP not accepted by Seller Central; sRGB; 1,000 px on
  the long side enables zoom, 1,600 px recommended; at most 10,000 px.
  https://changethisfile.com/blog/convert-images-for-amazon-seller-central,
  https://editthispic.com/guides/amazon-product-photo-requirements,
  https://www.mercatuslab.com/blog/amazon-product-image-requirements/
- eBay: at least 500 px on the longest side (official policy,
  https://www.ebay.com/help/policies/listing-policies/picture-policy?id=4370), about
  1600 x 1600 recommended (https://www.usepixora.com/resource/ebay-photo-requirements-guide);
  JPEG or PNG (https://plomz.com/guide/ebay-image-requirements-for-sellers-2026). No rule for
  the background or the fill was found: white and Amazon's 85 % are used (conservative).
- Shopify: 2048 x 2048 square recommended, at most 4472 x 4472 px; JPEG, PNG, GIF, WebP
  (https://www.pixfocal.com/guides/shopify-product-image-size). No background or fill rule was
  found: white and 85 % (conservative).
- Etsy: 2000 px recommended; the sources disagree on whether the long or the short side is
  meant (https://hauld.app/blog/etsy-listing-photo-checklist: long side;
  https://iterationlayer.com/blog/ecommerce-product-image-optimization: short side), so both
  sides (a square canvas) are held to 2000 px; JPEG, PNG or GIF. Thumbnails are cropped to
  several ratios (https://www.etsyshop.ai/to-sell-on-etsy/etsys-new-thumbnail-image-format-revealed-3538):
  no fill rule was found, so a smaller fill (80 %) keeps the product clear of those crops.

Shadows: Amazon's main image is the product alone on pure white (the pages above); a shadow
is taken as not allowed there (conservative). No shadow rule was found for the others, whose
listings commonly show a contact or drop shadow on white: allowed. A preset that does not
allow one sets ``shadow = "none"``; one asked for over it (a flag, a recipe, the editor) is
written as asked and the check reports it ("shadow not allowed"), like any other rule.

No marketplace states an upper bound for the fill: every preset keeps a margin (at most 95 %,
and never touching the frame) so that the product is never cropped. Colour space: only Amazon
names sRGB; it is what browsers assume for untagged images, so every preset requires it and
converts to it (``colour_space = "srgb"``: an Adobe RGB or Display P3 photo is converted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PRESETS", "Preset", "padding_for_fill", "preset_values"]


@dataclass(frozen=True)
class Preset:
    """One marketplace's main-image rules: what the preset sets and what the check checks."""

    name: str  #: the key users type ("amazon")
    label: str  #: shown in the editor and in the check's line ("Amazon")
    #: the fraction of the frame the product's long side fills in what the preset makes
    fill: float
    min_fill: float  #: below this: "subject too small"
    max_fill: float  #: above this: "subject too big"
    min_long_side: int  #: px; below: "resolution too low" (never upscaled to fake it)
    formats: tuple[str, ...]  #: accepted formats (keys of the format table)
    format: str = "jpeg"  #: what the preset writes
    min_short_side: int = 0  #: px; 0: no rule
    max_long_side: int = 0  #: px; 0: no rule found
    square: bool = True  #: the marketplace wants a square canvas
    srgb: bool = True  #: the output is converted to sRGB and must be sRGB (an untagged photo is taken as sRGB)
    white: tuple[int, int, int] = (255, 255, 255)  #: the background it sets and checks
    shadows: bool = True  #: a shadow under the product is accepted on the main image
    source: str = ""  #: where the rules come from (the module's docstring has all of them)


# The fill a preset aims at sits a little above its minimum: the padding is whole pixels, and
# rounding it must not push an output just under the limit.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("amazon", "Amazon", fill=0.86, min_fill=0.85, max_fill=0.95, min_long_side=1600,
               max_long_side=10000, formats=("jpeg", "png"), shadows=False,
               source="https://changethisfile.com/blog/convert-images-for-amazon-seller-central"),
        Preset("ebay", "eBay", fill=0.86, min_fill=0.85, max_fill=0.95, min_long_side=1600,
               formats=("jpeg", "png"),
               source="https://www.ebay.com/help/policies/listing-policies/picture-policy?id=4370"),
        Preset("shopify", "Shopify", fill=0.86, min_fill=0.85, max_fill=0.95, min_long_side=2048,
               max_long_side=4472, formats=("jpeg", "png", "webp"),
               source="https://www.pixfocal.com/guides/shopify-product-image-size"),
        Preset("etsy", "Etsy", fill=0.81, min_fill=0.80, max_fill=0.95, min_long_side=2000,
               min_short_side=2000, formats=("jpeg", "png"),
               source="https://hauld.app/blog/etsy-listing-photo-checklist"),
    )
}


def padding_for_fill(fill: float) -> float:
    """Padding in % of the subject box (per side) that makes the box's long side ``fill`` of the
    frame: the padded side is ``(1 + 2·p/100)`` times the subject's."""
    return round((1 / fill - 1) / 2 * 100, 2)  # two decimals: what the export dialog shows


def preset_values(name: str) -> dict[str, Any]:
    """The :class:`ExportOptions` values preset ``name`` sets (KeyError when unknown): the base
    layer beneath the values given explicitly (recipe, flags, the export dialog)."""
    preset = PRESETS[name]
    shadow = {} if preset.shadows else {"shadow": "none"}
    colours = {"colour_space": "srgb"} if preset.srgb else {}
    return shadow | colours | {
        "preset": preset.name,
        "format": preset.format,
        "quality": None,
        "background": "#{:02x}{:02x}{:02x}".format(*preset.white),
        "crop": True,
        "padding": padding_for_fill(preset.fill),
        "padding_unit": "%",
        "square": preset.square,
        "output": "cutout",
    }
