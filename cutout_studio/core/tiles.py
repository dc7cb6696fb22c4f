"""Near-edge tiles: the one engine that decides where full-resolution work happens.

Edge operations (:mod:`~cutout_studio.core.edges`), guided upsampling
(:mod:`~cutout_studio.core.guided`) and the snapping of a brush stroke's result
(:mod:`~cutout_studio.core.refine`) all face the same problem: a 24-megapixel alpha is flat
(0 or 1) almost everywhere and only a thin ring around the subject's outline needs real work.
Each of them cuts the output into spans along each axis (rows × columns of tiles), gives every
tile a verdict (a small integer or bool: "leave", "fill with 0", "compute", …) and then walks
:func:`runs`: consecutive tiles of one row with the same verdict merged into one rectangle, so
that the work is done on a few large rectangles instead of many small ones.

How the spans and verdicts are found differs with what the caller knows:

- :func:`fixed_spans` + :func:`tile_extrema` / :func:`spread`: square tiles of the image itself,
  judged by the alpha's extremes within the operation's reach (edges);
- :func:`block_spans`: output pixels grouped by the block of a coarse grid that their
  bilinear interpolation cell lies in (guided upsampling);
- :func:`support_spans` + :func:`all_cells`: fixed-size output tiles and the range of coarse
  grid cells that each one reads (snapping a stroke's result).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import numpy.typing as npt

#: (start, stop) of a run of pixels along one axis.
Span = tuple[int, int]
#: (y0, y1, x0, x1): a rectangle of pixels, stops exclusive.
Box = tuple[int, int, int, int]

__all__ = [
    "Box",
    "active_boxes",
    "Span",
    "all_cells",
    "block_spans",
    "expand",
    "fixed_spans",
    "runs",
    "spread",
    "support_spans",
    "tile_extrema",
]


def fixed_spans(length: int, tile: int) -> list[Span]:
    """Spans of ``tile`` pixels covering ``length`` (the last one may be shorter)."""
    return [(start, min(length, start + tile)) for start in range(0, length, tile)]


def block_spans(coords: np.ndarray, n_cells: int, block: int) -> tuple[list[Span], npt.NDArray[np.intp]]:
    """Output pixels grouped by the block of ``block`` grid cells their interpolation cell lies in.

    ``coords`` (increasing) are the output pixels' positions on a grid of ``n_cells``; returns
    the spans and, for each, the index of its block.
    """
    index = np.floor(np.clip(coords, 0.0, n_cells - 1)).astype(np.intp) // block
    cuts = np.flatnonzero(np.diff(index)) + 1
    starts = np.r_[0, cuts]
    stops = np.r_[cuts, len(coords)]
    spans = [(int(s), int(e)) for s, e in zip(starts, stops, strict=True)]
    return spans, index[starts]


def support_spans(coords: np.ndarray, n_cells: int, tile: int) -> tuple[list[Span], npt.NDArray[np.intp]]:
    """Spans of ``tile`` output pixels and the grid cells each one samples.

    ``coords`` (increasing) are the output pixels' positions on a grid of ``n_cells``; returns
    the spans and an n×2 array of the first and last grid cell of their bilinear support.
    """
    starts = np.arange(0, len(coords), tile)
    stops = np.minimum(starts + tile, len(coords))
    first = np.floor(np.clip(coords[starts], 0, n_cells - 1)).astype(np.intp)
    last = np.ceil(np.clip(coords[stops - 1], 0, n_cells - 1)).astype(np.intp)
    return list(zip(starts.tolist(), stops.tolist(), strict=True)), np.stack([first, last], axis=1)


def all_cells(cells: np.ndarray, row_support: np.ndarray, col_support: np.ndarray) -> npt.NDArray[np.bool_]:
    """tiles_y × tiles_x bool: every grid cell in the tile's support is set (summed-area table)."""
    table = cv2.integral(cells.astype(np.uint8))
    r0, r1 = row_support[:, 0, None], row_support[:, 1, None] + 1
    c0, c1 = col_support[None, :, 0], col_support[None, :, 1] + 1
    count = table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]
    result: npt.NDArray[np.bool_] = count == (r1 - r0) * (c1 - c0)
    return result


def tile_extrema(values: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile minimum and maximum (grids of ceil(H/tile) × ceil(W/tile))."""
    starts = np.arange(0, values.shape[1], tile)
    rows = range(0, values.shape[0], tile)
    mins = np.empty((len(rows), len(starts)), values.dtype)
    maxs = np.empty_like(mins)
    # Strip by strip: reducing a strip over its rows runs along contiguous memory (8× faster
    # than np.minimum.reduceat over axis 0 of the whole image), leaving one row per strip.
    for i, y in enumerate(rows):
        strip = values[y : y + tile]
        mins[i] = np.minimum.reduceat(strip.min(axis=0), starts)
        maxs[i] = np.maximum.reduceat(strip.max(axis=0), starts)
    return mins, maxs


def spread(grid: np.ndarray, reach: int, grow: bool) -> np.ndarray:
    """Max (grow) or min of each tile's neighbourhood of ``reach`` tiles in every direction."""
    if reach <= 0:
        return grid
    kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    src = grid.astype(np.float32)
    return cv2.dilate(src, kernel) if grow else cv2.erode(src, kernel)


def expand(box: Box, margin: int, shape: tuple[int, int]) -> Box:
    """``box`` grown by ``margin`` on every side, clipped to an image of ``shape`` (H, W)."""
    y0, y1, x0, x1 = box
    return max(0, y0 - margin), min(shape[0], y1 + margin), max(0, x0 - margin), min(shape[1], x1 + margin)


def runs(
    verdict: np.ndarray,
    row_spans: Sequence[Span],
    col_spans: Sequence[Span],
    *,
    max_run: int | None = None,
) -> Iterator[tuple[Box, int | bool]]:
    """Rectangles of consecutive tiles in one row that share a verdict, row by row, left to right.

    ``verdict`` is len(row_spans) × len(col_spans), bool or integer; each rectangle comes with
    its verdict as a Python scalar. ``max_run`` caps how many tiles one rectangle joins (crops
    with a margin around each rectangle stay small).
    """
    for (y0, y1), row in zip(row_spans, verdict, strict=True):
        breaks = np.flatnonzero(row[1:] != row[:-1]) + 1
        starts = np.r_[0, breaks].tolist()
        stops = np.r_[breaks, len(row)].tolist()
        for start, stop in zip(starts, stops, strict=True):
            value = row[start].item()
            step = stop - start if max_run is None else max_run
            for first in range(start, stop, step):
                last = min(stop, first + step) - 1
                yield (y0, y1, col_spans[first][0], col_spans[last][1]), value


def active_boxes(active: np.ndarray, tile: int, shape: tuple[int, int], *, max_run: int = 8) -> Iterator[Box]:
    """Boxes covering the set tiles of a grid of square ``tile``-pixel tiles over an image of
    ``shape`` (H, W); neighbours in a row are merged (up to ``max_run`` tiles) so that they
    share one crop margin."""
    rows, cols = fixed_spans(shape[0], tile), fixed_spans(shape[1], tile)
    for box, selected in runs(active, rows, cols, max_run=max_run):
        if selected:
            yield box
