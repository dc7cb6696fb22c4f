"""The automatic mask: the model sees a small copy, the mask comes back at full resolution.

The model runs at its input size (320 px for U²-Netp); its mask is then snapped to the real
edges of the full-resolution photo with a fast guided filter, so that a 24 MP photo does not
get a blurry, upscaled 320-px edge.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from typing import Protocol, cast

import numpy as np
import torch
from torch import nn

from cutout_studio.core.clean_plate import apply_clean_plate
from cutout_studio.core.guided import guided_upsample
from cutout_studio.core.models.cards import ModelCard, get_card
from cutout_studio.core.models.device import cpu_has_native_bf16, device_label, float32_forced, resolve_device
from cutout_studio.core.models.weights import load_model

# One loaded model per (name, device, precision), shared by every Segmenter in the process:
# the GUI, the batch and the API all reuse it instead of loading the weights again.
_MODELS: dict[tuple[str, str, str, bool], nn.Module] = {}
_MODELS_LOCK = threading.Lock()
_log = logging.getLogger(__name__)


class _MaskNet(Protocol):
    """What every architecture in models/ offers besides ``forward``: the final mask alone."""

    def mask(self, x: torch.Tensor) -> torch.Tensor: ...

#: Alpha range stretched to 0–1 after guided upsampling (see Segmenter.snap).
EDGE_CONTRAST = (0.2, 0.8)
#: Long side (px) at which the snapping coefficients are computed (the model's mask is 320).
#: 768 and 640 gave the same IoU and MAE as 1024, to 1e-4, on 40–60 photos of each data set
#: upscaled ×3, at about half the snapping time; the edges themselves are still evaluated on
#: the full-resolution photo.
SNAP_WORK_SIDE = 640


def preprocess(rgb: np.ndarray, card: ModelCard) -> np.ndarray:
    """uint8 H×W×3 photo → float32 3×S×S input of ``card``'s model (its ``io.preprocess``;
    kept here for the benchmarks and scripts that call it by this name)."""
    return card.io.preprocess(rgb)


class Segmenter:
    """Predicts the foreground alpha of photos with one model on one device."""

    def __init__(
        self, model: str | ModelCard = "default", device: str = "auto", *, half: bool | None = None
    ) -> None:
        """``half``: None picks reduced precision where the hardware runs it natively (float16
        on CUDA, bfloat16 on CPUs with AVX512-BF16 or AMX) unless ``CUTOUT_STUDIO_PRECISION=
        float32`` is set; False always computes in float32."""
        # a card itself for weights outside the models folder (models.card_for_file)
        self.card = model if isinstance(model, ModelCard) else get_card(model)
        self.device = resolve_device(device)
        native = self.device.type == "cuda" or (self.device.type == "cpu" and cpu_has_native_bf16())
        if half is None:
            half = not float32_forced()
        self.half = bool(half and native)
        self._model = self._shared_model()
        self._lock = threading.Lock()

    @property
    def device_label(self) -> str:
        return device_label(self.device)

    @property
    def precision(self) -> str:
        """The number format the model computes in: "float32", "float16" or "bfloat16"."""
        if not self.half:
            return "float32"
        return "float16" if self.device.type == "cuda" else "bfloat16"

    @property
    def model_name(self) -> str:
        return self.card.name

    def _shared_model(self) -> nn.Module:
        # CPU bfloat16 is applied per call (autocast): it shares the float32 weights
        # the digest too: a personal model tuned again keeps its name but not its weights
        key = (self.card.name, self.card.sha256 or "", str(self.device), self.half and self.device.type == "cuda")
        with _MODELS_LOCK:
            model = _MODELS.get(key)
            if model is None:
                model = load_model(self.card, self.device)
                if key[3]:
                    model = model.half()
                if self.device.type == "cpu":
                    # oneDNN's convolutions run ~30 % faster on NHWC tensors on the CPU
                    # (torch's stubs leave out Module.to's memory_format keyword)
                    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
                _MODELS[key] = model
            return model

    def predict_lowres(self, rgbs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The model's masks at its input size (S×S float32 in [0, 1]), one per photo."""
        if not rgbs:
            return []
        io = self.card.io
        batch = np.stack([io.preprocess(rgb) for rgb in rgbs])
        tensor = torch.from_numpy(batch).to(self.device)
        cpu = self.device.type == "cpu"
        if self.half and not cpu:
            tensor = tensor.half()
        if cpu:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        # On the CPU, bfloat16 by autocast: convolutions compute in bfloat16 (1.7× faster on
        # one core with AVX512-BF16) while the stored weights stay float32, shared with
        # float32 callers.
        bf16 = torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu and self.half)
        # CPU passes may run side by side (the batch runs one per core); a GPU takes one at a time
        lock = contextlib.nullcontext() if cpu else self._lock
        with lock, torch.inference_mode(), bf16:
            out = cast(_MaskNet, self._model).mask(tensor)[:, 0].float().cpu().numpy()
        return [io.postprocess(pred) for pred in out]

    def predict(self, rgb: np.ndarray, clean_plate: str | os.PathLike[str] | None = None) -> np.ndarray:
        """Full-resolution float32 H×W alpha in [0, 1] for one uint8 H×W×3 photo; with the
        shoot's ``clean_plate`` (a file) fused in as the batch fuses it (a plate that does not
        line up is logged and left out)."""
        mask = self.predict_lowres([rgb])[0]
        if clean_plate is not None:
            mask, note = apply_clean_plate(mask, rgb, clean_plate)
            if note:
                _log.warning("%s", note)
        return self.snap(mask, rgb)

    @staticmethod
    def snap(mask: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        """Snap the model's low-resolution mask to the edges of the full-resolution photo.

        The guided filter's upsampling (:func:`guided_upsample`) moves the edge onto the
        photo's edge but, where the photo has little contrast, leaves a ramp as wide as the
        model's pixels; stretching the middle of the range (0.2–0.8 → 0–1) halves that
        undecided ring and lowers the error against ground truth, while hair-like structures
        the filter found stay partly transparent.
        """
        alpha = guided_upsample(mask, rgb, work_max_side=SNAP_WORK_SIDE)
        lo, hi = EDGE_CONTRAST
        alpha -= lo
        alpha *= 1.0 / (hi - lo)
        np.clip(alpha, 0.0, 1.0, out=alpha)
        return alpha
