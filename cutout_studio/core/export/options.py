"""What to write: :class:`ExportOptions`, checked entirely on construction.

Every rule lives here, so the command line, the API, the batch and the editor share it: the
numeric ranges (declared once on the fields, see :mod:`cutout_studio.core.options`), the
format table's rules (a format without transparency needs a background), and the background
image, which is read once here rather than failing photo after photo later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ImageColor

from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.errors import ImageLoadError
from cutout_studio.core.export.colour import COLOUR_SPACES
from cutout_studio.core.export.formats import MASK_FORMAT, OutputFormat, find_format
from cutout_studio.core.export.presets import PRESETS
from cutout_studio.core.export.shadow import SHADOW_KINDS, ShadowOptions
from cutout_studio.core.image_io import load_image
from cutout_studio.core.options import Options, OptionsError, choice, number

__all__ = [
    "DEFAULT_NAMING",
    "PADDING_PERCENT_MAX",
    "ExportOptions",
    "check_naming",
    "output_stem",
    "output_suffix",
    "parse_color",
]

#: Outputs are named like their photos (``shoe.jpg`` -> ``shoe.png``).
DEFAULT_NAMING = "{stem}"
_NAMING_FIELD = re.compile(r"\{([^{}]*)\}")

#: Padding in % of the subject box is capped lower than in px: 1000 % already puts the
#: subject on a canvas 21× its size, and the canvas (not the photo) sets the memory used.
PADDING_PERCENT_MAX = 1000.0


@dataclass(frozen=True)
class ExportOptions(Options):
    """What to write. Invalid values and combinations raise :class:`OptionsError` (an
    :class:`~cutout_studio.core.errors.ExportError`-like CutoutError and a ValueError) when constructed."""

    format: str = "png"  #: a key of :data:`~.formats.FORMATS` ("jpg" is accepted for "jpeg")
    #: webp: None or 100 = lossless, 1..99 = lossy; jpeg: 1..100 (None = 92); png: ignored
    quality: int | None = number(None, 1, 100, integer=True)
    #: None = transparent; an (r, g, b) colour, a colour text ("#ff8800", "white") or an image file
    background: tuple[int, int, int] | str | Path | None = None
    crop: bool = False  #: crop to the subject (alpha > SUBJECT_THRESHOLD) ...
    #: ... with this margin on every side (10000 px: beyond it the margin, not the photo,
    #: fills the canvas; in % the limit is PADDING_PERCENT_MAX) ...
    padding: float = number(0.0, 0, 10000, unit="px")
    padding_unit: str = choice("px", ("px", "%"))  #: ... in px, or % of the subject box (per axis)
    square: bool = False  #: widen the shorter side to a square canvas, content centred
    output: str = choice("cutout", ("cutout", "mask"))  #: "mask": the alpha as 8-bit greyscale PNG
    #: a vector clipping path fitted to the output's outline (alpha 0.5): NAME.svg beside the
    #: output, and embedded as Photoshop's clipping path in JPEG, TIFF and PSD outputs ...
    clip_path: bool = False
    #: ... its Bézier curves within this distance of the outline
    clip_path_tolerance: float = number(1.0, 0.1, 20, unit="px")
    #: a shadow under the cutout (:mod:`.shadow`): "contact" (a soft dark ellipse under the
    #: base), "drop" (the silhouette offset along an angle), "keep" (the photo's own shadow)
    shadow: str = choice("none", SHADOW_KINDS)
    #: where a drop shadow falls, clockwise from pointing right (0 right, 90 down, 180 left)
    shadow_angle: float = number(45.0, 0, 360, unit="°")
    #: % of the subject's height: a drop shadow's offset, how far a contact shadow spreads
    shadow_distance: float = number(5.0, 0, 100, unit="%")
    #: % of the subject's height: the shadow's blur
    shadow_softness: float = number(3.0, 0, 50, unit="%")
    #: the shadow's darkest opacity; None: the kind's own (keep 1, contact 0.6, drop 0.5)
    shadow_opacity: float | None = number(None, 0, 1)
    #: the output's colours: "keep" embeds the photo's own ICC profile as it is; "srgb" converts
    #: the pixels from it to sRGB and embeds sRGB (:mod:`.colour`; what marketplaces expect)
    colour_space: str = choice("keep", COLOUR_SPACES)
    #: the output's file name without its extension: ``{stem}`` is the photo's name without
    #: its extension ("{stem}_cutout" makes shoe_cutout.png); the planner, Export all, quick
    #: export and the batch all name files through it
    naming: str = DEFAULT_NAMING
    #: the marketplace whose main-image rules each output is checked against (None: no check);
    #: its values are applied where the options are built (:func:`~.presets.preset_values`)
    preset: str | None = field(default=None, metadata={"choices": (None, *PRESETS)})
    #: the empty backdrop of the shoot's set-up, shot once (:mod:`~cutout_studio.core.clean_plate`):
    #: each photo is aligned to it and compared with it as well as run through the model
    clean_plate: Path | None = None
    #: a per-run choice, never stored with the preset
    overwrite: bool = field(default=False, metadata={"stored": False})
    edges: EdgeOptions = field(default_factory=EdgeOptions)

    def __post_init__(self) -> None:
        fmt = find_format(self.format)
        if fmt is None:
            raise OptionsError(f"unknown export format {self.format!r}: choose {_format_names()}", "format")
        object.__setattr__(self, "format", fmt.name)
        try:
            self._check_fields()
        except OptionsError as exc:
            if exc.field == "quality" and fmt.quality:
                raise OptionsError(f"{exc} ({fmt.name.upper()} quality: {fmt.quality})", "quality") from None
            raise
        if self.padding_unit == "%" and self.padding > PADDING_PERCENT_MAX:
            raise OptionsError(f"padding must be 0 to {PADDING_PERCENT_MAX:g} %, got {self.padding:g}", "padding")
        if not isinstance(self.edges, EdgeOptions):
            raise OptionsError(f"edges must be EdgeOptions, got {type(self.edges).__name__}", "edges")
        object.__setattr__(self, "naming", check_naming(self.naming))
        object.__setattr__(self, "background", _checked_background(self.background))
        object.__setattr__(self, "clean_plate", _checked_plate(self.clean_plate))
        if self.output == "cutout" and not fmt.alpha and self.background is None:
            raise OptionsError(
                f"{fmt.name.upper()} has no transparency: choose a background colour or image, "
                f"or export {_format_names(alpha=True)}",
                "format",
            )

    @property
    def shadow_options(self) -> ShadowOptions:
        return ShadowOptions(self.shadow, self.shadow_angle, self.shadow_distance, self.shadow_softness,
                             self.shadow_opacity)

    @property
    def transparent(self) -> bool:
        return self.background is None

    @property
    def writes_clip_path(self) -> bool:
        """A clipping path goes with a cutout (a mask output is the outline's raster already)."""
        return self.clip_path and self.output == "cutout"

    @property
    def file_format(self) -> OutputFormat:
        """The table entry of what is written (PNG for a mask, whatever ``format`` says)."""
        return MASK_FORMAT if self.output == "mask" else _entry(self.format)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportOptions:
        """As :meth:`Options.from_dict`; also reads the flat edge keys (``feather``, ``shift``,
        ...) that settings files written before the edges were nested hold."""
        legacy = {f.name for f in fields(EdgeOptions)} & data.keys()
        if legacy and "edges" not in data:
            data = {k: v for k, v in data.items() if k not in legacy} | {"edges": {k: data[k] for k in legacy}}
        return super().from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if isinstance(self.background, tuple):
            data["background"] = "#{:02x}{:02x}{:02x}".format(*self.background)
        return data


def check_naming(pattern: object) -> str:
    """``pattern`` if it names each photo's output uniquely and safely, else OptionsError.

    It must hold ``{stem}`` (without it every photo would get the same name), no other field,
    no folder separator and nothing a file system refuses."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise OptionsError("file name pattern must be text containing {stem}, e.g. {stem}_cutout", "naming")
    fields_used = _NAMING_FIELD.findall(pattern)
    others = sorted({f for f in fields_used if f != "stem"})
    if others:
        raise OptionsError(f"file name pattern: unknown field {{{others[0]}}}: only {{stem}} is known", "naming")
    if "stem" not in fields_used:
        raise OptionsError(f"file name pattern must contain {{stem}} (every photo would get one name): {pattern!r}",
                           "naming")
    literal = _NAMING_FIELD.sub("", pattern)
    bad = sorted(set(literal) & set('/\\:*?"<>|{}'))
    if bad or any(ord(c) < 32 for c in literal):
        shown = bad[0] if bad else "a control character"
        raise OptionsError(f"file name pattern: {shown!r} cannot be part of a file name: {pattern!r}", "naming")
    if pattern != pattern.strip() or pattern.endswith("."):
        raise OptionsError(f"file name pattern must not start or end with a space or end with '.': {pattern!r}",
                           "naming")
    return pattern


def _entry(name: str) -> OutputFormat:
    fmt = find_format(name)
    assert fmt is not None  # validated on construction
    return fmt


def _format_names(*, alpha: bool | None = None) -> str:
    from cutout_studio.core.export.formats import FORMATS

    names = [f.name for f in FORMATS.values() if alpha is None or f.alpha == alpha]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def _checked_background(background: object) -> tuple[int, int, int] | Path | None:
    """A colour as (r, g, b), or an image file that was read successfully once."""
    if background is None:
        return None
    if isinstance(background, (tuple, list)):
        if len(background) != 3 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v <= 255 for v in background
        ):
            raise OptionsError(f"background colour must be three values 0..255, got {background!r}", "background")
        return (int(background[0]), int(background[1]), int(background[2]))
    if isinstance(background, str):
        try:
            return parse_color(background)
        except ValueError:
            path = Path(background).expanduser()
            looks_like_a_file = bool(path.suffix) or len(path.parts) > 1
            if not path.exists() and not looks_like_a_file:
                raise OptionsError(
                    f"background {background!r} is neither a colour (#rrggbb, a name, r,g,b) "
                    "nor an existing image file",
                    "background",
                ) from None
            background = path
    if not isinstance(background, Path):
        raise OptionsError(
            f"background must be a colour or an image file, got {type(background).__name__}", "background"
        )
    try:
        load_image(background)  # read once now: a broken file is one usage error, not N failures
    except ImageLoadError as exc:
        raise OptionsError(f"background image {exc}", "background") from None
    return background


def _checked_plate(plate: object) -> Path | None:
    """A clean plate file that was read successfully once (and is kept for the photos)."""
    from cutout_studio.core.clean_plate import CleanPlate, CleanPlateError

    if plate is None or plate == "":
        return None
    if not isinstance(plate, (str, Path)):
        raise OptionsError(f"clean plate must be an image file, got {type(plate).__name__}", "clean_plate")
    path = Path(plate).expanduser()
    try:
        CleanPlate.load(path)
    except CleanPlateError as exc:
        raise OptionsError(str(exc), "clean_plate") from None
    return path


def parse_color(text: str) -> tuple[int, int, int]:
    """An opaque colour from "#ff8800", "#f80", "white" (CSS names), "255,136,0" or "rgb(255,136,0)"."""
    value = text.strip()
    parts = [p.strip() for p in value.split(",")]
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        rgb = tuple(int(p) for p in parts)
        if all(0 <= v <= 255 for v in rgb):
            return rgb  # type: ignore[return-value]
        raise ValueError(f"colour values must be 0..255: {text!r}")
    try:
        colour = ImageColor.getrgb(value)
    except ValueError:
        raise ValueError(f"not a colour: {text!r} (use #rrggbb, a name like 'white', or r,g,b)") from None
    if len(colour) == 4 and colour[3] != 255:
        raise ValueError(f"background colours are opaque; {text!r} has transparency")
    return int(colour[0]), int(colour[1]), int(colour[2])


def output_suffix(options: ExportOptions) -> str:
    """The file name suffix of what ``options`` writes (the format's first: ".png", ".jpg", ".tif", ...)."""
    return options.file_format.suffix


def output_stem(options: ExportOptions, stem: str) -> str:
    """The output's name without extension for a photo named ``stem`` (``options.naming``)."""
    return options.naming.replace("{stem}", stem)
