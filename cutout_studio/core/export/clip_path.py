"""Clipping paths: the mask's outline as cubic Bézier curves, for SVG and for Photoshop.

The outline is the 0.5 level of the output's alpha, traced with OpenCV (``RETR_CCOMP``: outer
boundaries and their holes, each its own subpath) through the centres of the subject's
outermost pixels. That is half a pixel inside the pixel edges, which keeps the background's
fringe out of the clip, as a retoucher's hand-drawn path does.

The curves are fitted with the method of P. J. Schneider ("An Algorithm for Automatically
Fitting Digitized Curves", Graphics Gems, 1990), implemented here from the description:

1. each closed outline is cut at its corners (where the direction turns sharply within a
   few pixels) or, without corners, at two opposite points;
2. each piece gets one cubic Bézier whose end tangents are estimated from the neighbouring
   points and whose two handle lengths are solved by least squares over a chord-length
   parameterisation of the points;
3. when a point lies further than the tolerance from the curve (measured at its parameter,
   which bounds the true distance from above), the parameters are improved by a few
   Newton-Raphson steps; if that is not enough, the piece is split at its worst point, with
   one shared tangent there so that the curve stays smooth, and both halves are fitted again.

Coordinates are output pixels: (0, 0) is the top-left corner of the image, pixel (i, j)
covers [i, i + 1] × [j, j + 1].
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["ClipPath", "Subpath", "fit_clip_path", "is_our_svg"]

#: Photoshop's name for the path (shown in its Paths panel) and the clipping path resource's
PATH_NAME = b"Cutout"
_PATH_RESOURCE, _CLIPPING_PATH_RESOURCE = 2000, 2999
_CORNER_TURN = np.deg2rad(60)  #: a turn this sharp within ±_CORNER_SPAN points is a corner
_CORNER_SPAN = 3
_NEWTON_STEPS = 8
_FIXED_ONE = 1 << 24  # Photoshop path points: signed 8.24 fixed point, a fraction of the image size


@dataclass(frozen=True)
class Subpath:
    """One closed outline: ``beziers[i]`` is the cubic from anchor i to anchor i + 1 (the last
    one ends where the first starts), as four (x, y) points."""

    beziers: np.ndarray  #: K×4×2 float64
    smooth: np.ndarray  #: K bool: the curve's tangent runs on through anchor i (no corner)
    hole: bool


@dataclass(frozen=True)
class ClipPath:
    """The outline of an output of ``width`` × ``height`` pixels."""

    width: int
    height: int
    subpaths: tuple[Subpath, ...]

    def svg(self) -> str:
        """An SVG document of the output's size holding the path (even-odd fill keeps the holes)."""
        parts = []
        for sub in self.subpaths:
            b = sub.beziers
            parts.append(f"M{_num(b[0, 0, 0])} {_num(b[0, 0, 1])}")
            parts += [" ".join(["C", *(f"{_num(x)} {_num(y)}" for x, y in seg[1:])]) for seg in b]
            parts.append("Z")
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}">\n'
            f'<path id="cutout" fill="#000" fill-rule="evenodd" d="{" ".join(parts)}"/>\n</svg>\n'
        )

    def photoshop_resources(self) -> bytes:
        """Image resource blocks for a Photoshop path (2000) named as the image's clipping
        path (2999), as they go into a PSD, a TIFF (tag 34377) or a JPEG's APP13 segment."""
        records = [struct.pack(">H24x", 6), struct.pack(">HH22x", 8, 0)]  # fill rule; fill starts empty
        for sub in self.subpaths:
            b = sub.beziers
            records.append(struct.pack(">HH22x", 0, len(b)))  # a closed subpath of len(b) knots
            for i in range(len(b)):
                before, anchor, after = b[i - 1, 2], b[i, 0], b[i, 1]
                kind = 1 if sub.smooth[i] else 2  # closed knot, linked (smooth) or unlinked (corner)
                records.append(struct.pack(">H", kind) + b"".join(self._fixed(p) for p in (before, anchor, after)))
        # the clipping path: the path's name, flatness 0 (the output device's), even-odd fill rule
        clipping = bytes([len(PATH_NAME)]) + PATH_NAME + struct.pack(">iH", 0, 1)
        return (_resource(_PATH_RESOURCE, PATH_NAME, b"".join(records))
                + _resource(_CLIPPING_PATH_RESOURCE, b"", clipping))

    def _fixed(self, point: np.ndarray) -> bytes:
        """A point as Photoshop stores it: vertical, then horizontal, each a fraction of the size."""
        return struct.pack(">ii", round(point[1] / self.height * _FIXED_ONE),
                           round(point[0] / self.width * _FIXED_ONE))


