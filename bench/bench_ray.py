"""What the Ray engine costs on one machine: ``batch`` with the local engine against
``batch --engine ray`` (Ray's local mode) on the same folder (photos per minute).

The folder is bench_batch.py's (real DAVIS and COCO photos, upscaled). Two measurements:

- cold, as a user runs it: ``python -m cutout_studio batch IN -o OUT --device cpu`` with and
  without ``--engine ray`` (which starts a Ray instance on this machine, then stops it), each
  from a new process into an empty folder;
- warm, in one process: the local engine's ``run_batch_to_end`` with the model loaded against
  ``run_batch_ray`` with Ray already started (``ray.init(num_cpus=N)``), so that what is left
  is the engine's own overhead per photo (Ray Data's scheduling, pickling the photos between
  stages, the model actors' start).

Needs Ray (``pip install -e ".[ray]"``) and the model installed.

    python bench/bench_ray.py --count 30 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
from bench_batch import build_folder


def run_cli(folder: Path, out: Path, engine: str) -> float:
    cmd = [common.PYTHON, "-m", "cutout_studio", "batch", str(folder), "-o", str(out), "--device", "cpu",
           "--engine", engine]
    # Ray's workers import cutout_studio from this checkout too
    env = dict(os.environ, PYTHONPATH=str(common.REPO))
    return common.run_command(cmd, env=env)


def warm_runs(folder: Path, scratch: Path, repeat: int, cpus: int) -> dict[str, list[float]]:
    import ray

    from cutout_studio.core.batch import drain, run_batch_to_end
    from cutout_studio.core.export import ExportOptions
    from cutout_studio.core.ray_engine import run_batch_ray
    from cutout_studio.core.segmenter import Segmenter

    os.environ["PYTHONPATH"] = str(common.REPO)  # inherited by Ray's workers
    segmenter = Segmenter("default", device="cpu")
    ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING")
    times: dict[str, list[float]] = {"local (warm)": [], "ray local mode (warm)": []}
    try:
        for attempt in range(repeat):
            for label in times:
                out = scratch / f"warm_{attempt}_{len(times[label])}_{label[:3]}"
                started = time.perf_counter()
                if label.startswith("local"):
                    summary = run_batch_to_end([folder], out, ExportOptions(), segmenter=segmenter)
                else:
                    summary = drain(run_batch_ray([folder], out, ExportOptions(), device="cpu"), None)
                times[label].append(time.perf_counter() - started)
                if summary.done != summary.total:
                    raise SystemExit(f"{label}: {summary.lines()[0]}")
                shutil.rmtree(out)
    finally:
        ray.shutdown()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=30, help="photos in the folder (default 30)")
    parser.add_argument("--factor", type=float, default=2.0, help="upscale factor of the source photos (default 2)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, each run once per round (median reported)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="CPUs Ray may use (warm runs)")
    parser.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="default: bench/results/ray.json")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_ray_") as tmp:
        scratch = Path(tmp)
        folder = scratch / "photos"
        photos = build_folder(args.data, folder, args.count, args.factor)
        load_before = common.load_average()
        times: dict[str, list[float]] = {"local (cold CLI)": [], "ray local mode (cold CLI)": []}
        for attempt in range(args.repeat):  # rounds: a change of load affects both alike
            for label in times:
                out = scratch / f"cold_{attempt}_{label[:3]}"
                print(f"… {label} (round {attempt + 1}/{args.repeat})", file=sys.stderr, flush=True)
                times[label].append(run_cli(folder, out, "local" if label.startswith("local") else "ray"))
                written = sum(1 for _ in out.glob("*.png"))
                if written != len(photos):
                    raise SystemExit(f"{label}: wrote {written} of {len(photos)} outputs")
                shutil.rmtree(out)
        print("… warm runs in one process", file=sys.stderr, flush=True)
        times.update(warm_runs(folder, scratch, args.repeat, args.cpus))
        load_after = common.load_average()

    results = []
    for label, seconds in times.items():
        summary = common.stats(seconds)
        results.append({"run": label, **summary, "photos_per_min": round(len(photos) * 60 / summary["median_s"], 1)})
    base = {r["run"]: r["median_s"] for r in results}
    overhead = {
        "cold_ratio": round(base["ray local mode (cold CLI)"] / base["local (cold CLI)"], 2),
        "warm_ratio": round(base["ray local mode (warm)"] / base["local (warm)"], 2),
        "warm_seconds_per_photo_added": round((base["ray local mode (warm)"] - base["local (warm)"]) / len(photos), 3),
    }
    common.print_table(["run", "median s", "min", "max", "photos/min"],
                       [[r["run"], r["median_s"], r["min_s"], r["max_s"], r["photos_per_min"]] for r in results])
    print(overhead)
    payload = {"machine": common.machine_info(), "photos": len(photos), "factor": args.factor, "repeat": args.repeat,
               "load_before": load_before, "load_after": load_after, "results": results, "overhead": overhead,
               "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=common.REPO, capture_output=True,
                                        text=True, check=False).stdout.strip()}
    path = common.write_results("ray", payload, args.json)
    print(f"results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
