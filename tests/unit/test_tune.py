"""Personal tuning (core/training/tune.py, `cutout-studio tune`): a short fine-tune registered as
a user model card that the segmenter, `cut --model` and `models list` use; cancel and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cutout_studio.cli import main
from cutout_studio.core.errors import CancelledError, ModelError
from cutout_studio.core.mask_cache import MaskCache
from cutout_studio.core.models import card_for_file, delete_user_model, get_card, installed
from cutout_studio.core.segmenter import Segmenter
from cutout_studio.core.training.data import read_rgb
from cutout_studio.core.training.tune import tune

DATA = Path(__file__).resolve().parents[1] / "data"
#: the few steps CI can afford on 2 cores, at a small training size
QUICK = {"steps": 3, "size": 64, "batch_size": 2, "device": "cpu"}



@pytest.fixture
def four_pairs(tmp_path: Path) -> Path:
    """Four real photo/mask pairs of tests/data as a set folder."""
    root = tmp_path / "mine"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for mask in sorted(DATA.glob("*.png"))[:4]:
        shutil.copyfile(mask.with_suffix(".jpg"), root / "images" / f"{mask.stem}.jpg")
        shutil.copyfile(mask, root / "masks" / mask.name)
    return root


def test_tune_registers_a_card_that_the_segmenter_and_cut_use(own_models_home, four_pairs, tmp_path, capsys):
    result = tune(four_pairs, name="mine", **QUICK)
    models = own_models_home / "models"
    assert sorted(p.name for p in models.iterdir()) == ["mine.json", "mine.safetensors", "u2netp.json",
                                                        "u2netp.safetensors"]  # no scratch folder left
    card = get_card("mine")
    assert card.user and card.architecture == "U²-Netp" and installed(card).sha256 == result.model.sha256
    record = json.loads((models / "mine.json").read_text())
    assert record["provenance"]["base_model"] == "u2netp" and record["provenance"]["corrections"] == 4
    assert record["provenance"]["steps"] == 3 and record["provenance"]["date"][:2] == "20"
    assert record["provenance"]["base_sha256"] == installed(get_card("u2netp")).sha256
    # a weights file named on the command line is run by a built-in card, never taken for a personal one
    assert not card_for_file(models / "mine.safetensors").user

    photo = read_rgb(DATA / "people-ccp__ccp0041.jpg")
    base = Segmenter("u2netp", device="cpu", half=False).predict(photo)
    mine = Segmenter("mine", device="cpu", half=False).predict(photo)
    assert mine.shape == base.shape and np.abs(mine - base).mean() > 1e-4

    assert main(["models", "list"]) == 0
    listed = capsys.readouterr().out
    assert "mine" in listed and "(personal)" in listed and "tuned on 4 correction(s)" in listed
    out = tmp_path / "cut"
    assert main(["cut", str(DATA / "people-ccp__ccp0041.jpg"), "-o", str(out), "--model", "mine",
                 "--device", "cpu"]) == 0
    assert len(list(out.glob("*.png"))) == 1


def test_tuning_again_replaces_the_weights_the_segmenter_serves(own_models_home, four_pairs):
    photo = read_rgb(DATA / "people-ccp__ccp0041.jpg")
    tune(four_pairs, name="mine", **{**QUICK, "steps": 1})
    first = Segmenter("mine", device="cpu", half=False).predict(photo)
    cache = MaskCache()
    for model in ("mine", "u2netp"):
        cache.save("ab12" * 16, model, first)
    tune(four_pairs, name="mine", **QUICK)
    # the editor's cached automatic masks of the old weights are gone, the other models' stay
    assert not cache.path_for("ab12" * 16, "mine").exists() and cache.path_for("ab12" * 16, "u2netp").exists()
    second = Segmenter("mine", device="cpu", half=False).predict(photo)
    assert np.abs(first - second).mean() > 1e-5  # not the model loaded before, under the same name


def test_cancel_leaves_nothing_registered(own_models_home, four_pairs):
    steps: list[int] = []
    with pytest.raises(CancelledError):
        tune(four_pairs, name="mine", cancelled=lambda: len(steps) >= 1, on_step=lambda s, n: steps.append(s),
             **QUICK)
    assert steps == [1]
    assert sorted(p.name for p in (own_models_home / "models").iterdir()) == ["u2netp.json", "u2netp.safetensors"]

    def ctrl_c(step: int, stop: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # Ctrl-C in `cutout-studio tune`
        tune(four_pairs, name="mine", on_step=ctrl_c, **QUICK)
    assert sorted(p.name for p in (own_models_home / "models").iterdir()) == ["u2netp.json", "u2netp.safetensors"]
    with pytest.raises(ModelError, match="unknown model 'mine'"):
        get_card("mine")


def test_bad_input_gives_a_one_line_reason(own_models_home, tmp_path, four_pairs, capsys):
    assert main(["tune", "--from", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err.strip()
    assert "not a folder" in err and len(err.splitlines()) == 1
    (tmp_path / "empty" / "images").mkdir(parents=True)
    assert main(["tune", "--from", str(tmp_path / "empty")]) == 1
    assert "no masks/" in capsys.readouterr().err
    assert main(["tune"]) == 1  # no corrections kept yet
    assert "no corrections kept yet" in capsys.readouterr().err
    assert main(["tune", "--from", str(four_pairs), "--name", "u2netp"]) == 2
    assert "built-in model's name" in capsys.readouterr().err
    assert main(["tune", "--from", str(four_pairs), "--name", "My Model"]) == 2
    assert main(["models", "delete", "u2netp"]) == 2
    assert "only personal models can be deleted" in capsys.readouterr().err
    assert sorted(p.name for p in (own_models_home / "models").iterdir()) == ["u2netp.json", "u2netp.safetensors"]


def test_the_command_tunes_and_a_personal_model_is_deleted_with_its_weights(own_models_home, four_pairs, capsys):
    assert main(["tune", "--from", str(four_pairs), "--name", "mine", "--steps", "1", "--size", "64",
                 "--batch-size", "2", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "registered model 'mine' (u2netp tuned on 4 pair(s), 1 steps" in captured.out
    assert "training" in captured.err  # the progress bar (tqdm: steps, time left)
    assert main(["models", "delete", "mine"]) == 0
    assert "deleted mine" in capsys.readouterr().out
    assert not (own_models_home / "models" / "mine.safetensors").exists()
    with pytest.raises(ModelError):
        delete_user_model("mine")