_SVG_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="'
_SVG_PATH = b'<path id="cutout" fill="#000" fill-rule="evenodd" d="'
_SVG_TAIL = b'"/>\n</svg>\n'


def is_our_svg(path: Path) -> bool:
    """``path`` is a clipping path :meth:`ClipPath.svg` wrote (a sidecar of ours, which an
    export to the output beside it may replace), not someone's own SVG of that name."""
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
            fh.seek(max(0, path.stat().st_size - len(_SVG_TAIL)))
            tail = fh.read()
    except OSError:
        return False
    return head.startswith(_SVG_HEAD) and _SVG_PATH in head and tail == _SVG_TAIL


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _resource(ident: int, name: bytes, data: bytes) -> bytes:
    """One 8BIM image resource block: the name a Pascal string and the data padded to even."""
    pascal = bytes([len(name)]) + name
    pascal += b"\0" * (len(pascal) % 2)
    return b"8BIM" + struct.pack(">H", ident) + pascal + struct.pack(">I", len(data)) + data + b"\0" * (len(data) % 2)


def fit_clip_path(alpha: np.ndarray, tolerance: float) -> ClipPath:
    """The outline of ``alpha`` (H×W uint8, the output's) at half opacity, fitted within
    ``tolerance`` pixels; outlines of fewer than three pixels are left out."""
    inside = (alpha >= 128).astype(np.uint8)
    contours, hierarchy = cv2.findContours(inside, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    subpaths = []
    for i, contour in enumerate(contours):
        points = contour[:, 0, :].astype(np.float64) + 0.5  # pixel centres
        if len(points) < 3:
            continue
        beziers, smooth = _fit_closed(points, float(tolerance))
        subpaths.append(Subpath(beziers, smooth, hole=bool(hierarchy[0, i, 3] >= 0)))
    return ClipPath(width=int(alpha.shape[1]), height=int(alpha.shape[0]), subpaths=tuple(subpaths))


def _fit_closed(points: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Béziers around one closed outline, cut at its corners first."""
    n = len(points)
    corners = _corners(points)
    cuts = sorted(corners)
    if len(cuts) < 2:  # a round outline: cut it at two opposite points, where it stays smooth
        start = cuts[0] if cuts else 0
        cuts = sorted({start, (start + n // 2) % n})
    beziers: list[np.ndarray] = []
    smooth: list[bool] = []
    for k, begin in enumerate(cuts):
        end = cuts[(k + 1) % len(cuts)]
        piece = points[np.arange(begin, begin + ((end - begin) % n or n) + 1) % n]
        left = _end_tangent(points, begin, +1, sharp=begin in corners)
        right = _end_tangent(points, end, -1, sharp=end in corners)
        first = len(beziers)
        _fit_piece(piece, left, right, tolerance, beziers)
        smooth += [True] * (len(beziers) - first)
        smooth[first] = begin not in corners
    return np.array(beziers), np.array(smooth)


def _corners(points: np.ndarray) -> set[int]:
    """Indices where the outline turns by more than _CORNER_TURN within ±_CORNER_SPAN points;
    of corners closer than that, only the sharpest (pixel steps next to a corner turn too)."""
    n, k = len(points), _CORNER_SPAN
    if n < 4 * k:
        return set()
    before = points - np.roll(points, k, axis=0)
    after = np.roll(points, -k, axis=0) - points
    cos = (before * after).sum(1) / np.maximum(np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1), 1e-12)
    turn = np.arccos(np.clip(cos, -1, 1))
    candidates = np.flatnonzero(turn > _CORNER_TURN)
    kept: set[int] = set()
    blocked = np.zeros(n, bool)
    span = np.arange(-k, k + 1)
    for i in candidates[np.argsort(-turn[candidates], kind="stable")]:
        if not blocked[i]:
            kept.add(int(i))
            blocked[(i + span) % n] = True
    return kept


def _end_tangent(points: np.ndarray, i: int, direction: int, *, sharp: bool) -> np.ndarray:
    """The unit tangent at point i pointing into the piece (``direction`` +1: the piece
    follows i; -1: it precedes i). At a corner only that side's points count; elsewhere the
    tangent is centred, so the pieces on both sides share it."""
    n, k = len(points), _CORNER_SPAN
    ahead = points[(i + direction * k) % n]
    behind = points[i] if sharp else points[(i - direction * k) % n]
    return _unit(ahead - behind)


def _unit(v: np.ndarray) -> np.ndarray:
    length = float(np.hypot(v[0], v[1]))
    return v / length if length > 1e-12 else np.zeros(2)


def _fit_piece(points: np.ndarray, left: np.ndarray, right: np.ndarray, tolerance: float,
               out: list[np.ndarray]) -> None:
    """Append Béziers through ``points`` (first to last) within ``tolerance``: Schneider's
    fit-then-split recursion. ``left`` leaves the first point, ``right`` leaves the last one
    backwards."""
    if len(points) <= 3:
        third = float(np.hypot(*(points[-1] - points[0]))) / 3
        out.append(np.array([points[0], points[0] + left * third, points[-1] + right * third, points[-1]]))
        return
    chords = np.r_[0.0, np.cumsum(np.hypot(*np.diff(points, axis=0).T))]
    u = chords / chords[-1] if chords[-1] > 0 else np.linspace(0, 1, len(points))
    bezier = _least_squares(points, u, left, right)
    error, worst = _max_error(points, bezier, u)
    for _ in range(_NEWTON_STEPS if error <= 4 * tolerance else 0):
        if error <= tolerance:
            break
        u = _newton(points, bezier, u)
        bezier = _least_squares(points, u, left, right)
        error, worst = _max_error(points, bezier, u)
    if error <= tolerance:
        out.append(bezier)
        return
    worst = min(max(worst, 1), len(points) - 2)
    centre = _unit(points[worst - 1] - points[worst + 1])
    if not centre.any():
        centre = _unit(points[worst - 1] - points[worst])
    _fit_piece(points[: worst + 1], left, centre, tolerance, out)
    _fit_piece(points[worst:], -centre, right, tolerance, out)


def _bernstein(u: np.ndarray) -> np.ndarray:
    """The cubic Bernstein polynomials at ``u``: N×4."""
    v = 1 - u
    basis = np.empty((len(u), 4))
    basis[:, 0] = v * v * v
    basis[:, 1] = 3 * u * v * v
    basis[:, 2] = 3 * u * u * v
    basis[:, 3] = u * u * u
    return basis


def _least_squares(points: np.ndarray, u: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The Bézier from the first to the last point along the given end tangents whose two
    handle lengths minimise the squared distances to ``points`` at parameters ``u``."""
    first, last = points[0], points[-1]
    basis = _bernstein(u)
    a1, a2 = basis[:, 1:2] * left, basis[:, 2:3] * right
    rest = points - (basis[:, 0:1] + basis[:, 1:2]) * first - (basis[:, 2:3] + basis[:, 3:4]) * last
    c00, c01, c11 = (a1 * a1).sum(), (a1 * a2).sum(), (a2 * a2).sum()
    x0, x1 = (a1 * rest).sum(), (a2 * rest).sum()
    det = c00 * c11 - c01 * c01
    span = float(np.hypot(*(last - first)))
    alpha_l = (x0 * c11 - x1 * c01) / det if abs(det) > 1e-12 else 0.0
    alpha_r = (c00 * x1 - c01 * x0) / det if abs(det) > 1e-12 else 0.0
    if alpha_l < 1e-6 * span or alpha_r < 1e-6 * span:  # degenerate: Schneider's fallback handles
        alpha_l = alpha_r = span / 3
    return np.array([first, first + left * alpha_l, last + right * alpha_r, last])


def _evaluate(bezier: np.ndarray, u: np.ndarray) -> np.ndarray:
    result: np.ndarray = _bernstein(u) @ bezier
    return result


def _max_error(points: np.ndarray, bezier: np.ndarray, u: np.ndarray) -> tuple[float, int]:
    distances = np.hypot(*(_evaluate(bezier, u) - points).T)
    worst = int(np.argmax(distances))
    return float(distances[worst]), worst


def _newton(points: np.ndarray, bezier: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One Newton-Raphson step per parameter towards the curve's point nearest its data point."""
    d1 = 3 * np.diff(bezier, axis=0)  # the derivative's control points (quadratic)
    d2 = 2 * np.diff(d1, axis=0)  # the second derivative's (linear)
    uc, vc = u[:, None], 1 - u[:, None]
    q = _evaluate(bezier, u) - points
    q1 = vc * vc * d1[0] + 2 * uc * vc * d1[1] + uc * uc * d1[2]
    q2 = vc * d2[0] + uc * d2[1]
    numerator = (q * q1).sum(1)
    denominator = (q1 * q1).sum(1) + (q * q2).sum(1)
    step = np.divide(numerator, denominator, out=np.zeros_like(u), where=np.abs(denominator) > 1e-12)
    improved: np.ndarray = np.clip(u - step, 0.0, 1.0)
    return improved
