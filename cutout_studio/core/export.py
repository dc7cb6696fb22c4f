"""The one export path: the GUI, the command line, the batch and the Python API all write here.

:func:`render_cutout` turns a photo and its alpha into the exact pixels of the output (so the
editor can preview what will be written), :func:`export_cutout` renders, encodes and writes
the file atomically: into a temporary file beside the destination, flushed to disk, then
renamed over it. A failed export therefore never leaves a half-written file, never touches
the source photo and never replaces an existing file unless asked to.

Memory: a 100-megapixel photo is composited strip by strip in uint8/uint16 and float32 strips;
besides the caller's photo and alpha, the output canvas is the only full-size array (plus the
encoder's own copy for RGB output), so peak memory stays in the low gigabytes.
"""

from __future__ import annotations

import errno
import io
import logging
import math
import os
import re
import secrets
import struct
import zlib
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import cv2
import numpy as np
from PIL import Image, ImageColor

from cutout_studio.core.edges import EdgeOptions, ForegroundPatch, apply_edges, foreground_patches
from cutout_studio.core.errors import ExportError, ImageLoadError
from cutout_studio.core.image_io import LoadedImage, load_image

__all__ = [
    "ExportOptions",
    "RenderedCutout",
    "export_cutout",
    "output_suffix",
    "parse_color",
    "encode_to_bytes",
    "remove_stale_temp_files",
    "render_cutout",
    "SUBJECT_THRESHOLD",
]

_log = logging.getLogger(__name__)

#: Crop to subject: pixels with alpha above this belong to the subject. Not 0: models leave
#: faint noise (alpha ~0.005) over the background that would stretch the box to the whole photo.
SUBJECT_THRESHOLD = 0.02
_DEFAULT_JPEG_QUALITY = 92
# PNG deflate: run-length matching after PNG's row filters. On cutouts of 1–24 MP photos it
# encoded 2× faster than zlib's default (level 6, what Pillow and rembg write) for files 6–22 %
# larger: encoding was the largest single cost of a batch after the model.
_PNG_COMPRESS_LEVEL = 6
_PNG_STRATEGY = zlib.Z_RLE
_WEBP_MAX_SIDE = 16383  # a limit of the WebP format itself
_JPEG_MAX_SIDE = 65535
_JPEG_MAX_EXIF = 65533  # one APP1 segment
_STRIP_PIXELS = 2_000_000  # pixels per compositing strip: ~50 MB of float32 scratch
_SUFFIXES = {"png": (".png",), "webp": (".webp",), "jpeg": (".jpg", ".jpeg", ".jpe")}


