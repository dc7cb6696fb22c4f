"""Mask quality on labelled folders: what ``cutout-studio eval`` and ``bench/bench_quality.py`` report.

A *set* is a folder with ``images/NAME.jpg`` photos and ``masks/NAME.png`` ground truth
(8-bit, 255 = foreground). Every method turns a photo into a full-resolution alpha and is
scored against the ground truth with the salient-object-detection metrics of ``pysodmetrics``
(MAE, max F-measure with β² = 0.3, weighted F-measure, S-measure, E-measure), plus the mean IoU
of the mask thresholded at 0.5, which is what a photographer sees once the edge is cut.

Methods, so that the engine is compared with what people would otherwise use:

- ``cutout``: :meth:`Segmenter.predict`, the model plus guided snapping to the photo's edges.
- ``u2netp-plain``: the same model's 320-px mask post-processed as rembg does it (the mask
  quantised to 8 bits, then resized to the photo's size with Pillow's LANCZOS): isolates what
  the guided snapping adds.
- ``grabcut``: OpenCV GrabCut alone, no model: a rectangle a few percent inside the border,
  5 iterations, on a copy reduced to ~512 px (as an app would, to answer in about a second),
  upsampled back bilinearly.

Seconds per image time the method alone (photo already decoded), so that the methods are
compared on the same work; decoding is the same for all of them.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PIL import Image

from cutout_studio.core.errors import CutoutError
from cutout_studio.core.image_io import is_image_path, load_image
from cutout_studio.core.training.split import SPLITS, select_split

if TYPE_CHECKING:
    from cutout_studio.core.segmenter import Segmenter

__all__ = [
    "METHODS",
    "EvalSet",
    "MaskScores",
    "evaluate_sets",
    "find_pairs",
    "format_table",
    "grabcut_alpha",
    "iou",
    "make_predictor",
    "plain_upscale",
]

#: Every method :func:`evaluate_sets` knows, in the order tables list them.
METHODS = ("cutout", "u2netp-plain", "grabcut")
_MODEL_METHODS = frozenset({"cutout", "u2netp-plain"})

#: GrabCut baseline settings (see the module docstring).
GRABCUT_ITERATIONS = 5
GRABCUT_WORK_SIDE = 512
GRABCUT_MARGIN = 0.05  # of each side: photographers frame the product with some room around it

#: Images named in a summary's ``worst`` list: where to look first when a score drops.
_WORST_SHOWN = 5

Predictor = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------------------------
# sets


@dataclass(frozen=True)
class EvalSet:
    """A labelled folder: (photo, mask) pairs matched by file stem, in name order."""

    name: str
    root: Path
    pairs: tuple[tuple[Path, Path], ...]
    unpaired: int  #: photos without a mask (not scored)


def find_pairs(folder: str | Path) -> EvalSet:
    """The photo/mask pairs of a set folder; :class:`CutoutError` when it is not a usable set."""
    root = Path(folder).expanduser()
    label = str(folder)
    if not root.is_dir():
        raise CutoutError(f"{label}: not a folder (a set is a folder with images/ and masks/ subfolders)")
    images, masks = root / "images", root / "masks"
    missing = [sub.name + "/" for sub in (images, masks) if not sub.is_dir()]
    if missing:
        raise CutoutError(
            f"{label}: no {' and no '.join(missing)} subfolder (a set is a folder with images/*.jpg and "
            "masks/*.png, 255 = foreground)"
        )
    photos = sorted(
        p for p in images.iterdir() if p.is_file() and not p.name.startswith(".") and is_image_path(p)
    )
    pairs = tuple(
        (photo, masks / f"{photo.stem}.png") for photo in photos if (masks / f"{photo.stem}.png").is_file()
    )
    if not pairs:
        raise CutoutError(
            f"{label}: no photo in images/ has a mask of the same name in masks/ "
            f"({len(photos)} photo(s) found; expected e.g. images/x.jpg with masks/x.png)"
        )
    return EvalSet(root.resolve().name, root, pairs, len(photos) - len(pairs))


def _split_set(eval_set: EvalSet, split: str) -> EvalSet:
    if split == "all":
        return eval_set
    pairs = tuple(select_split(eval_set.pairs, split))
    if not pairs:
        raise CutoutError(f"{eval_set.root}: no pair in its {split} part")
    return EvalSet(eval_set.name, eval_set.root, pairs, eval_set.unpaired)


def _spread(pairs: Sequence[tuple[Path, Path]], limit: int | None) -> list[tuple[Path, Path]]:
    """At most ``limit`` pairs, evenly spaced over the set.

    Sets such as DAVIS are runs of frames from a few videos; the first N would all show the
    same scene, so a limited run takes every k-th pair instead (deterministic, so comparable).
    """
    if limit is None or limit >= len(pairs):
        return list(pairs)
    if limit < 1:
        raise CutoutError(f"--limit must be at least 1, got {limit}")
    return [pairs[i * len(pairs) // limit] for i in range(limit)]


def _read_truth(path: Path, shape: tuple[int, int]) -> np.ndarray:
    truth = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if truth is None:
        raise CutoutError(f"{path.name}: the ground-truth mask cannot be read as an image")
    if truth.shape != shape:
        raise CutoutError(
            f"{path.name}: the mask is {truth.shape[1]}×{truth.shape[0]} but its photo is {shape[1]}×{shape[0]} "
            "(upright, after EXIF orientation)"
        )
    return truth


# --------------------------------------------------------------------------------------------
# methods


def plain_upscale(mask_lowres: np.ndarray, width: int, height: int) -> np.ndarray:
    """rembg's post-processing of a model mask: 8-bit (truncated, as rembg does), then Pillow LANCZOS."""
    quantised = (np.clip(mask_lowres, 0.0, 1.0) * 255).astype(np.uint8)
    resized = Image.fromarray(quantised, mode="L").resize((width, height), Image.Resampling.LANCZOS)
    alpha: np.ndarray = np.asarray(resized, dtype=np.float32) * np.float32(1 / 255)
    return alpha


