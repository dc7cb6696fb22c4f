"""What ``cutout-studio eval`` writes beside its table: a per-photo CSV and a contact sheet of
each model's worst photos (photo | predicted mask | ground truth), so that a person sees where
and how a model fails instead of reading only means.

The sheet is a PNG (or an HTML page with that PNG inside, for a browser): one section per
(set, model, method), its worst photos by IoU first, each on a line of three panels of
``PANEL``² pixels (letterboxed on grey) under a caption with the photo's name and scores.
"""

from __future__ import annotations

import base64
import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cutout_studio.core.atomic import atomic_write_bytes
from cutout_studio.core.errors import CutoutError

__all__ = [
    "CSV_COLUMNS",
    "PANEL",
    "WorstPhotos",
    "format_table",
    "render_sheet",
    "sheet_size",
    "write_csv",
    "write_sheet",
]

#: Worst photos shown per (set, model, method)
SHEET_WORST = 6
#: Side of each panel (photo, predicted mask, ground truth), pixels
PANEL = 200
_GAP = 6
_CAPTION = 24  # above each line of panels
_HEADER = 34  # above each section
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_PAD = (236, 236, 236)  # RGB around letterboxed panels and between them

CSV_COLUMNS = ("set", "model", "method", "image", "iou", "mae", "boundary_f", "seconds")

Section = tuple[str, str, str]  #: (set, model, method)


@dataclass(frozen=True)
class _Entry:
    iou: float
    caption: str
    panels: tuple[np.ndarray, np.ndarray, np.ndarray]  #: RGB PANEL×PANEL each


def _panel(image: np.ndarray) -> np.ndarray:
    """An RGB ``PANEL``² tile: the image scaled to fit (area-averaged), centred on grey."""
    rgb = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    height, width = rgb.shape[:2]
    scale = PANEL / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    tile = np.full((PANEL, PANEL, 3), _PAD, np.uint8)
    top, left = (PANEL - size[1]) // 2, (PANEL - size[0]) // 2
    tile[top : top + size[1], left : left + size[0]] = small
    return tile


class WorstPhotos:
    """Keeps the ``count`` lowest-IoU photos of each section, as small panels (not the photos)."""

    def __init__(self, count: int = SHEET_WORST) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self.count = count
        self._entries: dict[Section, list[_Entry]] = {}

    def offer(self, section: Section, scores: dict[str, Any], rgb: np.ndarray, alpha: np.ndarray,
              truth: np.ndarray) -> None:
        """Consider one scored photo (``scores``: a :class:`MaskScores` photo record)."""
        entries = self._entries.setdefault(section, [])
        value = float(scores["iou"])
        if len(entries) >= self.count and value >= entries[-1].iou:
            return  # not among the worst: skip the resizing
        mask = np.clip(np.rint(np.asarray(alpha, np.float32) * 255), 0, 255).astype(np.uint8)
        caption = f"{scores['image']}  IoU {value:.3f}  bF {float(scores['boundary_f']):.3f}"
        entries.append(_Entry(value, caption, (_panel(rgb), _panel(mask), _panel(truth))))
        entries.sort(key=lambda e: e.iou)  # stable: equal scores keep the set's order
        del entries[self.count :]

    @property
    def sections(self) -> dict[Section, list[_Entry]]:
        return self._entries


def sheet_size(lines_per_section: list[int]) -> tuple[int, int]:
    """(width, height) of a sheet with these numbers of photo lines in its sections."""
    width = 3 * PANEL + 4 * _GAP
    height = sum(_HEADER + lines * (_CAPTION + PANEL + _GAP) for lines in lines_per_section) + _GAP
    return width, height


def _text(canvas: np.ndarray, text: str, x: int, baseline: int, scale: float, bold: bool = False) -> None:
    # cut long names so that they stay on the sheet
    width = canvas.shape[1] - x - _GAP
    while text and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > width:
        text = text[:-2] + "~" if len(text) > 2 else ""
    cv2.putText(canvas, text, (x, baseline), _FONT, scale, (20, 20, 20), 2 if bold else 1,
                cv2.LINE_AA)


