"""The standard interactive-segmentation click protocol: how many clicks a mask needs.

Each round clicks the interior of the largest error region (the maximum of the distance
transform of the missed or wrongly included pixels, the photo's border counting as boundary),
as foreground where the subject was missed and as background where background was included,
with a 5-px brush, up to 20 clicks. Reported per set: NoC@85 and NoC@90 (clicks needed to
reach IoU 0.85 / 0.90; the maximum when never reached) and the mean IoU after 1, 3 and 5 clicks.

Two methods go through the same protocol:

- ``brushes``: the editor's engine, :class:`~cutout_studio.core.refine.RefineSession`, starting
  from the automatic mask (:meth:`Segmenter.predict`); each click is a one-point stroke.
- ``grabcut``: classical GrabCut, no model: ``cv2.grabCut`` from the subject's bounding
  rectangle (5 iterations), then each click a hard label and 3 more iterations from the mask.

``cutout-studio eval --clicks N`` runs it (:func:`evaluate_clicks`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from cutout_studio.core.errors import CutoutError
from cutout_studio.core.evaluate import _read_truth, _split_set, _spread, find_pairs
from cutout_studio.core.image_io import load_image
from cutout_studio.core.refine import RefineSession

if TYPE_CHECKING:
    from cutout_studio.core.segmenter import Segmenter

__all__ = [
    "CLICK_METHODS",
    "CLICK_RADIUS",
    "ClickScores",
    "click_curve",
    "evaluate_clicks",
    "format_clicks_table",
    "next_click",
]

CLICK_RADIUS = 5.0
MAX_CLICKS = 20
NOC_THRESHOLDS = (0.85, 0.90)
IOU_AFTER = (1, 3, 5)
CLICK_METHODS = ("brushes", "grabcut")
#: Classical GrabCut: iterations from the rectangle, then after each click; the rectangle is
#: the subject's bounding box grown by this share of its size (GrabCut needs some background).
GRABCUT_RECT_ITERATIONS = 5
GRABCUT_CLICK_ITERATIONS = 2
GRABCUT_RECT_MARGIN = 0.05
#: GrabCut runs on a copy reduced to this long side, as evaluate's GrabCut baseline does (an
#: app answering within a second would); its result is scaled back bilinearly.
GRABCUT_WORK_SIDE = 512


class Clicker(Protocol):
    """A method under the protocol: its starting mask, then the mask after each click."""

    def start(self) -> np.ndarray: ...

    def click(self, foreground: bool, x: int, y: int) -> np.ndarray: ...


def next_click(predicted: np.ndarray, truth: np.ndarray) -> tuple[bool, int, int] | None:
    """(foreground, x, y) of the next click: the interior point of the largest error region;
    None when the prediction is exact."""
    best: tuple[float, bool, int, int] | None = None
    for foreground, error in ((True, truth & ~predicted), (False, predicted & ~truth)):
        if not error.any():
            continue
        # Padded with zeros: the photo's border counts as the region's boundary.
        distance = cv2.distanceTransform(np.pad(error, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
        index = int(np.argmax(distance))
        depth = float(distance.flat[index])
        if best is None or depth > best[0]:
            y, x = divmod(index, error.shape[1])
            best = (depth, foreground, x, y)
    return None if best is None else best[1:]


def _iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    union = int(np.count_nonzero(predicted | truth))
    return 1.0 if union == 0 else int(np.count_nonzero(predicted & truth)) / union


def click_curve(clicker: Clicker, truth: np.ndarray, max_clicks: int = MAX_CLICKS) -> list[float]:
    """IoU before any click and after each click. Stops early once IoU ≥ the highest NoC
    threshold and every reported click count is reached (later clicks change no statistic)."""
    predicted = clicker.start() >= 0.5
    ious = [_iou(predicted, truth)]
    for k in range(1, max_clicks + 1):
        if k > max(IOU_AFTER) and ious[-1] >= max(NOC_THRESHOLDS):
            break
        nxt = next_click(predicted, truth)
        if nxt is None:
            ious.append(1.0)
            continue
        predicted = clicker.click(*nxt) >= 0.5
        ious.append(_iou(predicted, truth))
    return ious


class BrushClicker:
    """The editor's engine: a RefineSession on the automatic mask, a click a one-point stroke."""

    def __init__(self, rgb: np.ndarray, auto: np.ndarray, radius: float = CLICK_RADIUS) -> None:
        self._session = RefineSession(rgb, auto)
        self._radius = radius

    def start(self) -> np.ndarray:
        return self._session.refine()

    def click(self, foreground: bool, x: int, y: int) -> np.ndarray:
        self._session.add_stroke("fg" if foreground else "bg", [(float(x), float(y))], self._radius)
        return self._session.refine()


