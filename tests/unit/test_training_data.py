"""Training data: the fixed train / val split, set discovery, the sample stream, `eval --split`."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cutout_studio.core.errors import CutoutError
from cutout_studio.core.evaluate import evaluate_sets
from cutout_studio.core.training.data import (
    TrainingSamples,
    find_sets,
    load_training_sets,
    read_pair,
    set_pairs,
    val_pairs,
)
from cutout_studio.core.training.split import VAL_PERCENT, select_split, split_of

DATA = Path(__file__).resolve().parents[1] / "data"
SHARED = Path("/work/shared/data")
PAIRS = sorted(p for p in DATA.glob("*.png") if p.with_suffix(".jpg").exists())


def names_in(split: str, count: int, prefix: str = "photo") -> list[str]:
    """``count`` file stems that the split puts in ``split``."""
    found, k = [], 0
    while len(found) < count:
        name = f"{prefix}{k:04d}"
        if split_of(name) == split:
            found.append(name)
        k += 1
    return found


def make_set(root: Path, train: int = 3, val: int = 2, max_side: int = 0) -> Path:
    """A set folder of real tests/data pairs copied under names the split sends to train / val
    (shrunk to ``max_side`` where given, for tests that run a slow method on them)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    names = names_in("train", train, root.name) + names_in("val", val, root.name)
    for k, name in enumerate(names):
        mask = PAIRS[k % len(PAIRS)]
        if max_side:
            photo, truth = read_pair(mask.with_suffix(".jpg"), mask, max_side)
            cv2.imwrite(str(root / "images" / f"{name}.jpg"), photo[..., ::-1])
            cv2.imwrite(str(root / "masks" / f"{name}.png"), truth)
        else:
            shutil.copyfile(mask.with_suffix(".jpg"), root / "images" / f"{name}.jpg")
            shutil.copyfile(mask, root / "masks" / f"{name}.png")
    return root


def test_split_is_per_file_and_stable_when_files_are_added():
    names = [f"img{k:05d}.jpg" for k in range(2000)]
    pairs = [(n, n) for n in names]
    val = select_split(pairs, "val")
    assert abs(len(val) / len(names) - VAL_PERCENT / 100) < 0.025
    more = select_split(pairs + [(f"new{k}.jpg", "") for k in range(500)], "val")
    assert [p for p in more if p[0].startswith("img")] == val  # old photos keep their side
    train = select_split(pairs, "train")
    assert not {p[0] for p in train} & {p[0] for p in val}
    assert len(train) + len(val) == len(names)
    assert split_of("x.jpg") == split_of("x.png") == split_of("x")
    with pytest.raises(ValueError, match="unknown split"):
        select_split(pairs, "test")


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
def test_every_shared_set_has_a_val_part_of_about_an_eighth():
    for name in ("davis", "objects-coco", "people-ccp"):
        images = [p.name for p in (SHARED / name / "images").iterdir()]
        share = sum(split_of(n) == "val" for n in images) / len(images)
        assert 0.07 < share < 0.18, (name, share)


def test_training_sets_keep_val_pairs_out_of_training(tmp_path):
    root = tmp_path / "sets"
    make_set(root / "alpha", train=4, val=2)
    make_set(root / "beta", train=3, val=1)
    (root / "backgrounds").mkdir()
    shutil.copyfile(PAIRS[0].with_suffix(".jpg"), root / "backgrounds" / "scene.jpg")
    folders, backgrounds = find_sets([root])
    assert [f.name for f in folders] == ["alpha", "beta"] and backgrounds == root / "backgrounds"
    sets = load_training_sets([root])
    for s in sets:
        assert not set(s.train) & set(s.val)
        assert sorted(s.train + s.val) == sorted(set_pairs(s.root, "all"))
        assert all(split_of(p.name) == "val" for p, _ in s.val)
    assert [len(s.val) for s in sets] == [2, 1]
    assert val_pairs(root / "alpha") == list(sets[0].val)
    assert len(val_pairs(root / "alpha", limit=1)) == 1
    # a single set named directly finds the backgrounds beside it too
    assert find_sets([root / "beta"]) == ([root / "beta"], root / "backgrounds")


def test_bad_data_folders_get_a_one_line_reason(tmp_path):
    with pytest.raises(CutoutError, match="not a folder"):
        find_sets([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CutoutError, match="neither a set"):
        find_sets([tmp_path / "empty"])


def test_same_seed_same_sample_and_masks_follow_their_photos(tmp_path):
    folder = make_set(tmp_path / "set", train=3, val=0)
    pairs = set_pairs(folder, "train")
    make = lambda seed: TrainingSamples(pairs, size=64, seed=seed, synthetic_ratio=0.5)  # noqa: E731
    a, b = make(7), make(7)
    for index in range(6):
        rgb_a, mask_a = a.sample(index)
        rgb_b, mask_b = b.sample(index)
        assert np.array_equal(rgb_a, rgb_b) and np.array_equal(mask_a, mask_b)
        assert rgb_a.shape == (64, 64, 3) and mask_a.shape == (64, 64)
        assert mask_a.max() > 127  # every sample shows some of its object
    assert not np.array_equal(a.sample(0)[0], make(8).sample(0)[0])
    assert not np.array_equal(a.sample(0)[0], a.sample(1)[0])
    image, target = a[3]  # what the DataLoader gets: uint8 tensors, normalised later on the device
    assert image.dtype == target.dtype == torch.uint8
    assert np.array_equal(image.numpy(), a.sample(3)[0])


def test_eval_split_val_scores_only_the_held_out_pairs(tmp_path):
    folder = make_set(tmp_path / "mixed", train=3, val=2, max_side=96)
    val = evaluate_sets([folder], methods=["grabcut"], split="val")
    assert val["split"] == "val"
    assert val["sets"]["mixed"]["images"] == 2
    scored = {w["image"] for w in val["sets"]["mixed"]["methods"]["grabcut"]["worst"]}
    assert all(split_of(name) == "val" for name in scored)
    everything = evaluate_sets([folder], methods=["grabcut"])  # the default: every pair, as before
    assert everything["split"] == "all" and everything["sets"]["mixed"]["images"] == 5
    with pytest.raises(CutoutError, match="no pair in its val part"):
        evaluate_sets([make_set(tmp_path / "trainonly", train=2, val=0, max_side=96)], methods=["grabcut"], split="val")
