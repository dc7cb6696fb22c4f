"""Benchmark the editor's whole stroke path: mouse release -> overlay painted, in the real window.

The real :class:`MainWindow` runs offscreen (``QT_QPA_PLATFORM=offscreen``) with the real
model. A real photo from the data set is upscaled to each size (``common.upscaled_jpeg``: a
camera-sized JPEG with grain), opened, and once its mask is on screen ``--strokes`` drags are
made with QTest mouse events, alternating foreground and background, each across the mask's
outline at a different place. For every stroke the clock starts just before the mouse
release and stops when the window's ``view_updated`` signal has fired **and** the canvas has
repainted synchronously (``viewport().repaint()``): what the user waits for, the first
stroke on the photo included (it is listed on its own too).

Also reported: open -> photo on screen (decoded) and open -> mask on screen. The 1-minute load
average is recorded before and after: on a shared machine every wall time is inflated.

    QT_QPA_PLATFORM=offscreen python bench/bench_editor.py --sizes 3 24 --strokes 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

#: the shared data beside the checkout (a worktree may sit one folder deeper than main)
DEFAULT_DATA = next(
    (p / "shared" / "data" for p in Path(__file__).resolve().parents if (p / "shared" / "data").is_dir()),
    Path(__file__).resolve().parents[2] / "shared" / "data",
)
DEFAULT_PHOTO = "objects-coco/airplane00_000000281693"
#: targets on this 2-core machine (issue 10, item 6): p95 of release -> painted, by megapixels
TARGETS_MS = {3: 50.0, 24: 150.0}


def _home_with_model() -> Path:
    """A private CUTOUT_STUDIO_HOME whose models folder is the installed one (nothing else is read)."""
    import platformdirs

    source = Path(os.environ.get("CUTOUT_STUDIO_HOME") or platformdirs.user_cache_dir("cutout-studio")) / "models"
    if not (source / "u2netp.safetensors").is_file():
        raise SystemExit(f"the default model is not installed in {source}: run `cutout-studio models install`")
    home = Path(tempfile.mkdtemp(prefix="bench-editor-home-"))
    (home / "models").symlink_to(source, target_is_directory=True)
    return home


class _Recorder:
    """When each emission of a signal arrived. Connected once and never disconnected: with
    PySide6 on Python 3.11, connecting and disconnecting a Python slot for every wait crashed
    the process now and then (``none_dealloc``) in this benchmark's loop."""

    def __init__(self, signal) -> None:
        self.times: list[float] = []
        signal.connect(self._record)

    def _record(self, *_args) -> None:
        self.times.append(time.perf_counter())

    def wait(self, app, timeout_s: float) -> float:
        """Process events until the next emission; its time."""
        seen = len(self.times)
        deadline = time.perf_counter() + timeout_s
        while len(self.times) == seen:
            if time.perf_counter() > deadline:
                raise SystemExit(f"timed out after {timeout_s:.0f} s")
            app.processEvents()
            time.sleep(0.0005)
        return self.times[seen]


def _stroke_sites(alpha: np.ndarray, count: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Photo-pixel points on the mask's outline, spread along it."""
    hard = alpha >= 0.5
    edge = hard & ~(np.roll(hard, 1, 0) & np.roll(hard, -1, 0) & np.roll(hard, 1, 1) & np.roll(hard, -1, 1))
    ys, xs = np.nonzero(edge[::4, ::4])
    if not len(ys):
        raise SystemExit("the mask has no outline to paint across")
    picks = rng.choice(len(ys), size=count, replace=len(ys) < count)
    return [(float(xs[i] * 4), float(ys[i] * 4)) for i in picks]


def bench_size(app, photo: Path, megapixels: float, strokes: int, brush: int, scratch: Path) -> dict:
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtTest import QTest

    from cutout_studio.qt.main_window import MainWindow

    path = common.upscaled_jpeg(photo, scratch / f"{photo.stem}-{megapixels:g}mp.jpg", megapixels=megapixels)
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    model, decoded, updated = (
        _Recorder(signal) for signal in (window.masks.segmenter_ready, window.masks.decoded, window.view_updated)
    )
    if window.masks.segmenter is None:
        model.wait(app, 300)
    started = time.perf_counter()
    window.open_paths([path])
    decoded_at = decoded.wait(app, 300) if not decoded.times else decoded.times[0]
    shown_at = updated.wait(app, 600)
    doc = window.current
    assert doc is not None and doc.ready
    canvas = window.canvas
    window.set_brush_size(brush)
    rng = np.random.default_rng(0)
    times: list[float] = []
    phases: list[dict[str, float]] = []
    window.pipeline.rendered.connect(lambda _doc, result: phases.append(dict(result.timings)))
    patched = 0
    allocations_before = window.pipeline._pool.allocations
    for i, (x, y) in enumerate(_stroke_sites(np.asarray(doc.alpha), strokes, rng)):
        window.actions_.tools["fg" if i % 2 == 0 else "bg"].trigger()
        start = canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))
        points = [start + QPoint(step * 4, step * 2) for step in range(6)]
        viewport = canvas.viewport()
        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0])
        for point in points[1:]:
            QTest.mouseMove(viewport, point)
        layer_before = canvas.layer_item.layer
        released = time.perf_counter()
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[-1])
        updated.wait(app, 120)
        viewport.repaint()  # the overlay painted, synchronously
        times.append(time.perf_counter() - released)
        patched += canvas.layer_item.layer is layer_before
    allocations = window.pipeline._pool.allocations - allocations_before
    window.close()
    app.processEvents()
    ms = sorted(t * 1000 for t in times)
    # Worker phases per stroke (median ms); the rest of the wait is queueing, the GUI thread
    # (patching the layer, repainting) and the event loop.
    names = sorted({name for phase in phases for name in phase})
    worker = {n: round(statistics.median(p.get(n, 0.0) for p in phases[-len(times) :]) * 1000, 1) for n in names}
    p95 = float(np.percentile(ms, 95))
    target = TARGETS_MS.get(round(megapixels))
    return {
        "megapixels": megapixels,
        "size": [doc.image.width, doc.image.height] if doc.image is not None else None,
        "open_to_photo_s": round(decoded_at - started, 3),
        "open_to_mask_s": round(shown_at - started, 3),
        "strokes": len(times),
        "first_stroke_ms": round(times[0] * 1000, 1),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ms[-1], 1),
        "patched_in_place": patched,
        "fresh_snapshot_buffers": allocations,
        "worker_median_ms": worker,
        "first_stroke_worker_ms": {n: round(v * 1000, 1) for n, v in phases[-len(times)].items()},
        "target_p95_ms": target,
        "meets_target": None if target is None else p95 <= target,
    }


