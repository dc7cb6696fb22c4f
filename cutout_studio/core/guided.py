"""Edge-aware upsampling of masks: the guided filter and its fast, strip-wise upsampling form.

A segmentation model sees the photo at 320 px; the photographer exports it at 6000 px. Plain
bilinear upsampling of the mask gives edges as blurry as the model's pixels. The guided filter
(He, Sun, Tang: "Guided Image Filtering") fits, in every window, a linear model ``q = a·I + b``
from the photo ``I`` to the mask; the "Fast Guided Filter" (He & Sun, 2015) observes that ``a``
and ``b`` are smooth, so they can be computed at a small working resolution and upsampled
bilinearly, while ``a·I + b`` is evaluated at full resolution: the edges then come from the
full-resolution photo, as sharp as it is.

At full resolution nothing is held but the result: coefficients are upsampled and applied in
horizontal strips, so a 100-megapixel photo needs one H×W float32 result plus a few strips of
scratch memory, never several full-size float copies of the photo.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from cutout_studio.core.tiles import block_spans, runs

#: Target number of full-resolution pixels per strip: bounds the scratch memory of one strip
#: (about 6 values per pixel: 4 interpolated coefficient planes, a product plane, a colour
#: plane) to ~70 MB whatever the photo's width. Measured at 100 MP: ~60 MB beyond the result.
_STRIP_PIXELS = 3_000_000

__all__ = [
    "guided_coefficients",
    "guided_filter",
    "guided_upsample",
    "apply_planes",
    "coefficient_planes",
    "resample_bilinear",
    "bilinear_strips",
    "pixel_centre_coords",
    "working_size",
    "default_radius",
]


def working_size(height: int, width: int, work_max_side: int) -> tuple[int, int]:
    """(height, width) of the working resolution: long side at most ``work_max_side``, never upscaled."""
    if work_max_side < 1:
        raise ValueError(f"work_max_side must be >= 1, got {work_max_side}")
    scale = min(1.0, work_max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def default_radius(work_long_side: int, mask_long_side: int) -> int:
    """Window radius (working pixels) that spans the blur of a mask upsampled to the working size.

    A model's mask pixel covers ``work/mask`` working pixels and its edge is soft over about one
    such pixel, so windows of twice that radius straddle the whole uncertain edge (the filter
    can only move an edge to a photo edge inside its window). Larger windows would carry more
    of the photo's texture into the mask. Capped so that windows stay local on tiny masks.
    """
    ratio = work_long_side / max(1, mask_long_side)
    return int(np.clip(round(2 * ratio), 2, max(2, work_long_side // 16)))


def _as_float_guide(guide: np.ndarray) -> np.ndarray:
    if guide.dtype == np.uint8:
        scaled: np.ndarray = guide.astype(np.float32) * np.float32(1 / 255)
        return scaled
    return np.asarray(guide, dtype=np.float32)


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    # Normalised box mean; BORDER_REFLECT keeps windows at the image border unbiased.
    return cv2.boxFilter(x, cv2.CV_32F, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_coefficients(
    guide: np.ndarray, src: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Window-averaged linear coefficients of the guided filter: ``q = sum_c a[..., c]·I_c + b``.

    ``guide`` is H×W×3 (colour, preferred: edges between colours of equal brightness are kept)
    or H×W, uint8 (scaled to [0, 1]) or float; ``src`` is H×W. Returns ``a`` (H×W×C float32) and
    ``b`` (H×W float32), already box-averaged, so they can be upsampled and applied to a guide
    of any resolution that shows the same scene.
    """
    if radius < 1:
        raise ValueError(f"radius must be >= 1, got {radius}")
    guide_f = _as_float_guide(guide)
    p = np.asarray(src, dtype=np.float32)
    if guide_f.shape[:2] != p.shape[:2]:
        raise ValueError(f"guide {guide_f.shape[:2]} and src {p.shape[:2]} differ in size")
    eps = np.float32(eps)
    mean_p = _box(p, radius)

    if guide_f.ndim == 2:
        mean_i = _box(guide_f, radius)
        cov_ip = _box(guide_f * p, radius) - mean_i * mean_p
        var_i = _box(guide_f * guide_f, radius) - mean_i * mean_i
        a = cov_ip / (var_i + eps)
        b = mean_p - a * mean_i
        return _box(a, radius)[..., None], _box(b, radius)

    channels = [np.ascontiguousarray(guide_f[..., c]) for c in range(3)]
    means = [_box(ch, radius) for ch in channels]
    cov_ip = [_box(ch * p, radius) - m * mean_p for ch, m in zip(channels, means, strict=True)]

    def var(i: int, j: int) -> np.ndarray:
        covariance: np.ndarray = _box(channels[i] * channels[j], radius) - means[i] * means[j]
        return covariance

    # Symmetric 3×3 covariance (+ eps on the diagonal) per pixel, inverted in closed form by
    # cofactors: vectorised over the image, no per-pixel Python or LAPACK calls.
    rr, rg, rb = var(0, 0) + eps, var(0, 1), var(0, 2)
    gg, gb, bb = var(1, 1) + eps, var(1, 2), var(2, 2) + eps
    inv_rr = gg * bb - gb * gb
    inv_rg = gb * rb - rg * bb
    inv_rb = rg * gb - gg * rb
    inv_gg = rr * bb - rb * rb
    inv_gb = rb * rg - rr * gb
    inv_bb = rr * gg - rg * rg
    det = rr * inv_rr + rg * inv_rg + rb * inv_rb
    np.maximum(det, np.float32(1e-12), out=det)  # eps on the diagonal keeps det > 0; guard rounding
    c0, c1, c2 = cov_ip
    a = np.empty(p.shape + (3,), np.float32)
    a[..., 0] = (inv_rr * c0 + inv_rg * c1 + inv_rb * c2) / det
    a[..., 1] = (inv_rg * c0 + inv_gg * c1 + inv_gb * c2) / det
    a[..., 2] = (inv_rb * c0 + inv_gb * c1 + inv_bb * c2) / det
    b = mean_p - a[..., 0] * means[0] - a[..., 1] * means[1] - a[..., 2] * means[2]
    mean_a = np.empty_like(a)
    for c in range(3):
        mean_a[..., c] = _box(np.ascontiguousarray(a[..., c]), radius)
    return mean_a, _box(b, radius)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """The guided filter at one resolution: ``src`` (H×W) smoothed while following ``guide``'s edges.

    ``guide`` is H×W×3 or H×W, uint8 or float in [0, 1]; returns H×W float32 (not clipped).
    """
    a, b = guided_coefficients(guide, src, radius, eps)
    guide_f = _as_float_guide(guide)
    if guide_f.ndim == 2:
        guide_f = guide_f[..., None]
    filtered: np.ndarray = b + np.einsum("hwc,hwc->hw", a, guide_f, dtype=np.float32)
    return filtered


