"""Edge settings applied to a full-resolution alpha: matting, shift, feather, decontamination.

Everything here touches only the pixels near the subject's outline. The photo is cut into
square tiles; a tile is processed only when the alpha around it (within the reach of the
operation) is not uniform, and then only as a crop with just enough margin that the result in
the tile is exactly what a whole-image operation would give. A 24-megapixel photo therefore
costs one float32 copy of the alpha plus a few crops of scratch memory, not several full-size
float64 images.

Matting uses pymatting (closed-form matting), which compiles all its numba kernels when it is
first imported in a fresh environment: that takes tens of seconds (90 s on a busy 2-core
machine); numba caches the compiled code on disk, after which each new process still spends
~1 s loading it. It is imported lazily, on the first matting; :func:`warm_up` lets an
application pay that cost early, on a background thread. Decontamination (blur fusion) is
plain OpenCV and needs none of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

from cutout_studio.core.guided import guided_upsample
from cutout_studio.core.options import Options, number
from cutout_studio.core.tiles import active_boxes, expand, spread, tile_extrema

__all__ = [
    "EdgeOptions",
    "ForegroundPatch",
    "apply_edges",
    "blur_fusion",
    "estimate_foreground",
    "foreground_patches",
    "remove_islands",
    "guided_upsample",
    "warm_up",
    "OPAQUE",
    "TRANSPARENT",
]

#: Alpha at or above this is written as 255 in an 8-bit file: treated as fully opaque.
OPAQUE = np.float32(1.0 - 0.5 / 255)
#: Alpha below this is written as 0 in an 8-bit file: treated as fully transparent.
TRANSPARENT = np.float32(0.5 / 255)

_TILE = 256  # side of the tiles that decide where to work (pixels of the processed image)
_MATTING_BUDGET = 120_000  # unknown pixels solved per photo; more are handled at a reduced scale
_MATTING_MIN_BAND = 3.0  # the band keeps at least this half width (px) at the reduced scale
_MATTING_CONTEXT = 6  # known pixels (at the matting scale) kept around the band of each crop
_MATTING_TILE = 160  # tile side at the matting scale: crops of ~200 px solve in tens of ms
_FOREGROUND_TILE = 64  # side of the tiles whose soft pixels get decontaminated together
_FUSION_RADII = (24, 6, 1)  # blur-fusion passes (px), see blur_fusion
_FUSION_EPS = np.float32(1e-5)


@dataclass(frozen=True)
class EdgeOptions(Options):
    """How the edge of the mask is finished before export; values are checked on construction
    (:class:`~cutout_studio.core.options.OptionsError`, a ValueError)."""

    # Ranges: the editor has always offered feather 0–100 px and shift ±100 px. Beyond them an
    # edge setting is a different mask, not a finish, and the work grows with the reach
    # (--shift 1e9 grew to 23 GB, --shift 2000 ran for minutes, --feather 1e9 failed in OpenCV).
    feather: float = number(0.0, 0, 100, unit="px")  #: the edge is blurred about this far to either side
    shift: float = number(0.0, -100, 100, unit="px")  #: + grows the mask, - shrinks it
    matting: bool = False  #: re-estimate alpha in a band around the outline from the photo
    decontaminate: bool = True  #: replace the old background's colour in soft edge pixels
    #: half width of the band that matting may change (64 px: the matting budget per photo
    #: is spent at a reduced scale beyond a few tens of px anyway)
    band: int = number(12, 1, 64, unit="px", integer=True)
    #: islands of the subject and holes in it smaller than this many pixels are removed (the
    #: largest part of the subject always stays); 0 keeps everything. A million px is a large
    #: part of any photo: beyond it this is no longer a clean-up.
    min_island: int = number(0, 0, 1_000_000, unit="px", integer=True)

    @property
    def changes_alpha(self) -> bool:
        """True when :func:`apply_edges` would change the alpha (decontamination does not)."""
        return self.feather > 0 or self.shift != 0 or self.matting or self.min_island > 0


def apply_edges(rgb: np.ndarray, alpha: np.ndarray, options: EdgeOptions) -> np.ndarray:
    """The alpha with the edge settings applied: island clean-up, matting, shift, feather.

    ``rgb`` is H×W×3 uint8, ``alpha`` H×W float in [0, 1]; returns a new H×W float32 array
    (the input is never modified). Decontamination is not applied here: it changes colours,
    see :func:`estimate_foreground`.
    """
    alpha = _check_inputs(rgb, alpha)
    out = alpha  # every step below returns a new array
    if options.min_island > 0:
        out = remove_islands(out, options.min_island)
    if options.matting:
        out = _matte_band(rgb, out, options.band)
    if options.shift:
        out = _shift(out, options.shift)
    if options.feather > 0:
        out = _feather(out, options.feather)
    return out.copy() if out is alpha else out


def warm_up() -> None:
    """Load pymatting and run its kernels once on a tiny image.

    pymatting compiles all its numba kernels when first imported: tens of seconds (90 s on a
    busy 2-core machine) the first time in a fresh environment, then ~1 s to load them from
    numba's disk cache in each new process. Call this on a background thread at start-up so
    that the first export with matting does not pay for it.
    """
    alpha = cv2.GaussianBlur(np.pad(np.ones((24, 24), np.float32), 12), (0, 0), 2.0)
    rgb = np.zeros(alpha.shape + (3,), np.uint8)
    rgb[alpha > 0.5] = 200
    apply_edges(rgb, alpha, EdgeOptions(matting=True, band=4))


# --- near-edge tiles (see cutout_studio.core.tiles) -------------------------------------------


def _map_near_edges(
    alpha: np.ndarray, reach: int, operation: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Apply a local ``operation`` whose output depends on inputs within ``reach`` px.

    Tiles whose surroundings (within ``reach``) hold one alpha value are left as they are: the
    operations used here (blur, dilation, erosion) leave a uniform neighbourhood unchanged.
    """
    tile = max(_TILE, 2 * reach)
    mins, maxs = tile_extrema(alpha, tile)
    tiles_reach = max(1, math.ceil(reach / tile))
    active = spread(maxs, tiles_reach, grow=True) > spread(mins, tiles_reach, grow=False)
    out: np.ndarray = alpha.copy()
    for core in active_boxes(active, tile, alpha.shape):
        y0, y1, x0, x1 = core
        cy0, cy1, cx0, cx1 = expand(core, reach, alpha.shape)
        result = operation(alpha[cy0:cy1, cx0:cx1].copy())  # a copy: results are clipped in place
        out[y0:y1, x0:x1] = _clip_exact(result[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0])
    return out


