"""Benchmark brush refinement (RefineSession) on large photos against a full-resolution GrabCut.

A real photo from the data set is upscaled to the requested size (so that the edges, colours and
noise are a photo's, at a camera's resolution); its ground-truth mask, damaged the way a model
goes wrong (a chunk of the subject missed, a background blob included, soft edges), is the
automatic mask. Strokes are drawn the way a user drags a brush across the errors: a polyline of
points a few pixels apart, alternating foreground and background.

Reports p50 / p95 of (add_stroke + refine) per stroke, the session's set-up time, the IoU with
the ground truth before and after the strokes, and the time of one full-resolution
``cv2.grabCut(..., iterCount=1)`` on the same photo (estimated by pixel-count scaling from the
largest measured size where it is skipped, and marked as such).

    python bench/bench_refine.py --sizes 12 24 --strokes 20 --json bench_refine.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cutout_studio.core.refine import RefineSession  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_pair(data: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    set_name, image = name.split("/", 1)
    bgr = cv2.imread(str(data / set_name / "images" / f"{image}.jpg"), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(data / set_name / "masks" / f"{image}.png"), cv2.IMREAD_GRAYSCALE)
    if bgr is None or mask is None:
        raise SystemExit(f"cannot read {name} under {data}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), mask > 127


def upscale(rgb: np.ndarray, truth: np.ndarray, megapixels: float) -> tuple[np.ndarray, np.ndarray]:
    scale = np.sqrt(megapixels * 1e6 / (rgb.shape[0] * rgb.shape[1]))
    size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
    big = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
    # Smooth upscaled edges for the truth too (nearest neighbour would give staircases).
    big_truth = cv2.resize(truth.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) >= 0.5
    return big, big_truth


def damaged_mask(truth: np.ndarray, rng: np.random.Generator, errors: int) -> tuple[np.ndarray, list]:
    """The truth with chunks removed and blobs added; returns the soft mask and the error regions."""
    h, w = truth.shape
    small_scale = 512 / max(h, w)  # find error sites on a small copy: fast at any size
    small = cv2.resize(
        truth.astype(np.uint8), None, fx=small_scale, fy=small_scale, interpolation=cv2.INTER_NEAREST
    )
    inside = cv2.distanceTransform(small, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - small, cv2.DIST_L2, 5)
    auto = truth.copy()
    regions = []
    radius = int(0.07 * max(h, w))
    for i in range(errors):
        missing = i % 2 == 0
        ys, xs = np.nonzero((inside > 6) if missing else ((outside > 6) & (outside < 40)))
        if len(ys) == 0:
            continue
        k = rng.integers(len(ys))
        cx, cy = int(xs[k] / small_scale), int(ys[k] / small_scale)
        disc = np.zeros((h, w), np.uint8)
        cv2.circle(disc, (cx, cy), radius, 1, -1)
        region = (disc > 0) & (truth if missing else ~truth)
        auto = (auto & ~region) if missing else (auto | region)
        regions.append(("fg" if missing else "bg", region, (cx, cy)))
    soft = cv2.GaussianBlur(auto.astype(np.float32), (0, 0), max(1.0, max(h, w) / 1000))
    return soft, regions


def drag(region: np.ndarray, centre: tuple[int, int], radius: float, rng: np.random.Generator) -> list:
    """A brush drag of ~8 radii inside the error region, a point every ~radius/4 pixels."""
    cx, cy = centre
    angle = rng.uniform(0, np.pi)
    length = 8 * radius
    steps = max(2, int(length / max(2.0, radius / 4)))
    pts = []
    for t in np.linspace(-0.5, 0.5, steps):
        x = cx + t * length * np.cos(angle) + 0.3 * radius * np.sin(t * 6)
        y = cy + t * length * np.sin(angle)
        xi, yi = int(round(x)), int(round(y))
        if 0 <= yi < region.shape[0] and 0 <= xi < region.shape[1] and region[yi, xi]:
            pts.append((float(x), float(y)))
    return pts or [(float(cx), float(cy))]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def bench_size(rgb: np.ndarray, truth: np.ndarray, megapixels: float, args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    big, big_truth = upscale(rgb, truth, megapixels)
    auto, regions = damaged_mask(big_truth, rng, errors=max(2, min(args.strokes, 8)))
    radius = args.radius_frac * max(big.shape[:2])

    start = time.perf_counter()
    session = RefineSession(big, auto)
    setup_s = time.perf_counter() - start
    iou_before = iou(auto >= 0.5, big_truth)

    # Wall time is what the user feels; CPU time of this process is reported beside it because
    # on a shared 2-core machine other people's jobs inflate the wall time.
    times, cpu_times = [], []
    for i in range(args.strokes):
        kind, region, centre = regions[i % len(regions)]
        pts = drag(region, centre, radius, rng)
        start, cpu_start = time.perf_counter(), time.process_time()
        session.add_stroke(kind, pts, radius)
        session.refine()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    iou_after = iou(session.refine() >= 0.5, big_truth)
    start = time.perf_counter()
    session.undo()
    undo_s = time.perf_counter() - start

    result = {
        "megapixels": round(big.shape[0] * big.shape[1] / 1e6, 2),
        "size": [int(big.shape[1]), int(big.shape[0])],
        "strokes": args.strokes,
        "brush_radius_px": round(radius, 1),
        "setup_ms": round(setup_s * 1000, 1),
        "stroke_ms_p50": round(float(np.percentile(times, 50)) * 1000, 1),
        "stroke_ms_p95": round(float(np.percentile(times, 95)) * 1000, 1),
        "stroke_ms_max": round(max(times) * 1000, 1),
        "stroke_cpu_ms_p50": round(float(np.percentile(cpu_times, 50)) * 1000, 1),
        "stroke_cpu_ms_p95": round(float(np.percentile(cpu_times, 95)) * 1000, 1),
        "load_average": round(os.getloadavg()[0], 2),
        "undo_ms": round(undo_s * 1000, 1),
        "iou_before": round(iou_before, 4),
        "iou_after": round(iou_after, 4),
        "full_grabcut_s": None,
        "full_grabcut_estimated": False,
    }
    del session
    if megapixels <= args.skip_full_grabcut_above:
        mask = np.where(auto >= 0.5, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        start = time.perf_counter()
        cv2.grabCut(big, mask, None, bgd, fgd, 1, cv2.GC_INIT_WITH_MASK)
        result["full_grabcut_s"] = round(time.perf_counter() - start, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[12, 24], help="megapixels (default 12 24)")
    parser.add_argument("--strokes", type=int, default=20, help="strokes per size (default 20)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--image", default="davis/davis000", help="SET/NAME of the photo to upscale")
    parser.add_argument(
        "--radius-frac", type=float, default=0.01, help="brush radius / long side (default 0.01)"
    )
    parser.add_argument(
        "--skip-full-grabcut-above",
        type=float,
        default=24,
        metavar="MP",
        help="do not run the full-resolution GrabCut above this size (it needs ~190 bytes/pixel); "
        "its time is then estimated by pixel-count scaling (default 24)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rgb, truth = load_pair(args.data, args.image)
    results = []
    for mp in args.sizes:
        print(f"… {mp:g} MP", file=sys.stderr, flush=True)
        results.append(bench_size(rgb, truth, mp, args))

    measured = [r for r in results if r["full_grabcut_s"] is not None]
    for r in results:
        if r["full_grabcut_s"] is None and measured:
            ref = max(measured, key=lambda m: m["megapixels"])
            r["full_grabcut_s"] = round(ref["full_grabcut_s"] * r["megapixels"] / ref["megapixels"], 2)
            r["full_grabcut_estimated"] = True
        if r["full_grabcut_s"] is not None:
            r["speedup_vs_full_grabcut"] = round(r["full_grabcut_s"] * 1000 / r["stroke_ms_p95"], 1)

    print(
        f"RefineSession on {args.image} upscaled; {args.strokes} strokes per size; "
        f"{os.cpu_count()} CPUs ({platform.machine()}), load average {os.getloadavg()[0]:.1f}"
    )
    header = f"{'MP':>6} {'setup ms':>9} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'cpu p95':>8} {'undo ms':>8} {'IoU before':>10} {'after':>6} {'full GC s':>10} {'speed-up':>9}"
    print(header)
    for r in results:
        gc = (
            "n/a"
            if r["full_grabcut_s"] is None
            else f"{r['full_grabcut_s']:.1f}{'*' if r['full_grabcut_estimated'] else ''}"
        )
        speedup = f"{r['speedup_vs_full_grabcut']:.0f}×" if "speedup_vs_full_grabcut" in r else "n/a"
        print(
            f"{r['megapixels']:>6.1f} {r['setup_ms']:>9.0f} {r['stroke_ms_p50']:>7.0f} {r['stroke_ms_p95']:>7.0f} "
            f"{r['stroke_ms_max']:>7.0f} {r['stroke_cpu_ms_p95']:>8.0f} {r['undo_ms']:>8.1f} {r['iou_before']:>10.3f} {r['iou_after']:>6.3f} {gc:>10} {speedup:>9}"
        )
    if any(r["full_grabcut_estimated"] for r in results):
        print("* estimated from the largest measured size by pixel count (full GrabCut skipped there)")
    if args.json:
        args.json.write_text(json.dumps({"image": args.image, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