def grabcut_alpha(
    rgb: np.ndarray,
    *,
    margin: float = GRABCUT_MARGIN,
    iterations: int = GRABCUT_ITERATIONS,
    work_side: int = GRABCUT_WORK_SIDE,
) -> np.ndarray:
    """GrabCut from a rectangle ``margin`` inside the border, no model: the no-AI baseline."""
    height, width = rgb.shape[:2]
    scale = min(1.0, work_side / max(height, width))
    small_w, small_h = max(2, round(width * scale)), max(2, round(height * scale))
    small = rgb if scale == 1.0 else cv2.resize(rgb, (small_w, small_h), interpolation=cv2.INTER_AREA)
    dx, dy = max(1, round(small_w * margin)), max(1, round(small_h * margin))
    rect = (dx, dy, max(1, small_w - 2 * dx), max(1, small_h - 2 * dy))
    labels = np.zeros((small_h, small_w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut works in BGR order by convention; the colour model does not care, but stay faithful.
    cv2.grabCut(
        cv2.cvtColor(small, cv2.COLOR_RGB2BGR), labels, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT
    )
    fg: np.ndarray = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.float32)
    if fg.shape != (height, width):
        fg = np.clip(cv2.resize(fg, (width, height), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return fg


def make_predictor(method: str, segmenter: Segmenter | None) -> Predictor:
    """The function ``rgb -> full-resolution alpha`` that a method stands for."""
    if method == "grabcut":
        return grabcut_alpha
    if method not in _MODEL_METHODS:
        raise CutoutError(f"unknown evaluation method '{method}' (known: {', '.join(METHODS)})")
    if segmenter is None:
        raise ValueError(f"method '{method}' needs a Segmenter")
    if method == "cutout":
        return segmenter.predict

    def u2netp_plain(rgb: np.ndarray) -> np.ndarray:
        mask = segmenter.predict_lowres([rgb])[0]
        return plain_upscale(mask, rgb.shape[1], rgb.shape[0])

    return u2netp_plain


# --------------------------------------------------------------------------------------------
# metrics


def iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of ``alpha > 0.5`` and ``truth > 127`` (1.0 when both are empty)."""
    predicted, actual = alpha > 0.5, truth > 127
    union = int(np.count_nonzero(predicted | actual))
    return 1.0 if union == 0 else int(np.count_nonzero(predicted & actual)) / union


def _import_metrics() -> Any:
    try:
        import py_sod_metrics
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise CutoutError(
            "evaluation needs the pysodmetrics package: pip install 'cutout-studio[eval]' (or pysodmetrics)"
        ) from exc
    return py_sod_metrics


class MaskScores:
    """Running scores of one method on one set: feed :meth:`add`, read :meth:`summary`."""

    def __init__(self) -> None:
        metrics = _import_metrics()
        self._mae = metrics.MAE()
        self._s = metrics.Smeasure()
        self._e = metrics.Emeasure()
        self._wf = metrics.WeightedFmeasure()
        self._f = metrics.FmeasureV2(
            metric_handlers={"fm": metrics.FmeasureHandler(with_dynamic=True, with_adaptive=False, beta=0.3)}
        )
        self._ious: list[tuple[float, str]] = []
        self._seconds = 0.0

    def add(self, name: str, alpha: np.ndarray, truth: np.ndarray, seconds: float) -> float:
        """Score one prediction (H×W float alpha in [0, 1]) against its 8-bit mask; returns its IoU."""
        if alpha.shape != truth.shape:
            raise ValueError(f"{name}: prediction {alpha.shape} and mask {truth.shape} differ in size")
        value = iou(alpha, truth)
        self._ious.append((value, name))
        self._seconds += seconds
        # The SOD metrics take 8-bit maps, as the published numbers of these models were computed.
        pred = np.clip(np.rint(np.asarray(alpha, np.float32) * 255), 0, 255).astype(np.uint8)
        for metric in (self._mae, self._s, self._e, self._wf, self._f):
            metric.step(pred, truth)
        return value

    @property
    def count(self) -> int:
        return len(self._ious)

    def summary(self) -> dict[str, Any]:
        """Mean scores (JSON-ready floats), seconds per image and the worst images by IoU."""
        if not self._ious:
            raise ValueError("no image was scored")
        e_curve = self._e.get_results()["em"]["curve"]
        f_curve = self._f.get_results()["fm"]["dynamic"]
        return {
            "images": self.count,
            "iou": _num(np.mean([v for v, _ in self._ious])),
            "mae": _num(self._mae.get_results()["mae"]),
            "max_f": _num(np.max(f_curve)),
            "weighted_f": _num(self._wf.get_results()["wfm"]),
            "s_measure": _num(self._s.get_results()["sm"]),
            "mean_e": _num(np.mean(e_curve)),
            "max_e": _num(np.max(e_curve)),
            "seconds_per_image": _num(self._seconds / self.count),
            "worst": [{"image": name, "iou": _num(v)} for v, name in sorted(self._ious)[:_WORST_SHOWN]],
        }


def _num(value: Any) -> float:
    return round(float(value), 6)


# --------------------------------------------------------------------------------------------
# running


def evaluate_sets(
    sets: Sequence[str | Path],
    *,
    methods: Sequence[str] = ("cutout",),
    model: str = "default",
    device: str = "auto",
    half: bool | None = None,
    limit: int | None = None,
    progress: bool = False,
    split: str = "all",
) -> dict[str, Any]:
    """Score each method on each set; returns a JSON-ready dict (see :func:`format_table`).

    The interactive click protocol is :func:`cutout_studio.core.clicks.evaluate_clicks` (it
    builds on this module's set readers, so this module never imports it).

    Layout: ``{"model", "precision", "device", "limit", "methods", "sets": {set_name: {"path", "images",
    "unpaired", "methods": {method: summary}}}}`` where a summary is :meth:`MaskScores.summary`.
    Raises :class:`CutoutError` for an unknown method, a folder that is not a set, or a mask
    whose size is not its photo's; :class:`ModelError` when the model is not installed.
    ``split``: ``val`` scores only each set's held-out part (:mod:`training.split`, never
    trained on), ``train`` the rest, ``all`` (default) every pair.
    """
    methods = list(dict.fromkeys(methods or ["cutout"]))  # keep order, drop repeats
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CutoutError(f"unknown evaluation method(s): {', '.join(unknown)} (known: {', '.join(METHODS)})")
    if not sets:
        raise CutoutError("no set folder given")
    if limit is not None and limit < 1:
        raise CutoutError(f"--limit must be at least 1, got {limit}")
    if split not in SPLITS:
        raise CutoutError(f"unknown split '{split}' (use {', '.join(SPLITS)})")
    # check every folder before the long work starts
    eval_sets = [_split_set(find_pairs(folder), split) for folder in sets]
    _import_metrics()

    segmenter = None
    if _MODEL_METHODS.intersection(methods):
        from cutout_studio.core.segmenter import Segmenter

        segmenter = Segmenter(model, device=device, half=half)
    predictors = {method: make_predictor(method, segmenter) for method in methods}

    results: dict[str, Any] = {
        "model": segmenter.model_name if segmenter else None,
        "precision": segmenter.precision if segmenter else None,
        "device": segmenter.device_label if segmenter else "CPU",
        "limit": limit,
        "split": split,
        "methods": methods,
        "sets": {},
    }
    for eval_set in eval_sets:
        key = eval_set.name
        while key in results["sets"]:  # two folders with the same name: keep both
            key += "'"
        results["sets"][key] = _evaluate_set(eval_set, predictors, limit, progress)
    return results


def _evaluate_set(
    eval_set: EvalSet, predictors: dict[str, Predictor], limit: int | None, progress: bool
) -> dict[str, Any]:
    pairs = _spread(eval_set.pairs, limit)
    scores = {method: MaskScores() for method in predictors}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(pairs), desc=eval_set.name, unit="img", file=sys.stderr, disable=None)
    try:
        for photo, mask_path in pairs:
            rgb = load_image(photo).rgb
            truth = _read_truth(mask_path, rgb.shape[:2])
            for method, predict in predictors.items():
                started = time.perf_counter()
                alpha = predict(rgb)
                scores[method].add(photo.name, alpha, truth, time.perf_counter() - started)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return {
        "path": str(eval_set.root),
        "images": len(pairs),
        "unpaired": eval_set.unpaired,
        "methods": {method: score.summary() for method, score in scores.items()},
    }


# --------------------------------------------------------------------------------------------
# report

_COLUMNS = (
    ("IoU", "iou", "{:.3f}"),
    ("MAE", "mae", "{:.4f}"),
    ("maxF", "max_f", "{:.3f}"),
    ("wF", "weighted_f", "{:.3f}"),
    ("S", "s_measure", "{:.3f}"),
    ("meanE", "mean_e", "{:.3f}"),
    ("s/img", "seconds_per_image", "{:.3f}"),
)


def format_table(results: dict[str, Any]) -> str:
    """A plain-text table, one row per set and method, as :func:`evaluate_sets` returned them."""
    header = ["set", "method", "n", *[title for title, _, _ in _COLUMNS]]
    rows = [header]
    for set_name, set_result in results.get("sets", {}).items():
        for method, summary in set_result["methods"].items():
            row = [set_name, method, str(summary["images"])]
            for _, key, fmt in _COLUMNS:
                value = summary.get(key)
                row.append(
                    "-"
                    if value is None or (isinstance(value, float) and math.isnan(value))
                    else fmt.format(value)
                )
            rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    device = results.get("device")
    model = results.get("model")
    footer = (
        f"model: {model or '-'} on {device}"
        + (f" ({results['precision']})" if results.get("precision") else "")
        + "; IoU at alpha > 0.5; s/img: the method alone, decode excluded"
    )
    return "\n".join([*lines, footer])