def _clip_exact(values: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and make float rounding residue exact: a blurred interior sums its
    kernel to 0.99999994, which must still count as fully opaque (and 1e-9 as transparent)."""
    np.clip(values, 0.0, 1.0, out=values)
    values[values > 1 - 1e-6] = 1.0
    values[values < 1e-6] = 0.0
    return values


# --- island clean-up --------------------------------------------------------------------------


def remove_islands(alpha: np.ndarray, min_pixels: int) -> np.ndarray:
    """The alpha without subject islands and holes smaller than ``min_pixels`` (a new array).

    Parts are the 8-connected regions of ``alpha >= 0.5``; the largest always stays (the main
    subject). A dropped island goes with its soft rim (the faint pixels around it, which would
    otherwise stay as a halo); a filled hole (a region of ``alpha < 0.5`` not touching the
    photo's border) becomes opaque with its rim.
    """
    out: np.ndarray = alpha.copy()
    solid = alpha >= 0.5
    # Support: what shows in an 8-bit file (float residue such as 0.99999994 or 1e-7 does not).
    for fill, core, support in ((0.0, solid, alpha >= TRANSPARENT), (1.0, ~solid, alpha < OPAQUE)):
        count, components, stats, _ = cv2.connectedComponentsWithStats(core.astype(np.uint8), connectivity=8)
        if count <= 1:
            continue
        areas = stats[1:, cv2.CC_STAT_AREA]
        small = areas < min_pixels
        if fill == 0.0:
            small[int(np.argmax(areas))] = False  # the main subject stays, whatever its size
        else:  # background regions touching the border are the surroundings, not holes
            border = np.unique(
                np.concatenate([components[0], components[-1], components[:, 0], components[:, -1]])
            )
            small[border[border > 0] - 1] = False
        if not small.any():
            continue
        drop = np.concatenate([[False], small])[components]
        # The rim: a dropped part's soft surroundings go with it, whole where they touch no
        # part that stays, else within a couple of pixels.
        _, spread_ids = cv2.connectedComponents(support.astype(np.uint8), connectivity=8)
        kept = np.unique(spread_ids[core & ~drop])
        alone = np.setdiff1d(np.unique(spread_ids[drop]), kept)
        rim = cv2.dilate(drop.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        out[drop | np.isin(spread_ids, alone) | (rim & support & ~core)] = fill
    return out


# --- shift and feather ------------------------------------------------------------------------


def _disk(radius: int) -> np.ndarray:
    # Pixel centres within r + 0.2: the mean width of this discrete disk is within 1 % of 2r
    # for r >= 3 (r + 0.5 overshoots by up to 9 %), so the area grows by perimeter × r as a
    # true disk would. OpenCV's MORPH_ELLIPSE has flat sides at small sizes.
    span = np.arange(-radius, radius + 1)
    return ((span[:, None] ** 2 + span[None, :] ** 2) <= (radius + 0.2) ** 2).astype(np.uint8)


def _shift(alpha: np.ndarray, shift: float) -> np.ndarray:
    """Grey-level dilation (shift > 0) or erosion (< 0) by a disk: the soft edge profile moves
    out or in unchanged. A fractional shift blends the two nearest whole-pixel results."""
    distance = abs(shift)
    low = math.floor(distance)
    frac = distance - low
    morph = cv2.dilate if shift > 0 else cv2.erode

    def by_radius(crop: np.ndarray, radius: int) -> np.ndarray:
        # OpenCV's default border value makes pixels outside the crop neither win a max nor a
        # min; crops carry a margin of the full radius, so the kept core is exact.
        return crop if radius == 0 else morph(crop, _disk(radius))

    def operation(crop: np.ndarray) -> np.ndarray:
        result = by_radius(crop, low)
        if frac > 1e-3:
            upper = by_radius(crop, low + 1)
            result = result * np.float32(1 - frac) + upper * np.float32(frac)
        return result

    return _map_near_edges(alpha, low + 1, operation)


def _feather(alpha: np.ndarray, feather: float) -> np.ndarray:
    """Gaussian blur with sigma = feather / 2: the edge becomes soft about ``feather`` px to each
    side, while pixels out of the kernel's reach of an edge (3 sigma per axis) keep their value."""
    sigma = feather / 2.0
    radius = max(1, math.ceil(3 * sigma))
    ksize = 2 * radius + 1

    def operation(crop: np.ndarray) -> np.ndarray:
        # Reflection only matters at the photo's own border: inner crop borders are a full
        # kernel radius away from the kept core.
        return cv2.GaussianBlur(crop, (ksize, ksize), sigma, borderType=cv2.BORDER_REFLECT)

    return _map_near_edges(alpha, radius, operation)


# --- matting ----------------------------------------------------------------------------------


@contextmanager
def _numba_threads(count: int) -> Iterator[None]:
    """Run pymatting's numba kernels on ``count`` threads. Crops are small: on a busy machine
    waking a thread team for each of the hundreds of tiny parallel loops costs far more than
    the loops themselves (measured: 300 ms instead of 1 ms per 64×64 crop on 2 shared cores)."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(min(count, previous))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _band_mask(hard: np.ndarray, band: float) -> np.ndarray:
    """Pixels within ``band`` px of the outline of the binary mask ``hard`` (uint8 0/1)."""
    inside = cv2.distanceTransform(hard, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - hard, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(hard > 0, inside, outside) <= band


def _matting_scale(alpha: np.ndarray, band: int) -> float:
    """Scale at which the band is solved: 1 unless the band holds more than the budget."""
    probe = 128
    mins, maxs = tile_extrema(alpha, probe)
    crossing_tiles = int(np.count_nonzero((mins < 0.5) & (maxs >= 0.5)))
    # An outline crossing a tile is about a tile long; it has a band 2×band wide.
    unknown_pixels = crossing_tiles * probe * 1.2 * 2 * band
    if unknown_pixels <= _MATTING_BUDGET:
        return 1.0
    return float(max(min(1.0, _MATTING_MIN_BAND / band), math.sqrt(_MATTING_BUDGET / unknown_pixels)))


def _matte_band(rgb: np.ndarray, alpha: np.ndarray, band: int) -> np.ndarray:
    """Closed-form matting (Levin et al.) of the ±``band`` px around the 0.5 outline.

    Works on crops around the outline, at a reduced scale when the band is long (so a 12 MP
    photo stays within a few seconds); the solved alpha is brought back to full resolution with
    the guided filter, which takes the fine detail from the full-resolution photo. Only pixels
    of the full-resolution band change.
    """
    from pymatting import estimate_alpha_cf

    scale = _matting_scale(alpha, band)
    band_work = band * scale
    tile = max(16, round(_MATTING_TILE / scale))
    margin = math.ceil((band_work + _MATTING_CONTEXT) / scale)
    mins, maxs = tile_extrema(alpha, tile)
    reach = max(1, math.ceil(band / tile))
    active = spread((maxs >= 0.5).astype(np.uint8), reach, grow=True) != spread(
        (mins >= 0.5).astype(np.uint8), reach, grow=False
    )
    out: np.ndarray = alpha.copy()
    with _numba_threads(1):
        for core in active_boxes(active, tile, alpha.shape, max_run=2):
            y0, y1, x0, x1 = core
            cy0, cy1, cx0, cx1 = expand(core, margin, alpha.shape)
            alpha_crop = alpha[cy0:cy1, cx0:cx1]
            rgb_crop = rgb[cy0:cy1, cx0:cx1]
            hard_full = (alpha_crop >= 0.5).astype(np.uint8)
            band_full = _band_mask(hard_full, band)
            keep = band_full[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
            if not keep.any():
                continue
            matted = _solve_crop(estimate_alpha_cf, rgb_crop, alpha_crop, band_work, scale)
            if matted is None:
                continue
            target = out[y0:y1, x0:x1]
            target[keep] = matted[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0][keep]
    return out


def _solve_crop(
    solver: Callable[..., np.ndarray],
    rgb_crop: np.ndarray,
    alpha_crop: np.ndarray,
    band_work: float,
    scale: float,
) -> np.ndarray | None:
    """Matte one crop; returns its full-resolution alpha, or None when it has no known
    foreground or background to anchor the solution."""
    height, width = alpha_crop.shape
    if scale < 1.0:
        size = (max(2, round(width * scale)), max(2, round(height * scale)))
        rgb_work = cv2.resize(rgb_crop, size, interpolation=cv2.INTER_AREA)
        alpha_work = cv2.resize(alpha_crop, size, interpolation=cv2.INTER_AREA)
    else:
        rgb_work, alpha_work = rgb_crop, alpha_crop
    hard = (alpha_work >= 0.5).astype(np.uint8)
    unknown = _band_mask(hard, band_work)
    known = ~unknown
    if not (hard[known].any() and (hard[known] == 0).any()):
        return None
    trimap = hard.astype(np.float64)
    trimap[unknown] = 0.5
    matted = solver(rgb_work.astype(np.float64) / 255.0, trimap, cg_kwargs={"maxiter": 2000}).astype(
        np.float32
    )
    if scale >= 1.0:
        return matted
    # A short radius: the matte is already right at its own scale, the filter only has to move
    # each edge onto the photo's full-resolution edge.
    return guided_upsample(matted, rgb_crop, radius=2, eps=1e-4, work_max_side=max(matted.shape))


# --- decontamination --------------------------------------------------------------------------


@dataclass
class ForegroundPatch:
    """Estimated subject colours for a rectangle of the photo: write ``colour[mask]`` at
    ``(y0:y0+h, x0:x0+w)``. ``colour`` is h×w×3 float32 in [0, 1]."""

    y0: int
    x0: int
    colour: np.ndarray
    mask: np.ndarray  #: h×w bool: the pixels whose colour is replaced (alpha < 1)

    @property
    def y1(self) -> int:
        return self.y0 + int(self.mask.shape[0])

    @property
    def x1(self) -> int:
        return self.x0 + int(self.mask.shape[1])


def foreground_patches(rgb: np.ndarray, alpha: np.ndarray) -> Iterator[ForegroundPatch]:
    """Decontaminated colours around every soft edge pixel (0 < alpha < 1), tile by tile.

    Foreground colours are estimated by blur fusion (Forte & Pitié 2021, "Approximate Fast
    Foreground Colour Estimation"), see :func:`blur_fusion`, on crops with just enough margin
    that each tile's result is what the whole photo would give; its cost follows the length of
    the soft edge, not the photo's size. Patches cover soft pixels and the transparent pixels
    beside them (viewers that resample a PNG without premultiplying then blend towards the
    subject's colour, not the old background's). Opaque pixels are never in a patch: they keep
    their exact colour.
    """
    alpha = _check_inputs(rgb, alpha)
    tile = _FOREGROUND_TILE
    ys = np.arange(0, alpha.shape[0], tile)
    rows = []
    for y in ys:
        strip = alpha[y : y + tile]
        soft = (strip >= TRANSPARENT) & (strip < OPAQUE)
        rows.append(np.logical_or.reduceat(soft.any(axis=0), np.arange(0, alpha.shape[1], tile)))
    active = np.array(rows, dtype=bool).reshape(len(ys), -1)
    if not active.any():
        return
    margin = sum(_FUSION_RADII)  # each pass reads its radius further than the one before
    for core in active_boxes(active, tile, alpha.shape):
        y0, y1, x0, x1 = core
        cy0, cy1, cx0, cx1 = expand(core, margin, alpha.shape)
        alpha_crop = alpha[cy0:cy1, cx0:cx1]
        image_crop = rgb[cy0:cy1, cx0:cx1].astype(np.float32) * np.float32(1 / 255)
        colour = blur_fusion(image_crop, alpha_crop)
        sub = (slice(y0 - cy0, y1 - cy0), slice(x0 - cx0, x1 - cx0))
        yield ForegroundPatch(
            y0=y0,
            x0=x0,
            colour=np.ascontiguousarray(colour[sub], dtype=np.float32),
            mask=alpha_crop[sub] < OPAQUE,
        )


def blur_fusion(image: np.ndarray, alpha: np.ndarray, radii: Sequence[int] = _FUSION_RADII) -> np.ndarray:
    """Foreground colours F of ``image`` (H×W×3 float32 in [0, 1]) under ``alpha`` (H×W float32).

    Each pass estimates the local foreground and background colours as alpha-weighted box
    means of the previous estimates, then corrects them so that the compositing equation
    ``I = αF + (1 − α)B`` holds (Forte & Pitié 2021); passes with shrinking radii first fill
    soft pixels from the nearby solid subject, then sharpen. With passes of 24, 6 and 1 px it
    came out slightly closer to the true colours than pymatting's multi-level estimation on
    real subjects composited over other photos with a soft alpha (alpha-weighted mean absolute
    error in soft pixels 0.0365 vs 0.0377; uncorrected: 0.0449), in less time, and it needs
    neither numba nor its compile-on-first-use, which every new batch process would otherwise
    pay. The wide first pass matters where the soft edge is wide: with 8, 3 and 1 px a smooth
    subject on a saturated background kept 3.5× more of the old colour than with 24, 6, 1.
    """
    # Alpha repeated over the three channels: numpy's broadcasting of an H×W×1 array over
    # H×W×3 runs its inner loop over 3 values at a time, several times slower than flat arrays.
    a = np.repeat(np.asarray(alpha, dtype=np.float32)[..., None], 3, axis=2)
    inverse = 1.0 - a
    foreground = background = image
    weighted_fg, weighted_bg, scratch = (np.empty_like(image) for _ in range(3))
    for radius in radii:
        # alpha-weighted local means of the current estimates
        weight = _box_in_place(a.copy(), radius)
        mean_fg = _box_in_place(np.multiply(foreground, a, out=weighted_fg), radius)
        mean_fg /= weight + _FUSION_EPS
        mean_bg = _box_in_place(np.multiply(background, inverse, out=weighted_bg), radius)
        weight -= 1.0 + _FUSION_EPS  # = -(1 - weight + eps)
        mean_bg /= weight
        np.negative(mean_bg, out=mean_bg)
        # F = mean_fg + α·(I − α·mean_fg − (1 − α)·mean_bg)
        residual = np.subtract(image, np.multiply(a, mean_fg, out=scratch))
        residual -= np.multiply(inverse, mean_bg, out=scratch)
        residual *= a
        residual += mean_fg
        foreground = np.clip(residual, 0.0, 1.0, out=residual)
        background, weighted_bg = mean_bg, np.empty_like(image)  # mean_bg lives in weighted_bg
    return foreground


def _box_in_place(x: np.ndarray, radius: int) -> np.ndarray:
    """Normalised box mean of side 2·radius + 1, written over ``x``."""
    size = (2 * radius + 1, 2 * radius + 1)
    return cv2.boxFilter(x, -1, size, dst=x, borderType=cv2.BORDER_REFLECT)


def estimate_foreground(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The photo's colours with the old background removed from soft edge pixels (uint8 H×W×3).

    Opaque pixels keep their exact original colour; see :func:`foreground_patches`.
    """
    out = np.array(rgb, dtype=np.uint8, copy=True)
    for patch in foreground_patches(rgb, alpha):
        target = out[patch.y0 : patch.y1, patch.x0 : patch.x1]
        target[patch.mask] = np.rint(patch.colour[patch.mask] * 255).astype(np.uint8)
    return out


def _check_inputs(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be H×W×3 uint8, got {rgb.dtype} {rgb.shape}")
    if alpha.shape != rgb.shape[:2]:
        raise ValueError(f"alpha {alpha.shape} does not match the photo {rgb.shape[:2]}")
    if alpha.dtype == np.uint8:
        scaled: np.ndarray = alpha.astype(np.float32) * np.float32(1 / 255)
        return scaled
    return np.asarray(alpha, dtype=np.float32)
