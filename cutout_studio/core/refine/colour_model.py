"""Colour models for the graph cut: Gaussian mixtures in OpenCV's GrabCut layout.

The stroke's colours are the model of what the user wants, the rest of the region's current
state the model of what it is not (see :mod:`.graphcut`). Fitting is deterministic, so the
same stroke always gives the same result.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Colour models: up to this many Gaussian components fitted to the samples, plus one broad
# "anything" component with a small weight. OpenCV's GrabCut has five slots per model.
_GMM_SLOTS = 5
_OUTLIER_WEIGHT = 0.02
_OUTLIER_SIGMA = 150.0
#: Variance (in 8-bit levels²) added to every fitted component: JPEG noise and the reduced
#: working copy blur colours, so a colour a few levels off the stroke's is still the stroke's.
_COLOUR_VARIANCE_FLOOR = 36.0
_MAX_GMM_SAMPLES = 3000
#: Multiplier of the colour (data) costs against GrabCut's fixed smoothness (see sharpen).
_DATA_WEIGHT = 2.0


def fit_colour_model(samples: np.ndarray) -> np.ndarray:
    """A GrabCut colour model (1×65 float64: weights, means, covariances) fitted to N×3 colours.

    k-means starts from luminance quantiles, not random centres, so the same stroke always
    gives the same result. A broad low-weight component keeps every colour's likelihood above
    zero (an infinite data cost would make the cut meaningless for colours neither model knows).
    """
    model = np.zeros((1, 13 * _GMM_SLOTS), np.float64)
    weights = model[0, :_GMM_SLOTS]
    means = model[0, _GMM_SLOTS : 4 * _GMM_SLOTS].reshape(_GMM_SLOTS, 3)
    covs = model[0, 4 * _GMM_SLOTS :].reshape(_GMM_SLOTS, 3, 3)
    fitted = _GMM_SLOTS - 1

    samples = np.asarray(samples, dtype=np.float32).reshape(-1, 3)
    if len(samples) > _MAX_GMM_SAMPLES:
        samples = samples[:: math.ceil(len(samples) / _MAX_GMM_SAMPLES)]
    n = len(samples)
    if n:
        k = int(min(fitted, max(1, n // 24)))
        if k > 1:
            order = np.argsort(samples.sum(axis=1), kind="stable")
            initial = np.empty(n, np.int32)
            initial[order] = (np.arange(n) * k) // n
            criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 0.5)
            _, assigned, _ = cv2.kmeans(
                samples, k, initial.reshape(-1, 1), criteria, 1, cv2.KMEANS_USE_INITIAL_LABELS
            )
            assigned = assigned.ravel()
        else:
            assigned = np.zeros(n, np.int32)
        for c in range(k):
            members = samples[assigned == c].astype(np.float64)
            if len(members) < 2:
                continue
            weights[c] = len(members) / n
            means[c] = members.mean(axis=0)
            covs[c] = np.cov(members, rowvar=False) + np.eye(3) * _COLOUR_VARIANCE_FLOOR
        weights *= (1.0 - _OUTLIER_WEIGHT) / max(weights.sum(), 1e-12)
    weights[fitted] = _OUTLIER_WEIGHT if n else 1.0
    means[fitted] = 127.5
    covs[fitted] = np.eye(3) * _OUTLIER_SIGMA**2
    return sharpen(model, _DATA_WEIGHT)


def sharpen(model: np.ndarray, power: float) -> np.ndarray:
    """The model whose density is (approximately) the ``power``-th power of ``model``'s.

    GrabCut's smoothness weight is fixed (γ = 50); colour evidence from a few stroke pixels is
    weak next to it, so the cut prefers "flip the whole connected region" or "flip nothing"
    when the colours are only somewhat different. Raising the densities to a power multiplies
    every data cost ``−log p`` by it. Exact per component: ``(w·N(x; μ, Σ))^k`` is
    ``w^k·|Σ|^((1−k)/2)·k^(−3/2)`` times OpenCV's component with covariance ``Σ/k``; the sum
    over components is then a close approximation, since one component dominates each colour.
    """
    if power == 1.0:
        return model
    out: np.ndarray = model.copy()
    weights = out[0, :_GMM_SLOTS]
    covs = out[0, 4 * _GMM_SLOTS :].reshape(_GMM_SLOTS, 3, 3)
    for c in range(_GMM_SLOTS):
        if weights[c] <= 0:
            continue
        det = float(np.linalg.det(covs[c]))
        weights[c] = weights[c] ** power * det ** ((1.0 - power) / 2.0) * power**-1.5
        covs[c] /= power
    return out


def log_density(model: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """log p(colour) under a GrabCut colour model (1×65), for N×3 colours, up to a constant
    shared by every model (so differences between two models are log-likelihood ratios)."""
    weights = model[0, :_GMM_SLOTS]
    means = model[0, _GMM_SLOTS : 4 * _GMM_SLOTS].reshape(_GMM_SLOTS, 3)
    covs = model[0, 4 * _GMM_SLOTS :].reshape(_GMM_SLOTS, 3, 3)
    x = np.asarray(colours, dtype=np.float64).reshape(-1, 3)
    parts = []
    for c in range(_GMM_SLOTS):
        if weights[c] <= 0:
            continue
        d = x - means[c]
        # (d·Σ⁻¹)·d row by row: a three-operand einsum loops in Python-speed C, 4× slower
        mahalanobis = np.einsum("ni,ni->n", d @ np.linalg.inv(covs[c]), d)
        parts.append(math.log(weights[c]) - 0.5 * (mahalanobis + math.log(np.linalg.det(covs[c]))))
    if not parts:
        return np.full(len(x), -np.inf)
    stacked = np.stack(parts)
    top = stacked.max(axis=0)
    out: np.ndarray = top + np.log(np.exp(stacked - top).sum(axis=0))
    return out
