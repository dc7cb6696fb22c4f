"""End-to-end editor tests with the real default model: mask, brushes, undo, edges, export."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtTest import QTest

from cutout_studio.core.refine import stroke_mask
from cutout_studio.qt.document import DocStatus
from tests.gui.conftest import MASK_TIMEOUT_MS, PERSON, TEDDY, open_and_wait_for_mask

pytestmark = pytest.mark.gui


def test_mask_arrives_on_a_worker_while_the_gui_keeps_ticking(qtbot, make_window):
    window = make_window()
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    started = time.perf_counter()
    doc = open_and_wait_for_mask(qtbot, window, TEDDY)
    elapsed = time.perf_counter() - started
    timer.stop()

    # The mask is real: full resolution, mostly background with a solid subject in the middle.
    h, w = doc.image.rgb.shape[:2]
    assert doc.alpha.shape == (h, w) and doc.alpha.dtype == np.float32
    assert doc.status is DocStatus.MASKED
    truth = np.asarray(Image.open(TEDDY.with_suffix(".png"))) > 127
    mask = doc.alpha > 0.5
    assert (mask & truth).sum() / (mask | truth).sum() > 0.8  # IoU with the hand-made mask
    assert window.canvas.layer_item.image is not None
    assert "masked" in window.filmstrip.row_text(doc)
    assert "CPU" in window.model_label.text() and "u2netp" in window.model_label.text()

    # The GUI thread kept running its event loop during the whole computation.
    gaps = np.diff([started, *ticks])
    print(f"mask took {elapsed:.2f} s; {len(ticks)} ticks; longest GUI gap {gaps.max() * 1000:.0f} ms")
    assert len(ticks) >= 0.25 * elapsed / 0.010
    assert gaps.max() < 1.0


def _drag(viewport, points: list[QPoint]) -> None:
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0])
    for point in points[1:]:
        QTest.mouseMove(viewport, point)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[-1])


def test_brush_stroke_labels_exactly_the_painted_pixels_and_undo_restores(qtbot, make_window):
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, TEDDY)
    auto = np.array(doc.alpha)
    canvas = window.canvas
    window.actions_.tools["bg"].trigger()
    window.set_brush_size(15)
    assert canvas.brush_radius == 7.5  # screen pixels; the stroke gets it in photo pixels
    radius = canvas.image_radius
    assert radius == pytest.approx(7.5 / canvas.zoom)

    # A drag across the bear's body, in view (screen) coordinates.
    h, w = doc.image.rgb.shape[:2]
    scene_points = [QPointF(w * 0.55, h * 0.45), QPointF(w * 0.6, h * 0.5), QPointF(w * 0.66, h * 0.52)]
    view_points = [canvas.mapFromScene(p) for p in scene_points]
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        _drag(canvas.viewport(), view_points)

    # Expected: pixel centres within the radius of the polyline through the mouse positions.
    expected_points = []
    for p in view_points:
        scene = canvas.mapToScene(p)
        expected_points.append((scene.x() - 0.5, scene.y() - 0.5))
    expected = stroke_mask(np.array(expected_points), radius, 0, 0, w, h)
    labels = np.array(doc.session.labels)
    assert expected.sum() > 100
    assert np.array_equal(labels == 2, expected)
    assert not (labels == 1).any()
    assert (doc.alpha[expected] == 0).all()  # a background stroke always wins where painted
    assert doc.status is DocStatus.EDITED and doc.can_undo
    assert window.actions_.undo.isEnabled()

    # One drag is one undo step: Ctrl+Z brings back the automatic mask exactly.
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not np.array(doc.session.labels).any()
    assert np.array_equal(doc.alpha, auto)
    assert doc.status is DocStatus.MASKED and doc.can_redo

    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        QTest.keyClick(
            window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        )
    assert np.array_equal(np.array(doc.session.labels) == 2, expected)

    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        window.actions_.reset.trigger()
    assert not np.array(doc.session.labels).any()
    assert np.array_equal(doc.alpha, auto)


def test_view_modes_and_edge_settings_preview_on_the_worker(qtbot, make_window):
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, TEDDY)
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        window.actions_.modes["mask"].trigger()
    assert window.tools.mode_combo.currentData() == "mask"
    grey = _layer_grey(window)
    assert np.abs(grey.astype(int) - np.round(doc.alpha * 255)).max() <= 1

    # Shrinking the edge by 6 px removes a band of the subject in the preview, not in the mask.
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        window.tools.shift_spin.setValue(-6.0)
    shrunk = _layer_grey(window)
    assert shrunk.sum() < 0.9 * grey.sum()
    assert doc.edges is not None and doc.edges.shift == -6.0  # the photo's own (issue 15)
    assert np.abs(np.round(doc.alpha * 255) - grey).max() <= 1  # the document's mask is unchanged

    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        window.actions_.modes["checker"].trigger()
    layer = window.canvas.layer_item.image
    h, w = doc.image.rgb.shape[:2]
    assert (layer.width(), layer.height()) == (w, h)
    assert layer.pixelColor(5, 5).alpha() == 0  # background removed: the checkerboard shows through

    # Split view: the original on the left of the divider, the cutout on the right.
    canvas = window.canvas
    window.actions_.split.trigger()
    assert canvas.split and canvas.photo_item.isVisible() and canvas.layer_item.isVisible()
    assert canvas.photo_item.clip.right() == pytest.approx(w / 2)
    assert canvas.layer_item.clip.left() == pytest.approx(w / 2)
    window.actions_.split.trigger()
    assert canvas.photo_item.clip is None and not canvas.photo_item.isVisible()

    # Holding "\\" shows the original; releasing the key brings the result back.
    canvas.setFocus()
    QTest.keyPress(canvas, Qt.Key.Key_Backslash)
    assert canvas.comparing and canvas.photo_item.isVisible() and not canvas.layer_item.isVisible()
    QTest.keyRelease(canvas, Qt.Key.Key_Backslash)
    assert not canvas.comparing and canvas.layer_item.isVisible()


def _layer_grey(window) -> np.ndarray:
    image = window.canvas.layer_item.image
    assert image is not None
    ptr = image.constBits()
    return (
        np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())[:, : image.width()].copy()
    )


def test_export_writes_a_png_with_the_edited_alpha(qtbot, make_window, tmp_path):
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, PERSON)
    dest = tmp_path / "out" / "person.png"
    dest.parent.mkdir()
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS) as blocker:
        assert window.export_current(dest)
    assert blocker.args == [1, False]
    with Image.open(dest) as im:
        assert im.mode == "RGBA"
        assert im.size == (doc.image.width, doc.image.height)
        alpha = np.asarray(im.getchannel("A"))
    assert alpha.min() == 0 and alpha.max() == 255
    assert np.abs(alpha.astype(int) - np.round(doc.alpha * 255)).max() <= 1
    assert doc.status is DocStatus.EXPORTED and doc.output_path == dest
    assert "exported" in window.filmstrip.row_text(doc)


def test_an_export_that_writes_nothing_says_why_where_it_stays_visible(qtbot, make_window, tmp_path):
    """Found by hand: exporting JPEG to the name the dialog proposed from a PNG export wrote
    nothing, and the reason flashed in the status bar under "Exported 0 file(s)"."""
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, PERSON)
    window.state.export = dataclasses.replace(window.state.export, format="jpeg", background="white")
    errors: list[str] = []
    window.exports.failed.connect(errors.append)
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS) as blocker:
        assert window.export_current(tmp_path / "person.png")
    assert blocker.args == [0, False] and not (tmp_path / "person.png").exists()
    assert len(errors) == 1 and errors[0].startswith("Nothing was exported: ") and ".jpg" in errors[0]
    assert "Exported 0" not in window.statusBar().currentMessage()
    # The next proposal follows the format chosen now, not the name of the last export.
    doc.output_path = tmp_path / "person_cutout.png"
    proposed: list[str] = []

    def propose(parent, caption, default):  # the file dialog, answered "cancel"
        proposed.append(default)
        return "", ""

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr("cutout_studio.qt.exporting.QFileDialog.getSaveFileName", propose)
    try:
        assert not window.export_current()
    finally:
        monkeypatch.undo()
    assert proposed == [str(tmp_path / "person_cutout.jpg")]


def test_export_all_names_files_like_the_batch_and_asks_before_overwriting(qtbot, make_window, tmp_path):
    window = make_window()
    doc = open_and_wait_for_mask(qtbot, window, TEDDY)
    window.open_paths([PERSON])  # not shown yet: exported through the batch path if not masked by then
    window.show_document(doc)
    out = tmp_path / "exports"
    out.mkdir()
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS) as blocker:
        assert window.export_all(out)
    assert blocker.args == [2, False]
    assert sorted(p.name for p in out.glob("*.png")) == sorted([TEDDY.stem + ".png", PERSON.stem + ".png"])
    assert all(d.status is DocStatus.EXPORTED for d in window.docs)

    # A second export into the same folder: both are up to date, nothing is asked or rewritten.
    asked: list[list[Path]] = []
    window.exports.ask_overwrite = lambda existing, **_: asked.append(existing) or "skip"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS) as blocker:
        assert window.export_all(out)
    assert asked == [] and blocker.args == [0, False]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before

    # A file that is not ours where a new photo's output goes is asked about; "keep" keeps it.
    third = TEDDY.parent / "davis__davis032.jpg"
    foreign = out / f"{third.stem}.png"
    Image.new("RGB", (8, 8), "red").save(foreign)
    window.open_paths([third])
    with qtbot.waitSignal(window.export_finished, timeout=MASK_TIMEOUT_MS):
        assert window.export_all(out)
    assert asked == [[foreign]] and Image.open(foreign).size == (8, 8)


def test_the_last_picture_stays_on_screen_while_an_update_runs(qtbot, make_window):
    """Issue 8, case 14: the overlay vanished (bare photo) while the next picture was computed."""
    window = make_window()
    canvas = window.canvas
    teddy = open_and_wait_for_mask(qtbot, window, TEDDY)
    teddy_layer = canvas.layer_item.layer
    assert teddy_layer is not None and teddy.layer is teddy_layer
    person = open_and_wait_for_mask(qtbot, window, PERSON)
    assert canvas.layer_item.layer is person.layer

    # Back to the bear: its last picture is there at once, before its refresh arrives.
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        window.filmstrip.select(teddy)
        assert window.current is teddy
        assert canvas.layer_item.layer is teddy_layer and canvas.layer_item.isVisible()
        assert canvas.photo_item.isVisible()

    # Another view mode: the overlay is still drawn as an overlay (over the photo) until the
    # cutout arrives, not over an empty checkerboard.
    with qtbot.waitSignal(window.view_updated, timeout=MASK_TIMEOUT_MS):
        window.actions_.modes["checker"].trigger()
        assert canvas.layer_item.layer is teddy.layer and canvas.layer_item.isVisible()
        assert canvas.photo_item.isVisible() and canvas.shown_mode == "overlay"
    assert canvas.shown_mode == "checker" and not canvas.photo_item.isVisible()
    assert canvas.layer_item.layer is teddy.layer and teddy.layer is not teddy_layer


def test_with_matting_on_a_quick_picture_comes_before_the_slow_one(qtbot, make_window):
    """Issue 8, case 14: a photo opened with matting on stayed bare for the whole first solve."""
    window = make_window()
    window.tools.matting_check.setChecked(True)
    assert window.state.edges.matting  # a new shoot starts from the panel's edges
    previews = []
    window.pipeline.previewed.connect(lambda doc, result: previews.append(result))
    doc = open_and_wait_for_mask(qtbot, window, PERSON)
    assert len(previews) == 1 and previews[0].layer is not None and not previews[0].composed
    assert window.canvas.layer_item.layer is doc.layer and doc.layer is not previews[0].layer
    # The quick one is the same view without matting; the real one differs at the soft edges.
    quick = previews[0].layer.buffer
    assert quick.shape == doc.layer.buffer.shape and not np.array_equal(quick, doc.layer.buffer)
