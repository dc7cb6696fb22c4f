"""Mask quality on the labelled sets: ``cutout-studio eval`` for cutout, u2netp-plain and grabcut.

Runs the command line exactly as a user would (``python -m cutout_studio eval SETS --method …
--limit N --json …``) over ``people-ccp``, ``objects-coco`` and ``davis``; ``--limit`` images
per set are taken evenly spread over each set (default 100, ~10–15 min on 2 cores).

``u2netp-plain`` re-implements rembg's post-processing on our copy of the model; to show that
it stands for rembg, ``--rembg-check N`` also scores real ``rembg.remove(..., only_mask=True)``
on N images per set beside u2netp-plain on the same images (same metrics code).

    python bench/bench_quality.py --limit 100 --rembg-check 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import common
import numpy as np

SETS = ("people-ccp", "objects-coco", "davis")
METHODS = ("cutout", "u2netp-plain", "grabcut")


def rembg_check(set_dirs: list[Path], per_set: int, device: str) -> list[dict]:
    """Real rembg vs our u2netp-plain on the same photos: the scores should agree."""
    from PIL import Image
    from rembg import new_session, remove

    from cutout_studio.core.evaluate import MaskScores, find_pairs, make_predictor
    from cutout_studio.core.image_io import load_image
    from cutout_studio.core.segmenter import Segmenter

    session = new_session("u2netp")
    plain = make_predictor("u2netp-plain", Segmenter("default", device=device))
    rows = []
    for folder in set_dirs:
        eval_set = find_pairs(folder)
        scores = {"rembg (real)": MaskScores(), "u2netp-plain": MaskScores()}
        agreement = []
        for photo, mask_path in common.spread(eval_set.pairs, per_set):
            rgb = load_image(photo).rgb
            truth = np.asarray(Image.open(mask_path).convert("L"))
            started = time.perf_counter()
            theirs = (
                np.asarray(remove(Image.fromarray(rgb), session=session, only_mask=True), np.float32) / 255
            )
            scores["rembg (real)"].add(photo.name, theirs, truth, time.perf_counter() - started)
            started = time.perf_counter()
            ours = plain(rgb)
            scores["u2netp-plain"].add(photo.name, ours, truth, time.perf_counter() - started)
            agreement.append(float(np.mean((theirs > 0.5) == (ours > 0.5))))
        for name, score in scores.items():
            summary = score.summary()
            rows.append(
                {
                    "set": eval_set.name,
                    "method": name,
                    "images": summary["images"],
                    "iou": summary["iou"],
                    "mae": summary["mae"],
                    "max_f": summary["max_f"],
                    "s_measure": summary["s_measure"],
                    "seconds_per_image": summary["seconds_per_image"],
                    "pixels_agreeing_at_0.5": round(float(np.mean(agreement)), 5),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=100, help="images per set (default 100; 0 = all)")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument(
        "--rembg-check",
        type=int,
        default=20,
        metavar="N",
        help="score real rembg on N images per set beside u2netp-plain (0: skip)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="default: bench/results/quality.json")
    common.add_rembg_argument(parser)
    args = parser.parse_args(argv)

    set_dirs = [args.data / name for name in args.sets]
    with tempfile.TemporaryDirectory(prefix="bench_quality_") as tmp:
        eval_json = Path(tmp) / "eval.json"
        cmd = [
            common.PYTHON,
            "-m",
            "cutout_studio",
            "eval",
            *map(str, set_dirs),
            "--device",
            args.device,
            "--json",
            str(eval_json),
        ]
        for method in args.methods:
            cmd += ["--method", method]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        print("$ cutout-studio " + " ".join(cmd[3:]), file=sys.stderr, flush=True)
        env = dict(os.environ, PYTHONPATH=str(common.REPO))
        started = time.perf_counter()
        common.run_command(cmd, env=env, quiet=False)
        wall = time.perf_counter() - started
        evaluation = json.loads(eval_json.read_text())

        check = []
        if args.rembg_check and not args.no_rembg:
            common.prepare_rembg(args.rembg_onnx, Path(tmp))
            print(f"… rembg check on {args.rembg_check} images per set", file=sys.stderr, flush=True)
            check = rembg_check(set_dirs, args.rembg_check, args.device)

    payload = {
        "benchmark": "quality",
        "machine": common.machine_info(),
        "command": "cutout-studio " + " ".join(cmd[3:]).replace(tmp, "<tmp>"),
        "wall_seconds": round(wall, 1),
        "evaluation": evaluation,
        "rembg_check": check,
    }
    path = common.write_results("quality", payload, args.json)

    if check:
        print("\nrembg itself vs our u2netp-plain on the same images:")
        common.print_table(
            ["set", "method", "n", "IoU", "MAE", "maxF", "S", "s/img", "pixels agreeing"],
            [
                [
                    r["set"],
                    r["method"],
                    r["images"],
                    r["iou"],
                    r["mae"],
                    r["max_f"],
                    r["s_measure"],
                    r["seconds_per_image"],
                    r["pixels_agreeing_at_0.5"],
                ]
                for r in check
            ],
        )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
