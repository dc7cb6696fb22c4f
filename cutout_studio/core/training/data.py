"""Training data: labelled set folders, their train / val parts, and the sample stream.

A *set* is a folder with ``images/NAME.jpg`` and ``masks/NAME.png`` (255 = foreground), the
layout of ``../shared/data`` and of ``cutout-studio eval``. A DATA argument may be one set or
a folder of sets (``../shared/data`` itself, or the downsized copy that
``bench/pack_training_data.py`` writes); a ``backgrounds/`` folder of photos without masks
beside the sets feeds the compositor's blurred scenes.

Sample ``i`` of a run is a pure function of (seed, i): its own random generator picks a real
training pair or a synthetic composite, and the augmentations. That is what makes a resumed
run see exactly the samples the uninterrupted run would have seen, whichever DataLoader
worker builds them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from cutout_studio.core.errors import CutoutError
from cutout_studio.core.evaluate import _spread, find_pairs
from cutout_studio.core.image_io import is_image_path
from cutout_studio.core.training.compose import augment, compose, random_recipe
from cutout_studio.core.training.split import select_split

Pair = tuple[Path, Path]

BACKGROUNDS_FOLDER = "backgrounds"
#: Decoded photos kept per worker process (the sets are small; rereading JPEGs would cost more than the model).
_CACHE_ITEMS = 2048


@dataclass(frozen=True)
class TrainingSet:
    name: str
    root: Path
    train: tuple[Pair, ...]
    val: tuple[Pair, ...]


def find_sets(paths: Sequence[str | Path]) -> tuple[list[Path], Path | None]:
    """Set folders named by DATA arguments (a set, or a folder of sets) and the backgrounds folder found beside them."""
    sets: list[Path] = []
    backgrounds: Path | None = None
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_dir():
            raise CutoutError(f"{raw}: not a folder (give set folders with images/ and masks/, or a folder of them)")
        if (path / "images").is_dir():
            sets.append(path)
            beside = path.parent / BACKGROUNDS_FOLDER
            backgrounds = backgrounds or (beside if beside.is_dir() else None)
            continue
        children = sorted(c for c in path.iterdir() if (c / "images").is_dir() and (c / "masks").is_dir())
        if not children:
            raise CutoutError(f"{raw}: neither a set (images/ + masks/) nor a folder of sets")
        sets.extend(children)
        if (path / BACKGROUNDS_FOLDER).is_dir():
            backgrounds = backgrounds or path / BACKGROUNDS_FOLDER
    return sets, backgrounds


def set_pairs(folder: str | Path, split: str = "all") -> list[Pair]:
    """The (photo, mask) pairs of one split of a set (``train``, ``val`` or ``all``), in name order."""
    return select_split(find_pairs(folder).pairs, split)


def val_pairs(folder: str | Path, limit: int | None = None) -> list[Pair]:
    """The held-out pairs of a set, at most ``limit`` spread evenly over it: never trained on."""
    return _spread(set_pairs(folder, "val"), limit)


def load_training_sets(paths: Sequence[str | Path]) -> list[TrainingSet]:
    sets, _ = find_sets(paths)
    result = []
    for folder in sets:
        pairs = find_pairs(folder).pairs
        result.append(TrainingSet(folder.resolve().name, folder, tuple(select_split(pairs, "train")),
                                  tuple(select_split(pairs, "val"))))
    return result


def list_backgrounds(folder: str | Path | None) -> list[Path]:
    if folder is None:
        return []
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise CutoutError(f"{folder}: the backgrounds folder does not exist")
    return sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".") and is_image_path(p))


# --------------------------------------------------------------------------------------------
# reading


@functools.lru_cache(maxsize=_CACHE_ITEMS)
def read_rgb(path: Path, max_side: int = 0) -> np.ndarray:
    """An upright (EXIF applied) RGB uint8 photo, shrunk so its long side is at most ``max_side`` (0: as is)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise CutoutError(f"{path.name}: cannot be read as an image")
    return _shrink(np.ascontiguousarray(bgr[..., ::-1]), max_side)


