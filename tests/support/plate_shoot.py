"""A test shoot for the clean plate, built from real cutouts: an empty white seamless (the plate)
and products composited on it the way a set-up drifts between shots.

Each shot moves the camera by up to ±6 px, changes the exposure by up to ±10 % and has its own
sensor noise; some products are near-white (brightened towards the backdrop: white-on-white) and
some glass-like (blended 40 % with the backdrop behind them). The ground truth is the product's
mask, moved with the camera. Used by tests/unit/test_clean_plate.py and bench/bench_clean_plate.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

#: the plate's size (W, H): a landscape frame of a small camera
PLATE_SIZE = (960, 720)


@dataclass
class Shot:
    rgb: np.ndarray  #: H×W×3 uint8
    truth: np.ndarray  #: H×W float32 alpha in [0, 1]
    kind: str  #: "plain", "near-white" or "glass"
    name: str


def white_seamless(seed: int = 0, size: tuple[int, int] = PLATE_SIZE) -> np.ndarray:
    """An empty white seamless: light falling off downwards and to the sides, a warm tint, and
    the paper's faint low-frequency mottling (what lets the shots be aligned to it)."""
    width, height = size
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None]
    x = np.linspace(-1, 1, width)[None, :]
    light = 246 - 28 * y**1.5 - 10 * x**2
    mottle = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 12)
    light = light + mottle / mottle.std() * 2.5
    tint = np.array([1.0, 0.99, 0.965])
    plate = np.clip(light[..., None] * tint, 0, 255)
    # what stays in every shot of the set-up: a colour checker card in a corner and the dark
    # clamp holding the paper at the top edge (the model may take either for the product)
    card_h, card_w = height // 7, width // 7
    top, left = height - card_h - height // 20, width - card_w - width // 30
    plate[top:top + card_h, left:left + card_w] = 40
    colours = rng.integers(30, 230, (4, 6, 3))
    cell_h, cell_w = card_h // 4, card_w // 6
    for r in range(4):
        for c in range(6):
            y0, x0 = top + r * cell_h + 2, left + c * cell_w + 2
            plate[y0:y0 + cell_h - 4, x0:x0 + cell_w - 4] = colours[r, c]
    plate[: height // 12, width // 12: width // 12 + width // 20] = 55
    return plate.astype(np.uint8)


def shift_frame(rgb: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The frame as a camera moved by (dx, dy) px sees it (the border repeats the edge)."""
    height, width = rgb.shape[:2]
    matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _product(photo: Path, mask: Path, height: int) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    alpha = np.asarray(Image.open(mask).convert("L")).astype(np.float32) / 255
    if alpha.shape != rgb.shape[:2]:
        alpha = cv2.resize(alpha, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(alpha > 0.5)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    rgb, alpha = rgb[box], alpha[box]
    scale = height / rgb.shape[0]
    size = (max(8, round(rgb.shape[1] * scale)), height)
    return (cv2.resize(rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32),
            cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR))


def make_shot(plate: np.ndarray, photo: Path, mask: Path, kind: str, seed: int) -> Shot:
    """One photo of the shoot: the product on the plate, then the camera's and the flash's drift."""
    rng = np.random.default_rng(seed)
    height, width = plate.shape[:2]
    product, alpha = _product(photo, mask, int(height * rng.uniform(0.5, 0.7)))
    if product.shape[1] > width * 0.8:
        keep = int(width * 0.8)
        product, alpha = product[:, :keep], alpha[:, :keep]
    ph, pw = alpha.shape
    top = (height - ph) // 2 + int(rng.integers(-height // 12, height // 12))
    left = (width - pw) // 2 + int(rng.integers(-width // 10, width // 10))
    top, left = int(np.clip(top, 0, height - ph)), int(np.clip(left, 0, width - pw))
    where = (slice(top, top + ph), slice(left, left + pw))
    behind = plate[where].astype(np.float32)
    if kind == "near-white":  # a white product on a white backdrop: most of the way to the paper
        product = 0.05 * product + 0.95 * behind + 5
    elif kind == "glass":  # see-through: 40 % of what is behind it shows through
        product = 0.6 * product + 0.4 * behind
    frame = plate.astype(np.float32)
    truth = np.zeros((height, width), np.float32)
    frame[where] = alpha[..., None] * product + (1 - alpha[..., None]) * behind
    truth[where] = alpha
    dx, dy = rng.uniform(-6, 6, 2)
    frame = shift_frame(frame, dx, dy)
    truth = shift_frame(truth, dx, dy)
    frame *= rng.uniform(0.9, 1.1) * rng.uniform(0.98, 1.02, 3)  # exposure, and a little white balance
    frame += rng.normal(0, 2.0, frame.shape)
    return Shot(np.clip(frame, 0, 255).astype(np.uint8), truth, kind, f"{photo.stem}-{kind}")


def build_shoot(pairs: list[tuple[Path, Path]], count: int, seed: int = 0) -> tuple[np.ndarray, list[Shot]]:
    """The plate and ``count`` shots of the products in ``pairs`` (photo, mask), in turn
    plain, near-white and glass-like."""
    plate = white_seamless(seed)
    kinds = ("near-white", "glass", "plain")
    shots = [make_shot(plate, *pairs[i % len(pairs)], kinds[i % 3], seed * 1000 + i) for i in range(count)]
    return plate, shots


def data_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """(photo, mask) pairs of a folder of NAME.jpg + NAME.png, or of images/ + masks/."""
    if (folder / "images").is_dir():
        return [(p, folder / "masks" / f"{p.stem}.png") for p in sorted((folder / "images").glob("*.jpg"))
                if (folder / "masks" / f"{p.stem}.png").exists()]
    return [(p, p.with_suffix(".png")) for p in sorted(folder.glob("*.jpg")) if p.with_suffix(".png").exists()]
