"""The command line's export and edge flags, and the options they make (layered over a recipe
and a marketplace preset): shared by ``cut`` and ``batch``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cutout_studio.core.options import OptionsError, Range, spec

if TYPE_CHECKING:
    from cutout_studio.core.export import ExportOptions
    from cutout_studio.core.recipes import Recipe


class UsageError(Exception):
    """Arguments that parse but make no sense together; reported like argparse's own errors."""


def add_export_options(p: argparse.ArgumentParser) -> None:
    """The export and edge flags; their ranges and format choices come from the option schema.
    Every default is None ("not given"): the defaults, a marketplace preset and a recipe are
    layered beneath the flags given (:func:`~cutout_studio.core.recipes.options_from_layers`)."""
    from cutout_studio.core.edges import EdgeOptions
    from cutout_studio.core.export import FORMATS, ExportOptions
    from cutout_studio.core.export.colour import COLOUR_SPACES
    from cutout_studio.core.export.presets import PRESETS
    from cutout_studio.core.export.shadow import SHADOW_KINDS

    s = p.add_argument_group(
        "shoot", "a recipe or a preset sets many options at once; the flags given here override their values")
    s.add_argument("--recipe", type=Path, metavar="FILE",
                   help="a recipe (TOML, saved from the editor): model, edges, export options, preset, naming")
    s.add_argument("--preset", choices=tuple(PRESETS), type=str.lower,
                   help="a marketplace's main-image rules: sets white background, JPEG, crop with the product "
                        "filling the frame as the marketplace wants, square canvas; each output is checked "
                        "(resolution, fill, framing, background, format, sRGB) and the reasons it fails are "
                        "reported (the report's compliance column)")
    s.add_argument("--clean-plate", type=Path, metavar="FILE",
                   help="a photo of the empty backdrop of this set-up: each photo is aligned to it and compared "
                        "with it as well as run through the model (white-on-white and glass products); "
                        "a plate that does not line up with a photo is not used for it, with a note")
    g = p.add_argument_group("export")
    g.add_argument("--format", choices=tuple(FORMATS), type=_format_name,
                   help="default: png (jpg and tif are accepted for jpeg and tiff)")
    quality = "; ".join(f"{f.name.upper()} {f.quality}" for f in FORMATS.values() if f.quality)
    g.add_argument("--quality", type=int, help=quality)
    g.add_argument("--background", help="fill colour (#rrggbb, name, r,g,b) or an image file; default transparent")
    g.add_argument("--crop", action=argparse.BooleanOptionalAction, help="crop to the subject (default: no)")
    g.add_argument("--padding", help=f"padding around the crop, px or %% (e.g. 20 or 5%%), "
                                     f"{range_help(ExportOptions, 'padding')} (default: 0)")
    g.add_argument("--square", action=argparse.BooleanOptionalAction, help="place the result on a square canvas")
    g.add_argument("--output", choices=("cutout", "mask"), dest="output_kind",
                   help="cutout image (default), or the 8-bit mask as PNG")
    g.add_argument("--clip-path", action=argparse.BooleanOptionalAction,
                   help="a vector clipping path fitted to the outline: NAME.svg beside each output, and "
                        "Photoshop's clipping path inside JPEG, TIFF and PSD outputs")
    g.add_argument("--clip-path-tolerance", type=float, metavar="PX",
                   help=f"how far the path's curves may stray from the outline, "
                        f"{range_help(ExportOptions, 'clip_path_tolerance')} (default: 1)")
    sh = p.add_argument_group("shadow", "a shadow under the cutout, drawn on the background (or as "
                                        "semi-transparent black in a transparent output; its own layer in a PSD)")
    sh.add_argument("--shadow", choices=SHADOW_KINDS, type=str.lower,
                    help="contact: soft dark ellipse under the base; drop: the silhouette offset along "
                         "--shadow-angle; keep: the photo's own shadow; default: none")
    for flag, name, metavar, what in (
        ("--shadow-angle", "shadow_angle", "DEG", "where a drop shadow falls, clockwise from pointing right "
                                                  "(90 = straight down)"),
        ("--shadow-distance", "shadow_distance", "PCT", "a drop shadow's offset, a contact shadow's spread, "
                                                        "in %% of the subject's height"),
        ("--shadow-softness", "shadow_softness", "PCT", "the blur, in %% of the subject's height"),
        ("--shadow-opacity", "shadow_opacity", "0..1", "the darkest opacity (default: keep 1, contact 0.6, "
                                                       "drop 0.5)"),
    ):
        sh.add_argument(flag, type=float, metavar=metavar, dest=name, help=f"{what}, {range_help(ExportOptions, name)}")
    g.add_argument("--colour-space", choices=COLOUR_SPACES, type=str.lower, dest="colour_space",
                   help="keep: embed the photo's colour profile as it is (default); srgb: convert the pixels "
                        "from it (Adobe RGB, Display P3, ...) to sRGB and embed sRGB, as marketplaces expect "
                        "(every --preset sets it)")
    g.add_argument("--naming", metavar="PATTERN",
                   help="output file name without extension; {stem} is the photo's name "
                        "(e.g. {stem}_white; default: {stem})")
    g.add_argument("--overwrite", action="store_true", help="replace existing outputs (never the source)")
    e = p.add_argument_group("edges")
    e.add_argument("--feather", type=float, help=f"soften the edge by this radius, {range_help(EdgeOptions, 'feather')}")
    e.add_argument("--shift", type=float, help=f"grow (+) or shrink (-) the mask, {range_help(EdgeOptions, 'shift')}")
    e.add_argument("--matting", action=argparse.BooleanOptionalAction,
                   help="alpha matting in a thin band at the edge (slower)")
    e.add_argument("--no-decontaminate", action="store_true", default=None, help="keep edge colours as they are")
    e.add_argument("--min-island", type=whole_number("min_island", spec(EdgeOptions, "min_island")),
                   metavar="PX", help=f"drop islands and fill holes smaller than this, "
                                      f"{range_help(EdgeOptions, 'min_island')} (the main subject stays)")


