"""GPU throughput: the model alone at batch sizes 1–64, and the end-to-end batch pipeline, on CUDA.

1. Model: ``Segmenter.predict_lowres``'s forward pass (U²-Netp, 320×320) on batches of real,
   preprocessed photos already on the GPU, in fp16 (the default on CUDA) and fp32; images per
   second from the median of several synchronised runs, after warm-up (cuDNN autotuning).
   Also the host-side path (numpy preprocessing + copy + forward + copy back) at each size.
2. Pipeline: ``run_batch`` (decode, inference, snapping, PNG encoding, atomic writes) on a folder
   of ~1–3 MP photos at several ``batch_size`` values: photos per minute.

Exits with status 77 ("skipped") and a one-line reason when no CUDA GPU is available.
``--device cpu`` runs the same measurements on the CPU, to check the script itself.

    python bench/bench_gpu.py --batch-sizes 1 2 4 8 16 32 64 --pipeline-batch-sizes 1 8 16
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import common
import numpy as np

EXIT_SKIPPED = 77


def _sync(torch, device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_throughput(segmenter, photos: list[np.ndarray], batch_sizes: list[int], runs: int) -> list[dict]:
    import torch

    from cutout_studio.core.segmenter import preprocess

    device = segmenter.device
    out_of_memory = torch.cuda.OutOfMemoryError if device.type == "cuda" else MemoryError
    inputs = np.stack([preprocess(rgb, segmenter.card) for rgb in photos])
    rows = []
    for half in [True, False] if device.type == "cuda" else [False]:
        model = segmenter._model if half == segmenter.half else None
        if model is None:  # the other precision: a private copy, so the shared model stays as it is
            from cutout_studio.core.models.weights import load_model

            model = load_model(segmenter.card, device)
            model = model.half() if half else model.float()
        dtype = torch.float16 if half else torch.float32
        for size in batch_sizes:
            idx = np.arange(size) % len(inputs)
            host = inputs[idx]
            try:
                batch = torch.from_numpy(host).to(device=device, dtype=dtype)
                with torch.inference_mode():
                    for _ in range(3):  # warm-up: cuDNN picks its algorithms for this shape
                        model.mask(batch)
                    _sync(torch, device)
                    times = []
                    for _ in range(runs):
                        start = time.perf_counter()
                        model.mask(batch)
                        _sync(torch, device)
                        times.append(time.perf_counter() - start)
                    host_times = []
                    for _ in range(max(1, runs // 2)):
                        start = time.perf_counter()
                        pre = np.stack([preprocess(photos[i], segmenter.card) for i in idx])
                        out = model.mask(torch.from_numpy(pre).to(device=device, dtype=dtype))
                        out.float().cpu().numpy()
                        host_times.append(time.perf_counter() - start)
            except out_of_memory:
                rows.append(
                    {"precision": "fp16" if half else "fp32", "batch_size": size, "error": "out of memory"}
                )
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            median = statistics.median(times)
            host_median = statistics.median(host_times)
            row = {
                "precision": "fp16" if half else "fp32",
                "batch_size": size,
                "forward_ms": round(median * 1000, 2),
                "images_per_s": round(size / median, 1),
                "with_host_ms": round(host_median * 1000, 2),
                "with_host_images_per_s": round(size / host_median, 1),
            }
            if device.type == "cuda":
                row["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
                torch.cuda.reset_peak_memory_stats(device)
            rows.append(row)
            print(
                f"  {row['precision']} batch {size}: {row['images_per_s']} img/s", file=sys.stderr, flush=True
            )
    return rows


def pipeline_throughput(
    segmenter, folder: Path, count: int, batch_sizes: list[int], scratch: Path
) -> list[dict]:
    from cutout_studio.core.batch import run_batch_to_end
    from cutout_studio.core.export import ExportOptions

    options = ExportOptions(format="png")
    rows = []
    for size in batch_sizes:
        out = scratch / f"out_{size}"
        start = time.perf_counter()
        summary = run_batch_to_end([folder], out, options, segmenter=segmenter, batch_size=size)
        seconds = time.perf_counter() - start
        if summary.done != count:
            raise SystemExit(
                f"pipeline batch {size}: {summary.done} of {count} done, {summary.failed} failed"
            )
        rows.append(
            {
                "batch_size": size,
                "photos": count,
                "seconds": round(seconds, 2),
                "photos_per_minute": round(count * 60 / seconds, 1),
            }
        )
        print(
            f"  pipeline batch {size}: {rows[-1]['photos_per_minute']} photos/min",
            file=sys.stderr,
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N (cpu only to check this script)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--runs", type=int, default=10, help="timed forward passes per batch size")
    parser.add_argument("--pipeline-batch-sizes", type=int, nargs="*", default=[1, 8, 16])
    parser.add_argument("--count", type=int, default=60, help="photos in the pipeline folder")
    parser.add_argument("--factor", type=float, default=2.0, help="upscale of the pipeline photos")
    parser.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="default: bench/results/gpu.json")
    args = parser.parse_args(argv)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            "bench_gpu: no CUDA GPU available (torch.cuda.is_available() is False): nothing measured",
            file=sys.stderr,
        )
        return EXIT_SKIPPED

    from bench_batch import build_folder

    from cutout_studio.core.segmenter import Segmenter

    segmenter = Segmenter("default", device=args.device)
    sources = common.spread(sorted((args.data / "objects-coco" / "images").glob("*.jpg")), 16)
    photos = [common.read_rgb(p) for p in sources]
    print(f"model throughput on {segmenter.device_label}", file=sys.stderr)
    model_rows = model_throughput(segmenter, photos, args.batch_sizes, args.runs)

    pipeline_rows = []
    if args.pipeline_batch_sizes:
        with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
            folder = Path(tmp) / "photos"
            # a small --data set can hold fewer photos than asked for: measure what was built
            count = len(build_folder(args.data, folder, args.count, args.factor))
            print(f"pipeline on {count} photos", file=sys.stderr)
            pipeline_rows = pipeline_throughput(segmenter, folder, count, args.pipeline_batch_sizes, Path(tmp))

    machine = common.machine_info()
    if segmenter.device.type == "cuda":
        props = torch.cuda.get_device_properties(segmenter.device)
        machine["gpu"] = {
            "name": props.name,
            "memory_gb": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
    payload = {
        "benchmark": "gpu",
        "machine": machine,
        "device": segmenter.device_label,
        "model": model_rows,
        "pipeline": pipeline_rows,
    }
    path = common.write_results("gpu", payload, args.json)

    print(f"Model forward (U²-Netp 320×320) on {segmenter.device_label}")
    common.print_table(
        ["precision", "batch", "forward ms", "img/s", "+host ms", "+host img/s"],
        [
            [
                r["precision"],
                r["batch_size"],
                r.get("forward_ms"),
                r.get("images_per_s"),
                r.get("with_host_ms"),
                r.get("with_host_images_per_s") or r.get("error"),
            ]
            for r in model_rows
        ],
    )
    if pipeline_rows:
        print(f"\nrun_batch pipeline, {pipeline_rows[0]['photos']} photos, PNG")
        common.print_table(
            ["batch size", "seconds", "photos/min"],
            [[r["batch_size"], r["seconds"], r["photos_per_minute"]] for r in pipeline_rows],
        )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
