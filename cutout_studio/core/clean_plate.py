"""The clean plate: a photo of the empty backdrop, shot once per set-up, that every photo of the
shoot is compared with as well as run through the model.

The model misses what looks like the backdrop (a white bottle on a white seamless, a glass); the
plate does not, since it knows what the backdrop looked like at each pixel. Each photo gets the
plate aligned to it (the camera moved a few pixels between shots: ECC, affine, refined at the
working size once the subject is found), its exposure matched (the flash fired a little
stronger: a per-channel gain from the median ratio over the pixels that look like backdrop; the
plate clipped as the sensor clips it), then the difference in units of the backdrop's own
variation (noise, and the plate's gradient times the alignment's error at sharp edges) is
averaged over several scales (:func:`_significance`): a white product differs from white paper
by less than a pixel's noise, but over a patch of it far more than the backdrop's patches vary.
That probability is fused with the model's low-resolution mask (:func:`fuse`) before the mask
is snapped to the full-resolution photo, in :func:`~cutout_studio.core.batch_steps.encode_job`,
the one step that ``cut``, ``batch`` and the Ray driver share (and ``Segmenter.predict``).

A plate that cannot be aligned (another set-up, another size) is refused with a note, and the
model's mask is used unchanged.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cutout_studio.core.errors import CutoutError
from cutout_studio.core.image_io import load_image

__all__ = ["PLATE_VERSION", "PLATE_WORK_SIDE", "CleanPlate", "CleanPlateError", "apply_clean_plate", "fuse", "plate_mask"]

#: long side (px) at which the plate is aligned and compared with the photo
PLATE_WORK_SIDE = 1024
#: bumped whenever the same photo and plate give another mask: the editor's mask cache names
#: plate masks with it, so masks an earlier version made are not reused
PLATE_VERSION = 2
#: the alignment itself runs on a smaller copy (a camera shift of a few px is one or two px here)
_ALIGN_SIDE = 384
#: aspect ratios further apart than this are another camera or crop, not a small shift
_MAX_ASPECT_CHANGE = 0.03
#: the aligned plate may move by at most this share of the long side, scale or shear by this much
_MAX_SHIFT = 0.08
_MAX_SCALE = 0.06
#: ECC's correlation below which the plate is not the photo's backdrop
_MIN_CORRELATION = 0.6
#: a plate that differs from more than this share of the photo is not its backdrop
_MAX_FOREGROUND = 0.75
#: the scales (working px, Gaussian σ) over which the difference is averaged (a single pixel, its
#: difference clipped, never reaches :data:`_Z_SURE` alone)
_SCALES = (1.0, 2.0, 4.0, 8.0)
#: standard deviations (of the backdrop's own variation at each scale) below which a pixel is
#: backdrop, and above which it is surely not
_Z_BACKDROP = 3.0
_Z_SURE = 6.0
#: a single pixel's difference counts for at most this many standard deviations
_CLIP = 3.0
#: the alignment's error (working px) that a sharp edge of the set-up may differ by
_REGISTRATION = 0.5
#: a scale's halo is pulled back by this many times the scale
_HALO = 0.5
#: the plate's accuracy (standard deviations of a pixel's noise) however many pixels are averaged
_ACCURACY = 0.12
#: a region the plate finds must cover this share of the frame (smaller ones are dust, noise, a
#: crease of the paper: 2e-4 left specks around a product the model had right)
_MIN_REGION = 1e-3
#: a region of the model's mask of which the plate sees less than this share is part of the set-up
_MIN_SEEN = 0.01
#: px (working size) the probability is pulled back by, at the rim: the averaging spreads the
#: subject by about a pixel, and products the model already has must not grow (measured with the
#: earlier ΔE comparison, where leaving it out made such products up to 20× worse at the rim)
_ERODE = 3


class CleanPlateError(CutoutError):
    """A clean plate that cannot be read (one line naming the file)."""


@dataclass(frozen=True)
class CleanPlate:
    """The empty backdrop of a set-up."""

    rgb: np.ndarray  #: H×W×3 uint8
    path: Path | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CleanPlate:
        """Read the plate at ``path`` (read once per file version and kept)."""
        file = Path(path).expanduser()
        try:
            stat = file.stat()
        except OSError as exc:
            raise CleanPlateError(f"clean plate {file.name}: cannot read it: {exc.strerror or exc}") from None
        return _load(str(file.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load(path: str, size: int, mtime_ns: int) -> CleanPlate:  # noqa: ARG001 - size and time key the cache
    try:
        image = load_image(Path(path))
    except CutoutError as exc:
        raise CleanPlateError(f"clean plate {exc}") from None
    return CleanPlate(image.rgb, Path(path))


def _work_size(height: int, width: int) -> tuple[int, int]:
    scale = min(1.0, PLATE_WORK_SIDE / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _align(photo: np.ndarray, plate: np.ndarray, subject: np.ndarray | None) -> tuple[np.ndarray | None, str]:
    """The affine warp (2×3, working pixels) that maps the plate onto the photo, or a note.
    ``subject``: where the model sees the subject (working size), left out of the comparison:
    the product is not on the plate and would pull the fit towards nonsense."""
    height, width = photo.shape[:2]
    scale = min(1.0, _ALIGN_SIDE / max(height, width))
    size = (max(8, round(width * scale)), max(8, round(height * scale)))

    def grey(rgb: np.ndarray) -> np.ndarray:
        small = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small.astype(np.float32), (0, 0), 1.0)

    everywhere = np.ones((size[1], size[0]), np.uint8)
    masks = [everywhere]
    if subject is not None:
        small = cv2.resize(subject.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) > 0.2
        margin = max(2, max(size) // 40)  # the subject's blurry rim and the shift between the shots
        backdrop = (cv2.dilate(small.astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8)) == 0)
        if backdrop.mean() > 0.2:
            masks.insert(0, backdrop.astype(np.uint8))
    template, moving = grey(photo), grey(plate)
    # with the subject left out, and without (the model may have taken the set-up's sharpest
    # marks, a colour card, for the subject): the warp that fits best wins
    fits = [fit for fit in (_ecc(template, moving, mask) for mask in masks) if fit is not None]
    if not fits:
        return None, "clean plate not used: it does not line up with this photo (another set-up?)"
    warp = min(fits, key=lambda fit: _misfit(template, moving, fit))
    warp = warp.copy()
    warp[:, 2] /= scale  # translation back in working pixels
    return warp, ""


def _ecc(template: np.ndarray, moving: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """ECC's warp: a translation first (robust from afar), then the affine fit from there if it
    holds; None when neither converges to a small camera move."""
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)
    side = max(template.shape)
    warp = None
    try:
        correlation, shifted = cv2.findTransformECC(template, moving, np.eye(2, 3, dtype=np.float32),
                                                    cv2.MOTION_TRANSLATION, criteria, mask, 5)
        if _plausible(shifted, correlation, side):
            warp = shifted
            correlation, affine = cv2.findTransformECC(template, moving, shifted.copy(), cv2.MOTION_AFFINE,
                                                       criteria, mask, 5)
            warp = affine if _plausible(affine, correlation, side) else warp
    except cv2.error:
        pass  # no convergence: ECC's own refusal of images that do not correlate
    return warp


def _misfit(template: np.ndarray, moving: np.ndarray, warp: np.ndarray) -> float:
    """How badly the plate warped by ``warp`` matches the photo, exposure aside (normalised)."""
    height, width = template.shape
    warped = cv2.warpAffine(moving, warp, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)

    def norm(image: np.ndarray) -> np.ndarray:
        out: np.ndarray = (image - image.mean()) / (image.std() + 1e-6)
        return out

    return float(np.median(np.abs(norm(template) - norm(warped))))


def _plausible(warp: np.ndarray, correlation: float, side: int) -> bool:
    """A small camera move between shots of one set-up, not a fit to something else."""
    shift = float(np.abs(warp[:, 2]).max()) / side
    scale = float(np.abs(warp[:, :2] - np.eye(2)).max())
    return correlation >= _MIN_CORRELATION and shift <= _MAX_SHIFT and scale <= _MAX_SCALE


def plate_mask(rgb: np.ndarray, plate: CleanPlate,
               model_mask: np.ndarray | None = None) -> tuple[np.ndarray | None, str]:
    """The foreground probability of ``rgb`` against the clean plate, at the working size
    (float32, the photo's aspect, long side :data:`PLATE_WORK_SIDE`), and a note; None and the
    reason when the plate is refused (another size or set-up). ``model_mask`` (any size, stretched
    over the photo): where the model sees the subject, left out when aligning."""
    height, width = rgb.shape[:2]
    p_height, p_width = plate.rgb.shape[:2]
    if abs(np.log((width / height) / (p_width / p_height))) > _MAX_ASPECT_CHANGE:
        return None, (f"clean plate not used: it is {p_width}×{p_height}, the photo {width}×{height} "
                      "(another camera or crop)")
    size = _work_size(height, width)
    photo = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    backdrop = cv2.resize(plate.rgb, size, interpolation=cv2.INTER_AREA)
    warp, note = _align(photo, backdrop, model_mask)
    if warp is None:
        return None, note
    # the coarse fit is good to about a pixel; the set-up's sharp edges (a colour card) need
    # better, and once a first comparison (on a half-size copy: it only has to find the subject)
    # has found what differs from the plate, what the model missed too can be left out
    half = (max(8, size[0] // 2), max(8, size[1] // 2))
    halved = np.hstack([warp[:, :2], warp[:, 2:] / 2]).astype(np.float32)
    first = _compare(cv2.resize(photo, half, interpolation=cv2.INTER_AREA),
                     cv2.resize(backdrop, half, interpolation=cv2.INTER_AREA), halved)
    subject = cv2.resize((first > _Z_BACKDROP).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    warp = _refine(photo, backdrop, warp, subject)
    z = _compare(photo, backdrop, warp)
    probability = np.clip((z - _Z_BACKDROP) / (_Z_SURE - _Z_BACKDROP), 0.0, 1.0).astype(np.float32)
    if (probability > 0.5).mean() > _MAX_FOREGROUND:
        return None, "clean plate not used: most of the photo differs from it (another set-up?)"
    return _solid(probability), ""


def _compare(photo: np.ndarray, plate: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """The significance of the photo's difference from the plate warped by ``warp``
    (:func:`_significance`), 0 where the warped plate does not cover the photo."""
    size = photo.shape[1::-1]
    backdrop = cv2.warpAffine(plate, warp, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
    # the strips the camera's move brought into the frame are not on the plate: no say there
    inside = cv2.warpAffine(np.ones(photo.shape[:2], np.uint8), warp, size,
                            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0)
    covered = cv2.erode(inside, np.ones((7, 7), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    score, backdrop_like = _standard_difference(photo.astype(np.float32), backdrop.astype(np.float32), covered)
    return _significance(score, backdrop_like, covered)


def _refine(photo: np.ndarray, plate: np.ndarray, warp: np.ndarray, subject: np.ndarray) -> np.ndarray:
    """``warp`` refined by ECC over what looks like backdrop (``subject`` and a margin left out),
    on a half-size copy (ECC is good to a fraction of a pixel there, at a quarter of the cost);
    the coarse warp where the refinement does not converge or strays."""
    height, width = photo.shape[:2]
    half = (max(8, width // 2), max(8, height // 2))

    def grey(rgb: np.ndarray) -> np.ndarray:
        small = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), half, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small.astype(np.float32), (0, 0), 0.7)

    margin = max(3, max(half) // 100)
    small_subject = cv2.resize(subject.astype(np.uint8), half, interpolation=cv2.INTER_NEAREST)
    backdrop = cv2.dilate(small_subject, np.ones((2 * margin + 1,) * 2, np.uint8)) == 0
    if backdrop.mean() < 0.2:
        return warp
    start = np.hstack([warp[:, :2], warp[:, 2:] / 2]).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-4)
    try:
        _, refined = cv2.findTransformECC(grey(photo), grey(plate), start.copy(), cv2.MOTION_AFFINE,
                                          criteria, backdrop.astype(np.uint8), 1)
    except cv2.error:
        return warp
    refined = np.hstack([refined[:, :2], refined[:, 2:] * 2])
    # a refinement moves the fit by a pixel or two, no more
    if float(np.abs(refined[:, 2] - warp[:, 2]).max()) > 3.0 or float(np.abs(refined[:, :2] - warp[:, :2]).max()) > 0.01:
        return warp
    return refined


def _standard_difference(photo: np.ndarray, plate: np.ndarray,
                         covered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photo's difference from the exposure-matched plate in units of what the backdrop
    itself varies by (H×W×3, clipped to ±:data:`_CLIP`), and the pixels taken for backdrop.

    Exposure: a gain per channel, the median ratio over the pixels that look like backdrop
    (refined twice, as the subject is found); the plate times the gain is clipped at 255 as the
    sensor clips it (an over-exposed seamless is no difference). The noise: per channel, the
    spread (MAD) of the difference over the backdrop; and a plate pixel on a sharp edge (the
    colour card) may differ by its gradient times the alignment's sub-pixel error. Clipping
    bounds how far a strong difference (a dark product) spreads when the scales average it."""
    photo_s = cv2.GaussianBlur(photo, (0, 0), 2.0)
    plate_s = cv2.GaussianBlur(plate, (0, 0), 2.0)
    unclipped = covered & (photo_s.max(axis=2) < 250) & (plate_s.max(axis=2) < 250)
    if unclipped.mean() < 0.05:  # all but blown out: the clipped pixels are all there is
        unclipped = covered
    backdrop_like = unclipped
    for _ in range(3):  # exposure over all pixels first, then over those that look like backdrop
        gain = np.median(photo_s[backdrop_like] / np.maximum(plate_s[backdrop_like], 1.0), axis=0)
        difference = photo - np.minimum(plate * gain, 255.0)
        size = np.abs(cv2.GaussianBlur(difference, (0, 0), 2.0)).max(axis=2)
        backdrop_like = unclipped & (size < 3.0 * np.median(size[unclipped]) + 1.0)
        if backdrop_like.mean() < 0.05:
            backdrop_like = unclipped
            break
    matched = plate * gain
    gradient = np.sqrt(cv2.Sobel(matched, cv2.CV_32F, 1, 0, ksize=3) ** 2
                       + cv2.Sobel(matched, cv2.CV_32F, 0, 1, ksize=3) ** 2) / 8.0
    flat = backdrop_like & (gradient.max(axis=2) < 2.0)
    if flat.sum() < 100:
        flat = backdrop_like
    noise = _spread(difference[flat]) + 0.1
    tolerance = np.sqrt(noise**2 + (_REGISTRATION * gradient) ** 2)
    return np.clip(difference / tolerance, -_CLIP, _CLIP), flat


def _spread(values: np.ndarray) -> np.ndarray:
    """Robust standard deviation per column (1.4826 × MAD): the subject's pixels do not count."""
    out: np.ndarray = 1.4826 * np.median(np.abs(values - np.median(values, axis=0)), axis=0)
    return out


def _significance(score: np.ndarray, backdrop_like: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """How many standard deviations of the backdrop's own variation the photo differs from the
    plate by (H×W), the strongest over :data:`_SCALES`. A white product on white paper differs
    by a few levels, less than one pixel's noise, but over a patch of it the mean difference is
    far outside what the backdrop's patches vary by: averaging over larger scales finds what no
    single pixel shows. Each scale averages only the pixels that the finer scales have not
    already found (a normalised convolution): the halo of a strong difference, and the narrow
    gap between two legs, are not filled by the coarse scales; a faint region is, from its own
    pixels. The coarse scales run on a smaller copy (same result, a fraction of the time)."""
    height, width = score.shape[:2]
    z = np.zeros((height, width), np.float32)
    for sigma in _SCALES:
        found = cv2.dilate((z > _Z_SURE).astype(np.uint8), np.ones((3, 3), np.uint8))
        weight = (1 - found).astype(np.float32)
        factor = 1
        while sigma / factor > 2.5:
            factor *= 2
        # (annotated: OpenCV's stubs type its results loosely; these stay float32 / bool arrays)
        small: np.ndarray = score * weight[..., None]
        small_weight: np.ndarray = weight
        reference: np.ndarray = backdrop_like
        if factor > 1:
            small_size = (max(1, width // factor), max(1, height // factor))
            small = cv2.resize(small, small_size, interpolation=cv2.INTER_AREA)
            small_weight = cv2.resize(weight, small_size, interpolation=cv2.INTER_AREA)
            reference = cv2.resize(backdrop_like.astype(np.uint8), small_size, interpolation=cv2.INTER_NEAREST) > 0
        if sigma > 0:
            small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
            small_weight = cv2.GaussianBlur(small_weight, (0, 0), sigma / factor)
        share = np.maximum(small_weight, 1e-3)
        mean = small / share[..., None]
        # what the plate cannot predict however many pixels are averaged (its exposure and
        # alignment are models, good to a fraction of the noise): the least difference that counts
        spread = np.sqrt(_spread(mean[reference]) ** 2 + _ACCURACY**2)
        # fewer pixels averaged near what was found: their mean is noisier by 1/sqrt(share)
        zs = np.sqrt(((mean / spread) ** 2).mean(axis=2) * np.minimum(share, 1.0))
        if sigma > 0 and _HALO > 0:
            k = 2 * round(_HALO * sigma / factor) + 1
            zs = cv2.erode(zs, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        if factor > 1:
            zs = cv2.resize(zs, (width, height), interpolation=cv2.INTER_LINEAR)
        np.maximum(z, np.where(covered, zs, 0.0), out=z)
    return z


def _solid(probability: np.ndarray) -> np.ndarray:
    """The probability without its specks (noise, dust): only regions of a real size count.
    Holes are left as they are: a mug's handle is backdrop, and where a white label matched the
    backdrop the model's mask fills in (:func:`fuse`)."""
    sure = probability > 0.5
    side = max(probability.shape)
    opened = cv2.morphologyEx(sure.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8),
                              iterations=max(1, side // 512))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    big = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= sure.size * _MIN_REGION)
    sure = np.isin(labels, big[big > 0])
    # the soft ramp is kept at the rims of what is left (the snap to the photo sets the edge)
    rim = cv2.dilate(sure.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    out: np.ndarray = np.where(rim, probability, 0.0).astype(np.float32)
    # the blur that silenced the noise also spread the subject by about its radius: take it back
    out = cv2.erode(out, np.ones((_ERODE, _ERODE), np.uint8))
    return out


def fuse(model_lowres: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """The mask to snap, at the plate's working size: wherever the plate sees the subject its
    probability adds what the model missed (max); the model's mask stays elsewhere on the
    subject, keeping what looks exactly like the backdrop (a white cap on white paper); but a
    region of the model's mask that the plate sees (almost) nothing of is dropped."""
    height, width = probability.shape
    model = cv2.resize(model_lowres.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    # a region of the model's mask the plate sees nothing of is the set-up itself (a colour
    # card, a clamp, a stand: in the plate too, to within the noise): not the product
    count, labels = cv2.connectedComponents((model > 0.5).astype(np.uint8), connectivity=8)
    if count > 1:
        seen = np.bincount(labels.ravel(), weights=(probability > 0.5).ravel(), minlength=count)
        share = seen / np.maximum(np.bincount(labels.ravel(), minlength=count), 1)
        unseen = np.flatnonzero(share < _MIN_SEEN)
        model = np.where(np.isin(labels, unseen[unseen > 0]), 0.0, model)
    # along the model's own outline its edge stands (the plate's is blurred): the plate adds
    # only beyond it
    margin = max(2, max(height, width) // 200)
    outline = cv2.dilate((model > 0.5).astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8)) > 0
    fused: np.ndarray = np.where(outline, model, np.maximum(model, probability)).astype(np.float32)
    return fused


def apply_clean_plate(model_lowres: np.ndarray, rgb: np.ndarray,
                      plate_path: str | os.PathLike[str] | None) -> tuple[np.ndarray, str]:
    """The model's low-resolution mask fused with the clean plate's (:func:`fuse`), and a note
    for the photo's result ("" when the plate was used, or there is none); a plate that is
    refused leaves the model's mask as it is."""
    if plate_path is None:
        return model_lowres, ""
    try:
        plate = CleanPlate.load(plate_path)
    except CleanPlateError as exc:
        return model_lowres, str(exc)
    probability, note = plate_mask(rgb, plate, model_lowres)
    if probability is None:
        return model_lowres, note
    return fuse(model_lowres, probability), note
