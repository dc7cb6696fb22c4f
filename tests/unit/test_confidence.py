"""Issue 12, item 3: the per-photo confidence of an automatic mask (core.confidence), and its
column in the batch report, on real photos."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from cutout_studio.core.batch import REPORT_NAME, run_batch_to_end
from cutout_studio.core.confidence import confidence, flip_disagreement, mask_signals
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.image_io import load_image
from cutout_studio.core.report import Report
from tests.unit.test_refine import disc, load

DATA = Path(__file__).resolve().parents[1] / "data"
PERSON = "people-ccp__ccp0003"


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    """A real subject's ground-truth mask (400 px), softened as a model's edge is."""
    _, mask = load(PERSON)
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0)


def test_the_signals_see_islands_holes_a_wide_band_and_the_frame(truth):
    clean = mask_signals(truth)
    assert clean.islands == pytest.approx(0.0, abs=1e-3) and clean.holes == pytest.approx(0.0, abs=1e-3)
    assert 0.05 < clean.subject < 0.6 and clean.band < 3  # a sharp edge: a pixel or two of ramp

    inside = cv2.distanceTransform((truth >= 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    cy, cx = np.unravel_index(np.argmax(inside), inside.shape)
    damaged = truth.copy()
    damaged[disc(truth.shape, (cx, cy), 6)] = 0.0  # a hole in the subject
    damaged[disc(truth.shape, (3, 3), 6)] = 1.0  # a stray speck of background kept, in the corner
    signals = mask_signals(damaged)
    assert signals.holes > 0.002 and signals.islands > 0.002
    assert signals.touching > clean.touching  # the speck reaches the frame's corner

    blurred = mask_signals(cv2.GaussianBlur(truth, (0, 0), 6.0))
    assert blurred.band > 3 * clean.band and blurred.undecided > 3 * clean.undecided


def test_confidence_falls_as_the_mask_goes_wrong(truth):
    good = confidence(truth)
    inside = cv2.distanceTransform((truth >= 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    cy, cx = np.unravel_index(np.argmax(inside), inside.shape)
    holed = truth.copy()
    for k in range(4):  # holes and specks, as a model leaves them on a busy photo
        holed[disc(truth.shape, (cx, cy - 25 * k), 5)] = 0.0
        holed[disc(truth.shape, (15 + 40 * k, 15), 5)] = 1.0
    unsure = cv2.GaussianBlur(truth, (0, 0), 8.0)  # an undecided edge all along the outline
    assert 0.0 < confidence(holed) < good < 1.0
    assert confidence(unsure) < good


def test_nothing_or_everything_kept_is_not_trusted(truth):
    assert confidence(np.zeros_like(truth)) == 0.0
    assert confidence(np.ones_like(truth)) == 0.0


def test_an_8bit_mask_reads_as_its_float_alpha(truth):
    q = np.rint(truth * 255).astype(np.uint8)
    assert confidence(q) == pytest.approx(confidence(q.astype(np.float32) / 255), abs=1e-9)


def test_flipped_pass_agrees_on_a_clear_photo_and_is_optional(segmenter):
    rgb = load_image(DATA / "objects-coco__fire_hydrant02_000000020107.jpg").rgb
    own = segmenter.predict_lowres([rgb])[0]
    flip = flip_disagreement(segmenter, rgb, own)
    assert 0.0 <= flip < 0.05  # one subject on a plain street: the two passes agree closely
    assert flip_disagreement(segmenter, rgb) == pytest.approx(flip, abs=1e-3)  # own mask computed itself
    alpha = segmenter.snap(own, rgb)
    with_flip, without = confidence(alpha, flip), confidence(alpha)
    assert 0.0 < with_flip < 1.0 and 0.0 < without < 1.0


def test_the_batch_report_has_a_confidence_for_every_photo_cut(segmenter, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in (PERSON, "objects-coco__tv02_000000063740"):
        shutil.copy(DATA / f"{name}.jpg", src / f"{name}.jpg")
    (src / "broken.jpg").write_bytes((DATA / f"{PERSON}.jpg").read_bytes()[:2000])
    out = tmp_path / "out"
    run_batch_to_end([src], out, ExportOptions(), segmenter=segmenter, workers=1)
    with (out / REPORT_NAME).open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
        fh.seek(0)
        rows = {Path(r["file"]).stem: r for r in csv.DictReader(fh)}
    assert header.index("confidence") == header.index("message") + 1
    assert rows["broken"]["status"] == "failed" and rows["broken"]["confidence"] == ""
    for name in (PERSON, "objects-coco__tv02_000000063740"):
        assert rows[name]["status"] == "done"
        # the confidence of the very mask the batch wrote
        rgb = load_image(src / f"{name}.jpg").rgb
        assert float(rows[name]["confidence"]) == pytest.approx(confidence(segmenter.predict(rgb)), abs=2e-3)


def test_report_notes_and_cancel_lines_keep_the_columns(tmp_path):
    report = Report(tmp_path / REPORT_NAME)
    report.note("two photos share a name")
    report.cancelled(3)
    report.close()
    rows = list(csv.reader((tmp_path / REPORT_NAME).open(encoding="utf-8")))
    assert all(len(row) == len(Report.FIELDS) for row in rows)
