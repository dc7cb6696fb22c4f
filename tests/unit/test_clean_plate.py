"""The clean plate (issue 13, item 2): a shoot's empty backdrop makes white-on-white and
see-through products come out right, in the engine and through ``cut`` / ``batch``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cutout_studio.cli import main
from cutout_studio.core.clean_plate import CleanPlate, CleanPlateError, apply_clean_plate
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.manifest import settings_fingerprint
from cutout_studio.core.options import OptionsError
from cutout_studio.core.recipes import load_recipe, options_from_layers
from tests.support.plate_shoot import build_shoot, data_pairs, shift_frame, white_seamless

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def shoot() -> tuple[np.ndarray, list]:
    return build_shoot(data_pairs(DATA), 6)


def _alpha(segmenter, rgb: np.ndarray, plate_file: Path | None) -> tuple[np.ndarray, str]:
    """The mask as encode_job makes it: the model, the plate's fusion, the snap."""
    from cutout_studio.core.segmenter import Segmenter

    low = segmenter.predict_lowres([rgb])[0]
    fused, note = apply_clean_plate(low, rgb, plate_file)
    return Segmenter.snap(fused, rgb), note


def test_the_plate_at_least_halves_the_shoots_error_and_no_kind_gets_worse(segmenter, shoot, tmp_path):
    """Issue 13, item 2: "the plate should at least halve it" (the bench, 21 shots: see
    docs/benchmarks.md); the white-on-white product the model loses is found, and products the
    model already gets right (plain, glass-like) are not made worse by the plate."""
    plate, shots = shoot
    plate_file = tmp_path / "empty.png"
    Image.fromarray(plate).save(plate_file)
    without, with_plate = [], []
    for shot in shots:
        alone, _ = _alpha(segmenter, shot.rgb, None)
        fused, note = _alpha(segmenter, shot.rgb, plate_file)
        assert note == "", shot.name  # every shot of the set-up lines up with its plate
        without.append(float(np.abs(alone - shot.truth).mean()))
        with_plate.append(float(np.abs(fused - shot.truth).mean()))
    kinds = [s.kind for s in shots]
    assert set(kinds) == {"plain", "near-white", "glass"}
    assert np.mean(with_plate) <= 0.5 * np.mean(without), (without, with_plate)
    assert np.mean(with_plate) <= 0.3 * np.mean(without), (without, with_plate)  # these 6: x0.19 (before: x0.40)
    for kind in set(kinds):
        before = np.mean([e for e, k in zip(without, kinds) if k == kind])
        after = np.mean([e for e, k in zip(with_plate, kinds) if k == kind])
        # "worse" beyond a rounding of the rim: 0.0005 is 0.05 % of the frame's pixels
        assert after <= before * 1.1 + 0.0005, (kind, before, after)
    # the white-on-white shot the model loses is found
    worst = int(np.argmax(without))
    assert kinds[worst] == "near-white" and with_plate[worst] < 0.25 * without[worst]


@pytest.mark.parametrize("other", ["moved", "another backdrop", "another size"])
def test_a_plate_of_another_set_up_is_refused_and_the_model_mask_kept(segmenter, shoot, tmp_path, other):
    plate, shots = shoot
    if other == "moved":  # the camera was moved and turned: far beyond a shift between shots
        height, width = plate.shape[:2]
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), 25, 1.3)
        wrong = cv2.warpAffine(shift_frame(plate, 200, 150), turn, (width, height), borderMode=cv2.BORDER_REFLECT)
    elif other == "another backdrop":
        wrong = cv2.resize(np.asarray(Image.open(DATA / "objects-coco__tv02_000000063740.jpg").convert("RGB")),
                           plate.shape[1::-1])
    else:
        wrong = white_seamless(size=(600, 900))
    plate_file = tmp_path / "other.png"
    Image.fromarray(wrong).save(plate_file)
    shot = shots[0]
    low = segmenter.predict_lowres([shot.rgb])[0]
    fused, note = apply_clean_plate(low, shot.rgb, plate_file)
    assert note.startswith("clean plate not used:") and "\n" not in note
    assert fused is low  # the model's mask, untouched


