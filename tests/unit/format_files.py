"""Photos for the output format tests (``test_formats_*.py``, ``test_clip_path.py``): real photos
from ``tests/data`` saved with an ICC profile and a resolution, with their masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms

from cutout_studio.core.image_io import LoadedImage, load_image

DATA = Path(__file__).resolve().parents[1] / "data"
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
#: a person whose mask has holes (between the arms and the body)
WITH_HOLES = "people-ccp__ccp0001"


def photo_with_metadata(folder: Path, name: str = WITH_HOLES, *, soft: bool = True) -> tuple[LoadedImage, np.ndarray]:
    """``name``'s photo saved with the sRGB profile and 300 × 150 dpi, loaded back, and its mask as
    float alpha (softened at the edge like a model's when ``soft``)."""
    with Image.open(DATA / f"{name}.jpg") as photo:
        photo.save(folder / f"{name}.jpg", quality=95, icc_profile=SRGB, dpi=(300, 150))
    image = load_image(folder / f"{name}.jpg")
    alpha = cv2.imread(str(DATA / f"{name}.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    if soft:
        alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)
    assert alpha.shape == image.rgb.shape[:2]
    return image, alpha


def alpha8(alpha: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(alpha, 0, 1) * 255).astype(np.uint8)


def write_png16(path: Path, rgb16: np.ndarray) -> None:
    """A 16-bit RGB PNG (cv2 writes 16-bit PNGs; Pillow does not)."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(encoded.tobytes())


def read_rgba16(path: Path, alpha: np.ndarray, rgb16: np.ndarray) -> np.ndarray:
    """``path`` read as 16-bit RGBA, checked: alpha is ``alpha`` at full 16-bit precision and the
    opaque pixels keep the source's 16-bit colours exactly. Returns the RGBA pixels."""
    written = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == alpha.shape + (4,)
    rgba = cv2.cvtColor(written, cv2.COLOR_BGRA2RGBA)
    np.testing.assert_array_equal(rgba[..., 3], np.rint(alpha * 65535).astype(np.uint16))
    opaque = rgba[..., 3] == 65535
    np.testing.assert_array_equal(rgba[..., :3][opaque], rgb16[opaque])
    return rgba