@functools.lru_cache(maxsize=_CACHE_ITEMS)
def read_mask(path: Path, max_side: int = 0) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise CutoutError(f"{path.name}: the mask cannot be read as an image")
    return _shrink(mask, max_side)


def read_pair(photo: Path, mask_path: Path, max_side: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rgb, mask = read_rgb(photo, max_side), read_mask(mask_path, max_side)
    if rgb.shape[:2] != mask.shape:
        raise CutoutError(f"{mask_path.name}: the mask is not the size of its photo {photo.name}")
    return rgb, mask


def _shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = max_side / max(height, width) if max_side else 1.0
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


# --------------------------------------------------------------------------------------------
# the sample stream


class TrainingSamples(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Sample ``i``: a photo and its mask, augmented and squashed to S×S as the model sees them.

    With probability ``synthetic_ratio`` it is a composite (an object from a training pair on
    a product backdrop), else a real training pair; both are then augmented. Pairs that cannot
    be read are skipped for another, with the reason printed once.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        *,
        size: int,
        seed: int,
        synthetic_ratio: float = 0.5,
        backgrounds: Sequence[Path] = (),
        length: int = 1 << 62,
    ) -> None:
        if not pairs:
            raise CutoutError("no training pairs (every set's train part is empty)")
        self.pairs = list(pairs)
        self.size = size
        self.seed = seed
        self.synthetic_ratio = synthetic_ratio
        self.backgrounds = list(backgrounds)
        self.length = length
        # the sources are read at a little over the output size: augmentation crops, then shrinks
        self.read_side = round(size * 1.5)
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return self.length

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The augmented RGB uint8 S×S×3 photo and uint8 S×S mask of sample ``index``."""
        rng = np.random.default_rng([self.seed, index])
        for _attempt in range(8):
            choice = int(rng.integers(len(self.pairs)))
            synthetic = rng.random() < self.synthetic_ratio
            try:
                rgb, mask = read_pair(*self.pairs[choice], self.read_side)
                if synthetic and np.count_nonzero(mask > 127) > 16:
                    rgb, mask = self._composite(rgb, mask, rng)
            except (CutoutError, ValueError) as exc:
                if choice not in self._bad:
                    self._bad.add(choice)
                    print(f"skipping {self.pairs[choice][0].name}: {exc}")
                continue
            return augment(rgb, mask, rng, self.size)
        raise CutoutError("eight training pairs in a row could not be read")

    def _composite(self, rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        aspect = float(np.exp(rng.uniform(-0.3, 0.3)))
        side = round(self.size * 1.25)  # room for the augmentation's crop, few pixels to compose
        canvas = (round(side / max(aspect, 1.0)), round(side * min(aspect, 1.0)))
        recipe = random_recipe(rng, canvas, has_scene=bool(self.backgrounds))
        scene = None
        if recipe.backdrop == "scene":
            scene = read_rgb(self.backgrounds[int(rng.integers(len(self.backgrounds)))], side)
        return compose(rgb, mask, recipe, scene)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """S×S×3 and S×S uint8: a quarter of float32's bytes through the workers' shared memory;
        the trainer normalises on the device as :func:`segmenter.preprocess` would."""
        rgb, mask = self.sample(index)
        return torch.from_numpy(rgb), torch.from_numpy(np.ascontiguousarray(mask))


class StepSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of sample indices for steps ``start`` … ``stop - 1``: batch k holds k·B … k·B + B - 1."""

    def __init__(self, start: int, stop: int, batch_size: int) -> None:
        self.start, self.stop, self.batch_size = start, stop, batch_size

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.stop):
            yield list(range(step * self.batch_size, (step + 1) * self.batch_size))


def load_val_batch(pairs: Sequence[Pair], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Val photos and masks squashed to S×S as the model sees them: N×S×S×3 and N×1×S×S uint8."""
    images, masks = [], []
    for photo, mask_path in pairs:
        rgb, mask = read_pair(photo, mask_path)
        interp = cv2.INTER_AREA if max(mask.shape) > size else cv2.INTER_LINEAR  # as segmenter.preprocess
        images.append(cv2.resize(rgb, (size, size), interpolation=interp))
        masks.append(cv2.resize(mask, (size, size), interpolation=interp))
    return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(masks))[:, None]
