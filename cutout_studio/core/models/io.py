"""What a model takes and gives back: input checks, pre-processing and output normalisation.

One small class per architecture (as rembg keeps one session class per model), so that adding
a model means adding its network, its ``ModelIO`` subclass and its card: the segmenter only
runs ``preprocess`` → network → ``postprocess`` and never asks which model it has.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

FloatArray = npt.NDArray[np.float32]


def check_rgb(rgb: object) -> npt.NDArray[np.uint8]:
    """``rgb`` if it is an H×W×3 uint8 photo of at least 2×2 pixels; ValueError otherwise."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f"{getattr(rgb, 'dtype', type(rgb).__name__)} {getattr(rgb, 'shape', '')}"
        raise ValueError(f"expected an H×W×3 uint8 RGB array, got {got}")
    if rgb.shape[0] < 2 or rgb.shape[1] < 2:
        raise ValueError(f"image too small: {rgb.shape[1]}×{rgb.shape[0]}")
    return rgb


class ModelIO:
    """A model trained on ``input_size``² photos scaled to [0, 1] and normalised by ``mean``/``std``,
    whose output is a probability (sigmoid) mask."""

    #: photos are scaled to [0, 1] by their own maximum instead of by 255 (the trainer normalises
    #: its batches on the device and reads this)
    scale_by_max = False

    def __init__(
        self,
        input_size: int = 320,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        self.input_size = input_size
        self.mean = mean
        self.std = std

    def __repr__(self) -> str:
        return f"{type(self).__name__}(input_size={self.input_size}, mean={self.mean}, std={self.std})"

    def preprocess(self, rgb: np.ndarray) -> FloatArray:
        """uint8 H×W×3 photo → float32 3×S×S model input, normalised as the model was trained."""
        check_rgb(rgb)
        size = self.input_size
        h, w = rgb.shape[:2]
        interp = cv2.INTER_AREA if (h > size or w > size) else cv2.INTER_LINEAR
        small = cv2.resize(rgb, (size, size), interpolation=interp).astype(np.float32)
        self._to_unit_range(small)
        small -= np.asarray(self.mean, np.float32)
        small /= np.asarray(self.std, np.float32)
        return np.ascontiguousarray(small.transpose(2, 0, 1))

    def _to_unit_range(self, small: FloatArray) -> None:
        """Scale the resized photo's 0–255 values to [0, 1], in place."""
        small /= 255.0

    def postprocess(self, raw: np.ndarray) -> FloatArray:
        """The network's S×S output → float32 mask in [0, 1]."""
        return np.clip(raw, 0.0, 1.0).astype(np.float32)
