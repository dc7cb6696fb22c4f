"""`cutout-studio eval`'s engine: set folders, methods and scores on real labelled photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from cutout_studio.core.errors import CutoutError, ModelError
from cutout_studio.core.eval_report import PANEL, sheet_size
from cutout_studio.core.evaluate import (
    MaskScores,
    boundary_f,
    evaluate_sets,
    find_pairs,
    format_table,
    grabcut_alpha,
    iou,
    make_predictor,
    plain_upscale,
)
from cutout_studio.core.models import card_for_file, get_card, installed

DATA = Path(__file__).resolve().parents[1] / "data"
PAIRS = sorted(p for p in DATA.glob("*.png") if p.with_suffix(".jpg").exists())
# The first pair of each source set (files are named SET__NAME): every kind of photo, few model runs.
ONE_PER_SET = list({p.name.split("__")[0]: p for p in reversed(PAIRS)}.values())[::-1]


def _make_set(root: Path, pairs: list[Path], *, invert_masks: bool = False) -> Path:
    """A set folder (images/NAME.jpg + masks/NAME.png) from tests/data pairs."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for mask_path in pairs:
        name = mask_path.stem
        shutil.copyfile(mask_path.with_suffix(".jpg"), root / "images" / f"{name}.jpg")
        if invert_masks:
            truth = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(str(root / "masks" / f"{name}.png"), 255 - truth)
        else:
            shutil.copyfile(mask_path, root / "masks" / f"{name}.png")
    return root


@pytest.fixture(scope="module")
def real_results(tmp_path_factory, model_home) -> dict:
    """cutout and u2netp-plain on every real pair, computed once for the module."""
    folder = _make_set(tmp_path_factory.mktemp("eval") / "real", ONE_PER_SET)
    return evaluate_sets([folder], methods=["cutout", "u2netp-plain"], device="cpu", progress=False)


def test_there_are_real_pairs_from_every_set():
    assert len(PAIRS) >= 5
    assert {p.name.split("__")[0] for p in ONE_PER_SET} == {"davis", "objects-coco", "people-ccp"}


def test_cutout_reaches_iou_085_on_every_real_pair(real_results):
    summary = real_results["sets"]["real"]["methods"]["cutout"]
    assert summary["images"] == len(ONE_PER_SET)
    assert summary["iou"] >= 0.85
    # the worst image of the set is listed, and it too is above the bar
    assert summary["worst"][0]["iou"] >= 0.85
    assert summary["worst"][0]["image"] in {p.with_suffix(".jpg").name for p in ONE_PER_SET}


def test_good_masks_score_well_on_every_metric(real_results):
    for method in ("cutout", "u2netp-plain"):
        summary = real_results["sets"]["real"]["methods"][method]
        assert summary["mae"] < 0.06
        assert summary["max_f"] > 0.85
        assert summary["weighted_f"] > 0.8
        assert summary["s_measure"] > 0.85
        assert summary["mean_e"] > 0.85
        assert summary["max_e"] >= summary["mean_e"]
        assert summary["seconds_per_image"] > 0


def test_results_are_json_and_the_table_lists_each_row(real_results):
    assert json.loads(json.dumps(real_results))["methods"] == ["cutout", "u2netp-plain"]
    table = format_table(real_results)
    rows = [line for line in table.splitlines() if line.startswith("real ")]
    assert [row.split()[1:3] for row in rows] == [["u2netp", "cutout"], ["u2netp", "u2netp-plain"]]
    iou_column = table.splitlines()[0].split().index("IoU")
    assert float(rows[0].split()[iou_column]) == pytest.approx(
        real_results["sets"]["real"]["methods"]["cutout"]["iou"], abs=5e-4
    )