class GrabCutClicker:
    """Classical GrabCut: from the subject's bounding rectangle, clicks as hard labels."""

    def __init__(self, rgb: np.ndarray, truth: np.ndarray, radius: float = CLICK_RADIUS) -> None:
        height, width = truth.shape
        self._scale = min(1.0, GRABCUT_WORK_SIDE / max(height, width))
        size = (max(2, round(width * self._scale)), max(2, round(height * self._scale)))
        self._bgr = cv2.cvtColor(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
        self._truth = truth
        self._radius = max(1, round(radius * self._scale))
        self._mask = np.zeros((size[1], size[0]), np.uint8)
        self._bgd, self._fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)

    def _result(self) -> np.ndarray:
        fg: np.ndarray = ((self._mask == cv2.GC_FGD) | (self._mask == cv2.GC_PR_FGD)).astype(np.float32)
        height, width = self._truth.shape
        if fg.shape != (height, width):
            fg = np.asarray(cv2.resize(fg, (width, height), interpolation=cv2.INTER_LINEAR), np.float32)
        return fg

    def start(self) -> np.ndarray:
        height, width = self._mask.shape
        small = cv2.resize(self._truth.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        ys, xs = np.nonzero(small)
        if len(xs) == 0:
            return self._result()
        my = max(2, round(GRABCUT_RECT_MARGIN * (ys.max() - ys.min() + 1)))
        mx = max(2, round(GRABCUT_RECT_MARGIN * (xs.max() - xs.min() + 1)))
        x0, y0 = max(0, int(xs.min()) - mx), max(0, int(ys.min()) - my)
        x1, y1 = min(width, int(xs.max()) + mx + 1), min(height, int(ys.max()) + my + 1)
        rect = (x0, y0, max(1, x1 - x0), max(1, y1 - y0))
        try:
            cv2.grabCut(
                self._bgr,
                self._mask,
                rect,
                self._bgd,
                self._fgd,
                GRABCUT_RECT_ITERATIONS,
                cv2.GC_INIT_WITH_RECT,
            )
        except cv2.error:  # a rectangle covering the whole photo leaves no background to model
            self._mask[:] = cv2.GC_PR_FGD
        return self._result()

    def click(self, foreground: bool, x: int, y: int) -> np.ndarray:
        at = (round((x + 0.5) * self._scale - 0.5), round((y + 0.5) * self._scale - 0.5))
        cv2.circle(self._mask, at, self._radius, cv2.GC_FGD if foreground else cv2.GC_BGD, -1)
        has_both = (np.isin(self._mask, (cv2.GC_FGD, cv2.GC_PR_FGD))).any() and (
            np.isin(self._mask, (cv2.GC_BGD, cv2.GC_PR_BGD))
        ).any()
        if has_both:
            cv2.grabCut(
                self._bgr,
                self._mask,
                (0, 0, 0, 0),  # read only by GC_INIT_WITH_RECT
                self._bgd,
                self._fgd,
                GRABCUT_CLICK_ITERATIONS,
                cv2.GC_INIT_WITH_MASK,
            )
        return self._result()


@dataclass
class ClickScores:
    """Running click statistics of one method on one set."""

    max_clicks: int = MAX_CLICKS
    curves: list[list[float]] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, curve: list[float], seconds: float) -> None:
        self.curves.append(curve)
        self.seconds += seconds

    def noc(self, threshold: float) -> float:
        """Mean clicks to reach ``threshold`` (0 when the start already does; the maximum when never)."""
        counts = [next((k for k, v in enumerate(c) if v >= threshold), self.max_clicks) for c in self.curves]
        return float(np.mean(counts))

    def iou_after(self, k: int) -> float:
        """Mean IoU after ``k`` clicks (a curve that stopped early keeps its last value)."""
        return float(np.mean([c[min(k, len(c) - 1)] for c in self.curves]))

    def summary(self) -> dict[str, Any]:
        clicks = sum(len(c) - 1 for c in self.curves)
        out: dict[str, Any] = {"images": len(self.curves), "iou_start": round(self.iou_after(0), 4)}
        for t in NOC_THRESHOLDS:
            out[f"noc{round(t * 100)}"] = round(self.noc(t), 3)
        for k in IOU_AFTER:
            out[f"iou_after_{k}"] = round(self.iou_after(k), 4)
        out["first_click_gain"] = round(self.iou_after(1) - self.iou_after(0), 4)
        out["seconds_per_click"] = round(self.seconds / max(clicks, 1), 4)
        return out


