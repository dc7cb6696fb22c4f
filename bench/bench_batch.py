"""Batch throughput on a folder (photos per minute): ``cutout-studio batch`` beside ``rembg p``.

The folder holds ~30 real photos of 1–3 MP (DAVIS and COCO photos upscaled ×2, JPEG q92).
Both tools run as command-line programs from a cold start on the same folder with the same
model (U²-Netp, CPU), writing into an empty output folder, so each time includes the process
start, the model load, decoding, inference, compositing, encoding and writing:

- ``cutout-studio batch IN -o OUT --format png`` (and ``--format webp``: lossless by default;
  ``--webp-quality Q`` adds a lossy run), through ``python -m cutout_studio``.
- ``rembg p -m u2netp IN OUT`` (rembg's own ``p`` command; it writes PNG only), see rembg_cli.py.

Target: Cutout Studio >= 1.5× rembg's photos per minute.

    python bench/bench_batch.py --count 30 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import common
from PIL import Image

TARGET_SPEEDUP = 1.5


def build_folder(data: Path, folder: Path, count: int, factor: float) -> list[Path]:
    """``count`` photos, half DAVIS and half COCO objects, evenly spread over each set, upscaled."""
    halves = {"davis": count - count // 2, "objects-coco": count // 2}
    photos = []
    for set_name, n in halves.items():
        sources = sorted((data / set_name / "images").glob("*.jpg"))
        if not sources:
            raise SystemExit(f"no photos in {data / set_name / 'images'}")
        for src in common.spread(sources, n):
            photos.append(common.upscaled_jpeg(src, folder / f"{set_name}_{src.stem}.jpg", factor=factor))
    return photos


def run_ours(
    folder: Path, out: Path, fmt: str, quality: int | None, device: str, batch_size: int | None
) -> float:
    cmd = [
        common.PYTHON,
        "-m",
        "cutout_studio",
        "batch",
        str(folder),
        "-o",
        str(out),
        "--format",
        fmt,
        "--device",
        device,
    ]
    if quality is not None:
        cmd += ["--quality", str(quality)]
    if batch_size is not None:
        cmd += ["--batch-size", str(batch_size)]
    env = dict(os.environ, PYTHONPATH=str(common.REPO))
    return common.run_command(cmd, env=env)


def run_rembg(folder: Path, out: Path) -> float:
    return common.run_command([*common.REMBG_CLI, "p", "-m", "u2netp", str(folder), str(out)])


def count_outputs(out: Path, suffix: str) -> int:
    return sum(1 for _ in out.rglob(f"*{suffix}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=30, help="photos in the folder (default 30)")
    parser.add_argument(
        "--factor", type=float, default=2.0, help="upscale factor of the source photos (default 2)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of runs, each tool once per round (median reported)"
    )
    parser.add_argument("--formats", nargs="+", default=["png", "webp"], choices=["png", "webp"])
    parser.add_argument("--webp-quality", type=int, default=None, help="also run lossy WebP at this quality")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="ours: photos per forward pass")
    parser.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="default: bench/results/batch.json")
    common.add_rembg_argument(parser)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        scratch = Path(tmp)
        if not args.no_rembg:
            common.prepare_rembg(args.rembg_onnx, scratch)
        folder = scratch / "photos"
        photos = build_folder(args.data, folder, args.count, args.factor)
        megapixels = []
        for p in photos:
            with Image.open(p) as im:
                megapixels.append(im.width * im.height / 1e6)
        print(f"{len(photos)} photos, {min(megapixels):.1f}–{max(megapixels):.1f} MP", file=sys.stderr)

        runs: list[tuple[str, str, int | None, str | None]] = []  # label, format, quality, tool
        for fmt in args.formats:
            runs.append((f"cutout-studio {fmt}", fmt, None, None))
        if args.webp_quality is not None:
            runs.append((f"cutout-studio webp q{args.webp_quality}", "webp", args.webp_quality, None))
        if not args.no_rembg:
            runs.append(("rembg p (png)", "png", None, "rembg"))

        # Rounds: every tool once per round, so a change in the machine's load between runs
        # (it is shared) affects both tools alike instead of biasing the ratio.
        times: dict[str, list[float]] = {label: [] for label, *_ in runs}
        sizes: dict[str, float] = {}
        for attempt in range(args.repeat):
            for index, (label, fmt, quality, tool) in enumerate(runs):
                out = scratch / f"out_{index}_{attempt}"
                print(f"… {label} (round {attempt + 1}/{args.repeat})", file=sys.stderr, flush=True)
                if tool == "rembg":
                    seconds = run_rembg(folder, out)
                else:
                    seconds = run_ours(folder, out, fmt, quality, args.device, args.batch_size)
                written = count_outputs(out, f".{fmt}")
                if written != len(photos):
                    raise SystemExit(f"{label}: wrote {written} of {len(photos)} outputs")
                sizes[label] = sum(f.stat().st_size for f in out.rglob(f"*.{fmt}")) / 1e6
                times[label].append(seconds)
                shutil.rmtree(out)
        results = []
        for label, fmt, quality, _tool in runs:
            summary = common.stats(times[label])
            results.append(
                {
                    "tool": label,
                    "format": fmt,
                    "quality": quality,
                    **summary,
                    "photos_per_minute": round(len(photos) * 60 / summary["median_s"], 1),
                    "output_mb": round(sizes[label], 1),
                    "load_average": common.load_average(),
                }
            )

    rembg = next((r for r in results if r["tool"].startswith("rembg")), None)
    for r in results:
        if rembg and r is not rembg:
            r["speedup_vs_rembg"] = round(r["photos_per_minute"] / rembg["photos_per_minute"], 2)
    ours_png = next((r for r in results if r["tool"] == "cutout-studio png"), None)
    target = None
    if rembg and ours_png:
        target = {
            "what": "batch throughput vs rembg p, PNG, same folder and model",
            "target": TARGET_SPEEDUP,
            "measured": ours_png["speedup_vs_rembg"],
            "met": ours_png["speedup_vs_rembg"] >= TARGET_SPEEDUP,
        }
    payload = {
        "benchmark": "batch",
        "machine": common.machine_info(),
        "photos": len(photos),
        "megapixels_min_max": [round(min(megapixels), 2), round(max(megapixels), 2)],
        "megapixels_mean": round(sum(megapixels) / len(megapixels), 2),
        "device": args.device,
        "results": results,
        "target": target,
    }
    path = common.write_results("batch", payload, args.json)

    print(
        f"Batch of {len(photos)} photos ({payload['megapixels_mean']:.1f} MP mean), CLI cold start to last file; "
        f"load average {common.load_average()}"
    )
    common.print_table(
        ["tool", "seconds", "photos/min", "vs rembg", "output MB"],
        [
            [r["tool"], r["median_s"], r["photos_per_minute"], r.get("speedup_vs_rembg"), r["output_mb"]]
            for r in results
        ],
    )
    if target:
        print(
            f"target: >= {TARGET_SPEEDUP}× rembg p: {target['measured']:.2f}× {common.verdict(target['met'])}"
        )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