def pixel_centre_coords(n_out: int, n_src: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Source coordinates of output pixels ``start..stop`` when ``n_src`` pixels are resized to ``n_out``.

    The half-pixel-centre mapping of ``cv2.resize``: output pixel ``i`` sits at
    ``(i + 0.5)·n_src/n_out − 0.5`` in the source, so any sub-range of rows or columns reproduces
    exactly what a whole-image resize would give there.
    """
    stop = n_out if stop is None else stop
    return (np.arange(start, stop, dtype=np.float64) + 0.5) * (n_src / n_out) - 0.5


def _lerp_indices(coords: np.ndarray, n_src: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Border replicate, as cv2.resize does: positions before the first or after the last
    # source centre take that centre's value.
    c = np.clip(coords, 0.0, n_src - 1)
    lo = np.floor(c).astype(np.intp)
    hi = np.minimum(lo + 1, n_src - 1)
    return lo, hi, (c - lo).astype(np.float32)


def bilinear_strips(
    planes: np.ndarray, row_coords: np.ndarray, col_coords: np.ndarray, strip_rows: int | None
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(y0, y1, strip)``: ``planes`` (K×rows×cols) sampled bilinearly at the given coordinates.

    ``strip`` is K×(y1−y0)×len(col_coords) float32 scratch that is overwritten by the next strip.
    Every output value depends only on its own coordinates, never on the strip size.
    """
    n_planes, n_rows, n_cols = planes.shape
    h, w = len(row_coords), len(col_coords)
    x_lo, x_hi, x_f = _lerp_indices(np.asarray(col_coords), n_cols)
    y_lo, y_hi, y_f = _lerp_indices(np.asarray(row_coords), n_rows)
    step = min(h, strip_rows or max(16, min(1024, _STRIP_PIXELS // max(1, w))))
    # Scratch reused by every strip: fresh allocations per strip would page-fault their way in.
    strip = np.empty((n_planes, step, w), np.float32)
    for y0 in range(0, h, step):
        y1 = min(h, y0 + step)
        n = y1 - y0
        # Horizontal pass only on the few source rows this strip touches.
        first, last = int(y_lo[y0]), int(y_hi[y1 - 1])
        rows = planes[:, first : last + 1]
        horiz = rows[:, :, x_lo]
        rise = rows[:, :, x_hi]
        rise -= horiz
        rise *= x_f
        horiz += rise
        # Vertical pass: rise[k] = horiz[k+1] − horiz[k] (0 for the block's last row, where the
        # fraction is 0); a run of output rows between the same two source rows is one broadcast.
        rise[:, :-1] = horiz[:, 1:] - horiz[:, :-1]
        rise[:, -1] = 0.0
        lo_rel = y_lo[y0:y1] - first
        frac = y_f[y0:y1]
        run_starts = np.flatnonzero(np.diff(lo_rel)) + 1
        for s, e in zip(np.r_[0, run_starts], np.r_[run_starts, n], strict=True):
            k = lo_rel[s]
            target = strip[:, s:e]
            np.multiply(rise[:, k, None, :], frac[None, s:e, None], out=target)
            target += horiz[:, k, None, :]
        yield y0, y1, strip[:, :n]


def resample_bilinear(
    grid: np.ndarray, row_coords: np.ndarray, col_coords: np.ndarray, *, strip_rows: int | None = None
) -> np.ndarray:
    """Sample a 2-D float grid bilinearly at the given row/column coordinates (border replicate).

    With :func:`pixel_centre_coords` this is ``cv2.resize(grid, ..., INTER_LINEAR)`` restricted to
    any sub-rectangle of the output.
    """
    planes = np.asarray(grid, dtype=np.float32)[None]
    out = np.empty((len(row_coords), len(col_coords)), np.float32)
    for y0, y1, strip in bilinear_strips(planes, row_coords, col_coords, strip_rows):
        out[y0:y1] = strip[0]
    return out


def coefficient_planes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` and ``b`` as contiguous planes (C+1)×h×w, ``a`` pre-scaled by 1/255 so that a uint8
    guide is used as is, without a float copy of the photo."""
    channels = a.shape[2]
    planes = np.empty((channels + 1,) + b.shape, np.float32)
    for c in range(channels):
        np.multiply(a[..., c], np.float32(1 / 255), out=planes[c])
    planes[channels] = b
    return planes


def apply_planes(
    planes: np.ndarray,
    guide: np.ndarray,
    out: np.ndarray,
    row_coords: np.ndarray,
    col_coords: np.ndarray,
    *,
    strip_rows: int | None = None,
) -> np.ndarray:
    """Write ``clip(a·I + b, 0, 1)`` into ``out``, with :func:`coefficient_planes` sampled bilinearly.

    ``guide`` (h×w×C uint8, C matching the planes) and ``out`` (h×w float32) are the
    full-resolution region to fill; ``row_coords`` (h) and ``col_coords`` (w) give where each of
    its rows and columns falls in the coefficient grid (see :func:`pixel_centre_coords`). Works
    strip by strip, so only one strip of interpolated coefficients exists at a time, and the
    result does not depend on the strip size.
    """
    channels = planes.shape[0] - 1
    product = None
    for y0, y1, strip in bilinear_strips(planes, row_coords, col_coords, strip_rows):
        if product is None:
            product = np.empty(strip.shape[1:], np.float32)
        n = y1 - y0
        q = out[y0:y1]
        np.copyto(q, strip[channels])
        for c in range(channels):
            np.multiply(strip[c], guide[y0:y1, :, c], out=product[:n])
            q += product[:n]
        np.clip(q, 0.0, 1.0, out=q)
    return out


#: Side, in working pixels, of the blocks that :func:`guided_upsample` classifies as flat.
_BLOCK = 16
#: A block is flat when ``a·I`` can move the result by less than this and ``b`` is within it of
#: 0 or 1 everywhere the block's pixels read from: then the whole block is that constant.
_FLAT_TOLERANCE = 1.0 / 1024
#: Verdict of a block that is not flat: ``a·I + b`` is evaluated there.
_COMPUTE = -1


def _flat_blocks(a: np.ndarray, b: np.ndarray, block: int) -> np.ndarray:
    """Per block: 0.0 or 1.0 where the result is that constant, NaN where it must be computed.

    Bilinear sampling reads one coefficient to the right and below a cell, so extremes are
    taken over a 2×2 neighbourhood before reducing to blocks.
    """
    kernel = np.ones((2, 2), np.uint8)
    anchor = (0, 0)
    a_max = cv2.dilate(np.abs(a).max(axis=2), kernel, anchor=anchor, borderType=cv2.BORDER_REPLICATE)
    b_max = cv2.dilate(b, kernel, anchor=anchor, borderType=cv2.BORDER_REPLICATE)
    b_min = cv2.erode(b, kernel, anchor=anchor, borderType=cv2.BORDER_REPLICATE)
    h, w = b.shape
    nby, nbx = -(-h // block), -(-w // block)

    row_starts, col_starts = np.arange(0, h, block), np.arange(0, w, block)

    def reduce(x: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
        # reduceat over rows, then over columns: numpy's reductions over a trailing axis of 16
        # elements (a reshape to blocks) ran ~10× slower, ~30 ms per 1-MP working image
        return ufunc.reduceat(ufunc.reduceat(x, row_starts, axis=0), col_starts, axis=1)

    a_blk = reduce(a_max, np.maximum)
    hi_blk, lo_blk = reduce(b_max, np.maximum), reduce(b_min, np.minimum)
    # |a·I| <= sum_c |a_c| <= 3·max|a| for a guide in [0, 1]
    quiet = 3.0 * a_blk < _FLAT_TOLERANCE
    result = np.full((nby, nbx), np.nan, np.float32)
    result[quiet & (hi_blk < _FLAT_TOLERANCE)] = 0.0
    result[quiet & (lo_blk > 1.0 - _FLAT_TOLERANCE)] = 1.0
    return result


def guided_upsample(
    alpha_small: np.ndarray,
    rgb: np.ndarray,
    *,
    radius: int | None = None,
    eps: float = 1e-4,
    work_max_side: int = 1024,
    strip_rows: int | None = None,
) -> np.ndarray:
    """Upsample a low-resolution mask to ``rgb``'s resolution with edges snapped to the photo's edges.

    ``alpha_small``: H'×W' float mask in [0, 1] (uint8 0..255 accepted), any size and aspect
    (it is stretched over the photo). ``rgb``: H×W×3 uint8 photo (H×W grey accepted).
    ``radius`` is the guided-filter window radius in *working* pixels (the photo reduced to a
    long side of ``work_max_side``); by default it spans the mask's own pixel blur
    (:func:`default_radius`). ``eps`` regularises: smaller follows weaker edges. Returns H×W
    float32 in [0, 1]. ``strip_rows`` only trades speed for scratch memory (default: ~3 MP
    per strip); it never changes the result.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)):
        raise ValueError(f"rgb must be H×W×3 (or H×W) uint8, got {rgb.dtype} {rgb.shape}")
    mask = np.asarray(alpha_small)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"alpha_small must be a non-empty 2-D mask, got shape {mask.shape}")
    if mask.dtype == np.uint8:
        mask = mask.astype(np.float32) * np.float32(1 / 255)
    else:
        mask = np.nan_to_num(mask.astype(np.float32))

    height, width = rgb.shape[:2]
    work_h, work_w = working_size(height, width, work_max_side)
    if radius is None:
        radius = default_radius(max(work_h, work_w), max(mask.shape))
    work_guide = (
        rgb
        if (work_h, work_w) == (height, width)
        else cv2.resize(rgb, (work_w, work_h), interpolation=cv2.INTER_AREA)
    )
    shrinking = mask.shape[0] > work_h or mask.shape[1] > work_w
    work_mask = (
        mask
        if mask.shape == (work_h, work_w)
        else cv2.resize(
            mask, (work_w, work_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        )
    )
    a, b = guided_coefficients(work_guide, work_mask, radius, eps)

    # Far from the subject's outline the mask is flat (a ≈ 0, b is 0 or 1): those blocks are
    # filled with their constant, and a·I + b is evaluated only on blocks near an edge, which
    # are a small part of a large photo.
    out = np.empty((height, width), np.float32)
    guide = rgb if rgb.ndim == 3 else rgb[..., None]
    planes = coefficient_planes(a, b)
    flat = _flat_blocks(a, b, _BLOCK)
    row_coords = pixel_centre_coords(height, work_h)
    col_coords = pixel_centre_coords(width, work_w)
    row_spans, row_blocks = block_spans(row_coords, work_h, _BLOCK)
    col_spans, col_blocks = block_spans(col_coords, work_w, _BLOCK)
    block_flat = flat[np.ix_(row_blocks, col_blocks)]
    verdict = np.where(np.isnan(block_flat), _COMPUTE, block_flat).astype(np.int8)
    # neighbouring blocks of the same kind (one constant, or "compute") are done together
    for (y0, y1, x0, x1), value in runs(verdict, row_spans, col_spans):
        if value == _COMPUTE:
            apply_planes(planes, guide[y0:y1, x0:x1], out[y0:y1, x0:x1],
                         row_coords[y0:y1], col_coords[x0:x1], strip_rows=strip_rows)
        else:
            out[y0:y1, x0:x1] = float(value)
    return out
