"""What every benchmark script shares: the machine's description, test photos, rembg's set-up, results.

Benchmarks compare Cutout Studio with rembg on the same machine, in the same run, with the
same model weights (U²-Netp): rembg reads ``$U2NET_HOME/u2netp.onnx``; the file is checked
against the official checksum first, so rembg's own downloader (pooch) finds it valid and never
goes to the network.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
# this checkout's package, before any installed one (an editable install of another checkout
# would otherwise be measured instead, silently); also lets a checkout run without installing
sys.path.insert(0, str(REPO))

from cutout_studio.core.models.weights import md5_of  # noqa: E402 - after the path is set

RESULTS = REPO / "bench" / "results"
DEFAULT_DATA = Path(os.environ.get("CUTOUT_BENCH_DATA", REPO.parent / "shared" / "data"))
PYTHON = sys.executable

#: md5 of the official u2netp.onnx, as rembg's downloader checks it (and our model card).
U2NETP_ONNX_MD5 = "8e83ca70e441ab06c318d82300c84806"


# --------------------------------------------------------------------------------------------
# the machine


def machine_info() -> dict:
    """CPU, cores, memory, OS and the versions that matter, for the results and the docs."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.release()})"
    except OSError:
        pass
    versions = {}
    for dist in (
        "torch",
        "onnxruntime",
        "rembg",
        "numpy",
        "opencv-python-headless",
        "pillow",
        "cutout-studio",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        import torch

        torch_threads = torch.get_num_threads()
    except ImportError:
        torch_threads = None
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "ram_gb": mem_gb,
        "os": os_name,
        "python": platform.python_version(),
        "versions": versions,
        "torch_threads": torch_threads,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


# --------------------------------------------------------------------------------------------
# photos


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def source_photo(data: Path, name: str) -> Path:
    """``SET/NAME`` of the shared data -> the photo's path."""
    set_name, stem = name.split("/", 1)
    path = data / set_name / "images" / f"{stem}.jpg"
    if not path.is_file():
        raise SystemExit(f"no photo {name} under {data} (expected {path})")
    return path


#: Grey film grain (σ, 8-bit levels) added to upscaled photos. A bare bicubic upscale is so
#: smooth that its JPEG is ~3× smaller than a camera's and its PNG cutout compresses far better
#: than a real one, which would flatter every decode and encode time; grain restores the entropy.
DEFAULT_GRAIN = 3.0


def upscaled_jpeg(
    source: Path,
    dest: Path,
    *,
    megapixels: float | None = None,
    factor: float | None = None,
    quality: int = 92,
    grain: float = DEFAULT_GRAIN,
) -> Path:
    """Write ``source`` upscaled (bicubic) to about ``megapixels`` or by ``factor``, as JPEG at ``quality``.

    A real photo made camera-sized: its edges and colours are a photo's, ``grain`` adds the
    sensor noise a camera photo has, and the JPEG is what a camera would hand to the tool.
    """
    rgb = read_rgb(source)
    h, w = rgb.shape[:2]
    scale = factor if factor is not None else (megapixels * 1e6 / (h * w)) ** 0.5
    size = (round(w * scale), round(h * scale))
    big = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
    if grain > 0:
        rng = np.random.default_rng(0)
        rows = max(1, 4_000_000 // size[0])  # in strips: a 100 MP photo needs no full-size float noise
        for top in range(0, size[1], rows):
            strip = big[top : top + rows]
            noise = rng.normal(0.0, grain, strip.shape[:2] + (1,)).astype(np.float32)
            strip[...] = np.clip(strip + noise, 0, 255)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(dest), cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise SystemExit(f"cannot write {dest}")
    return dest


def spread(items: Sequence, count: int) -> list:
    """``count`` items evenly spaced over ``items`` (deterministic)."""
    if count >= len(items):
        return list(items)
    return [items[i * len(items) // count] for i in range(count)]


# --------------------------------------------------------------------------------------------
# rembg


def prepare_rembg(onnx: Path | None, scratch: Path) -> Path:
    """Point rembg at the official u2netp.onnx (``U2NET_HOME``) and return that folder.

    ``onnx`` (if given) is copied into ``scratch/u2net``; otherwise ``$U2NET_HOME`` must already
    hold the file. Refuses a file whose md5 is not the official one, because rembg would then
    try to download the model in the middle of a measurement.
    """
    if onnx is not None:
        if not onnx.is_file():
            raise SystemExit(f"--rembg-onnx: {onnx} not found")
        home = scratch / "u2net"
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "u2netp.onnx").is_file() or md5_of(home / "u2netp.onnx") != U2NETP_ONNX_MD5:
            shutil.copyfile(onnx, home / "u2netp.onnx")
    else:
        env_home = os.environ.get("U2NET_HOME")
        if not env_home:
            raise SystemExit(
                "rembg needs u2netp.onnx: pass --rembg-onnx FILE or set U2NET_HOME to its folder"
            )
        home = Path(env_home).expanduser()
    model = home / "u2netp.onnx"
    if not model.is_file():
        raise SystemExit(f"rembg needs {model} (pass --rembg-onnx FILE)")
    if md5_of(model) != U2NETP_ONNX_MD5:
        raise SystemExit(f"{model} is not the official u2netp.onnx (md5 differs); rembg would re-download it")
    os.environ["U2NET_HOME"] = str(home)
    os.environ.pop("MODEL_CHECKSUM_DISABLED", None)
    return home


def add_rembg_argument(parser) -> None:
    parser.add_argument(
        "--rembg-onnx",
        type=Path,
        default=_default_onnx(),
        help="the official u2netp.onnx for rembg (default: $U2NET_HOME/u2netp.onnx)",
    )
    parser.add_argument("--no-rembg", action="store_true", help="measure Cutout Studio only")


def _default_onnx() -> Path | None:
    home = os.environ.get("U2NET_HOME")
    candidate = Path(home).expanduser() / "u2netp.onnx" if home else None
    return candidate if candidate and candidate.is_file() else None


REMBG_CLI = [PYTHON, str(REPO / "bench" / "rembg_cli.py")]


# --------------------------------------------------------------------------------------------
# timing and results


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def stats(seconds: Sequence[float]) -> dict:
    return {
        "median_s": round(statistics.median(seconds), 3),
        "min_s": round(min(seconds), 3),
        "max_s": round(max(seconds), 3),
        "runs": len(seconds),
    }


def run_command(cmd: Sequence[str], *, env: dict | None = None, quiet: bool = True) -> float:
    """Run a command to the end; returns its wall time. Fails loudly with its output on error."""
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), env=env, capture_output=quiet, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        output = (proc.stdout or "")[-2000:] + (proc.stderr or "")[-2000:]
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{output}")
    return elapsed


def write_results(name: str, payload: dict, path: Path | None = None) -> Path:
    target = path or RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return target


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in header]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    # text columns (the first row's value is a str) read left-aligned, numbers right-aligned
    left = [not rows or isinstance(rows[0][i], str) for i in range(len(header))]
    for index, row in enumerate(cells):
        print(
            "  ".join(
                c.ljust(widths[i]) if left[i] else c.rjust(widths[i]) for i, c in enumerate(row)
            ).rstrip()
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1 else (f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}")
    return str(value)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("MET" if ok else "MISSED")
