"""Does personal tuning help? Tune on N photos of one category, score OTHER photos of it.

The category's train part stands in for the user's corrections (its ground-truth masks are what
the user would have finished); N of them, spread evenly over the train part, are tuned on with
``core/training/tune.py`` (the code `cutout-studio tune` runs), and the base model and each tuned
model are scored with ``cutout-studio eval``'s code (model + edge snapping, as the product cuts)
on the category's val part, which is never trained on.

    python bench/bench_tune.py                                  # people-ccp, N = 5, 20, 50
    python bench/bench_tune.py --data ../shared/data/people-ccp --ns 5 20 --steps 40 --size 160

Personal models are made in a scratch home (CUTOUT_STUDIO_HOME), never in the user's models folder.
Results: bench/results/tune-SET.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import common

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=common.DEFAULT_DATA / "people-ccp")
    parser.add_argument("--ns", type=int, nargs="+", default=[5, 20, 50])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--val-limit", type=int, default=40)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-tune-"))
    home = scratch / "home"
    (home / "models").mkdir(parents=True)
    user_models = Path(os.environ.get("CUTOUT_STUDIO_HOME", "")) / "models" if os.environ.get(
        "CUTOUT_STUDIO_HOME") else None
    os.environ["CUTOUT_STUDIO_HOME"] = str(home)
    import platformdirs

    from cutout_studio.core.evaluate import _spread, evaluate_sets
    from cutout_studio.core.models import get_card, install, installed
    from cutout_studio.core.training.data import set_pairs
    from cutout_studio.core.training.tune import tune

    source = user_models or Path(platformdirs.user_cache_dir("cutout-studio")) / "models"
    for name in ("u2netp.safetensors", "u2netp.json"):
        if (source / name).is_file():
            (home / "models" / name).symlink_to(source / name)
    if installed(get_card("u2netp")) is None:
        install("u2netp")

    machine = common.machine_info()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    train = set_pairs(args.data, "train")
    tunes = []
    try:
        for n in args.ns:
            folder = scratch / f"n{n}"
            for sub in ("images", "masks"):
                (folder / sub).mkdir(parents=True)
            for photo, mask in _spread(train, n):
                shutil.copyfile(photo, folder / "images" / photo.name)
                shutil.copyfile(mask, folder / "masks" / mask.name)
            load = common.load_average()
            started = time.monotonic()
            tune(folder, name=f"tuned-n{n}", steps=args.steps, size=args.size, batch_size=args.batch_size,
                 device="cpu", progress=True)
            seconds = round(time.monotonic() - started, 1)
            tunes.append({"n": n, "model": f"tuned-n{n}", "seconds": seconds, "load_average": load})
            print(f"N={n}: tuned in {seconds:.0f} s (load {load})", flush=True)
        models = ["u2netp", *[t["model"] for t in tunes]]
        scores = evaluate_sets([args.data], model=models, device="cpu", split="val", limit=args.val_limit,
                               progress=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (per_set,) = scores["sets"].values()
    summary = {m: per_set["models"][m]["cutout"] for m in models}
    base = summary["u2netp"]
    rows = [["u2netp (base)", "-", "-", base["iou"], base["mae"], "-", "-", base["images"]]]
    for t in tunes:
        s = summary[t["model"]]
        rows.append([t["model"], t["n"], t["seconds"], s["iou"], s["mae"], round(s["iou"] - base["iou"], 4),
                     round(s["mae"] - base["mae"], 4), s["images"]])
    print(f"\n{args.data.name}: val part ({base['images']} photos), {args.steps} steps at {args.size} px, "
          f"batch {args.batch_size}; commit {commit}; {machine['cpu']}, {machine['cores']} cores; "
          f"load {machine['load_average']} -> {common.load_average()}")
    common.print_table(["model", "N", "tune s", "IoU", "MAE", "ΔIoU", "ΔMAE", "val photos"], rows)
    common.write_results(f"tune-{args.data.name}", {"machine": machine, "commit": commit, "data": str(args.data), "steps": args.steps,
                                  "size": args.size, "batch_size": args.batch_size, "val_limit": args.val_limit,
                                  "tunes": tunes, "scores": summary, "load_average_end": common.load_average()})


if __name__ == "__main__":
    main()
