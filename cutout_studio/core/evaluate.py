"""Mask quality on labelled folders: what ``cutout-studio eval`` and ``bench/bench_quality.py`` report.

A *set* is a folder with ``images/NAME.jpg`` photos and ``masks/NAME.png`` ground truth
(8-bit, 255 = foreground). Every method turns a photo into a full-resolution alpha and is
scored against the ground truth with the salient-object-detection metrics of ``pysodmetrics``
(MAE, max F-measure with β² = 0.3, weighted F-measure, S-measure, E-measure), plus the mean IoU
of the mask thresholded at 0.5, which is what a photographer sees once the edge is cut, and a
boundary F-measure (:func:`boundary_f`): whether the cut runs where the true edge runs.

Several models can be compared side by side (each a registered name or a ``.safetensors`` file);
every (set, model, method) is scored apart. A per-photo CSV and a contact sheet of each model's
worst photos (:mod:`eval_report`) show where a model fails.

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
from cutout_studio.core.eval_report import SHEET_WORST, WorstPhotos, format_table, write_csv, write_sheet
from cutout_studio.core.image_io import is_image_path, load_image
from cutout_studio.core.training.split import SPLITS, select_split

if TYPE_CHECKING:
    from cutout_studio.core.models import ModelCard
    from cutout_studio.core.segmenter import Segmenter

__all__ = [
    "METHODS",
    "EvalSet",
    "MaskScores",
    "boundary_f",
    "evaluate_sets",
    "find_pairs",
    "format_table",
    "grabcut_alpha",
    "iou",
    "make_predictor",
    "model_card",
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

#: Boundary F tolerance, a fraction of the image diagonal (DAVIS' F-measure uses 0.008; 0.0075
#: is 7 px on a 640×480 photo, a few px at the sizes of the sets)
BOUNDARY_TOLERANCE = 0.0075

#: The row key of methods that run without a model (GrabCut)
NO_MODEL = "-"

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


def _boundary(mask: np.ndarray) -> np.ndarray:
    """The 1-px inner boundary of a binary mask: its pixels with a background 4-neighbour (the
    internal morphological gradient; the image border is not an edge)."""
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    eroded = cv2.erode(mask, cross, borderType=cv2.BORDER_REPLICATE)
    edge: np.ndarray = (mask > 0) & (eroded == 0)
    return edge


def boundary_f(alpha: np.ndarray, truth: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE) -> float:
    """F-measure of the boundary of ``alpha > 0.5`` against that of ``truth > 127``.

    A predicted boundary pixel is right (precision) when a true one lies within ``tolerance`` ×
    the image diagonal (at least 1 px), and a true one is found (recall) when a predicted one
    does, as DAVIS' F measures contour accuracy. 1.0 when neither has a boundary, 0.0 when only
    one has.
    """
    predicted = _boundary((alpha > 0.5).astype(np.uint8))
    actual = _boundary((truth > 127).astype(np.uint8))
    n_predicted, n_actual = int(np.count_nonzero(predicted)), int(np.count_nonzero(actual))
    if n_predicted == 0 or n_actual == 0:
        return 1.0 if n_predicted == n_actual else 0.0
    radius = max(1, round(tolerance * math.hypot(*alpha.shape[:2])))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    near_actual = cv2.dilate(actual.astype(np.uint8), disk) > 0
    near_predicted = cv2.dilate(predicted.astype(np.uint8), disk) > 0
    precision = int(np.count_nonzero(predicted & near_actual)) / n_predicted
    recall = int(np.count_nonzero(actual & near_predicted)) / n_actual
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


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
        self._boundary_fs: list[float] = []
        self._seconds = 0.0
        #: one record per scored photo, in order: image, iou, mae, boundary_f, seconds
        self.photos: list[dict[str, Any]] = []

    def add(self, name: str, alpha: np.ndarray, truth: np.ndarray, seconds: float) -> float:
        """Score one prediction (H×W float alpha in [0, 1]) against its 8-bit mask; returns its IoU."""
        if alpha.shape != truth.shape:
            raise ValueError(f"{name}: prediction {alpha.shape} and mask {truth.shape} differ in size")
        value = iou(alpha, truth)
        edge_f = boundary_f(alpha, truth)
        self._ious.append((value, name))
        self._boundary_fs.append(edge_f)
        self._seconds += seconds
        # The SOD metrics take 8-bit maps, as the published numbers of these models were computed.
        pred = np.clip(np.rint(np.asarray(alpha, np.float32) * 255), 0, 255).astype(np.uint8)
        for metric in (self._mae, self._s, self._e, self._wf, self._f):
            metric.step(pred, truth)
        mae = self._mae.maes[-1]  # the metric's own value for this photo, so that the mean is the summary's
        self.photos.append(
            {"image": name, "iou": _num(value), "mae": _num(mae), "boundary_f": _num(edge_f), "seconds": _num(seconds)}
        )
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
            "boundary_f": _num(np.mean(self._boundary_fs)),
            "mean_e": _num(np.mean(e_curve)),
            "max_e": _num(np.max(e_curve)),
            "seconds_per_image": _num(self._seconds / self.count),
            "worst": [{"image": name, "iou": _num(v)} for v, name in sorted(self._ious)[:_WORST_SHOWN]],
        }


def _num(value: Any) -> float:
    return round(float(value), 6)


# --------------------------------------------------------------------------------------------
# running


def model_card(spec: str) -> ModelCard:
    """The card of ``--model SPEC``: a registered name, or a ``.safetensors`` file to run as is."""
    from cutout_studio.core.models import card_for_file, get_card

    if spec.lower().endswith(".safetensors") or Path(spec).expanduser().is_file():
        return card_for_file(spec)
    return get_card(spec)


def evaluate_sets(
    sets: Sequence[str | Path],
    *,
    methods: Sequence[str] = ("cutout",),
    model: str | Sequence[str] = "default",
    device: str = "auto",
    half: bool | None = None,
    limit: int | None = None,
    progress: bool = False,
    split: str = "all",
    csv_path: str | Path | None = None,
    sheet_path: str | Path | None = None,
    sheet_worst: int = SHEET_WORST,
) -> dict[str, Any]:
    """Score each method of each model on each set; returns a JSON-ready dict (see :func:`format_table`).

    ``model``: one model or several, each a registered name or a ``.safetensors`` file (its
    architecture recognised by :func:`models.card_for_file`); every model runs the model methods
    (``cutout``, ``u2netp-plain``), GrabCut runs once. The interactive click protocol is
    :func:`cutout_studio.core.clicks.evaluate_clicks` (it builds on this module's set readers, so
    this module never imports it).

    Layout: ``{"model", "models", "precision", "device", "limit", "split", "methods", "sets": {set_name:
    {"path", "images", "unpaired", "models": {model: {method: summary}}, "methods": {method: summary}}}}``
    where a summary is :meth:`MaskScores.summary`; the model-free methods are under the model
    ``"-"``, and ``"methods"`` repeats the first model's and the model-free ones (the one-model layout).
    ``csv_path`` gets one line per photo, model and method; ``sheet_path`` (.png or .html) the
    ``sheet_worst`` lowest-IoU photos of each (set, model, method) (:mod:`eval_report`).
    Raises :class:`CutoutError` for an unknown method, a folder that is not a set, or a mask
    whose size is not its photo's; :class:`ModelError` when a model is not installed or a file
    fits no architecture. ``split``: ``val`` scores only each set's held-out part
    (:mod:`training.split`, never trained on), ``train`` the rest, ``all`` (default) every pair.
    """
    specs = list(dict.fromkeys([model] if isinstance(model, str) else (model or ["default"])))
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
    if sheet_path is not None and Path(sheet_path).suffix.lower() not in (".png", ".html", ".htm"):
        raise CutoutError(f"{Path(sheet_path).name}: the contact sheet is a .png or an .html file")
    # check every folder and model file before the long work starts
    eval_sets = [_split_set(find_pairs(folder), split) for folder in sets]
    _import_metrics()
    model_methods = [m for m in methods if m in _MODEL_METHODS]
    cards = [(spec, model_card(spec)) for spec in specs] if model_methods else []

    runs: dict[str, dict[str, Predictor]] = {}
    segmenter = None  # the first model's: its device and precision head the table
    if cards:
        from cutout_studio.core.segmenter import Segmenter
    for spec, card in cards:
        current = Segmenter(card, device=device, half=half)
        segmenter = segmenter or current
        label = spec if card.weights_at is not None else card.name
        while label in runs:  # the same model twice under two names: keep both rows apart
            label += "'"
        runs[label] = {m: make_predictor(m, current) for m in model_methods}
    free_methods = [m for m in methods if m not in _MODEL_METHODS]
    if free_methods:
        runs[NO_MODEL] = {m: make_predictor(m, None) for m in free_methods}

    labels = [label for label in runs if label != NO_MODEL]
    results: dict[str, Any] = {
        "model": labels[0] if labels else None,
        "models": labels,
        "precision": segmenter.precision if segmenter else None,
        "device": segmenter.device_label if segmenter else "CPU",
        "limit": limit,
        "split": split,
        "methods": methods,
        "boundary_tolerance": BOUNDARY_TOLERANCE,
        "sets": {},
    }
    photos: list[dict[str, Any]] = []
    worst = WorstPhotos(sheet_worst) if sheet_path is not None else None
    for eval_set in eval_sets:
        key = eval_set.name
        while key in results["sets"]:  # two folders with the same name: keep both
            key += "'"
        results["sets"][key] = _evaluate_set(eval_set, key, runs, limit, progress, photos, worst)
    if csv_path is not None:
        write_csv(photos, csv_path)
    if worst is not None and sheet_path is not None:
        write_sheet(worst, sheet_path)
    return results


def _evaluate_set(
    eval_set: EvalSet,
    key: str,
    runs: dict[str, dict[str, Predictor]],
    limit: int | None,
    progress: bool,
    photos: list[dict[str, Any]],
    worst: WorstPhotos | None,
) -> dict[str, Any]:
    """Score every run on one set; appends its per-photo records to ``photos`` and offers each
    scored photo to ``worst``."""
    pairs = _spread(eval_set.pairs, limit)
    scores = {label: {method: MaskScores() for method in predictors} for label, predictors in runs.items()}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(pairs), desc=eval_set.name, unit="img", file=sys.stderr, disable=None)
    try:
        for photo, mask_path in pairs:
            rgb = load_image(photo).rgb
            truth = _read_truth(mask_path, rgb.shape[:2])
            for label, predictors in runs.items():
                for method, predict in predictors.items():
                    started = time.perf_counter()
                    alpha = predict(rgb)
                    score = scores[label][method]
                    score.add(photo.name, alpha, truth, time.perf_counter() - started)
                    if worst is not None:
                        worst.offer((key, label, method), score.photos[-1], rgb, alpha, truth)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    for label, by_method in scores.items():
        for method, score in by_method.items():
            photos.extend({"set": key, "model": label, "method": method, **record} for record in score.photos)
    models = {label: {m: s.summary() for m, s in by_method.items()} for label, by_method in scores.items()}
    first = next((summaries for label, summaries in models.items() if label != NO_MODEL), {})
    return {
        "path": str(eval_set.root),
        "images": len(pairs),
        "unpaired": eval_set.unpaired,
        "models": models,
        "methods": {**first, **models.get(NO_MODEL, {})},
    }