def test_a_deliberately_wrong_mask_scores_low(tmp_path, model_home):
    """The same photos against inverted ground truth: the scores must collapse."""
    folder = _make_set(tmp_path / "inverted", PAIRS[:2], invert_masks=True)
    results = evaluate_sets([folder], methods=["cutout"], device="cpu")
    summary = results["sets"]["inverted"]["methods"]["cutout"]
    assert summary["iou"] < 0.2
    assert summary["mae"] > 0.5
    assert summary["weighted_f"] < 0.3
    assert summary["s_measure"] < 0.5


def test_mask_scores_rank_a_wrong_prediction_below_a_right_one():
    truth = np.zeros((60, 80), np.uint8)
    truth[15:45, 20:60] = 255
    right, wrong = MaskScores(), MaskScores()
    assert right.add("a", truth.astype(np.float32) / 255, truth, 0.1) == 1.0
    assert wrong.add("a", 1.0 - truth.astype(np.float32) / 255, truth, 0.1) == 0.0
    good, bad = right.summary(), wrong.summary()
    assert good["iou"] == 1.0 and good["mae"] == 0.0 and good["max_f"] == pytest.approx(1.0)
    assert bad["mae"] == pytest.approx(1.0) and bad["s_measure"] < 0.2
    with pytest.raises(ValueError, match="differ in size"):
        right.add("b", np.zeros((10, 10), np.float32), truth, 0.1)


def test_iou_of_known_masks():
    truth = np.zeros((10, 10), np.uint8)
    truth[:, :5] = 255
    alpha = np.zeros((10, 10), np.float32)
    alpha[:, :4] = 0.9  # 40 of the 50 true pixels, no false ones
    assert iou(alpha, truth) == pytest.approx(0.8)
    assert iou(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.uint8)) == 1.0


def test_grabcut_baseline_finds_a_plain_object_without_a_model():
    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[:] = (40, 80, 200)
    cv2.circle(rgb, (200, 150), 80, (230, 60, 30), -1)
    truth = np.zeros((300, 400), np.uint8)
    cv2.circle(truth, (200, 150), 80, 255, -1)
    alpha = grabcut_alpha(rgb, work_side=200)  # also exercises the upsampling back to 400×300
    assert alpha.shape == (300, 400) and alpha.dtype == np.float32
    assert iou(alpha, truth) > 0.95


def test_plain_upscale_resizes_like_rembg():
    mask = np.zeros((32, 32), np.float32)
    mask[8:24, 8:24] = 1.0
    big = plain_upscale(mask, 160, 96)
    assert big.shape == (96, 160) and big.dtype == np.float32
    assert big[48, 80] == pytest.approx(1.0) and big[2, 2] == pytest.approx(0.0)
    # a plain resize leaves a soft ramp at the edge, which is what guided snapping removes
    assert np.count_nonzero((big > 0.1) & (big < 0.9)) > 0


def test_u2netp_plain_follows_the_same_model_as_cutout(real_results):
    cutout = real_results["sets"]["real"]["methods"]["cutout"]["iou"]
    plain = real_results["sets"]["real"]["methods"]["u2netp-plain"]["iou"]
    assert abs(cutout - plain) < 0.05


def test_limit_takes_that_many_images_and_grabcut_needs_no_model(tmp_path):
    folder = _make_set(tmp_path / "small", PAIRS[:3])
    results = evaluate_sets([folder], methods=["grabcut"], limit=1)
    assert results["model"] is None
    summary = results["sets"]["small"]["methods"]["grabcut"]
    assert summary["images"] == 1 and 0.0 <= summary["iou"] <= 1.0


