"""Writing: render, encode with the format's encoder, and write atomically.

A failed export never leaves a half-written file (see :mod:`cutout_studio.core.atomic`), never
touches the source photo and never replaces an existing file unless asked to.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cutout_studio.core.atomic import atomic_write, describe_os_error
from cutout_studio.core.errors import ExportError
from cutout_studio.core.export.clip_path import is_our_svg
from cutout_studio.core.export.formats import FORMATS, MASK_FORMAT
from cutout_studio.core.export.options import ExportOptions, output_suffix
from cutout_studio.core.export.render import RenderedCutout, render_cutout
from cutout_studio.core.image_io import LoadedImage

__all__ = ["encode_to_bytes", "export_cutout"]


def export_cutout(
    image: LoadedImage, alpha: np.ndarray, dest: str | os.PathLike[str], options: ExportOptions
) -> Path:
    """Render and write the cutout to ``dest``; returns the path written (with a clipping
    path, its SVG is written beside it: the same name ending in .svg).

    A ``dest`` without suffix gets :func:`output_suffix`; a suffix that does not match the
    format is refused. Raises :class:`ExportError` (one line, naming the file) when the
    destination is the source photo, exists and ``overwrite`` is off, or cannot be written.
    """
    target = _destination(Path(dest), options)
    _refuse_source(target, image)
    if target.is_dir():
        raise ExportError(f"{target.name}: is a folder, not a file name")
    if not options.overwrite and target.exists():
        raise ExportError(f"{target.name}: already exists (use overwrite)")
    svg = target.with_suffix(".svg") if options.writes_clip_path else None  # the clipping path beside it
    replace_svg = options.overwrite or (svg is not None and _sidecar_may_go(svg, target))
    rendered = render_cutout(image, alpha, options)
    write = _encoder(rendered, options)
    try:
        atomic_write(target, write, overwrite=options.overwrite)
        if svg is not None and rendered.clip_path is not None:
            svg_text = rendered.clip_path.svg().encode("utf-8")
            atomic_write(svg, lambda stream: stream.write(svg_text), overwrite=replace_svg)
    except ExportError:
        raise
    except FileExistsError:  # taken meanwhile (another batch worker, another process)
        raise ExportError(f"{target.name}: already exists (use overwrite)") from None
    except OSError as exc:
        raise ExportError(f"{target.name}: cannot write: {describe_os_error(exc)}") from None
    except MemoryError:
        raise ExportError(f"{target.name}: not enough memory to encode the image") from None
    except ValueError as exc:  # Pillow's refusals (an option the format does not take)
        raise ExportError(f"{target.name}: cannot encode: {exc}") from None
    return target


def _sidecar_may_go(svg: Path, target: Path) -> bool:
    """The clipping path's SVG belongs to its output: with overwrite (the user confirmed replacing
    the output) it is replaced like the output; without, a file of its name is replaced only when
    it is one of our own sidecars (left by an earlier export of that name, or a deleted output).
    Anything else is in the way: refused with one line naming it, before anything is written."""
    if not svg.exists():
        return False
    if is_our_svg(svg):
        return True
    raise ExportError(f"{svg.name}: is in the way of {target.name}'s clipping path (not one of ours): "
                      "move or rename it, or overwrite")


def encode_to_bytes(rendered: RenderedCutout, options: ExportOptions) -> bytes:
    """The encoded file in memory (for tests and for callers that send the file elsewhere)."""
    buffer = io.BytesIO()
    _encoder(rendered, options)(buffer)
    return buffer.getvalue()


def _encoder(rendered: RenderedCutout, options: ExportOptions) -> Callable[[BinaryIO], None]:
    """A function that writes the encoded file to a binary stream."""
    height, width = rendered.pixels.shape[:2]
    fmt = MASK_FORMAT if rendered.mode == "L" else FORMATS[options.format]
    if max(width, height) > fmt.max_side:
        raise ExportError(
            f"{fmt.name.upper()} cannot hold {width}×{height} pixels (at most {fmt.max_side} per side): "
            "export PNG"
        )
    return lambda stream: fmt.encode(stream, rendered, options.quality)


def _destination(dest: Path, options: ExportOptions) -> Path:
    suffix = dest.suffix.lower()
    if not suffix:
        return dest.with_name(dest.name + output_suffix(options))
    accepted = options.file_format.suffixes
    if suffix not in accepted:
        kind = "a mask (PNG)" if options.output == "mask" else options.format.upper()
        raise ExportError(
            f"{dest.name}: the name ends in {dest.suffix} but the export is {kind}; use {accepted[0]}"
        )
    return dest


def _refuse_source(target: Path, image: LoadedImage) -> None:
    if image.path is None:
        return
    same = target.resolve() == image.path.resolve()
    if not same and target.exists() and image.path.exists():
        with suppress(OSError):
            same = os.path.samefile(target, image.path)  # hard links, case-insensitive disks
    if same:
        raise ExportError(f"{target.name}: is the source photo; refusing to write over it")
