"""Peak memory (RSS) cutting out and exporting one big photo, each case in a fresh process.

A real photo is upscaled to 24 MP and 100 MP (JPEG q92). Each case runs in a new Python
process, so nothing cached by an earlier case counts, and the parent reads the child's peak
resident set size from the kernel (``os.wait4`` rusage ``ru_maxrss``). The child also reports
its own high-water mark (``VmHWM``) after each phase, to show where the peak comes from:

- ``ours``: import + model load -> ``load_image`` -> ``Segmenter.predict`` -> ``export_cutout`` (PNG).
- ``rembg``: import + ``new_session("u2netp")`` -> ``remove(bytes)`` -> PNG written.

Target: the 100 MP photo cut and exported with a peak RSS <= 2.5 GB.

    python bench/bench_memory.py --sizes 24 100 --rembg-sizes 24
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

TARGET_GB_100MP = 2.5


# --------------------------------------------------------------------------------------------
# child side: one photo, one tool, phases


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _mark(phases: list, name: str, started: float) -> None:
    phases.append(
        {
            "phase": name,
            "seconds": round(time.perf_counter() - started, 2),
            "peak_mb": round(_status_kb("VmHWM") / 1024, 1),
            "rss_mb": round(_status_kb("VmRSS") / 1024, 1),
        }
    )


def child(tool: str, photo: Path, out: Path, device: str) -> None:
    phases: list = []
    start = time.perf_counter()
    if tool == "ours":
        from cutout_studio.core.export import ExportOptions, export_cutout
        from cutout_studio.core.image_io import load_image
        from cutout_studio.core.segmenter import Segmenter

        segmenter = Segmenter("default", device=device)
        _mark(phases, "import + model", start)
        t = time.perf_counter()
        image = load_image(photo)
        _mark(phases, "decode", t)
        t = time.perf_counter()
        alpha = segmenter.predict(image.rgb)
        _mark(phases, "mask (model + snap)", t)
        t = time.perf_counter()
        export_cutout(image, alpha, out, ExportOptions(format="png", overwrite=True))
        _mark(phases, "export PNG", t)
    else:
        from rembg import new_session, remove

        session = new_session("u2netp")
        _mark(phases, "import + model", start)
        t = time.perf_counter()
        out.write_bytes(remove(photo.read_bytes(), session=session))
        _mark(phases, "remove + PNG", t)
    print(json.dumps({"phases": phases, "seconds": round(time.perf_counter() - start, 2)}))


# --------------------------------------------------------------------------------------------
# parent side


def measure(tool: str, photo: Path, out: Path, device: str) -> dict:
    """Run one case in a fresh process; its peak RSS as the kernel counted it, plus its phases."""
    env = dict(os.environ, PYTHONPATH=str(common.REPO))
    cmd = [common.PYTHON, __file__, "--child", tool, str(photo), str(out), "--device", device]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be the maximum over all children).
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        return {
            "tool": tool,
            "error": f"exit status {code}: {stderr.strip()[-1500:]}",
            "peak_rss_mb": None,
            "peak_rss_gb": None,
            "seconds": round(wall, 2),
        }
    report = json.loads(stdout.strip().splitlines()[-1])
    peak_mb = usage.ru_maxrss / 1024  # Linux reports kilobytes
    return {
        "tool": tool,
        "peak_rss_mb": round(peak_mb, 1),
        "peak_rss_gb": round(peak_mb / 1024, 3),
        "seconds": round(wall, 2),
        "phases": report["phases"],
        "output_mb": round(out.stat().st_size / 1e6, 1) if out.exists() else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=float, nargs="+", default=[24, 100], help="megapixels, ours (default 24 100)"
    )
    parser.add_argument(
        "--rembg-sizes", type=float, nargs="*", default=[24], help="megapixels, rembg (default 24)"
    )
    parser.add_argument(
        "--image", default="objects-coco/teddy_bear04_000000325527", help="SET/NAME of the photo to upscale"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="default: bench/results/memory.json")
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "PHOTO", "OUT"), help=argparse.SUPPRESS)
    common.add_rembg_argument(parser)
    args = parser.parse_args(argv)

    if args.child:
        tool, photo, out = args.child
        child(tool, Path(photo), Path(out), args.device)
        return 0

    source = common.source_photo(args.data, args.image)
    rembg_sizes = [] if args.no_rembg else list(args.rembg_sizes)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        scratch = Path(tmp)
        if rembg_sizes:
            common.prepare_rembg(args.rembg_onnx, scratch)
        for mp in sorted(set(args.sizes) | set(rembg_sizes)):
            photo = common.upscaled_jpeg(source, scratch / f"photo_{mp:g}mp.jpg", megapixels=mp)
            tools = (["ours"] if mp in args.sizes else []) + (["rembg"] if mp in rembg_sizes else [])
            for tool in tools:
                print(f"… {tool} {mp:g} MP", file=sys.stderr, flush=True)
                entry = measure(tool, photo, scratch / f"{tool}_{mp:g}.png", args.device)
                entry.update(
                    megapixels=mp,
                    jpeg_mb=round(photo.stat().st_size / 1e6, 1),
                    load_average=common.load_average(),
                )
                results.append(entry)
            photo.unlink()

    big = next((r for r in results if r["tool"] == "ours" and r["megapixels"] == 100), None)
    target = None
    if big is not None:
        measured = big["peak_rss_gb"]
        target = {
            "what": "100 MP photo cut and exported, peak RSS",
            "target_gb": TARGET_GB_100MP,
            "measured_gb": measured,
            "met": measured is not None and measured <= TARGET_GB_100MP,
        }
    payload = {
        "benchmark": "memory",
        "machine": common.machine_info(),
        "image": args.image,
        "results": results,
        "target": target,
    }
    path = common.write_results("memory", payload, args.json)

    print(f"Peak RSS, fresh process per case; load average {common.load_average()}")
    common.print_table(
        ["tool", "MP", "peak RSS GB", "seconds", "phases (peak MB after each)"],
        [
            [
                r["tool"],
                f"{r['megapixels']:g}",
                r["peak_rss_gb"],
                r["seconds"],
                r.get("error") or ", ".join(f"{p['phase']} {p['peak_mb']:.0f}" for p in r["phases"]),
            ]
            for r in results
        ],
    )
    if target:
        print(
            f"target: 100 MP peak RSS <= {TARGET_GB_100MP} GB: {target['measured_gb']} GB "
            f"{common.verdict(target['met'])}"
        )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