def test_unmatched_photos_are_counted_not_scored(tmp_path):
    folder = _make_set(tmp_path / "partial", PAIRS[:1])
    shutil.copyfile(PAIRS[1].with_suffix(".jpg"), folder / "images" / "no_mask.jpg")
    eval_set = find_pairs(folder)
    assert len(eval_set.pairs) == 1 and eval_set.unpaired == 1


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "not a folder"),
        ("no_masks", "no masks/ subfolder"),
        ("empty", "no images/ and no masks/"),
        ("unpaired", "no photo in images/ has a mask"),
    ],
)
def test_invalid_set_folders_are_refused_with_a_reason(tmp_path, layout, message):
    folder = tmp_path / layout
    if layout != "missing":
        folder.mkdir()
    if layout in ("no_masks", "unpaired"):
        (folder / "images").mkdir()
        shutil.copyfile(PAIRS[0].with_suffix(".jpg"), folder / "images" / "a.jpg")
    if layout == "unpaired":
        (folder / "masks").mkdir()
        shutil.copyfile(PAIRS[0], folder / "masks" / "b.png")
    with pytest.raises(CutoutError, match=message) as info:
        evaluate_sets([folder], methods=["grabcut"])
    assert layout in str(info.value) and "\n" not in str(info.value)


def test_a_mask_of_the_wrong_size_names_the_file(tmp_path):
    folder = _make_set(tmp_path / "sizes", PAIRS[:1])
    mask_path = next((folder / "masks").iterdir())
    cv2.imwrite(str(mask_path), np.zeros((7, 9), np.uint8))
    with pytest.raises(CutoutError, match=rf"{mask_path.name}: the mask is 9×7"):
        evaluate_sets([folder], methods=["grabcut"])


def test_unknown_method_and_bad_limit_are_refused(tmp_path):
    folder = _make_set(tmp_path / "s", PAIRS[:1])
    with pytest.raises(CutoutError, match="unknown evaluation method.*magic"):
        evaluate_sets([folder], methods=["magic"])
    with pytest.raises(CutoutError, match="limit"):
        evaluate_sets([folder], methods=["grabcut"], limit=0)
    with pytest.raises(CutoutError, match="unknown evaluation method"):
        make_predictor("magic", None)


def test_model_methods_use_the_segmenter(segmenter):
    rgb = cv2.cvtColor(cv2.imread(str(PAIRS[0].with_suffix(".jpg"))), cv2.COLOR_BGR2RGB)
    truth = cv2.imread(str(PAIRS[0]), cv2.IMREAD_GRAYSCALE)
    for method in ("cutout", "u2netp-plain"):
        alpha = make_predictor(method, segmenter)(rgb)
        assert alpha.shape == rgb.shape[:2] and alpha.dtype == np.float32
        assert iou(alpha, truth) >= 0.85


def test_cli_eval_in_float32_scores_as_well_and_says_so(tmp_path, model_home, real_results, capsys):
    from cutout_studio.cli import main

    folder = _make_set(tmp_path / "real", ONE_PER_SET)
    out = tmp_path / "scores.json"
    assert main(["eval", str(folder), "--device", "cpu", "--precision", "float32", "--json", str(out)]) == 0
    exact = json.loads(out.read_text(encoding="utf-8"))
    assert exact["precision"] == "float32"
    assert "(float32)" in capsys.readouterr().out
    # the default precision (bfloat16 where the CPU has it) scores within a point of float32
    fast = real_results["sets"]["real"]["methods"]["cutout"]["iou"]
    assert exact["sets"]["real"]["methods"]["cutout"]["iou"] == pytest.approx(fast, abs=0.01)


# --------------------------------------------------------------------------------------------
# models side by side, boundary F, per-photo CSV, contact sheet (issue 11, item 3)


def _square_mask(shift: int = 0) -> np.ndarray:
    truth = np.zeros((240, 320), np.uint8)
    truth[60:180, 80 + shift : 240 + shift] = 255
    return truth


def test_boundary_f_is_one_for_a_perfect_mask_and_drops_for_a_shifted_one():
    truth = _square_mask()
    assert boundary_f(truth.astype(np.float32) / 255, truth) == 1.0
    # 3 px is within the tolerance (0.0075 × 400 px diagonal = 3 px): still perfect
    assert boundary_f(_square_mask(3).astype(np.float32) / 255, truth) == 1.0
    # 12 px: the two vertical edges (240 of 560 boundary pixels) are missed on both sides
    shifted = boundary_f(_square_mask(12).astype(np.float32) / 255, truth)
    assert 0.4 < shifted < 0.75
    # a mask with the right area but the wrong place scores IoU > 0.8 yet a low boundary F
    assert iou(_square_mask(12).astype(np.float32) / 255, truth) > 0.8
    assert boundary_f(np.zeros_like(truth, np.float32), truth) == 0.0
    assert boundary_f(np.zeros((8, 8), np.float32), np.zeros((8, 8), np.uint8)) == 1.0