@dataclass(frozen=True)
class ExportOptions:
    """What to write. Invalid combinations raise :class:`ExportError` when constructed."""

    format: Literal["png", "webp", "jpeg"] = "png"
    #: webp: None or 100 = lossless, 1..99 = lossy; jpeg: 1..100 (None = 92); png: ignored
    quality: int | None = None
    #: None = transparent; an (r, g, b) colour, a colour text ("#ff8800", "white") or an image file
    background: tuple[int, int, int] | str | Path | None = None
    crop: bool = False  #: crop to the subject (alpha > SUBJECT_THRESHOLD) ...
    padding: float = 0.0  #: ... with this margin on every side ...
    padding_unit: Literal["px", "%"] = "px"  #: ... in px, or % of the subject box (per axis)
    square: bool = False  #: widen the shorter side to a square canvas, content centred
    output: Literal["cutout", "mask"] = "cutout"  #: "mask": the alpha as 8-bit greyscale PNG
    overwrite: bool = False
    edges: EdgeOptions = field(default_factory=EdgeOptions)

    def __post_init__(self) -> None:
        fmt = str(self.format).lower()
        fmt = "jpeg" if fmt == "jpg" else fmt
        if fmt not in _SUFFIXES:
            raise ExportError(f"unknown export format {self.format!r}: choose png, webp or jpeg")
        object.__setattr__(self, "format", fmt)
        if self.quality is not None and not (isinstance(self.quality, int) and 1 <= self.quality <= 100):
            if fmt == "webp":
                raise ExportError(f"WebP quality must be 1..99 (lossy) or 100 (lossless), got {self.quality}")
            if fmt == "jpeg":
                raise ExportError(f"JPEG quality must be 1..100, got {self.quality}")
        if not (math.isfinite(self.padding) and self.padding >= 0):
            raise ExportError(f"padding must be a number >= 0, got {self.padding}")
        if self.padding_unit not in ("px", "%"):
            raise ExportError(f"padding unit must be 'px' or '%', got {self.padding_unit!r}")
        if self.output not in ("cutout", "mask"):
            raise ExportError(f"output must be 'cutout' or 'mask', got {self.output!r}")
        background = self.background
        if isinstance(background, str):
            try:
                background = parse_color(background)
            except ValueError:
                background = Path(background)  # not a colour: an image file
        elif isinstance(background, (tuple, list)):
            if len(background) != 3 or not all(
                isinstance(v, (int, np.integer)) and 0 <= v <= 255 for v in background
            ):
                raise ExportError(f"background colour must be three values 0..255, got {background!r}")
            background = tuple(int(v) for v in background)
        elif background is not None and not isinstance(background, Path):
            raise ExportError(
                f"background must be a colour or an image file, got {type(background).__name__}"
            )
        object.__setattr__(self, "background", background)

    @property
    def transparent(self) -> bool:
        return self.background is None


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

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def bit_depth(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8


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
    """The file name suffix of what ``options`` writes: ".png", ".webp" or ".jpg"."""
    if options.output == "mask":
        return ".png"
    return _SUFFIXES[options.format][0]


# --- rendering --------------------------------------------------------------------------------


def render_cutout(image: LoadedImage, alpha: np.ndarray, options: ExportOptions) -> RenderedCutout:
    """The exact pixels :func:`export_cutout` writes for ``image`` with ``alpha``.

    ``alpha`` is the mask before the edge settings (``options.edges`` are applied here).
    Raises :class:`ExportError` for a JPEG without background or a crop of an empty mask.
    """
    if options.output == "cutout" and options.format == "jpeg" and options.transparent:
        raise ExportError("JPEG has no transparency: choose a background colour or image, or export PNG/WebP")
    alpha = _as_alpha(alpha, image)
    if options.edges.changes_alpha:
        alpha = apply_edges(image.rgb, alpha, options.edges)
    box = _canvas_box(alpha, options)
    x0, y0, x1, y1 = box
    canvas_h, canvas_w = y1 - y0, x1 - x0
    # The part of the canvas that shows the photo; the rest is padding (transparent or filled).
    px0, py0, px1, py1 = max(0, x0), max(0, y0), min(image.width, x1), min(image.height, y1)
    view = (slice(py0, py1), slice(px0, px1))
    at = (slice(py0 - y0, py1 - y0), slice(px0 - x0, px1 - x0))
    meta = {"box": box, "dpi": image.dpi}

    if options.output == "mask":
        pixels = np.zeros((canvas_h, canvas_w), np.uint8)
        _quantize_into(alpha[view], pixels[at], 255)
        return RenderedCutout(pixels=pixels, mode="L", **meta)  # an RGB ICC profile is invalid on grey

    deep = image.rgb16 is not None and options.format == "png"
    dtype, top = (np.uint16, 65535) if deep else (np.uint8, 255)
    source = image.rgb16 if deep else image.rgb
    patches = list(foreground_patches(image.rgb[view], alpha[view])) if options.edges.decontaminate else []
    meta.update(icc_profile=image.icc_profile, exif=image.exif)
    if options.transparent:
        pixels = np.zeros((canvas_h, canvas_w, 4), dtype)
        _fill_transparent(pixels[at], source[view], alpha[view], patches, top)
        return RenderedCutout(pixels=pixels, mode="RGBA", **meta)
    pixels = _background_canvas(options.background, canvas_w, canvas_h, deep)
    _composite(pixels[at], source[view], alpha[view], patches, top)
    return RenderedCutout(pixels=pixels, mode="RGB", **meta)


def _as_alpha(alpha: np.ndarray, image: LoadedImage) -> np.ndarray:
    alpha = np.asarray(alpha)
    if alpha.shape != image.rgb.shape[:2]:
        raise ValueError(f"alpha {alpha.shape} does not match the photo {image.rgb.shape[:2]}")
    if alpha.dtype == np.uint8:
        return alpha.astype(np.float32) * np.float32(1 / 255)
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


def _canvas_box(alpha: np.ndarray, options: ExportOptions) -> tuple[int, int, int, int]:
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
    else:
        x0, y0, x1, y1 = 0, 0, width, height
    if options.square:
        side = max(x1 - x0, y1 - y0)
        extra_x, extra_y = side - (x1 - x0), side - (y1 - y0)
        x0, x1 = x0 - extra_x // 2, x1 + (extra_x - extra_x // 2)
        y0, y1 = y0 - extra_y // 2, y1 + (extra_y - extra_y // 2)
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
        visible = cv2.compare(opacity[:n], 0, cv2.CMP_GT)
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
    background: tuple[int, int, int] | Path, width: int, height: int, deep: bool
) -> np.ndarray:
    dtype = np.uint16 if deep else np.uint8
    if isinstance(background, tuple):
        canvas = np.empty((height, width, 3), dtype)
        canvas[...] = np.array(background, np.uint32) * (257 if deep else 1)
        return canvas
    picture = _load_background(background).rgb
    # Scale to cover the canvas, centre-cropped: take the centred part of the picture with the
    # canvas's aspect ratio, then resize only that part.
    ph, pw = picture.shape[:2]
    scale = max(width / pw, height / ph)
    crop_w, crop_h = min(pw, max(1, round(width / scale))), min(ph, max(1, round(height / scale)))
    cx, cy = (pw - crop_w) // 2, (ph - crop_h) // 2
    part = picture[cy : cy + crop_h, cx : cx + crop_w]
    shrinking = crop_w > width or crop_h > height
    canvas = cv2.resize(part, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    return canvas.astype(np.uint16) * np.uint16(257) if deep else canvas


def _load_background(path: Path) -> LoadedImage:
    try:
        return load_image(path)
    except ImageLoadError as exc:
        raise ExportError(f"background image {exc}") from None


# --- encoding ---------------------------------------------------------------------------------


def _encoder(rendered: RenderedCutout, options: ExportOptions) -> Callable[[BinaryIO], None]:
    """A function that writes the encoded file to a binary stream."""
    height, width = rendered.pixels.shape[:2]
    fmt = "png" if rendered.mode == "L" else options.format
    if fmt == "webp" and max(width, height) > _WEBP_MAX_SIDE:
        raise ExportError(
            f"WebP cannot hold {width}×{height} pixels (at most {_WEBP_MAX_SIDE} per side): export PNG"
        )
    if fmt == "jpeg" and max(width, height) > _JPEG_MAX_SIDE:
        raise ExportError(
            f"JPEG cannot hold {width}×{height} pixels (at most {_JPEG_MAX_SIDE} per side): export PNG"
        )
    if fmt == "png" and rendered.bit_depth == 16:
        return lambda stream: _write_png16(stream, rendered)

    def write(stream: BinaryIO) -> None:
        picture = Image.fromarray(rendered.pixels)
        params: dict[str, object] = {}
        if rendered.icc_profile:
            params["icc_profile"] = rendered.icc_profile
        if rendered.exif:
            params["exif"] = rendered.exif
        if fmt == "png":
            if rendered.dpi:
                params["dpi"] = rendered.dpi
            picture.save(stream, "PNG", compress_level=_PNG_COMPRESS_LEVEL, compress_type=_PNG_STRATEGY, **params)
        elif fmt == "webp":
            lossless = options.quality in (None, 100)
            if lossless:
                # exact: keep the colours we chose under transparent pixels. Effort 10 with
                # method 1 encoded cutouts of 1.4 MP photos 2× faster than effort 30 with
                # method 3 (itself half the time of Pillow's default 80/4) for files 4 % larger.
                picture.save(stream, "WEBP", lossless=True, quality=10, method=1, exact=True, **params)
            else:
                # method 3: the same size as the default method 4 in three quarters of the time
                picture.save(stream, "WEBP", quality=options.quality, method=3, alpha_quality=100, **params)
        else:
            if rendered.dpi:
                params["dpi"] = tuple(round(v) for v in rendered.dpi)
            if rendered.exif and len(rendered.exif) > _JPEG_MAX_EXIF:
                params.pop("exif")
                note = "EXIF too large for JPEG (over 64 KB): not written"
                rendered.notes.append(note)
                _log.warning(note)
            quality = options.quality or _DEFAULT_JPEG_QUALITY
            picture.save(stream, "JPEG", quality=quality, **params)

    return write


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _png_metadata_chunks(rendered: RenderedCutout) -> bytes:
    """iCCP, eXIf and pHYs chunks: what Pillow would write, for PNGs that OpenCV encodes."""
    chunks = b""
    if rendered.icc_profile:
        chunks += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(rendered.icc_profile))
    if rendered.exif:
        exif = rendered.exif[6:] if rendered.exif.startswith(b"Exif\x00\x00") else rendered.exif
        chunks += _png_chunk(b"eXIf", exif)
    if rendered.dpi:
        per_metre = [max(1, round(v / 0.0254)) for v in rendered.dpi]
        chunks += _png_chunk(b"pHYs", struct.pack(">IIB", per_metre[0], per_metre[1], 1))
    return chunks


