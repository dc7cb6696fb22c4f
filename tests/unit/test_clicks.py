"""The interactive click protocol (core/clicks.py, `cutout-studio eval --clicks N`) on real photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cutout_studio.cli import main
from cutout_studio.core.clicks import BrushClicker, ClickScores, GrabCutClicker, click_curve, next_click
from tests.unit.test_refine import DATA, load, missed, missed_chunk


def test_next_click_is_the_interior_of_the_largest_error():
    truth = np.zeros((60, 80), bool)
    truth[10:50, 10:40] = True
    predicted = truth.copy()
    predicted[20:40, 15:35] = False  # a 20×20 missed square
    predicted[52:58, 60:66] = True  # a 6×6 wrongly included square
    foreground, x, y = next_click(predicted, truth)
    assert foreground and 22 <= x <= 27 and 27 <= y <= 32
    # An error along the photo's border counts the border as its boundary.
    predicted = truth.copy()
    predicted[:, 70:] = True
    assert next_click(predicted, truth)[0] is False
    assert next_click(truth, truth) is None


@pytest.mark.parametrize("name", ["people-ccp__ccp0003", "davis__davis032"])
def test_protocol_brushes_gain_on_the_first_click_and_beat_grabcut(name):
    rgb, truth = load(name)
    chunk, _, _ = missed_chunk(truth)
    brushes = click_curve(BrushClicker(rgb, missed(truth, chunk)), truth, max_clicks=5)
    grabcut = click_curve(GrabCutClicker(rgb, truth), truth, max_clicks=5)
    assert len(brushes) == len(grabcut) == 6  # the start and 5 clicks
    assert brushes[1] >= brushes[0] + 0.03  # the first click lands in the missed part and takes it
    assert brushes[5] > 0.9 and brushes[5] > grabcut[5]
    scores = ClickScores(max_clicks=5)
    scores.add(brushes, 1.0)
    summary = scores.summary()
    assert summary["noc90"] <= 5 and summary["first_click_gain"] >= 0.03
    assert summary["iou_after_1"] == pytest.approx(brushes[1], abs=1e-4)


def test_noc_counts_the_maximum_when_never_reached():
    scores = ClickScores(max_clicks=20)
    scores.add([0.5, 0.6, 0.86, 0.91] + [0.91] * 3, 0.0)
    scores.add([0.92], 0.0)
    assert scores.noc(0.85) == pytest.approx((2 + 0) / 2)
    scores.add([0.1] * 21, 0.0)
    assert scores.noc(0.90) == pytest.approx((3 + 0 + 20) / 3)


def test_eval_clicks_from_the_command_line(model_home, tmp_path, capsys):
    root = tmp_path / "tiny"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name in ("people-ccp__ccp0003",):
        shutil.copy(DATA / f"{name}.jpg", root / "images" / f"{name}.jpg")
        shutil.copy(DATA / f"{name}.png", root / "masks" / f"{name}.png")
    out = tmp_path / "clicks.json"
    assert main(["eval", str(root), "--clicks", "3", "--device", "cpu", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "NoC@90" in table and "brushes" in table and "grabcut" in table
    result = json.loads(out.read_text())["sets"]["tiny"]
    assert result["images"] == 1
    for method in ("brushes", "grabcut"):
        summary = result["methods"][method]
        assert 0 <= summary["noc85"] <= summary["noc90"] <= 3
        assert 0.0 <= summary["iou_after_1"] <= 1.0


def test_eval_clicks_refuses_a_bad_count(capsys):
    with pytest.raises(SystemExit):
        main(["eval", str(Path(".")), "--clicks", "0"])
