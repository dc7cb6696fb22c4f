"""``cutout-studio --selftest``: prove an installation (or a packaged app) works end to end.

Cuts the bundled sample photo with the default model, headless, and checks that the written
PNG has a real alpha channel with both subject and background in it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from cutout_studio.core.errors import CutoutError
from cutout_studio.core.paths import resources_dir


def run_selftest() -> int:
    def say(message: str) -> None:
        print(f"selftest: {message}", flush=True)

    try:
        from cutout_studio.core.export import ExportOptions, export_cutout
        from cutout_studio.core.image_io import load_image
        from cutout_studio.core.segmenter import Segmenter

        photo = resources_dir() / "samples" / "sample.jpg"
        started = time.perf_counter()
        image = load_image(photo)
        say(f"loaded {photo.name} ({image.width}×{image.height})")
        segmenter = Segmenter()
        say(f"model {segmenter.model_name} on {segmenter.device_label} ({segmenter.precision})")
        alpha = segmenter.predict(image.rgb)
        with tempfile.TemporaryDirectory(prefix="cutout-selftest-") as tmp:
            out = export_cutout(image, alpha, Path(tmp) / "sample.png", ExportOptions())
            with Image.open(out) as written:
                mode, size = written.mode, written.size
                channel = np.asarray(written.getchannel("A")) if "A" in written.getbands() else None
    except CutoutError as exc:
        say(f"FAILED: {exc}")
        return 1
    if channel is None or mode != "RGBA" or size != (image.width, image.height):
        say(f"FAILED: expected an RGBA PNG of {image.width}×{image.height}, got {mode} {size}")
        return 1
    opaque = float((channel > 127).mean())
    if not 0.02 < opaque < 0.98:
        say(f"FAILED: the mask covers {opaque:.0%} of the photo; expected a subject and a background")
        return 1
    say(f"OK: RGBA cutout written, subject covers {opaque:.0%}, {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_selftest())