def _write_png16(stream: BinaryIO, rendered: RenderedCutout) -> None:
    """16-bit PNG through OpenCV (Pillow cannot write 16-bit RGBA), metadata chunks added
    right after IHDR: iCCP must precede the image data, and so should eXIf and pHYs."""
    code = cv2.COLOR_RGBA2BGRA if rendered.mode == "RGBA" else cv2.COLOR_RGB2BGR
    ok, encoded = cv2.imencode(
        ".png",
        cv2.cvtColor(rendered.pixels, code),
        [cv2.IMWRITE_PNG_COMPRESSION, _PNG_COMPRESS_LEVEL, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE],
    )
    data = memoryview(encoded).cast("B")
    ihdr_end = 8 + 8 + 13 + 4  # signature, then IHDR: length, type, 13 bytes of data, CRC
    if not ok or bytes(data[12:16]) != b"IHDR":
        raise ExportError("the PNG encoder failed on this image")
    stream.write(data[:ihdr_end])
    stream.write(_png_metadata_chunks(rendered))
    stream.write(data[ihdr_end:])


# --- writing ----------------------------------------------------------------------------------


def export_cutout(
    image: LoadedImage, alpha: np.ndarray, dest: str | os.PathLike[str], options: ExportOptions
) -> Path:
    """Render and write the cutout to ``dest``; returns the path written.

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
    rendered = render_cutout(image, alpha, options)
    write = _encoder(rendered, options)
    _atomic_write(target, write, options.overwrite)
    return target


def _destination(dest: Path, options: ExportOptions) -> Path:
    suffix = dest.suffix.lower()
    if not suffix:
        return dest.with_name(dest.name + output_suffix(options))
    accepted = (".png",) if options.output == "mask" else _SUFFIXES[options.format]
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


def _reason(exc: OSError) -> str:
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EACCES: "permission denied (is the folder read-only?)",
        errno.EPERM: "permission denied (is the folder read-only?)",
        errno.EROFS: "the disk is read-only",
        errno.EDQUOT: "disk quota exceeded",
        errno.ENAMETOOLONG: "the file name is too long",
    }
    return reasons.get(exc.errno or 0, exc.strerror or str(exc) or type(exc).__name__)


def _atomic_write(target: Path, write: Callable[[BinaryIO], None], overwrite: bool) -> None:
    """Encode into a temporary file beside ``target`` (same disk, so the rename is atomic),
    fsync, then move it into place; the temporary file never outlives a failure."""
    temp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp, fd = _create_temp(target)
        with os.fdopen(fd, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        _move_into_place(temp, target, overwrite)
        temp = None
        _fsync_folder(target.parent)
    except ExportError:
        raise
    except OSError as exc:
        raise ExportError(f"{target.name}: cannot write: {_reason(exc)}") from None
    except MemoryError:
        raise ExportError(f"{target.name}: not enough memory to encode the image") from None
    except ValueError as exc:  # Pillow's refusals (an option the format does not take)
        raise ExportError(f"{target.name}: cannot encode: {exc}") from None
    finally:
        if temp is not None:
            with suppress(OSError):
                temp.unlink()


_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.[0-9a-f]{8}\.part")


def _create_temp(target: Path) -> tuple[Path, int]:
    # os.open with mode 0o666 lets the umask decide the final permissions, as for any new file
    # (mkstemp would leave the cutout readable by its owner only).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        try:
            return temp, os.open(temp, flags, 0o666)
        except FileExistsError:
            continue


def remove_stale_temp_files(folder: Path, names: set[str]) -> int:
    """Delete the temporary files that an export of ``folder/<name>`` (for each name) left when
    its process was killed mid-write; returns how many. Only this module's own temporary names
    (``.<name>.<8 hex digits>.part``) for the given outputs are touched."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match and match["target"] in names and entry.is_file(follow_symlinks=False):
            with suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed


def _move_into_place(temp: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, target)
        return
    # A hard link fails if the name was taken meanwhile (another batch worker, say), where
    # os.replace would silently replace it.
    try:
        os.link(temp, target)
    except FileExistsError:
        raise ExportError(f"{target.name}: already exists (use overwrite)") from None
    except OSError:  # a file system without hard links: check, then rename
        if target.exists():
            raise ExportError(f"{target.name}: already exists (use overwrite)") from None
        os.replace(temp, target)
        return
    with suppress(OSError):
        temp.unlink()  # the file is in place under its name; a stray link is only untidy


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; Windows has no directory handles for this)."""
    if os.name != "posix":
        return
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def encode_to_bytes(rendered: RenderedCutout, options: ExportOptions) -> bytes:
    """The encoded file in memory (for the API's bytes output and for tests)."""
    buffer = io.BytesIO()
    _encoder(rendered, options)(buffer)
    return buffer.getvalue()
