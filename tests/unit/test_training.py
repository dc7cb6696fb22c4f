"""`cutout-studio train`: losses, schedule, preprocessing parity, a 3-step run, exact resume, time limit."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cutout_studio.cli import main
from cutout_studio.core.errors import CutoutError
from cutout_studio.core.models import get_card, installed
from cutout_studio.core.models.unet import UNet
from cutout_studio.core.segmenter import preprocess
from cutout_studio.core.training.losses import deep_supervision_loss, mask_loss, model_logits
from cutout_studio.core.training.split import split_of
from cutout_studio.core.training.trainer import (
    TrainConfig,
    config_from_checkpoint,
    learning_rate,
    normalise_batch,
    train,
)
from tests.unit.test_training_data import make_set

DATA = Path(__file__).resolve().parents[1] / "data"
TINY = {"size": 64, "batch_size": 2, "workers": 0, "val_limit": 2}


@pytest.fixture
def sets(tmp_path) -> Path:
    root = tmp_path / "data"
    make_set(root / "objects", train=3, val=1)
    make_set(root / "people", train=2, val=1)
    return root


def test_device_normalisation_matches_the_inference_preprocessing():
    rgb = cv2.imread(str(DATA / "people-ccp__ccp0001.jpg"))[..., ::-1]
    small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
    for name in ("u2netp", "unet"):
        card = get_card(name)
        from dataclasses import replace

        expected = preprocess(small, replace(card, io=type(card.io)(input_size=64)))
        got = normalise_batch(torch.from_numpy(np.ascontiguousarray(small))[None], card)[0].numpy()
        assert np.abs(got - expected).max() < 1e-5, name


def test_learning_rate_warms_up_then_decays_to_one_percent():
    lrs = [learning_rate(s, 1e-3, 10, 100) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[100] == pytest.approx(1e-5) and lrs[55] == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5))


def test_losses_prefer_the_right_mask_and_supervise_every_side_output():
    target = torch.zeros(2, 1, 32, 32)
    target[:, :, 8:24, 8:24] = 1.0
    right = (target * 2 - 1) * 8.0
    assert mask_loss(right, target) < 0.01 < 1.0 < mask_loss(-right, target)
    total, fused = deep_supervision_loss((right, -right, right), target)
    assert float(total) == pytest.approx(float(sum(mask_loss(o, target) for o in (right, -right, right))), rel=1e-5)
    assert float(fused) == pytest.approx(float(mask_loss(right, target)))
    # half-resolution side outputs are compared at the target's size
    assert mask_loss(right[:, :, ::2, ::2], target) < 0.1


def test_unet_logits_are_what_its_sigmoid_sees():
    torch.manual_seed(0)
    model = UNet(widths=(8, 16)).eval()
    x = torch.randn(1, 3, 32, 32)
    (logits,) = model_logits(model, x)
    assert torch.allclose(torch.sigmoid(logits), model(x)[0], atol=1e-6)


def test_loader_workers_start_from_a_fresh_process_not_a_fork(sets):
    """In CI the 3-step train below hung for ever: its loader worker was a fork of the test
    process, whose other threads (OpenCV's pool, Qt, torch) held locks, and the child blocked in
    its first OpenCV call. Workers now come from a forkserver (spawn where there is none)."""
    from cutout_studio.core.training.data import TrainingSamples, load_training_sets
    from cutout_studio.core.training.trainer import _loader

    pairs = [pair for part in load_training_sets([sets]) for pair in part.train]
    config = TrainConfig(data=[str(sets)], **{**TINY, "workers": 1})
    loader, workers = _loader(TrainingSamples(pairs, size=64, seed=0), 0, 2, config, torch.device("cpu"))
    assert workers == 1
    assert loader.multiprocessing_context.get_start_method() in ("forkserver", "spawn")
    photos, masks = next(iter(loader))  # and a worker started that way really delivers a batch
    assert photos.shape[0] == masks.shape[0] == 2


def test_three_step_train_writes_weights_the_product_loads(sets, tmp_path, model_home, capsys):
    out = tmp_path / "out" / "cutout-product.safetensors"
    code = main(["train", str(sets), "--steps", "3", "--size", "64", "--batch-size", "2", "--workers", "1",
                 "--val-every", "2", "--val-limit", "2", "--output", str(out), "--device", "cpu"])
    assert code == 0
    assert "step 3:" in capsys.readouterr().out
    weights = load_file(str(out))
    reference = load_file(str(installed(get_card("u2netp")).path))
    assert set(weights) == set(reference)
    assert all(weights[k].shape == reference[k].shape and weights[k].dtype == torch.float32 for k in weights)
    get_card("u2netp").build().load_state_dict(weights, strict=True)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["step"] == 3 and record["config"]["steps"] == 3 and record["precision"] == "float32"
    assert record["base"]["sha256"] == installed(get_card("u2netp")).sha256
    for name, files in record["data"].items():
        assert len(files["train"]) >= 2 and not set(files["train"]) & set(files["val"])
        assert all(split_of(f) == "train" for f in files["train"])
        assert set(record["val_files"][name]) <= set(files["val"])
    assert [h["step"] for h in record["history"]] == [0, 2, 3]
    assert record["best"]["step"] in (0, 2, 3) and record["sha256"]
    # the weights written are the best val step's
    assert record["best"]["score"] == max(h["score"] for h in record["history"])
    assert (out.with_suffix(".ckpt") / "state.json").is_file()


def test_resume_is_exact(sets, tmp_path):
    """2 steps in one go == 1 step, stop, resume, 1 more: the same weights and val scores to the bit."""
    straight = tmp_path / "straight" / "m.safetensors"
    train(TrainConfig(data=[str(sets)], base="none", steps=2, val_every=1, output=str(straight), **TINY),
          progress=False)
    pieces = tmp_path / "pieces" / "m.safetensors"
    first = train(TrainConfig(data=[str(sets)], base="none", steps=2, val_every=1, stop_at=1, output=str(pieces),
                              **TINY), progress=False)
    assert first["step"] == 1
    resumed = config_from_checkpoint(pieces.with_suffix(".ckpt"))
    assert resumed.stop_at is None and resumed.steps == 2
    second = train(resumed, resume=pieces, progress=False)
    assert second["step"] == 2 and second["images_seen"] == 4
    a = load_file(str(straight.with_suffix(".ckpt") / "weights.safetensors"))
    b = load_file(str(pieces.with_suffix(".ckpt") / "weights.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads(straight.with_suffix(".json").read_text())["history"] == second["history"]
    # a resumed run may not change what decides the samples
    changed = TrainConfig(**{**json.loads((pieces.with_suffix(".ckpt") / "state.json").read_text())["config"],
                             "size": 96})
    with pytest.raises(CutoutError, match="size"):
        train(changed, resume=pieces, progress=False)


def test_time_limit_ends_cleanly_with_a_checkpoint(sets, tmp_path):
    out = tmp_path / "timed" / "m.safetensors"
    result = train(TrainConfig(data=[str(sets)], base="none", steps=10_000, val_every=50, time_limit=0.2,
                               output=str(out), **TINY), progress=False)
    # stopped by the clock, not the step count (on a busy CI machine the first val pass may use
    # the whole 12 s, so no step count is promised); the final val pass and checkpoint may run
    # past the limit by no more than one of each
    assert result["step"] < 10_000
    assert result["elapsed_seconds"] < 0.2 * 60 + 30
    assert out.is_file() and (out.with_suffix(".ckpt") / "optimizer.pt").is_file()
    assert result["history"][-1]["step"] == result["step"]  # scored at the end
