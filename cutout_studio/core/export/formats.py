"""The one table of output formats: the writer, the command line's ``--format`` choices and
the export dialog all read it.

Adding a format is one :class:`OutputFormat` entry (with :func:`register_format`) plus its
encoder in :mod:`.encode`: options validation (suffixes, quality, whether a background is
needed), the CLI and the dialog follow from the entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from PIL import features

from cutout_studio.core.export.encode import (
    encode_avif,
    encode_jpeg,
    encode_png,
    encode_psd,
    encode_tiff,
    encode_webp,
)
from cutout_studio.core.export.psd import MAX_SIDE as PSD_MAX_SIDE

if TYPE_CHECKING:
    from cutout_studio.core.export.render import RenderedCutout

__all__ = ["FORMATS", "MASK_FORMAT", "OutputFormat", "find_format", "register_format"]

Encoder = Callable[[BinaryIO, "RenderedCutout", "int | None"], None]


@dataclass(frozen=True)
class OutputFormat:
    """What one output format can hold and how it is written."""

    name: str  #: the key users type ("png")
    label: str  #: the export dialog's description
    suffixes: tuple[str, ...]  #: accepted file name suffixes; the first is what we write
    alpha: bool  #: can hold transparency (otherwise the options require a background)
    deep: bool  #: writes 16 bits per channel when the photo has them
    layers: bool  #: holds layers: the render adds the cutout masked over the hidden photo
    quality: str | None  #: what ``quality`` 1..100 means here; None: not used
    max_side: int  #: the largest width or height the format can hold
    encode: Encoder
    aliases: tuple[str, ...] = ()  #: other spellings accepted for ``name`` ("jpg")

    @property
    def suffix(self) -> str:
        return self.suffixes[0]


FORMATS: dict[str, OutputFormat] = {}


def register_format(fmt: OutputFormat) -> None:
    """Add ``fmt`` to the table (replacing an entry of the same name)."""
    FORMATS[fmt.name] = fmt


def find_format(name: str) -> OutputFormat | None:
    """The entry for ``name`` or one of its aliases, in any case; None when unknown."""
    key = str(name).strip().lower()
    return FORMATS.get(key) or next((f for f in FORMATS.values() if key in f.aliases), None)


register_format(OutputFormat(
    name="png", label="PNG (lossless, transparent)", suffixes=(".png",), alpha=True, deep=True,
    layers=False, quality=None, max_side=2**31 - 1, encode=encode_png,
))
register_format(OutputFormat(
    name="webp", label="WebP (small, transparent)", suffixes=(".webp",), alpha=True, deep=False,
    layers=False, quality="1–99 lossy, 100 or unset lossless",
    max_side=16383,  # a limit of the WebP format itself
    encode=encode_webp,
))
register_format(OutputFormat(
    name="jpeg", label="JPEG (needs a background)", suffixes=(".jpg", ".jpeg", ".jpe"), alpha=False,
    deep=False, layers=False, quality="1–100 (unset: 92)", max_side=65535, encode=encode_jpeg,
    aliases=("jpg",),
))
register_format(OutputFormat(
    name="tiff", label="TIFF (lossless, transparent, 16-bit, for print)", suffixes=(".tif", ".tiff"), alpha=True,
    deep=True, layers=False, quality=None, max_side=65535, encode=encode_tiff, aliases=("tif",),
))
register_format(OutputFormat(
    name="psd", label="PSD (layers: the cutout masked over the photo)", suffixes=(".psd",), alpha=True,
    deep=False, layers=True, quality=None, max_side=PSD_MAX_SIDE, encode=encode_psd,
))
if "avif" in features.get_supported_modules():  # Pillow 11.2+ built with libavif
    register_format(OutputFormat(
        name="avif", label="AVIF (small, transparent)", suffixes=(".avif",), alpha=True, deep=False,
        layers=False, quality="1–100 (unset: 85)",
        max_side=65535,  # AV1's frame limit
        encode=encode_avif,
    ))

#: Mask output is always an 8-bit greyscale PNG, whatever the format option says.
MASK_FORMAT = FORMATS["png"]