def test_boundary_f_of_real_masks_follows_the_edge(real_results):
    truth = cv2.imread(str(PAIRS[0]), cv2.IMREAD_GRAYSCALE)
    alpha = truth.astype(np.float32) / 255
    assert boundary_f(alpha, truth) == 1.0
    eroded = cv2.erode(truth, np.ones((21, 21), np.uint8)).astype(np.float32) / 255
    assert boundary_f(eroded, truth) < 0.5
    # and the summary carries it as a column
    summary = real_results["sets"]["real"]["methods"]["cutout"]
    assert 0.3 < summary["boundary_f"] <= 1.0
    assert " bF " in format_table(real_results).splitlines()[0] + " "


def test_a_safetensors_file_is_recognised_by_its_tensors(tmp_path, model_home):
    found = installed(get_card("u2netp"))
    assert found is not None
    copy = tmp_path / "mine.safetensors"
    shutil.copyfile(found.path, copy)
    card = card_for_file(copy)
    assert card.architecture == "U²-Netp" and card.weights_at == copy.resolve()
    assert type(card.io) is type(get_card("u2netp").io)  # the install names u2netp in its metadata
    # the file's name picks between cards sharing the architecture
    named = tmp_path / "cutout-product-run2.safetensors"
    shutil.copyfile(found.path, named)
    assert type(card_for_file(named).io) is type(get_card("cutout-product").io)
    import torch
    from safetensors.torch import load_file, save_file

    # a training run's output names its base (u2netp) but was trained with BCE: our trained card
    trained = tmp_path / "run.safetensors"
    save_file(load_file(str(found.path)), str(trained), metadata={"model": "u2netp", "step": "3"})
    assert type(card_for_file(trained).io) is type(get_card("cutout-product").io)
    wrong = tmp_path / "wrong.safetensors"
    save_file({"conv.weight": torch.zeros(3, 3)}, str(wrong))
    with pytest.raises(ModelError, match="fit no known architecture"):
        card_for_file(wrong)
    with pytest.raises(ModelError, match="file not found"):
        card_for_file(tmp_path / "missing.safetensors")


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory, model_home) -> tuple[dict, Path, Path, Path]:
    """u2netp by name and the same weights as a file, with GrabCut, on three real pairs."""
    root = tmp_path_factory.mktemp("sbs")
    folder = _make_set(root / "trio", ONE_PER_SET[:3])
    found = installed(get_card("u2netp"))
    assert found is not None
    copy = root / "copy.safetensors"
    shutil.copyfile(found.path, copy)
    csv_path, sheet = root / "photos.csv", root / "worst.png"
    results = evaluate_sets(
        [folder], methods=["cutout", "grabcut"], model=["u2netp", str(copy)], device="cpu",
        csv_path=csv_path, sheet_path=sheet, sheet_worst=2,
    )
    return results, copy, csv_path, sheet


def test_two_models_are_scored_side_by_side_and_the_same_weights_score_the_same(side_by_side):
    results, copy, _, _ = side_by_side
    assert results["models"] == ["u2netp", str(copy)]
    runs = results["sets"]["trio"]["models"]
    assert set(runs) == {"u2netp", str(copy), "-"}
    assert set(runs["-"]) == {"grabcut"} and set(runs["u2netp"]) == {"cutout"}
    by_name, by_file = runs["u2netp"]["cutout"], runs[str(copy)]["cutout"]
    for key in ("iou", "mae", "max_f", "s_measure", "boundary_f"):
        assert by_file[key] == pytest.approx(by_name[key], abs=1e-6), key
    # the one-model layout still reads: the first model's methods and GrabCut
    assert set(results["sets"]["trio"]["methods"]) == {"cutout", "grabcut"}
    rows = [line.split() for line in format_table(results).splitlines() if line.startswith("trio ")]
    assert [row[1:3] for row in rows] == [["u2netp", "cutout"], [str(copy), "cutout"], ["-", "grabcut"]]
    assert json.loads(json.dumps(results))["models"] == results["models"]


