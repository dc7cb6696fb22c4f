"""Diagnosis: the U²-Netp forward pass alone on the CPU, PyTorch variants beside onnxruntime.

The engine runs the model in PyTorch; rembg runs the same weights in onnxruntime. This times one
320×320 forward pass (a real photo, preprocessed once) for:

- the engine's own ``Segmenter.predict_lowres`` (as it is now; preprocessing included);
- torch, 1 and N intra-op threads, default (NCHW) and ``channels_last`` memory layout, and
  bfloat16 autocast where the CPU has it natively (what the engine uses there);
- onnxruntime (the official u2netp.onnx, as rembg loads it), 1 and N intra-op threads.

Variants are measured in interleaved rounds (A B C … A B C …), so a burst of load from other
processes hits all of them alike; wall and CPU time (this process) are both reported: CPU time
far above wall × threads means threads spin-waiting on a busy machine.

    python bench/bench_model.py --runs 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import common


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed rounds (default 10)")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="the N of the N-thread variants"
    )
    parser.add_argument("--image", default="objects-coco/teddy_bear04_000000325527")
    parser.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="default: bench/results/model.json")
    common.add_rembg_argument(parser)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from cutout_studio.core.models.device import cpu_has_native_bf16
    from cutout_studio.core.models.weights import load_model
    from cutout_studio.core.segmenter import Segmenter, preprocess

    segmenter = Segmenter("default", device="cpu")
    rgb = common.read_rgb(common.source_photo(args.data, args.image))
    x = preprocess(rgb, segmenter.card)[None]
    # Fresh copies of the weights in each layout, whatever the engine itself currently uses.
    model = load_model(segmenter.card, torch.device("cpu"))
    model_cl = load_model(segmenter.card, torch.device("cpu")).to(memory_format=torch.channels_last)
    tensor = torch.from_numpy(x)
    tensor_cl = tensor.contiguous(memory_format=torch.channels_last)
    default_threads = torch.get_num_threads()

    def torch_variant(net, inp, threads, bf16=False):
        def run():
            torch.set_num_threads(threads)
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return net.mask(inp)[0, 0].float().numpy()

        return run

    def engine():
        # what the engine runs today, preprocessing of the 320-px input included
        torch.set_num_threads(default_threads)
        return segmenter.predict_lowres([rgb])[0]

    variants = {
        f"engine predict_lowres ({default_threads}t, + preprocess)": engine,
        f"torch {default_threads}t NCHW": torch_variant(model, tensor, default_threads),
        "torch 1t NCHW": torch_variant(model, tensor, 1),
        f"torch {args.threads}t channels_last": torch_variant(model_cl, tensor_cl, args.threads),
        "torch 1t channels_last": torch_variant(model_cl, tensor_cl, 1),
    }
    if cpu_has_native_bf16():
        variants[f"torch {args.threads}t channels_last bfloat16"] = torch_variant(
            model_cl, tensor_cl, args.threads, bf16=True
        )
        variants["torch 1t channels_last bfloat16"] = torch_variant(model_cl, tensor_cl, 1, bf16=True)
    if not args.no_rembg:
        import tempfile

        import onnxruntime as ort

        home = common.prepare_rembg(args.rembg_onnx, Path(tempfile.mkdtemp(prefix="bench_model_")))
        for threads in sorted({1, args.threads}):
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            session = ort.InferenceSession(
                str(home / "u2netp.onnx"), options, providers=["CPUExecutionProvider"]
            )
            name = session.get_inputs()[0].name
            variants[f"onnxruntime {threads}t"] = lambda s=session, n=name: s.run(None, {n: x})[0][0, 0]

    reference = None
    for label, run in variants.items():  # warm-up, and check that the raw variants compute the same
        out = np.asarray(run(), np.float32)
        if label.startswith("engine"):
            continue  # min-max stretched by the engine: not comparable value for value
        if reference is None:
            reference = out
        diff = float(np.abs(out - reference).max())
        if "bfloat16" in label:  # rounded on purpose: say how far, not warn
            print(f"{label}: mean |difference| from float32 {float(np.abs(out - reference).mean()):.2e}",
                  file=sys.stderr)
        elif diff > 1e-3:
            print(f"warning: {label} differs from plain torch by {diff:.2e}", file=sys.stderr)
    times: dict[str, list[float]] = {label: [] for label in variants}
    cpu: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(args.runs):
        for label, run in variants.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            run()
            times[label].append(time.perf_counter() - start)
            cpu[label].append(time.process_time() - cpu_start)
    torch.set_num_threads(default_threads)

    rows = [
        {
            "variant": label,
            "median_ms": round(statistics.median(times[label]) * 1000, 1),
            "min_ms": round(min(times[label]) * 1000, 1),
            "cpu_ms": round(statistics.median(cpu[label]) * 1000, 1),
        }
        for label in variants
    ]
    payload = {"benchmark": "model", "machine": common.machine_info(), "runs": args.runs, "results": rows}
    path = common.write_results("model", payload, args.json)
    print(
        f"U²-Netp forward, 1×3×320×320, CPU, median of {args.runs} interleaved rounds; "
        f"load average {common.load_average()}"
    )
    common.print_table(
        ["variant", "median ms", "min ms", "CPU ms"],
        [[r["variant"], r["median_ms"], r["min_ms"], r["cpu_ms"]] for r in rows],
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
