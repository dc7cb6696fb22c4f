"""The automatic mask on real photos: accuracy, full resolution, and the GPU path where there is one."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cutout_studio.core.image_io import load_image
from cutout_studio.core.models.device import cpu_has_native_bf16

DATA = Path(__file__).resolve().parents[1] / "data"
PAIRS = sorted(p for p in DATA.glob("*.png") if p.with_suffix(".jpg").exists())


def _iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    a, t = alpha > 0.5, truth > 127
    return float((a & t).sum() / max((a | t).sum(), 1))


def test_there_are_real_pairs():
    assert len(PAIRS) >= 5


@pytest.mark.parametrize("mask_path", PAIRS, ids=lambda p: p.stem)
def test_predict_reaches_iou_085(segmenter, mask_path):
    rgb = load_image(mask_path.with_suffix(".jpg")).rgb
    truth = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    alpha = segmenter.predict(rgb)
    assert alpha.shape == rgb.shape[:2] and alpha.dtype == np.float32
    assert 0.0 <= float(alpha.min()) and float(alpha.max()) <= 1.0
    assert _iou(alpha, truth) >= 0.85


def test_full_resolution_edges_are_sharper_than_a_plain_upscale(segmenter):
    """At 4× the photo's size the snapped mask's edge follows the photo, not the 320-px grid."""
    rgb = load_image(DATA / "people-ccp__ccp0041.jpg").rgb
    big = cv2.resize(rgb, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    truth = cv2.resize(
        cv2.imread(str(DATA / "people-ccp__ccp0041.png"), 0),
        big.shape[1::-1],
        interpolation=cv2.INTER_NEAREST,
    )
    low = segmenter.predict_lowres([big])[0]
    plain = cv2.resize(low, big.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    snapped = segmenter.predict(big)
    # a blurry edge leaves a wide ring of undecided pixels; the snapped one is much thinner
    undecided = lambda a: float(((a > 0.1) & (a < 0.9)).sum())  # noqa: E731
    assert undecided(snapped) < 0.6 * undecided(plain)
    assert _iou(snapped, truth) >= _iou(plain, truth) - 0.01


def test_predict_rejects_bad_arrays(segmenter):
    with pytest.raises(ValueError, match="uint8"):
        segmenter.predict(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="H×W×3"):
        segmenter.predict(np.zeros((10, 10), np.uint8))


def test_model_is_loaded_once_and_shared(segmenter):
    from cutout_studio.core.segmenter import Segmenter

    again = Segmenter("u2netp", device="cpu")
    assert again._model is segmenter._model
    assert again.device_label == "CPU"


def test_float32_can_be_forced(model_home, monkeypatch):
    from cutout_studio.core.segmenter import Segmenter

    assert Segmenter("u2netp", device="cpu", half=False).precision == "float32"
    monkeypatch.setenv("CUTOUT_STUDIO_PRECISION", "float32")
    assert Segmenter("u2netp", device="cpu").precision == "float32"


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bfloat16")
@pytest.mark.parametrize("mask_path", PAIRS, ids=lambda p: p.stem)
def test_cpu_bfloat16_mask_matches_float32(model_home, mask_path):
    from cutout_studio.core.segmenter import Segmenter

    fast, exact = Segmenter("u2netp", device="cpu"), Segmenter("u2netp", device="cpu", half=False)
    assert fast.precision == "bfloat16" and fast._model is exact._model  # one copy of the weights
    rgb = load_image(mask_path.with_suffix(".jpg")).rgb
    truth = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    a, b = fast.predict(rgb), exact.predict(rgb)
    assert float(np.abs(a - b).mean()) < 0.01
    assert _iou(a, truth) >= _iou(b, truth) - 0.02


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_half_precision_matches_cpu(segmenter):
    from cutout_studio.core.segmenter import Segmenter

    gpu = Segmenter("u2netp", device="cuda")
    assert gpu.half and gpu.device_label.startswith("CUDA")
    rgb = load_image(DATA / "objects-coco__teddy_bear04_000000325527.jpg").rgb
    cpu_mask, gpu_mask = segmenter.predict_lowres([rgb])[0], gpu.predict_lowres([rgb])[0]
    assert float(np.abs(cpu_mask - gpu_mask).mean()) < 0.01
    batch = gpu.predict_lowres([rgb] * 8)
    assert len(batch) == 8 and all(np.allclose(b, batch[0], atol=1e-2) for b in batch)