def evaluate_clicks(
    sets: Sequence[str | Path],
    *,
    max_clicks: int = MAX_CLICKS,
    methods: Sequence[str] = CLICK_METHODS,
    model: str = "default",
    device: str = "auto",
    half: bool | None = None,
    limit: int | None = None,
    progress: bool = False,
    segmenter: Segmenter | None = None,
    split: str = "all",
) -> dict[str, Any]:
    """Run the click protocol on each set; a JSON-ready dict for :func:`format_clicks_table`.
    ``split`` as for :func:`evaluate.evaluate_sets` (``val``: only the held-out part)."""
    if not 1 <= max_clicks <= 100:
        raise CutoutError(f"--clicks must be 1 to 100, got {max_clicks}")
    unknown = [m for m in methods if m not in CLICK_METHODS]
    if unknown:
        raise CutoutError(
            f"unknown click method(s): {', '.join(unknown)} (known: {', '.join(CLICK_METHODS)})"
        )
    if not sets:
        raise CutoutError("no set folder given")
    eval_sets = [_split_set(find_pairs(folder), split) for folder in sets]
    if segmenter is None and "brushes" in methods:
        from cutout_studio.core.segmenter import Segmenter

        segmenter = Segmenter(model, device=device, half=half)
    results: dict[str, Any] = {
        "protocol": f"clicks at the largest error's interior, {CLICK_RADIUS:g}-px radius, at most {max_clicks}",
        "model": segmenter.model_name if segmenter else None,
        "device": segmenter.device_label if segmenter else "CPU",
        "clicks": max_clicks,
        "limit": limit,
        "methods": list(methods),
        "sets": {},
    }
    for eval_set in eval_sets:
        pairs = _spread(eval_set.pairs, limit)
        scores = {m: ClickScores(max_clicks) for m in methods}
        for index, (photo, mask_path) in enumerate(pairs):
            rgb = load_image(photo).rgb
            truth = _read_truth(mask_path, rgb.shape[:2]) > 127
            for method in methods:
                clicker: Clicker
                if method == "brushes":
                    assert segmenter is not None
                    clicker = BrushClicker(rgb, segmenter.predict(rgb))
                else:
                    clicker = GrabCutClicker(rgb, truth)
                started = time.perf_counter()
                curve = click_curve(clicker, truth, max_clicks)
                scores[method].add(curve, time.perf_counter() - started)
            if progress:
                print(f"\r{eval_set.name}: {index + 1}/{len(pairs)}", end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
        results["sets"][eval_set.name] = {
            "path": str(eval_set.root),
            "images": len(pairs),
            "methods": {m: s.summary() for m, s in scores.items()},
        }
    return results


_COLUMNS = (
    ("start", "iou_start"),
    ("NoC@85", "noc85"),
    ("NoC@90", "noc90"),
    ("IoU@1", "iou_after_1"),
    ("IoU@3", "iou_after_3"),
    ("IoU@5", "iou_after_5"),
    ("1st gain", "first_click_gain"),
    ("s/click", "seconds_per_click"),
)


def format_clicks_table(results: dict[str, Any]) -> str:
    """A plain-text table, one row per set and method."""
    rows = [["set", "method", "n", *[title for title, _ in _COLUMNS]]]
    for set_name, set_result in results.get("sets", {}).items():
        for method, summary in set_result["methods"].items():
            cells = [f"{summary[key]:.3f}" for _, key in _COLUMNS]
            rows.append([set_name, method, str(summary["images"]), *cells])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        lines.append(
            "  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(row))
        )
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(
        f"{results.get('protocol', '')}; model: {results.get('model') or '-'} on {results.get('device')}"
    )
    return "\n".join(lines)