#: the shadow options, each set by the flag of its name (--shadow, --shadow-angle, ...)
SHADOW_FLAGS = ("shadow", "shadow_angle", "shadow_distance", "shadow_softness", "shadow_opacity")


def _format_name(text: str) -> str:
    """The table's name for ``text`` or one of its aliases ("tif" -> "tiff"); else as typed, for
    argparse's list of choices."""
    from cutout_studio.core.export import find_format

    fmt = find_format(text)
    return fmt.name if fmt is not None else text.lower()


def range_help(cls: type, name: str) -> str:
    return spec(cls, name).describe().replace("%", "%%")  # argparse formats help with %


def whole_number(name: str, allowed: Range) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number in ``allowed`` (a range of the option schema)."""

    def parse(text: str) -> int:
        try:
            return int(allowed.check(name, int(text)))
        except ValueError as exc:  # int() or the range (OptionsError is a ValueError)
            message = str(exc) if isinstance(exc, OptionsError) else f"not a whole number: '{text}'"
            raise argparse.ArgumentTypeError(message) from None

    return parse


def export_options_from_args(args: argparse.Namespace) -> ExportOptions:
    """ExportOptions from the parsed export/edge flags, over the recipe's and the preset's
    values. Only parsing happens here: every rule (ranges, JPEG needs a background, a readable
    background image) is the options' own, and what they refuse is a usage error (naming the
    recipe's file and key when the value came from there)."""
    from cutout_studio.core.recipes import options_from_layers

    given = {name: value for name, value in (
        ("preset", args.preset), ("format", args.format), ("quality", args.quality),
        ("background", args.background), ("crop", args.crop), ("square", args.square),
        ("output", args.output_kind), ("naming", args.naming), ("overwrite", args.overwrite),
        ("clip_path", args.clip_path), ("clip_path_tolerance", args.clip_path_tolerance),
        ("colour_space", getattr(args, "colour_space", None)),
        ("clean_plate", getattr(args, "clean_plate", None)),
        *((name, getattr(args, name, None)) for name in SHADOW_FLAGS),
    ) if value is not None}
    if args.padding is not None:
        padding_text = str(args.padding).strip()
        given["padding_unit"] = "%" if padding_text.endswith("%") else "px"
        try:
            given["padding"] = float(padding_text.rstrip("%").removesuffix("px"))
        except ValueError:
            raise UsageError(f"--padding: expected a number of px or a percentage, got '{args.padding}'") from None
    edges = {name: value for name, value in (
        ("feather", args.feather), ("shift", args.shift), ("matting", args.matting), ("min_island", args.min_island),
        ("decontaminate", None if args.no_decontaminate is None else not args.no_decontaminate),
    ) if value is not None}
    try:
        return options_from_layers(recipe_of(args), given, edges)
    except OptionsError as exc:
        raise UsageError(str(exc)) from None


def recipe_of(args: argparse.Namespace) -> Recipe | None:
    """The ``--recipe`` file, read once (a bad one is a usage error naming the file and key)."""
    from cutout_studio.core.recipes import load_recipe

    if getattr(args, "recipe", None) is None:
        return None
    if not hasattr(args, "_loaded_recipe"):
        try:
            args._loaded_recipe = load_recipe(args.recipe)
        except OptionsError as exc:
            raise UsageError(str(exc)) from None
    loaded: Recipe = args._loaded_recipe
    return loaded
