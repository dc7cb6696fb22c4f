"""Does the clean plate make white-on-white and see-through products come out right? The MAE of
the automatic mask with and without the plate on a test shoot (tests/support/plate_shoot.py):
real cutouts composited on a white seamless with small camera shifts (±6 px), exposure changes
(±10 %), some near-white and some glass-like, each masked as ``cut`` and ``batch`` mask it
(the model, the plate's fusion, the snap: the calls of batch_steps.encode_job).

    python bench/bench_clean_plate.py                  # 21 shots from objects-coco and people-ccp
    python bench/bench_clean_plate.py --shots 6 --data tests/data
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import common
import numpy as np
from PIL import Image

from cutout_studio.core.clean_plate import apply_clean_plate
from cutout_studio.core.segmenter import Segmenter
from tests.support.plate_shoot import build_shoot, data_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=int, default=21)
    parser.add_argument("--data", type=Path, nargs="*",
                        default=[common.DEFAULT_DATA / "objects-coco", common.DEFAULT_DATA / "people-ccp"])
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/bench_clean_plate"))
    args = parser.parse_args()
    pairs = [pair for folder in args.data for pair in common.spread(data_pairs(folder), args.shots)]
    plate, shots = build_shoot(common.spread(pairs, args.shots), args.shots, seed=1)
    args.scratch.mkdir(parents=True, exist_ok=True)
    plate_file = args.scratch / "empty.png"
    Image.fromarray(plate).save(plate_file)
    segmenter = Segmenter("default", device="cpu")
    rows, by_kind, seconds, refused = [], {}, [], 0
    for shot in shots:
        low = segmenter.predict_lowres([shot.rgb])[0]
        alone = Segmenter.snap(low, shot.rgb)
        started = time.perf_counter()
        fused, note = apply_clean_plate(low, shot.rgb, plate_file)
        seconds.append(time.perf_counter() - started)
        refused += bool(note)
        with_plate = Segmenter.snap(fused, shot.rgb)
        pair = (float(np.abs(alone - shot.truth).mean()), float(np.abs(with_plate - shot.truth).mean()))
        by_kind.setdefault(shot.kind, []).append(pair)
        rows.append([shot.name[:44], shot.kind, f"{pair[0]:.4f}", f"{pair[1]:.4f}", note[:40]])
    common.print_table(["shot", "kind", "MAE model", "MAE + plate", "note"], rows)
    summary = []
    for kind, pairs_ in [*by_kind.items(), ("all", [p for v in by_kind.values() for p in v])]:
        before, after = np.mean([p[0] for p in pairs_]), np.mean([p[1] for p in pairs_])
        summary.append([kind, len(pairs_), f"{before:.4f}", f"{after:.4f}", f"{after / before:.2f}"])
    print()
    common.print_table(["kind", "shots", "mean MAE model", "mean MAE + plate", "ratio"], summary)
    print(f"\nplate step: median {np.median(seconds):.2f} s per photo (align + compare + fuse); "
          f"refused on {refused} of {len(shots)}; load average {common.load_average():.1f}")
    common.write_results("clean_plate", {"machine": common.machine_info(), "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
