"""How much to trust an automatic mask: one number per photo in [0, 1], from cheap signals.

Worst-first review sorts a shoot by this number, and the batch report writes it as its
``confidence`` column, so that the photos most likely to need fixing are looked at first. The
signals are read from the mask itself, on a strided copy of at most :data:`WORK_SIDE` pixels
(a few milliseconds at 24 MP):

- the band of undecided pixels (alpha between 0.1 and 0.9): its width along the subject's
  outline (undecided pixels per pixel of outline) and its share of the frame;
- the outline's length relative to the frame (a ragged or busy outline is harder);
- stray islands (foreground outside the largest part) and holes (background enclosed by the
  subject), each relative to the subject's area;
- the subject touching the frame (share of the frame's border that is foreground), and the
  subject's share of the frame;
- optionally, the disagreement between the model's mask and a pass on the horizontally
  flipped photo (:func:`flip_disagreement`, one more model pass): where the model is unsure,
  the two passes disagree.

The signals are combined linearly into a predicted log₁₀ MAE and squashed to (0, 1): 1 is a
mask the model is sure of. The weights were fitted on the *train* parts of the development sets
and checked on their *val* parts (``bench/bench_confidence.py``; numbers in docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # the segmenter imports torch; confidence from a mask alone does not need it
    from cutout_studio.core.segmenter import Segmenter

__all__ = ["ConfidenceSignals", "confidence", "flip_disagreement", "mask_signals", "score"]

#: The signals are read on a strided copy whose long side is at most this (pixels).
WORK_SIDE = 512
#: Alpha strictly between these is "undecided".
UNDECIDED = (0.1, 0.9)
_EPS = 1e-4


@dataclass(frozen=True)
class ConfidenceSignals:
    """What the confidence is made of (all shares in [0, 1] unless said otherwise)."""

    band: float  #: undecided pixels per pixel of outline (a width, in work pixels)
    undecided: float  #: share of the frame that is undecided
    outline: float  #: outline length / (width + height) of the frame
    islands: float  #: foreground outside the largest part, relative to the foreground
    holes: float  #: enclosed background, relative to the foreground
    touching: float  #: share of the frame's border that is foreground
    subject: float  #: share of the frame that is foreground
    flip: float | None = None  #: mean |mask − flipped pass| over the frame, or None (not run)


def _work_copy(alpha: np.ndarray) -> np.ndarray:
    """A strided (never interpolated: undecided pixels stay undecided) float copy of ``alpha``
    (an 8-bit mask, 255 = foreground, is read as such)."""
    step = max(1, math.ceil(max(alpha.shape[:2]) / WORK_SIDE))
    work = np.asarray(alpha[::step, ::step], dtype=np.float32)
    return work / np.float32(255.0) if alpha.dtype == np.uint8 else work


def mask_signals(alpha: np.ndarray, flip: float | None = None) -> ConfidenceSignals:
    """The signals of an H×W alpha in [0, 1] (``flip``: :func:`flip_disagreement`, if run)."""
    a = _work_copy(alpha)
    h, w = a.shape
    total = float(h * w)
    solid = a >= 0.5
    fg = int(np.count_nonzero(solid))
    lo, hi = UNDECIDED
    undecided = int(np.count_nonzero((a > lo) & (a < hi)))
    edges = int(np.count_nonzero(solid[1:, :] != solid[:-1, :]) + np.count_nonzero(solid[:, 1:] != solid[:, :-1]))
    border = np.concatenate([solid[0, :], solid[-1, :], solid[1:-1, 0], solid[1:-1, -1]])
    islands = holes = 0.0
    if fg:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(solid.astype(np.uint8), connectivity=8)
        largest = int(stats[1:, cv2.CC_STAT_AREA].max()) if count > 1 else 0
        islands = (fg - largest) / fg
        # background parts that do not reach the frame are holes in the subject
        count, labels, stats, _ = cv2.connectedComponentsWithStats((~solid).astype(np.uint8), connectivity=4)
        outside = set(np.unique(np.concatenate([labels[0, :], labels[-1, :], labels[:, 0], labels[:, -1]])))
        enclosed = sum(int(stats[i, cv2.CC_STAT_AREA]) for i in range(1, count) if i not in outside)
        holes = enclosed / fg
    return ConfidenceSignals(
        band=undecided / max(edges, 1),
        undecided=undecided / total,
        outline=edges / float(h + w),
        islands=islands,
        holes=holes,
        touching=float(np.count_nonzero(border)) / max(border.size, 1),
        subject=fg / total,
        flip=flip,
    )


def flip_disagreement(segmenter: Segmenter, rgb: np.ndarray, mask_lowres: np.ndarray | None = None) -> float:
    """Mean |mask − mirrored mask of the mirrored photo| at the model's resolution: one more
    model pass (two when ``mask_lowres``, the model's own mask of ``rgb``, is not given)."""
    masks = segmenter.predict_lowres([np.ascontiguousarray(rgb[:, ::-1])] if mask_lowres is not None
                                     else [rgb, np.ascontiguousarray(rgb[:, ::-1])])
    mask = mask_lowres if mask_lowres is not None else masks[0]
    return float(np.mean(np.abs(mask - masks[-1][:, ::-1])))


def features(signals: ConfidenceSignals) -> dict[str, float]:
    """Every candidate input of the linear model, by name (logs of the skewed shares)."""
    s = signals
    out = {
        "log band": math.log10(s.band + _EPS),
        "log undecided": math.log10(s.undecided + _EPS),
        "log outline": math.log10(s.outline + _EPS),
        "log islands": math.log10(s.islands + _EPS),
        "log holes": math.log10(s.holes + _EPS),
        "touching": s.touching,
        "subject": s.subject,
    }
    if s.flip is not None:
        out["log flip"] = math.log10(s.flip + _EPS)
    return out


# Fitted by ``bench/bench_confidence.py --fit`` on the train parts of people-ccp, objects-coco and
# davis (40 photos each): least squares on each photo's log10 MAE minus its set's mean (a shoot
# is one kind of photo: what matters is the order within it). Which inputs to keep was chosen
# by 5-fold cross-validation on those train photos alone (``--select``): from the mask, the
# undecided band along the outline, the outline's length and the frame contact ranked best; with
# the flipped pass, the outline's length and the two passes' disagreement. Islands, holes and the
# subject's share added nothing to the ranking there (they stay in the signals).
# MID and SCALE put the train photos' median prediction at 0.5.
WEIGHTS_MASK: dict[str, float] = {"intercept": -0.2979, "log band": 0.5963, "log outline": 0.9218, "touching": 1.2536}
WEIGHTS_FLIP: dict[str, float] = {"intercept": 0.5566, "log undecided": -0.0464, "log outline": 0.7619,
                                  "log flip": 0.3923}
MID_MASK, SCALE_MASK = -0.0276, 0.2911
MID_FLIP, SCALE_FLIP = -0.0233, 0.3212


def predicted_log_mae(signals: ConfidenceSignals) -> float:
    """The linear model's log₁₀ MAE of the mask, relative to its kind of photo."""
    weights = WEIGHTS_FLIP if signals.flip is not None else WEIGHTS_MASK
    inputs = features(signals)
    return weights["intercept"] + sum(w * inputs[name] for name, w in weights.items() if name != "intercept")


def score(signals: ConfidenceSignals) -> float:
    """Confidence in [0, 1] from the signals: 1 − a logistic of the predicted log MAE."""
    if signals.subject <= 0.0 or signals.subject >= 1.0:
        return 0.0  # nothing (or everything) kept: certainly wrong for a product photo
    mid, scale = (MID_FLIP, SCALE_FLIP) if signals.flip is not None else (MID_MASK, SCALE_MASK)
    z = (predicted_log_mae(signals) - mid) / scale
    return float(1.0 / (1.0 + math.exp(min(50.0, max(-50.0, z)))))


def confidence(alpha: np.ndarray, flip: float | None = None) -> float:
    """How much to trust ``alpha`` (H×W float in [0, 1], or uint8 0–255): 0 (look at it first) … 1 (sure)."""
    return score(mask_signals(alpha, flip))


def as_row(signals: ConfidenceSignals) -> Sequence[float | None]:
    """The signals as a tuple (benchmark output)."""
    return astuple(signals)