def test_the_csv_has_one_line_per_photo_model_and_method(side_by_side):
    import csv

    results, copy, csv_path, _ = side_by_side
    with csv_path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 3  # 3 photos × (u2netp, the file, GrabCut)
    assert {(r["model"], r["method"]) for r in rows} == {("u2netp", "cutout"), (str(copy), "cutout"), ("-", "grabcut")}
    assert {r["image"] for r in rows} == {p.with_suffix(".jpg").name for p in ONE_PER_SET[:3]}
    grabcut = [float(r["iou"]) for r in rows if r["method"] == "grabcut"]
    summary = results["sets"]["trio"]["models"]["-"]["grabcut"]
    assert np.mean(grabcut) == pytest.approx(summary["iou"], abs=1e-5)
    assert np.mean([float(r["mae"]) for r in rows if r["method"] == "grabcut"]) == pytest.approx(summary["mae"], abs=1e-5)
    assert all(0.0 <= float(r["boundary_f"]) <= 1.0 for r in rows)


def test_the_sheet_shows_each_runs_worst_photos(side_by_side):
    results, _, _, sheet = side_by_side
    image = cv2.imread(str(sheet))
    assert image is not None
    # three sections (u2netp, the file, GrabCut) of the 2 worst photos each
    assert (image.shape[1], image.shape[0]) == sheet_size([2, 2, 2])
    assert image.shape[1] > 3 * PANEL
    # the panels are not blank: the worst GrabCut photo's mask panel has both black and white
    assert image.std() > 20


def test_cli_compares_models_and_writes_csv_and_html_sheet(tmp_path, model_home, capsys):
    from cutout_studio.cli import main

    folder = _make_set(tmp_path / "one", PAIRS[:1])
    found = installed(get_card("u2netp"))
    assert found is not None
    copy = tmp_path / "w.safetensors"
    shutil.copyfile(found.path, copy)
    csv_path, sheet = tmp_path / "p.csv", tmp_path / "s.html"
    code = main(["eval", str(folder), "--model", "u2netp", "--model", str(copy), "--device", "cpu",
                 "--csv", str(csv_path), "--sheet", str(sheet)])
    assert code == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("one ")]
    assert [row[1:3] for row in rows] == [["u2netp", "cutout"], [str(copy), "cutout"]]
    assert f"models: u2netp, {copy} on CPU" in out
    assert len(csv_path.read_text(encoding="utf-8").splitlines()) == 1 + 2
    assert sheet.read_text(encoding="utf-8").count("data:image/png;base64,") == 1


def test_clicks_take_one_model_and_a_bad_sheet_name_is_refused(tmp_path, capsys):
    from cutout_studio.cli import main

    folder = _make_set(tmp_path / "s", PAIRS[:1])
    with pytest.raises(SystemExit) as info:
        main(["eval", str(folder), "--clicks", "2", "--model", "u2netp", "--model", "cutout-product"])
    assert info.value.code == 2 and "one model at a time" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["eval", str(folder), "--clicks", "2", "--method", "grabcut", "--csv", str(tmp_path / "c.csv")])
    assert info.value.code == 2 and "--csv and --sheet" in capsys.readouterr().err
    with pytest.raises(CutoutError, match=r"\.png or an \.html"):
        evaluate_sets([folder], methods=["grabcut"], sheet_path=tmp_path / "x.jpg")
    assert not (tmp_path / "c.csv").exists()