def render_sheet(worst: WorstPhotos) -> np.ndarray:
    """The contact sheet as an RGB image (see the module docstring)."""
    sections = worst.sections
    if not sections:
        raise CutoutError("no scored photo to put on the contact sheet")
    width, height = sheet_size([len(entries) for entries in sections.values()])
    canvas = np.full((height, width, 3), 255, np.uint8)
    y = 0
    for (set_name, model, method), entries in sections.items():
        title = f"{set_name} / {model} / {method}: worst {len(entries)} by IoU (photo | mask | truth)"
        _text(canvas, title, _GAP, y + _HEADER - 10, 0.5, bold=True)
        y += _HEADER
        for entry in entries:
            _text(canvas, entry.caption, _GAP, y + _CAPTION - 7, 0.45)
            y += _CAPTION
            for index, panel in enumerate(entry.panels):
                x = _GAP + index * (PANEL + _GAP)
                canvas[y : y + PANEL, x : x + PANEL] = panel
            y += PANEL + _GAP
    return canvas


def write_sheet(worst: WorstPhotos, path: str | Path) -> Path:
    """Write the sheet as ``.png``, or as ``.html`` (a page with the PNG embedded)."""
    dest = Path(path)
    suffix = dest.suffix.lower()
    if suffix not in (".png", ".html", ".htm"):
        raise CutoutError(f"{dest.name}: the contact sheet is a .png or an .html file")
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(render_sheet(worst), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image as PNG
        raise CutoutError(f"{dest.name}: the sheet could not be encoded as PNG")
    data = encoded.tobytes()
    if suffix != ".png":
        image = base64.b64encode(data).decode("ascii")
        data = (
            "<!doctype html>\n<meta charset='utf-8'><title>cutout-studio eval: worst photos</title>\n"
            f"<img alt='worst photos: photo, predicted mask, ground truth' src='data:image/png;base64,{image}'>\n"
        ).encode()
    atomic_write_bytes(dest, data)
    return dest


def write_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """One line per scored photo: ``CSV_COLUMNS``."""
    dest = Path(path)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(dest, text.getvalue().encode("utf-8"))
    return dest


# --------------------------------------------------------------------------------------------
# report

_COLUMNS = (
    ("IoU", "iou", "{:.3f}"),
    ("MAE", "mae", "{:.4f}"),
    ("maxF", "max_f", "{:.3f}"),
    ("wF", "weighted_f", "{:.3f}"),
    ("S", "s_measure", "{:.3f}"),
    ("bF", "boundary_f", "{:.3f}"),
    ("meanE", "mean_e", "{:.3f}"),
    ("s/img", "seconds_per_image", "{:.3f}"),
)


def format_table(results: dict[str, Any]) -> str:
    """A plain-text table, one row per set and method, as :func:`evaluate_sets` returned them."""
    header = ["set", "model", "method", "n", *[title for title, _, _ in _COLUMNS]]
    rows = [header]
    for set_name, set_result in results.get("sets", {}).items():
        # results written before models were compared have only "methods"
        runs = set_result.get("models") or {results.get("model") or "-": set_result["methods"]}
        for (model, methods) in runs.items():
            for method, summary in methods.items():
                rows.append([set_name, model, method, str(summary["images"]), *_cells(summary)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) if i < 3 else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    device = results.get("device")
    models = results.get("models") or [results.get("model") or "-"]
    footer = (
        f"model{'s' if len(models) > 1 else ''}: {', '.join(models)} on {device}"
        + (f" ({results['precision']})" if results.get("precision") else "")
        + "; IoU at alpha > 0.5; "
        + (f"bF: boundary F within {results['boundary_tolerance']:g} of the diagonal; "
           if results.get("boundary_tolerance") else "")
        + "s/img: the method alone, decode excluded"
    )
    return "\n".join([*lines, footer])


def _cells(summary: dict[str, Any]) -> list[str]:
    cells = []
    for _, key, fmt in _COLUMNS:
        value = summary.get(key)
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        cells.append("-" if missing else fmt.format(value))
    return cells
