"""Write a downsized copy of the training data, small enough to carry to a lent GPU machine.

Every set folder (``images/*.jpg`` + ``masks/*.png``) under ``--data`` is copied with each
photo and mask shrunk so that its long side is at most ``--max-side`` (photos as JPEG, masks
as PNG, same names), and the ``backgrounds/`` photos too (smaller: they are blurred behind
the object anyway). The copy has the layout of ``../shared/data``, so ``cutout-studio train
PACKED`` and ``cutout-studio eval PACKED/SET --split val`` read it the same way, and the
train / val split (by file name) is the same.

    python bench/pack_training_data.py --data ../shared/data --out .gpu/train
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

BACKGROUNDS = "backgrounds"


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return image
    return cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=cv2.INTER_AREA)


def pack_pair(photo: Path, mask: Path, out: Path, max_side: int, quality: int) -> str | None:
    """Write one shrunk pair; returns a one-line reason when the pair is skipped."""
    bgr = cv2.imread(str(photo), cv2.IMREAD_COLOR)  # EXIF orientation applied: written upright
    truth = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
    if bgr is None or truth is None:
        return f"{photo.name}: photo or mask unreadable"
    if bgr.shape[:2] != truth.shape:
        return f"{photo.name}: mask {truth.shape[1]}x{truth.shape[0]} is not the photo's size"
    cv2.imwrite(str(out / "images" / f"{photo.stem}.jpg"), shrink(bgr, max_side),
                [cv2.IMWRITE_JPEG_QUALITY, quality])
    cv2.imwrite(str(out / "masks" / f"{photo.stem}.png"), shrink(truth, max_side),
                [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return None


def pack_background(photo: Path, out: Path, max_side: int, quality: int) -> str | None:
    bgr = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if bgr is None:
        return f"{photo.name}: unreadable"
    cv2.imwrite(str(out / f"{photo.stem}.jpg"), shrink(bgr, max_side), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return None


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sets", nargs="*", help="set names to copy (default: every set folder)")
    parser.add_argument("--max-side", type=int, default=360, help="long side of photos and masks, px (>= the 320 px model input)")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality of the photos (85: the whole data in ~40 MB)")
    parser.add_argument("--bg-max-side", type=int, default=300, help="long side of the backgrounds, px (blurred anyway)")
    parser.add_argument("--bg-quality", type=int, default=75)
    parser.add_argument("--limit", type=int, help="at most this many pairs / backgrounds per folder (a quick subset)")
    parser.add_argument("--budget-mb", type=float, default=40.0, help="exit 1 when the copy is larger")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    from cutout_studio.core.evaluate import _spread, find_pairs

    if not args.data.is_dir():
        print(f"{args.data}: not a folder (give --data, the folder holding the sets)", file=sys.stderr)
        return 2
    sets = sorted(p for p in args.data.iterdir() if (p / "images").is_dir() and (p / "masks").is_dir())
    if args.sets:
        sets = [p for p in sets if p.name in args.sets]
    if not sets:
        print(f"{args.data}: no set folders (images/ + masks/) to pack", file=sys.stderr)
        return 2
    jobs = []
    with ThreadPoolExecutor(args.threads) as pool:
        for folder in sets:
            pairs = _spread(find_pairs(folder).pairs, args.limit)
            dest = args.out / folder.name
            (dest / "images").mkdir(parents=True, exist_ok=True)
            (dest / "masks").mkdir(exist_ok=True)
            jobs += [pool.submit(pack_pair, photo, mask, dest, args.max_side, args.quality) for photo, mask in pairs]
            print(f"{folder.name}: {len(pairs)} pairs")
        backgrounds = args.data / BACKGROUNDS
        if backgrounds.is_dir():
            photos = sorted(p for p in backgrounds.iterdir() if p.is_file() and not p.name.startswith("."))
            photos = photos if args.limit is None else photos[: args.limit]
            (args.out / BACKGROUNDS).mkdir(parents=True, exist_ok=True)
            jobs += [pool.submit(pack_background, p, args.out / BACKGROUNDS, args.bg_max_side, args.bg_quality)
                     for p in photos]
            print(f"{BACKGROUNDS}: {len(photos)} photos")
        skipped = [reason for job in jobs if (reason := job.result())]
    for reason in skipped:
        print(f"skipped {reason}", file=sys.stderr)
    total = folder_bytes(args.out)
    print(f"{args.out}: {total / 1e6:.1f} MB in all ({len(jobs) - len(skipped)} files written, {len(skipped)} skipped)")
    if total > args.budget_mb * 1e6:
        print(f"over the {args.budget_mb:.0f} MB budget: lower --max-side or --quality", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