def _run_each_size_alone(args: argparse.Namespace) -> None:
    """Each size in its own process: a fresh window, allocator and model, as a user starts it."""
    import json
    import subprocess

    load_before = common.load_average()
    merged: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-editor-runs-") as scratch:
        for megapixels in args.sizes:
            out = Path(scratch) / f"{megapixels:g}.json"
            command = [sys.executable, __file__, "--one", "--sizes", str(megapixels), "--json", str(out)]
            command += ["--strokes", str(args.strokes), "--brush", str(args.brush), "--photo", args.photo]
            command += ["--data", str(args.data)]
            subprocess.run(command, check=True)
            run = json.loads(out.read_text(encoding="utf-8"))
            merged = {**run, "results": [*merged.get("results", []), *run["results"]]}
    merged["load_before"] = load_before
    merged["load_after"] = common.load_average()
    print(f"load average (1 min): {load_before} before all, {merged['load_after']} after all")
    print("results:", common.write_results("bench_editor", merged, args.json))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[3, 24], help="megapixels")
    parser.add_argument("--strokes", type=int, default=10)
    parser.add_argument("--brush", type=int, default=30, help="brush diameter in screen pixels")
    parser.add_argument("--photo", default=DEFAULT_PHOTO, help="SET/NAME in the data folder")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # one size, this process
    args = parser.parse_args()
    if not args.one:
        _run_each_size_alone(args)
        return

    os.environ["CUTOUT_STUDIO_HOME"] = str(_home_with_model())
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    photo = common.source_photo(args.data, args.photo)
    load_before = common.load_average()
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="bench-editor-") as scratch:
        for megapixels in args.sizes:
            result = bench_size(app, photo, megapixels, args.strokes, args.brush, Path(scratch))
            results.append(result)
            rows.append(
                [
                    f"{megapixels:g} MP",
                    result["open_to_photo_s"],
                    result["open_to_mask_s"],
                    result["first_stroke_ms"],
                    result["p50_ms"],
                    result["p95_ms"],
                    result["max_ms"],
                    f"{result['patched_in_place']}/{result['strokes']}",
                    common.verdict(result["meets_target"]),
                ]
            )
    load_after = common.load_average()
    for result in results:
        print(f"{result['megapixels']:g} MP worker phases, median ms per stroke: {result['worker_median_ms']}")
        print(f"{result['megapixels']:g} MP worker phases, first stroke: {result['first_stroke_worker_ms']}")
        print(f"{result['megapixels']:g} MP fresh snapshot buffers during the strokes: {result['fresh_snapshot_buffers']}")
    print(f"load average (1 min): {load_before} before, {load_after} after, on {os.cpu_count()} CPUs")
    common.print_table(
        [
            "photo",
            "open->photo s",
            "open->mask s",
            "1st stroke ms",
            "p50 ms",
            "p95 ms",
            "max ms",
            "patched",
            "p95 target",
        ],
        rows,
    )
    payload = {
        "machine": common.machine_info(),
        "load_before": load_before,
        "load_after": load_after,
        "photo": args.photo,
        "brush_screen_px": args.brush,
        "results": results,
    }
    print("results:", common.write_results("bench_editor", payload, args.json))


if __name__ == "__main__":
    main()