def test_a_bad_plate_file_is_one_line_and_refused_by_the_options(tmp_path):
    bad = tmp_path / "plate.jpg"
    bad.write_text("not a photo")
    with pytest.raises(CleanPlateError) as exc:
        CleanPlate.load(bad)
    assert str(exc.value).startswith("clean plate ") and "\n" not in str(exc.value)
    with pytest.raises(OptionsError) as opt:
        ExportOptions(clean_plate=bad)
    assert opt.value.field == "clean_plate"
    with pytest.raises(OptionsError):
        ExportOptions(clean_plate=tmp_path / "missing.png")


def test_the_plate_is_part_of_the_settings_fingerprint_and_of_recipes(tmp_path):
    plate = tmp_path / "empty.png"
    Image.fromarray(white_seamless()).save(plate)
    base = settings_fingerprint(ExportOptions())
    with_plate = settings_fingerprint(ExportOptions(clean_plate=plate))
    assert with_plate != base
    Image.fromarray(white_seamless(seed=1)).save(plate)  # re-shot: the outputs are stale
    assert settings_fingerprint(ExportOptions(clean_plate=plate)) != with_plate
    recipe = tmp_path / "shoot.toml"
    recipe.write_text('clean_plate = "empty.png"\n', encoding="utf-8")  # beside the recipe
    assert options_from_layers(load_recipe(recipe)).clean_plate == plate


def test_cut_with_the_clean_plate_flag(model_home, shoot, tmp_path, capsys):
    plate, shots = shoot
    shot = shots[0]  # near-white: the model alone loses most of it
    assert shot.kind == "near-white"
    Image.fromarray(plate).save(tmp_path / "empty.png")
    Image.fromarray(shot.rgb).save(tmp_path / "white.png")
    errors = []
    for name, flags in (("alone", []), ("plate", ["--clean-plate", str(tmp_path / "empty.png")])):
        out = tmp_path / name
        assert main(["cut", str(tmp_path / "white.png"), "-o", str(out), "--output", "mask", *flags]) == 0
        mask = np.asarray(Image.open(out / "white.png"), np.float32) / 255
        errors.append(float(np.abs(mask - shot.truth).mean()))
    assert errors[1] < 0.5 * errors[0], errors
    with pytest.raises(SystemExit) as usage:  # a plate that is not there: a usage error, one line
        main(["cut", str(tmp_path / "white.png"), "-o", str(tmp_path / "x"), "--clean-plate",
              str(tmp_path / "nothing.png")])
    assert usage.value.code == 2
    assert "clean plate nothing.png: cannot read it" in capsys.readouterr().err


def test_the_api_uses_the_clean_plate(model_home, shoot, tmp_path):
    from cutout_studio.api import cutout

    plate, shots = shoot
    shot = shots[0]
    Image.fromarray(plate).save(tmp_path / "empty.png")
    alone = cutout(shot.rgb, output="mask")
    with_plate = cutout(shot.rgb, output="mask", clean_plate=tmp_path / "empty.png")
    errors = [float(np.abs(np.asarray(m, np.float32) / 255 - shot.truth).mean()) for m in (alone, with_plate)]
    assert errors[1] < 0.5 * errors[0], errors


def test_the_batch_notes_a_plate_that_does_not_line_up_and_still_cuts_the_photo(segmenter, shoot, tmp_path):
    from cutout_studio.core.batch import run_batch

    plate, shots = shoot
    Image.fromarray(plate).save(tmp_path / "empty.png")
    other = cv2.resize(np.asarray(Image.open(DATA / "objects-coco__tv02_000000063740.jpg").convert("RGB")),
                       plate.shape[1::-1])
    Image.fromarray(other).save(tmp_path / "other.png")
    photos = tmp_path / "shoot"
    photos.mkdir()
    Image.fromarray(shots[0].rgb).save(photos / "white.png")
    for plate_file, noted in ((tmp_path / "empty.png", False), (tmp_path / "other.png", True)):
        options = ExportOptions(output="mask", clean_plate=plate_file, overwrite=True)
        events = [e for e in run_batch([photos], tmp_path / plate_file.stem, options, segmenter=segmenter)
                  if getattr(e, "result", None) is not None]
        [result] = [e.result for e in events]
        assert result.status in ("done", "warning") and result.output is not None
        assert ("clean plate not used" in result.message) == noted, result.message
