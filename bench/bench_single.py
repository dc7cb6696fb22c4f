"""Single-photo latency at camera sizes: decode + mask + export PNG, Cutout Studio beside rembg.

A real photo from the shared data is upscaled to each size and written as JPEG q92 into a
temporary folder; every timed run starts from that file, so decoding is part of the time (as
it is for a user). Both tools use U²-Netp on the CPU and write a transparent PNG.

- ours: ``load_image`` -> ``Segmenter.predict`` (model + guided snapping) -> ``export_cutout``
  with default options (PNG, colour decontamination on), timed per phase.
- rembg: ``rembg.remove(bytes, session=new_session("u2netp"))`` -> PNG bytes written to disk,
  rembg's whole single-photo path; plus its mask alone (decode + ``session.predict``).

The "automatic mask" line (decode included; target <= 1.5 s at 24 MP) is ours decode + predict.

    python bench/bench_single.py --sizes 3 12 24 --repeat 3
    python bench/bench_single.py --sizes 24 --repeat 1 --profile    # + cProfile of ours at 24 MP
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
from pathlib import Path

import common

AUTO_MASK_TARGET_S = 1.5  # automatic mask of a 24 MP photo, decode included


def ours_once(path: Path, out: Path, segmenter, options) -> dict[str, float]:
    from cutout_studio.core.export import export_cutout
    from cutout_studio.core.image_io import load_image

    decode, image = common.timed(load_image, path)
    model, masks = common.timed(segmenter.predict_lowres, [image.rgb])
    snap, alpha = common.timed(segmenter.snap, masks[0], image.rgb)
    export, _ = common.timed(export_cutout, image, alpha, out, options)
    return {
        "decode_s": decode,
        "model_s": model,
        "snap_s": snap,
        "export_s": export,
        "auto_mask_s": decode + model + snap,
        "total_s": decode + model + snap + export,
    }


def rembg_once(path: Path, out: Path, session) -> dict[str, float]:
    from PIL import Image
    from rembg import remove

    def cutout() -> None:
        out.write_bytes(remove(path.read_bytes(), session=session))

    def mask() -> None:
        with Image.open(path) as img:
            img.load()
            session.predict(img)

    total, _ = common.timed(cutout)
    auto_mask, _ = common.timed(mask)
    return {"total_s": total, "auto_mask_s": auto_mask}


def summarise(runs: list[dict[str, float]]) -> dict[str, dict]:
    return {key: common.stats([run[key] for run in runs]) for key in runs[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=float, nargs="+", default=[3, 12, 24], help="megapixels (default 3 12 24)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per size and tool, after one warm-up"
    )
    parser.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    parser.add_argument(
        "--image", default="objects-coco/teddy_bear04_000000325527", help="SET/NAME of the photo to upscale"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one run of ours at the largest size (cProfile, by cumulative time)",
    )
    parser.add_argument("--json", type=Path, help="default: bench/results/single.json")
    common.add_rembg_argument(parser)
    args = parser.parse_args(argv)

    from cutout_studio.core.export import ExportOptions
    from cutout_studio.core.segmenter import Segmenter

    segmenter = Segmenter("default", device=args.device)
    options = ExportOptions(format="png", overwrite=True)
    source = common.source_photo(args.data, args.image)

    with tempfile.TemporaryDirectory(prefix="bench_single_") as tmp:
        scratch = Path(tmp)
        session = None
        if not args.no_rembg:
            common.prepare_rembg(args.rembg_onnx, scratch)
            from rembg import new_session

            session = new_session("u2netp")

        results = []
        for mp in args.sizes:
            photo = common.upscaled_jpeg(source, scratch / f"photo_{mp:g}mp.jpg", megapixels=mp)
            print(f"… {mp:g} MP ({photo.stat().st_size / 1e6:.1f} MB JPEG)", file=sys.stderr, flush=True)
            ours_out, rembg_out = scratch / "ours.png", scratch / "rembg.png"
            ours_once(photo, ours_out, segmenter, options)  # warm-up: first-call allocations, caches
            ours_runs = [ours_once(photo, ours_out, segmenter, options) for _ in range(args.repeat)]
            entry = {
                "megapixels": mp,
                "jpeg_mb": round(photo.stat().st_size / 1e6, 2),
                "ours": summarise(ours_runs),
                "ours_png_mb": round(ours_out.stat().st_size / 1e6, 2),
                "load_average": common.load_average(),
            }
            if session is not None:
                rembg_once(photo, rembg_out, session)
                rembg_runs = [rembg_once(photo, rembg_out, session) for _ in range(args.repeat)]
                entry["rembg"] = summarise(rembg_runs)
                entry["rembg_png_mb"] = round(rembg_out.stat().st_size / 1e6, 2)
            results.append(entry)

        profile_text = None
        if args.profile:
            mp = max(args.sizes)
            photo = scratch / f"photo_{mp:g}mp.jpg"
            profiler = cProfile.Profile()
            profiler.enable()
            ours_once(photo, scratch / "ours.png", segmenter, options)
            profiler.disable()
            buffer = io.StringIO()
            pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(35)
            profile_text = buffer.getvalue()
            profile_path = common.RESULTS / f"single_profile_{mp:g}mp.txt"
            profile_path.parent.mkdir(parents=True, exist_ok=True)
            profile_path.write_text(profile_text, encoding="utf-8")

    auto = next((r for r in results if r["megapixels"] == 24), None)
    target = None
    if auto is not None:
        target = {
            "what": "automatic mask of a 24 MP photo, decode included",
            "target_s": AUTO_MASK_TARGET_S,
            "measured_s": auto["ours"]["auto_mask_s"]["median_s"],
            "met": auto["ours"]["auto_mask_s"]["median_s"] <= AUTO_MASK_TARGET_S,
        }
    payload = {
        "benchmark": "single",
        "machine": common.machine_info(),
        "image": args.image,
        "device": segmenter.device_label,
        "repeat": args.repeat,
        "results": results,
        "target": target,
    }
    path = common.write_results("single", payload, args.json)

    print(
        f"Single photo, decode + mask + PNG export, median of {args.repeat} (s); {segmenter.device_label}; "
        f"load average {common.load_average()}"
    )
    header = [
        "MP",
        "ours total",
        "decode",
        "model",
        "snap",
        "export",
        "ours mask",
        "rembg total",
        "rembg mask",
        "speed-up",
    ]
    rows = []
    for r in results:
        o = r["ours"]
        rb = r.get("rembg")
        speedup = rb["total_s"]["median_s"] / o["total_s"]["median_s"] if rb else None
        rows.append(
            [
                f"{r['megapixels']:g}",
                o["total_s"]["median_s"],
                o["decode_s"]["median_s"],
                o["model_s"]["median_s"],
                o["snap_s"]["median_s"],
                o["export_s"]["median_s"],
                o["auto_mask_s"]["median_s"],
                rb["total_s"]["median_s"] if rb else None,
                rb["auto_mask_s"]["median_s"] if rb else None,
                f"{speedup:.2f}×" if speedup else None,
            ]
        )
    common.print_table(header, rows)
    if target:
        print(
            f"target: {target['what']} <= {AUTO_MASK_TARGET_S} s: {target['measured_s']:.2f} s "
            f"{common.verdict(target['met'])}"
        )
    if profile_text:
        print(f"profile of ours at {max(args.sizes):g} MP: {profile_path}")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
